"""The mocks kit: unit-test a Pulumi program or component offline, with realistic outputs.

Public API, for this repo's tests and for the stacks that import our components::

    from components.testing import PlatformMocks, run_stack

    run = run_stack("dev", project_dir=".")            # a whole stack program
    vpcs = run.by_type("aws:ec2/vpc:Vpc")
    assert vpcs[0].inputs["enableDnsHostnames"] is True

or, around a single component, with `PlatformMocks().install(...)` (or
`pulumi.runtime.set_mocks`) and `@pulumi_test`, the kit's typed `@pulumi.runtime.test`
(see `tests/components/test_model_store.py`).

A program that reads another stack (`pulumi.StackReference`) gets that stack's outputs
from `PlatformMocks(stack_references={"org/project/stack": outputs})`, for instance the
outputs of the platform's own offline run (`run_stack("dev", project_dir=...).outputs`);
see `examples/second-model/`. A reference the kit was not given fails the run, naming it.

`PlatformMocks` records every registration (type, name, inputs, parent URN, custom or
component), answers with outputs in AWS's formats (ids like `vpc-0…`, ARNs with a fixed
account and the stack's region, AZ names, SSM AMI parameters, the outputs of
`pulumi_eks.Cluster`, the digest a `pulumi_docker_build.Image` push answers), and,
with `moto=True`, also creates VPCs, subnets, route tables,
security groups, launch templates and IAM roles and policies in moto, so AWS's own
rules (overlapping CIDRs, malformed policy documents) fail the test with AWS's text.
Ids and physical names are derived from the URN, so two runs give identical results.

The kit in modules: `records` (what a run recorded), `mocks` (`PlatformMocks`, with AWS's
formats in `_aws` and the moto backing in `_moto`), `runner` (a program or a whole stack
under the mocks). Import from here.
"""

from __future__ import annotations

from components.testing._aws import ACCOUNT_ID
from components.testing.mocks import PlatformMocks
from components.testing.records import (
    Registration,
    StackRun,
    UnknownStackReferenceError,
    reveal_secrets,
)
from components.testing.runner import (
    load_stack_config_file,
    pulumi_test,
    run_program,
    run_stack,
)

__all__ = [
    "ACCOUNT_ID",
    "PlatformMocks",
    "Registration",
    "StackRun",
    "UnknownStackReferenceError",
    "load_stack_config_file",
    "pulumi_test",
    "reveal_secrets",
    "run_program",
    "run_stack",
]
