"""Build manifest of a model repository: what is in it, exactly, and what made it.

`manifest.json` at the repository root records the sha256 of every file, a tree hash
over all of them (the content address the deployment carries), tool versions and the
source weights' hash. It holds no timestamps, so the same inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

MANIFEST_NAME = "manifest.json"
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def unsafe_entries(root: Path) -> list[str]:
    """Entries below `root` that are not plain files or folders (symlinks, FIFOs, sockets, devices): a build has none."""
    found = []
    for folder, folders, files in os.walk(root, followlinks=False):
        for name in [*folders, *files]:
            path = Path(folder) / name
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                found.append(f"{path.relative_to(root).as_posix()} (symlink)")
            elif not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                found.append(f"{path.relative_to(root).as_posix()} (not a regular file)")
    return sorted(found)


BACKEND_FILES = {"python": "model.py", "onnxruntime": "model.onnx", "tensorrt": "model.plan"}
"""The file a version folder of each backend must hold (Triton's default model filenames)."""
_CONFIG_FIELD = re.compile(r'^\s*(backend|platform)\s*:\s*"([^"]+)"', re.MULTILINE)


def incomplete_models(root: Path, declared_later: Mapping[str, str], models: Sequence[str] = ()) -> list[str]:
    """Models Triton would hang or fail on: no version folder, or a version folder without its backend's model file.

    Ensembles have empty version folders by design; TensorRT plans the manifest declares as
    built later (`declared_later`) are not required yet. `models` limits the check to those folders.
    """
    found = []
    declared = {Path(plan).parent.as_posix() for plan in declared_later}
    for config in sorted(root.glob("*/config.pbtxt")):
        model = config.parent
        if models and model.name not in models:
            continue
        kind = dict(_CONFIG_FIELD.findall(config.read_text()))
        versions = sorted(p for p in model.iterdir() if p.is_dir() and p.name.isdigit())
        if not versions:
            found.append(f"{model.name}: no version folder")
        required = BACKEND_FILES.get(kind.get("backend", ""), BACKEND_FILES.get(kind.get("platform", "").split("_")[0], ""))
        if kind.get("platform") == "ensemble" or not required:
            continue
        for version in versions:
            relative = version.relative_to(root).as_posix()
            if not (version / required).is_file() and not any(version.glob("*.plan")) and relative not in declared:
                found.append(f"{relative}: no {required} (the {kind.get('backend') or kind.get('platform')} backend loads it)")
    return found


def file_hashes(root: Path) -> dict[str, str]:
    """sha256 of every regular file below `root` (POSIX relative paths), except the manifest itself; links are not followed."""
    return {
        Path(folder, name).relative_to(root).as_posix(): sha256_file(Path(folder, name))
        for folder, _, files in sorted(os.walk(root, followlinks=False))
        for name in sorted(files)
        if stat.S_ISREG(Path(folder, name).lstat().st_mode) and Path(folder, name).relative_to(root).as_posix() != MANIFEST_NAME
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
    """Engine -> the compute capability it is built on (gpu target; added after the build): a TensorRT plan by path,
    a TensorRT-LLM engine by folder (ending in `/`: every file below it)."""

    def is_engine_file(self, path: str) -> bool:
        """`path` is a declared engine, or lies in a declared engine folder."""
        return path in self.engines or any(path.startswith(folder) for folder in self.engines if folder.endswith("/"))

    @property
    def short_hash(self) -> str:
        """First 12 hex digits of the tree hash (for names and labels)."""
        return self.tree_hash[:12]

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, trailing newline)."""
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse a manifest document; unexpected or missing keys and wrong shapes are a `ManifestError`, not a TypeError."""
        try:
            data = json.loads(text)
        except ValueError as error:
            raise ManifestError(f"{MANIFEST_NAME} is not JSON: {error}") from None
        allowed = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        if not isinstance(data, dict):
            raise ManifestError(f"{MANIFEST_NAME} must be an object with keys {sorted(allowed)}")
        if data.keys() - allowed or required - data.keys():
            raise ManifestError(
                f"{MANIFEST_NAME}: unexpected keys {sorted(data.keys() - allowed)}, missing keys {sorted(required - data.keys())}; allowed: {sorted(allowed)}"
            )
        for key in ("files", "tools", "source", "engines"):
            if not isinstance(data.get(key, {}), dict) or not all(isinstance(v, str) for v in data.get(key, {}).values()):
                raise ManifestError(f"{MANIFEST_NAME}: {key} must map names to strings")
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


class ManifestError(ValueError):
    """A manifest that cannot be trusted to describe a build (not JSON, wrong keys or shapes)."""


@dataclass(frozen=True)
class Verification:
    """Differences between a repository on disk and its manifest."""

    changed: list[str]
    missing: list[str]
    extra: list[str]
    manifest_consistent: bool
    """The manifest's tree hash matches its own file list (the manifest was not edited)."""
    unsafe: list[str] = field(default_factory=list)
    """Symlinks and special files: never served, whatever the manifest says."""
    incomplete: list[str] = field(default_factory=list)
    """Models without a version, or versions without their model file: Triton would hang loading them."""

    @property
    def ok(self) -> bool:
        """Nothing changed, missing, extra or unsafe, and the manifest is consistent."""
        return self.manifest_consistent and not (self.changed or self.missing or self.extra or self.unsafe or self.incomplete)

    def lines(self) -> list[str]:
        """Human-readable findings."""
        found = [f"unsafe: {p}" for p in self.unsafe] + [f"incomplete: {p}" for p in self.incomplete]
        found += [f"changed: {p}" for p in self.changed] + [f"missing: {p}" for p in self.missing] + [f"extra: {p}" for p in self.extra]
        if not self.manifest_consistent:
            found.insert(0, "manifest: tree hash does not match its file list")
        return found


def _in_models(path: str, models: Sequence[str]) -> bool:
    return not models or path.split("/", 1)[0] in models


def verify(root: Path, models: Sequence[str] = ()) -> Verification:
    """Compare the files under `root` with its manifest. Declared engines may be added later (built on the GPU).

    `models` (model folder names) limits the comparison to those folders: a serving group fetches only its own models.
    """
    if root.is_symlink() or (root / MANIFEST_NAME).is_symlink():
        raise ManifestError(f"{root}: the repository and its manifest must not be symlinks")
    manifest = load_manifest(root)
    on_disk = file_hashes(root)
    expected = {path: digest for path, digest in manifest.files.items() if _in_models(path, models)}
    unknown = sorted(set(models) - {path.split("/", 1)[0] for path in manifest.files})
    return Verification(
        changed=sorted(p for p in expected.keys() & on_disk.keys() if expected[p] != on_disk[p]),
        missing=sorted(expected.keys() - on_disk.keys()) + [f"{model}/ (no such model in the build)" for model in unknown],
        extra=sorted(path for path in on_disk.keys() - manifest.files.keys() if not manifest.is_engine_file(path)),
        manifest_consistent=tree_hash(manifest.files) == manifest.tree_hash,
        unsafe=unsafe_entries(root),
        incomplete=incomplete_models(root, manifest.engines, models),
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
    """`python3 model_manifest.py DIR [MODEL...]`: exit 0 if DIR (or those model folders of it) matches its manifest (the serving pods' init step)."""
    try:
        result = verify(Path(argv[0]), argv[1:])
    except (ManifestError, OSError) as error:
        print(f"REJECTED: {argv[0]}: {error}")
        return 1
    for line in result.lines():
        print(line)
    print(f"{'verified' if result.ok else 'REJECTED'}: {argv[0]} (tree {load_manifest(Path(argv[0])).tree_hash})")
    return 0 if result.ok else 1


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
