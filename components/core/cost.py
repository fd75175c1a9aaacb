"""The monthly cost estimate of a stack: plain arithmetic over its config and a price table.

Prices live in `core/data/prices.json` with their date and sources, per commercial
region (`core/prices.py` reads them); a region without a price of its own is priced from
the file's fallback region and the line says so. Usage the estimate cannot know (NAT
data, log volume, load balancer capacity units) comes from the stack config's `cost`
section. Each line is priced at the node pools' minimum and maximum sizes, so the
estimate is a range. A price found nowhere is never a zero: its line is marked unknown,
with the reason, and left out of the total, which says how many lines it lacks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.core import catalog
from components.core.config import NodePoolConfig, StackConfig
from components.core.observability import (
    CONTAINER_INSIGHTS_LOG_GROUPS,
    SERVER_METRICS,
    LoadBalancerRefs,
    alarm_specs,
    container_insights_enabled,
    load_balancer_kind,
    server_metrics_enabled,
)
from components.core.prices import (
    CostError,
    PriceTable,
    known_regions,
    load_prices,
    parse_prices,
)

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


@dataclass(frozen=True)
class CostLine:
    """One priced item: what, how many, and its monthly cost at min and max pool sizes."""

    component: str
    item: str
    detail: str
    monthly_min: float
    monthly_max: float
    unknown: str | None = None
    """Why the line could not be priced (then it counts as 0 in no total: it is left out)."""
    fallback: str | None = None
    """The prices taken from the fallback region, when the region lacks its own."""


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
        """The sum of the priced lines (unknown lines are left out: see `unknown`)."""
        return (
            sum(line.monthly_min for line in self.lines),
            sum(line.monthly_max for line in self.lines),
        )

    @property
    def unknown(self) -> tuple[CostLine, ...]:
        return tuple(line for line in self.lines if line.unknown is not None)

    @property
    def fallbacks(self) -> tuple[CostLine, ...]:
        return tuple(line for line in self.lines if line.fallback is not None)

    def to_dict(self) -> dict[str, Any]:
        low, high = self.total
        return {
            "region": self.region,
            "pricesDate": self.prices_date,
            "currency": self.currency,
            "assumptions": dict(self.assumptions),
            "lines": [_line_dict(line) for line in self.lines],
            "components": {
                name: {"monthlyMin": round(a, 2), "monthlyMax": round(b, 2)}
                for name, (a, b) in self.by_component().items()
            },
            "total": {
                "monthlyMin": round(low, 2),
                "monthlyMax": round(high, 2),
                "unknownLines": len(self.unknown),
                "fallbackLines": len(self.fallbacks),
            },
        }


def _line_dict(line: CostLine) -> dict[str, Any]:
    document: dict[str, Any] = {
        "component": line.component,
        "item": line.item,
        "detail": line.detail,
    }
    if line.unknown is not None:
        return {**document, "monthlyMin": None, "monthlyMax": None, "unknown": line.unknown}
    document.update(monthlyMin=round(line.monthly_min, 2), monthlyMax=round(line.monthly_max, 2))
    if line.fallback is not None:
        document["fallback"] = line.fallback
    return document


def _priced(
    prices: PriceTable,
    component: str,
    item: str,
    build: Callable[[], tuple[str, float, float]],
) -> CostLine:
    """One line from `build` (detail, min, max); a missing price makes it unknown."""
    prices.used_fallbacks.clear()
    try:
        detail, low, high = build()
    except CostError as exc:
        return CostLine(component, item, "price unknown", 0.0, 0.0, unknown=str(exc))
    taken = sorted(set(prices.used_fallbacks))
    return CostLine(component, item, detail, low, high, fallback=", ".join(taken) or None)


def _flat(
    prices: PriceTable, component: str, item: str, build: Callable[[], tuple[str, float]]
) -> CostLine:
    def both() -> tuple[str, float, float]:
        detail, monthly = build()
        return detail, monthly, monthly

    return _priced(prices, component, item, both)


def _kms_key(prices: PriceTable, component: str, purpose: str) -> CostLine:
    """One customer-managed KMS key's monthly line (`KMS key (<purpose>)`)."""
    return _flat(
        prices,
        component,
        f"KMS key ({purpose})",
        lambda: (f"1 × ${prices.rate('kms_key_month')}/month", prices.rate("kms_key_month")),
    )


def _nat_count(config: StackConfig) -> int:
    strategy = config.network.nat_strategy
    return {"none": 0, "single": 1, "one-per-az": config.network.az_count}[strategy]


