"""The IRSA role helper under the mocks kit: the pinned trust, the grant it was asked for."""

from __future__ import annotations

import json

import pulumi
import pytest

from components._irsa import irsa_role
from components.testing import run_program

ISSUER = "https://oidc.eks.us-west-2.amazonaws.com/id/ABCDEF"
OIDC_ARN = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABCDEF"


def _program(**grant: str) -> None:
    owner = pulumi.ComponentResource("test:index:Owner", "owner")
    irsa_role(
        "owner-app",
        parent=owner,
        oidc_provider_arn=OIDC_ARN,
        oidc_issuer=ISSUER,
        namespace="apps",
        service_account="app",
        description="IRSA role of apps/app",
        tags={"Name": "owner-app"},
        **grant,
    )


def test_a_managed_policy_is_attached_under_the_grant_name() -> None:
    arn = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"
    run = run_program(lambda: _program(policy_arn=arn, grant_name="owner-app-policy"))
    role = run.one("aws:iam/role:Role", "owner-app")
    attachment = run.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "owner-app-policy")
    assert run.by_type("aws:iam/rolePolicy:RolePolicy") == []
    assert role.parent == attachment.parent == run.one("test:index:Owner").urn
    assert attachment.inputs["policyArn"] == arn
    assert attachment.inputs["role"] == role.outputs["name"]
    condition = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]
    host = ISSUER.removeprefix("https://")
    assert condition["StringEquals"] == {
        f"{host}:sub": "system:serviceaccount:apps:app",
        f"{host}:aud": "sts.amazonaws.com",
    }


def test_an_inline_policy_takes_the_role_name() -> None:
    document = json.dumps({"Version": "2012-10-17", "Statement": []})
    run = run_program(lambda: _program(policy=document))
    inline = run.one("aws:iam/rolePolicy:RolePolicy", "owner-app")
    assert inline.inputs["policy"] == document
    assert run.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") == []


@pytest.mark.parametrize("grant", [{}, {"policy_arn": "arn:aws:iam::aws:policy/X", "policy": "{}"}])
def test_exactly_one_grant_is_required(grant: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="exactly one of policy_arn and policy"):
        run_program(lambda: _program(**grant))
