"""Preflight against moto: every check passes on a ready account and fails when it should.

moto lacks EC2 vCPU quotas, EKS's public AMI parameters and `DescribeAddonVersions`; the
quotas and parameters are seeded through moto's backends, the add-on versions answered by
moto_account.py's wrapper of the EKS client.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

import pytest
from botocore.stub import Stubber
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ssm.models import ssm_backends

from components.config import StackConfig, parse_stack_config
from components.offline import preflight
from components.offline.preflight import (
    ADDON_NAMES,
    Check,
    node_ami_parameter,
    principal_of,
    quota_class,
    run_checks,
)
from components.offline.preflight.base import ClientFactory
from tests.components.offline.moto_account import (
    ENOUGH,
    REGION,
    SESSION,
    EksWithAddonVersions,
    assert_ready,
    failed,
    moto_environment,
    push_image,
    seed_parameter,
    set_paths,
)
from tests.components.offline.moto_account import (
    deployer_sts as sts_of,
)
from tests.conftest import ROOT, raw_stack_config

REPO_URL = f"{DEFAULT_ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/iris"
IMAGE: dict[str, str] = {}
"""The digest moto gave the pushed image (set by the `moto_account` fixture)."""
CLIENT = cast(ClientFactory, SESSION.client)
"""`SESSION.client` as the checks take it: boto3's stubs type it by literal service name only."""


