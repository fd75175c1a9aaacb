"""IAM policy and trust documents: plain dicts, rendered to JSON by the components."""

from __future__ import annotations

import json
from typing import Any

PolicyDocument = dict[str, Any]


def to_json(document: PolicyDocument) -> str:
    """Stable JSON (sorted keys) so an unchanged document never shows as a diff."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def service_trust(service: str, *, source_account: str | None = None) -> PolicyDocument:
    """Trust policy letting an AWS service (`vpc-flow-logs.amazonaws.com`) assume a role."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if source_account is not None:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": source_account}}
    return {"Version": "2012-10-17", "Statement": [statement]}


def flow_logs_write(log_group_arn: str) -> PolicyDocument:
    """Least privilege for VPC flow logs delivering to one CloudWatch log group."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                "Resource": [log_group_arn, f"{log_group_arn}:*"],
            }
        ],
    }
