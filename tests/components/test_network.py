"""Network under the mocks kit: what each stack's config turns into."""

from __future__ import annotations

import ipaddress
import itertools

import pytest

from components.network import Network, NetworkArgs
from components.testing import PlatformMocks, run_program
from tests.components.conftest import shared_run

SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"
ROUTE = "aws:ec2/route:Route"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"


stack = shared_run


def network_args(**overrides: object) -> NetworkArgs:
    values: dict[str, object] = dict(
        vpc_cidr="10.0.0.0/16",
        az_count=2,
        nat_strategy="single",
        private_subnet_prefix=19,
        public_subnet_prefix=21,
        tags={"team": "ml"},
    )
    values.update(overrides)
    return NetworkArgs(**values)  # type: ignore[arg-type]


def test_dev_has_one_nat_gateway_and_prod_one_per_az() -> None:
    assert len(stack("dev").by_type(NAT)) == 1
    prod = stack("prod")
    nats = prod.by_type(NAT)
    public = {
        s.outputs["id"]: s.inputs["availabilityZone"]
        for s in prod.by_type(SUBNET)
        if s.name.startswith("network-public-")
    }
    assert sorted(public[n.inputs["subnetId"]] for n in nats) == [
        "us-west-2a",
        "us-west-2b",
        "us-west-2c",
    ]


def test_private_subnets_route_through_the_nat_of_their_own_az_in_prod() -> None:
    prod = stack("prod")
    nat_by_id = {n.outputs["id"]: n.name for n in prod.by_type(NAT)}
    private_defaults = [r for r in prod.by_type(ROUTE) if r.name.startswith("network-private-")]
    assert len(private_defaults) == 3
    for route in private_defaults:
        az = route.name.removeprefix("network-private-").removesuffix("-default")
        assert nat_by_id[route.inputs["natGatewayId"]] == f"network-nat-{az}"


def test_subnets_follow_the_plan_and_stay_inside_the_vpc() -> None:
    for name in ("dev", "prod"):
        run = stack(name)
        vpc = run.one("aws:ec2/vpc:Vpc")
        assert vpc.inputs["enableDnsSupport"] is True and vpc.inputs["enableDnsHostnames"] is True
        network = ipaddress.IPv4Network(vpc.inputs["cidrBlock"])
        cidrs = [ipaddress.IPv4Network(s.inputs["cidrBlock"]) for s in run.by_type(SUBNET)]
        assert all(c.subnet_of(network) for c in cidrs)
        assert not any(a.overlaps(b) for a, b in itertools.combinations(cidrs, 2))
        assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in run.by_type(SUBNET))


def test_discovery_tags_for_load_balancers_and_the_cluster() -> None:
    run = stack("dev")
    for subnet in run.by_type(SUBNET):
        tags = subnet.inputs["tags"]
        assert tags["kubernetes.io/cluster/ml-dev"] == "shared"
        if "-public-" in subnet.name:
            assert tags["kubernetes.io/role/elb"] == "1"
            assert "kubernetes.io/role/internal-elb" not in tags
        else:
            assert tags["kubernetes.io/role/internal-elb"] == "1"
            assert "kubernetes.io/role/elb" not in tags


def test_s3_gateway_endpoint_always_and_interface_endpoints_only_when_enabled() -> None:
    dev_endpoints = stack("dev").by_type(ENDPOINT)
    assert [e.inputs["serviceName"] for e in dev_endpoints] == ["com.amazonaws.us-west-2.s3"]
    assert dev_endpoints[0].inputs["vpcEndpointType"] == "Gateway"
    assert len(dev_endpoints[0].inputs["routeTableIds"]) == 2
    prod = {
        e.inputs["serviceName"].removeprefix("com.amazonaws.us-west-2."): e
        for e in stack("prod").by_type(ENDPOINT)
    }
    assert sorted(prod) == ["ec2", "ecr.api", "ecr.dkr", "logs", "s3", "sts"]
    assert all(e.inputs["privateDnsEnabled"] for k, e in prod.items() if k != "s3")
    rule = stack("prod").one(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "network-endpoints-https"
    )
    assert rule.inputs["cidrIpv4"] == "10.30.0.0/16" and rule.inputs["fromPort"] == 443


def test_flow_logs_only_in_prod_with_retention_and_a_scoped_role() -> None:
    assert not stack("dev").by_type("aws:ec2/flowLog:FlowLog")
    prod = stack("prod")
    flow_log = prod.one("aws:ec2/flowLog:FlowLog")
    group = prod.one("aws:cloudwatch/logGroup:LogGroup", "network-flow-logs")
    assert group.inputs["retentionInDays"] == 90
    assert flow_log.inputs["logDestination"] == group.outputs["arn"]
    key = prod.one("aws:kms/key:Key", "network-flow-logs")
    assert group.inputs["kmsKeyId"] == key.outputs["arn"]
    assert (
        "logs." in key.inputs["policy"]
        and "kms:EncryptionContext:aws:logs:arn" in (key.inputs["policy"])
    )
    policy = prod.one("aws:iam/rolePolicy:RolePolicy", "network-flow-logs").inputs["policy"]
    assert group.outputs["arn"] in policy and '"Resource":"*"' not in policy