def _pool_lines(
    name: str, pool: NodePoolConfig, prices: PriceTable, config: StackConfig
) -> list[CostLine]:
    where = f"nodePools.{name}.instanceTypes"
    hours = prices.hours_per_month
    component = f"pool {name}"

    def nodes() -> tuple[str, float, float]:
        listed = [prices.instance(t, where) for t in pool.instance_types]  # all must be priced
        # On-demand node groups launch the first listed type (prioritized allocation);
        # spot ones spread over the list, so price spot at the list's average.
        if pool.capacity_type == "SPOT":
            on_demand = sum(listed) / len(listed)
            hourly = on_demand * (1 - config.cost.spot_discount)
            priced = (
                f"spot {len(pool.instance_types)} types, {config.cost.spot_discount:.0%} off "
                f"on-demand avg ${on_demand:.4f}/h"
            )
        else:
            hourly = listed[0]
            priced = f"on-demand {pool.instance_types[0]} ${hourly:.4f}/h"
        return (
            f"{pool.min_size}-{pool.max_size} × {priced}",
            pool.min_size * hourly * hours,
            pool.max_size * hourly * hours,
        )

    volume = pool.root_volume

    def volumes() -> tuple[str, float, float]:
        per_volume = (
            pool.root_volume_gib * prices.rate("ebs_gp3_per_gb_month")
            + max(0, volume.iops - 3000) * prices.rate("ebs_gp3_iops_month_above_3000")
            + max(0, volume.throughput_mibps - 125) * prices.rate("ebs_gp3_mibps_month_above_125")
        )
        return (
            f"{pool.root_volume_gib} GiB, {volume.iops} IOPS, {volume.throughput_mibps} MiB/s each",
            pool.min_size * per_volume,
            pool.max_size * per_volume,
        )

    return [
        _priced(prices, component, "EC2 nodes", nodes),
        _priced(prices, component, "EBS gp3 root volumes", volumes),
    ]


EMF_TOTALS_BYTES = 2000
"""The most a server worker's per-minute EMF totals document takes (two full 100-value
distributions; tests/components/core/test_cost.py measures the worst case)."""
EMF_STATUS_BYTES = 700
"""The most one per-status EMF document takes."""
MINUTES_PER_MONTH = 730 * 60


