"""The data generators' AWS modes: DescribeInstanceTypes under moto, the Price List parser
on documents of the shape GetProducts returns (moto has no `pricing`: a stub client)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_catalog = _script("gen_catalog")
gen_prices = _script("gen_prices")


def test_catalog_from_describe_instance_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        document = gen_catalog.from_aws("us-east-1")
    types = document["instanceTypes"]
    assert len(types) > 400  # moto's copy of DescribeInstanceTypes
    m5 = types["m5.large"]
    assert (m5["vcpus"], m5["memoryMib"], m5["architecture"]) == (2, 8192, "x86_64")
    assert (m5["maxEnis"], m5["ipv4PerEni"]) == (3, 10)  # 29 pods, as the EKS AMI says
    assert types["g4dn.xlarge"]["accelerator"] == "nvidia" and types["g4dn.xlarge"]["gpus"] == 1
    assert not [t for t in types if t.startswith("mac")]
    assert document["sources"]["aws"]["api"] == "ec2:DescribeInstanceTypes"


def _product(attributes: dict[str, str], usd: str, unit: str = "Hrs") -> str:
    return json.dumps(
        {
            "product": {"attributes": attributes},
            "terms": {
                "OnDemand": {
                    "T1": {
                        "priceDimensions": {
                            "D1": {"beginRange": "0", "unit": unit, "pricePerUnit": {"USD": usd}}
                        }
                    }
                }
            },
        }
    )


class _Pricing:
    """GetProducts, paginated, answering from a fixed list per service code."""

    def __init__(self, products: dict[str, list[str]]) -> None:
        self.products = products
        self.calls: list[dict[str, Any]] = []

    def get_paginator(self, operation: str) -> _Pricing:
        assert operation == "get_products"
        return self

    def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
        self.calls.append(kwargs)
        wanted = {f["Field"]: f["Value"] for f in kwargs["Filters"]}
        found = [
            item
            for item in self.products.get(kwargs["ServiceCode"], [])
            if all(json.loads(item)["product"]["attributes"].get(k) == v for k, v in wanted.items())
        ]
        return [{"PriceList": found}]


EU = {"regionCode": "eu-west-1"}
EC2_LINUX = {
    **EU,
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
    "licenseModel": "No License required",
    "marketoption": "OnDemand",
}
NAT = {"productFamily": "NAT Gateway"}
GP3 = {"volumeApiName": "gp3", "productFamily": "Provisioned Throughput"}


def test_prices_from_the_price_list_api(monkeypatch: pytest.MonkeyPatch) -> None:
    client = _Pricing(
        {
            "AmazonEC2": [
                _product({**EC2_LINUX, "instanceType": "m7g.medium"}, "0.0408"),
                _product({**EU, **NAT, "usagetype": "EUW1-NatGateway-Hours"}, "0.048"),
                _product({**EU, **NAT, "usagetype": "EUW1-NatGateway-Bytes"}, "0.048"),
                _product(
                    {**EU, **GP3, "usagetype": "EUW1-EBS:VolumeP-Throughput.gp3"},
                    "40.96",
                    unit="GiBps-mo",
                ),
            ],
            "AmazonEKS": [
                _product(
                    {
                        **EU,
                        "operation": "CreateOperation",
                        "usagetype": "EUW1-AmazonEKS-Hours:perCluster",
                    },
                    "0.10",
                )
            ],
        }
    )
    monkeypatch.setattr(gen_prices, "commercial_regions", lambda: {"eu-west-1": "Europe"})
    document = gen_prices.from_aws({}, lambda: client)
    region = document["regions"]["eu-west-1"]
    assert region["ec2_on_demand_hourly"] == {"m7g.medium": 0.0408}
    assert region["rates"]["nat_gateway_hourly"] == 0.048
    assert region["rates"]["nat_gateway_per_gb"] == 0.048
    assert "alb_hourly" not in region["rates"]  # not offered: absent, never a zero
    assert region["rates"]["eks_cluster_hourly"] == 0.10
    assert region["rates"]["ebs_gp3_mibps_month_above_125"] == pytest.approx(0.04)
    ec2 = next(c for c in client.calls if c["ServiceCode"] == "AmazonEC2")
    filters = {f["Field"]: f["Value"] for f in ec2["Filters"]}
    assert filters["regionCode"] == "eu-west-1" and filters["operatingSystem"] == "Linux"
    assert filters["tenancy"] == "Shared" and filters["capacitystatus"] == "Used"


def test_every_mode_writes_the_dated_cloudwatch_table_and_an_api_price_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Price List queries do not fetch CloudWatch's per-metric, per-alarm, per-dashboard
    and per-observation prices: the generator carries them as a dated, sourced table."""
    static = gen_prices.CLOUDWATCH_STATIC
    assert static["date"] and static["source"].startswith("https://aws.amazon.com/cloudwatch")
    # `aws` mode rebuilds every region: the table must come back in its region.
    client = _Pricing({})
    monkeypatch.setattr(gen_prices, "commercial_regions", lambda: {"us-west-2": "Oregon"})
    document = gen_prices.with_static(gen_prices.from_aws({}, lambda: client))
    rates = document["regions"]["us-west-2"]["rates"]
    for key, value in static["rates"].items():
        assert rates[key] == value > 0
    assert document["sources"]["cloudwatchStatic"]["date"] == static["date"]
    # A price the API did return is kept.
    fetched = {"regions": {"us-west-2": {"rates": {"cloudwatch_dashboard_month": 3.5}}}}
    kept = gen_prices.with_static(fetched)["regions"]["us-west-2"]["rates"]
    assert kept["cloudwatch_dashboard_month"] == 3.5
    assert (
        kept["cloudwatch_custom_metric_month"] == static["rates"]["cloudwatch_custom_metric_month"]
    )
    # The shipped file holds what the generator writes.
    shipped = json.loads(gen_prices.OUT.read_text())
    assert gen_prices.with_static(shipped) == shipped
