"""Realistic mock outputs so the real program runs offline, with no credentials.

Outputs echo the inputs (as the engine does) plus the computed fields each type
really returns: ids, ARNs in the stack's account and region, cluster endpoint,
certificate and OIDC issuer, launch template versions.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pulumi

MOCK_ACCOUNT_ID = "123456789012"
MOCK_PARTITION = "aws"
_GLOBAL_SERVICES = ("iam",)


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


class PlatformMocks(pulumi.runtime.Mocks):
    """Deterministic, type-aware mock outputs for the AWS and Kubernetes resources this project uses."""

    def __init__(self, region: str) -> None:
        self.region = region

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        outputs = dict(args.inputs)
        package, module, kind = [*args.typ.split(":"), "", ""][:3]
        resource_id = f"{args.name}-{_digest(args.typ + args.name, 8)}"
        if package == "aws":
            service = module.split("/")[0]
            region = "" if service in _GLOBAL_SERVICES else self.region
            outputs.setdefault("arn", f"arn:{MOCK_PARTITION}:{service}:{region}:{MOCK_ACCOUNT_ID}:{kind.lower()}/{resource_id}")
            outputs.setdefault("name", args.name)
        outputs.update(self._computed(args, resource_id))
        return resource_id, outputs

    def _computed(self, args: pulumi.runtime.MockResourceArgs, resource_id: str) -> dict[str, Any]:
        inputs = args.inputs
        match args.typ:
            case "aws:eks/cluster:Cluster":
                oidc_id = _digest(args.name, 32).upper()
                return {
                    "endpoint": f"https://{oidc_id}.gr7.{self.region}.eks.amazonaws.com",
                    "certificateAuthority": {"data": base64.b64encode(b"mock-ca-certificate").decode()},
                    "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{self.region}.amazonaws.com/id/{oidc_id}"}]}],
                    "vpcConfig": {**inputs.get("vpcConfig", {}), "clusterSecurityGroupId": f"sg-{_digest(args.name, 17)}"},
                    "status": "ACTIVE",
                    "arn": f"arn:{MOCK_PARTITION}:eks:{self.region}:{MOCK_ACCOUNT_ID}:cluster/{inputs.get('name', resource_id)}",
                }
            case "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
                return {"arn": f"arn:{MOCK_PARTITION}:iam::{MOCK_ACCOUNT_ID}:oidc-provider/{inputs['url'].removeprefix('https://')}"}
            case "aws:s3/bucket:Bucket":
                return {"bucket": resource_id, "arn": f"arn:{MOCK_PARTITION}:s3:::{resource_id}"}
            case "aws:lb/loadBalancer:LoadBalancer":
                suffix = f"app/{resource_id}/{_digest(resource_id, 16)}"
                return {"dnsName": f"{resource_id}.{self.region}.elb.amazonaws.com", "arnSuffix": suffix, "arn": self._elb_arn(f"loadbalancer/{suffix}")}
            case "aws:lb/targetGroup:TargetGroup":
                suffix = f"targetgroup/{resource_id}/{_digest(resource_id, 16)}"
                return {"arnSuffix": suffix, "arn": self._elb_arn(suffix)}
            case "aws:lb/listener:Listener" | "aws:lb/listenerRule:ListenerRule":
                return {"arn": self._elb_arn(f"listener/app/{resource_id}/{_digest(resource_id, 16)}")}
            case "random:index/randomPassword:RandomPassword":
                return {"result": f"mock-{_digest(args.name, 24)}"}
            case "aws:sns/topic:Topic":
                return {"arn": f"arn:{MOCK_PARTITION}:sns:{self.region}:{MOCK_ACCOUNT_ID}:{resource_id}", "name": resource_id}
            case "aws:sqs/queue:Queue":
                return {
                    "url": f"https://sqs.{self.region}.amazonaws.com/{MOCK_ACCOUNT_ID}/{resource_id}",
                    "name": resource_id,
                    "arn": f"arn:{MOCK_PARTITION}:sqs:{self.region}:{MOCK_ACCOUNT_ID}:{resource_id}",
                }
            case "aws:iam/role:Role":
                return {"arn": f"arn:{MOCK_PARTITION}:iam::{MOCK_ACCOUNT_ID}:role/{resource_id}", "name": resource_id}
            case "aws:ec2/launchTemplate:LaunchTemplate":
                return {"latestVersion": 1, "defaultVersion": 1}
            case "aws:kms/key:Key":
                key_id = _digest(args.name, 32)
                return {"keyId": key_id, "arn": f"arn:{MOCK_PARTITION}:kms:{self.region}:{MOCK_ACCOUNT_ID}:key/{key_id}"}
            case "aws:cloudwatch/logGroup:LogGroup":
                return {"arn": f"arn:{MOCK_PARTITION}:logs:{self.region}:{MOCK_ACCOUNT_ID}:log-group:{inputs.get('name', resource_id)}"}
        return {}

    def existing_cluster(self, name: str) -> dict[str, Any]:
        """`aws.eks.get_cluster` of a cluster the program does not manage (the examples use one)."""
        oidc_id = _digest(name, 32).upper()
        return {
            "id": name,
            "name": name,
            "arn": f"arn:{MOCK_PARTITION}:eks:{self.region}:{MOCK_ACCOUNT_ID}:cluster/{name}",
            "endpoint": f"https://{oidc_id}.gr7.{self.region}.eks.amazonaws.com",
            "version": "1.34",
            "status": "ACTIVE",
            "certificateAuthorities": [{"data": base64.b64encode(b"mock-ca-certificate").decode()}],
            "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{self.region}.amazonaws.com/id/{oidc_id}"}]}],
            "vpcConfig": {
                "clusterSecurityGroupId": f"sg-{_digest(name, 17)}",
                "controlPlaneEgressMode": "AWS_MANAGED",
                "endpointPrivateAccess": True,
                "endpointPublicAccess": False,
                "publicAccessCidrs": [],
                "securityGroupIds": [],
                "subnetIds": [f"subnet-{_digest(name + zone, 17)}" for zone in "abc"],
                "vpcId": f"vpc-{_digest(name, 17)}",
            },
        }

    def _elb_arn(self, resource: str) -> str:
        return f"arn:{MOCK_PARTITION}:elasticloadbalancing:{self.region}:{MOCK_ACCOUNT_ID}:{resource}"

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        match args.token:
            case "aws:index/getCallerIdentity:getCallerIdentity":
                return {"accountId": MOCK_ACCOUNT_ID, "arn": f"arn:aws:iam::{MOCK_ACCOUNT_ID}:user/preview", "userId": "AIDAPREVIEW", "id": MOCK_ACCOUNT_ID}, []
            case "aws:index/getPartition:getPartition":
                return {"partition": MOCK_PARTITION, "dnsSuffix": "amazonaws.com", "id": MOCK_PARTITION}, []
            case "aws:index/getRegion:getRegion":
                return {"name": self.region, "region": self.region, "id": self.region}, []
            case "aws:eks/getCluster:getCluster":
                return self.existing_cluster(args.args["name"]), []
        raise NotImplementedError(f"no mock for invoke {args.token}")
