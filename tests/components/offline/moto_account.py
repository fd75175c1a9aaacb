"""A ready AWS account under moto for `make preflight`, and what moto lacks, stubbed.

moto answers every call preflight makes except three, stubbed here and only these:

- Service Quotas' EC2 and VPC quota values (moto has no defaults for these codes):
  `ServiceQuotasBackend.get_service_quota` answers from a dict;
- EKS `DescribeAddonVersions` (not implemented by moto): the EKS client is wrapped so that
  call answers from a dict of versions, every other EKS call goes to moto;
- the public `/aws/service/eks/...` SSM parameters (AWS publishes them; an account cannot
  create `/aws/...` names): seeded straight into moto's SSM backend.

The Helm repositories' index.yaml files are served by a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import datetime
import functools
import http.server
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import boto3
import pytest
import yaml
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.servicequotas.models import ServiceQuotasBackend
from moto.ssm.models import Parameter, ssm_backends

from components.core.config import StackConfig
from components.offline import preflight
from components.offline.preflight import ADDON_NAMES, CHART_REPOSITORIES, node_ami_parameter

# Final, so its type is the literal that boto3's stubs want as a bucket's LocationConstraint.
REGION: Final = "us-west-2"
PROJECT = "mlops-platform"
SESSION = boto3.session.Session(region_name=REGION)
"""One session for every client: botocore caches its service models per session."""

#: Plenty of every quota preflight reads.
ENOUGH: dict[str, float] = {
    **{code: 1000.0 for code, _ in preflight.QUOTAS.values()},
    **{code: 5.0 for _, code, _ in preflight.ACCOUNT_QUOTAS.values()},
}


def seed_parameter(name: str, value: str) -> None:
    ssm_backends[DEFAULT_ACCOUNT_ID][REGION]._parameters[name].append(
        Parameter(
            account_id=DEFAULT_ACCOUNT_ID,
            name=name,
            value=value,
            parameter_type="String",
            description=None,
            allowed_pattern=None,
            keyid=None,
            last_modified_date=datetime.datetime(2026, 11, 1),
            version=1,
            data_type="text",
        )
    )


def drop_parameter(name: str) -> None:
    ssm_backends[DEFAULT_ACCOUNT_ID][REGION]._parameters.pop(name, None)


def seed_stack_amis(config: StackConfig) -> None:
    """The recommended AMI of the cluster's version and each pool's pinned release."""
    version = config.cluster.kubernetes_version
    seed_parameter(
        f"/aws/service/eks/optimized-ami/{version}/amazon-linux-2023/x86_64/standard/"
        "recommended/image_id",
        "ami-0eks",
    )
    for pool in config.node_pools.values():
        parameter = node_ami_parameter(
            version, pool.os, pool.architecture, pool.is_gpu, pool.release_version
        )
        seed_parameter(parameter, "ami-0eks")
        if pool.os == "al2023":
            seed_parameter(
                parameter.removesuffix("/image_id") + "/release_version", pool.release_version
            )


class EksWithAddonVersions:
    """moto's EKS client, with `describe_addon_versions` (which moto lacks) from a dict."""

    def __init__(self, client: Any, versions: Mapping[str, list[str]]) -> None:
        self._client = client
        self.versions = dict(versions)

    def describe_addon_versions(self, *, addonName: str, kubernetesVersion: str) -> Any:  # noqa: N803
        return {
            "addons": [
                {
                    "addonName": addonName,
                    "addonVersions": [
                        {"addonVersion": v} for v in self.versions.get(addonName, [])
                    ],
                }
            ]
        }

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def chart_server(root: Path) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving `root`; yields its base URL."""
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def write_chart_indexes(root: Path, charts: Mapping[str, list[str]]) -> dict[str, str]:
    """index.yaml of each chart repository under `root/<key>/`; returns key -> folder."""
    folders = {}
    for key, (chart, _) in CHART_REPOSITORIES.items():
        folder = root / key
        folder.mkdir(parents=True, exist_ok=True)
        entries = {chart: [{"name": chart, "version": v} for v in charts.get(key, [])]}
        (folder / "index.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "entries": entries}))
        folders[key] = key
    return folders


class Account:
    """A ready moto account for one stack config, and the knobs a test turns."""

    def __init__(
        self,
        config: StackConfig,
        stack: str,
        charts_url: str,
        root: Path,
        *,
        quotas: dict[str, float],
    ) -> None:
        self.config = config
        self.stack = stack
        self.quotas = quotas
        """The quota values Service Quotas answers (`moto_environment`'s)."""
        self.root = root
        self.extra: dict[str, Any] = {}
        self.charts = {
            "clusterAutoscaler": [config.cluster.cluster_autoscaler.version],
            "nvidiaDevicePlugin": [config.cluster.nvidia_device_plugin.version],
            "awsLoadBalancerController": [config.cluster.aws_load_balancer_controller.version],
        }
        self.chart_repositories = {key: f"{charts_url}/{key}" for key in CHART_REPOSITORIES}
        pinned = config.cluster.addons.model_dump()
        self.eks = EksWithAddonVersions(
            SESSION.client("eks"), {addon: [pinned[f]] for f, addon in ADDON_NAMES.items()}
        )

    def publish_charts(self) -> None:
        write_chart_indexes(self.root, self.charts)

    def seed(self) -> None:
        seed_stack_amis(self.config)
        s3 = SESSION.client("s3")
        s3.create_bucket(Bucket="models", CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_object(Bucket="models", Key="iris/1/model.onnx", Body=b"onnx")
        ecr = SESSION.client("ecr")
        ecr.create_repository(
            repositoryName=f"model-store-images-{self.stack}",
            tags=[
                {"Key": "mlops:project", "Value": PROJECT},
                {"Key": "mlops:stack", "Value": self.stack},
                {"Key": "mlops:component", "Value": "model-store"},
            ],
        )
        ecr.create_repository(repositoryName="iris")
        for repository in (f"model-store-images-{self.stack}", "iris"):
            push_image(repository, "0.1.0")
        self.publish_charts()
        self.sts = deployer_sts()

    def run(self, config: StackConfig | None = None) -> list[preflight.Check]:
        self.publish_charts()
        return preflight.run_checks(
            config or self.config,
            REGION,
            session=SESSION,
            clients={"eks": self.eks, "sts": self.sts},
            model_bucket="models",
            stack=self.stack,
            project=PROJECT,
            chart_repositories=self.chart_repositories,
        )


def deployer_sts(
    role: str = "ml-platform-admin", path: str = "/", *, session_name: str = "deploy"
) -> Any:
    """STS as a session of `role` (created in moto with `path` unless it exists); the
    default is the admin both stacks list in adminPrincipalArns, so the deployer-access
    check sees who `pulumi up` would run as."""
    iam = SESSION.client("iam")
    try:
        iam.get_role(RoleName=role)
    except iam.exceptions.NoSuchEntityException:
        trust = (
            '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
            f'{{"AWS":"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:root"}},"Action":"sts:AssumeRole"}}]}}'
        )
        iam.create_role(RoleName=role, Path=path, AssumeRolePolicyDocument=trust)
    arn = iam.get_role(RoleName=role)["Role"]["Arn"]
    credentials = SESSION.client("sts").assume_role(RoleArn=arn, RoleSessionName=session_name)[
        "Credentials"
    ]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    ).client("sts")


def push_image(repository: str, tag: str) -> str:
    """Push a one-layer image manifest as `tag`; returns the digest moto gave it."""
    manifest = (
        '{"schemaVersion":2,'
        '"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
        '"config":{"digest":"sha256:' + "a" * 64 + '"}}'
    )
    pushed = SESSION.client("ecr").put_image(
        repositoryName=repository, imageManifest=manifest, imageTag=tag
    )
    return str(pushed["image"]["imageId"]["imageDigest"])


@contextmanager
def moto_environment(quotas: Mapping[str, float]) -> Iterator[None]:
    """moto with test credentials in the environment, and Service Quotas answering the
    codes in `quotas` (read at each call, so a test may change them) from it."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            patch.setenv(key, value)
        original = ServiceQuotasBackend.get_service_quota

        def get_service_quota(self: Any, service_code: str, quota_code: str) -> dict[str, Any]:
            if quota_code in quotas:
                return {
                    "ServiceCode": service_code,
                    "QuotaCode": quota_code,
                    "Value": quotas[quota_code],
                }
            quota: dict[str, Any] = original(self, service_code, quota_code)
            return quota

        patch.setattr(ServiceQuotasBackend, "get_service_quota", get_service_quota)
        with mock_aws():
            yield


def set_paths(raw: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """`raw` with each dotted key path of `changes` set to its value."""
    for path, value in changes.items():
        target = raw
        *parents, last = path.split(".")
        for part in parents:
            target = target[part]
        target[last] = value
    return raw


def failed(result: Mapping[str, preflight.Check]) -> set[str]:
    return {name for name, c in result.items() if c.status == "fail"}


def assert_ready(result: Mapping[str, preflight.Check]) -> None:
    """What every ready account shows for the prod stack: no failure, the account, the
    first three AZs, each kind of check present, and the GPU pool's vCPUs counted."""
    assert failed(result) == set(), preflight.format_table(list(result.values()))
    assert result["credentials"].detail.startswith(f"account {DEFAULT_ACCOUNT_ID}")
    assert (
        result["availability zones"].detail == "using us-west-2a, us-west-2b, us-west-2c (first 3)"
    )
    assert {
        "instance types: pool gpu",
        "vCPU quota L-DB2E81BA",
        "add-on vpc-cni",
        "node AMI: pool gpu",
    } <= set(result)
    # The GPU pool needs 4 × 4 vCPUs of the G and VT quota at its maximum size.
    assert "need 16 vCPUs" in result["vCPU quota L-DB2E81BA"].detail
    assert result["model object"].status == "pass"


@contextmanager
def ready_account(config: StackConfig, stack: str, tmp: Path) -> Iterator[Account]:
    """A fresh moto account, ready for `config`: every preflight check passes."""
    quotas = dict(ENOUGH)
    with chart_server(tmp) as url, moto_environment(quotas):
        account = Account(config, stack, url, tmp, quotas=quotas)
        account.seed()
        yield account
