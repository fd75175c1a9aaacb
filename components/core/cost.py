"""The monthly cost estimate of a stack: plain arithmetic over its config and a price table.

Prices live in `core/data/prices_<region>.json` with their region, date and sources;
usage the estimate cannot know (NAT data, log volume, load balancer capacity units)
comes from the stack config's `cost` section. Each line is priced at the node pools'
minimum and maximum sizes, so the estimate is a range. A price that is missing (an
instance type, a region) is an error, never a zero.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from components.core import catalog
from components.core.config import NodePoolConfig, StackConfig

__all__ = [
    "CostError",
    "CostLine",
    "Estimate",
    "PriceTable",
    "estimate",
    "format_estimate",
    "known_regions",
    "load_prices",
    "parse_prices",
]


class CostError(ValueError):
    """A price the estimate needs is missing; the message names what and where."""


@dataclass(frozen=True)
class PriceTable:
    """One region's prices (USD) as read from its data file."""

    region: str
    date: str
    currency: str
    hours_per_month: float
    instances: Mapping[str, float]
    """On-demand Linux price per hour by instance type."""
    rates: Mapping[str, float]
    """Every other price, by its key in the data file."""
    sources: Mapping[str, str]

    def rate(self, key: str) -> float:
        try:
            return self.rates[key]
        except KeyError:
            raise CostError(
                f"price {key!r} is missing from the {self.region} price table"
            ) from None

    def instance(self, instance_type: str, where: str) -> float:
        price = self.instances.get(instance_type)
        if price is None:
            raise CostError(
                f"{where}: no on-demand price for instance type {instance_type!r} in "
                f"{self.region} (prices of {self.date}); add it to "
                f"components/core/data/prices_{self.region}.json"
            )
        return price


def known_regions() -> list[str]:
    """The regions that have a price table."""
    folder = resources.files("components.core.data")
    names = [p.name for p in folder.iterdir() if p.name.startswith("prices_")]
    return sorted(n.removeprefix("prices_").removesuffix(".json") for n in names)


def load_prices(region: str) -> PriceTable:
    """The price table of `region`; `CostError` when there is none."""
    path = resources.files("components.core.data") / f"prices_{region}.json"
    if not path.is_file():
        raise CostError(f"no price table for region {region!r}; known: {known_regions()}")
    return parse_prices(json.loads(path.read_text()))


def parse_prices(document: Mapping[str, Any]) -> PriceTable:
    rates = {k: float(v) for k, v in document.items() if isinstance(v, int | float)}
    hours = rates.pop("hours_per_month", 730.0)
    return PriceTable(
        region=str(document["region"]),
        date=str(document["date"]),
        currency=str(document.get("currency", "USD")),
        hours_per_month=hours,
        instances={k: float(v) for k, v in document["ec2_on_demand_hourly"].items()},
        rates=rates,
        sources=dict(document.get("sources", {})),
    )


@dataclass(frozen=True)
class CostLine:
    """One priced item: what, how many, and its monthly cost at min and max pool sizes."""

    component: str
    item: str
    detail: str
    monthly_min: float
    monthly_max: float


@dataclass(frozen=True)
class Estimate:
    region: str
    prices_date: str
    currency: str
    lines: tuple[CostLine, ...]
    assumptions: Mapping[str, Any]

    def by_component(self) -> dict[str, tuple[float, float]]:
        """(min, max) monthly per component, in the order components first appear."""
        totals: dict[str, tuple[float, float]] = {}
        for line in self.lines:
            low, high = totals.get(line.component, (0.0, 0.0))
            totals[line.component] = (low + line.monthly_min, high + line.monthly_max)
        return totals

    @property
    def total(self) -> tuple[float, float]:
        return (
            sum(line.monthly_min for line in self.lines),
            sum(line.monthly_max for line in self.lines),
        )

    def to_dict(self) -> dict[str, Any]:
        low, high = self.total
        return {
            "region": self.region,
            "pricesDate": self.prices_date,
            "currency": self.currency,
            "assumptions": dict(self.assumptions),
            "lines": [
                {
                    "component": line.component,
                    "item": line.item,
                    "detail": line.detail,
                    "monthlyMin": round(line.monthly_min, 2),
                    "monthlyMax": round(line.monthly_max, 2),
                }
                for line in self.lines
            ],
            "components": {
                name: {"monthlyMin": round(a, 2), "monthlyMax": round(b, 2)}
                for name, (a, b) in self.by_component().items()
            },
            "total": {"monthlyMin": round(low, 2), "monthlyMax": round(high, 2)},
        }


