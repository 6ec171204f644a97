"""AWS regions this toolkit is validated for, with their availability zones."""

from __future__ import annotations

REGION_AVAILABILITY_ZONES: dict[str, tuple[str, ...]] = {
    "us-east-1": tuple(f"us-east-1{z}" for z in "abcdef"),
    "us-east-2": tuple(f"us-east-2{z}" for z in "abc"),
    "us-west-2": tuple(f"us-west-2{z}" for z in "abcd"),
    "eu-west-1": tuple(f"eu-west-1{z}" for z in "abc"),
    "eu-central-1": tuple(f"eu-central-1{z}" for z in "abc"),
    "ap-northeast-1": ("ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"),
    "ap-southeast-2": tuple(f"ap-southeast-2{z}" for z in "abc"),
}
