"""The second model's own tests: its stack under the mocks kit, on the platform's outputs.

The platform's outputs are not invented here: the platform's dev stack runs offline under
the same kit first, and its outputs become the StackReference's, so a platform output
renamed or dropped fails these tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.platform_reference import PlatformReferenceError
from components.testing import PlatformMocks, StackRun, run_stack

HERE = Path(__file__).resolve().parent
PLATFORM_DIR = HERE.parents[1]
PLATFORM_STACK = "organization/mlops-platform/dev"


@pytest.fixture(scope="module")
def platform_outputs() -> dict[str, Any]:
    return dict(run_stack("dev", project_dir=PLATFORM_DIR).outputs)


def run_model(outputs: dict[str, Any], **config: Any) -> StackRun:
    mocks = PlatformMocks(
        stack_references={PLATFORM_STACK: outputs},
        secret_outputs={PLATFORM_STACK: ["kubeconfig"]},
    )
    return run_stack("dev", project_dir=HERE, mocks=mocks, config=config)


def test_the_model_lands_on_the_platforms_cluster_pool_and_store(
    platform_outputs: dict[str, Any],
) -> None:
    run = run_model(platform_outputs)
    ref = run.one("pulumi:pulumi:StackReference")
    assert ref.read and ref.id == PLATFORM_STACK

    provider = run.one("pulumi:providers:kubernetes")
    assert json.loads(provider.inputs["kubeconfig"]["value"]) == json.loads(
        platform_outputs["kubeconfig"]
    )
    deployment = run.one("kubernetes:apps/v1:Deployment")
    assert deployment.provider is not None and deployment.provider.startswith(provider.urn)
    pod = deployment.inputs["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == platform_outputs["nodePools"]["cpu"]["nodeSelector"]
    image = pod["containers"][0]["image"]
    assert image == f"{platform_outputs['modelRepositoryUrl']}:0.1.0"
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["SERVING_MODEL_REPOSITORY"] == f"s3://{platform_outputs['modelBucketName']}/digits/1"

    role = run.one("aws:iam/role:Role")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    principal = trust["Statement"][0]["Principal"]["Federated"]
    assert principal == platform_outputs["oidcProviderArn"]
    assert "system:serviceaccount:vision:digits" in json.dumps(trust)
    policy = json.dumps(run.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    assert f"{platform_outputs['modelBucketArn']}/digits/1" in policy
    assert platform_outputs["modelBucketKmsKeyArn"] in policy

    ingress = run.one("kubernetes:networking.k8s.io/v1:Ingress")
    assert ingress.inputs["metadata"]["annotations"]["alb.ingress.kubernetes.io/scheme"] == (
        "internal"
    )
    policies = run.by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    admitted = json.dumps([p.inputs["spec"] for p in policies])
    assert all(cidr in admitted for cidr in platform_outputs["privateSubnetCidrs"])
    assert not run.by_type("aws:ec2/vpc:Vpc") and not run.by_type("eks:index:Cluster")


def test_a_platform_without_an_output_fails_naming_it(platform_outputs: dict[str, Any]) -> None:
    outputs = {k: v for k, v in platform_outputs.items() if k != "kubernetesVersion"}
    with pytest.raises(PlatformReferenceError, match="has no output 'kubernetesVersion'"):
        run_model(outputs)


def test_a_pool_the_platform_lacks_fails_naming_the_pools(
    platform_outputs: dict[str, Any],
) -> None:
    service = {
        "name": "digits",
        "namespace": "vision",
        "image": {"tag": "0.1.0"},
        "modelName": "digits",
        "modelPrefix": "digits/1",
        "nodePool": "gpu",
        "exposure": "cluster-ip",
    }
    pools = r"node pool 'gpu' is not one of .*\['cpu', 'system'\]"
    with pytest.raises(PlatformReferenceError, match=pools):
        run_model(platform_outputs, service=service)


def test_an_alb_needs_the_platforms_load_balancer_controller(
    platform_outputs: dict[str, Any],
) -> None:
    with pytest.raises(PlatformReferenceError, match="needs the AWS Load Balancer Controller"):
        run_model({**platform_outputs, "loadBalancerController": False})
