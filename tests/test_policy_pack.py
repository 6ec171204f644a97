"""The CrossGuard pack served for real: the process the Pulumi CLI starts, spoken to over its gRPC analyzer protocol.

The CLI is not installed here, so the test plays its part: it starts `python policy`, reads the
port, configures the pack with a stack's policy config and sends every planned resource to
Analyze (resource policies) and the whole stack to AnalyzeStack. CrossGuard must report exactly
what the offline preview reports.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from gpu_inference_platform.policy.registry import POLICIES
from gpu_inference_platform.preview.guardrails import check_plan, plan_resources, policy_config_path
from gpu_inference_platform.preview.harness import Plan, plan_stack
from tests.conftest import ROOT, unsafe_prod_stack_file

Diagnostic = tuple[str, str, str, str]
"""(policy, resource name, enforcement, message)."""


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    process = subprocess.Popen([sys.executable, "policy"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().strip())
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.terminate()
        process.wait(timeout=30)


def _struct(value: object) -> struct_pb2.Struct:
    return json_format.ParseDict(value, struct_pb2.Struct())


def _configure(analyzer: analyzer_pb2_grpc.AnalyzerStub, config_path: Path) -> None:
    document = json.loads(config_path.read_text())
    configs = {}
    for policy in POLICIES:
        raw = dict(document.get(policy.name, {}))
        level = raw.pop("enforcementLevel", policy.default_enforcement.value)
        configs[policy.name] = analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.EnforcementLevel.Value(level.upper()), properties=_struct(raw))
    analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=configs))


def _diagnostics(response: analyzer_pb2.AnalyzeResponse, names: dict[str, str]) -> list[Diagnostic]:
    return [
        (d.policyName, names.get(d.urn, ""), analyzer_pb2.EnforcementLevel.Name(d.enforcementLevel).lower(), d.message.split("\n", 1)[1])
        for d in response.diagnostics
    ]


def _crossguard(analyzer: analyzer_pb2_grpc.AnalyzerStub, plan: Plan) -> list[Diagnostic]:
    resources = plan_resources(plan).resources
    names = {r.urn: r.name for r in resources}
    found: list[Diagnostic] = []
    for r in resources:
        request = analyzer_pb2.AnalyzeRequest(type=r.type, properties=_struct(r.props), urn=r.urn, name=r.name)
        found += _diagnostics(analyzer.Analyze(request), names)
    stack = [
        analyzer_pb2.AnalyzerResource(
            type=r.type,
            properties=_struct(r.props),
            urn=r.urn,
            name=r.name,
            propertyDependencies={k: analyzer_pb2.AnalyzerPropertyDependencies(urns=v) for k, v in r.dependencies.items()},
        )
        for r in resources
    ]
    return found + _diagnostics(analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=stack)), names)


def test_pack_describes_every_policy(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "gpu-inference-guardrails"
    described = [(p.name, analyzer_pb2.EnforcementLevel.Name(p.enforcementLevel).lower(), analyzer_pb2.PolicySeverity.Name(p.severity)) for p in info.policies]
    assert described == [(p.name, p.default_enforcement.value, f"POLICY_SEVERITY_{p.severity.value.upper()}") for p in POLICIES]
    assert [p.remediation_steps for p in info.policies] == [p.remediation for p in POLICIES]
    assert [p.tags[0] for p in info.policies] == [p.code for p in POLICIES]
    assert set(json.loads(json_format.MessageToJson(info.policies[0].configSchema.properties))) == {"reason", "waivers"}


@pytest.mark.parametrize("source", ["prod", "unsafe"])
def test_crossguard_reports_what_the_offline_preview_reports(analyzer: analyzer_pb2_grpc.AnalyzerStub, source: str, tmp_path: Path) -> None:
    plan = plan_stack("prod", unsafe_prod_stack_file(tmp_path) if source == "unsafe" else None)
    _configure(analyzer, policy_config_path("prod"))
    offline = [(v.policy, v.resource or "", v.enforcement, v.message) for v in check_plan(plan).violations]
    assert sorted(_crossguard(analyzer, plan)) == sorted(offline)
    assert len(offline) == (9 if source == "unsafe" else 0)
