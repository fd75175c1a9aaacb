"""ModelService under the mocks kit: the rendered objects, created through the provider."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.config import StackConfig, parse_stack_config
from components.core.manifests import render, spec_from_stack
from components.core.scheduling import pool_scheduling
from components.model_service import ModelService, ModelServiceArgs
from components.testing import PlatformMocks, Registration, pulumi_test

ROOT = Path(__file__).resolve().parents[2]
COMPONENT = "mlops:model_service:ModelService"
ISSUER = "https://oidc.eks.us-west-2.amazonaws.com/id/ABCDEF"
OIDC_ARN = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABCDEF"
BUCKET = "store-models-1a2b3c"
REPOSITORY = "123456789012.dkr.ecr.us-west-2.amazonaws.com/store-images-9f8e7d"
KEY_ARN = "arn:aws:kms:us-west-2:123456789012:key/1111"


def stack_config(stack: str = "dev", **service: Any) -> StackConfig:
    raw = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    platform = raw["config"]["mlops-platform:platform"]
    base = dict(platform["service"])
    if service.get("exposure", "alb-internet-facing") != "alb-internet-facing":
        base.pop("allowedSourceCidrs", None)  # only an internet-facing ALB takes it
    platform["service"] = {**base, **service}
    return parse_stack_config(platform)


def deploy(kit: PlatformMocks, config: StackConfig, *, with_lbc: bool = False) -> dict[str, Any]:
    box: dict[str, Any] = {}

    @pulumi_test
    def run() -> pulumi.Output[Any]:
        provider = k8s.Provider("cluster-k8s", kubeconfig="{}")
        lbc = (
            k8s.core.v1.ConfigMap("lbc-standin", opts=pulumi.ResourceOptions(provider=provider))
            if with_lbc
            else None
        )
        assert config.service is not None
        pool = config.service.node_pool
        service = ModelService(
            "iris",
            ModelServiceArgs.from_config(
                config,
                scheduling=pool_scheduling(pool, config.node_pools[pool]),
                oidc_provider_arn=OIDC_ARN,
                oidc_issuer=pulumi.Output.from_input(ISSUER),
                bucket_name=pulumi.Output.from_input(BUCKET),
                bucket_arn=f"arn:aws:s3:::{BUCKET}",
                bucket_kms_key_arn=KEY_ARN,
                image_repository=pulumi.Output.from_input(REPOSITORY),
                kubernetes_provider=provider,
                load_balancer_controller=lbc,
                tags={"mlops:stack": "dev"},
            ),
        )
        box["service"] = service
        return pulumi.Output.all(
            provider.urn, service.role_arn, service.load_balancer_hostname
        ).apply(
            lambda values: box.update(
                provider_urn=values[0], role_arn=values[1], hostname=values[2]
            )
        )

    run()
    box["registrations"] = list(kit.registrations)
    return box


def kube(box: dict[str, Any]) -> list[Registration]:
    return [
        r
        for r in box["registrations"]
        if r.type.startswith("kubernetes:") and r.name.startswith("iris-")
    ]


def find(box: dict[str, Any], type_: str, name: str | None = None) -> Registration:
    found: list[Registration] = [
        r for r in box["registrations"] if r.type == type_ and name in (None, r.name)
    ]
    assert len(found) == 1, f"{type_} {name}: {len(found)}"
    return found[0]


def test_every_rendered_object_is_created_as_a_typed_resource(kit: PlatformMocks) -> None:
    box = deploy(kit, stack_config())
    created = {(r.inputs["kind"], r.inputs["metadata"]["name"]) for r in kube(box)}
    expected = {(o["kind"], o["metadata"]["name"]) for o in box["service"].objects}
    assert created == expected
    types = {r.inputs["kind"]: r.type for r in kube(box)}
    assert types["Deployment"] == "kubernetes:apps/v1:Deployment"
    assert types["HorizontalPodAutoscaler"] == "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
    assert types["Ingress"] == "kubernetes:networking.k8s.io/v1:Ingress"
    assert types["PodDisruptionBudget"] == "kubernetes:policy/v1:PodDisruptionBudget"


def test_children_go_through_the_cluster_provider_under_the_component(kit: PlatformMocks) -> None:
    box = deploy(kit, stack_config())
    component = find(box, COMPONENT)
    for resource in kube(box):
        assert resource.parent == component.urn
        assert resource.provider is not None
        assert resource.provider.startswith(box["provider_urn"] + "::"), resource.name
    role = find(box, "aws:iam/role:Role")
    assert role.parent == component.urn


def test_deployment_inputs_are_the_rendered_ones_with_deploy_time_values(
    kit: PlatformMocks,
) -> None:
    box = deploy(kit, stack_config())
    deployment = find(box, "kubernetes:apps/v1:Deployment").inputs
    assert "replicas" not in deployment["spec"]  # the HPA owns the count
    server = deployment["spec"]["template"]["spec"]["containers"][0]
    assert server["image"] == f"{REPOSITORY}:0.1.0"
    env = {e["name"]: e["value"] for e in server["env"]}
    assert env["SERVING_MODEL_REPOSITORY"] == f"s3://{BUCKET}/iris/1"
    assert env["AWS_REGION"] == "us-west-2"
    assert "${" not in json.dumps(deployment)
    assert deployment["spec"]["template"]["spec"]["nodeSelector"] == {"mlops.dev/pool": "cpu"}


def test_gpu_pool_scheduling_comes_from_the_pool(kit: PlatformMocks) -> None:
    # Prod's GPU pool holds four one-GPU pods at its maxSize: more replicas are refused.
    box = deploy(kit, stack_config("prod", nodePool="gpu", gpus=1, maxReplicas=4))
    pod = find(box, "kubernetes:apps/v1:Deployment").inputs["spec"]["template"]["spec"]
    config = stack_config("prod", nodePool="gpu", gpus=1, maxReplicas=4)
    expected = pool_scheduling("gpu", config.node_pools["gpu"])
    assert pod["nodeSelector"] == expected.node_selector
    assert pod["tolerations"] == expected.tolerations
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_service_account_carries_the_irsa_role_pinned_to_it(kit: PlatformMocks) -> None:
    box = deploy(kit, stack_config())
    account = find(box, "kubernetes:core/v1:ServiceAccount").inputs
    role = find(box, "aws:iam/role:Role")
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": role.outputs["arn"]}
    assert box["role_arn"] == role.outputs["arn"]
    trust = json.loads(role.inputs["assumeRolePolicy"])
    condition = trust["Statement"][0]["Condition"]["StringEquals"]
    host = ISSUER.removeprefix("https://")
    assert condition[f"{host}:sub"] == "system:serviceaccount:models:iris"
    assert trust["Statement"][0]["Principal"] == {"Federated": OIDC_ARN}


def test_role_policy_reads_only_the_model_prefix(kit: PlatformMocks) -> None:
    box = deploy(kit, stack_config())
    policy = json.loads(find(box, "aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    resources = {
        (statement["Action"], str(statement["Resource"])) for statement in policy["Statement"]
    }
    assert resources == {
        ("s3:GetObject", f"arn:aws:s3:::{BUCKET}/iris/1/*"),
        ("s3:ListBucket", f"arn:aws:s3:::{BUCKET}"),
        ("kms:Decrypt", KEY_ARN),
    }


def test_ordering_lbc_then_namespace_then_everything_role_policy_before_pods(
    kit: PlatformMocks,
) -> None:
    """The controller comes first: its Service webhook (failurePolicy Fail) would reject
    the Services and its readiness-gate webhook would miss the pods if they came first."""
    box = deploy(kit, stack_config(), with_lbc=True)
    namespace = find(box, "kubernetes:core/v1:Namespace")
    for resource in kube(box):
        if resource.inputs["kind"] != "Namespace":
            assert namespace.urn in resource.dependencies, resource.name
    deployment = find(box, "kubernetes:apps/v1:Deployment")
    assert find(box, "aws:iam/rolePolicy:RolePolicy").urn in deployment.dependencies
    assert find(box, "kubernetes:core/v1:ServiceAccount").urn in deployment.dependencies
    lbc = find(box, "kubernetes:core/v1:ConfigMap", "lbc-standin")
    assert lbc.urn in namespace.dependencies


def test_nlb_and_fixed_replicas_variants(kit: PlatformMocks) -> None:
    box = deploy(kit, stack_config(exposure="nlb-internal", minReplicas=2, maxReplicas=2))
    kinds = sorted(r.inputs["kind"] for r in kube(box))
    assert "Ingress" not in kinds and "HorizontalPodAutoscaler" not in kinds
    nlb = find(box, "kubernetes:core/v1:Service", "iris-service-iris-nlb").inputs
    assert nlb["spec"]["type"] == "LoadBalancer"
    assert find(box, "kubernetes:apps/v1:Deployment").inputs["spec"]["replicas"] == 2


def test_service_monitor_is_a_custom_resource(kit: PlatformMocks) -> None:
    box = deploy(kit, stack_config(serviceMonitor=True))
    monitor = find(box, "kubernetes:monitoring.coreos.com/v1:ServiceMonitor").inputs
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


def test_the_component_renders_what_the_offline_preview_renders(kit: PlatformMocks) -> None:
    box = deploy(kit, stack_config())
    objects = box["service"].objects
    assert [o["kind"] for o in objects] == [o["kind"] for o in render_for_preview()]


def render_for_preview() -> list[dict[str, Any]]:
    spec = spec_from_stack(
        stack_config(), region="us-west-2", image_repository="r", bucket="b", role_arn="a"
    )
    return render(spec)
