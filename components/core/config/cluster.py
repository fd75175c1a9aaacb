"""`cluster`: the EKS control plane, who may reach and use its API, its add-ons."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from components.core import catalog, limits
from components.core.config._base import Cidr, ConfigModel, check_retention

__all__ = ["AddonVersions", "ClusterConfig", "HelmChart"]


class AddonVersions(ConfigModel):
    """EKS managed add-on versions, pinned (`aws eks describe-addon-versions`)."""

    vpc_cni: str
    coredns: str
    kube_proxy: str
    ebs_csi_driver: str
    pod_identity_agent: str
    metrics_server: str


class HelmChart(ConfigModel):
    """A Helm chart the platform installs, pinned to a version."""

    enabled: bool = True
    version: str


class ClusterConfig(ConfigModel):
    """The EKS control plane and its add-ons."""

    name: str
    """The EKS cluster's name: subnet, autoscaler and load-balancer tags all carry it,
    and `aws eks update-kubeconfig --name` needs it, so it is chosen, not generated."""
    kubernetes_version: str
    endpoint_public_access: bool = False
    """Public API endpoint; when on, `publicAccessCidrs` must list who may reach it."""
    public_access_cidrs: list[Cidr] = Field(default_factory=list)
    api_access_cidrs: list[Cidr] = Field(default_factory=list)
    """Networks allowed to the private API endpoint (443 on the cluster security group):
    where `pulumi up` and kubectl run from (VPN, CI runners). Nothing is implicit, not even
    the VPC: list its CIDR for a runner inside it."""
    admin_principal_arns: list[str] = Field(default_factory=list)
    """IAM roles or users given cluster-admin through EKS access entries."""
    bootstrap_creator_admin: bool = False
    """Also make whoever runs `pulumi up` a cluster admin (off: use access entries)."""
    deploy_from_inside_vpc: bool = False
    """Acknowledge a fully private endpoint whose only `apiAccessCidrs` lie inside this
    stack's own VPC: `pulumi up` must then run from a host inside that VPC (or a network
    attached to it), which cannot exist before the VPC does, so the first `pulumi up` is
    the README's two-stage bring-up (the network first, then the rest from inside it)."""
    log_retention_days: int = 90
    addons: AddonVersions
    cluster_autoscaler: HelmChart
    nvidia_device_plugin: HelmChart
    aws_load_balancer_controller: HelmChart

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return limits.check_cluster_name(value)

    @field_validator("kubernetes_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if value in catalog.KUBERNETES_VERSIONS:
            return value
        extended = (
            " (in EKS extended support, billed at six times the standard rate)"
            if value in catalog.EXTENDED_SUPPORT_VERSIONS
            else ""
        )
        raise ValueError(
            f"unsupported Kubernetes version {value!r}{extended}; "
            f"supported on {catalog.CATALOG_DATE}: {list(catalog.KUBERNETES_VERSIONS)}"
        )

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        return check_retention(value)

    @field_validator("admin_principal_arns")
    @classmethod
    def _arns(cls, value: list[str]) -> list[str]:
        pattern = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")
        for arn in value:
            if not pattern.match(arn):
                raise ValueError(f"not an IAM role or user ARN: {arn!r}")
        repeated = sorted({arn for arn in value if value.count(arn) > 1})
        if repeated:
            raise ValueError(f"admin principal ARNs repeat: {repeated}")
        return value

    @field_validator("api_access_cidrs")
    @classmethod
    def _api_cidrs(cls, value: list[str]) -> list[str]:
        if "0.0.0.0/0" in value:
            raise ValueError(
                "0.0.0.0/0 would open the private API endpoint to every network routed to "
                "the VPC; list your VPN, CI or VPC CIDRs"
            )
        return value

    @model_validator(mode="after")
    def _endpoint(self) -> ClusterConfig:
        if self.endpoint_public_access:
            if not self.public_access_cidrs:
                raise ValueError(
                    "endpointPublicAccess is true but publicAccessCidrs is empty: "
                    "list the CIDRs allowed to reach the API server"
                )
            open_to_all = [c for c in self.public_access_cidrs if c == "0.0.0.0/0"]
            if open_to_all:
                raise ValueError(
                    "publicAccessCidrs contains 0.0.0.0/0: the API server would be open "
                    "to the internet; list your own CIDRs"
                )
        elif self.public_access_cidrs:
            raise ValueError(
                f"publicAccessCidrs {self.public_access_cidrs} is set but "
                "endpointPublicAccess is false"
            )
        return self

    @model_validator(mode="after")
    def _someone_may_talk(self) -> ClusterConfig:
        # With neither, the cluster, node groups and add-ons get created and then the
        # first Kubernetes object fails Unauthorized: nobody has an access entry.
        if not self.admin_principal_arns and not self.bootstrap_creator_admin:
            raise ValueError(
                "adminPrincipalArns is empty and bootstrapCreatorAdmin is false: nobody "
                "could use the cluster, not even `pulumi up` (its Kubernetes objects would "
                "fail Unauthorized); list the deploying role in adminPrincipalArns, or set "
                "bootstrapCreatorAdmin: true"
            )
        return self
