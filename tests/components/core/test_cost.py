"""The monthly estimate: each line pinned, ranges at min/max, a missing price is unknown."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from components.config import parse_stack_config
from components.core import catalog
from components.core.cost import (
    estimate,
    format_estimate,
    known_regions,
    load_prices,
    parse_prices,
)
from tests.conftest import raw_stack_config

PRICES = load_prices("us-west-2")


def _estimate(raw: dict[str, Any]) -> Any:
    return estimate(parse_stack_config(raw), PRICES)


def _line(result: Any, component: str, item: str) -> Any:
    return next(x for x in result.lines if x.component == component and x.item.startswith(item))


DOCUMENT = json.loads((resources.files("components.core.data") / "prices.json").read_text())

#: Catalog types with no on-demand Linux price in us-east-1 on the snapshot's date (Karpenter's
#: us-east-1 table): HPC types sold in other regions only, capacity-block-only p5e/trn2, and
#: types newer than the table. `make prices` fetches each region's own.
UNPRICED_IN_US_EAST_1 = {
    "dl2q.24xlarge",
    "hpc6a.48xlarge",
    "hpc6id.32xlarge",
    "hpc7a.12xlarge",
    "hpc7a.24xlarge",
    "hpc7a.48xlarge",
    "hpc7a.96xlarge",
    "hpc8a.96xlarge",
    "p5e.48xlarge",
    "trn2.48xlarge",
    *(f"x8aedz.{s}" for s in ("large", "xlarge", "3xlarge", "6xlarge", "12xlarge", "24xlarge")),
    "x8aedz.metal-12xl",
    "x8aedz.metal-24xl",
}


def test_price_table_has_region_date_and_sources() -> None:
    assert PRICES.region == "us-west-2"
    assert PRICES.date == DOCUMENT["date"]
    pages = PRICES.sources["awsPages"]
    for key in ("ec2", "eks", "vpc", "ebs", "elb", "cloudwatch", "kms"):
        assert pages[key].startswith("https://aws.amazon.com/")
    karpenter = PRICES.sources["karpenter"]
    assert karpenter["repo"] == "aws/karpenter-provider-aws" and len(karpenter["commit"]) == 40


def test_every_commercial_region_is_listed() -> None:
    from botocore.loaders import Loader

    partitions = Loader().load_data("endpoints")["partitions"]
    aws = next(p for p in partitions if p["partition"] == "aws")
    assert set(known_regions()) == set(aws["regions"])
    assert len(known_regions()) >= 30


def test_every_catalog_entry_has_a_price() -> None:
    us_east_1 = load_prices("us-east-1")
    unpriced = {t for t in catalog.instance_data().types if t not in us_east_1.instances}
    assert unpriced == UNPRICED_IN_US_EAST_1
    assert len(us_east_1.instances) > 1300
    for region in known_regions():  # every region prices them, own price or fallback
        table = load_prices(region)
        for instance_type in ("m7g.medium", "c7i.8xlarge", "r8g.16xlarge", "g6e.xlarge"):
            assert table.instance(instance_type, "test") > 0


def test_every_instance_type_the_stacks_use_is_priced_and_in_the_catalog() -> None:
    for stack in ("dev", "prod"):
        for pool in raw_stack_config(stack)["nodePools"].values():
            for instance_type in pool["instanceTypes"]:
                assert instance_type in PRICES.instances
    for region in DOCUMENT["regions"].values():
        for instance_type in region.get("ec2_on_demand_hourly", {}):
            assert catalog.instance_info(instance_type) is not None, instance_type


@pytest.mark.parametrize("region", ["eu-west-1", "ap-southeast-7", "sa-east-1", "us-east-1"])
def test_every_commercial_region_previews_with_a_cost(region: str) -> None:
    result = estimate(parse_stack_config(raw_stack_config("prod")), load_prices(region))
    assert not result.unknown
    low, high = result.total
    assert 0 < low < high
    assert result.region == region
    text = format_estimate(result)
    # Rates of regions but us-west-2 come from us-west-2; EC2 prices but us-east-1's
    # from us-east-1. Each such line says so.
    assert result.fallbacks and "fallback" in text
    pool = _line(result, "pool gpu", "EC2 nodes")
    expected = None if region == "us-east-1" else "g5.xlarge of us-east-1, g6.xlarge of us-east-1"
    assert pool.fallback == expected
    plane = _line(result, "cluster", "EKS control plane")
    assert plane.fallback is None  # the same in every commercial region


def test_dev_lines_follow_the_config() -> None:
    result = _estimate(raw_stack_config("dev"))
    hours = 730
    assert _line(result, "cluster", "EKS control plane").monthly_min == pytest.approx(0.10 * hours)
    nat = _line(result, "network", "NAT gateways")  # single NAT gateway in dev
    assert nat.monthly_min == pytest.approx(1 * hours * (0.045 + 0.005))
    assert _line(result, "network", "NAT data").monthly_min == pytest.approx(50 * 0.045)
    assert not [x for x in result.lines if x.item.startswith("interface endpoints")]
    system = _line(result, "pool system", "EC2 nodes")  # on-demand t3.large, 1..3 nodes
    assert (system.monthly_min, system.monthly_max) == pytest.approx(
        (1 * 0.0832 * hours, 3 * 0.0832 * hours)
    )
    spot = _line(result, "pool cpu", "EC2 nodes")  # spot: average of the list, 65% off
    average = (0.08925 + 0.085 + 0.0765 + 0.10264) / 4
    assert spot.monthly_max == pytest.approx(4 * average * 0.35 * hours)
    assert "65%" in spot.detail
    ebs = _line(result, "pool cpu", "EBS")
    assert ebs.monthly_max == pytest.approx(4 * 20 * 0.08)
    alb = _line(result, "service", "ALB")
    assert alb.monthly_min == pytest.approx(hours * (0.0225 + 1 * 0.008))


def test_prod_counts_three_nats_endpoints_per_az_and_a_gpu_pool_from_zero() -> None:
    result = _estimate(raw_stack_config("prod"))
    hours = 730
    assert _line(result, "network", "NAT gateways").monthly_min == pytest.approx(3 * hours * 0.05)
    endpoints = _line(result, "network", "interface endpoints")
    assert endpoints.monthly_min == pytest.approx(5 * 3 * hours * 0.01)
    gpu = _line(result, "pool gpu", "EC2 nodes")
    assert gpu.monthly_min == 0
    assert gpu.monthly_max == pytest.approx(4 * 0.8048 * hours)
    gpu_ebs = _line(result, "pool gpu", "EBS")  # GPU pools default to 100 GiB
    assert gpu_ebs.monthly_max == pytest.approx(4 * 100 * 0.08)
    low, high = result.total
    assert low < high
    assert low == pytest.approx(sum(a for a, _ in result.by_component().values()))
    storage = _line(result, "cluster", "CloudWatch log storage")
    assert storage.monthly_min == pytest.approx(20 * 365 / 30 * 0.03)


def test_extra_iops_and_throughput_are_billed_above_the_free_baseline() -> None:
    raw = raw_stack_config("dev")
    raw["nodePools"]["cpu"]["rootVolume"] = {"sizeGib": 50, "iops": 4000, "throughputMibps": 225}
    ebs = _line(_estimate(raw), "pool cpu", "EBS")
    per_node = 50 * 0.08 + 1000 * 0.005 + 100 * 0.04
    assert ebs.monthly_max == pytest.approx(4 * per_node)


def test_spot_discount_comes_from_config() -> None:
    raw = raw_stack_config("dev")
    raw["cost"]["spotDiscount"] = 0.5
    spot = _line(_estimate(raw), "pool cpu", "EC2 nodes")
    average = (0.08925 + 0.085 + 0.0765 + 0.10264) / 4
    assert spot.monthly_max == pytest.approx(4 * average * 0.5 * 730)


def test_no_nat_no_service_no_kms_means_no_such_lines() -> None:
    raw = raw_stack_config("dev")
    raw["network"]["natStrategy"] = "none"
    # Without NAT, nodes reach ECR and STS through endpoints only, and nothing can pull
    # cluster-autoscaler's image from registry.k8s.io.
    raw["network"]["enableInterfaceEndpoints"] = True
    raw["cluster"]["clusterAutoscaler"]["enabled"] = False
    raw["modelStore"]["kmsEncryption"] = False
    raw["service"]["exposure"] = "cluster-ip"
    raw["service"].pop("allowedSourceCidrs", None)  # only for an internet-facing ALB
    items = {x.item for x in _estimate(raw).lines}
    assert not {i for i in items if i.startswith(("NAT", "ALB", "NLB", "KMS key (bucket)"))}


def test_an_unpriced_instance_type_marks_its_line_unknown_naming_pool_and_type() -> None:
    raw = raw_stack_config("dev")
    raw["nodePools"]["cpu"]["instanceTypes"] = ["c7i.large", "hpc7a.12xlarge"]
    raw["nodePools"]["cpu"]["autoscaled"] = False  # else the config refuses mixed sizes
    result = _estimate(raw)
    nodes = _line(result, "pool cpu", "EC2 nodes")
    assert nodes.unknown is not None
    assert "nodePools.cpu.instanceTypes" in nodes.unknown and "'hpc7a.12xlarge'" in nodes.unknown
    assert result.unknown == (nodes,)
    # The rest is still priced, and the total says what it lacks.
    assert _line(result, "pool cpu", "EBS").unknown is None
    text = format_estimate(result)
    assert "TOTAL (without 1 unknown lines)" in text and "unknown" in text
    document = result.to_dict()
    unknown = [x for x in document["lines"] if "unknown" in x]
    assert unknown[0]["monthlyMin"] is None and document["total"]["unknownLines"] == 1


def test_an_unknown_region_or_missing_price_is_unknown_not_an_error() -> None:
    nowhere = estimate(parse_stack_config(raw_stack_config("dev")), load_prices("xx-nowhere-1"))
    assert nowhere.unknown == nowhere.lines and nowhere.total == (0, 0)
    assert "xx-nowhere-1" in (nowhere.lines[0].unknown or "")
    document = json.loads(json.dumps(DOCUMENT))
    del document["regions"]["us-west-2"]["rates"]["nat_gateway_hourly"]
    result = estimate(
        parse_stack_config(raw_stack_config("dev")), parse_prices(document, "us-west-2")
    )
    nat = _line(result, "network", "NAT gateways")
    assert nat.unknown is not None and "nat_gateway_hourly" in nat.unknown
    assert _line(result, "network", "NAT data").unknown is None


def test_format_shows_components_and_total() -> None:
    text = format_estimate(_estimate(raw_stack_config("prod")))
    assert "us-west-2 prices of" in text
    for part in ("network", "cluster", "pool gpu", "model store", "service", "TOTAL"):
        assert part in text
    low, high = _estimate(raw_stack_config("prod")).total
    assert f"${low:,.2f} – ${high:,.2f}" in text


def test_an_internet_facing_load_balancer_pays_for_a_public_ipv4_per_az() -> None:
    dev = _line(_estimate(raw_stack_config("dev")), "service", "load balancer public IPv4")
    assert dev.monthly_min == dev.monthly_max == pytest.approx(730 * 2 * 0.005)
    prod = _estimate(raw_stack_config("prod"))
    assert not [
        line for line in prod.lines if "public IPv4" in line.item and line.component == "service"
    ]


# --------------------------------------------------------------------------- observability


def _observability(result: Any) -> dict[str, Any]:
    return {line.item: line for line in result.lines if line.component == "observability"}


def test_observability_prices_alarms_dashboard_insights_metrics_and_logs() -> None:
    """Prices from prices.json's dated CloudWatch table (us-west-2): $0.10 per alarm
    metric, $3 per dashboard, $0.30 per custom metric, $0.21 per million observations."""
    result = _estimate(raw_stack_config("prod"))
    lines = _observability(result)
    assert set(lines) == {
        "CloudWatch alarms",
        "CloudWatch dashboard",
        "KMS key (alarm topic, log groups)",
        "Container Insights observations",
        "server metrics (EMF custom metrics)",
        "Container Insights log ingestion",
        "Container Insights log storage",
    }
    assert all(line.unknown is None for line in lines.values())
    # 10 alarms; the two metric-math alarms read 2 metrics each: 12 alarm metrics.
    assert lines["CloudWatch alarms"].monthly_min == pytest.approx(12 * 0.10)
    assert lines["CloudWatch dashboard"].monthly_min == pytest.approx(3.00)
    config = parse_stack_config(raw_stack_config("prod"))
    nodes = (
        sum(p.min_size for p in config.node_pools.values()),
        sum(p.max_size for p in config.node_pools.values()),
    )
    observations = lines["Container Insights observations"]
    per_node = config.cost.container_insights_observations_per_node_millions
    assert (observations.monthly_min, observations.monthly_max) == pytest.approx(
        (nodes[0] * per_node * 0.21, nodes[1] * per_node * 0.21)
    )
    assert lines["server metrics (EMF custom metrics)"].monthly_min == pytest.approx(
        (6 + config.cost.server_status_series) * 0.30
    )
    ingestion = lines["Container Insights log ingestion"]
    # More replicas send more metric documents.
    assert ingestion.monthly_max > ingestion.monthly_min > 10 * 0.5
    assert result.total[0] >= sum(line.monthly_min for line in lines.values())


def test_the_observability_lines_change_with_alarms_and_retention() -> None:
    base = _observability(_estimate(raw_stack_config("prod")))
    raw = raw_stack_config("prod")
    raw["observability"]["containerInsights"]["logRetentionDays"] = 90
    longer = _observability(_estimate(raw))
    storage = "Container Insights log storage"
    assert longer[storage].monthly_min == pytest.approx(base[storage].monthly_min * 3)
    # No load balancer: the three load-balancer alarms (one of them metric math) go.
    raw = raw_stack_config("prod")
    raw["service"]["exposure"] = "cluster-ip"
    raw["service"].pop("allowedSourceCidrs", None)
    fewer = _observability(_estimate(raw))
    assert fewer["CloudWatch alarms"].monthly_min == pytest.approx((12 - 4) * 0.10)
    assert "10 alarms" in base["CloudWatch alarms"].detail
    assert "7 alarms" in fewer["CloudWatch alarms"].detail


def test_dev_without_container_insights_pays_for_alarms_and_dashboard_only() -> None:
    dev = _observability(_estimate(raw_stack_config("dev")))
    assert set(dev) == {
        "CloudWatch alarms",
        "CloudWatch dashboard",
        "KMS key (alarm topic, log groups)",
    }
    raw = raw_stack_config("dev")
    raw["observability"]["enabled"] = False
    assert _observability(_estimate(raw)) == {}


def test_the_emf_document_sizes_the_estimate_assumes_hold_in_the_worst_case() -> None:
    from components.core.cost import EMF_STATUS_BYTES, EMF_TOTALS_BYTES
    from serving.emf import EmfPublisher
    from serving.metrics import Metrics

    metrics = Metrics("model")
    # Every bucket non-empty: both distributions at their 100 values, the longest floats.
    for bound in (*metrics.latency_bounds, 99.0):
        for _ in range(1000):
            metrics.latency.observe(bound * 0.999)
    for bound in (*metrics.wait_bounds, 99.0):
        for _ in range(1000):
            metrics.queue_wait.observe(bound * 0.999)
    metrics.count(503)
    metrics.count_grpc("RESOURCE_EXHAUSTED", "model")
    long = "x" * 63
    publisher = EmfPublisher(
        metrics,
        endpoint="udp://127.0.0.1:9",
        dimensions={"ClusterName": long, "Namespace": long, "Service": long},
        log_group=f"/aws/containerinsights/{long}/server-metrics",
        clock=lambda: 1.7e9,
    )
    totals, *statuses = (len(json.dumps(d, separators=(",", ":"))) for d in publisher.documents())
    assert totals <= EMF_TOTALS_BYTES
    assert statuses and max(statuses) <= EMF_STATUS_BYTES
