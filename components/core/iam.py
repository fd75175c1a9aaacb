"""IAM policy and trust documents: plain dicts, rendered to JSON by the components."""

from __future__ import annotations

import json
from typing import Any

from components.core.constants import AUTOSCALED_TAG

__all__ = [
    "CLUSTER_ADMIN_ACCESS_POLICY",
    "CNI_POLICY",
    "EBS_CSI_POLICY",
    "NODE_POLICIES",
    "NODE_ROLE_POLICIES",
    "NOTIFYING_SERVICES",
    "REGISTRY_PULL_ONLY_POLICY",
    "SSM_POLICY",
    "PolicyDocument",
    "access_policy_arn",
    "cluster_autoscaler_policy",
    "deny_insecure_transport",
    "ecr_keep_last",
    "flow_logs_write",
    "irsa_trust",
    "issuer_host",
    "kms_key_policy",
    "log_key_policy",
    "logs_key_statement",
    "managed_policy_arn",
    "model_reader",
    "node_policy_names",
    "notification_key_policy",
    "notification_topic_policy",
    "service_trust",
    "to_json",
]

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


# --------------------------------------------------------------------------- EKS

#: The managed policies a node role carries; nothing else (the CNI policy lives on the
#: vpc-cni add-on's own IRSA role, so pods cannot borrow it through the node).
NODE_POLICIES: tuple[str, ...] = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryReadOnly",
)
SSM_POLICY = "AmazonSSMManagedInstanceCore"
#: The newer, narrower registry policy; a node role may carry it instead of ReadOnly.
REGISTRY_PULL_ONLY_POLICY = "AmazonEC2ContainerRegistryPullOnly"
#: What a node role may carry (the `iam-least-privilege` rule checks it): the worker and
#: registry policies, and SSM when enabled.
NODE_ROLE_POLICIES: frozenset[str] = frozenset(
    {*NODE_POLICIES, REGISTRY_PULL_ONLY_POLICY, SSM_POLICY}
)
CNI_POLICY = "AmazonEKS_CNI_Policy"
EBS_CSI_POLICY = "service-role/AmazonEBSCSIDriverPolicy"
CLUSTER_ADMIN_ACCESS_POLICY = "AmazonEKSClusterAdminPolicy"


def access_policy_arn(name: str, *, partition: str) -> str:
    """An EKS access policy's ARN in the partition (`aws`, `aws-cn`, `aws-us-gov`)."""
    return f"arn:{partition}:eks::aws:cluster-access-policy/{name}"


def managed_policy_arn(name: str, *, partition: str) -> str:
    """`arn:aws:iam::aws:policy/<name>` (name may carry a path: `service-role/...`)."""
    return f"arn:{partition}:iam::aws:policy/{name}"


def node_policy_names(*, enable_ssm: bool) -> tuple[str, ...]:
    """The managed policies of a node role: the two EKS needs, plus SSM when asked."""
    return (*NODE_POLICIES, SSM_POLICY) if enable_ssm else NODE_POLICIES


def issuer_host(oidc_issuer: str) -> str:
    """The issuer as IAM condition keys spell it: no scheme, no trailing slash."""
    return oidc_issuer.removeprefix("https://").rstrip("/")


