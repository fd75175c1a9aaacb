"""What the on-call engineer gets: alarms, one dashboard and a budget, as plain data.

One module per concern: `metrics` (names and AWS's documented list), `addon` (the
Container Insights add-on's configuration and fit), `alarms`, `dashboard` (and the budget).

The `Observability` component turns these into CloudWatch alarms, a dashboard and an
AWS Budget; the tests check every metric against AWS's documented metric list
(`data/cloudwatch_metrics.json`), so an alarm never watches a metric that does not exist.

Dimension values that only exist once the load balancer controller has created the load
balancer (its `app/<name>/<id>` suffix) are passed in as `LoadBalancerRefs`: plain strings
here, Pulumi outputs in the component.
"""

from __future__ import annotations

from components.core.observability.addon import (
    addon_configuration,
    addon_facts,
    container_insights_enabled,
    emf_dimensions,
    gpu_metrics_gaps,
    server_metrics_enabled,
    server_metrics_log_group,
    untolerated_taints,
)
from components.core.observability.alarms import AlarmSpec, alarm_specs, load_balancer_kind
from components.core.observability.dashboard import budget_limit, dashboard_body
from components.core.observability.metrics import (
    CONTAINER_INSIGHTS_ADDON,
    CONTAINER_INSIGHTS_LOG_GROUPS,
    CONTAINER_INSIGHTS_NAMESPACE,
    CONTAINER_INSIGHTS_SERVICE_ACCOUNT,
    SERVER_DIMENSIONS,
    SERVER_METRICS,
    SERVER_METRICS_LOG_GROUP,
    SERVER_NAMESPACE,
    LoadBalancerRefs,
    MetricRef,
    documented_metrics,
)

__all__ = [
    "CONTAINER_INSIGHTS_ADDON",
    "CONTAINER_INSIGHTS_LOG_GROUPS",
    "CONTAINER_INSIGHTS_NAMESPACE",
    "CONTAINER_INSIGHTS_SERVICE_ACCOUNT",
    "SERVER_DIMENSIONS",
    "SERVER_METRICS",
    "SERVER_METRICS_LOG_GROUP",
    "SERVER_NAMESPACE",
    "AlarmSpec",
    "LoadBalancerRefs",
    "MetricRef",
    "addon_configuration",
    "addon_facts",
    "alarm_specs",
    "budget_limit",
    "container_insights_enabled",
    "dashboard_body",
    "documented_metrics",
    "emf_dimensions",
    "gpu_metrics_gaps",
    "load_balancer_kind",
    "server_metrics_enabled",
    "server_metrics_log_group",
    "untolerated_taints",
]
