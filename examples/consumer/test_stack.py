"""The consumer's own unit test, written with the mocks kit the library ships."""

from __future__ import annotations

from pathlib import Path

from components.testing import PlatformMocks, run_stack

HERE = Path(__file__).parent


def test_sandbox_network_uses_its_own_config() -> None:
    run = run_stack("sandbox", project_dir=HERE, mocks=PlatformMocks(region="eu-west-1"))
    vpc = run.one("aws:ec2/vpc:Vpc")
    assert vpc.inputs["cidrBlock"] == "10.99.0.0/20"
    subnets = run.by_type("aws:ec2/subnet:Subnet")
    assert sorted(s.inputs["availabilityZone"] for s in subnets if "-private-" in s.name) == [
        "eu-west-1a",
        "eu-west-1b",
    ]
    assert all(s.inputs["tags"]["team"] == "research" for s in subnets)
    assert not run.by_type("aws:ec2/natGateway:NatGateway")
    assert set(run.outputs["privateSubnetIds"]) == {"eu-west-1a", "eu-west-1b"}


def test_consumer_can_back_the_network_with_moto() -> None:
    mocks = PlatformMocks(region="eu-west-1", moto=True)
    try:
        run = run_stack("sandbox", project_dir=HERE, mocks=mocks)
    finally:
        mocks.close()
    vpc_id = run.one("aws:ec2/vpc:Vpc").id
    assert vpc_id is not None and vpc_id.startswith("vpc-")
