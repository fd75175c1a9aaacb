"""The stack's alarms as plain data: what each watches, when it fires, what to do."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from components.core.config import StackConfig
from components.core.observability.addon import container_insights_enabled
from components.core.observability.metrics import SERVER_NAMESPACE, LoadBalancerRefs, MetricRef

__all__ = [
    "AlarmSpec",
    "Comparison",
    "MissingData",
    "alarm_specs",
    "load_balancer_kind",
    "load_balancer_namespace",
]

Comparison = Literal[
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
]
MissingData = Literal["breaching", "notBreaching", "ignore", "missing"]


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


def load_balancer_kind(config: StackConfig) -> Literal["alb", "nlb"] | None:
    """Which load balancer fronts the service, if the stack has one at all."""
    service = config.service
    if service is None or service.exposure == "cluster-ip":
        return None
    if not config.cluster.aws_load_balancer_controller.enabled:
        return None
    return "alb" if service.exposure.startswith("alb-") else "nlb"


def load_balancer_namespace(kind: Literal["alb", "nlb"]) -> str:
    """The CloudWatch namespace of a load balancer's metrics (alarms and dashboard share it)."""
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
        namespace = load_balancer_namespace(kind)
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
        gpu_pools = sorted(name for name, pool in config.node_pools.items() if pool.is_gpu)
        waiting_for = (
            f"most often a GPU pool ({', '.join(gpu_pools)}) that cannot get instances: "
            "aws autoscaling describe-scaling-activities on its node group's Auto Scaling "
            "group (InsufficientInstanceCapacity, or the account's G/P vCPU quota), then "
            "widen the pool's instanceTypes or ask for quota"
            if gpu_pools
            else "check the node group's scaling activity (capacity, vCPU quota) and "
            "cluster-autoscaler's logs"
        )
        specs.append(
            AlarmSpec(
                key="pods-pending",
                title="pods have waited for a node for 15 minutes",
                runbook="kubectl get pods -A --field-selector=status.phase=Pending and "
                f"kubectl describe pod <name> (the scheduler's reason); {waiting_for}",
                threshold=0,
                comparison="GreaterThanThreshold",
                period=300,
                evaluation_periods=3,
                datapoints_to_alarm=3,
                missing_data="notBreaching",
                missing_data_why="no pending pods reported is none pending; a silent agent "
                "fires nodes-not-ready",
                metric=MetricRef("ContainerInsights", "pod_status_pending", cluster, "Maximum"),
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
