"""The diagram is derived from the recorded resources, with a box per part and their links."""

from __future__ import annotations

import shutil
from pathlib import Path

import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s
import pytest

from components.offline.diagram import build_diagram, render, to_dot, to_mermaid
from components.testing import Registration, StackRun, run_program, run_stack
from tests.conftest import ROOT, raw_stack_config


def _full_stack() -> None:
    vpc = aws.ec2.Vpc("net-vpc", cidr_block="10.9.0.0/16")
    for az in ("us-west-2a", "us-west-2b"):
        aws.ec2.Subnet(f"net-{az}", vpc_id=vpc.id, cidr_block="10.9.0.0/24", availability_zone=az)
    aws.ec2.NatGateway("net-nat", subnet_id="subnet-1", allocation_id="eipalloc-1")
    eks.Cluster(
        "cluster", version="1.35", endpoint_public_access=False, skip_default_node_group=True
    )
    for pool in ("cpu", "gpu"):
        aws.eks.NodeGroup(
            f"{pool}-group",
            cluster_name="c",
            node_role_arn="arn",
            subnet_ids=["s"],
            instance_types=["c7i.large"],
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=1, max_size=3, desired_size=1
            ),
            labels={"mlops.dev/pool": pool},
        )
    aws.s3.Bucket("models")
    aws.ecr.Repository("images")
    k8s.apps.v1.Deployment(
        "iris",
        metadata={"name": "iris", "namespace": "models"},
        spec={
            "selector": {"match_labels": {"app": "iris"}},
            "template": {
                "metadata": {"labels": {"app": "iris"}},
                "spec": {
                    "node_selector": {"mlops.dev/pool": "cpu"},
                    "containers": [{"name": "s", "image": "x:1"}],
                },
            },
        },
    )
    k8s.networking.v1.Ingress(
        "iris",
        metadata={"annotations": {"alb.ingress.kubernetes.io/scheme": "internal"}},
        spec={},
    )


@pytest.fixture(scope="module")
def full_run() -> StackRun:
    return run_program(_full_stack)


def test_a_box_per_part_and_links_between_them(full_run: StackRun) -> None:
    diagram = build_diagram(full_run.resources)
    titles = [b.title for b in diagram.boxes]
    assert titles == [
        "Network (VPC)",
        "Internet",
        "EKS cluster",
        "Node pool cpu",
        "Node pool gpu",
        "Model store",
        "Model service iris",
        "Load balancer",
    ]
    links = {(a, b) for a, b, _ in diagram.links}
    assert ("network", "cluster") in links
    assert ("cluster", "pool0") in links and ("cluster", "pool1") in links
    # The service runs on the pool its node selector names, not on every pool.
    assert ("service", "pool0") in links and ("service", "pool1") not in links
    assert ("service", "store") in links and ("lb", "service") in links
    network = diagram.boxes[0]
    assert "10.9.0.0/16" in network.lines and "AZs: us-west-2a, us-west-2b" in network.lines


def test_only_what_exists_is_drawn() -> None:
    run = run_program(lambda: aws.ec2.Vpc("v", cidr_block="10.0.0.0/16"))
    diagram = build_diagram(run.resources)
    assert [b.id for b in diagram.boxes] == ["network"]
    assert diagram.links == ()


def test_dot_and_mermaid_are_stable_text(full_run: StackRun) -> None:
    diagram = build_diagram(full_run.resources)
    reversed_diagram = build_diagram(list(reversed(full_run.resources)))
    dot = to_dot(diagram, "t")
    assert dot == to_dot(reversed_diagram, "t")
    assert dot.startswith("digraph stack {") and "cluster -> pool0" in dot
    mermaid = to_mermaid(diagram, "t")
    assert "flowchart LR" in mermaid and "cluster -->|managed node group| pool0" in mermaid