def test_vpc_id_and_subnets_by_az_are_exported() -> None:
    outputs = stack("prod").outputs
    assert outputs["vpcId"].startswith("vpc-0") and len(outputs["vpcId"]) == 21
    assert sorted(outputs["privateSubnetIds"]) == ["us-west-2a", "us-west-2b", "us-west-2c"]
    assert all(v.startswith("subnet-0") for v in outputs["publicSubnetIds"].values())


def test_adding_a_third_az_keeps_existing_subnet_cidrs() -> None:
    def build(count: int) -> dict[str, str]:
        run = run_program(lambda: Network("net", network_args(az_count=count)))
        return {s.name: s.inputs["cidrBlock"] for s in run.by_type(SUBNET)}

    two, three = build(2), build(3)
    assert len(three) == 6
    assert {k: three[k] for k in two} == two


def test_explicit_azs_are_used_as_given_and_no_nat_means_no_default_route() -> None:
    run = run_program(
        lambda: Network(
            "net",
            network_args(availability_zones=["us-west-2c", "us-west-2a"], nat_strategy="none"),
        )
    )
    private = [s for s in run.by_type(SUBNET) if "-private-" in s.name]
    assert [
        s.inputs["availabilityZone"] for s in sorted(private, key=lambda s: s.inputs["cidrBlock"])
    ] == ["us-west-2c", "us-west-2a"]
    assert not run.by_type(NAT)
    assert [r.name for r in run.by_type(ROUTE)] == ["net-public-default"]


def test_moto_backing_accepts_our_network() -> None:
    mocks = PlatformMocks(moto=True)
    try:
        run = run_program(lambda: Network("net", network_args(az_count=3)), mocks=mocks)
        vpc_id = run.one("aws:ec2/vpc:Vpc").id
        assert vpc_id and vpc_id.startswith("vpc-")
        assert (
            len(
                mocks._moto.ec2.describe_subnets(  # type: ignore[union-attr]
                    Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
                )["Subnets"]
            )
            == 6
        )
    finally:
        mocks.close()


def test_moto_backing_rejects_an_overlapping_subnet_with_aws_error_text() -> None:
    import pulumi_aws as aws

    def program() -> None:
        vpc = aws.ec2.Vpc("vpc", cidr_block="10.0.0.0/16")
        aws.ec2.Subnet("a", vpc_id=vpc.id, cidr_block="10.0.0.0/24", availability_zone="us-west-2a")
        aws.ec2.Subnet(
            "b", vpc_id=vpc.id, cidr_block="10.0.0.128/25", availability_zone="us-west-2a"
        )

    mocks = PlatformMocks(moto=True)
    try:
        with pytest.raises(Exception, match=r"InvalidSubnet\.Conflict"):
            run_program(program, mocks=mocks)
    finally:
        mocks.close()


def test_moto_backing_rejects_a_subnet_outside_the_vpc() -> None:
    import pulumi_aws as aws

    def program() -> None:
        vpc = aws.ec2.Vpc("vpc", cidr_block="10.0.0.0/16")
        aws.ec2.Subnet("a", vpc_id=vpc.id, cidr_block="10.1.0.0/24", availability_zone="us-west-2a")

    mocks = PlatformMocks(moto=True)
    try:
        with pytest.raises(Exception, match=r"InvalidSubnet\.Range"):
            run_program(program, mocks=mocks)
    finally:
        mocks.close()


def test_network_exposes_its_subnet_cidrs_as_plain_strings() -> None:
    box: dict[str, Network] = {}

    def program() -> None:
        box["network"] = Network("n", network_args())

    run = run_program(program, project="consumer", stack="unit")
    network = box["network"]
    by_name = {r.name: r.inputs["cidrBlock"] for r in run.by_type(SUBNET)}
    assert network.private_subnet_cidrs == [by_name[f"n-private-{az}"] for az in network.azs]
    assert network.public_subnet_cidrs == [by_name[f"n-public-{az}"] for az in network.azs]
    assert network.public_subnet_cidrs == ["10.0.128.0/21", "10.0.136.0/21"]


def test_only_real_availability_zones_are_asked_for() -> None:
    run = run_program(lambda: Network("net", network_args()))
    _, args = next(c for c in run.calls if c[0].endswith("getAvailabilityZones"))
    assert args["state"] == "available"
    assert args["filters"] == [{"name": "zone-type", "values": ["availability-zone"]}]
