"""W08: run-time writes. A container with a read-only root filesystem has a writable mount for every path its tools write.

Shape checks see `readOnlyRootFilesystem: true` and stop there; the tools inside still write:
`trtllm-build` its timing cache to the relative `model.cache` (and asserts the write), Python and
the AWS CLI under `HOME`, everything under `TMPDIR` (default `/tmp`). A path that is not on a
writable volume mount fails at run time, after the image pull, three times (Job backoff).
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gpu_inference_platform.policy.model import Finding, Policy, Settings, Severity, Stack
from gpu_inference_platform.policy.values import as_list, is_true, mapping
from gpu_inference_platform.policy.workloads import POD_TEMPLATE_TYPES, containers, pod_spec


@dataclass(frozen=True)
class ToolWrites:
    """What one command-line tool writes at run time (from its source at the pinned release)."""

    home: bool = False
    """Writes under `HOME` (caches, config)."""
    temp: bool = False
    """Writes under `TMPDIR` (default `/tmp`)."""
    path_flags: tuple[tuple[str, str | None], ...] = ()
    """(flag, default path or None when nothing is written without the flag); a relative default is under the working directory."""


TOOL_WRITES: Mapping[str, ToolWrites] = {
    # TensorRT-LLM 0.20 commands/build.py: --output_timing_cache defaults to "model.cache"; builder.py asserts the save succeeded.
    "trtllm-build": ToolWrites(home=True, temp=True, path_flags=(("--output_timing_cache", "model.cache"),)),
    # TensorRT 10 trtexec: the timing cache only with --timingCacheFile; CUDA's kernel cache under HOME.
    "trtexec": ToolWrites(home=True, temp=True, path_flags=(("--timingCacheFile", None),)),
    "aws": ToolWrites(home=True, temp=True),
}
"""Tools the platform's containers run, and what each writes."""


def _tokens(container: Mapping[str, Any]) -> list[str]:
    """Command and args, with `sh -c` scripts split into words (best effort: unparsable scripts are split on spaces)."""
    words: list[str] = []
    for part in (str(p) for p in [*as_list(container.get("command")), *as_list(container.get("args"))]):
        try:
            words += shlex.split(part) if " " in part else [part]
        except ValueError:
            words += part.split()
    return words


def _flag_value(tokens: list[str], flag: str) -> str | None:
    for index, token in enumerate(tokens):
        if token.startswith(f"{flag}="):
            return token.split("=", 1)[1]
        if token == flag and index + 1 < len(tokens):
            return tokens[index + 1]
    return None


def _writable(path: str, mounts: list[str]) -> bool:
    path = posixpath.normpath(path)
    return any(path == mount or path.startswith(mount.rstrip("/") + "/") for mount in mounts)


def _container_problems(container: Mapping[str, Any]) -> Iterator[str]:
    if not is_true(mapping(container.get("securityContext")).get("readOnlyRootFilesystem")):
        return
    tokens = _tokens(container)
    tools = [tool for tool in TOOL_WRITES if any(posixpath.basename(token) == tool for token in tokens)]
    if not tools:
        return
    name = container.get("name", "?")
    mounts = [str(m.get("mountPath")) for m in map(mapping, as_list(container.get("volumeMounts"))) if m.get("mountPath") and not is_true(m.get("readOnly"))]
    env = {str(e.get("name")): str(e.get("value", "")) for e in map(mapping, as_list(container.get("env")))}
    working_dir = container.get("workingDir")
    for tool in tools:
        writes = TOOL_WRITES[tool]
        if writes.home and not _writable(env.get("HOME", "/"), mounts):
            yield f"{name} runs {tool}, which writes under HOME ({env.get('HOME', 'unset: the image default')}), not on a writable mount {mounts}"
        if writes.temp and not _writable(env.get("TMPDIR", "/tmp"), mounts):
            yield f"{name} runs {tool}, which writes under TMPDIR ({env.get('TMPDIR', '/tmp')}), not on a writable mount {mounts}"
        for flag, default in writes.path_flags:
            path = _flag_value(tokens, flag) or default
            if path is None:
                continue
            if not posixpath.isabs(path):
                if not working_dir:
                    unset = "but workingDir is unset (the image's is on the read-only root)"
                    yield f"{name} runs {tool}, which writes {path} ({flag}) in the working directory, {unset}"
                    continue
                path = posixpath.join(str(working_dir), path)
            if not _writable(path, mounts):
                yield f"{name} runs {tool}, which writes {path} ({flag}), not on a writable mount {mounts}"


def _run_time_writes(stack: Stack, _: Settings) -> Iterator[Finding]:
    for workload in stack.of_type(*POD_TEMPLATE_TYPES):
        for container in containers(pod_spec(workload.type, workload.props)):
            for problem in _container_problems(container):
                yield Finding(workload, problem)


POLICIES = (
    Policy(
        "W08",
        "w08-run-time-writes",
        "Every container with a read-only root filesystem has a writable mount for what its tools write: working directory, HOME, TMPDIR, timing caches.",
        Severity.HIGH,
        "Mount an emptyDir and point workingDir, HOME, TMPDIR and the tool's cache flags (--output_timing_cache, --timingCacheFile) at it.",
        "TensorRT-LLM commands/build.py and builder.py (timing cache); TensorRT trtexec (--timingCacheFile)",
        check_stack=_run_time_writes,
    ),
)
