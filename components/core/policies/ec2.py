"""EC2: the nodes' instance metadata, volumes and addresses."""

from __future__ import annotations

from collections.abc import Iterator

from components.core.amis import ROOT_DEVICE
from components.core.constants import IMDS_HOP_LIMIT, IMDS_HTTP_TOKENS
from components.core.policies._base import (
    Finding,
    PolicyContext,
    Resource,
    _false,
    _get,
    _known,
    _list,
    _true,
    rule,
)
from components.core.policies.eks import EKS_CLUSTER

__all__ = [
    "EBS_VOLUME",
    "EC2_INSTANCE",
    "LAUNCH_TEMPLATE",
    "ROOT_DEVICES",
    "SUBNET",
    "ebs_encrypted",
    "imds_hop_limit",
    "imdsv2_required",
    "nodes_no_public_ip",
]

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EBS_VOLUME = "aws:ebs/volume:Volume"
EC2_INSTANCE = "aws:ec2/instance:Instance"
SUBNET = "aws:ec2/subnet:Subnet"
ROOT_DEVICES = frozenset({ROOT_DEVICE, "/dev/sda1"})
"""Root device names of the EKS AMIs (AL2023 and Bottlerocket: /dev/xvda)."""


@rule(
    "imdsv2-required",
    "mandatory",
    types={LAUNCH_TEMPLATE},
    description="Nodes require IMDSv2 session tokens.",
)
def imdsv2_required(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    tokens = _get(resource.inputs, "metadataOptions", "httpTokens")
    if _known(tokens) and tokens != IMDS_HTTP_TOKENS:
        yield (
            "metadataOptions.httpTokens",
            f"is {tokens!r}: IMDSv1 lets any SSRF read the node role's credentials; "
            f"set it to {IMDS_HTTP_TOKENS!r}",
        )


@rule(
    "imds-hop-limit-1",
    "advisory",
    types={LAUNCH_TEMPLATE},
    description="Instance metadata hop limit 1, so pods cannot reach the node role "
    "(2 only with a pool's allowPodImdsAccess).",
)
def imds_hop_limit(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    hops = _get(resource.inputs, "metadataOptions", "httpPutResponseHopLimit")
    if hops is None:
        yield (
            "metadataOptions.httpPutResponseHopLimit",
            "is not set (the AMI's default may be 2, which lets pods reach the node role); "
            f"set {IMDS_HOP_LIMIT}",
        )
    elif _known(hops) and hops != IMDS_HOP_LIMIT:
        yield (
            "metadataOptions.httpPutResponseHopLimit",
            f"is {hops}: pods can reach the node's instance metadata and role; "
            f"set {IMDS_HOP_LIMIT} (2 only with the pool's allowPodImdsAccess)",
        )


@rule(
    "ebs-encrypted",
    "mandatory",
    types={LAUNCH_TEMPLATE, EBS_VOLUME, EC2_INSTANCE, EKS_CLUSTER},
    description="EBS volumes (node root volumes included) are encrypted.",
)
def ebs_encrypted(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    inputs = resource.inputs
    if resource.type == LAUNCH_TEMPLATE:
        mappings = inputs.get("blockDeviceMappings")
        if mappings is None or mappings == []:
            yield (
                "blockDeviceMappings",
                "is empty: the root volume takes the AMI's default, unencrypted unless the "
                "account enforces EBS encryption; map the root device with ebs.encrypted",
            )
            return
        devices = [_get(m, "deviceName") for m in _list(mappings) if _get(m, "ebs") is not None]
        if devices and all(_known(d) for d in devices) and not set(devices) & ROOT_DEVICES:
            yield (
                "blockDeviceMappings",
                f"maps {devices} but no root device {sorted(ROOT_DEVICES)}: the root volume "
                "takes the AMI's default encryption",
            )
        for index, mapping in enumerate(_list(mappings)):
            ebs = _get(mapping, "ebs")
            if ebs is None:
                continue  # an instance-store or no-device mapping has no EBS volume
            encrypted = _get(ebs, "encrypted")
            if _known(encrypted) and not _true(encrypted):
                yield (f"blockDeviceMappings[{index}].ebs.encrypted", f"is {encrypted!r}")
    elif resource.type == EBS_VOLUME:
        encrypted = inputs.get("encrypted")
        if _known(encrypted) and not _true(encrypted):
            yield ("encrypted", f"is {encrypted!r}; EBS volumes must be encrypted")
    elif resource.type == EC2_INSTANCE:
        encrypted = _get(inputs, "rootBlockDevice", "encrypted")
        if _known(encrypted) and not _true(encrypted):
            yield ("rootBlockDevice.encrypted", f"is {encrypted!r}")
    elif resource.type == EKS_CLUSTER:
        # Only matters when pulumi_eks builds its default node group.
        encrypted = inputs.get("nodeRootVolumeEncrypted")
        if not _true(inputs.get("skipDefaultNodeGroup")) and _false(encrypted):
            yield ("nodeRootVolumeEncrypted", "is false")


@rule(
    "nodes-no-public-ip",
    "mandatory",
    types={LAUNCH_TEMPLATE, EC2_INSTANCE, SUBNET, EKS_CLUSTER},
    description="Nodes get no public IP addresses.",
)
def nodes_no_public_ip(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    inputs = resource.inputs
    if resource.type == LAUNCH_TEMPLATE:
        for index, nic in enumerate(_list(inputs.get("networkInterfaces"))):
            value = _get(nic, "associatePublicIpAddress")
            if _true(value):
                yield (
                    f"networkInterfaces[{index}].associatePublicIpAddress",
                    "is true: nodes must live on private subnets without public addresses",
                )
    elif resource.type == EC2_INSTANCE:
        if _true(inputs.get("associatePublicIpAddress")):
            yield ("associatePublicIpAddress", "is true")
    elif resource.type == SUBNET:
        if _true(inputs.get("mapPublicIpOnLaunch")):
            yield (
                "mapPublicIpOnLaunch",
                "is true: every instance launched here gets a public address",
            )
    elif resource.type == EKS_CLUSTER and _true(inputs.get("nodeAssociatePublicIpAddress")):
        yield ("nodeAssociatePublicIpAddress", "is true")
