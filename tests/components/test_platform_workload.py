"""The workload part of the Platform: ModelStore in every stack, service wiring standalone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from components.config import StackConfig, parse_stack_config
from components.core.scheduling import pool_scheduling
from components.model_store import ModelStore, ModelStoreArgs
from components.platform import Workload, build_workload
from components.testing import PlatformMocks, Registration, StackRun
from tests.components.conftest import shared_run

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "oidc.eks.us-west-2.amazonaws.com/id/ABCDEF"


def stack_config(stack: str, **service: Any) -> StackConfig:
    raw = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    platform = raw["config"]["mlops-platform:platform"]
    base = dict(platform["service"])
    if service.get("exposure", "alb-internet-facing") != "alb-internet-facing":
        base.pop("allowedSourceCidrs", None)  # only an internet-facing ALB takes it
    platform["service"] = {**base, **service}
    return parse_stack_config(platform)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_stack_gets_a_model_store(stack: str) -> None:
    run = shared_run(stack)
    store = run.one("mlops:model_store:ModelStore")
    platform = run.one("mlops:platform:Platform")
    assert store.parent == platform.urn
    repository = run.one("aws:ecr/repository:Repository")
    assert run.outputs["modelRepositoryUrl"] == repository.outputs["repositoryUrl"]
    bucket = run.one("aws:s3/bucket:Bucket")
    assert run.outputs["modelBucketName"] == bucket.outputs["bucket"]
    assert bucket.inputs["forceDestroy"] is (stack == "dev")


class _Parent(pulumi.ComponentResource):
    def __init__(self) -> None:
        super().__init__("test:index:Parent", "platform")


@pytest.fixture
def kit() -> Iterator[PlatformMocks]:
    mocks = PlatformMocks()
    mocks.install(project="mlops-platform", stack="dev")
    yield mocks
    mocks.close()


def wire(kit: PlatformMocks, config: StackConfig) -> tuple[Workload, list[Registration]]:
    box: dict[str, Workload] = {}

    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        parent = _Parent()
        store = ModelStore("model-store", ModelStoreArgs(), pulumi.ResourceOptions(parent=parent))
        provider = k8s.Provider("cluster-k8s", kubeconfig="{}")
        box["workload"] = build_workload(
            parent,
            config,
            store=store,
            cluster_name="ml-dev",
            vpc_id="vpc-0123",
            oidc_provider_arn=f"arn:aws:iam::123456789012:oidc-provider/{ISSUER}",
            oidc_issuer=f"https://{ISSUER}",
            kubernetes_provider=provider,
            scheduling={n: pool_scheduling(n, p) for n, p in config.node_pools.items()},
            tags={},
        )
        return store.bucket_name

    run()
    return box["workload"], list(kit.registrations)


def find(registrations: list[Registration], type_: str) -> Registration:
    found = [r for r in registrations if r.type == type_]
    assert len(found) == 1, f"{type_}: {len(found)}"
    return found[0]


def test_alb_exposure_brings_the_controller_on_the_system_pool(kit: PlatformMocks) -> None:
    workload, registrations = wire(kit, stack_config("dev"))
    assert workload.load_balancer_controller is not None
    release = find(registrations, "kubernetes:helm.sh/v3:Release")
    assert release.inputs["values"]["nodeSelector"] == {"mlops.dev/pool": "system"}
    # Before the namespace, so before every Service and pod its webhooks intercept.
    namespace = find(registrations, "kubernetes:core/v1:Namespace")
    assert release.urn in namespace.dependencies
    bucket = find(registrations, "aws:s3/bucket:Bucket")
    deployment = find(registrations, "kubernetes:apps/v1:Deployment").inputs
    env = {
        e["name"]: e["value"]
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["SERVING_MODEL_REPOSITORY"] == f"s3://{bucket.outputs['bucket']}/iris/1"
    key = find(registrations, "aws:kms/key:Key")
    policy = find(registrations, "aws:iam/rolePolicy:RolePolicy").inputs["policy"]
    assert key.outputs["arn"] in policy  # SSE-KMS: the reader may decrypt through S3
    assert set(workload.outputs) == {"serviceNamespace", "serviceRoleArn", "serviceHostname"}


def test_cluster_ip_exposure_needs_no_controller(kit: PlatformMocks) -> None:
    workload, registrations = wire(kit, stack_config("dev", exposure="cluster-ip"))
    assert workload.load_balancer_controller is None
    assert not [r for r in registrations if r.type == "kubernetes:helm.sh/v3:Release"]
    assert workload.service is not None


def test_the_service_network_policy_admits_the_networks_public_subnets(dev: StackRun) -> None:
    run = dev
    public = sorted(
        s.inputs["cidrBlock"]
        for s in run.by_type("aws:ec2/subnet:Subnet")
        if s.name.startswith("network-public-")
    )
    policy = run.one(
        "kubernetes:networking.k8s.io/v1:NetworkPolicy", "service-iris-networkpolicy-iris-allow"
    )
    peers = [p for rule in policy.inputs["spec"]["ingress"] for p in rule["from"]]
    assert sorted(p["ipBlock"]["cidr"] for p in peers if "ipBlock" in p) == public
