"""The VPC's subnet plan: pure, deterministic, keyed by AZ position.

Each AZ owns a fixed slot: the AZ at position ``i`` in the stack's AZ list always
gets the ``i``-th private block and the ``i``-th public block. Adding an AZ at the
end of the list therefore adds subnets and never moves an existing one (which
would replace it, and every node in it). ``AZ_SLOTS`` slots are reserved, one more
than the largest AZ count the config allows, so growth never renumbers.

Layout inside the VPC: private blocks first (they hold nodes and pods, so they are
large), then the public blocks (load balancers and NAT gateways only), aligned to
their own size. What is left stays free for later use.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

AZ_SLOTS = 4


class SubnetPlanError(ValueError):
    """The requested subnet sizes do not fit the VPC."""


@dataclass(frozen=True)
class AzSubnets:
    """The two subnets of one availability zone."""

    az: str
    slot: int
    private: ipaddress.IPv4Network
    public: ipaddress.IPv4Network


def required_addresses(vpc_prefix: int, private_prefix: int, public_prefix: int) -> int:
    """How many addresses the slot layout needs, counted from the VPC's start."""
    if private_prefix < vpc_prefix or public_prefix < vpc_prefix:
        return int(2 ** (32 - vpc_prefix)) + 1
    private_size = 2 ** (32 - private_prefix)
    public_size = 2 ** (32 - public_prefix)
    public_start = -(-AZ_SLOTS * private_size // public_size) * public_size
    return int(public_start + AZ_SLOTS * public_size)


def check_fits(vpc: ipaddress.IPv4Network, private_prefix: int, public_prefix: int) -> None:
    """Raise `SubnetPlanError` naming the sizes when the layout exceeds the VPC."""
    needed = required_addresses(vpc.prefixlen, private_prefix, public_prefix)
    if needed > vpc.num_addresses:
        raise SubnetPlanError(
            f"{AZ_SLOTS} private /{private_prefix} and {AZ_SLOTS} public /{public_prefix} "
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
    if len(azs) > AZ_SLOTS:
        raise SubnetPlanError(f"{len(azs)} AZs requested, the plan has {AZ_SLOTS} slots")
    if len(set(azs)) != len(azs):
        raise SubnetPlanError(f"AZs repeat: {azs}")
    check_fits(vpc, private_prefix, public_prefix)
    base = int(vpc.network_address)
    private_size = 2 ** (32 - private_prefix)
    public_size = 2 ** (32 - public_prefix)
    public_start = -(-AZ_SLOTS * private_size // public_size) * public_size
    return [
        AzSubnets(
            az=az,
            slot=slot,
            private=ipaddress.IPv4Network((base + slot * private_size, private_prefix)),
            public=ipaddress.IPv4Network((base + public_start + slot * public_size, public_prefix)),
        )
        for slot, az in enumerate(azs)
    ]


def nat_gateway_azs(azs: list[str], strategy: str) -> list[str]:
    """The AZs that hold a NAT gateway: none, the first AZ only, or every AZ."""
    if strategy == "none":
        return []
    if strategy == "single":
        return azs[:1]
    if strategy == "one-per-az":
        return list(azs)
    raise ValueError(f"unknown NAT strategy {strategy!r}")


def nat_gateway_for(az: str, azs: list[str], strategy: str) -> str | None:
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
