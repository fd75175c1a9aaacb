"""The workload part of the Platform: ModelStore in every stack, the controller, the service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.testing import Registration, StackRun, run_stack

ROOT = Path(__file__).resolve().parents[2]


def stack_raw(stack: str, **service: Any) -> dict[str, Any]:
    raw = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    platform: dict[str, Any] = raw["config"]["mlops-platform:platform"]
    base = dict(platform["service"])
    if service.get("exposure", "alb-internet-facing") != "alb-internet-facing":
        base.pop("allowedSourceCidrs", None)  # only an internet-facing ALB takes it
    platform["service"] = {**base, **service}
    return platform


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_stack_gets_a_model_store(stack: str) -> None:
    run = run_stack(stack, project_dir=ROOT)
    store = run.one("mlops:model_store:ModelStore")
    platform = run.one("mlops:platform:Platform")
    assert store.parent == platform.urn
    repository = run.one("aws:ecr/repository:Repository")
    assert run.outputs["modelRepositoryUrl"] == repository.outputs["repositoryUrl"]
    bucket = run.one("aws:s3/bucket:Bucket")
    assert run.outputs["modelBucketName"] == bucket.outputs["bucket"]
    assert bucket.inputs["forceDestroy"] is (stack == "dev")


def find(run: StackRun, type_: str) -> Registration:
    found = run.by_type(type_)
    assert len(found) == 1, f"{type_}: {len(found)}"
    return found[0]


def test_alb_exposure_brings_the_controller_on_the_system_pool() -> None:
    run = run_stack("dev", project_dir=ROOT)
    controller = run.one("mlops:load_balancer_controller:LoadBalancerController")
    (release,) = [
        r for r in run.by_type("kubernetes:helm.sh/v3:Release") if r.parent == controller.urn
    ]
    assert release.inputs["values"]["nodeSelector"] == {"mlops.dev/pool": "system"}
    # Before the namespace, so before every Service and pod its webhooks intercept.
    (namespace,) = [
        n
        for n in run.by_type("kubernetes:core/v1:Namespace")
        if n.inputs["metadata"]["name"] == "models"
    ]
    assert release.urn in namespace.dependencies
    bucket = find(run, "aws:s3/bucket:Bucket")
    deployment = find(run, "kubernetes:apps/v1:Deployment").inputs
    env = {
        e["name"]: e["value"]
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["SERVING_MODEL_REPOSITORY"] == f"s3://{bucket.outputs['bucket']}/iris/1"
    key = run.one("aws:kms/key:Key", "model-store-key")
    (reader,) = [
        r for r in run.by_type("aws:iam/rolePolicy:RolePolicy") if r.name.startswith("service-")
    ]
    policy = reader.inputs["policy"]
    assert key.outputs["arn"] in policy  # SSE-KMS: the reader may decrypt through S3
    assert {"serviceNamespace", "serviceRoleArn", "serviceHostname"} <= set(run.outputs)


def test_cluster_ip_exposure_needs_no_controller() -> None:
    config = stack_raw("dev", exposure="cluster-ip")
    run = run_stack("dev", project_dir=ROOT, config={"platform": config})
    assert not run.by_type("mlops:load_balancer_controller:LoadBalancerController")
    releases = [r.name for r in run.by_type("kubernetes:helm.sh/v3:Release")]
    assert releases == ["cluster-addons-autoscaler"]
    assert run.by_type("kubernetes:apps/v1:Deployment")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_workload_is_part_of_the_platform_with_its_urns_unchanged(stack: str) -> None:
    """The load balancer controller and the service are the Platform's children, so
    their URNs (and every child's) are the recorded ones (tests/components/data/
    urns_<stack>.txt, checked whole in test_platform.py) and no alias is needed."""
    run = run_stack(stack, project_dir=ROOT)
    platform = run.one("mlops:platform:Platform")
    prefix = f"urn:pulumi:{stack}::mlops-platform::mlops:platform:Platform$"
    for type_, name in [
        ("mlops:load_balancer_controller:LoadBalancerController", "load-balancer-controller"),
        ("mlops:model_service:ModelService", "service-iris"),
        ("mlops:model_release:ModelRelease", "release-iris"),
    ]:
        component = run.one(type_, name)
        assert component.parent == platform.urn
        assert component.urn == f"{prefix}{type_}::{name}"
    recorded = (ROOT / "tests" / "components" / "data" / f"urns_{stack}.txt").read_text()
    for urn in recorded.split():
        if "::service-iris" in urn or "::load-balancer-controller" in urn:
            assert urn in {r.urn for r in run.resources}, urn


def test_the_service_network_policy_admits_the_networks_public_subnets() -> None:
    run = run_stack("dev", project_dir=ROOT)
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
