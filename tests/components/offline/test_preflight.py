"""Preflight against moto: every check passes on a ready account and fails when it should.

moto lacks EC2 and VPC quota values, EKS's public AMI parameters and
`DescribeAddonVersions`: see `moto_account.py` for exactly what is stubbed and how.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber
from moto.core import DEFAULT_ACCOUNT_ID

from components.config import StackConfig, parse_stack_config
from components.offline import preflight
from components.offline.preflight import (
    Check,
    format_table,
    node_ami_parameter,
    quota_class,
    run_checks,
)
from tests.components.offline.moto_account import (
    REGION,
    SESSION,
    Account,
    drop_parameter,
    ready_account,
)
from tests.conftest import ROOT, raw_stack_config

REPO_URL = f"{DEFAULT_ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/iris"


def prod(**changes: Any) -> StackConfig:
    raw = raw_stack_config("prod")
    raw["service"]["image"]["repository"] = REPO_URL
    for path, value in changes.items():
        target = raw
        *parents, last = path.split(".")
        for part in parents:
            target = target[part]
        target[last] = value
    return parse_stack_config(raw, region=REGION, stack="prod")


@pytest.fixture
def account(tmp_path: Path) -> Iterator[Account]:
    """A fresh moto account where the prod stack passes every check."""
    with ready_account(prod(), "prod", tmp_path) as ready:
        yield ready


def checks(account: Account, config: StackConfig | None = None) -> dict[str, Check]:
    return {c.name: c for c in account.run(config)}


def failed(result: dict[str, Check]) -> set[str]:
    return {name for name, c in result.items() if c.status == "fail"}


def test_a_ready_account_passes_every_check(account: Account) -> None:
    result = checks(account)
    assert failed(result) == set(), format_table(list(result.values()))
    assert result["credentials"].detail.startswith(f"account {DEFAULT_ACCOUNT_ID}")
    assert (
        result["availability zones"].detail == "using us-west-2a, us-west-2b, us-west-2c (first 3)"
    )
    assert {
        "instance types: pool gpu",
        "vCPU quota L-DB2E81BA",
        "add-on vpc-cni",
        "node AMI: pool gpu",
        "chart cluster-autoscaler",
        "chart nvidia-device-plugin",
        "quota EC2-VPC Elastic IPs",
        "quota VPCs per Region",
        "leftover log group",
        "cluster name",
    } <= set(result)
    # The GPU pool needs 4 × 4 vCPUs of the G and VT quota at its maximum size.
    assert "need 16 vCPUs" in result["vCPU quota L-DB2E81BA"].detail
    assert result["model object"].status == result["image"].status == "pass"
    # Three NAT gateways (one per AZ) need three Elastic IPs; the quota is 5 here.
    assert "needs 3, quota 5" in result["quota EC2-VPC Elastic IPs"].detail


def test_missing_credentials_fail_and_skip_the_rest(account: Account) -> None:
    sts = SESSION.client("sts")
    stubber = Stubber(sts)
    stubber.add_client_error("get_caller_identity", "ExpiredToken", "The token has expired")
    stubber.activate()
    result = run_checks(prod(), REGION, session=SESSION, clients={"sts": sts})
    assert [(c.name, c.status) for c in result] == [
        ("credentials", "fail"),
        ("everything else", "skipped"),
    ]
    assert "ExpiredToken" in result[0].detail


def test_an_az_the_region_lacks_fails(account: Account) -> None:
    result = checks(
        account, prod(**{"network.availabilityZones": ["us-west-2a", "us-west-2z", "us-west-2c"]})
    )
    assert "availability zones" in failed(result)
    assert "us-west-2z" in result["availability zones"].detail


def test_an_instance_type_missing_from_an_az_fails(account: Account) -> None:
    # moto's offerings (from AWS) have no g5.xlarge in us-west-2d.
    azs = ["us-west-2a", "us-west-2b", "us-west-2d"]
    result = checks(account, prod(**{"network.availabilityZones": azs}))
    assert failed(result) == {"instance types: pool gpu"}
    assert "g5.xlarge in us-west-2d" in result["instance types: pool gpu"].detail


def test_a_quota_below_the_pools_maximum_fails(account: Account) -> None:
    account.quotas["L-DB2E81BA"] = 8.0
    result = checks(account)
    assert failed(result) == {"vCPU quota L-DB2E81BA"}
    assert "quota 8" in result["vCPU quota L-DB2E81BA"].detail


def test_spot_pools_are_held_to_the_spot_quota(tmp_path: Path) -> None:
    config = parse_stack_config(raw_stack_config("dev"), region=REGION, stack="dev")
    with ready_account(config, "dev", tmp_path) as account:
        account.quotas["L-34B43A08"] = 4.0
        result = checks(account)
    # dev's cpu pool is SPOT: 4 nodes × 2 vCPUs = 8 > 4.
    assert failed(result) == {"vCPU quota L-34B43A08"}


def test_an_unpublished_kubernetes_version_fails(account: Account) -> None:
    version = account.config.cluster.kubernetes_version
    drop_parameter(
        f"/aws/service/eks/optimized-ami/{version}/amazon-linux-2023/x86_64/standard/"
        "recommended/image_id"
    )
    result = checks(account)
    assert failed(result) == {"Kubernetes version"}
    assert f"no EKS AL2023 AMI for {version}" in result["Kubernetes version"].detail


def test_a_release_version_that_was_never_published_fails(account: Account) -> None:
    release = account.config.node_pools["gpu"].release_version.rsplit("-", 1)[0] + "-20990101"
    result = checks(account, prod(**{"nodePools.gpu.releaseVersion": release}))
    assert failed(result) == {"node AMI: pool gpu"}
    detail = result["node AMI: pool gpu"].detail
    assert "amazon-eks-node-al2023-x86_64-nvidia-1.35-v20990101" in detail


def test_a_release_version_with_the_wrong_patch_fails(account: Account) -> None:
    """Same date, other patch: the image exists, but its published release differs."""
    release = account.config.node_pools["gpu"].release_version  # 1.35.7-20260827
    wrong = "1.35.3-" + release.rsplit("-", 1)[1]
    result = checks(account, prod(**{"nodePools.gpu.releaseVersion": wrong}))
    assert failed(result) == {"node AMI: pool gpu"}
    assert f"nodePools.gpu.releaseVersion {wrong}" in result["node AMI: pool gpu"].detail
    assert f"pin {release}" in result["node AMI: pool gpu"].detail


def test_node_ami_parameters_follow_the_published_layout() -> None:
    assert node_ami_parameter("1.35", "al2023", "arm64", False, "1.35.0-20251209") == (
        "/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/arm64/standard/"
        "amazon-eks-node-al2023-arm64-standard-1.35-v20251209/image_id"
    )
    assert node_ami_parameter("1.35", "bottlerocket", "x86_64", True, "1.50.0-abcdef12") == (
        "/aws/service/bottlerocket/aws-k8s-1.35-nvidia/x86_64/1.50.0-abcdef12/image_id"
    )


def test_an_addon_version_that_does_not_exist_fails(account: Account) -> None:
    account.eks.versions["coredns"] = ["v0.0.1-eksbuild.1"]
    result = checks(account)
    assert failed(result) == {"add-on coredns"}
    pinned = account.config.cluster.addons.coredns
    assert f"{pinned} is not offered" in result["add-on coredns"].detail


def test_a_missing_model_object_fails_and_no_bucket_skips(account: Account) -> None:
    result = checks(account, prod(**{"service.modelPrefix": "iris/2"}))
    assert failed(result) == {"model object"}
    assert "s3://models/iris/2/" in result["model object"].detail
    skipped = run_checks(prod(), REGION, session=SESSION, clients={"eks": account.eks})
    assert next(c for c in skipped if c.name == "model object").status == "skipped"


def test_a_missing_image_tag_fails(account: Account) -> None:
    result = checks(account, prod(**{"service.image.tag": "0.2.0"}))
    assert failed(result) == {"image"}


def test_the_stacks_own_repository_is_found_by_its_tags(account: Account) -> None:
    raw = raw_stack_config("prod")
    own = parse_stack_config(raw, region=REGION, stack="prod")
    result = checks(account, own)
    assert result["image"].status == "skipped"
    assert result["service image"].status == "pass"
    assert "model-store-images-prod has 0.1.0" in result["service image"].detail
    raw["service"]["image"]["tag"] = "0.2.0"
    result = checks(account, parse_stack_config(raw, region=REGION, stack="prod"))
    assert failed(result) == {"service image"}
    assert "service.image 0.2.0" in result["service image"].detail


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


def test_main_prints_a_table_and_exits_1_on_a_failure(
    account: Account, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # main() uses real boto3 clients: moto answers DescribeAddonVersions with "not
    # implemented", so the add-on checks fail; the chart indexes are not fetched here.
    def offline(url: str) -> bytes:
        raise OSError(f"offline test: {url}")

    monkeypatch.setattr(preflight, "_fetch", offline)
    assert preflight.main(["--stack", "prod", "--project-dir", str(ROOT)]) == 1
    out = capsys.readouterr().out
    assert "PASS" in out and "FAIL" in out and "SKIP" in out
    assert "add-on vpc-cni" in out


def test_quota_classes() -> None:
    assert [quota_class(t) for t in ("c7i.large", "t3.large", "g6.xlarge", "p5.48xlarge")] == [
        "standard",
        "standard",
        "g",
        "p",
    ]
    assert quota_class("inf2.xlarge") is None
