"""The alarms, dashboard and budget as plain data, checked against AWS's metric lists."""

from __future__ import annotations

import re
from typing import Any

import pytest

from components.core.config import StackConfig, parse_stack_config
from components.core.observability import (
    SERVER_DIMENSIONS,
    SERVER_NAMESPACE,
    LoadBalancerRefs,
    addon_configuration,
    addon_facts,
    alarm_specs,
    budget_limit,
    container_insights_enabled,
    dashboard_body,
    documented_metrics,
    emf_dimensions,
    gpu_metrics_gaps,
    load_balancer_kind,
    untolerated_taints,
)
from tests.conftest import raw_stack_config

REFS = LoadBalancerRefs("app/k8s-models-iris-0123/0123456789abcdef", "targetgroup/k8s-x/0123")
DOCUMENTED = documented_metrics()


def config(stack: str, **service: Any) -> StackConfig:
    raw = raw_stack_config(stack)
    if service:
        raw["service"].update(service)
        if service.get("exposure") != "alb-internet-facing":
            raw["service"].pop("allowedSourceCidrs", None)
    return parse_stack_config(raw)


def insights_on(stack: str) -> StackConfig:
    raw = raw_stack_config(stack)
    raw["observability"]["containerInsights"]["enabled"] = True
    return parse_stack_config(raw)


def _documented(namespace: str, name: str, dimensions: set[str]) -> bool:
    sets = DOCUMENTED.get(namespace, {}).get(name)
    return sets is not None and any(set(s) == dimensions for s in sets)


def variant(stack: str, exposure: str) -> StackConfig:
    """The stack with Container Insights on and the given exposure."""
    raw = raw_stack_config(stack)
    raw["observability"]["containerInsights"]["enabled"] = True
    raw["service"]["exposure"] = exposure
    if exposure != "alb-internet-facing":
        raw["service"].pop("allowedSourceCidrs", None)
    return parse_stack_config(raw)


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize("exposure", ["alb-internal", "nlb-internal"])
def test_every_alarm_watches_a_documented_metric_with_documented_dimensions(
    stack: str, exposure: str
) -> None:
    specs = alarm_specs(variant(stack, exposure), cluster_name="ml", refs=REFS)
    assert len(specs) >= 5
    for spec in specs:
        for ref in spec.metrics():
            assert _documented(ref.namespace, ref.name, set(ref.dimensions)), (spec.key, ref)


def test_an_nlb_exposure_uses_the_nlb_metrics_only() -> None:
    cfg = config("prod", exposure="nlb-internal")
    assert load_balancer_kind(cfg) == "nlb"
    specs = alarm_specs(cfg, cluster_name="ml-prod", refs=REFS)
    namespaces = {ref.namespace for spec in specs for ref in spec.metrics()}
    assert "AWS/NetworkELB" in namespaces
    assert "AWS/ApplicationELB" not in namespaces
    # An NLB has no HTTP status or response time: no 5xx or latency alarm pretends to.
    assert {s.key for s in specs}.isdisjoint({"target-5xx-rate", "p99-latency"})


def test_a_gpu_pool_that_gets_no_node_is_watched_even_when_no_service_runs_on_it() -> None:
    """Prod's `gpu` pool scales from zero and the service runs on `cpu`: pending pods are
    the only signal that the pool gets no instance. `pod_status_pending` at `ClusterName`
    is what the agent publishes (aws/amazon-cloudwatch-agent-test,
    test/metric_value_benchmark/eks_daemonset_test.go, expectedDimsToMetrics)."""
    cfg = config("prod")
    assert cfg.service is not None and not cfg.node_pools[cfg.service.node_pool].is_gpu
    pending = {s.key: s for s in alarm_specs(cfg, cluster_name="ml-prod", refs=REFS)}[
        "pods-pending"
    ]
    assert pending.metric is not None
    assert (pending.metric.name, dict(pending.metric.dimensions)) == (
        "pod_status_pending",
        {"ClusterName": "ml-prod"},
    )
    assert "GPU pool (gpu)" in pending.runbook
    assert pending.evaluation_periods * pending.period >= 900


