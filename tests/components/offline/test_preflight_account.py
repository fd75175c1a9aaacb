"""Preflight's account checks against moto, on the ready account of moto_account.py.

moto lacks EC2 and VPC quota values, EKS's public AMI parameters and
`DescribeAddonVersions`: see `moto_account.py` for exactly what is stubbed and how.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.core import DEFAULT_ACCOUNT_ID

from components.config import StackConfig, parse_stack_config
from components.offline.preflight import (
    Check,
)
from tests.components.offline.moto_account import (
    REGION,
    SESSION,
    Account,
    assert_ready,
    failed,
    ready_account,
    set_paths,
)
from tests.conftest import raw_stack_config

REPO_URL = f"{DEFAULT_ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/iris"


def prod(**changes: Any) -> StackConfig:
    return parse_stack_config(
        set_paths(raw_stack_config("prod"), changes), region=REGION, stack="prod"
    )


@pytest.fixture
def account(tmp_path: Path) -> Iterator[Account]:
    """A fresh moto account where the prod stack passes every check."""
    with ready_account(prod(), "prod", tmp_path) as ready:
        yield ready


def checks(account: Account, config: StackConfig | None = None) -> dict[str, Check]:
    return {c.name: c for c in account.run(config)}


def test_a_release_version_with_the_wrong_patch_fails(account: Account) -> None:
    """Same date, other patch: the image exists, but its published release differs."""
    release = account.config.node_pools["gpu"].release_version  # 1.35.7-20260827
    wrong = "1.35.3-" + release.rsplit("-", 1)[1]
    result = checks(account, prod(**{"nodePools.gpu.releaseVersion": wrong}))
    assert failed(result) == {"node AMI: pool gpu"}
    assert f"nodePools.gpu.releaseVersion {wrong}" in result["node AMI: pool gpu"].detail
    assert f"pin {release}" in result["node AMI: pool gpu"].detail


def test_a_chart_version_missing_from_its_repository_fails(account: Account) -> None:
    account.charts["clusterAutoscaler"] = ["9.58.0"]
    result = checks(account)
    assert failed(result) == {"chart cluster-autoscaler"}
    detail = result["chart cluster-autoscaler"].detail
    assert "cluster.clusterAutoscaler.version 9.59.0 is not in http://127.0.0.1:" in detail


def test_leftovers_of_an_earlier_cluster_fail(account: Account) -> None:
    SESSION.client("logs").create_log_group(logGroupName="/aws/eks/ml-prod/cluster")
    result = checks(account)
    assert failed(result) == {"leftover log group"}
    assert "/aws/eks/ml-prod/cluster exists" in result["leftover log group"].detail


def test_elastic_ips_past_the_quota_fail(account: Account) -> None:
    ec2 = SESSION.client("ec2")
    for _ in range(3):
        ec2.allocate_address(Domain="vpc")
    result = checks(account)
    assert failed(result) == {"quota EC2-VPC Elastic IPs"}
    assert "3 in use, network.natStrategy 'one-per-az' needs 3, quota 5" in (
        result["quota EC2-VPC Elastic IPs"].detail
    )


def test_a_ready_account_passes_every_check(account: Account) -> None:
    result = checks(account)
    assert_ready(result)
    assert {
        "chart cluster-autoscaler",
        "chart nvidia-device-plugin",
        "quota EC2-VPC Elastic IPs",
        "quota VPCs per Region",
        "leftover log group",
        "cluster name",
    } <= set(result)
    assert result["image"].status == "skipped"  # the stack builds and pushes its own image
    # Three NAT gateways (one per AZ) need three Elastic IPs; the quota is 5 here.
    assert "needs 3, quota 5" in result["quota EC2-VPC Elastic IPs"].detail
