"""The AWS Load Balancer Controller's published IAM policy, bundled with its version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from components.config import parse_stack_config
from components.core.lbc import published_policy

ROOT = Path(__file__).resolve().parents[3]


def test_the_bundled_policy_is_the_published_one_for_its_version() -> None:
    policy = published_policy()
    assert policy.app_version == "v2.16.0"
    assert policy.chart_version == "1.16.0"
    assert policy.source.endswith("/v2.16.0/docs/install/iam_policy.json")
    document = policy.document
    assert document["Version"] == "2012-10-17"
    actions = {a for s in document["Statement"] for a in s["Action"]}
    for action in (
        "elasticloadbalancing:CreateLoadBalancer",
        "elasticloadbalancing:CreateTargetGroup",
        "elasticloadbalancing:RegisterTargets",
        "ec2:AuthorizeSecurityGroupIngress",
        "iam:CreateServiceLinkedRole",
    ):
        assert action in actions
    # AWS's policy scopes its write actions by the elbv2.k8s.aws/cluster tag.
    conditions = str([s.get("Condition", {}) for s in document["Statement"]])
    assert "elbv2.k8s.aws/cluster" in conditions


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_stack_configs_pin_the_bundled_chart_version(stack: str) -> None:
    raw = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    config = parse_stack_config(raw["config"]["mlops-platform:platform"])
    version = config.cluster.aws_load_balancer_controller.version
    assert published_policy(version).chart_version == version


def test_a_chart_without_a_matching_policy_is_refused_by_name() -> None:
    with pytest.raises(
        ValueError, match=r"'1\.17\.0' but the bundled IAM policy is for chart 1\.16\.0"
    ):
        published_policy("1.17.0")


def test_the_policy_follows_the_partition() -> None:
    from components.core.lbc import in_partition

    document = published_policy().document
    china = in_partition(document, "aws-cn")
    text = json.dumps(china)
    assert '"arn:aws:' not in text and '"arn:aws-cn:' in text
    assert in_partition(document, "aws") == document
    assert in_partition({"Resource": "*", "X": ["arn:aws:s3:::b"]}, "aws-us-gov") == {
        "Resource": "*",
        "X": ["arn:aws-us-gov:s3:::b"],
    }
