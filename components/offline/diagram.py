"""The stack diagram, derived from the recorded resources: Graphviz DOT or Mermaid text.

Boxes are drawn only for what the plan contains (network, cluster, the cluster services
it runs from Helm charts, each node pool, the model store, the service and its load
balancer), labelled with what a reviewer checks first (CIDR and AZs, Kubernetes version,
instance types and sizes, exposure), and linked by what connects them: an
internet-facing load balancer is drawn with its edge from the Internet. With the
`Observability` component, its pieces too: the CloudWatch agent add-on, its log groups,
the alarms to the SNS topic to email, the dashboard and the budget. Output is sorted and
free of ids, so it is stable.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["MERMAID_HINT", "Box", "Diagram", "build_diagram", "render", "to_dot", "to_mermaid"]

#: What the preview says when it could only write Mermaid text.
MERMAID_HINT = (
    "Diagram: Graphviz's `dot` is not installed, so stack.mmd (Mermaid) was written instead "
    "of stack.svg and stack.png. For the pictures, install Graphviz (apt-get install "
    "graphviz, brew install graphviz) and run the preview again, or paste stack.mmd into "
    "https://mermaid.live (GitHub also renders it in a ```mermaid block)."
)

# Helm charts the platform installs as cluster services, and how the diagram names them.
_CLUSTER_SERVICES = {
    "aws-load-balancer-controller": "AWS Load Balancer Controller",
    "cluster-autoscaler": "cluster-autoscaler",
    "nvidia-device-plugin": "NVIDIA device plugin",
}


@dataclass(frozen=True)
class Box:
    id: str
    title: str
    lines: tuple[str, ...]
    group: str
    """network | cluster | pool | store | service | observability | edge (outside the VPC)."""


@dataclass(frozen=True)
class Diagram:
    boxes: tuple[Box, ...]
    links: tuple[tuple[str, str, str], ...]
    """(from id, to id, label)."""


def _of(resources: Sequence[Any], type_: str) -> list[Any]:
    return sorted((r for r in resources if r.type == type_), key=lambda r: r.name)


def _get(mapping: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(part)
    return mapping


def _plural(items: Sequence[Any]) -> str:
    return "" if len(items) == 1 else "s"


def build_diagram(resources: Sequence[Any]) -> Diagram:
    """Boxes and links for the parts present in `resources` (Registration-like objects)."""
    boxes: list[Box] = []
    links: list[tuple[str, str, str]] = []

    vpcs = _of(resources, "aws:ec2/vpc:Vpc")
    if vpcs:
        subnets = _of(resources, "aws:ec2/subnet:Subnet")
        azs = sorted({str(s.inputs.get("availabilityZone")) for s in subnets})
        nats = _of(resources, "aws:ec2/natGateway:NatGateway")
        endpoints = _of(resources, "aws:ec2/vpcEndpoint:VpcEndpoint")
        interface = [e for e in endpoints if e.inputs.get("vpcEndpointType") == "Interface"]
        boxes.append(
            Box(
                "network",
                "Network (VPC)",
                (
                    f"{vpcs[0].inputs.get('cidrBlock')}",
                    f"AZs: {', '.join(azs)}",
                    f"{len(subnets)} subnets, {len(nats)} NAT gateway{_plural(nats)}",
                    f"endpoints: S3 gateway + {len(interface)} interface",
                ),
                "network",
            )
        )
        if nats:
            boxes.append(Box("internet", "Internet", (), "edge"))
            links.append(("network", "internet", "egress via NAT"))

    clusters = _of(resources, "eks:index:Cluster") or _of(resources, "aws:eks/cluster:Cluster")
    if clusters:
        cluster = clusters[0]
        public = cluster.inputs.get("endpointPublicAccess")
        addons = _of(resources, "aws:eks/addon:Addon")
        boxes.append(
            Box(
                "cluster",
                "EKS cluster",
                (
                    f"Kubernetes {cluster.inputs.get('version', '?')}",
                    f"endpoint: {'public + private' if public else 'private'}",
                    f"{len(addons)} managed add-ons",
                ),
                "cluster",
            )
        )
        if vpcs:
            links.append(("network", "cluster", "private subnets"))
        releases = _of(resources, "kubernetes:helm.sh/v3:Release")
        charts = {str(r.inputs.get("chart")) for r in releases}
        services = [label for chart, label in _CLUSTER_SERVICES.items() if chart in charts]
        if services:
            boxes.append(Box("services", "Cluster services", tuple(services), "cluster"))
            links.append(("cluster", "services", "Helm releases"))

    for index, group in enumerate(_of(resources, "aws:eks/nodeGroup:NodeGroup")):
        scaling = group.inputs.get("scalingConfig") or {}
        types = group.inputs.get("instanceTypes") or []
        box_id = f"pool{index}"
        labels = group.inputs.get("labels") or {}
        name = labels.get("mlops.dev/pool") or group.name
        boxes.append(
            Box(
                box_id,
                f"Node pool {name}",
                (
                    ", ".join(str(t) for t in types),
                    f"{group.inputs.get('capacityType', 'ON_DEMAND')}, "
                    f"{scaling.get('minSize', '?')}-{scaling.get('maxSize', '?')} nodes",
                ),
                "pool",
            )
        )
        if clusters:
            links.append(("cluster", box_id, "managed node group"))

    store_lines: list[str] = []
    if _of(resources, "aws:s3/bucket:Bucket") or _of(resources, "aws:s3/bucketV2:BucketV2"):
        store_lines.append("S3 bucket: model artifacts")
    if _of(resources, "aws:ecr/repository:Repository"):
        store_lines.append("ECR repository: server image")
    if store_lines:
        boxes.append(Box("store", "Model store", tuple(store_lines), "store"))

    deployments = _of(resources, "kubernetes:apps/v1:Deployment")
    if deployments:
        deployment = deployments[0]
        name = _get(deployment.inputs, "metadata", "name") or deployment.name
        namespace = _get(deployment.inputs, "metadata", "namespace") or "default"
        hpas = _of(resources, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
        replicas = ""
        if hpas:
            spec = hpas[0].inputs.get("spec") or {}
            replicas = f"HPA {spec.get('minReplicas', '?')}-{spec.get('maxReplicas', '?')} pods"
        boxes.append(
            Box(
                "service",
                f"Model service {name}",
                tuple(x for x in (f"namespace {namespace}", replicas) if x),
                "service",
            )
        )
        selector = _get(deployment.inputs, "spec", "template", "spec", "nodeSelector") or {}
        target = selector.get("mlops.dev/pool")
        for box in boxes:
            if box.group == "pool" and (target is None or box.title == f"Node pool {target}"):
                links.append(("service", box.id, "runs on"))
        if store_lines:
            links.append(("service", "store", "model + image"))
        ingresses = _of(resources, "kubernetes:networking.k8s.io/v1:Ingress")
        lb_services = [
            s
            for s in _of(resources, "kubernetes:core/v1:Service")
            if _get(s.inputs, "spec", "type") == "LoadBalancer"
        ]
        if ingresses or lb_services:
            schemes = [
                _get(i.inputs, "metadata", "annotations", "alb.ingress.kubernetes.io/scheme")
                for i in ingresses
            ]
            # One internet-facing ALB is enough for the Internet edge.
            scheme = (
                ("internet-facing" if "internet-facing" in schemes else schemes[0])
                if ingresses
                else "internal NLB"
            )
            boxes.append(
                Box(
                    "lb",
                    "Load balancer",
                    (f"ALB {scheme}" if ingresses else str(scheme),),
                    "edge",
                )
            )
            links.append(("lb", "service", "HTTP"))
            if scheme == "internet-facing":
                if not any(box.id == "internet" for box in boxes):
                    boxes.append(Box("internet", "Internet", (), "edge"))
                links.append(("internet", "lb", "clients"))
            controller = _CLUSTER_SERVICES["aws-load-balancer-controller"]
            if any(box.id == "services" and controller in box.lines for box in boxes):
                links.append(("services", "lb", "creates"))
    _observability(resources, boxes, links)
    return Diagram(boxes=tuple(boxes), links=tuple(links))


_AGENT_ADDON = "amazon-cloudwatch-observability"


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _observability(
    resources: Sequence[Any], boxes: list[Box], links: list[tuple[str, str, str]]
) -> None:
    """The agent add-on, its log groups, alarms -> topic -> email, dashboard and budget."""
    ids = {box.id for box in boxes}
    agents = [
        a
        for a in _of(resources, "aws:eks/addon:Addon")
        if a.inputs.get("addonName") == _AGENT_ADDON
    ]
    if agents:
        agent = agents[0]
        collected = (
            _get(_json(agent.inputs.get("configurationValues")), "agent", "config", "logs") or {}
        ).get("metrics_collected") or {}
        lines = [f"{_AGENT_ADDON} {agent.inputs.get('addonVersion', '?')}"]
        lines.append("Container Insights (enhanced) + pods' logs")
        if _get(collected, "kubernetes", "accelerated_compute_metrics"):
            lines.append("GPU metrics (DCGM exporter)")
        if "emf" in collected:
            lines.append("EMF listener UDP 25888 (server metrics)")
        boxes.append(Box("agent", "CloudWatch agent (EKS add-on)", tuple(lines), "observability"))
        if "cluster" in ids:
            links.append(("cluster", "agent", "on every node"))
        if "service" in ids and "emf" in collected:
            links.append(("service", "agent", "EMF metrics"))
    groups = [
        g
        for g in _of(resources, "aws:cloudwatch/logGroup:LogGroup")
        if "/aws/containerinsights/" in str(g.inputs.get("name", ""))
    ]
    if groups:
        retention = sorted({str(g.inputs.get("retentionInDays", "?")) for g in groups})
        encrypted = all(g.inputs.get("kmsKeyId") for g in groups)
        kinds = sorted(str(g.inputs.get("name", "")).rsplit("/", 1)[-1] for g in groups)
        boxes.append(
            Box(
                "logs",
                "CloudWatch Logs",
                (
                    f"{len(groups)} log group{_plural(groups)}: {', '.join(kinds)}",
                    f"retention {'/'.join(retention)} days"
                    + (", KMS-encrypted" if encrypted else ""),
                ),
                "observability",
            )
        )
        if agents:
            links.append(("agent", "logs", "logs, metric documents"))
    alarms = _of(resources, "aws:cloudwatch/metricAlarm:MetricAlarm")
    topics = _of(resources, "aws:sns/topic:Topic")
    if alarms:
        keys = [a.name.split("-", 1)[-1] for a in alarms]
        rows = [", ".join(keys[i : i + 3]) for i in range(0, len(keys), 3)]
        boxes.append(
            Box("alarms", f"CloudWatch alarms ({len(alarms)})", tuple(rows), "observability")
        )
        if topics:
            links.append(("alarms", "topic", "ALARM / OK"))
    if topics:
        subscriptions = [
            s
            for s in _of(resources, "aws:sns/topicSubscription:TopicSubscription")
            if s.inputs.get("protocol") == "email"
        ]
        encrypted = bool(topics[0].inputs.get("kmsMasterKeyId"))
        boxes.append(
            Box(
                "topic",
                "SNS alarm topic",
                (
                    "KMS-encrypted" if encrypted else "not encrypted",
                    f"{len(subscriptions)} email subscription{_plural(subscriptions)}"
                    if subscriptions
                    else "no email yet (observability.alarmEmails)",
                ),
                "observability",
            )
        )
        if subscriptions:
            boxes.append(
                Box(
                    "email",
                    "On-call email",
                    tuple(sorted(str(s.inputs.get("endpoint")) for s in subscriptions)),
                    "edge",
                )
            )
            links.append(("topic", "email", "notifies"))
    dashboards = _of(resources, "aws:cloudwatch/dashboard:Dashboard")
    if dashboards:
        widgets = _get(_json(dashboards[0].inputs.get("dashboardBody")), "widgets") or []
        boxes.append(
            Box(
                "dashboard",
                "CloudWatch dashboard",
                (str(dashboards[0].inputs.get("dashboardName", "?")), f"{len(widgets)} widgets"),
                "observability",
            )
        )
        if alarms:
            links.append(("dashboard", "alarms", "same metrics"))
    budgets = _of(resources, "aws:budgets/budget:Budget")
    if budgets:
        budget = budgets[0]
        limit = f"${budget.inputs.get('limitAmount', '?')}/{budget.inputs.get('timeUnit', '?')}"
        notifications = budget.inputs.get("notifications") or []
        percents = sorted({float(n.get("threshold", 0)) for n in notifications})
        thresholds = [f"{p:g}%" for p in percents]
        boxes.append(
            Box(
                "budget",
                "AWS Budget",
                (
                    limit,
                    f"alerts at {', '.join(thresholds)} (actual, forecast)",
                ),
                "observability",
            )
        )
        if topics:
            links.append(("budget", "topic", "notifications"))


_STYLE = {
    "network": "#e8f1fb",
    "cluster": "#fdf1e1",
    "pool": "#fff8dc",
    "store": "#eaf7ea",
    "service": "#f3e8fb",
    "observability": "#fde8ec",
    "edge": "#eeeeee",
}


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(diagram: Diagram, title: str) -> str:
    lines = [
        "digraph stack {",
        f'  label="{_escape(title)}"; labelloc=t; fontname="Helvetica";',
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    for box in diagram.boxes:
        label = "\\n".join(_escape(x) for x in (box.title, *box.lines))
        lines.append(f'  {box.id} [label="{label}", fillcolor="{_STYLE[box.group]}"];')
    for src, dst, label in diagram.links:
        lines.append(f'  {src} -> {dst} [label="{_escape(label)}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(diagram: Diagram, title: str) -> str:
    lines = ["---", f"title: {title}", "---", "flowchart LR"]
    for box in diagram.boxes:
        label = "<br/>".join(x.replace('"', "'") for x in (box.title, *box.lines))
        lines.append(f'  {box.id}["{label}"]')
    for src, dst, label in diagram.links:
        lines.append(f"  {src} -->|{label}| {dst}")
    return "\n".join(lines) + "\n"


def render(diagram: Diagram, title: str, directory: Path, *, dot: str | None = None) -> list[Path]:
    """Write `stack.dot` and, with Graphviz, `stack.svg` and `stack.png`; else `stack.mmd`.

    `dot` is the Graphviz binary (default: `dot` on PATH).
    """
    directory.mkdir(parents=True, exist_ok=True)
    for stale in ("stack.svg", "stack.png", "stack.mmd"):
        (directory / stale).unlink(missing_ok=True)
    source = directory / "stack.dot"
    source.write_text(to_dot(diagram, title))
    written = [source]
    binary = dot or shutil.which("dot")
    if binary:
        for fmt in ("svg", "png"):
            target = directory / f"stack.{fmt}"
            subprocess.run(
                [binary, f"-T{fmt}", "-o", str(target), str(source)],
                check=True,
                capture_output=True,
                timeout=60,
            )
            written.append(target)
    else:
        mermaid = directory / "stack.mmd"
        mermaid.write_text(to_mermaid(diagram, title))
        written.append(mermaid)
    return written
