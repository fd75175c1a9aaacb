"""The whole platform under the mocks kit: properties every resource of both stacks has."""

from __future__ import annotations

import importlib
import inspect
from functools import cache
from typing import Any

import pulumi
import pytest

from components.testing import PlatformMocks, run_stack
from tests.components.conftest import shared_run
from tests.conftest import ROOT

STACKS = ("dev", "prod")
ATTACH = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"


stack = shared_run


@cache
def takes_tags(type_token: str) -> bool:
    """Whether the pulumi_aws resource class of `type_token` has a `tags` argument."""
    package, module_path, class_name = type_token.split(":")
    module_name = module_path.split("/")[0]
    qualified = f"pulumi_{package}" if module_name == "index" else f"pulumi_{package}.{module_name}"
    args_class = getattr(importlib.import_module(qualified), f"{class_name}Args")
    return "tags" in inspect.signature(args_class.__init__).parameters


@pytest.mark.parametrize("name", STACKS)
def test_every_resource_has_a_parent_chain_up_to_the_platform(name: str) -> None:
    run = stack(name)
    for resource in run.resources:
        if resource.type == "mlops:platform:Platform":
            continue
        chain = run.ancestors(resource)
        assert chain, f"{resource.type} {resource.name} has no parent component"
        assert chain[-1].type == "mlops:platform:Platform"
        assert all(not r.custom for r in chain)


@pytest.mark.parametrize("name", STACKS)
def test_every_taggable_aws_resource_carries_project_stack_and_component_tags(name: str) -> None:
    checked = 0
    for resource in stack(name).resources:
        if not resource.type.startswith("aws:") or not takes_tags(resource.type):
            continue
        checked += 1
        tags = resource.inputs.get("tags")
        assert tags, f"{resource.type} {resource.name} has no tags"
        assert tags["mlops:project"] == "mlops-platform"
        assert tags["mlops:stack"] == name
        assert tags["mlops:component"]
        assert tags["owner"] == "ml-platform"
    assert checked > 10


def test_the_tag_check_knows_untaggable_types() -> None:
    assert takes_tags("aws:ec2/vpc:Vpc")
    assert not takes_tags("aws:ec2/routeTableAssociation:RouteTableAssociation")


class _GovCloudMocks(PlatformMocks):
    """The mocks kit, answering `getPartition` as an AWS GovCloud account would."""

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        result = super().call(args)
        if args.token == "aws:index/getPartition:getPartition":
            result = {**result, "partition": "aws-us-gov", "id": "aws-us-gov"}
        return result


def test_aws_managed_arns_follow_the_partition() -> None:
    """Node-role policies and access policies outside `aws` (China, GovCloud)."""
    mocks = _GovCloudMocks()
    try:
        run = run_stack("prod", project_dir=ROOT, mocks=mocks)
    finally:
        mocks.close()
    # AWS-managed policies (account `aws`); our own policies' ARNs come from the mocks.
    managed = [
        a.inputs["policyArn"]
        for a in run.by_type(ATTACH)
        if ":iam::aws:policy/" in a.inputs["policyArn"]
    ]
    assert len(managed) >= 3
    assert all(arn.startswith("arn:aws-us-gov:iam::aws:policy/") for arn in managed), managed
    entries = run.one("eks:index:Cluster").inputs["accessEntries"].values()
    for entry in entries:
        for policy in entry["accessPolicies"].values():
            assert policy["policyArn"].startswith("arn:aws-us-gov:eks::aws:cluster-access-policy/")


@pytest.mark.parametrize("name", STACKS)
def test_every_resource_keeps_its_recorded_urn(name: str) -> None:
    """A changed URN (type, name or parent) makes `pulumi up` replace the resource: an IAM
    role, a node group or the cluster, in every user's stack. Refactors keep them.

    The lists were recorded before the IRSA and add-on helpers were introduced. After an
    intended rename or a new resource, regenerate and review the diff:
    `.venv/bin/python -c 'import sys; from components.testing import run_stack;
    print(*sorted(r.urn for r in run_stack(sys.argv[1]).resources), sep="\\n")' dev
    > tests/components/data/urns_dev.txt` (and prod).
    """
    recorded = (ROOT / "tests" / "components" / "data" / f"urns_{name}.txt").read_text()
    assert sorted(r.urn for r in stack(name).resources) == recorded.split("\n")[:-1]
