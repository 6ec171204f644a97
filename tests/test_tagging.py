"""Every taggable AWS resource of every stack carries the stack-wide cost-allocation tags."""

from __future__ import annotations

import importlib
import inspect

import pytest

from gpu_inference_platform.preview.harness import Plan, PlannedResource
from tests.conftest import STACKS

COMPONENT_OF_ROOT = {
    "network": "network",
    "gpu": "gpucluster",
    "gpu-fleet": "spotfleet",
    "models": "modelrepository",
    "triton": "tritonserver",
    "llm": "tritonserver",
    "alb": "loadbalancer",
    "budget": "budgetalarms",
    "monitoring": "monitoring",
    "ci-runner": "cirunner",
}
UNTAGGABLE_TYPES = {
    "aws:ec2/route:Route",
    "aws:ec2/routeTableAssociation:RouteTableAssociation",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
    "aws:wafv2/webAclAssociation:WebAclAssociation",
    "aws:sqs/queuePolicy:QueuePolicy",
    "aws:cloudwatch/eventTarget:EventTarget",
    "aws:ec2/tag:Tag",
    "aws:costexplorer/costAllocationTag:CostAllocationTag",
    "aws:codebuild/webhook:Webhook",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:sns/topicPolicy:TopicPolicy",
    "aws:sns/topicSubscription:TopicSubscription",
}


def _sdk_accepts_tags(type_token: str) -> bool:
    """Whether the pulumi-aws class for `type_token` has a `tags` argument (independent of our transformation)."""
    _, module_path, class_name = type_token.split(":")
    module = importlib.import_module(f"pulumi_aws.{module_path.split('/')[0]}")
    return "tags" in inspect.signature(getattr(module, class_name)._internal_init).parameters


def _root_of(plan: Plan, resource: PlannedResource) -> str:
    components = {r.name: r for r in plan.resources if r.type.startswith("gpuinfra:")}
    name = resource.parent
    while name is not None and components[name].parent is not None:
        name = components[name].parent
    return name or resource.name


@pytest.mark.parametrize("stack", STACKS)
def test_every_taggable_aws_resource_is_tagged(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    aws_resources = [r for r in plan.resources if r.type.startswith("aws:")]
    taggable = [r for r in aws_resources if _sdk_accepts_tags(r.type)]
    assert {r.type for r in aws_resources} - {r.type for r in taggable} <= UNTAGGABLE_TYPES
    for resource in taggable:
        tags = resource.inputs.get("tags", {})
        expected = {
            "project": "gpu-inference-platform",
            "stack": stack,
            "environment": stack,
            "cost-center": f"ml-platform-{stack}",
            "component": COMPONENT_OF_ROOT[_root_of(plan, resource)],
        }
        assert {k: tags.get(k) for k in expected} == expected, f"{resource.type} {resource.name}"


def test_stack_tags_override_and_resource_tags_survive(plans: dict[str, Plan]) -> None:
    vpc_tags = plans["dev"].get("aws:ec2/vpc:Vpc", "network-vpc").inputs["tags"]
    assert vpc_tags["Name"] == "gip-dev-vpc"


def test_launch_templates_tag_the_instances_and_volumes_they_launch(plans: dict[str, Plan]) -> None:
    template = plans["staging"].get("aws:ec2/launchTemplate:LaunchTemplate", "gpu-system-nodes").inputs
    assert [spec["resourceType"] for spec in template["tagSpecifications"]] == ["instance", "volume"]
    for spec in template["tagSpecifications"]:
        assert spec["tags"] == template["tags"]
        assert spec["tags"]["cost-center"] == "ml-platform-staging"


def test_non_taggable_resources_are_left_alone(plans: dict[str, Plan]) -> None:
    route = plans["dev"].get("aws:ec2/route:Route", "network-public-internet").inputs
    assert "tags" not in route