def test_prod_alarms_cover_the_on_call_list_with_slo_thresholds() -> None:
    cfg = config("prod")
    specs = {s.key: s for s in alarm_specs(cfg, cluster_name="ml-prod", refs=REFS)}
    assert set(specs) == {
        "target-5xx-rate",
        "p99-latency",
        "unhealthy-targets",
        "nodes-not-ready",
        "pods-restarting",
        "at-max-replicas",
        "below-min-replicas",
        "queue-wait-p99",
        "overload-rate",
        "server-metrics-silent",
        "pods-pending",
    }
    slo = cfg.observability.slo
    assert specs["p99-latency"].threshold == slo.p99_latency_ms / 1000
    assert specs["p99-latency"].metric is not None
    assert specs["p99-latency"].metric.stat == "p99"
    assert specs["target-5xx-rate"].threshold == slo.error_rate_percent
    assert cfg.service is not None
    assert specs["at-max-replicas"].threshold == cfg.service.max_replicas
    # Missing data is decided per alarm, and each decision says why.
    assert specs["target-5xx-rate"].missing_data == "notBreaching"
    assert specs["unhealthy-targets"].missing_data == "breaching"
    assert specs["nodes-not-ready"].missing_data == "breaching"
    assert all(s.missing_data_why for s in specs.values())


def test_each_alarm_names_the_stack_the_service_and_its_runbook_line() -> None:
    for spec in alarm_specs(config("prod"), cluster_name="ml-prod", refs=REFS):
        text = spec.description("prod", "iris")
        assert "stack prod" in text and "service iris" in text
        assert f"When it breaks' -> {spec.key}" in text
        assert spec.runbook in text
        assert len(text) <= 1024  # CloudWatch's AlarmDescription limit


def test_no_load_balancer_no_load_balancer_alarms_and_no_insights_no_pod_alarms() -> None:
    cfg = config("dev", exposure="cluster-ip")
    assert not container_insights_enabled(cfg)
    assert alarm_specs(cfg, cluster_name="ml-dev", refs=REFS) == []


def test_container_insights_is_on_by_default_in_prod_only() -> None:
    prod = raw_stack_config("prod")
    prod["observability"]["containerInsights"].pop("enabled", None)
    assert container_insights_enabled(parse_stack_config(prod))
    dev = raw_stack_config("dev")
    dev["observability"]["containerInsights"].pop("enabled")
    assert not container_insights_enabled(parse_stack_config(dev))


def test_prod_without_a_pinned_insights_version_is_refused() -> None:
    from components.core.config import ConfigError

    prod = raw_stack_config("prod")
    del prod["observability"]["containerInsights"]
    with pytest.raises(ConfigError, match=r"observability\.containerInsights"):
        parse_stack_config(prod)


