"""What every preflight check shares: the result, AWS's tables, pure helpers, the context."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from components.core import catalog
from components.core.config import StackConfig

__all__ = [
    "ACCOUNT_QUOTAS",
    "ADDON_NAMES",
    "ASSUMED_ROLE",
    "CHART_REPOSITORIES",
    "ECR_REPOSITORY",
    "EKS_AMI_PARAMETER",
    "QUOTAS",
    "Check",
    "CheckContext",
    "ClientFactory",
    "Status",
    "allows_pull",
    "camel",
    "error_text",
    "format_table",
    "node_ami_parameter",
    "principal_of",
    "quota_class",
]

Status = Literal["pass", "fail", "skipped"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str


#: Service Quotas codes of the EC2 vCPU quotas, by (instance class, capacity type).
QUOTAS: dict[tuple[str, str], tuple[str, str]] = {
    ("standard", "ON_DEMAND"): (
        "L-1216C47A",
        "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances",
    ),
    ("g", "ON_DEMAND"): ("L-DB2E81BA", "Running On-Demand G and VT instances"),
    ("p", "ON_DEMAND"): ("L-417A185B", "Running On-Demand P instances"),
    ("standard", "SPOT"): (
        "L-34B43A08",
        "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests",
    ),
    ("g", "SPOT"): ("L-3819A6DF", "All G and VT Spot Instance Requests"),
    ("p", "SPOT"): ("L-7212CCBC", "All P Spot Instance Requests"),
}


#: The EKS add-on name of each pinned version in `cluster.addons`.
ADDON_NAMES: dict[str, str] = {
    "vpc_cni": "vpc-cni",
    "coredns": "coredns",
    "kube_proxy": "kube-proxy",
    "ebs_csi_driver": "aws-ebs-csi-driver",
    "pod_identity_agent": "eks-pod-identity-agent",
    "metrics_server": "metrics-server",
}


_STANDARD_LETTERS = frozenset("acdhimrtz")


# Families with vCPU quotas of their own (Inferentia, Trainium, DL, F, X, high memory...).
_OWN_QUOTA = ("inf", "trn", "dl", "f", "x", "u-", "hpc", "mac")


#: Where EKS publishes its node AMIs per Kubernetes version (a public SSM parameter tree).
EKS_AMI_PARAMETER = "/aws/service/eks/optimized-ami"


#: The Helm repository of each chart the platform installs (the components' own URLs).
CHART_REPOSITORIES: dict[str, tuple[str, str]] = {
    "clusterAutoscaler": ("cluster-autoscaler", "https://kubernetes.github.io/autoscaler"),
    "nvidiaDevicePlugin": ("nvidia-device-plugin", "https://nvidia.github.io/k8s-device-plugin"),
    "awsLoadBalancerController": (
        "aws-load-balancer-controller",
        "https://aws.github.io/eks-charts",
    ),
}


#: Service Quotas of what the stack creates per account and region: (service, code, title).
ACCOUNT_QUOTAS: dict[str, tuple[str, str, str]] = {
    "eip": ("ec2", "L-0263D0A3", "EC2-VPC Elastic IPs"),
    "vpc": ("vpc", "L-F678F1CE", "VPCs per Region"),
}


def quota_class(instance_type: str) -> str | None:
    """`standard`, `g` (G and VT) or `p`; None for families with quotas of their own."""
    family = catalog.instance_family(instance_type)
    if family.startswith(_OWN_QUOTA):
        return None
    if family.startswith(("g", "vt")):
        return "g"
    if family.startswith("p"):
        return "p"
    if family[0] in _STANDARD_LETTERS:
        return "standard"
    return None


def node_ami_parameter(
    kubernetes_version: str, os: str, architecture: str, gpu: bool, release_version: str
) -> str:
    """The public SSM parameter of a pinned EKS node AMI release.

    AL2023 release `1.35.0-20251209` →
    `/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/x86_64/standard/`
    `amazon-eks-node-al2023-x86_64-standard-1.35-v20251209/image_id`; Bottlerocket
    `1.20.1-7c3e9198` → `/aws/service/bottlerocket/aws-k8s-1.35/x86_64/1.20.1-7c3e9198/image_id`.
    """
    if os == "bottlerocket":
        flavour = f"aws-k8s-{kubernetes_version}{'-nvidia' if gpu else ''}"
        return f"/aws/service/bottlerocket/{flavour}/{architecture}/{release_version}/image_id"
    variant = "nvidia" if gpu else "standard"
    date = release_version.rsplit("-", 1)[-1]
    image = f"amazon-eks-node-al2023-{architecture}-{variant}-{kubernetes_version}-v{date}"
    return (
        f"{EKS_AMI_PARAMETER}/{kubernetes_version}/amazon-linux-2023/{architecture}/"
        f"{variant}/{image}/image_id"
    )


def camel(field: str) -> str:
    head, *rest = field.split("_")
    return head + "".join(part.title() for part in rest)


ASSUMED_ROLE = re.compile(r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/[^/]+$")


def principal_of(caller_arn: str, role_path: str | None = None) -> str:
    """The IAM principal EKS sees for a caller: an assumed-role session is its role.

    `arn:aws:sts::111122223333:assumed-role/deploy/ci-42` → `arn:aws:iam::111122223333:
    role/<path>deploy`; the session ARN drops the role's path, so `role_path` (from
    `iam:GetRole`) puts it back (`/` when None). Users and roots are returned as they are.
    EKS access entries take the role ARN, never the session (EKS user guide, "Create
    access entries": "you can't specify an assumed role session ARN").
    """
    match = ASSUMED_ROLE.match(caller_arn)
    if match is None:
        return caller_arn
    partition, account, name = match.groups()
    return f"arn:{partition}:iam::{account}:role{role_path or '/'}{name}"


ECR_REPOSITORY = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(.+)$")


_PULL_ACTIONS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")


def _listed(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def allows_pull(policy: Mapping[str, Any], account: str) -> bool:
    """Whether a repository policy's Allow statements (without conditions) grant both
    pull actions to `account`: its root, a principal of it, or everyone."""
    granted: set[str] = set()
    for statement in _listed_statements(policy):
        if statement.get("Effect") != "Allow" or statement.get("Condition"):
            continue
        principal = statement.get("Principal")
        principals = ["*"] if principal == "*" else _listed((principal or {}).get("AWS", []))
        if not any(p == "*" or p == account or f":{account}:" in p for p in principals):
            continue
        for action in _listed(statement.get("Action", [])):
            for wanted in _PULL_ACTIONS:
                if action in (wanted, "ecr:*", "*"):
                    granted.add(wanted)
    return granted == set(_PULL_ACTIONS)


def _listed_statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = policy.get("Statement", [])
    return [statements] if isinstance(statements, Mapping) else list(statements)


def error_text(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        error = response.get("Error", {})
        return f"{error.get('Code', type(exc).__name__)}: {error.get('Message', exc)}"
    return f"{type(exc).__name__}: {exc}"


def format_table(checks: Sequence[Check]) -> str:
    width = max(len(c.name) for c in checks)
    mark = {"pass": "PASS", "fail": "FAIL", "skipped": "SKIP"}
    rows = [f"  {'check':<{width}}  status  why", f"  {'-' * width}  ------  ---"]
    rows += [f"  {c.name:<{width}}  {mark[c.status]:<6}  {c.detail}" for c in checks]
    failed = sum(c.status == "fail" for c in checks)
    rows.append(
        f"\n{len(checks)} checks: {failed} failed, "
        f"{sum(c.status == 'skipped' for c in checks)} skipped"
    )
    return "\n".join(rows) + "\n"


ClientFactory = Callable[[str], Any]


def _fetch(url: str) -> bytes:
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"not an HTTP(S) URL: {url}")
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (checked above)
        data: bytes = response.read()
    return data


class CheckContext:
    """The stack config, its region and clients, and what earlier checks found."""

    def __init__(
        self,
        config: StackConfig,
        region: str,
        client: ClientFactory,
        *,
        model_bucket: str | None = None,
        stack: str | None = None,
        project: str | None = None,
        fetch: Callable[[str], bytes] | None = None,
        chart_repositories: Mapping[str, str] | None = None,
        deployer_role_arn: str | None = None,
    ) -> None:
        self.config = config
        self.region = region
        self.client = client
        self.model_bucket = model_bucket
        self.stack = stack
        self.project = project
        self.fetch = fetch or _fetch
        self.chart_repositories = {key: url for key, (_, url) in CHART_REPOSITORIES.items()} | dict(
            chart_repositories or {}
        )
        self.account: str | None = None
        self.deployer_role_arn = deployer_role_arn
        """The role of the stack's `aws:assumeRoles`: who `pulumi up` acts as, if set."""
        self.azs: list[str] = list(config.network.availability_zones or [])