def _observability_lines(config: StackConfig, prices: PriceTable) -> list[CostLine]:
    """Alarms, dashboard, topic key, Container Insights and the server's own metrics."""
    observability = config.observability
    if not observability.enabled:
        return []
    component = "observability"
    lines: list[CostLine] = []
    kind = load_balancer_kind(config)
    refs = LoadBalancerRefs("lb", "tg") if kind is not None else None
    specs = alarm_specs(config, cluster_name="cluster", refs=refs)
    alarm_metrics = sum(len(spec.metrics()) for spec in specs)
    lines.append(
        _flat(
            prices,
            component,
            "CloudWatch alarms",
            lambda: (
                f"{len(specs)} alarms reading {alarm_metrics} metrics × "
                f"${prices.rate('cloudwatch_alarm_metric_month')}/alarm metric-month",
                alarm_metrics * prices.rate("cloudwatch_alarm_metric_month"),
            ),
        )
    )
    lines.append(
        _flat(
            prices,
            component,
            "CloudWatch dashboard",
            lambda: (
                f"1 × ${prices.rate('cloudwatch_dashboard_month')}/month",
                prices.rate("cloudwatch_dashboard_month"),
            ),
        )
    )
    lines.append(_kms_key(prices, component, "alarm topic, log groups"))
    insights = observability.container_insights
    if not container_insights_enabled(config) or insights is None:
        return lines
    usage = config.cost
    nodes_min = sum(pool.min_size for pool in config.node_pools.values())
    nodes_max = sum(pool.max_size for pool in config.node_pools.values())
    per_node = usage.container_insights_observations_per_node_millions

    def observations() -> tuple[str, float, float]:
        price = prices.rate("cloudwatch_container_insights_per_million_observations")
        return (
            f"{nodes_min}-{nodes_max} nodes × {per_node:g}M observations × ${price}/M observations",
            nodes_min * per_node * price,
            nodes_max * per_node * price,
        )

    lines.append(_priced(prices, component, "Container Insights observations", observations))
    retention = insights.log_retention_days
    logs_gb = usage.container_log_gb_per_month
    emf_gb_min = emf_gb_max = 0.0
    service = config.service
    if server_metrics_enabled(config) and service is not None:
        per_minute = EMF_TOTALS_BYTES + usage.server_status_series * EMF_STATUS_BYTES
        per_pod = service.server.workers * MINUTES_PER_MONTH * per_minute / 1e9
        emf_gb_min, emf_gb_max = service.min_replicas * per_pod, service.max_replicas * per_pod
        series = len(SERVER_METRICS) + usage.server_status_series
        lines.append(
            _flat(
                prices,
                component,
                "server metrics (EMF custom metrics)",
                lambda: (
                    f"{series} metrics ({len(SERVER_METRICS)} + {usage.server_status_series} "
                    f"statuses) × ${prices.rate('cloudwatch_custom_metric_month')}/metric-month",
                    series * prices.rate("cloudwatch_custom_metric_month"),
                ),
            )
        )

    def ingestion() -> tuple[str, float, float]:
        price = prices.rate("cloudwatch_logs_ingestion_per_gb")
        detail = f"{logs_gb:g} GB pods' logs"
        if emf_gb_max:
            detail += f" + {emf_gb_min:.2f}-{emf_gb_max:.2f} GB server metric documents"
        return (
            f"{detail} × ${price}/GB",
            (logs_gb + emf_gb_min) * price,
            (logs_gb + emf_gb_max) * price,
        )

    def storage() -> tuple[str, float, float]:
        price = prices.rate("cloudwatch_logs_storage_per_gb_month")
        kept = retention / 30
        return (
            f"{len(CONTAINER_INSIGHTS_LOG_GROUPS) + (1 if emf_gb_max else 0)} log groups, "
            f"{retention} days kept × ${price}/GB-month",
            (logs_gb + emf_gb_min) * kept * price,
            (logs_gb + emf_gb_max) * kept * price,
        )

    lines.append(_priced(prices, component, "Container Insights log ingestion", ingestion))
    lines.append(_priced(prices, component, "Container Insights log storage", storage))
    return lines


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
                prices,
                "network",
                "NAT gateways",
                lambda: (
                    f"{nats} × ${prices.rate('nat_gateway_hourly')}/h + public IPv4 "
                    f"${prices.rate('public_ipv4_hourly')}/h",
                    nats
                    * hours
                    * (prices.rate("nat_gateway_hourly") + prices.rate("public_ipv4_hourly")),
                ),
            )
        )
        lines.append(
            _flat(
                prices,
                "network",
                "NAT data processed",
                lambda: (
                    f"{usage.nat_data_gb_per_month:g} GB × ${prices.rate('nat_gateway_per_gb')}/GB",
                    usage.nat_data_gb_per_month * prices.rate("nat_gateway_per_gb"),
                ),
            )
        )
    if config.network.enable_interface_endpoints and config.network.interface_endpoints:
        count = len(config.network.interface_endpoints)
        azs = config.network.az_count
        lines.append(
            _flat(
                prices,
                "network",
                "interface endpoints",
                lambda: (
                    f"{count} endpoints × {azs} AZs × "
                    f"${prices.rate('interface_endpoint_hourly_per_az')}/h",
                    count * azs * hours * prices.rate("interface_endpoint_hourly_per_az"),
                ),
            )
        )
        lines.append(
            _flat(
                prices,
                "network",
                "interface endpoint data",
                lambda: (
                    f"{usage.interface_endpoint_data_gb_per_month:g} GB × "
                    f"${prices.rate('interface_endpoint_per_gb')}/GB",
                    usage.interface_endpoint_data_gb_per_month
                    * prices.rate("interface_endpoint_per_gb"),
                ),
            )
        )
    if config.network.enable_flow_logs:
        lines.append(_kms_key(prices, "network", "flow logs"))

    # Cluster.
    extended = config.cluster.kubernetes_version in catalog.EXTENDED_SUPPORT_VERSIONS
    plane_key = "eks_extended_support_cluster_hourly" if extended else "eks_cluster_hourly"
    lines.append(
        _flat(
            prices,
            "cluster",
            "EKS control plane",
            lambda: (
                f"1 × ${prices.rate(plane_key)}/h "
                f"({'extended' if extended else 'standard'} support)",
                hours * prices.rate(plane_key),
            ),
        )
    )
    lines.append(_kms_key(prices, "cluster", "secrets"))
    lines.append(_kms_key(prices, "cluster", "control-plane logs"))
    ingest = usage.log_ingestion_gb_per_month
    stored = ingest * config.cluster.log_retention_days / 30
    lines.append(
        _flat(
            prices,
            "cluster",
            "CloudWatch log ingestion",
            lambda: (
                f"{ingest:g} GB × ${prices.rate('cloudwatch_logs_ingestion_per_gb')}/GB",
                ingest * prices.rate("cloudwatch_logs_ingestion_per_gb"),
            ),
        )
    )
    lines.append(
        _flat(
            prices,
            "cluster",
            "CloudWatch log storage",
            lambda: (
                f"{stored:.0f} GB kept ({config.cluster.log_retention_days} days) × "
                f"${prices.rate('cloudwatch_logs_storage_per_gb_month')}/GB-month",
                stored * prices.rate("cloudwatch_logs_storage_per_gb_month"),
            ),
        )
    )

    # Node pools, in config order.
    for name, pool in config.node_pools.items():
        lines.extend(_pool_lines(name, pool, prices, config))

    # Model store.
    lines.append(
        _flat(
            prices,
            "model store",
            "S3 storage",
            lambda: (
                f"{usage.model_store_gb:g} GB × "
                f"${prices.rate('s3_standard_per_gb_month')}/GB-month",
                usage.model_store_gb * prices.rate("s3_standard_per_gb_month"),
            ),
        )
    )
    lines.append(
        _flat(
            prices,
            "model store",
            "ECR storage",
            lambda: (
                f"{usage.image_store_gb:g} GB × "
                f"${prices.rate('ecr_storage_per_gb_month')}/GB-month",
                usage.image_store_gb * prices.rate("ecr_storage_per_gb_month"),
            ),
        )
    )
    if config.model_store.kms_encryption:
        lines.append(_kms_key(prices, "model store", "bucket"))

    # Service exposure.
    service = config.service
    if service is not None and service.exposure != "cluster-ip":
        kind = "alb" if service.exposure.startswith("alb") else "nlb"

        def balancer() -> tuple[str, float]:
            hourly = prices.rate(f"{kind}_hourly")
            lcu = prices.rate(f"{kind}_lcu_hourly")
            return (
                f"1 × ${hourly}/h + {usage.load_balancer_lcu:g} LCU × ${lcu}/LCU-h",
                hours * (hourly + usage.load_balancer_lcu * lcu),
            )

        lines.append(_flat(prices, "service", f"{kind.upper()} ({service.exposure})", balancer))
        if service.exposure.endswith("internet-facing"):
            lb_azs = config.network.az_count
            lines.append(
                _flat(
                    prices,
                    "service",
                    "load balancer public IPv4",
                    lambda: (
                        f"{lb_azs} AZs × ${prices.rate('public_ipv4_hourly')}/h",
                        hours * lb_azs * prices.rate("public_ipv4_hourly"),
                    ),
                )
            )

    lines.extend(_observability_lines(config, prices))

    return Estimate(
        region=prices.region,
        prices_date=prices.date,
        currency=prices.currency,
        lines=tuple(lines),
        assumptions=usage.model_dump(by_alias=True),
    )


