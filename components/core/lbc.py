"""The AWS Load Balancer Controller's published IAM policy, kept as data with its version.

`data/aws_load_balancer_controller_iam_policy.json` is AWS's `docs/install/iam_policy.json`
from the controller's release tag, wrapped with the app and chart versions it belongs to.
A chart version with no matching policy file is refused rather than guessed at: newer
controllers call new APIs, and an old policy fails them at run time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["PublishedPolicy", "in_partition", "published_policy"]

_DATA = "aws_load_balancer_controller_iam_policy.json"


@dataclass(frozen=True)
class PublishedPolicy:
    app_version: str
    chart_version: str
    source: str
    document: dict[str, Any]


def published_policy(chart_version: str | None = None) -> PublishedPolicy:
    """The controller's IAM policy; `chart_version`, when given, must be the policy's."""
    raw = json.loads(resources.files("components.core").joinpath("data", _DATA).read_text())
    policy = PublishedPolicy(
        app_version=raw["appVersion"],
        chart_version=raw["chartVersion"],
        source=raw["source"],
        document=raw["policy"],
    )
    if chart_version is not None and chart_version != policy.chart_version:
        raise ValueError(
            f"cluster.awsLoadBalancerController.version is {chart_version!r} but the bundled "
            f"IAM policy is for chart {policy.chart_version} (controller "
            f"{policy.app_version}); update components/core/data/{_DATA} from the "
            "controller's release tag first"
        )
    return policy


def in_partition(document: Any, partition: str) -> Any:
    """The document with its `arn:aws:` ARNs in `partition` (`aws-cn`, `aws-us-gov`).

    The controller publishes `iam_policy_cn.json` and `iam_policy_us-gov.json` beside
    `iam_policy.json`: the same statements with the partition in their ARNs.
    """
    if isinstance(document, str):
        return (
            f"arn:{partition}:{document.removeprefix('arn:aws:')}"
            if document.startswith("arn:aws:")
            else document
        )
    if isinstance(document, list):
        return [in_partition(item, partition) for item in document]
    if isinstance(document, dict):
        return {key: in_partition(value, partition) for key, value in document.items()}
    return document
