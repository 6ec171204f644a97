"""Shared base for platform components and the stack-wide tagging transformation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws

_LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


def tag_transformation(tags: Mapping[str, str], *, enforce: bool) -> pulumi.ResourceTransformation:
    """A transformation that adds `tags` to every taggable AWS resource below where it is registered.

    With `enforce`, these tags win over a resource's own (stack-wide cost-allocation keys
    must be uniform); otherwise a resource's own or an inner component's tags win.
    Launch templates also get the tags on the instances and volumes they launch.
    """
    fixed = dict(tags)

    def merge(existing: Mapping[str, str] | None) -> dict[str, str]:
        return {**(existing or {}), **fixed} if enforce else {**fixed, **(existing or {})}

    def add_tags(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if not args.type_.startswith("aws:") or "tags" not in args.props:
            return None
        props = dict(args.props)
        merged = pulumi.Output.from_input(props["tags"]).apply(merge)
        props["tags"] = merged
        if args.type_ == _LAUNCH_TEMPLATE:
            props["tag_specifications"] = merged.apply(
                lambda t: [aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=t) for kind in ("instance", "volume")]
            )
        return pulumi.ResourceTransformationResult(props, args.opts)

    return add_tags


class PlatformComponent(pulumi.ComponentResource):
    """Base of every `gpuinfra:<module>:<Type>` component; tags its AWS children with `component=<module>`."""

    def __init__(self, module: str, type_name: str, name: str, opts: pulumi.ResourceOptions | None) -> None:
        component_tags = pulumi.ResourceOptions(transformations=[tag_transformation({"component": module}, enforce=False)])
        super().__init__(f"gpuinfra:{module}:{type_name}", name, None, pulumi.ResourceOptions.merge(opts, component_tags))

    def child(self, **kwargs: object) -> pulumi.ResourceOptions:
        """Options for a child of this component (`parent=self` plus any extra options)."""
        return pulumi.ResourceOptions(parent=self, **kwargs)  # type: ignore[arg-type]

    def public_outputs(self) -> dict[str, Any]:
        """Every annotated attribute of the component class (and its component subclasses) except child resources.

        What `register_outputs` records, so no output is ever left out.
        """
        names = [name for klass in type(self).__mro__[: type(self).__mro__.index(PlatformComponent)] for name in vars(klass).get("__annotations__", {})]
        values = {name: getattr(self, name) for name in names if not name.startswith("_")}
        return {name: value for name, value in values.items() if not isinstance(value, pulumi.Resource)}
