"""What the on-call engineer gets: alarms, one dashboard and a budget, as plain data.

The `Observability` component turns these into CloudWatch alarms, a dashboard and an
AWS Budget; the tests check every metric against AWS's documented metric list
(`data/cloudwatch_metrics.json`), so an alarm never watches a metric that does not exist.

Dimension values that only exist once the load balancer controller has created the load
balancer (its `app/<name>/<id>` suffix) are passed in as `LoadBalancerRefs`: plain strings
here, Pulumi outputs in the component.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

from components.core.config import StackConfig
from components.core.scheduling import pool_taints

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

Comparison = Literal[
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
]
MissingData = Literal["breaching", "notBreaching", "ignore", "missing"]


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


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm: what it watches, when it fires, and the runbook line it points to."""

    key: str
    """Stable suffix of the alarm's resource name and its runbook anchor."""
    title: str
    runbook: str
    """What to do, one line: the README's "When it breaks" table repeats it."""
    threshold: float
    comparison: Comparison
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    missing_data: MissingData
    missing_data_why: str
    metric: MetricRef | None = None
    """A single metric; or `expression` over `inputs`."""
    expression: str | None = None
    inputs: Mapping[str, MetricRef] = field(default_factory=dict)

    def description(self, stack: str, service: str | None) -> str:
        subject = f"stack {stack}" + (f", service {service}" if service else "")
        return (
            f"[{subject}] {self.title}. Runbook: README 'When it breaks' -> {self.key}: "
            f"{self.runbook}"
        )

    def metrics(self) -> list[MetricRef]:
        return [self.metric] if self.metric is not None else list(self.inputs.values())


def documented_metrics() -> dict[str, dict[str, list[list[str]]]]:
    """namespace → metric → the dimension sets AWS documents (data/cloudwatch_metrics.json)."""
    text = resources.files("components.core.data").joinpath("cloudwatch_metrics.json").read_text()
    document: dict[str, Any] = json.loads(text)
    return {ns: dict(metrics) for ns, metrics in document["metrics"].items()}


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


def load_balancer_kind(config: StackConfig) -> Literal["alb", "nlb"] | None:
    """Which load balancer fronts the service, if the stack has one at all."""
    service = config.service
    if service is None or service.exposure == "cluster-ip":
        return None
    if not config.cluster.aws_load_balancer_controller.enabled:
        return None
    return "alb" if service.exposure.startswith("alb-") else "nlb"


def _lb_namespace(kind: Literal["alb", "nlb"]) -> str:
    return "AWS/ApplicationELB" if kind == "alb" else "AWS/NetworkELB"