def test_without_graphviz_the_diagram_is_mermaid(
    full_run: StackRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    written = render(build_diagram(full_run.resources), "t", tmp_path)
    assert [p.name for p in written] == ["stack.dot", "stack.mmd"]
    assert not (tmp_path / "stack.svg").exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz is not installed")
def test_with_graphviz_the_diagram_is_rendered_to_svg_and_png(
    full_run: StackRun, tmp_path: Path
) -> None:
    written = render(build_diagram(full_run.resources), "t", tmp_path)
    assert [p.name for p in written] == ["stack.dot", "stack.svg", "stack.png"]
    assert "<svg" in (tmp_path / "stack.svg").read_text()
    assert (tmp_path / "stack.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "stack.mmd").exists()


def test_an_internet_facing_alb_has_its_internet_edge_and_the_cluster_services() -> None:
    def program() -> None:
        _full_stack()
        k8s.networking.v1.Ingress(
            "public",
            metadata={"annotations": {"alb.ingress.kubernetes.io/scheme": "internet-facing"}},
            spec={},
        )
        for chart in ("aws-load-balancer-controller", "cluster-autoscaler", "unrelated"):
            k8s.helm.v3.Release(chart, chart=chart, version="1.0.0")

    diagram = build_diagram(run_program(program).resources)
    services = next(b for b in diagram.boxes if b.id == "services")
    assert services.lines == ("AWS Load Balancer Controller", "cluster-autoscaler")
    links = {(a, b) for a, b, _ in diagram.links}
    assert {("internet", "lb"), ("cluster", "services"), ("services", "lb")} <= links


def test_an_internal_load_balancer_has_no_internet_edge(full_run: StackRun) -> None:
    links = {(a, b) for a, b, _ in build_diagram(full_run.resources).links}
    assert ("internet", "lb") not in links and ("lb", "service") in links


def test_the_observability_pieces_are_drawn_with_alarms_to_topic_to_email() -> None:
    """The prod stack, with an on-call address: agent add-on (GPU metrics, EMF listener),
    its log groups, alarms -> SNS topic -> email, the dashboard and the budget."""
    platform = raw_stack_config("prod")
    platform["observability"]["alarmEmails"] = ["oncall@example.com"]
    run = run_stack("prod", project_dir=ROOT, config={"platform": platform})
    diagram = build_diagram(run.resources)
    boxes = {b.id: b for b in diagram.boxes}
    assert {"agent", "logs", "alarms", "topic", "email", "dashboard", "budget"} <= set(boxes)
    assert "GPU metrics (DCGM exporter)" in boxes["agent"].lines
    assert "EMF listener UDP 25888 (server metrics)" in boxes["agent"].lines
    assert boxes["logs"].lines[1] == "retention 30 days, KMS-encrypted"
    assert "server-metrics" in boxes["logs"].lines[0]
    assert boxes["alarms"].title == f"CloudWatch alarms ({len(alarms_of(run))})"
    assert "queue-wait-p99" in " ".join(boxes["alarms"].lines)
    assert boxes["email"].lines == ("oncall@example.com",)
    assert boxes["topic"].lines[0] == "KMS-encrypted"
    assert "alerts at 80%, 100% (actual, forecast)" in boxes["budget"].lines
    links = {(a, b) for a, b, _ in diagram.links}
    assert {
        ("alarms", "topic"),
        ("topic", "email"),
        ("budget", "topic"),
        ("cluster", "agent"),
        ("service", "agent"),
        ("agent", "logs"),
    } <= links
    assert "alarms -->|ALARM / OK| topic" in to_mermaid(diagram, "prod")


def test_dev_draws_alarms_and_dashboard_but_no_agent() -> None:
    """Dev leaves Container Insights off: no agent box nor log groups; no address: no email."""
    diagram = build_diagram(run_stack("dev", project_dir=ROOT).resources)
    ids = {b.id for b in diagram.boxes}
    assert {"alarms", "topic", "dashboard", "budget"} <= ids
    assert not ids & {"agent", "logs", "email"}
    topic = next(b for b in diagram.boxes if b.id == "topic")
    assert "no email yet (observability.alarmEmails)" in topic.lines


def alarms_of(run: StackRun) -> list[Registration]:
    return run.by_type("aws:cloudwatch/metricAlarm:MetricAlarm")
