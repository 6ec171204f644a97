"""Entry point the Pulumi CLI runs for `--policy-pack policy`.

The pack shares its rules with the tests and the offline preview as the `policy`
package, so the repository root must be importable when the CLI runs this folder.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policy.pack import serve

serve()
