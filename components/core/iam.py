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


def _issuer_host(issuer: str) -> str:
    """The issuer as IAM condition keys spell it: no scheme, no trailing slash."""
    return issuer.removeprefix("https://").rstrip("/")


def irsa_trust(
    oidc_provider_arn: str, oidc_issuer: str, *, namespace: str, service_account: str
) -> PolicyDocument:
    """Trust for IRSA, pinned to one service account in one namespace and STS's audience."""
    host = _issuer_host(oidc_issuer)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": oidc_provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{host}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{host}:aud": "sts.amazonaws.com",
                    }
                },
            }
        ],
    }


def model_reader(
    bucket_arn: str, prefix: str, *, kms_key_arn: str | None = None, region: str | None = None
) -> PolicyDocument:
    """Read one model prefix: `s3:GetObject` under it, `s3:ListBucket` limited to it.

    With SSE-KMS, reading also needs `kms:Decrypt` on the bucket's key, allowed only
    when S3 calls KMS on the reader's behalf (`kms:ViaService`).
    """
    key_prefix = prefix.strip("/")
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadModelObjects",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"{bucket_arn}/{key_prefix}/*",
        },
        {
            "Sid": "ListModelPrefix",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": [f"{key_prefix}/*"]}},
        },
    ]
    if kms_key_arn is not None:
        condition: dict[str, Any] = {}
        if region is not None:
            condition = {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}}
        statement: dict[str, Any] = {
            "Sid": "DecryptModelObjects",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": kms_key_arn,
        }
        if condition:
            statement["Condition"] = condition
        statements.append(statement)
    return {"Version": "2012-10-17", "Statement": statements}


def deny_insecure_transport(bucket_arn: str) -> PolicyDocument:
    """Bucket policy refusing every request not made over TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def ecr_keep_last(count: int) -> PolicyDocument:
    """ECR lifecycle policy: expire all but the `count` most recently pushed images."""
    if count < 1:
        raise ValueError(f"keep_last_images must be at least 1, got {count}")
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"Keep the last {count} images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": count,
                },
                "action": {"type": "expire"},
            }
        ]
    }