def test_the_dashboard_is_valid_for_cloudwatch_and_uses_documented_metrics() -> None:
    """CloudWatch dashboard body structure: `widgets`, each with type, x, y, width,
    height and properties; a metric widget's `metrics` rows are [namespace, name,
    (dimension name, value)*, {rendering options}] (CloudWatch API reference,
    "Dashboard Body Structure and Syntax")."""
    cfg = config("prod")
    body = dashboard_body(cfg, region="us-west-2", cluster_name="ml-prod", refs=REFS)
    widgets = body["widgets"]
    assert len(widgets) >= 8
    titles = [w["properties"]["title"] for w in widgets]
    for wanted in ("Traffic", "Errors", "Latency", "Replicas vs HPA bounds", "Nodes", "Node use"):
        assert any(t.startswith(wanted) for t in titles), wanted
    assert any("capacity units" in t for t in titles)
    for widget in widgets:
        assert widget["type"] == "metric"
        assert {"x", "y", "width", "height"} <= set(widget)
        assert 0 <= widget["x"] <= 23 and widget["x"] + widget["width"] <= 24
        properties = widget["properties"]
        assert properties["region"] == "us-west-2"
        for row in properties["metrics"]:
            if len(row) == 1 and "expression" in row[0]:
                # A SEARCH row: its schema {namespace,dims...} and MetricName are documented.
                found = re.fullmatch(
                    r"SEARCH\('\{([^,}]+),([^}]+)\} MetricName=\"(\w+)\".*', 'Sum', 60\)",
                    row[0]["expression"],
                )
                assert found, row
                namespace, dims, name = found.groups()
                assert _documented(namespace, name, set(dims.split(","))), row
                continue
            namespace, name, *rest = row
            options = rest.pop()
            assert isinstance(options, dict) and "stat" in options
            assert len(rest) % 2 == 0
            dimensions = dict(zip(rest[::2], rest[1::2], strict=True))
            assert _documented(namespace, name, set(dimensions)), row
    replicas = next(w for w in widgets if w["properties"]["title"] == "Replicas vs HPA bounds")
    bounds = {a["label"]: a["value"] for a in replicas["properties"]["annotations"]["horizontal"]}
    assert cfg.service is not None
    assert bounds == {
        "minReplicas": cfg.service.min_replicas,
        "maxReplicas": cfg.service.max_replicas,
    }


def test_gpu_use_is_on_the_dashboard_only_where_a_pool_has_gpus() -> None:
    prod = dashboard_body(config("prod"), region="us-west-2", cluster_name="c", refs=REFS)
    dev = dashboard_body(insights_on("dev"), region="us-west-2", cluster_name="c", refs=REFS)

    def gpu(body: dict[str, Any]) -> bool:
        return any(
            len(row) > 1 and row[1] == "node_gpu_utilization"
            for w in body["widgets"]
            for row in w["properties"]["metrics"]
        )

    assert gpu(prod) and not gpu(dev)


def test_the_budget_is_the_estimate_plus_the_margin_in_whole_dollars() -> None:
    assert budget_limit(1000.0, 20) == 1200.0
    assert budget_limit(1000.01, 0) == 1001.0
    with pytest.raises(ValueError, match="positive"):
        budget_limit(0.0, 20)


def test_the_server_metrics_alarmed_and_graphed_are_the_ones_the_server_sends() -> None:
    """The names, dimensions and units in `serving/emf.py` and the documented list agree,
    and the server-metric alarms read them with the SLO's thresholds, 3 of 5 one-minute
    datapoints ("M out of N", as the CloudWatch user guide's "Setting alarms on metrics
    created with the embedded metric format" advises where documents arrive once a
    minute)."""
    from serving import emf

    documented = DOCUMENTED[SERVER_NAMESPACE]
    assert set(documented) == set(emf.METRICS)
    assert emf.NAMESPACE == SERVER_NAMESPACE and emf.DIMENSIONS == SERVER_DIMENSIONS
    for sets in documented.values():
        assert list(SERVER_DIMENSIONS) in sets
    assert [*SERVER_DIMENSIONS, "Protocol", "Status"] in documented["Requests"]
    cfg = config("prod")
    assert cfg.service is not None
    specs = {s.key: s for s in alarm_specs(cfg, cluster_name="ml-prod", refs=REFS)}
    wait = specs["queue-wait-p99"]
    assert wait.metric is not None and wait.metric.stat == "p99"
    assert (wait.metric.namespace, wait.metric.name) == (SERVER_NAMESPACE, "QueueWait")
    assert wait.threshold == cfg.observability.slo.queue_wait_p99_ms / 1000
    assert dict(wait.metric.dimensions) == emf_dimensions(cfg, "ml-prod")
    overload = specs["overload-rate"]
    assert {ref.name for ref in overload.metrics()} == {"Overloaded", "Requests"}
    assert overload.threshold == cfg.observability.slo.overload_rate_percent
    assert overload.missing_data == "notBreaching"
    for spec in (wait, overload):
        assert (spec.period, spec.evaluation_periods, spec.datapoints_to_alarm) == (60, 5, 3)
    # Without Container Insights the agent has no EMF listener: no server-metric alarm.
    dev = alarm_specs(config("dev"), cluster_name="ml-dev", refs=REFS)
    assert not {s.key for s in dev} & {"queue-wait-p99", "overload-rate", "server-metrics-silent"}
    # Every worker sends its totals each minute, traffic or not: silence is the pipeline.
    silent = specs["server-metrics-silent"]
    assert silent.metric is not None
    assert (silent.metric.name, silent.metric.stat) == ("Requests", "SampleCount")
    assert silent.missing_data == "breaching" and silent.comparison == "LessThanThreshold"


