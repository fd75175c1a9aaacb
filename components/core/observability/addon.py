"""The Container Insights add-on: its configuration, and whether it fits our pools."""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from components.core.config import StackConfig
from components.core.observability.metrics import SERVER_METRICS_LOG_GROUP
from components.core.scheduling import pool_taints

__all__ = [
    "addon_configuration",
    "addon_facts",
    "container_insights_enabled",
    "emf_dimensions",
    "gpu_metrics_gaps",
    "server_metrics_enabled",
    "server_metrics_log_group",
    "untolerated_taints",
]


def addon_facts() -> dict[str, Any]:
    """What the pinned add-on deploys by default (data/cloudwatch_addon.json)."""
    text = resources.files("components.core.data").joinpath("cloudwatch_addon.json").read_text()
    document: dict[str, Any] = json.loads(text)
    return document


def server_metrics_enabled(config: StackConfig) -> bool:
    """The server sends its metrics (EMF) where the add-on's agent runs to receive them."""
    return config.service is not None and container_insights_enabled(config)


def addon_configuration(config: StackConfig) -> dict[str, Any]:
    """The add-on's `configurationValues`: the agent's config, replacing its default.

    `agent.config` replaces the default the chart builds (Container Insights plus
    Application Signals, helm-charts `_helpers.tpl` "cloudwatch-agent.build-default-config"
    at Release 6.2.0). Ours keeps enhanced Container Insights, turns the GPU (DCGM) metrics
    on only where a pool has GPUs, and adds the EMF listener (`emf`: TCP/UDP 25888 on the
    agent's host network) that the model server sends its metrics to. Application Signals is
    left out: it needs the add-on's auto-instrumentation, which the server does not use, and
    is billed per request. The chart fills in `agent.region` and `kubernetes.cluster_name`
    itself (`_helpers.tpl` "cloudwatch-agent.config-modifier"). The add-on's default
    tolerations (every taint) are kept, so the agent and Fluent Bit also run on GPU nodes
    (`untolerated_taints` checks our pools).
    """
    has_gpu = any(pool.is_gpu for pool in config.node_pools.values())
    metrics_collected: dict[str, Any] = {
        "kubernetes": {
            "enhanced_container_insights": True,
            "accelerated_compute_metrics": has_gpu,
        }
    }
    if server_metrics_enabled(config):
        metrics_collected["emf"] = {}
    return {"agent": {"config": {"logs": {"metrics_collected": metrics_collected}}}}


def untolerated_taints(config: StackConfig) -> list[str]:
    """`pool: key=value:effect` for every pool taint the add-on's pods would not tolerate."""
    tolerations = addon_facts()["defaultTolerations"]
    gaps = []
    for name, pool in config.node_pools.items():
        for taint in pool_taints(pool):
            if not any(_tolerates(t, taint.key, taint.value, taint.effect) for t in tolerations):
                gaps.append(f"{name}: {taint.key}={taint.value}:{taint.effect}")
    return gaps


def _tolerates(toleration: Mapping[str, Any], key: str, value: str, effect: str) -> bool:
    # Kubernetes' rules: an empty key with Exists matches every key; an empty effect every
    # effect (core/v1 Toleration).
    if toleration.get("effect") not in (None, "", effect):
        return False
    if toleration.get("operator") == "Exists":
        return toleration.get("key") in (None, "", key)
    return toleration.get("key") == key and toleration.get("value") == value


def gpu_metrics_gaps(config: StackConfig) -> list[str]:
    """`pool: type` for every GPU instance type the add-on's DCGM exporter is not placed on
    (its node affinity lists instance types): those nodes would have no GPU metrics."""
    placed = set(addon_facts()["dcgmExporterInstanceTypes"])
    return [
        f"{name}: {instance_type}"
        for name, pool in config.node_pools.items()
        if pool.is_gpu
        for instance_type in pool.instance_types
        if instance_type not in placed
    ]


def server_metrics_log_group(cluster_name: str) -> str:
    return f"/aws/containerinsights/{cluster_name}/{SERVER_METRICS_LOG_GROUP}"


def emf_dimensions(config: StackConfig, cluster_name: str) -> dict[str, str]:
    """The server metrics' dimension values, as the server sends them."""
    service = config.service
    if service is None:
        raise ValueError("the stack config has no `service` section")
    return {"ClusterName": cluster_name, "Namespace": service.namespace, "Service": service.name}


def container_insights_enabled(config: StackConfig) -> bool:
    insights = config.observability.container_insights
    if insights is None:
        return False
    return insights.enabled if insights.enabled is not None else config.environment == "prod"
