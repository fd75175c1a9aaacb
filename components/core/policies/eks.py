"""EKS: the control plane (secrets encryption, logs, API endpoint) and managed node groups."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from components.core.constants import CONTROL_PLANE_LOG_TYPES
from components.core.policies._base import (
    Finding,
    PolicyContext,
    Resource,
    _false,
    _get,
    _known,
    _open_cidr,
    _strings,
    rule,
)

__all__ = [
    "AWS_EKS_CLUSTER",
    "CLUSTERS",
    "EKS_CLUSTER",
    "NODE_GROUP",
    "control_plane_logs",
    "nodegroup_launch_template",
    "prod_endpoint_private",
    "public_endpoint_cidrs",
    "secrets_envelope_encryption",
]

EKS_CLUSTER = "eks:index:Cluster"
AWS_EKS_CLUSTER = "aws:eks/cluster:Cluster"
CLUSTERS = frozenset({EKS_CLUSTER, AWS_EKS_CLUSTER})
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


@rule(
    "eks-secrets-envelope-encryption",
    "mandatory",
    types=CLUSTERS,
    description="EKS encrypts Kubernetes secrets with a KMS key.",
)
def secrets_envelope_encryption(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    if resource.type == EKS_CLUSTER:
        key = resource.inputs.get("encryptionConfigKeyArn")
        if key is None or key == "":
            yield (
                "encryptionConfigKeyArn",
                "is not set: Kubernetes secrets are stored without KMS envelope encryption",
            )
    else:
        configs = resource.inputs.get("encryptionConfig")
        if configs is None:
            yield ("encryptionConfig", "is not set: no KMS envelope encryption of secrets")
            return
        key = _get(configs, "provider", "keyArn")
        resources = _get(configs, "resources")
        if key is None or key == "":
            yield ("encryptionConfig.provider.keyArn", "is not set")
        if _known(resources) and "secrets" not in _strings(resources):
            yield ("encryptionConfig.resources", f"is {resources!r}; include 'secrets'")


@rule(
    "eks-control-plane-logs",
    "mandatory",
    types=CLUSTERS,
    description="All five EKS control-plane log types go to CloudWatch.",
)
def control_plane_logs(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    logs = resource.inputs.get("enabledClusterLogTypes")
    if not _known(logs):
        return
    missing = [t for t in CONTROL_PLANE_LOG_TYPES if t not in _strings(logs)]
    if missing:
        yield (
            "enabledClusterLogTypes",
            f"lacks {missing}; enable all of {list(CONTROL_PLANE_LOG_TYPES)}",
        )


def _endpoint(resource: Resource) -> tuple[Any, Any, str]:
    """(public access, public CIDRs, field prefix); both SDKs default to a public endpoint."""
    if resource.type == EKS_CLUSTER:
        public = resource.inputs.get("endpointPublicAccess")
        return (True if public is None else public), resource.inputs.get("publicAccessCidrs"), ""
    vpc = resource.inputs.get("vpcConfig")
    public = _get(vpc, "endpointPublicAccess")
    return (True if public is None else public), _get(vpc, "publicAccessCidrs"), "vpcConfig."


def _public_cidrs(resource: Resource) -> tuple[list[str], str] | None:
    """(listed public CIDRs, field prefix) of a known public endpoint with known CIDRs;
    None for a private endpoint or while either is still unknown."""
    public, cidrs, prefix = _endpoint(resource)
    if not _known(public) or _false(public) or not _known(cidrs):
        return None
    return _strings(cidrs), prefix


def _private_access(resource: Resource) -> Any:
    """The private endpoint flag; off by default in both SDKs."""
    if resource.type == EKS_CLUSTER:
        return resource.inputs.get("endpointPrivateAccess")
    return _get(resource.inputs.get("vpcConfig"), "endpointPrivateAccess")


@rule(
    "eks-prod-endpoint-private",
    "mandatory",
    types=CLUSTERS,
    description=(
        "A production cluster's API endpoint is private, or public only to listed CIDRs "
        "with private access on."
    ),
)
def prod_endpoint_private(resource: Resource, context: PolicyContext) -> Iterator[Finding]:
    """In prod a public endpoint is allowed only as a deploy runner's way in on day 0.

    A private-only endpoint cannot be reached by the first `pulumi up` from outside a VPC
    that same run creates. So prod may keep the public endpoint when it admits
    listed CIDRs only (never 0.0.0.0/0) and private access is on, so that nodes and pods
    use the private endpoint (EKS user guide, "Cluster API server endpoint": with both on,
    requests from within the VPC use the private endpoint).
    """
    if not context.production:
        return
    public = _public_cidrs(resource)
    if public is None:
        return
    listed, prefix = public
    if not listed or any(_open_cidr(cidr) for cidr in listed):
        yield (
            f"{prefix}endpointPublicAccess",
            "is not false in a production stack and publicAccessCidrs does not restrict it "
            f"(got {listed}): list your deploy runners' egress CIDRs, or make it private",
        )
    private = _private_access(resource)
    if _known(private) and (private is None or _false(private)):
        yield (
            f"{prefix}endpointPrivateAccess",
            "is not true while the endpoint is public in a production stack: nodes would "
            "reach the API server over the internet; turn private access on",
        )


@rule(
    "eks-public-endpoint-cidrs",
    "mandatory",
    types=CLUSTERS,
    description="A public API endpoint is restricted to listed CIDRs, never 0.0.0.0/0.",
)
def public_endpoint_cidrs(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    public = _public_cidrs(resource)
    if public is None:
        return
    listed, prefix = public
    if not listed:
        yield (
            f"{prefix}publicAccessCidrs",
            "is empty while the endpoint is public: EKS then allows 0.0.0.0/0",
        )
    for cidr in listed:
        if _open_cidr(cidr):
            yield (f"{prefix}publicAccessCidrs", f"contains {cidr}: the API server is open to all")


@rule(
    "eks-nodegroup-launch-template",
    "mandatory",
    types={NODE_GROUP},
    description="Managed node groups run on our launch template, with no open SSH.",
)
def nodegroup_launch_template(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    """Without our launch template EKS uses its own: AMI-default metadata and root volume."""
    template = resource.inputs.get("launchTemplate")
    if template is None:
        yield (
            "launchTemplate",
            "is not set: EKS's default launch template leaves IMDSv2, the hop limit and "
            "root-volume encryption to the AMI's defaults",
        )
    if resource.inputs.get("diskSize") is not None:
        yield ("diskSize", "is set: size the root volume in the launch template instead")
    remote = resource.inputs.get("remoteAccess")
    if remote is not None and _known(remote) and not _get(remote, "sourceSecurityGroupIds"):
        yield (
            "remoteAccess",
            "has no sourceSecurityGroupIds: EKS then opens SSH (22) to 0.0.0.0/0",
        )
