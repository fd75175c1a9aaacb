"""The whole platform under the mocks kit: properties every resource of both stacks has."""

from __future__ import annotations

import importlib
import inspect
from functools import cache

import pytest

from components.testing import StackRun, run_stack
from tests.conftest import ROOT

STACKS = ("dev", "prod")


@cache
def stack(name: str) -> StackRun:
    return run_stack(name, project_dir=ROOT)


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
