"""Build manifest of a model repository: what is in it, exactly, and what made it.

`manifest.json` at the repository root records the sha256 of every file, a tree hash
over all of them (the content address the deployment carries), tool versions and the
source weights' hash. It holds no timestamps, so the same inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file below `root` (POSIX relative paths), except the manifest itself."""
    return {
        path.relative_to(root).as_posix(): sha256_file(path)
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.relative_to(root).as_posix() != MANIFEST_NAME
    }


def tree_hash(files: Mapping[str, str]) -> str:
    """One hash over all (path, sha256) pairs: equal trees have equal hashes."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(f"{path}\0{files[path]}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Manifest:
    """Contents and provenance of one built repository."""

    target: str
    files: dict[str, str]
    tree_hash: str
    tools: dict[str, str]
    source: dict[str, str]
    """Where the weights came from and their sha256."""
    onnx_opset: int
    engines: dict[str, str] = field(default_factory=dict)
    """TensorRT plan path -> the compute capability it is built on (gpu target; plans may be added after the build)."""

    @property
    def short_hash(self) -> str:
        """First 12 hex digits of the tree hash (for names and labels)."""
        return self.tree_hash[:12]

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, trailing newline)."""
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse a manifest document."""
        data: dict[str, Any] = json.loads(text)
        return cls(**data)


def write_manifest(root: Path, *, target: str, tools: Mapping[str, str], source: Mapping[str, str], onnx_opset: int, engines: Mapping[str, str]) -> Manifest:
    """Hash everything below `root` and write its manifest."""
    files = file_hashes(root)
    manifest = Manifest(target, files, tree_hash(files), dict(tools), dict(source), onnx_opset, dict(engines))
    (root / MANIFEST_NAME).write_text(manifest.to_json())
    return manifest


def load_manifest(root: Path) -> Manifest:
    """The manifest of a built repository."""
    return Manifest.from_json((root / MANIFEST_NAME).read_text())


@dataclass(frozen=True)
class Verification:
    """Differences between a repository on disk and its manifest."""

    changed: list[str]
    missing: list[str]
    extra: list[str]
    manifest_consistent: bool
    """The manifest's tree hash matches its own file list (the manifest was not edited)."""

    @property
    def ok(self) -> bool:
        """Nothing changed, missing or extra, and the manifest is consistent."""
        return self.manifest_consistent and not (self.changed or self.missing or self.extra)

    def lines(self) -> list[str]:
        """Human-readable findings."""
        found = [f"changed: {p}" for p in self.changed] + [f"missing: {p}" for p in self.missing] + [f"extra: {p}" for p in self.extra]
        if not self.manifest_consistent:
            found.insert(0, "manifest: tree hash does not match its file list")
        return found


def verify(root: Path) -> Verification:
    """Compare the files under `root` with its manifest. Declared engines may be added later (built on the GPU)."""
    manifest = load_manifest(root)
    on_disk = file_hashes(root)
    engines = set(manifest.engines)
    return Verification(
        changed=sorted(p for p in manifest.files.keys() & on_disk.keys() if manifest.files[p] != on_disk[p]),
        missing=sorted(manifest.files.keys() - on_disk.keys()),
        extra=sorted(on_disk.keys() - manifest.files.keys() - engines),
        manifest_consistent=tree_hash(manifest.files) == manifest.tree_hash,
    )


def diff(old: Manifest, new: Manifest) -> list[str]:
    """What changed between two builds: files, tools, source, engines."""
    if old.tree_hash == new.tree_hash:
        return [f"identical: tree {new.tree_hash}"]
    lines = [f"tree: {old.tree_hash} -> {new.tree_hash}"]
    lines += [f"added: {p}" for p in sorted(new.files.keys() - old.files.keys())]
    lines += [f"removed: {p}" for p in sorted(old.files.keys() - new.files.keys())]
    lines += [f"changed: {p}" for p in sorted(old.files.keys() & new.files.keys()) if old.files[p] != new.files[p]]
    for label, before, after in (("tool", old.tools, new.tools), ("source", old.source, new.source), ("engine", old.engines, new.engines)):
        for key in sorted(before.keys() | after.keys()):
            if before.get(key) != after.get(key):
                lines.append(f"{label} {key}: {before.get(key)} -> {after.get(key)}")
    return lines


def main(argv: list[str]) -> int:
    """`python3 model_manifest.py DIR`: exit 0 if DIR matches its manifest (run by the serving pods' init step)."""
    result = verify(Path(argv[0]))
    for line in result.lines():
        print(line)
    print(f"{'verified' if result.ok else 'REJECTED'}: {argv[0]} (tree {load_manifest(Path(argv[0])).tree_hash})")
    return 0 if result.ok else 1


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
