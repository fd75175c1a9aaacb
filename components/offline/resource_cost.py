"""The monthly cost of what any program of our components registered, priced by kind.

The preview prices a stack with the platform's config from that config
(`core.cost.estimate`); a consumer's own program, which has none, from its resources here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from components.core.config import CostAssumptions
from components.core.cost import CostError, CostLine, Estimate, PriceTable
from components.testing import Registration

__all__ = ["resource_estimate"]


def _component_of(resource: Registration, index: Mapping[str, Registration]) -> str:
    """The name of the nearest of our components above `resource`, else its type."""
    parent = resource.parent
    while parent and parent in index:
        if index[parent].type.startswith("mlops:"):
            return index[parent].name
        parent = index[parent].parent
    return resource.type


def resource_estimate(
    resources: Sequence[Registration],
    prices: PriceTable,
    usage: CostAssumptions | None = None,
) -> Estimate:
    """The monthly cost of what a program registered, for the kinds the price table knows.

    For programs without the platform's stack config (a consumer's own stack): NAT
    gateways, EKS control planes, managed node groups (first instance type on demand, the
    list's average less the spot discount on spot), interface endpoints per subnet, KMS
    keys, the load balancers that Ingresses and LoadBalancer Services ask for, CloudWatch
    alarms (per metric they read) and dashboards. Usage (data, LCUs) takes
    `CostAssumptions`' defaults.
    """
    usage = usage or CostAssumptions()
    hours = prices.hours_per_month
    index = {r.urn: r for r in resources}
    lines: list[CostLine] = []

    def flat(r: Registration, item: str, detail: str, monthly: float) -> None:
        lines.append(CostLine(_component_of(r, index), item, detail, monthly, monthly))

    for r in sorted(resources, key=lambda r: r.urn):
        if r.read:
            continue
        if r.type == "aws:ec2/natGateway:NatGateway":
            rate = prices.rate("nat_gateway_hourly") + prices.rate("public_ipv4_hourly")
            flat(r, "NAT gateway", f"{r.name}: ${rate:.3f}/h with its IPv4", hours * rate)
        elif r.type in ("eks:index:Cluster", "aws:eks/cluster:Cluster"):
            rate = prices.rate("eks_cluster_hourly")
            flat(r, "EKS control plane", f"{r.name}: ${rate}/h", hours * rate)
        elif r.type == "aws:eks/nodeGroup:NodeGroup":
            types = [str(t) for t in r.inputs.get("instanceTypes") or []]
            scaling = r.inputs.get("scalingConfig") or {}
            if not types:
                continue
            where = f"node group {r.name}"
            try:
                listed = [prices.instance(t, where) for t in types]
            except CostError as exc:  # unknown, with the reason: never a zero, never a stop
                lines.append(CostLine(_component_of(r, index), "nodes", r.name, 0, 0, str(exc)))
                continue
            if r.inputs.get("capacityType") == "SPOT":
                each = sum(listed) / len(listed)
                each *= 1 - usage.spot_discount
                basis = f"spot, average of {len(types)} types less {usage.spot_discount:.0%}"
            else:
                each = listed[0]
                basis = f"on demand {types[0]}"
            low, high = int(scaling.get("minSize", 0)), int(scaling.get("maxSize", 0))
            lines.append(
                CostLine(
                    _component_of(r, index),
                    "nodes",
                    f"{r.name}: {low}-{high} × ${each:.4f}/h ({basis})",
                    low * hours * each,
                    high * hours * each,
                )
            )
        elif r.type == "aws:ec2/vpcEndpoint:VpcEndpoint":
            if r.inputs.get("vpcEndpointType") == "Interface":
                azs = len(r.inputs.get("subnetIds") or []) or 1
                rate = prices.rate("interface_endpoint_hourly_per_az")
                detail = f"{r.name}: {azs} AZs × ${rate}/h"
                flat(r, "interface endpoint", detail, azs * hours * rate)
        elif r.type == "aws:kms/key:Key":
            flat(r, "KMS key", r.name, prices.rate("kms_key_month"))
        elif r.type == "aws:cloudwatch/metricAlarm:MetricAlarm":
            queries = r.inputs.get("metricQueries") or []
            # A metric-math alarm is billed per metric it reads (CloudWatch pricing).
            metrics = sum(1 for q in queries if q.get("metric")) if queries else 1
            rate = prices.rate("cloudwatch_alarm_metric_month")
            flat(r, "CloudWatch alarm", f"{r.name}: {metrics} × ${rate}/metric", metrics * rate)
        elif r.type == "aws:cloudwatch/dashboard:Dashboard":
            rate = prices.rate("cloudwatch_dashboard_month")
            flat(r, "CloudWatch dashboard", r.name, rate)
        elif r.type == "kubernetes:networking.k8s.io/v1:Ingress":
            rate = prices.rate("alb_hourly") + usage.load_balancer_lcu * prices.rate(
                "alb_lcu_hourly"
            )
            detail = f"{r.name}: ALB ${rate:.4f}/h with {usage.load_balancer_lcu:g} LCU"
            flat(r, "load balancer", detail, hours * rate)
        elif (
            r.type == "kubernetes:core/v1:Service"
            and (r.inputs.get("spec") or {}).get("type") == "LoadBalancer"
        ):
            rate = prices.rate("nlb_hourly") + usage.load_balancer_lcu * prices.rate(
                "nlb_lcu_hourly"
            )
            detail = f"{r.name}: NLB ${rate:.4f}/h with {usage.load_balancer_lcu:g} LCU"
            flat(r, "load balancer", detail, hours * rate)
    return Estimate(
        region=prices.region,
        prices_date=prices.date,
        currency=prices.currency,
        lines=tuple(lines),
        assumptions={
            "source": "registered resources (no platform stack config)",
            "spotDiscount": usage.spot_discount,
            "loadBalancerLcu": usage.load_balancer_lcu,
        },
    )
