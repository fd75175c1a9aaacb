"""The metrics the stack watches: names, dimension values and AWS's documented list.

Every metric an alarm or the dashboard reads is checked against
`data/cloudwatch_metrics.json` (what AWS documents), so nothing watches a metric that does
not exist.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = [
    "CONTAINER_INSIGHTS_ADDON",
    "CONTAINER_INSIGHTS_LOG_GROUPS",
    "CONTAINER_INSIGHTS_NAMESPACE",
    "CONTAINER_INSIGHTS_SERVICE_ACCOUNT",
    "SERVER_DIMENSIONS",
    "SERVER_METRICS",
    "SERVER_METRICS_LOG_GROUP",
    "SERVER_NAMESPACE",
    "LoadBalancerRefs",
    "MetricRef",
    "documented_metrics",
]

CONTAINER_INSIGHTS_ADDON = "amazon-cloudwatch-observability"
CONTAINER_INSIGHTS_NAMESPACE = "amazon-cloudwatch"
CONTAINER_INSIGHTS_SERVICE_ACCOUNT = "cloudwatch-agent"
"""The add-on's agent runs as this service account (EKS user guide, "Amazon CloudWatch
Observability agent": the IRSA role is bound to amazon-cloudwatch:cloudwatch-agent)."""
CONTAINER_INSIGHTS_LOG_GROUPS = ("application", "dataplane", "host", "performance")
"""`/aws/containerinsights/<cluster>/<kind>`: created by the stack first, with a retention,
because the agent would otherwise create them never to expire."""

SERVER_NAMESPACE = "MLOps/Serving"
"""The namespace of the model server's own metrics (`serving/emf.py` sends them as EMF to
the add-on's agent)."""
SERVER_METRICS_LOG_GROUP = "server-metrics"
"""`/aws/containerinsights/<cluster>/server-metrics`: the server's EMF documents, in a group
the stack creates with the add-on's retention (the agent's default group never expires)."""
SERVER_DIMENSIONS = ("ClusterName", "Namespace", "Service")
SERVER_METRICS = (
    "Requests",
    "ServerErrors",
    "Overloaded",
    "RequestLatency",
    "QueueWait",
    "InFlightRequests",
)
"""The server's metrics at `SERVER_DIMENSIONS` (`serving.emf.METRICS`); `Requests` also per
status."""
"""The server metrics' dimension set (`serving.emf.DIMENSIONS`)."""


@dataclass(frozen=True)
class LoadBalancerRefs:
    """The CloudWatch dimension values of the service's load balancer and target group."""

    load_balancer: str
    """`app/<name>/<id>` (ALB) or `net/<name>/<id>` (NLB): the ARN's suffix."""
    target_group: str
    """`targetgroup/<name>/<id>`."""


@dataclass(frozen=True)
class MetricRef:
    namespace: str
    name: str
    dimensions: Mapping[str, str]
    stat: str
    """`Sum`, `Average`, `Maximum`, `Minimum` or a percentile (`p99`)."""
    label: str = ""


def documented_metrics() -> dict[str, dict[str, list[list[str]]]]:
    """namespace → metric → the dimension sets AWS documents (data/cloudwatch_metrics.json)."""
    text = resources.files("components.core.data").joinpath("cloudwatch_metrics.json").read_text()
    document: dict[str, Any] = json.loads(text)
    return {ns: dict(metrics) for ns, metrics in document["metrics"].items()}