def alarm_specs(
    config: StackConfig, *, cluster_name: str, refs: LoadBalancerRefs | None
) -> list[AlarmSpec]:
    """The stack's alarms; load-balancer alarms only when `refs` is known."""
    specs: list[AlarmSpec] = []
    service = config.service
    kind = load_balancer_kind(config)
    slo = config.observability.slo
    if service is not None and kind is not None and refs is not None:
        lb = {"LoadBalancer": refs.load_balancer}
        lb_tg = {"LoadBalancer": refs.load_balancer, "TargetGroup": refs.target_group}
        namespace = _lb_namespace(kind)
        if kind == "alb":
            specs.append(
                AlarmSpec(
                    key="target-5xx-rate",
                    title=f"more than {slo.error_rate_percent:g}% of requests answered 5xx by "
                    "the pods",
                    runbook="read the pods' logs (CloudWatch Logs Insights on "
                    f"/aws/containerinsights/{cluster_name}/application) for the error; roll "
                    "back the last model or image change if it started with one",
                    threshold=slo.error_rate_percent,
                    comparison="GreaterThanThreshold",
                    period=60,
                    evaluation_periods=5,
                    datapoints_to_alarm=3,
                    missing_data="notBreaching",
                    missing_data_why="no requests means no errors",
                    expression="IF(requests > 0, 100 * errors / requests, 0)",
                    inputs={
                        "errors": MetricRef(namespace, "HTTPCode_Target_5XX_Count", lb, "Sum"),
                        "requests": MetricRef(namespace, "RequestCount", lb, "Sum"),
                    },
                )
            )
            specs.append(
                AlarmSpec(
                    key="p99-latency",
                    title=f"p99 target response time above {slo.p99_latency_ms} ms",
                    runbook="check the HPA (at maxReplicas?) and the pods' CPU on the "
                    "dashboard; raise maxReplicas or the pool's maxSize, or lower the batch "
                    "delay",
                    threshold=slo.p99_latency_ms / 1000,
                    comparison="GreaterThanThreshold",
                    period=60,
                    evaluation_periods=5,
                    datapoints_to_alarm=3,
                    missing_data="notBreaching",
                    missing_data_why="no requests means no latency to hold",
                    metric=MetricRef(namespace, "TargetResponseTime", lb, "p99"),
                )
            )
        specs.append(
            AlarmSpec(
                key="unhealthy-targets",
                title="a load balancer target is unhealthy",
                runbook="kubectl -n {ns} get pods; describe the failing pod (readiness, "
                "model load, OOMKilled) and its node".replace("{ns}", service.namespace),
                threshold=0,
                comparison="GreaterThanThreshold",
                period=60,
                evaluation_periods=5,
                datapoints_to_alarm=5,
                missing_data="breaching",
                missing_data_why="the metric stops when the target group is gone",
                metric=MetricRef(namespace, "UnHealthyHostCount", lb_tg, "Maximum"),
            )
        )
    if container_insights_enabled(config):
        cluster = {"ClusterName": cluster_name}
        specs.append(
            AlarmSpec(
                key="nodes-not-ready",
                title="a node has stayed NotReady or under pressure",
                runbook="kubectl get nodes; kubectl describe node <name>: EKS node repair "
                "replaces a node that stays NotReady; check the pool's instance health",
                threshold=0,
                comparison="GreaterThanThreshold",
                period=300,
                evaluation_periods=3,
                datapoints_to_alarm=3,
                missing_data="breaching",
                missing_data_why="no data means the agent itself is down",
                metric=MetricRef(
                    "ContainerInsights", "cluster_failed_node_count", cluster, "Maximum"
                ),
            )
        )
        if service is not None:
            pods = {
                "ClusterName": cluster_name,
                "Namespace": service.namespace,
                "PodName": service.name,
            }
            running = {
                "ClusterName": cluster_name,
                "Namespace": service.namespace,
                "Service": service.name,
            }
            specs.append(
                AlarmSpec(
                    key="pods-restarting",
                    title="the model server's containers are restarting",
                    runbook=f"kubectl -n {service.namespace} logs --previous <pod>: a crash "
                    "(exit code in the first log line), an OOM kill (raise memoryRequest) or "
                    "a failing liveness probe",
                    threshold=0,
                    comparison="GreaterThanThreshold",
                    period=300,
                    evaluation_periods=2,
                    datapoints_to_alarm=2,
                    missing_data="notBreaching",
                    missing_data_why="no restarts reported is no restart",
                    metric=MetricRef(
                        "ContainerInsights", "pod_number_of_container_restarts", pods, "Maximum"
                    ),
                )
            )
            specs.append(
                AlarmSpec(
                    key="at-max-replicas",
                    title=f"the service has run at maxReplicas ({service.max_replicas}) for "
                    "15 minutes",
                    runbook="the HPA cannot add pods: raise service.maxReplicas (and the "
                    "pool's maxSize to hold them), or make the model cheaper per request",
                    threshold=service.max_replicas,
                    comparison="GreaterThanOrEqualToThreshold",
                    period=300,
                    evaluation_periods=3,
                    datapoints_to_alarm=3,
                    missing_data="notBreaching",
                    missing_data_why="no pods reported is covered by below-min-replicas",
                    metric=MetricRef(
                        "ContainerInsights", "service_number_of_running_pods", running, "Minimum"
                    ),
                )
            )
            server = {
                "ClusterName": cluster_name,
                "Namespace": service.namespace,
                "Service": service.name,
            }
            specs.append(
                AlarmSpec(
                    key="queue-wait-p99",
                    title=f"p99 batching-queue wait above {slo.queue_wait_p99_ms} ms in the "
                    "model server",
                    runbook="the pods are saturated before the HPA reacts: check in-flight "
                    "requests and CPU on the dashboard; raise minReplicas or server.workers, "
                    "or lower server.maxBatchDelayMs",
                    threshold=slo.queue_wait_p99_ms / 1000,
                    comparison="GreaterThanThreshold",
                    period=60,
                    evaluation_periods=5,
                    datapoints_to_alarm=3,
                    missing_data="notBreaching",
                    missing_data_why="no requests means nothing waits",
                    metric=MetricRef(SERVER_NAMESPACE, "QueueWait", server, "p99"),
                )
            )
            specs.append(
                AlarmSpec(
                    key="overload-rate",
                    title=f"more than {slo.overload_rate_percent:g}% of requests refused as "
                    "overloaded (503) by the model server",
                    runbook="the pods hit server.maxInflight: raise maxReplicas (and the "
                    "pool's maxSize) or lower the HPA's target so it scales out earlier; "
                    "clients retry 503 after Retry-After",
                    threshold=slo.overload_rate_percent,
                    comparison="GreaterThanThreshold",
                    period=60,
                    evaluation_periods=5,
                    datapoints_to_alarm=3,
                    missing_data="notBreaching",
                    missing_data_why="no requests means none refused",
                    expression="IF(requests > 0, 100 * overloaded / requests, 0)",
                    inputs={
                        "overloaded": MetricRef(SERVER_NAMESPACE, "Overloaded", server, "Sum"),
                        "requests": MetricRef(SERVER_NAMESPACE, "Requests", server, "Sum"),
                    },
                )
            )
            specs.append(
                AlarmSpec(
                    key="server-metrics-silent",
                    title="the model server's own metrics have stopped arriving",
                    runbook="the two alarms above cannot fire meanwhile: check the "
                    "CloudWatch agent pods (kubectl -n amazon-cloudwatch get pods), the "
                    "server's SERVING_EMF_* environment and its NetworkPolicy (UDP 25888 to "
                    "the node)",
                    threshold=1,
                    comparison="LessThanThreshold",
                    period=300,
                    evaluation_periods=3,
                    datapoints_to_alarm=3,
                    missing_data="breaching",
                    missing_data_why="every worker sends its totals each minute, traffic or "
                    "not: no data means the pipeline is broken",
                    metric=MetricRef(SERVER_NAMESPACE, "Requests", server, "SampleCount"),
                )
            )
            pool = config.node_pools[service.node_pool]
            pending_hint = (
                "on this GPU pool, no GPU node came up: check the node group's scaling "
                "activity (capacity or vCPU quota) and the autoscaler's logs"
                if pool.is_gpu
                else "check the autoscaler's logs and the node group's scaling activity"
            )
            specs.append(
                AlarmSpec(
                    key="below-min-replicas",
                    title=f"fewer than minReplicas ({service.min_replicas}) pods running for "
                    "15 minutes (pods pending)",
                    runbook=f"kubectl -n {service.namespace} get pods: pending pods wait for "
                    f"a node; {pending_hint}",
                    threshold=service.min_replicas,
                    comparison="LessThanThreshold",
                    period=300,
                    evaluation_periods=3,
                    datapoints_to_alarm=3,
                    missing_data="breaching",
                    missing_data_why="no running pod reports no data",
                    metric=MetricRef(
                        "ContainerInsights", "service_number_of_running_pods", running, "Maximum"
                    ),
                )
            )
    return specs


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
        namespace = _lb_namespace(kind)
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
