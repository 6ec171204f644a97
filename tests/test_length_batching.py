"""Length-aware batching of the CPU encoder: the policy, exact embeddings in the original order, in process and in the real Triton."""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

import numpy as np
import pytest

from gpu_inference_platform.ops.modelbuild.export import tokenize
from gpu_inference_platform.ops.serving import encoder_bench
from gpu_inference_platform.ops.serving.load import embed, encoder_parameters
from gpu_inference_platform.ops.serving.local_triton import LocalTriton
from gpu_inference_platform.ops.serving.server_probe import ServerProbe
from gpu_inference_platform.ops.serving.workload import realistic_pool
from tests.conftest import ROOT

REPOSITORY = ROOT / "build/models/cpu"
MIN_COSINE = 0.9999


@pytest.fixture(scope="module")
def batching() -> ModuleType:
    return encoder_bench.length_batching(REPOSITORY)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)))


def test_row_lengths_end_at_the_last_real_token(batching: ModuleType) -> None:
    mask = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 0, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]])
    assert batching.row_lengths(mask).tolist() == [3, 3, 1, 5], "a hole in the mask keeps the tokens after it; an empty row still runs one column"


def test_sub_batches_cover_every_row_once_sorted_and_within_the_policy(batching: ModuleType) -> None:
    lengths = np.array([200, 12, 40, 12, 9, 256, 33, 18, 12, 64, 7, 120])
    policy = batching.SubBatchPolicy(max_rows=3, max_tokens=128)
    plan = batching.sub_batches(lengths, policy)
    assert [lengths[rows].tolist() for rows in plan] == [[7, 9, 12], [12, 12, 18], [33, 40], [64], [120], [200], [256]]
    assert sorted(np.concatenate(plan).tolist()) == list(range(len(lengths)))
    assert all(len(rows) == 1 or (len(rows) <= 3 and len(rows) * lengths[rows].max() <= 128) for rows in plan), "a row wider than the budget runs alone"
    assert [rows.tolist() for rows in plan[:2]] == [[10, 4, 1], [3, 8, 7]], "equal lengths keep their original order (stable sort)"


@pytest.mark.parametrize(("rows", "tokens"), [(0, 128), (64, 0)])
def test_a_policy_needs_positive_limits(batching: ModuleType, rows: int, tokens: int) -> None:
    with pytest.raises(ValueError, match="max_rows and max_tokens must be positive"):
        batching.SubBatchPolicy(rows, tokens)


def test_sub_batched_embeddings_equal_the_unsorted_run_in_the_original_order(batching: ModuleType) -> None:
    texts = random.Random(7).sample(realistic_pool().texts, 64)
    input_ids, attention_mask = tokenize(encoder_bench.build_tokenizer(REPOSITORY), texts)
    session = encoder_bench.onnx_session(REPOSITORY)

    def encode(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(["embedding"], {"input_ids": ids, "attention_mask": mask})[0])

    parameters = encoder_parameters(REPOSITORY)
    policy = batching.SubBatchPolicy(int(parameters["sub_batch_max_rows"]), int(parameters["sub_batch_max_tokens"]))
    unsorted = encode(input_ids, attention_mask)
    sorted_run, stats = batching.encode_length_aware(encode, input_ids, attention_mask, policy)
    with ThreadPoolExecutor(int(parameters["sub_batch_threads"])) as workers:
        parallel_run, parallel_stats = batching.encode_length_aware(encode, input_ids, attention_mask, policy, workers.map)
    assert len(batching.sub_batches(batching.row_lengths(attention_mask), policy)) > 1
    assert _cosines(sorted_run, unsorted).min() >= MIN_COSINE
    assert _cosines(parallel_run, sorted_run).min() >= MIN_COSINE and parallel_stats == stats, "threads change where sub-batches run, not what"
    assert _cosines(sorted_run, unsorted[::-1]).min() < 0.9, "rows in another order would not match: the comparison can fail"
    assert stats.real_tokens == int(attention_mask.sum())
    assert stats.real_tokens / stats.computed_tokens > 2 * attention_mask.mean(), "sub-batches compute far less padding than the padded batch"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalTriton]:
    with LocalTriton(REPOSITORY) as triton:
        yield triton


def test_triton_returns_each_request_its_own_rows_in_order(server: LocalTriton) -> None:
    """Concurrent requests of one to five texts of mixed lengths are batched, sorted and split inside the encoder."""
    pool = realistic_pool().texts
    rng = random.Random(11)
    requests = [rng.sample(pool, rng.randint(1, 5)) for _ in range(48)]
    probe = ServerProbe(server.pid, server.metrics_url)
    before = probe.token_positions()
    with ThreadPoolExecutor(max_workers=16) as clients:
        served = list(clients.map(lambda texts: embed(server.url, texts), requests))
    tokenizer = encoder_bench.build_tokenizer(REPOSITORY)
    session = encoder_bench.onnx_session(REPOSITORY)
    for texts, embeddings in zip(requests, served, strict=True):
        input_ids, attention_mask = tokenize(tokenizer, texts)
        expected = session.run(["embedding"], {"input_ids": input_ids, "attention_mask": attention_mask})[0]
        assert embeddings.shape == (len(texts), 384)
        assert _cosines(embeddings, expected).min() >= MIN_COSINE
    after = probe.token_positions()
    assert before is not None and after is not None
    real, computed = after[0] - before[0], after[1] - before[1]
    expected_real = sum(int(tokenize(tokenizer, texts)[1].sum()) for texts in requests)
    assert real == expected_real, "the real-token counter counts every real token once"
    assert 0.8 < real / computed <= 1.0
