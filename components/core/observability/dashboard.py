"""The stack's dashboard body (CloudWatch's dashboard JSON) and its budget limit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from components.core.config import StackConfig
from components.core.observability.addon import container_insights_enabled
from components.core.observability.alarms import load_balancer_kind, load_balancer_namespace
from components.core.observability.metrics import SERVER_NAMESPACE, LoadBalancerRefs, MetricRef

__all__ = ["budget_limit", "dashboard_body"]


def _widget(
    title: str,
    metrics: Sequence[MetricRef],
    region: str,
    *,
    x: int,
    y: int,
    annotations: Sequence[tuple[str, float]] = (),
) -> dict[str, Any]:
    rows: list[list[Any]] = []
    for ref in metrics:
        row: list[Any] = [ref.namespace, ref.name]
        for key, value in sorted(ref.dimensions.items()):
            row += [key, value]
        options: dict[str, Any] = {"stat": ref.stat}
        if ref.label:
            options["label"] = ref.label
        row.append(options)
        rows.append(row)
    properties: dict[str, Any] = {
        "title": title,
        "view": "timeSeries",
        "region": region,
        "period": 60,
        "metrics": rows,
    }
    if annotations:
        properties["annotations"] = {
            "horizontal": [{"label": label, "value": value} for label, value in annotations]
        }
    return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6, "properties": properties}


def dashboard_body(
    config: StackConfig,
    *,
    region: str,
    cluster_name: str,
    refs: LoadBalancerRefs | None,
    nat_gateway_ids: Sequence[str] = (),
    pool_asg_names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The stack's one dashboard: traffic, errors, latency, replicas, nodes, use, cost.

    `pool_asg_names` (pool → its node group's Auto Scaling group) draws the node count per
    pool: Container Insights has no node-group dimension, while EC2 reports CPUUtilization
    per Auto Scaling group, one sample per instance per minute with the launch template's
    detailed monitoring, so its SampleCount over a minute is the pool's running nodes.
    """
    widgets: list[dict[str, Any]] = []
    service = config.service
    kind = load_balancer_kind(config)

    def place(title: str, metrics: Sequence[MetricRef], **kw: Any) -> None:
        index = len(widgets)
        widgets.append(
            _widget(title, metrics, region, x=12 * (index % 2), y=6 * (index // 2), **kw)
        )

    if service is not None and kind is not None and refs is not None:
        namespace = load_balancer_namespace(kind)
        lb = {"LoadBalancer": refs.load_balancer}
        lb_tg = {"LoadBalancer": refs.load_balancer, "TargetGroup": refs.target_group}
        if kind == "alb":
            place("Traffic (requests/min)", [MetricRef(namespace, "RequestCount", lb, "Sum")])
            place(
                "Errors (5xx/min)",
                [
                    MetricRef(namespace, "HTTPCode_Target_5XX_Count", lb, "Sum", "pods"),
                    MetricRef(namespace, "HTTPCode_ELB_5XX_Count", lb, "Sum", "load balancer"),
                ],
            )
            slo_seconds = config.observability.slo.p99_latency_ms / 1000
            place(
                "Latency (s)",
                [
                    MetricRef(namespace, "TargetResponseTime", lb, stat, stat)
                    for stat in ("p50", "p90", "p99")
                ],
                annotations=[("p99 SLO", slo_seconds)],
            )
        else:
            place("Traffic (new flows/min)", [MetricRef(namespace, "NewFlowCount", lb, "Sum")])
        place(
            "Targets",
            [
                MetricRef(namespace, "HealthyHostCount", lb_tg, "Minimum", "healthy"),
                MetricRef(namespace, "UnHealthyHostCount", lb_tg, "Maximum", "unhealthy"),
            ],
        )
        place("Load balancer capacity units", [MetricRef(namespace, "ConsumedLCUs", lb, "Sum")])
    if container_insights_enabled(config):
        cluster = {"ClusterName": cluster_name}
        if service is not None:
            running = {**cluster, "Namespace": service.namespace, "Service": service.name}
            place(
                "Replicas vs HPA bounds",
                [
                    MetricRef(
                        "ContainerInsights", "service_number_of_running_pods", running, "Average"
                    )
                ],
                annotations=[
                    ("minReplicas", float(service.min_replicas)),
                    ("maxReplicas", float(service.max_replicas)),
                ],
            )
            place(
                "Service CPU and memory (% of limit)",
                [
                    MetricRef(
                        "ContainerInsights", "pod_cpu_utilization", running, "Average", "CPU"
                    ),
                    MetricRef(
                        "ContainerInsights", "pod_memory_utilization", running, "Average", "memory"
                    ),
                ],
            )
        if service is not None:
            server = {**cluster, "Namespace": service.namespace, "Service": service.name}
            slo = config.observability.slo
            status_search = (
                f"SEARCH('{{{SERVER_NAMESPACE},ClusterName,Namespace,Protocol,Service,Status}} "
                f'MetricName="Requests" ClusterName="{cluster_name}" '
                f'Namespace="{service.namespace}" Service="{service.name}"\', \'Sum\', 60)'
            )
            index = len(widgets)
            widgets.append(
                {
                    "type": "metric",
                    "x": 12 * (index % 2),
                    "y": 6 * (index // 2),
                    "width": 12,
                    "height": 6,
                    "properties": {
                        "title": "Server: requests by status (/min)",
                        "view": "timeSeries",
                        "region": region,
                        "period": 60,
                        "metrics": [[{"expression": status_search, "id": "status"}]],
                    },
                }
            )
            place(
                "Server: errors and overload (/min)",
                [
                    MetricRef(SERVER_NAMESPACE, "ServerErrors", server, "Sum", "5xx"),
                    MetricRef(SERVER_NAMESPACE, "Overloaded", server, "Sum", "503 overloaded"),
                ],
            )
            place(
                "Server: latency (s)",
                [
                    MetricRef(SERVER_NAMESPACE, "RequestLatency", server, stat, stat)
                    for stat in ("p50", "p90", "p99")
                ],
            )
            place(
                "Server: batching-queue wait (s)",
                [
                    MetricRef(SERVER_NAMESPACE, "QueueWait", server, stat, stat)
                    for stat in ("p50", "p99")
                ],
                annotations=[("p99 limit", slo.queue_wait_p99_ms / 1000)],
            )
            place(
                "Server: in-flight requests",
                [
                    MetricRef(SERVER_NAMESPACE, "InFlightRequests", server, "Maximum", "max"),
                    MetricRef(SERVER_NAMESPACE, "InFlightRequests", server, "Average", "avg"),
                ],
            )
        place(
            "Nodes",
            [
                MetricRef("ContainerInsights", "cluster_node_count", cluster, "Average", "nodes"),
                MetricRef(
                    "ContainerInsights", "cluster_failed_node_count", cluster, "Maximum", "failed"
                ),
            ],
        )
        use = [
            MetricRef("ContainerInsights", "node_cpu_utilization", cluster, "Average", "CPU"),
            MetricRef("ContainerInsights", "node_memory_utilization", cluster, "Average", "memory"),
        ]
        if any(pool.is_gpu for pool in config.node_pools.values()):
            use.append(
                MetricRef("ContainerInsights", "node_gpu_utilization", cluster, "Average", "GPU")
            )
        place("Node use (%)", use)
    if pool_asg_names:
        place(
            "Nodes per pool",
            [
                MetricRef(
                    "AWS/EC2",
                    "CPUUtilization",
                    {"AutoScalingGroupName": asg},
                    "SampleCount",
                    pool,
                )
                for pool, asg in sorted(pool_asg_names.items())
            ],
        )
    if nat_gateway_ids:
        place(
            "NAT bytes out",
            [
                MetricRef("AWS/NATGateway", "BytesOutToDestination", {"NatGatewayId": nat}, "Sum")
                for nat in nat_gateway_ids
            ],
        )
    return {"widgets": widgets}


def budget_limit(estimate_max: float, margin_percent: int) -> float:
    """The budget's monthly limit: the estimate's maximum plus the margin, whole dollars."""
    if estimate_max <= 0:
        raise ValueError(f"the cost estimate's maximum must be positive, got {estimate_max}")
    return float(int(estimate_max * (1 + margin_percent / 100) + 0.999))