@pytest.fixture(scope="module")
def moto_account() -> Iterator[dict[str, Any]]:
    """A moto account with the EKS AMI parameter for 1.35, a model and an image."""
    quotas = dict(ENOUGH)
    with moto_environment(quotas):
        seed_ami("1.35")
        for stack in ("dev", "prod"):
            config = parse_stack_config(raw_stack_config(stack))
            for pool in config.node_pools.values():
                seed_ami("1.35", node_ami(config, pool))
        s3 = SESSION.client("s3")
        s3.create_bucket(Bucket="models", CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_object(Bucket="models", Key="iris/1/model.onnx", Body=b"onnx")
        SESSION.client("ecr").create_repository(repositoryName="iris")
        IMAGE["digest"] = push_image("iris", "0.1.0")
        yield {"quotas": quotas}


@pytest.fixture
def account(moto_account: dict[str, Any]) -> dict[str, Any]:
    """The shared moto account with its quotas back to plenty."""
    moto_account["quotas"].clear()
    moto_account["quotas"].update(ENOUGH)
    return moto_account


def seed_ami(version: str, name: str | None = None) -> None:
    name = name or (
        f"/aws/service/eks/optimized-ami/{version}/amazon-linux-2023/x86_64/standard/"
        "recommended/image_id"
    )
    seed_parameter(name, "ami-0eks135")


def node_ami(config: StackConfig, pool: Any) -> str:
    return node_ami_parameter(
        config.cluster.kubernetes_version,
        pool.os,
        pool.architecture,
        pool.is_gpu,
        pool.release_version,
    )


def stub_addons(config: StackConfig, *, missing: str | None = None) -> Any:
    """moto's EKS client, answering DescribeAddonVersions (which moto lacks) with the
    pinned versions; DescribeCluster and the rest go to moto."""
    pinned = config.cluster.addons.model_dump()
    versions = {
        addon: ["v0.0.1-eksbuild.1" if addon == missing else pinned[field]]
        for field, addon in ADDON_NAMES.items()
    }
    return EksWithAddonVersions(SESSION.client("eks"), versions)


def chart_indexes(config: StackConfig) -> Any:
    """index.yaml of each chart repository listing the pinned version (the real HTTP
    fetch is tested in test_preflight_account.py against a local server)."""

    def fetch(url: str) -> bytes:
        cluster = config.cluster
        pinned = {
            "cluster-autoscaler": cluster.cluster_autoscaler.version,
            "nvidia-device-plugin": cluster.nvidia_device_plugin.version,
            "aws-load-balancer-controller": cluster.aws_load_balancer_controller.version,
        }
        entries = {name: [{"version": version}] for name, version in pinned.items()}
        return json.dumps({"entries": entries}).encode()

    return fetch


def prod(**changes: Any) -> StackConfig:
    raw = raw_stack_config("prod")
    raw["service"]["image"].update(repository=REPO_URL, digest=IMAGE["digest"])
    return parse_stack_config(set_paths(raw, changes))


def deployer_sts(role: str = "ml-platform-admin", path: str = "/") -> Any:
    """An STS client whose caller is session `ci-42` of `role` (created with `path`)."""
    return sts_of(role, path, session_name="ci-42")


def checks(config: StackConfig, **kwargs: Any) -> dict[str, Check]:
    clients = {
        "eks": kwargs.pop("eks", None) or stub_addons(config),
        "sts": kwargs.pop("sts", None) or deployer_sts(),
        **kwargs.pop("clients", {}),
    }
    kwargs.setdefault("fetch", chart_indexes(config))
    result = run_checks(
        config, REGION, session=SESSION, clients=clients, model_bucket="models", **kwargs
    )
    return {c.name: c for c in result}


def test_a_ready_account_passes_every_check(account: dict[str, Any]) -> None:
    result = checks(prod())
    assert_ready(result)
    assert result["image"].status == "pass"


def test_missing_credentials_fail_and_skip_the_rest(account: dict[str, Any]) -> None:
    sts = SESSION.client("sts")
    stubber = Stubber(sts)
    stubber.add_client_error("get_caller_identity", "ExpiredToken", "The token has expired")
    stubber.activate()
    config = prod()
    result = run_checks(
        config, REGION, session=SESSION, clients={"sts": sts, "eks": stub_addons(config)}
    )
    assert [(c.name, c.status) for c in result] == [
        ("credentials", "fail"),
        ("everything else", "skipped"),
    ]
    assert "ExpiredToken" in result[0].detail


def test_an_az_the_region_lacks_fails(account: dict[str, Any]) -> None:
    result = checks(
        prod(**{"network.availabilityZones": ["us-west-2a", "us-west-2z", "us-west-2c"]})
    )
    assert "availability zones" in failed(result)
    assert "us-west-2z" in result["availability zones"].detail


def test_an_instance_type_missing_from_an_az_fails(account: dict[str, Any]) -> None:
    # moto's offerings (from AWS) have no g5.xlarge in us-west-2d.
    azs = ["us-west-2a", "us-west-2b", "us-west-2d"]
    result = checks(prod(**{"network.availabilityZones": azs}))
    assert failed(result) == {"instance types: pool gpu"}
    assert "g5.xlarge in us-west-2d" in result["instance types: pool gpu"].detail


def test_a_quota_below_the_pools_maximum_fails(account: dict[str, Any]) -> None:
    account["quotas"]["L-DB2E81BA"] = 8.0
    result = checks(prod())
    assert failed(result) == {"vCPU quota L-DB2E81BA"}
    assert "quota 8" in result["vCPU quota L-DB2E81BA"].detail


def test_spot_pools_are_held_to_the_spot_quota(account: dict[str, Any]) -> None:
    account["quotas"]["L-34B43A08"] = 4.0
    config = parse_stack_config(raw_stack_config("dev"))
    result = checks(config)
    # dev's cpu pool is SPOT: 4 nodes × 2 vCPUs = 8 > 4.
    assert failed(result) == {"vCPU quota L-34B43A08"}


def test_an_unpublished_kubernetes_version_fails(account: dict[str, Any]) -> None:
    config = prod()
    version = config.cluster.kubernetes_version
    name = (
        f"/aws/service/eks/optimized-ami/{version}/amazon-linux-2023/x86_64/standard/"
        "recommended/image_id"
    )
    parameters = ssm_backends[DEFAULT_ACCOUNT_ID][REGION]._parameters
    saved = parameters.pop(name)
    try:
        result = checks(config)
    finally:
        parameters[name] = saved
    assert failed(result) == {"Kubernetes version"}
    assert f"no EKS AL2023 AMI for {version}" in result["Kubernetes version"].detail


def test_a_release_version_that_was_never_published_fails(account: dict[str, Any]) -> None:
    config = prod()
    release = config.node_pools["gpu"].release_version.rsplit("-", 1)[0] + "-20990101"
    result = checks(prod(**{"nodePools.gpu.releaseVersion": release}))
    assert failed(result) == {"node AMI: pool gpu"}
    detail = result["node AMI: pool gpu"].detail
    assert "amazon-eks-node-al2023-x86_64-nvidia-1.35-v20990101" in detail


def test_node_ami_parameters_follow_the_published_layout() -> None:
    assert node_ami_parameter("1.35", "al2023", "arm64", False, "1.35.0-20251209") == (
        "/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/arm64/standard/"
        "amazon-eks-node-al2023-arm64-standard-1.35-v20251209/image_id"
    )
    assert node_ami_parameter("1.35", "bottlerocket", "x86_64", True, "1.50.0-abcdef12") == (
        "/aws/service/bottlerocket/aws-k8s-1.35-nvidia/x86_64/1.50.0-abcdef12/image_id"
    )


def test_an_addon_version_that_does_not_exist_fails(account: dict[str, Any]) -> None:
    config = prod()
    result = checks(config, eks=stub_addons(config, missing="coredns"))
    assert failed(result) == {"add-on coredns"}
    pinned = config.cluster.addons.coredns
    assert f"{pinned} is not offered" in result["add-on coredns"].detail


def test_a_missing_model_object_fails_and_no_bucket_skips(account: dict[str, Any]) -> None:
    result = checks(prod(**{"service.modelPrefix": "iris/2"}))
    assert failed(result) == {"model object"}
    assert "s3://models/iris/2/" in result["model object"].detail
    config = prod()
    skipped = run_checks(config, REGION, session=SESSION, clients={"eks": stub_addons(config)})
    assert next(c for c in skipped if c.name == "model object").status == "skipped"


def test_a_missing_image_digest_fails_and_no_repository_skips(account: dict[str, Any]) -> None:
    result = checks(prod(**{"service.image.digest": "sha256:" + "d" * 64}))
    assert failed(result) == {"image"}
    raw = raw_stack_config("prod")
    result = checks(parse_stack_config(raw))
    assert result["image"].status == "skipped"
    assert "builds serving/Dockerfile" in result["image"].detail
    assert result["image pull"].status == "skipped"


SHARED = "210987654321.dkr.ecr.us-west-2.amazonaws.com/shared/server"


def shared_ecr(policy: dict[str, Any] | None) -> Any:
    """An ECR client answering for another account's repository (moto keeps one
    account per backend and ignores `registryId`; botocore's Stubber still validates
    each request and response against the ECR API model)."""
    client = SESSION.client("ecr")
    stubber = Stubber(client)
    digest = IMAGE["digest"]
    stubber.add_response(
        "describe_images",
        {"imageDetails": [{"registryId": "210987654321", "imageDigest": digest}]},
        {
            "registryId": "210987654321",
            "repositoryName": "shared/server",
            "imageIds": [{"imageDigest": digest}],
        },
    )
    expected = {"registryId": "210987654321", "repositoryName": "shared/server"}
    if policy is None:
        stubber.add_client_error(
            "get_repository_policy",
            "RepositoryPolicyNotFoundException",
            "Repository policy does not exist",
            expected_params=expected,
        )
    else:
        stubber.add_response(
            "get_repository_policy",
            {**expected, "policyText": json.dumps(policy)},
            expected,
        )
    stubber.activate()
    return client


def _pull_policy(principal: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "pull",
                "Effect": "Allow",
                "Principal": {"AWS": principal},
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            }
        ],
    }


