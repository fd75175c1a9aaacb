"""The subnet plan: inside the VPC, never overlapping, stable when an AZ is added."""

from __future__ import annotations

import ipaddress
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.core.subnets import (
    AZ_SLOTS,
    MAX_AZS,
    NatStrategy,
    SubnetPlanError,
    nat_gateway_azs,
    nat_gateway_for,
    plan_subnets,
    required_addresses,
    subnet_cidrs,
)

AZ_NAMES = [f"us-east-1{c}" for c in "abcdef"]


@st.composite
def layouts(draw: st.DrawFn) -> tuple[ipaddress.IPv4Network, int, int]:
    vpc_prefix = draw(st.integers(16, 24))
    base = draw(st.integers(0, 2**32 - 1)) >> (32 - vpc_prefix) << (32 - vpc_prefix)
    vpc = ipaddress.IPv4Network((base, vpc_prefix))
    private = draw(st.integers(vpc_prefix + 1, 28))
    public = draw(st.integers(vpc_prefix + 1, 28))
    return vpc, private, public


def fits(vpc: ipaddress.IPv4Network, private: int, public: int, azs: int = AZ_SLOTS) -> bool:
    return required_addresses(vpc.prefixlen, private, public, azs) <= vpc.num_addresses


@settings(max_examples=300, deadline=None)
@given(layouts(), st.integers(1, MAX_AZS))
def test_subnets_are_inside_the_vpc_and_never_overlap(
    layout: tuple[ipaddress.IPv4Network, int, int], az_count: int
) -> None:
    vpc, private, public = layout
    if not fits(vpc, private, public, az_count):
        with pytest.raises(SubnetPlanError, match=str(vpc)):
            plan_subnets(vpc, AZ_NAMES[:az_count], private_prefix=private, public_prefix=public)
        return
    plan = plan_subnets(vpc, AZ_NAMES[:az_count], private_prefix=private, public_prefix=public)
    subnets = [s for az in plan for s in (az.private, az.public)]
    for subnet in subnets:
        assert subnet.subnet_of(vpc)
    for a, b in itertools.combinations(subnets, 2):
        assert not a.overlaps(b), (a, b)
    assert [az.private.prefixlen for az in plan] == [private] * az_count
    assert [az.public.prefixlen for az in plan] == [public] * az_count


@settings(max_examples=200, deadline=None)
@given(layouts(), st.integers(1, MAX_AZS - 1))
def test_adding_an_az_changes_no_existing_subnet(
    layout: tuple[ipaddress.IPv4Network, int, int], az_count: int
) -> None:
    vpc, private, public = layout
    if not fits(vpc, private, public, az_count + 1):
        return
    before = plan_subnets(vpc, AZ_NAMES[:az_count], private_prefix=private, public_prefix=public)
    after = plan_subnets(
        vpc, AZ_NAMES[: az_count + 1], private_prefix=private, public_prefix=public
    )
    assert after[:az_count] == before
    assert len(after) == az_count + 1


@settings(max_examples=100, deadline=None)
@given(layouts())
def test_the_plan_is_deterministic(layout: tuple[ipaddress.IPv4Network, int, int]) -> None:
    vpc, private, public = layout
    if not fits(vpc, private, public):
        return
    first = plan_subnets(vpc, AZ_NAMES[:3], private_prefix=private, public_prefix=public)
    assert first == plan_subnets(vpc, AZ_NAMES[:3], private_prefix=private, public_prefix=public)


def test_default_layout_of_a_slash_16() -> None:
    plan = plan_subnets("10.0.0.0/16", AZ_NAMES[:3], private_prefix=19, public_prefix=21)
    assert [str(az.private) for az in plan] == ["10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19"]
    assert [str(az.public) for az in plan] == ["10.0.128.0/21", "10.0.136.0/21", "10.0.144.0/21"]


def test_too_many_azs_and_repeated_azs_are_refused() -> None:
    with pytest.raises(SubnetPlanError, match="7 AZs"):
        plan_subnets("10.0.0.0/16", [*AZ_NAMES, "x"], private_prefix=19, public_prefix=21)
    with pytest.raises(SubnetPlanError, match="repeat"):
        plan_subnets("10.0.0.0/16", ["a", "a"], private_prefix=19, public_prefix=21)


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [("none", []), ("single", ["a"]), ("one-per-az", ["a", "b", "c"])],
)
def test_nat_gateway_placement(strategy: NatStrategy, expected: list[str]) -> None:
    assert nat_gateway_azs(["a", "b", "c"], strategy) == expected


def test_private_subnets_route_to_their_own_nat_when_there_is_one() -> None:
    assert nat_gateway_for("b", ["a", "b"], "one-per-az") == "b"
    assert nat_gateway_for("b", ["a", "b"], "single") == "a"
    assert nat_gateway_for("b", ["a", "b"], "none") is None
    with pytest.raises(ValueError, match="bogus"):
        nat_gateway_azs(["a"], "bogus")  # type: ignore[arg-type]  # an untyped caller's value


def test_subnet_cidrs_are_the_plan_without_az_names() -> None:
    private, public = subnet_cidrs("10.30.0.0/16", 3, private_prefix=19, public_prefix=21)
    plan = plan_subnets("10.30.0.0/16", ["a", "b", "c"], private_prefix=19, public_prefix=21)
    assert private == [str(s.private) for s in plan]
    assert public == [str(s.public) for s in plan]


def test_five_and_six_azs_keep_the_first_four_slots_where_they_were() -> None:
    """us-east-1 has six AZs. The first four slots keep the blocks they had when the
    plan stopped at four (these CIDRs are what deployed stacks have), and slots 5 and 6
    take blocks after them."""
    private, public = subnet_cidrs("10.0.0.0/16", 6, private_prefix=19, public_prefix=21)
    assert private == [
        "10.0.0.0/19",
        "10.0.32.0/19",
        "10.0.64.0/19",
        "10.0.96.0/19",
        "10.0.160.0/19",
        "10.0.192.0/19",
    ]
    assert public == [
        "10.0.128.0/21",
        "10.0.136.0/21",
        "10.0.144.0/21",
        "10.0.152.0/21",
        "10.0.224.0/21",
        "10.0.232.0/21",
    ]
    with pytest.raises(SubnetPlanError, match="7 AZs requested, the plan has 6 slots"):
        plan_subnets("10.0.0.0/16", [*AZ_NAMES, "x"], private_prefix=19, public_prefix=21)
