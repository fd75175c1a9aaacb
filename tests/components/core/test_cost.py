"""The monthly estimate: each line pinned, ranges at min/max, a missing price is an error."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from components.config import parse_stack_config
from components.core import catalog
from components.core.cost import (
    CostError,
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


def test_price_table_has_region_date_and_sources() -> None:
    assert PRICES.region == "us-west-2"
    assert PRICES.date
    for key in ("ec2", "eks", "vpc", "ebs", "elb", "cloudwatch", "kms"):
        assert PRICES.sources[key].startswith("https://aws.amazon.com/")
    assert known_regions() == ["us-west-2"]


def test_every_instance_type_the_stacks_use_is_priced_and_in_the_catalog() -> None:
    for stack in ("dev", "prod"):
        for pool in raw_stack_config(stack)["nodePools"].values():
            for instance_type in pool["instanceTypes"]:
                assert instance_type in PRICES.instances
    for instance_type in PRICES.instances:
        assert catalog.instance_family(instance_type) in catalog.INSTANCE_FAMILIES


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


def test_an_unpriced_instance_type_is_an_error_naming_pool_and_type() -> None:
    raw = raw_stack_config("dev")
    raw["nodePools"]["cpu"]["instanceTypes"] = ["c7i.large", "c7i.24xlarge"]
    raw["nodePools"]["cpu"]["autoscaled"] = False  # else the config refuses mixed sizes
    with pytest.raises(CostError, match=r"nodePools\.cpu\.instanceTypes.*'c7i\.24xlarge'"):
        _estimate(raw)


def test_an_unknown_region_or_missing_price_is_an_error() -> None:
    with pytest.raises(CostError, match="eu-north-1"):
        load_prices("eu-north-1")
    document = json.loads(
        (resources.files("components.core.data") / "prices_us-west-2.json").read_text()
    )
    del document["nat_gateway_hourly"]
    with pytest.raises(CostError, match="nat_gateway_hourly"):
        estimate(parse_stack_config(raw_stack_config("dev")), parse_prices(document))


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