def irsa_trust(
    oidc_provider_arn: str, oidc_issuer: str, *, namespace: str, service_account: str
) -> PolicyDocument:
    """Trust for IAM Roles for Service Accounts, pinned to one service account.

    Both `sub` (exactly `system:serviceaccount:<ns>:<sa>`) and `aud` (`sts.amazonaws.com`)
    are checked with StringEquals, so no other pod, namespace or audience can assume it.
    The audience is `sts.amazonaws.com` in every partition, China included: it is the
    pod identity webhook's token audience, not an endpoint (eksctl#1910,
    terraform-aws-eks#1704 and #2700: `sts.amazonaws.com.cn` fails with "Incorrect token
    audience").
    """
    host = issuer_host(oidc_issuer)
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
    bucket_arn: str,
    prefix: str,
    *,
    kms_key_arn: str | None = None,
    region: str | None = None,
    dns_suffix: str = "amazonaws.com",
) -> PolicyDocument:
    """Read one model prefix: `s3:GetObject` under it, `s3:ListBucket` limited to it.

    With SSE-KMS, reading also needs `kms:Decrypt` on the bucket's key, allowed only
    when S3 calls KMS on the reader's behalf (`kms:ViaService`, S3's endpoint host in the
    partition: `s3.<region>.amazonaws.com`, `s3.cn-north-1.amazonaws.com.cn` in China).
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
            condition = {"StringEquals": {"kms:ViaService": f"s3.{region}.{dns_suffix}"}}
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


def cluster_autoscaler_policy(
    cluster_name: str, *, region: str, account_id: str, partition: str = "aws"
) -> PolicyDocument:
    """cluster-autoscaler's least privilege: resize only this cluster's node groups.

    Writes are allowed only on Auto Scaling groups tagged
    `k8s.io/cluster-autoscaler/<cluster>=owned`, the tag EKS managed node groups carry,
    and `mlops.dev/autoscaled=true`, which only `autoscaled: true` pools carry; reads are
    account-wide because the Describe APIs do not support resource scoping.
    """
    autoscaled_key, autoscaled_value = AUTOSCALED_TAG
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ScaleOwnNodeGroups",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:SetDesiredCapacity",
                    "autoscaling:TerminateInstanceInAutoScalingGroup",
                ],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned",
                        f"aws:ResourceTag/{autoscaled_key}": autoscaled_value,
                    }
                },
            },
            {
                "Sid": "Discover",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "autoscaling:DescribeTags",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                ],
                "Resource": "*",
            },
            {
                "Sid": "DescribeOwnNodeGroups",
                "Effect": "Allow",
                "Action": "eks:DescribeNodegroup",
                "Resource": (
                    f"arn:{partition}:eks:{region}:{account_id}:nodegroup/{cluster_name}/*"
                ),
            },
        ],
    }


def kms_key_policy(account_id: str, *, partition: str = "aws") -> PolicyDocument:
    """The key policy of the secrets-encryption key: the account administers it via IAM.

    This is AWS's default key policy made explicit, so the key cannot be orphaned by a
    policy that locks out the account; who may use it is then decided by IAM.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EnableIamPolicies",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }


NOTIFYING_SERVICES = ("cloudwatch.amazonaws.com", "budgets.amazonaws.com")
"""The services that publish to the alarm topic: CloudWatch alarms and AWS Budgets."""


def notification_key_policy(
    account_id: str, *, region: str, partition: str = "aws"
) -> PolicyDocument:
    """The key policy of the observability KMS key (alarm topic and log groups).

    An AWS-managed SNS key cannot be used: CloudWatch and Budgets must be allowed to
    generate data keys and decrypt with the topic's key (SNS developer guide, "Enable
    compatibility between event sources from AWS services and encrypted topics"). CloudWatch
    Logs may use it for this account's log groups only (CloudWatch Logs user guide,
    "Encrypt log data in CloudWatch Logs using AWS KMS").
    """
    document = kms_key_policy(account_id, partition=partition)
    document["Statement"] += [
        {
            "Sid": "AlarmAndBudgetPublishers",
            "Effect": "Allow",
            "Principal": {"Service": list(NOTIFYING_SERVICES)},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        },
        logs_key_statement(account_id, region=region, partition=partition),
    ]
    return document


def logs_key_statement(account_id: str, *, region: str, partition: str = "aws") -> dict[str, Any]:
    """CloudWatch Logs may use the key for this account's log groups in `region` only
    (CloudWatch Logs user guide, "Encrypt log data in CloudWatch Logs using AWS KMS")."""
    return {
        "Sid": "CloudWatchLogs",
        "Effect": "Allow",
        "Principal": {"Service": f"logs.{region}.amazonaws.com"},
        "Action": [
            "kms:Encrypt*",
            "kms:Decrypt*",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*",
            "kms:Describe*",
        ],
        "Resource": "*",
        "Condition": {
            "ArnLike": {
                "kms:EncryptionContext:aws:logs:arn": (
                    f"arn:{partition}:logs:{region}:{account_id}:*"
                )
            }
        },
    }


def log_key_policy(account_id: str, *, region: str, partition: str = "aws") -> PolicyDocument:
    """The key policy of a key that encrypts log groups (the control plane's, the flow
    logs'): the account administers it via IAM, and CloudWatch Logs uses it."""
    document = kms_key_policy(account_id, partition=partition)
    document["Statement"].append(logs_key_statement(account_id, region=region, partition=partition))
    return document


def notification_topic_policy(topic_arn: str, account_id: str) -> PolicyDocument:
    """Who may publish to the alarm topic: this account's CloudWatch alarms and Budgets."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AlarmAndBudgetPublishers",
                "Effect": "Allow",
                "Principal": {"Service": list(NOTIFYING_SERVICES)},
                "Action": "SNS:Publish",
                "Resource": topic_arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        ],
    }
