"""Import a helper module from a built repository's version folder: in process, exactly the file the server imports."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def build_module(version_folder: Path, name: str) -> ModuleType:
    """`<version_folder>/<name>.py` as module `name`, importing its siblings as the server does (FileNotFoundError when the build has no such file)."""
    path = version_folder / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None or not path.is_file():
        raise FileNotFoundError(f"{path}: not in this build (a cpu build has it)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their module while the class is created
    sys.path.insert(0, str(version_folder))  # the Python backend puts the version folder on the path: `from chat_request import ...`
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(version_folder))
    return module
