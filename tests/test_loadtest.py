"""The load test's workload, cost figures and report: seeded texts, the server's CPU-seconds and token counters, the JSON."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpu_inference_platform.cli import loadtest
from gpu_inference_platform.ops.serving import encoder_bench
from gpu_inference_platform.ops.serving.local_triton import LOOPBACK, LocalTriton
from gpu_inference_platform.ops.serving.server_probe import ServerProbe, counter_total, fetch_metrics, listening_pid, process_tree, tree_cpu_seconds
from gpu_inference_platform.ops.serving.workload import LENGTH_CLASSES, SHORT_SENTENCES, realistic_pool, workload
from tests.conftest import ROOT

REPOSITORY = ROOT / "build/models/cpu"


def test_the_realistic_pool_is_seeded_and_has_its_stated_distribution() -> None:
    pool = realistic_pool()
    assert pool == realistic_pool() and pool.texts != realistic_pool(seed=1).texts
    assert len(pool.texts) == 240 and len(set(pool.texts)) == 240
    words = [len(text.split()) for text in pool.texts]
    for length_class in LENGTH_CLASSES:
        share = sum(length_class.min_words <= w <= length_class.max_words for w in words) / len(words)
        assert abs(share - length_class.share) < 0.06, length_class.name
    description = pool.describe(encoder_bench.token_counts(REPOSITORY, pool.texts))
    assert description["tokens"]["max"] == 256, "paragraphs reach the model's 256-token limit"
    tokens = description["tokens"]
    assert tokens["p50"] < 40 < tokens["mean"] < 80 and tokens["p95"] > 200
    assert [c["name"] for c in description["length_classes"]] == ["query", "sentence", "passage", "paragraph"]


def test_the_short_workload_is_the_old_set_on_request_only() -> None:
    short = workload("short")
    assert short.texts == SHORT_SENTENCES
    assert round(short.describe(encoder_bench.token_counts(REPOSITORY, short.texts))["tokens"]["mean"], 1) == 13.6
    with pytest.raises(ValueError, match="workload must be one of realistic, short, got 'long'"):
        workload("long")
    with pytest.raises(ValueError, match="pool size must be at least 1, got 0"):
        workload("realistic", size=0)


def test_listening_pid_and_process_tree_cpu() -> None:
    with socket.socket() as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert listening_pid(LOOPBACK, port) == os.getpid()
        assert listening_pid("10.0.0.1", port) is None, "a remote host has no local process"
    assert listening_pid(LOOPBACK, port) is None, "nothing listens once the socket is closed"
    burn = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass\nprint('burnt', flush=True)\ninput()"
    before = tree_cpu_seconds(os.getpid())
    busy = subprocess.Popen([sys.executable, "-c", burn], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert busy.stdout is not None and busy.stdout.readline() == "burnt\n"
        assert busy.pid in process_tree(os.getpid())
        assert tree_cpu_seconds(busy.pid) >= 0.45, "0.5 CPU-seconds, counted in clock ticks"
        assert tree_cpu_seconds(os.getpid()) - before >= 0.45, "a child's CPU counts toward its parent's tree"
    finally:
        busy.communicate("\n", timeout=10)


@pytest.fixture()
def metrics_url() -> Iterator[str]:
    text = (
        b"# TYPE gip_encoder_real_tokens_total counter\n"
        b'gip_encoder_real_tokens_total{model="a"} 30\n'
        b'gip_encoder_real_tokens_total{model="b"} 12\n'
        b"gip_encoder_real_tokens_total_created 99\n"
        b'gip_encoder_computed_tokens_total{model="a"} 50\n'
    )

    class Metrics(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(text)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer((LOOPBACK, 0), Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://{LOOPBACK}:{server.server_port}/metrics"
    server.shutdown()


def test_counters_sum_every_series_of_exactly_that_name(metrics_url: str) -> None:
    metrics = fetch_metrics(metrics_url)
    assert metrics is not None and fetch_metrics(f"http://{LOOPBACK}:9/metrics") is None
    assert counter_total(metrics, "gip_encoder_real_tokens_total") == 42
    assert counter_total(metrics, "gip_encoder_missing_total") is None
    assert ServerProbe(None, metrics_url).token_positions() == (42, 50)
    assert ServerProbe(None, f"http://{LOOPBACK}:9/metrics").token_positions() is None


@pytest.fixture(scope="module")
def server() -> Iterator[LocalTriton]:
    with LocalTriton(REPOSITORY) as triton:
        yield triton


def _endpoints(server: LocalTriton) -> list[str]:
    """The test server's ports are free ones, not Triton's 8000/8001/8002: name them (the pid is found from --url)."""
    return ["--url", server.url, "--grpc-url", server.grpc_url, "--metrics-url", server.metrics_url]


def test_a_sweep_reports_the_servers_cpu_and_real_token_share(server: LocalTriton, tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    argv = [*_endpoints(server), "--concurrency", "1,8", "--duration-s", "1", "--json", str(report_path), "--chart", str(tmp_path / "chart.png")]
    assert loadtest.main(argv) == 0
    report = json.loads(report_path.read_text())
    assert report["workload"]["name"] == "realistic" and report["workload"]["size"] == 240 and report["workload"]["tokens"]["max"] == 256
    levels = report["Triton, dynamic batching"]
    assert [level["concurrency"] for level in levels] == [1, 8]
    for level in levels:
        assert level["errors"] == 0 and level["requests"] > 0
        assert level["server_cpu_s"] > 0
        assert level["cpu_s_per_1000_requests"] == pytest.approx(1000 * level["server_cpu_s"] / level["requests"])
        assert 0.5 < level["real_token_fraction"] <= 1.0
    assert len(report["load_average_before"]) == len(report["load_average_after"]) == 3
    assert (tmp_path / "chart.png").stat().st_size > 0


def test_compare_measures_every_target_side_by_side(server: LocalTriton, tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    argv = [*_endpoints(server), "--concurrency", "1,16,64", "--duration-s", "0.6", "--compare", "--repo", str(REPOSITORY), "--json", str(report_path)]
    assert loadtest.main([*argv, "--chart", str(tmp_path / "chart.png")]) == 0
    report = json.loads(report_path.read_text())
    assert set(report["targets"]) == {
        "batching_vs_ceiling",
        "batching_vs_no_batching_at_64",
        "p50_at_1_vs_no_batching",
        "requests_per_cpu_s_vs_sentence_transformers_at_16",
        "requests_per_cpu_s_vs_sentence_transformers_at_64",
    }
    for name, target in report["targets"].items():
        assert target["value"] > 0 and isinstance(target["met"], bool), name
    assert all(level["server_cpu_s"] > 0 for level in report["Triton, no batching"]), "the no-batching server's CPU is measured too"
    assert set(report["sentence_transformers"]["by_batch"]) == {"1", "16", "64"}
    assert report["onnxruntime_ceiling"]["best_batch"] in (1, 8, 16, 32, 64)
    assert report["ratios"]["batching_vs_ceiling"] == report["targets"]["batching_vs_ceiling"]["value"]


def test_a_wrong_grpc_port_is_a_clear_error(server: LocalTriton, capsys: pytest.CaptureFixture[str]) -> None:
    assert loadtest.main(["--url", server.url, "--grpc-url", f"{LOOPBACK}:9"]) == 2
    assert capsys.readouterr().err == f"error: no ready Triton gRPC endpoint at {LOOPBACK}:9 (--grpc-url)\n"