def _flat(component: str, item: str, detail: str, monthly: float) -> CostLine:
    return CostLine(component, item, detail, monthly, monthly)


def _nat_count(config: StackConfig) -> int:
    strategy = config.network.nat_strategy
    return {"none": 0, "single": 1, "one-per-az": config.network.az_count}[strategy]


def _pool_lines(
    name: str, pool: NodePoolConfig, prices: PriceTable, config: StackConfig
) -> list[CostLine]:
    where = f"nodePools.{name}.instanceTypes"
    for instance_type in pool.instance_types:
        prices.instance(instance_type, where)  # every listed type must be priced
    # On-demand node groups launch the first listed type (prioritized allocation); spot
    # ones spread over the list, so price spot at the list's average.
    first = pool.instance_types[0]
    if pool.capacity_type == "SPOT":
        on_demand = sum(prices.instance(t, where) for t in pool.instance_types) / len(
            pool.instance_types
        )
        hourly = on_demand * (1 - config.cost.spot_discount)
        priced = (
            f"spot {len(pool.instance_types)} types, {config.cost.spot_discount:.0%} off "
            f"on-demand avg ${on_demand:.4f}/h"
        )
    else:
        hourly = prices.instance(first, where)
        priced = f"on-demand {first} ${hourly:.4f}/h"
    hours = prices.hours_per_month
    component = f"pool {name}"
    node = CostLine(
        component,
        "EC2 nodes",
        f"{pool.min_size}-{pool.max_size} × {priced}",
        pool.min_size * hourly * hours,
        pool.max_size * hourly * hours,
    )
    volume = pool.root_volume
    per_volume = (
        pool.root_volume_gib * prices.rate("ebs_gp3_per_gb_month")
        + max(0, volume.iops - 3000) * prices.rate("ebs_gp3_iops_month_above_3000")
        + max(0, volume.throughput_mibps - 125) * prices.rate("ebs_gp3_mibps_month_above_125")
    )
    ebs = CostLine(
        component,
        "EBS gp3 root volumes",
        f"{pool.root_volume_gib} GiB, {volume.iops} IOPS, {volume.throughput_mibps} MiB/s each",
        pool.min_size * per_volume,
        pool.max_size * per_volume,
    )
    return [node, ebs]