def test_the_nodes_can_pull_an_image_of_this_account_or_one_shared_with_it(
    account: dict[str, Any],
) -> None:
    """An existing image is proven to exist and to be pullable."""
    same = checks(prod())
    assert same["image pull"].status == "pass"
    assert f"in this account ({DEFAULT_ACCOUNT_ID})" in same["image pull"].detail
    shared = prod(**{"service.image.repository": SHARED})
    allowed = checks(
        shared, clients={"ecr": shared_ecr(_pull_policy(f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:root"))}
    )
    assert allowed["image"].status == "pass"
    assert allowed["image pull"].status == "pass", allowed["image pull"].detail


def test_an_image_of_another_account_that_does_not_share_it_fails(
    account: dict[str, Any],
) -> None:
    shared = prod(**{"service.image.repository": SHARED})
    other = checks(
        shared, clients={"ecr": shared_ecr(_pull_policy("arn:aws:iam::999999999999:root"))}
    )
    assert other["image pull"].status == "fail"
    assert f"to arn:aws:iam::{DEFAULT_ACCOUNT_ID}:root" in other["image pull"].detail
    none = checks(shared, clients={"ecr": shared_ecr(None)})
    assert none["image pull"].status == "fail"
    assert "RepositoryPolicyNotFoundException" in none["image pull"].detail


def test_main_prints_a_table_and_exits_1_on_a_failure(
    account: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the Stubber, moto answers DescribeAddonVersions with "not implemented";
    # the chart indexes are not fetched in a test.
    def offline(url: str) -> bytes:
        raise OSError(f"offline test: {url}")

    monkeypatch.setattr(preflight.base, "_fetch", offline)
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


def create_node_group(
    eks: Any, cluster: str, pool: str, *, minimum: int, desired: int, maximum: int
) -> str:
    """A node group as the stack makes it: auto-named, labelled with its pool."""
    name = f"pool-{pool}-ng-4f1c2a9"
    eks.create_nodegroup(
        clusterName=cluster,
        nodegroupName=name,
        nodeRole=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/pool-{pool}-node",
        subnets=["subnet-0123456789abcdef0"],
        labels={"mlops.dev/pool": pool, "mlops.dev/accelerator": "none"},
        scalingConfig={"minSize": minimum, "desiredSize": desired, "maxSize": maximum},
    )
    return name


def test_raising_min_size_above_the_live_desired_size_fails_with_the_fix(
    account: dict[str, Any],
) -> None:
    """EKS's UpdateNodegroupConfig refuses min > desired ("Minimum capacity 3 can't be
    greater than desired size 1"), and the update Pulumi sends carries the recorded
    desired size (it is in `ignore_changes`); moto stands in for the live node groups
    (ListNodegroups, DescribeNodegroup), found by their pool label, not their name."""
    raw = raw_stack_config("dev")
    cluster = raw["cluster"]["name"]
    eks = SESSION.client("eks")
    eks.create_cluster(
        name=cluster,
        roleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/cluster",
        resourcesVpcConfig={"subnetIds": ["subnet-0123456789abcdef0"]},
    )
    try:
        cpu = create_node_group(eks, cluster, "cpu", minimum=1, desired=1, maximum=4)
        create_node_group(eks, cluster, "system", minimum=1, desired=2, maximum=3)
        eks.create_nodegroup(  # not ours: no pool label, ignored
            clusterName=cluster,
            nodegroupName="other",
            nodeRole=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/other",
            subnets=["subnet-0123456789abcdef0"],
        )

        def sizes(raw_config: dict[str, Any]) -> dict[str, Check]:
            found = preflight.Preflight(
                parse_stack_config(raw_config), REGION, CLIENT
            ).node_group_sizes()
            return {c.name: c for c in found}

        unchanged = sizes(raw)
        assert {c.status for c in unchanged.values()} == {"pass"}, unchanged

        raw["nodePools"]["cpu"]["minSize"] = 3
        result = sizes(raw)
        check = result["node group size: pool cpu"]
        assert check.status == "fail"
        assert result["node group size: pool system"].status == "pass"
        command = (
            f"aws eks update-nodegroup-config --region {REGION} --cluster-name {cluster} "
            f"--nodegroup-name {cpu} --scaling-config minSize=3,maxSize=4,desiredSize=3"
        )
        assert f"run `{command}`, then `pulumi up --refresh`" in check.detail
        assert "live desired size 1" in check.detail

        # The printed command, run against the live group, makes the check pass.
        eks.update_nodegroup_config(
            clusterName=cluster,
            nodegroupName=cpu,
            scalingConfig={"minSize": 3, "maxSize": 4, "desiredSize": 3},
        )
        assert sizes(raw)["node group size: pool cpu"].status == "pass"

        # A pool the autoscaler does not own sends its configured size: nothing to fix.
        raw["nodePools"]["system"].update(autoscaled=False, minSize=3, desiredSize=3)
        assert sizes(raw)["node group size: pool system"].status == "pass"
    finally:
        for name in eks.list_nodegroups(clusterName=cluster)["nodegroups"]:
            eks.delete_nodegroup(clusterName=cluster, nodegroupName=name)
        eks.delete_cluster(name=cluster)


def test_no_cluster_yet_skips_the_node_group_sizes(account: dict[str, Any]) -> None:
    config = parse_stack_config(raw_stack_config("dev"))
    (check,) = preflight.Preflight(config, REGION, CLIENT).node_group_sizes()
    assert check.status == "skipped" and "not created yet" in check.detail


def test_the_deployer_session_resolves_to_its_role_with_its_path(
    account: dict[str, Any],
) -> None:
    """An assumed-role session (`arn:aws:sts::ACCT:assumed-role/NAME/SESSION`) is its role,
    path included (the session ARN drops it): that is the principal EKS maps."""
    role = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/deploy/ml-deployer"
    admins = [role, f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/ml-platform-breakglass"]
    result = checks(
        prod(**{"cluster.adminPrincipalArns": admins}),
        sts=deployer_sts("ml-deployer", "/deploy/"),
    )
    check = result["deployer access"]
    assert check.status == "pass", check.detail
    assert check.detail.startswith(f"{role} (session arn:aws:sts::{DEFAULT_ACCOUNT_ID}:")
    assert "assumed-role/ml-deployer/ci-42" in check.detail
    assert principal_of(f"arn:aws:sts::{DEFAULT_ACCOUNT_ID}:assumed-role/x/s", "/a/b/") == (
        f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/a/b/x"
    )
    assert principal_of(f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:user/me") == (
        f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:user/me"
    )


def test_a_listed_deployer_with_creator_admin_on_fails_with_the_fix(
    account: dict[str, Any],
) -> None:
    """pulumi-eks would add a second access entry for the same principal and EKS refuses
    it: ResourceInUseException (pulumi/pulumi-eks#2373)."""
    result = checks(prod(**{"cluster.bootstrapCreatorAdmin": True}))
    check = result["deployer access"]
    assert check.status == "fail"
    assert f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/ml-platform-admin" in check.detail
    assert "ResourceInUseException" in check.detail and "pulumi/pulumi-eks#2373" in check.detail
    assert "Fix: set cluster.bootstrapCreatorAdmin: false" in check.detail


def test_an_unlisted_deployer_without_creator_admin_fails_with_the_fix(
    account: dict[str, Any],
) -> None:
    """No access entry maps the caller: the first Kubernetes object fails Unauthorized."""
    result = checks(prod(), sts=deployer_sts("someone-else"))
    check = result["deployer access"]
    assert check.status == "fail"
    role = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/someone-else"
    assert "Unauthorized" in check.detail
    assert f"Fix: add {role} to cluster.adminPrincipalArns" in check.detail
    # The same deployer is fine when it is the bootstrap creator admin instead.
    ok = checks(prod(**{"cluster.bootstrapCreatorAdmin": True}), sts=deployer_sts("someone-else"))
    assert ok["deployer access"].status == "pass"
    assert "(bootstrapCreatorAdmin)" in ok["deployer access"].detail


def test_the_stacks_assumed_role_is_the_deployer(account: dict[str, Any]) -> None:
    """With `aws:assumeRoles`, the AWS provider (and so EKS) acts as that role, whoever
    runs preflight: the check judges the role."""
    config = prod()
    role = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/ml-platform-admin"
    result = run_checks(
        config,
        REGION,
        session=SESSION,
        clients={"eks": stub_addons(config), "sts": deployer_sts("someone-else")},
        deployer_role_arn=role,
    )
    check = next(c for c in result if c.name == "deployer access")
    assert check.status == "pass", check.detail
    assert check.detail.startswith(f"{role} (the stack's aws:assumeRoles)")
