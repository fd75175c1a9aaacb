"""The VPC's subnet plan: pure, deterministic, keyed by AZ position.

Each AZ owns a fixed slot: the AZ at position ``i`` in the stack's AZ list always
gets the ``i``-th private block and the ``i``-th public block. Adding an AZ at the
end of the list therefore adds subnets and never moves an existing one (which
would replace it, and every node in it). The first ``AZ_SLOTS`` slots are always
reserved (the VPC must hold them), so growth to four AZs never renumbers.

Layout inside the VPC: private blocks first (they hold nodes and pods, so they are
large), then the public blocks (load balancers and NAT gateways only), aligned to
their own size. Regions with more AZs (us-east-1 has six) use ``EXTRA_SLOTS`` more
slots placed after that layout, private blocks then public ones, so the first
``AZ_SLOTS`` keep their blocks whatever the AZ count. What is left stays free.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

AZ_SLOTS = 4
#: Slots after the first layout, for regions with more than four AZs.
EXTRA_SLOTS = 2
#: The most AZs a stack can use: every slot of the plan.
MAX_AZS = AZ_SLOTS + EXTRA_SLOTS

NatStrategy = Literal["none", "single", "one-per-az"]
"""none: no NAT (private subnets reach AWS only through endpoints); single: one NAT
gateway for all AZs; one-per-az: one per AZ, so an AZ outage leaves the others online."""


class SubnetPlanError(ValueError):
    """The requested subnet sizes do not fit the VPC."""


@dataclass(frozen=True)
class AzSubnets:
    """The two subnets of one availability zone."""

    az: str
    slot: int
    private: ipaddress.IPv4Network
    public: ipaddress.IPv4Network


def _align(value: int, size: int) -> int:
    return -(-value // size) * size


def _offsets(private_prefix: int, public_prefix: int, slot: int) -> tuple[int, int]:
    """The private and public block offsets of `slot` from the VPC's first address."""
    private_size = 2 ** (32 - private_prefix)
    public_size = 2 ** (32 - public_prefix)
    public_start = _align(AZ_SLOTS * private_size, public_size)
    if slot < AZ_SLOTS:
        return slot * private_size, public_start + slot * public_size
    extra = slot - AZ_SLOTS
    extra_private = _align(public_start + AZ_SLOTS * public_size, private_size)
    extra_public = _align(extra_private + EXTRA_SLOTS * private_size, public_size)
    return extra_private + extra * private_size, extra_public + extra * public_size


def required_addresses(
    vpc_prefix: int, private_prefix: int, public_prefix: int, az_count: int = AZ_SLOTS
) -> int:
    """How many addresses the slot layout needs for `az_count` AZs (at least the first
    `AZ_SLOTS` slots, kept free for growth), counted from the VPC's start."""
    if private_prefix < vpc_prefix or public_prefix < vpc_prefix:
        return int(2 ** (32 - vpc_prefix)) + 1
    last = max(az_count, AZ_SLOTS) - 1
    private, public = _offsets(private_prefix, public_prefix, last)
    return int(max(private + 2 ** (32 - private_prefix), public + 2 ** (32 - public_prefix)))


def check_fits(
    vpc: ipaddress.IPv4Network, private_prefix: int, public_prefix: int, az_count: int = AZ_SLOTS
) -> None:
    """Raise `SubnetPlanError` naming the sizes when the layout exceeds the VPC."""
    needed = required_addresses(vpc.prefixlen, private_prefix, public_prefix, az_count)
    if needed > vpc.num_addresses:
        slots = max(az_count, AZ_SLOTS)
        raise SubnetPlanError(
            f"{slots} private /{private_prefix} and {slots} public /{public_prefix} "
            f"subnets need {needed} addresses but VPC {vpc} has {vpc.num_addresses}"
        )


def plan_subnets(
    vpc_cidr: str | ipaddress.IPv4Network,
    azs: list[str],
    *,
    private_prefix: int,
    public_prefix: int,
) -> list[AzSubnets]:
    """The private and public subnet of each AZ, in the order of `azs`."""
    vpc = ipaddress.IPv4Network(vpc_cidr)
    if len(azs) > MAX_AZS:
        raise SubnetPlanError(f"{len(azs)} AZs requested, the plan has {MAX_AZS} slots")
    if len(set(azs)) != len(azs):
        raise SubnetPlanError(f"AZs repeat: {azs}")
    check_fits(vpc, private_prefix, public_prefix, len(azs))
    base = int(vpc.network_address)
    plan = []
    for slot, az in enumerate(azs):
        private, public = _offsets(private_prefix, public_prefix, slot)
        plan.append(
            AzSubnets(
                az=az,
                slot=slot,
                private=ipaddress.IPv4Network((base + private, private_prefix)),
                public=ipaddress.IPv4Network((base + public, public_prefix)),
            )
        )
    return plan


def nat_gateway_count(az_count: int, strategy: NatStrategy) -> int:
    """How many NAT gateways (and Elastic IPs) a network of `az_count` AZs has."""
    return {"none": 0, "single": 1, "one-per-az": az_count}[strategy]


def nat_gateway_azs(azs: list[str], strategy: NatStrategy) -> list[str]:
    """The AZs that hold a NAT gateway: none, the first AZ only, or every AZ."""
    if strategy == "none":
        return []
    if strategy == "single":
        return azs[:1]
    if strategy == "one-per-az":
        return list(azs)
    raise ValueError(f"unknown NAT strategy {strategy!r}")


def nat_gateway_for(az: str, azs: list[str], strategy: NatStrategy) -> str | None:
    """The AZ whose NAT gateway the private subnets of `az` route through, if any."""
    nat_azs = nat_gateway_azs(azs, strategy)
    if not nat_azs:
        return None
    return az if az in nat_azs else nat_azs[0]


def subnet_cidrs(
    vpc_cidr: str, az_count: int, *, private_prefix: int, public_prefix: int
) -> tuple[list[str], list[str]]:
    """The private and the public subnets' CIDRs, in AZ order: the plan without AZ names
    (a slot's blocks depend on its position only, not on the AZ it lands in)."""
    plan = plan_subnets(
        vpc_cidr,
        [f"slot-{i}" for i in range(az_count)],
        private_prefix=private_prefix,
        public_prefix=public_prefix,
    )
    return [str(s.private) for s in plan], [str(s.public) for s in plan]
