"""verify_stack against moto in server mode over HTTP: a healthy stack passes; broken ones fail with the reason."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from gpu_inference_platform.components.budget_alarms import BudgetAlarms
from gpu_inference_platform.components.model_manifest import MANIFEST_NAME, Manifest, write_manifest
from gpu_inference_platform.ops.serving.local_triton import LOOPBACK, free_port
from gpu_inference_platform.ops.verify import verify_deployed_stack
from tests.conftest import ROOT, committed_raw, write_stack_file

ACCOUNT = "123456789012"
STACK = "dev"


@pytest.fixture
def endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
    server.start()
    url = f"http://{LOOPBACK}:{port}"
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10)  # a clean emulator per test
    yield url
    server.stop()


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}.items():
        monkeypatch.setenv(key, value)
    return boto3.Session(region_name="us-east-1")


@pytest.fixture
def build(tmp_path: Path) -> tuple[Path, Manifest]:
    repo = tmp_path / "repo"
    (repo / "minilm_encoder" / "1").mkdir(parents=True)
    (repo / "minilm_encoder" / "config.pbtxt").write_text('name: "minilm_encoder"\n')
    (repo / "minilm_encoder" / "1" / "model.onnx").write_bytes(b"\x08\x07onnx-bytes")
    return repo, write_manifest(repo, target="cpu", tools={}, source={}, onnx_opset=17, engines={})


def deploy(session: Any, endpoint: str, repo: Path, manifest: Manifest, *, subscribe: bool = True, tamper: str | None = None, actions: bool = True) -> None:
    """Create what the Pulumi program creates for a stack, in the emulator."""
    sns = session.client("sns", endpoint_url=endpoint)
    topic = sns.create_topic(Name="budget-alerts-1a2b3c", Tags=[{"Key": "stack", "Value": STACK}, {"Key": "component", "Value": "budgetalarms"}])["TopicArn"]
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=BudgetAlarms._topic_policy(topic, ACCOUNT))
    if subscribe:
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=f"arn:aws:sqs:us-east-1:{ACCOUNT}:oncall")
    notification = {"ComparisonOperator": "GREATER_THAN", "Threshold": 100, "ThresholdType": "PERCENTAGE"}
    session.client("budgets", endpoint_url=endpoint).create_budget(
        AccountId=ACCOUNT,
        Budget={
            "BudgetName": "budget-1a2b3c",
            "BudgetLimit": {"Amount": "1500.0", "Unit": "USD"},
            "TimeUnit": "MONTHLY",
            "BudgetType": "COST",
            "CostFilters": {"TagKeyValue": [f"user:stack${STACK}"]},
        },
        NotificationsWithSubscribers=[
            {"Notification": {**notification, "NotificationType": kind}, "Subscribers": [{"SubscriptionType": "SNS", "Address": topic}]}
            for kind in ("ACTUAL", "FORECASTED")
        ],
    )
    session.client("cloudwatch", endpoint_url=endpoint).put_metric_alarm(
        AlarmName="monitoring-alb-p99-9f8e7d",
        ActionsEnabled=actions,
        AlarmActions=[topic],
        Namespace="AWS/ApplicationELB",
        MetricName="TargetResponseTime",
        ExtendedStatistic="p99",
        Period=60,
        EvaluationPeriods=5,
        Threshold=0.5,
        ComparisonOperator="GreaterThanThreshold",
    )
    s3 = session.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket="models-bucket-1a2b3c")
    s3.put_bucket_tagging(
        Bucket="models-bucket-1a2b3c", Tagging={"TagSet": [{"Key": "stack", "Value": STACK}, {"Key": "component", "Value": "modelrepository"}]}
    )
    for path in [*manifest.files, MANIFEST_NAME]:
        body = b"tampered" if path == tamper else (repo / path).read_bytes()
        s3.put_object(Bucket="models-bucket-1a2b3c", Key=f"models/{manifest.tree_hash}/{path}", Body=body)


def _failures(checks: list[Any]) -> list[str]:
    return [str(c) for c in checks if not c.ok]


def test_a_healthy_stack_passes_every_check(session: Any, endpoint: str, build: tuple[Path, Manifest]) -> None:
    repo, manifest = build
    deploy(session, endpoint, repo, manifest)
    checks = verify_deployed_stack(session, stack=STACK, manifest=manifest, endpoint_url=endpoint)
    assert [c.name for c in checks] == ["budget", "budget notifications", "confirmed subscriber", "topic policy", "alarms", "model objects"]
    assert _failures(checks) == []
    assert str(checks[0]) == "PASS budget: budget-1a2b3c: 1500.0 USD per monthly"


def test_no_confirmed_subscriber_fails(session: Any, endpoint: str, build: tuple[Path, Manifest]) -> None:
    repo, manifest = build
    deploy(session, endpoint, repo, manifest, subscribe=False)
    failures = _failures(verify_deployed_stack(session, stack=STACK, manifest=manifest, endpoint_url=endpoint))
    assert len(failures) == 1 and failures[0].startswith(
        "FAIL confirmed subscriber: 0 of 0 subscriptions of arn:aws:sns:us-east-1:123456789012:budget-alerts-1a2b3c"
    )


def test_a_tampered_model_object_fails(session: Any, endpoint: str, build: tuple[Path, Manifest]) -> None:
    repo, manifest = build
    deploy(session, endpoint, repo, manifest, tamper="minilm_encoder/1/model.onnx")
    assert _failures(verify_deployed_stack(session, stack=STACK, manifest=manifest, endpoint_url=endpoint)) == [
        f"FAIL model objects: 2 files under s3://models-bucket-1a2b3c/models/{manifest.tree_hash}/: checksum mismatch minilm_encoder/1/model.onnx"
    ]


def test_alarms_without_actions_fail(session: Any, endpoint: str, build: tuple[Path, Manifest]) -> None:
    repo, manifest = build
    deploy(session, endpoint, repo, manifest, actions=False)
    assert _failures(verify_deployed_stack(session, stack=STACK, manifest=manifest, endpoint_url=endpoint)) == [
        "FAIL alarms: 1 load-balancer alarms; without actions: ['monitoring-alb-p99-9f8e7d']"
    ]


def test_a_missing_budget_fails(session: Any, endpoint: str, build: tuple[Path, Manifest]) -> None:
    _, manifest = build
    failures = _failures(verify_deployed_stack(session, stack=STACK, manifest=manifest, endpoint_url=endpoint))
    assert failures[0] == "FAIL budget: no budget filtered to user:stack$dev"


def test_cli_exit_codes(session: Any, endpoint: str, build: tuple[Path, Manifest], tmp_path: Path) -> None:
    repo, manifest = build
    raw = committed_raw(STACK)
    raw["modelRepository"]["buildDir"] = str(repo)
    config = write_stack_file(tmp_path / "Pulumi.dev.yaml", raw)
    command = [sys.executable, "-m", "scripts.verify_stack", "--stack", STACK, "--config", str(config), "--endpoint-url", endpoint]
    failing = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert (failing.returncode, failing.stdout.splitlines()[0]) == (1, "FAIL budget: no budget filtered to user:stack$dev")
    deploy(session, endpoint, repo, manifest)
    passing = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert all(line.startswith("PASS ") for line in passing.stdout.splitlines())
