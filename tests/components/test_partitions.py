"""Partitions: a stack in China (aws-cn) or GovCloud (aws-us-gov) names what it uses there.

The kit answers `aws.get_partition`, `aws.get_region` and `aws.ec2.get_vpc_endpoint_service`
per region, as those partitions do: China's DNS suffix is `amazonaws.com.cn` and most of its
interface endpoint services are `cn.com.amazonaws.<region>.<svc>` (`aws ec2
describe-vpc-endpoint-services` in cn-north-1; aws-cdk#16139); ARNs start `arn:aws-cn:` and
`arn:aws-us-gov:` (AWS General Reference, "Amazon Resource Names", partition).
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from components.testing import StackRun, run_stack
from tests.conftest import ROOT, raw_stack_config

ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"

CASES = {
    "cn-north-1": ("aws-cn", "amazonaws.com.cn"),
    "us-gov-west-1": ("aws-us-gov", "amazonaws.com"),
}


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
        if value.startswith(("{", "[")):
            with contextlib.suppress(ValueError):
                yield from strings(json.loads(value))
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


@pytest.fixture(scope="module", params=sorted(CASES))
def run(request: pytest.FixtureRequest) -> StackRun:
    region = request.param
    partition, _ = CASES[region]
    platform = copy.deepcopy(raw_stack_config("dev"))
    platform["network"]["enableInterfaceEndpoints"] = True
    platform["cluster"]["adminPrincipalArns"] = [
        f"arn:{partition}:iam::123456789012:role/ml-platform-admin"
    ]
    return run_stack("dev", project_dir=ROOT, config={"aws:region": region, "platform": platform})


def region_of(run: StackRun) -> str:
    """The region the run was made in, from the repository URL the kit answered."""
    return str(run.outputs["modelRepositoryUrl"].split(".")[3])


def test_endpoint_service_names_come_from_the_region(run: StackRun) -> None:
    region = region_of(run)
    names = {e.name: e.inputs["serviceName"] for e in run.by_type(ENDPOINT)}
    if region.startswith("cn-"):
        assert names["network-s3"] == f"com.amazonaws.{region}.s3"
        assert names["network-ecr-api"] == f"cn.com.amazonaws.{region}.ecr.api"
        assert names["network-sts"] == f"cn.com.amazonaws.{region}.sts"
    else:
        assert names["network-s3"] == f"com.amazonaws.{region}.s3"
        assert names["network-ecr-dkr"] == f"com.amazonaws.{region}.ecr.dkr"


def test_kms_via_service_uses_the_partitions_dns_suffix(run: StackRun) -> None:
    region = region_of(run)
    _, suffix = CASES[region]
    policies = [
        json.loads(p.inputs["policy"])
        for p in run.by_type("aws:iam/rolePolicy:RolePolicy")
        if "model-reader" in p.name
    ]
    (statement,) = [s for p in policies for s in p["Statement"] if s["Action"] == "kms:Decrypt"]
    assert statement["Condition"]["StringEquals"]["kms:ViaService"] == f"s3.{region}.{suffix}"


def test_every_arn_is_in_the_partition(run: StackRun) -> None:
    partition, _ = CASES[region_of(run)]
    arns = {s for r in run.resources for s in strings(r.inputs) if s.startswith("arn:")}
    assert arns
    wrong = sorted(a for a in arns if not a.startswith(f"arn:{partition}:"))
    assert not wrong, wrong
    assert any(re.match(rf"arn:{partition}:iam::aws:policy/", a) for a in arns)