def test_the_addon_configuration_adds_the_emf_listener_and_gpu_metrics_where_needed() -> None:
    """`agent.config` replaces the agent's default config (helm-charts Release 6.2.0,
    templates/linux/cloudwatch-agent-custom-resource.yaml: `config:` is `$agent.config` when
    set), and the operator opens TCP/UDP 25888 only when `logs.metrics_collected.emf` is in
    it (amazon-cloudwatch-agent-operator internal/manifests/collector/ports.go). The EKS
    add-on accepts `agent.config` with `emf` and `kubernetes` in `metrics_collected`
    (https://github.com/aws-observability/helm-charts/issues/173: deployed as
    configurationValues on the add-on; the error that issue reports came with adding a
    Prometheus configuration)."""
    prod = addon_configuration(config("prod"))
    collected = prod["agent"]["config"]["logs"]["metrics_collected"]
    assert collected["emf"] == {}
    assert collected["kubernetes"] == {
        "enhanced_container_insights": True,
        "accelerated_compute_metrics": True,  # prod has a GPU pool
    }
    # Only keys of the add-on's documented schema: agent.config, nothing that would make
    # EKS refuse the add-on (UnsupportedAddonModification).
    assert set(prod) == {"agent"} and set(prod["agent"]) == {"config"}
    dev = addon_configuration(insights_on("dev"))
    assert (
        dev["agent"]["config"]["logs"]["metrics_collected"]["kubernetes"][
            "accelerated_compute_metrics"
        ]
        is False
    )
    raw = raw_stack_config("dev")
    raw["observability"]["containerInsights"]["enabled"] = True
    raw.pop("service")
    no_service = addon_configuration(parse_stack_config(raw))
    assert "emf" not in no_service["agent"]["config"]["logs"]["metrics_collected"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_addon_pods_tolerate_our_pools_and_gpu_metrics_cover_our_gpu_types(
    stack: str,
) -> None:
    """The add-on's pods tolerate every taint by default (helm-charts values.yaml root
    `tolerations: [{operator: Exists}]`, helm-charts PR 41, containers-roadmap 2195), so the
    agent and Fluent Bit run on our tainted GPU nodes; its DCGM exporter is placed by an
    instance-type list, which must hold every GPU type our pools use."""
    cfg = config(stack)
    assert untolerated_taints(cfg) == []
    assert gpu_metrics_gaps(cfg) == []


def test_a_taint_the_addon_does_not_tolerate_or_an_unlisted_gpu_type_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from components.core.observability import addon as core_observability

    cfg = config("prod")
    gpu_pool = next(name for name, pool in cfg.node_pools.items() if pool.is_gpu)
    facts = addon_facts()
    assert {"operator": "Exists"} in facts["defaultTolerations"]
    pool = cfg.node_pools[gpu_pool]
    narrowed = {
        **facts,
        "defaultTolerations": [{"key": "other", "operator": "Exists"}],
        "dcgmExporterInstanceTypes": [pool.instance_types[0]],
    }
    monkeypatch.setattr(core_observability, "addon_facts", lambda: narrowed)
    assert untolerated_taints(cfg) == [f"{gpu_pool}: nvidia.com/gpu=true:NoSchedule"]
    assert gpu_metrics_gaps(cfg) == [f"{gpu_pool}: {t}" for t in pool.instance_types[1:]]
