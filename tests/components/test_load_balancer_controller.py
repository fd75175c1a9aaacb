"""LoadBalancerController under the mocks kit: the published policy, IRSA, the Helm release."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.core.lbc import published_policy
from components.core.scheduling import Scheduling
from components.load_balancer_controller import (
    CHART_REPOSITORY,
    LoadBalancerController,
    LoadBalancerControllerArgs,
)
from components.testing import PlatformMocks, Registration, pulumi_test

ISSUER = "oidc.eks.us-west-2.amazonaws.com/id/ABCDEF"
OIDC_ARN = f"arn:aws:iam::123456789012:oidc-provider/{ISSUER}"
SYSTEM = Scheduling(node_selector={"mlops.dev/pool": "system"})


def deploy(kit: PlatformMocks, chart_version: str = "1.16.0") -> list[Registration]:
    @pulumi_test
    def run() -> pulumi.Output[Any]:
        provider = k8s.Provider("cluster-k8s", kubeconfig="{}")
        controller = LoadBalancerController(
            "lbc",
            LoadBalancerControllerArgs(
                cluster_name="ml-dev",
                vpc_id="vpc-0123",
                oidc_provider_arn=OIDC_ARN,
                oidc_issuer=f"https://{ISSUER}",
                chart_version=chart_version,
                region="us-west-2",
                kubernetes_provider=provider,
                scheduling=SYSTEM,
            ),
        )
        return controller.role_arn

    run()
    return list(kit.registrations)


def find(registrations: list[Registration], type_: str) -> Registration:
    found = [r for r in registrations if r.type == type_]
    assert len(found) == 1, f"{type_}: {len(found)}"
    return found[0]


def test_the_role_carries_the_published_policy_and_trusts_only_the_controller(
    kit: PlatformMocks,
) -> None:
    registrations = deploy(kit)
    policy = find(registrations, "aws:iam/policy:Policy")
    assert json.loads(policy.inputs["policy"]) == published_policy().document
    assert "v2.16.0" in policy.inputs["description"]
    role = find(registrations, "aws:iam/role:Role")
    condition = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]
    assert condition["StringEquals"][f"{ISSUER}:sub"] == (
        "system:serviceaccount:kube-system:aws-load-balancer-controller"
    )
    attachment = find(registrations, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.inputs["policyArn"] == policy.outputs["arn"]


def test_the_release_is_pinned_configured_and_bound_to_the_role(kit: PlatformMocks) -> None:
    registrations = deploy(kit)
    release = find(registrations, "kubernetes:helm.sh/v3:Release")
    inputs = release.inputs
    assert inputs["chart"] == "aws-load-balancer-controller"
    assert inputs["version"] == "1.16.0"
    assert inputs["repositoryOpts"] == {"repo": CHART_REPOSITORY}
    assert inputs["namespace"] == "kube-system"
    values = inputs["values"]
    assert (values["clusterName"], values["vpcId"], values["region"]) == (
        "ml-dev",
        "vpc-0123",
        "us-west-2",
    )
    role = find(registrations, "aws:iam/role:Role")
    assert values["serviceAccount"]["annotations"] == {
        "eks.amazonaws.com/role-arn": role.outputs["arn"]
    }
    assert values["serviceAccount"]["name"] == "aws-load-balancer-controller"
    assert values["nodeSelector"] == {"mlops.dev/pool": "system"}
    attachment = find(registrations, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.urn in release.dependencies
    provider = find(registrations, "pulumi:providers:kubernetes")
    assert release.provider is not None and release.provider.startswith(provider.urn)


def test_a_chart_version_without_its_policy_is_refused(kit: PlatformMocks) -> None:
    with pytest.raises(Exception, match=r"'1\.17\.0' but the bundled IAM policy is for chart"):
        deploy(kit, chart_version="1.17.0")