def format_estimate(result: Estimate) -> str:
    """The estimate as a terminal table: lines grouped by component, then the total; an
    unknown line shows why, a line priced from the fallback region shows from where."""
    rows: list[Sequence[str]] = []
    for component, (low, high) in result.by_component().items():
        rows.append((component, "", _money(low, high)))
        for line in (x for x in result.lines if x.component == component):
            if line.unknown is not None:
                rows.append(("", f"{line.item}: {line.unknown}", "unknown"))
                continue
            detail = f"{line.item}: {line.detail}"
            if line.fallback is not None:
                detail += f" [fallback: {line.fallback}]"
            rows.append(("", detail, _money(line.monthly_min, line.monthly_max)))
    low, high = result.total
    width = max(len(r[0]) + len(r[1]) for r in rows) + 4
    body = "\n".join(f"  {(r[0] or '   ' + r[1]):<{width}} {r[2]:>21}" for r in rows)
    notes = ""
    if result.fallbacks:
        notes += (
            f"  {len(result.fallbacks)} lines use the fallback region's prices: "
            f"{result.region} has none of its own in the price file; `make prices` "
            "fetches them\n"
        )
    total = "TOTAL"
    if result.unknown:
        total = f"TOTAL (without {len(result.unknown)} unknown lines)"
    return (
        f"Monthly cost estimate ({result.currency}, {result.region} prices of "
        f"{result.prices_date}; pools at min–max size):\n{body}\n"
        f"  {total:<{width}} {_money(low, high):>21}\n{notes}"
    )


def _money(low: float, high: float) -> str:
    if round(low, 2) == round(high, 2):
        return f"${low:,.2f}"
    return f"${low:,.2f} – ${high:,.2f}"
