"""Network: security groups open to the internet only where a load balancer needs it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from components.core.constants import LOAD_BALANCER_TAG
from components.core.policies._base import (
    Finding,
    PolicyContext,
    Resource,
    _list,
    _open_cidr,
    _strings,
    _tags,
    rule,
)

__all__ = [
    "LOAD_BALANCER_TAG",
    "SECURITY_GROUP",
    "SG_INGRESS_RULE",
    "SG_RULE",
    "no_open_ingress",
]

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


def _is_load_balancer(resource: Resource) -> bool:
    key, value = LOAD_BALANCER_TAG
    return _tags(resource).get(key) == value


def _open_ingress(
    resource: Resource, where: str, permission: Mapping[str, Any], cidr_keys: Sequence[str]
) -> Iterator[Finding]:
    for key in cidr_keys:
        for cidr in _strings(permission.get(key)):
            if not _open_cidr(cidr):
                continue
            ports = (permission.get("fromPort"), permission.get("toPort"))
            web = ports in ((80, 80), (443, 443)) and permission.get(
                "protocol", permission.get("ipProtocol")
            ) in ("tcp", "6")
            if web and _is_load_balancer(resource):
                continue
            hint = (
                "only a load balancer's 80/443 may be open to the internet "
                f"(tag it {LOAD_BALANCER_TAG[0]}={LOAD_BALANCER_TAG[1]})"
                if web
                else "open to the internet"
            )
            yield (f"{where}{key}", f"allows {cidr} on ports {ports[0]}-{ports[1]}: {hint}")


@rule(
    "sg-no-open-ingress",
    "mandatory",
    types={SECURITY_GROUP, SG_RULE, SG_INGRESS_RULE},
    description="No security group ingress from 0.0.0.0/0 or ::/0, except a load balancer's "
    "80/443.",
)
def no_open_ingress(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    inputs = resource.inputs
    if resource.type == SECURITY_GROUP:
        for index, entry in enumerate(_list(inputs.get("ingress"))):
            if isinstance(entry, Mapping):
                yield from _open_ingress(
                    resource, f"ingress[{index}].", entry, ("cidrBlocks", "ipv6CidrBlocks")
                )
    elif resource.type == SG_RULE:
        if inputs.get("type") == "ingress":
            yield from _open_ingress(resource, "", inputs, ("cidrBlocks", "ipv6CidrBlocks"))
    elif resource.type == SG_INGRESS_RULE:
        yield from _open_ingress(resource, "", inputs, ("cidrIpv4", "cidrIpv6"))
