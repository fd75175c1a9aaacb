"""The whole stack: its sections, the checks across them, and `parse_stack_config`."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from components.core import amis, stackchecks
from components.core.config._base import ConfigError, ConfigModel
from components.core.config.cluster import ClusterConfig
from components.core.config.network import NetworkConfig
from components.core.config.node_pools import NodePoolConfig
from components.core.config.observability import CostAssumptions, ObservabilityConfig
from components.core.config.service import ModelServiceConfig, ModelStoreConfig

__all__ = ["CONFIG_KEY", "StackConfig", "parse_stack_config"]

#: The config key (in the project's namespace) that holds the whole `StackConfig`.
CONFIG_KEY = "platform"


class StackConfig(ConfigModel):
    """Everything one stack deploys."""

    environment: Literal["dev", "staging", "prod"]
    tags: dict[str, str] = Field(default_factory=dict)
    network: NetworkConfig
    cluster: ClusterConfig
    node_pools: dict[str, NodePoolConfig] = Field(min_length=1)
    model_store: ModelStoreConfig = Field(default_factory=ModelStoreConfig)
    service: ModelServiceConfig | None = None
    cost: CostAssumptions = Field(default_factory=CostAssumptions)
    observability: ObservabilityConfig = Field(default_factory=ObservabilityConfig)

    @field_validator("node_pools")
    @classmethod
    def _pool_names(cls, value: dict[str, NodePoolConfig]) -> dict[str, NodePoolConfig]:
        for name in value:
            if not re.match(r"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$", name):
                raise ValueError(f"node pool name {name!r} must be a lowercase DNS label")
        return value

    @model_validator(mode="after")
    def _release_versions(self) -> StackConfig:
        # Checked here, before any resource exists, rather than when the node group is
        # built: by then `pulumi up` would already be creating the VPC and control plane.
        problems = []
        for name, pool in self.node_pools.items():
            try:
                amis.check_release_version(
                    pool.os, self.cluster.kubernetes_version, pool.release_version
                )
            except ValueError as exc:
                problems.append(f"nodePools.{name}.releaseVersion: {exc}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _api_reachable(self) -> StackConfig:
        """Refuse an API endpoint that no deploy runner can reach on the first `pulumi up`.

        pulumi-eks skips its health check for a private endpoint, so such a stack creates
        the control plane, node groups and add-ons and then times out on every Helm
        release and Kubernetes object: a runner cannot be inside a VPC that
        did not exist a minute earlier.
        """
        cluster = self.cluster
        if cluster.endpoint_public_access:
            return self
        vpc = self.network.vpc
        outside = [c for c in cluster.api_access_cidrs if not _inside(c, vpc)]
        if not cluster.api_access_cidrs:
            raise ValueError(
                "cluster: the API endpoint is private (endpointPublicAccess: false) and "
                "apiAccessCidrs is empty, so nothing outside the cluster can reach it and "
                "`pulumi up` would time out at its first Kubernetes object; set "
                "endpointPublicAccess: true with publicAccessCidrs listing your runner's "
                "egress CIDRs (endpointPrivateAccess stays on for the nodes), or list the "
                "networks routed to the VPC in apiAccessCidrs"
            )
        if not outside and not cluster.deploy_from_inside_vpc:
            raise ValueError(
                "cluster: the API endpoint is private and apiAccessCidrs "
                f"{cluster.api_access_cidrs} lie inside this stack's own VPC "
                f"{self.network.vpc_cidr}, which does not exist before the first "
                "`pulumi up`: no runner can reach the API then. Set endpointPublicAccess: "
                "true with publicAccessCidrs listing your runner's egress CIDRs, or set "
                "deployFromInsideVpc: true and follow the README's two-stage bring-up "
                "(the network first, then `pulumi up` from a host inside the VPC)"
            )
        return self

    @model_validator(mode="after")
    def _observability(self) -> StackConfig:
        observability = self.observability
        if (
            observability.enabled
            and self.environment == "prod"
            and observability.container_insights is None
        ):
            raise ValueError(
                "observability.containerInsights: prod turns Container Insights on by "
                "default; pin the add-on's version (containerInsights.version) or set "
                "containerInsights.enabled: false"
            )
        return self

    @model_validator(mode="after")
    def _references(self) -> StackConfig:
        service = self.service
        if service is None:
            return self
        pool = self.node_pools.get(service.node_pool)
        if pool is None:
            raise ValueError(
                f"service.nodePool {service.node_pool!r} is not one of the node pools "
                f"{sorted(self.node_pools)}"
            )
        if service.gpus and not pool.is_gpu:
            raise ValueError(
                f"service.gpus is {service.gpus} but node pool {service.node_pool!r} has no GPUs"
            )
        if service.gpus > pool.gpus_per_node:
            raise ValueError(
                f"service.gpus is {service.gpus} but a node of pool {service.node_pool!r} "
                f"has {pool.gpus_per_node} ({pool.instance_types}): no pod could be scheduled"
            )
        if pool.is_gpu and not service.gpus:
            raise ValueError(
                f"service runs on GPU pool {service.node_pool!r} but service.gpus is 0"
            )
        if pool.max_size < 1:
            raise ValueError(f"node pool {service.node_pool!r} cannot hold the service")
        return self

    @model_validator(mode="after")
    def _stack_checks(self, info: ValidationInfo) -> StackConfig:
        # AWS's and Kubernetes' rules across keys (core/stackchecks.py), all at once.
        context = info.context if isinstance(info.context, dict) else {}
        found = stackchecks.problems(
            self,
            stackchecks.StackContext(region=context.get("region"), stack=context.get("stack")),
        )
        if found:
            raise ValueError("\n  ".join(found))
        return self


def _inside(cidr: str, network: ipaddress.IPv4Network) -> bool:
    return ipaddress.IPv4Network(cidr).subnet_of(network)


def _format(error: ValidationError, root: str) -> str:
    lines = []
    for item in error.errors():
        path = ".".join([root, *(str(part) for part in item["loc"])])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; unknown keys are refused)"
        value = item.get("input")
        shown = "" if isinstance(value, dict) or item["type"] == "missing" else f" (got {value!r})"
        lines.append(f"{path}: {message}{shown}")
    return "invalid stack config:\n  " + "\n  ".join(lines)


def parse_stack_config(
    raw: Any, *, root: str = CONFIG_KEY, region: str | None = None, stack: str | None = None
) -> StackConfig:
    """Validate a plain config value; raise `ConfigError` naming each bad key path.

    `region` (`aws:region`) and `stack` (the stack's name) enable the checks that need
    them: an ACM certificate of another region, AZs of another region, `environment`
    against the policy pack's production rule.
    """
    try:
        return StackConfig.model_validate(raw, context={"region": region, "stack": stack})
    except ValidationError as exc:
        raise ConfigError(_format(exc, root)) from None
