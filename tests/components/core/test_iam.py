"""IAM documents: their content, and that AWS's own validator (moto's copy) accepts them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from components.core import iam

OIDC_ARN = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABC123"
ISSUER = "https://oidc.eks.us-west-2.amazonaws.com/id/ABC123"
HOST = "oidc.eks.us-west-2.amazonaws.com/id/ABC123"


@pytest.fixture
def moto_iam() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client(
            "iam",
            region_name="us-west-2",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


def test_irsa_trust_is_pinned_to_one_service_account_and_the_sts_audience() -> None:
    document = iam.irsa_trust(OIDC_ARN, ISSUER, namespace="kube-system", service_account="aws-node")
    (statement,) = document["Statement"]
    assert statement["Principal"] == {"Federated": OIDC_ARN}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            f"{HOST}:sub": "system:serviceaccount:kube-system:aws-node",
            f"{HOST}:aud": "sts.amazonaws.com",
        }
    }


def test_issuer_host_drops_the_scheme_only() -> None:
    assert iam.issuer_host(ISSUER) == "oidc.eks.us-west-2.amazonaws.com/id/ABC123"
    assert iam.issuer_host("oidc.eks.x/id/1") == "oidc.eks.x/id/1"


def test_node_policies_are_exactly_the_two_plus_ssm_only_when_asked() -> None:
    assert iam.node_policy_names(enable_ssm=False) == (
        "AmazonEKSWorkerNodePolicy",
        "AmazonEC2ContainerRegistryReadOnly",
    )
    assert iam.node_policy_names(enable_ssm=True)[-1] == "AmazonSSMManagedInstanceCore"
    assert iam.CNI_POLICY not in iam.node_policy_names(enable_ssm=True)


def test_cluster_autoscaler_writes_only_to_this_clusters_groups() -> None:
    document = iam.cluster_autoscaler_policy(
        "ml-dev", region="us-west-2", account_id="123456789012"
    )
    writes = [s for s in document["Statement"] if "autoscaling:SetDesiredCapacity" in s["Action"]]
    assert len(writes) == 1
    assert writes[0]["Condition"] == {
        "StringEquals": {
            "aws:ResourceTag/k8s.io/cluster-autoscaler/ml-dev": "owned",
            "aws:ResourceTag/mlops.dev/autoscaled": "true",
        }
    }
    unconditioned = [s for s in document["Statement"] if "Condition" not in s]
    for statement in unconditioned:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        assert all(a.split(":")[1].startswith(("Describe", "Get")) for a in actions), actions
    (nodegroups,) = [s for s in document["Statement"] if s["Action"] == "eks:DescribeNodegroup"]
    assert nodegroups["Resource"] == "arn:aws:eks:us-west-2:123456789012:nodegroup/ml-dev/*"


def test_kms_key_policy_keeps_the_account_in_control() -> None:
    (statement,) = iam.kms_key_policy("123456789012")["Statement"]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}


def test_managed_policy_arns() -> None:
    assert iam.managed_policy_arn(iam.EBS_CSI_POLICY, partition="aws") == (
        "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
    )
    assert iam.managed_policy_arn(iam.CNI_POLICY, partition="aws-cn") == (
        "arn:aws-cn:iam::aws:policy/AmazonEKS_CNI_Policy"
    )


def test_access_policy_arn_follows_the_partition() -> None:
    assert iam.access_policy_arn(iam.CLUSTER_ADMIN_ACCESS_POLICY, partition="aws-us-gov") == (
        "arn:aws-us-gov:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    )


def test_documents_pass_aws_validation(moto_iam: Any) -> None:
    for sa in ("aws-node", "ebs-csi-controller-sa", "cluster-autoscaler"):
        trust = iam.irsa_trust(OIDC_ARN, ISSUER, namespace="kube-system", service_account=sa)
        moto_iam.create_role(RoleName=f"irsa-{sa}", AssumeRolePolicyDocument=iam.to_json(trust))
        # moto checks a trust policy on update only.
        moto_iam.update_assume_role_policy(RoleName=f"irsa-{sa}", PolicyDocument=iam.to_json(trust))
    moto_iam.create_role(
        RoleName="node",
        AssumeRolePolicyDocument=iam.to_json(iam.service_trust("ec2.amazonaws.com")),
    )
    policy = iam.cluster_autoscaler_policy("ml-dev", region="us-west-2", account_id="123456789012")
    moto_iam.create_policy(PolicyName="autoscaler", PolicyDocument=iam.to_json(policy))


def test_the_validation_is_live(moto_iam: Any) -> None:
    """A control: the same path refuses a malformed document, so the test above can fail."""
    broken = iam.cluster_autoscaler_policy("ml-dev", region="us-west-2", account_id="123456789012")
    broken["Statement"][0]["Effect"] = "Perhaps"
    with pytest.raises(ClientError, match="MalformedPolicyDocument"):
        moto_iam.create_policy(PolicyName="broken", PolicyDocument=json.dumps(broken))


def test_the_trust_validation_is_live(moto_iam: Any) -> None:
    trust = iam.irsa_trust(OIDC_ARN, ISSUER, namespace="kube-system", service_account="aws-node")
    moto_iam.create_role(RoleName="r", AssumeRolePolicyDocument=iam.to_json(trust))
    trust["Statement"][0]["Effect"] = "Perhaps"
    with pytest.raises(ClientError, match="MalformedPolicyDocument"):
        moto_iam.update_assume_role_policy(RoleName="r", PolicyDocument=json.dumps(trust))