def estimate(config: StackConfig, prices: PriceTable) -> Estimate:
    """The stack's monthly cost at its pools' minimum and maximum sizes."""
    hours = prices.hours_per_month
    usage = config.cost
    lines: list[CostLine] = []

    # Network.
    nats = _nat_count(config)
    if nats:
        lines.append(
            _flat(
                "network",
                "NAT gateways",
                f"{nats} × ${prices.rate('nat_gateway_hourly')}/h + public IPv4 "
                f"${prices.rate('public_ipv4_hourly')}/h",
                nats
                * hours
                * (prices.rate("nat_gateway_hourly") + prices.rate("public_ipv4_hourly")),
            )
        )
        lines.append(
            _flat(
                "network",
                "NAT data processed",
                f"{usage.nat_data_gb_per_month:g} GB × ${prices.rate('nat_gateway_per_gb')}/GB",
                usage.nat_data_gb_per_month * prices.rate("nat_gateway_per_gb"),
            )
        )
    if config.network.enable_interface_endpoints and config.network.interface_endpoints:
        count = len(config.network.interface_endpoints)
        azs = config.network.az_count
        lines.append(
            _flat(
                "network",
                "interface endpoints",
                f"{count} endpoints × {azs} AZs × "
                f"${prices.rate('interface_endpoint_hourly_per_az')}/h",
                count * azs * hours * prices.rate("interface_endpoint_hourly_per_az"),
            )
        )
        lines.append(
            _flat(
                "network",
                "interface endpoint data",
                f"{usage.interface_endpoint_data_gb_per_month:g} GB × "
                f"${prices.rate('interface_endpoint_per_gb')}/GB",
                usage.interface_endpoint_data_gb_per_month
                * prices.rate("interface_endpoint_per_gb"),
            )
        )

    # Cluster.
    extended = config.cluster.kubernetes_version in catalog.EXTENDED_SUPPORT_VERSIONS
    plane_rate = prices.rate(
        "eks_extended_support_cluster_hourly" if extended else "eks_cluster_hourly"
    )
    lines.append(
        _flat(
            "cluster",
            "EKS control plane",
            f"1 × ${plane_rate}/h ({'extended' if extended else 'standard'} support)",
            hours * plane_rate,
        )
    )
    lines.append(
        _flat(
            "cluster",
            "KMS key (secrets)",
            f"1 × ${prices.rate('kms_key_month')}/month",
            prices.rate("kms_key_month"),
        )
    )
    ingest = usage.log_ingestion_gb_per_month
    stored = ingest * config.cluster.log_retention_days / 30
    lines.append(
        _flat(
            "cluster",
            "CloudWatch log ingestion",
            f"{ingest:g} GB × ${prices.rate('cloudwatch_logs_ingestion_per_gb')}/GB",
            ingest * prices.rate("cloudwatch_logs_ingestion_per_gb"),
        )
    )
    lines.append(
        _flat(
            "cluster",
            "CloudWatch log storage",
            f"{stored:.0f} GB kept ({config.cluster.log_retention_days} days) × "
            f"${prices.rate('cloudwatch_logs_storage_per_gb_month')}/GB-month",
            stored * prices.rate("cloudwatch_logs_storage_per_gb_month"),
        )
    )

    # Node pools, in config order.
    for name, pool in config.node_pools.items():
        lines.extend(_pool_lines(name, pool, prices, config))

    # Model store.
    lines.append(
        _flat(
            "model store",
            "S3 storage",
            f"{usage.model_store_gb:g} GB × ${prices.rate('s3_standard_per_gb_month')}/GB-month",
            usage.model_store_gb * prices.rate("s3_standard_per_gb_month"),
        )
    )
    lines.append(
        _flat(
            "model store",
            "ECR storage",
            f"{usage.image_store_gb:g} GB × ${prices.rate('ecr_storage_per_gb_month')}/GB-month",
            usage.image_store_gb * prices.rate("ecr_storage_per_gb_month"),
        )
    )
    if config.model_store.kms_encryption:
        lines.append(
            _flat(
                "model store",
                "KMS key (bucket)",
                f"1 × ${prices.rate('kms_key_month')}/month",
                prices.rate("kms_key_month"),
            )
        )

    # Service exposure.
    service = config.service
    if service is not None and service.exposure != "cluster-ip":
        kind = "alb" if service.exposure.startswith("alb") else "nlb"
        hourly = prices.rate(f"{kind}_hourly")
        lcu = prices.rate(f"{kind}_lcu_hourly")
        lines.append(
            _flat(
                "service",
                f"{kind.upper()} ({service.exposure})",
                f"1 × ${hourly}/h + {usage.load_balancer_lcu:g} LCU × ${lcu}/LCU-h",
                hours * (hourly + usage.load_balancer_lcu * lcu),
            )
        )
        if service.exposure.endswith("internet-facing"):
            azs = config.network.az_count
            ipv4 = prices.rate("public_ipv4_hourly")
            lines.append(
                _flat(
                    "service",
                    "load balancer public IPv4",
                    f"{azs} AZs × ${ipv4}/h",
                    hours * azs * ipv4,
                )
            )

    return Estimate(
        region=prices.region,
        prices_date=prices.date,
        currency=prices.currency,
        lines=tuple(lines),
        assumptions=usage.model_dump(by_alias=True),
    )


def format_estimate(result: Estimate) -> str:
    """The estimate as a terminal table: lines grouped by component, then the total."""
    rows: list[Sequence[str]] = []
    for component, (low, high) in result.by_component().items():
        rows.append((component, "", _money(low, high)))
        for line in (x for x in result.lines if x.component == component):
            rows.append(
                ("", f"{line.item}: {line.detail}", _money(line.monthly_min, line.monthly_max))
            )
    low, high = result.total
    width = max(len(r[0]) + len(r[1]) for r in rows) + 4
    body = "\n".join(f"  {(r[0] or '   ' + r[1]):<{width}} {r[2]:>21}" for r in rows)
    return (
        f"Monthly cost estimate ({result.currency}, {result.region} prices of "
        f"{result.prices_date}; pools at min–max size):\n{body}\n"
        f"  {'TOTAL':<{width}} {_money(low, high):>21}\n"
    )


def _money(low: float, high: float) -> str:
    if round(low, 2) == round(high, 2):
        return f"${low:,.2f}"
    return f"${low:,.2f} – ${high:,.2f}"
