"""The mocks kit itself: what users of the library rely on when they test their stacks."""

from __future__ import annotations

import re

import pulumi
import pulumi_aws as aws
import pytest

from components.config import ConfigError
from components.testing import (
    ACCOUNT_ID,
    PlatformMocks,
    StackRun,
    UnknownStackReferenceError,
    pulumi_test,
    run_program,
    run_stack,
)
from tests.conftest import ROOT


def test_records_type_name_inputs_parent_and_kind() -> None:
    class Box(pulumi.ComponentResource):
        def __init__(self, name: str) -> None:
            super().__init__("test:index:Box", name)
            aws.ec2.Vpc(
                f"{name}-vpc", cidr_block="10.1.0.0/16", opts=pulumi.ResourceOptions(parent=self)
            )
            self.register_outputs({})

    run = run_program(lambda: Box("box"))
    box, vpc = run.one("test:index:Box"), run.one("aws:ec2/vpc:Vpc")
    assert box.is_component and vpc.custom
    assert vpc.parent == box.urn
    assert vpc.inputs == {"cidrBlock": "10.1.0.0/16"}


def test_ids_and_arns_have_aws_shapes_and_are_deterministic() -> None:
    def program() -> None:
        vpc = aws.ec2.Vpc("vpc", cidr_block="10.1.0.0/16")
        aws.ec2.SecurityGroup("sg", vpc_id=vpc.id)
        aws.iam.Role("role", assume_role_policy="{}")
        aws.ecr.Repository("repo")

    first, second = run_program(program), run_program(program)
    vpc = first.one("aws:ec2/vpc:Vpc")
    assert re.fullmatch(r"vpc-0[0-9a-f]{16}", vpc.id or "")
    assert re.fullmatch(
        r"sg-0[0-9a-f]{16}", first.one("aws:ec2/securityGroup:SecurityGroup").id or ""
    )
    role = first.one("aws:iam/role:Role")
    assert role.outputs["arn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/{role.outputs['name']}"
    repo = first.one("aws:ecr/repository:Repository")
    assert repo.outputs["repositoryUrl"].startswith(
        f"{ACCOUNT_ID}.dkr.ecr.us-west-2.amazonaws.com/"
    )

    def by_urn(run: StackRun) -> list[dict[str, object]]:
        return [r.outputs for r in sorted(run.resources, key=lambda r: r.urn)]

    assert by_urn(first) == by_urn(second)


def test_numbers_come_back_as_ints() -> None:
    seen: list[object] = []

    def program() -> None:
        group = aws.cloudwatch.LogGroup("logs", retention_in_days=30)
        group.retention_in_days.apply(seen.append)

    run = run_program(program)
    assert run.one("aws:cloudwatch/logGroup:LogGroup").inputs["retentionInDays"] == 30
    assert seen == [30] and isinstance(seen[0], int)


def test_invokes_answer_with_the_region_and_account() -> None:
    answers: dict[str, object] = {}

    def program() -> None:
        answers["azs"] = aws.get_availability_zones().names
        answers["account"] = aws.get_caller_identity().account_id
        answers["region"] = aws.get_region().region

    run = run_program(program, mocks=PlatformMocks(region="eu-west-1", az_count=3))
    assert answers == {
        "azs": ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
        "account": ACCOUNT_ID,
        "region": "eu-west-1",
    }
    assert run.calls[0][0].endswith("getAvailabilityZones")


def test_run_stack_applies_the_stack_file_and_overrides() -> None:
    run = run_stack(
        "dev",
        project_dir=ROOT,
        config={
            "platform": {
                **__import__("tests.conftest").conftest.raw_stack_config("dev"),
                "environment": "staging",
            }
        },
    )
    assert run.one("aws:ec2/vpc:Vpc").inputs["tags"]["mlops:stack"] == "dev"
    assert run.outputs["vpcId"].startswith("vpc-")


def test_a_bad_config_fails_before_any_resource_is_registered() -> None:
    mocks = PlatformMocks()
    bad = __import__("tests.conftest").conftest.raw_stack_config("dev")
    bad["network"]["natStrategy"] = "sometimes"
    with pytest.raises(ConfigError, match="natStrategy"):
        run_stack("dev", project_dir=ROOT, mocks=mocks, config={"platform": bad})
    assert mocks.registrations == []


def test_custom_outputs_hook_for_the_users_own_types() -> None:
    mocks = PlatformMocks(outputs={"aws:ec2/vpc:Vpc": lambda name, inputs: {"ownerId": "999"}})
    run = run_program(lambda: aws.ec2.Vpc("v", cidr_block="10.0.0.0/16"), mocks=mocks)
    assert run.one("aws:ec2/vpc:Vpc").outputs["ownerId"] == "999"


def test_eks_cluster_outputs_are_realistic() -> None:
    outputs = PlatformMocks()._outputs("eks:index:Cluster", "eks", "k", "eks-1", "eks-1", {})
    assert outputs["oidcProviderArn"].startswith(
        f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/oidc.eks."
    )
    assert outputs["oidcProviderUrl"] == "https://" + outputs["oidcIssuer"]
    assert outputs["kubeconfig"]["clusters"][0]["cluster"]["server"].startswith("https://")


def test_a_stack_reference_reads_the_outputs_the_kit_was_given() -> None:
    def program() -> None:
        ref = pulumi.StackReference("platform", stack_name="org/platform/dev")
        pulumi.export("cluster", ref.get_output("clusterName"))
        pulumi.export("missing", ref.get_output("nothing"))

    mocks = PlatformMocks(stack_references={"org/platform/dev": {"clusterName": "ml-dev"}})
    run = run_program(program, mocks=mocks)
    assert run.outputs == {"cluster": "ml-dev", "missing": None}
    ref = run.one("pulumi:pulumi:StackReference")
    assert ref.read and ref.id == "org/platform/dev" and ref.custom


def test_an_unknown_stack_reference_fails_naming_it() -> None:
    def program() -> None:
        pulumi.StackReference("platform", stack_name="org/platform/prod")

    mocks = PlatformMocks(stack_references={"org/platform/dev": {}})
    with pytest.raises(UnknownStackReferenceError, match=r"'org/platform/prod'.*org/platform/dev"):
        run_program(program, mocks=mocks)


def test_pulumi_test_awaits_the_output_the_test_returns(kit: PlatformMocks) -> None:
    seen: list[str] = []

    @pulumi_test
    def check(suffix: str) -> pulumi.Output[None]:
        vpc = aws.ec2.Vpc(f"vpc-{suffix}", cidr_block="10.2.0.0/16")
        return vpc.id.apply(seen.append)

    assert check("a") is None
    assert len(seen) == 1 and seen[0].startswith("vpc-")
    assert [r.name for r in kit.registrations] == ["vpc-a"]
