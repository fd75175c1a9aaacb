"""Read-only checks against the real AWS account before `pulumi up` (`make preflight`).

    python -m components.offline.preflight --stack prod [--model-bucket NAME]

Uses boto3's default credential chain and the stack's `aws:region`. Every call is a
Describe/Get/List: nothing is created or changed. Checks, each pass, fail or skipped:

- credentials: STS says who you are;
- availability zones: the region has the configured AZs (or enough of them);
- instance types: every pool's types are offered in every one of those AZs;
- vCPU quotas: the Standard, G and VT, and P families' on-demand and spot quotas cover
  every pool at its maximum size (at the largest listed type);
- Kubernetes version: EKS publishes an AL2023 node AMI for it in the region;
- node AMIs: each pool's pinned `releaseVersion` is a published AMI release;
- add-on versions: each pinned add-on version exists for that Kubernetes version;
- node group sizes: where the stack's node groups already exist, each autoscaled pool's
  new `minSize`/`maxSize` still holds the live desired size (EKS refuses an update that
  would not; the check prints the `aws eks update-nodegroup-config` command that fixes it);
- model object: the model prefix has an object in `--model-bucket` (when given);
- image: the image tag (or digest) is in the ECR repository (when the config names one);
- account room (core/preflight checks below): Elastic IP and VPC quotas left for
  what the stack creates, no leftover `/aws/eks/<name>/cluster` log group, no EKS cluster
  of the same name;
- Helm charts: each pinned chart version is in its repository's index.yaml (HTTPS);
- node AMI release: the whole `releaseVersion` (patch included) is the published one;
- TLS certificate: issued, and in the stack's region.
- image pull: the nodes may pull that image (this account's registry, or a repository
  policy of another account's that lets this one pull);
- deployer access: the identity running `pulumi up` (an assumed-role session resolved to
  its role) will be a cluster admin exactly once: listed in `adminPrincipalArns` or made
  admin by `bootstrapCreatorAdmin`, not both and not neither.

Exit status 1 when a check fails, 2 for a bad stack config.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from components.core import catalog
from components.core.config import ConfigError, StackConfig, kubeconfig_auth
from components.core.scheduling import POOL_LABEL
from components.core.stackfile import read_stack_file
from components.core.subnets import nat_gateway_count

__all__ = [
    "ACCOUNT_QUOTAS",
    "ADDON_NAMES",
    "CHART_REPOSITORIES",
    "QUOTAS",
    "Check",
    "Preflight",
    "format_table",
    "main",
    "node_ami_parameter",
    "principal_of",
    "quota_class",
    "run_checks",
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


def _camel(field: str) -> str:
    head, *rest = field.split("_")
    return head + "".join(part.title() for part in rest)


_ASSUMED_ROLE = re.compile(r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/[^/]+$")


def principal_of(caller_arn: str, role_path: str | None = None) -> str:
    """The IAM principal EKS sees for a caller: an assumed-role session is its role.

    `arn:aws:sts::111122223333:assumed-role/deploy/ci-42` → `arn:aws:iam::111122223333:
    role/<path>deploy`; the session ARN drops the role's path, so `role_path` (from
    `iam:GetRole`) puts it back (`/` when None). Users and roots are returned as they are.
    EKS access entries take the role ARN, never the session (EKS user guide, "Create
    access entries": "you can't specify an assumed role session ARN").
    """
    match = _ASSUMED_ROLE.match(caller_arn)
    if match is None:
        return caller_arn
    partition, account, name = match.groups()
    return f"arn:{partition}:iam::{account}:role{role_path or '/'}{name}"


_ECR_REPOSITORY = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(.+)$")
_PULL_ACTIONS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")


def _listed(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _allows_pull(policy: Mapping[str, Any], account: str) -> bool:
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


def _error(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        error = response.get("Error", {})
        return f"{error.get('Code', type(exc).__name__)}: {error.get('Message', exc)}"
    return f"{type(exc).__name__}: {exc}"


ClientFactory = Callable[[str], Any]


class Preflight:
    """The checks over one stack config, with clients from `client(service_name)`."""

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

    # ----------------------------------------------------------------- the checks

    def credentials(self) -> Check:
        identity = self.client("sts").get_caller_identity()
        self.account = str(identity["Account"])
        return Check("credentials", "pass", f"account {identity['Account']} as {identity['Arn']}")

    def availability_zones(self) -> Check:
        zones = self.client("ec2").describe_availability_zones(
            Filters=[
                {"Name": "state", "Values": ["available"]},
                # Local and Wavelength Zones are listed too once opted in; EKS needs AZs.
                {"Name": "zone-type", "Values": ["availability-zone"]},
            ]
        )["AvailabilityZones"]
        offered = sorted(z["ZoneName"] for z in zones)
        wanted = self.config.network.availability_zones
        if wanted:
            missing = [az for az in wanted if az not in offered]
            if missing:
                return Check(
                    "availability zones",
                    "fail",
                    f"network.availabilityZones {missing} not available in {self.region} "
                    f"(available: {offered})",
                )
            return Check("availability zones", "pass", f"{', '.join(wanted)} available")
        count = self.config.network.az_count
        if len(offered) < count:
            return Check(
                "availability zones",
                "fail",
                f"network.azCount is {count} but {self.region} has {len(offered)}: {offered}",
            )
        self.azs = offered[:count]
        return Check("availability zones", "pass", f"using {', '.join(self.azs)} (first {count})")

    def instance_types(self) -> list[Check]:
        if not self.azs:
            return [Check("instance types", "skipped", "no availability zones to check")]
        types = sorted({t for pool in self.config.node_pools.values() for t in pool.instance_types})
        pages = (
            self.client("ec2")
            .get_paginator("describe_instance_type_offerings")
            .paginate(
                LocationType="availability-zone",
                Filters=[
                    {"Name": "instance-type", "Values": types},
                    {"Name": "location", "Values": self.azs},
                ],
            )
        )
        offered = {
            (o["InstanceType"], o["Location"])
            for page in pages
            for o in page["InstanceTypeOfferings"]
        }
        checks = []
        for name, pool in self.config.node_pools.items():
            missing = [
                f"{t} in {az}"
                for t in pool.instance_types
                for az in self.azs
                if (t, az) not in offered
            ]
            label = f"instance types: pool {name}"
            if missing:
                checks.append(Check(label, "fail", f"not offered: {', '.join(missing)}"))
            else:
                checks.append(Check(label, "pass", f"{', '.join(pool.instance_types)} in every AZ"))
        return checks

    def vcpu_quotas(self) -> list[Check]:
        types = sorted({t for pool in self.config.node_pools.values() for t in pool.instance_types})
        described = self.client("ec2").describe_instance_types(InstanceTypes=types)["InstanceTypes"]
        vcpus = {t["InstanceType"]: int(t["VCpuInfo"]["DefaultVCpus"]) for t in described}
        needed: dict[tuple[str, str], int] = {}
        pools: dict[tuple[str, str], list[str]] = {}
        for name, pool in self.config.node_pools.items():
            for cls in sorted({quota_class(t) for t in pool.instance_types}, key=str):
                if cls is None:
                    continue
                listed = [t for t in pool.instance_types if quota_class(t) == cls]
                largest = max(vcpus.get(t, 0) for t in listed)
                key: tuple[str, str] = (cls, str(pool.capacity_type))
                needed[key] = needed.get(key, 0) + pool.max_size * largest
                pools.setdefault(key, []).append(
                    f"nodePools.{name}.maxSize {pool.max_size}×{largest}"
                )
        quotas = self.client("service-quotas")
        checks = []
        for key in sorted(needed):
            code, title = QUOTAS[key]
            label = f"vCPU quota {code}"
            try:
                value = quotas.get_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"][
                    "Value"
                ]
            except Exception as exc:  # noqa: BLE001 (reported as the check's failure)
                checks.append(Check(label, "fail", f"{title}: cannot read it ({_error(exc)})"))
                continue
            need = needed[key]
            detail = (
                f"{title}: need {need} vCPUs at max size ({', '.join(pools[key])}), "
                f"quota {value:g} (running instances count against it too)"
            )
            checks.append(Check(label, "pass" if value >= need else "fail", detail))
        return checks

    def kubernetes_version(self) -> Check:
        version = self.config.cluster.kubernetes_version
        name = (
            f"{EKS_AMI_PARAMETER}/{version}/amazon-linux-2023/x86_64/standard/recommended/image_id"
        )
        try:
            ami = self.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
        except Exception as exc:  # noqa: BLE001
            return Check(
                "Kubernetes version",
                "fail",
                f"no EKS AL2023 AMI for {version} in {self.region} ({_error(exc)})",
            )
        return Check("Kubernetes version", "pass", f"{version}: recommended node AMI {ami}")

    def node_amis(self) -> list[Check]:
        """Each pool's pinned `releaseVersion` names a published EKS node AMI."""
        version = self.config.cluster.kubernetes_version
        ssm = self.client("ssm")
        checks = []
        for name, pool in self.config.node_pools.items():
            parameter = node_ami_parameter(
                version, pool.os, pool.architecture, pool.is_gpu, pool.release_version
            )
            label = f"node AMI: pool {name}"
            try:
                ami = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
            except Exception as exc:  # noqa: BLE001
                checks.append(
                    Check(
                        label,
                        "fail",
                        f"releaseVersion {pool.release_version}: no {parameter} ({_error(exc)})",
                    )
                )
                continue
            published = self._published_release(parameter, pool.os)
            if published is not None and published != pool.release_version:
                checks.append(
                    Check(
                        label,
                        "fail",
                        f"nodePools.{name}.releaseVersion {pool.release_version}: that AMI "
                        f"({ami}) is release {published}; pin {published}",
                    )
                )
                continue
            checks.append(Check(label, "pass", f"releaseVersion {pool.release_version} is {ami}"))
        return checks

    def _published_release(self, parameter: str, os: str) -> str | None:
        """The release version EKS publishes beside an AL2023 image id (the whole value,
        patch included); None where there is none to compare (Bottlerocket's path holds it)."""
        if os != "al2023":
            return None
        name = parameter.removesuffix("/image_id") + "/release_version"
        try:
            return str(self.client("ssm").get_parameter(Name=name)["Parameter"]["Value"])
        except Exception:  # noqa: BLE001 (older trees lack it: the date check stands)
            return None

    def addon_versions(self) -> list[Check]:
        version = self.config.cluster.kubernetes_version
        eks = self.client("eks")
        pinned = self.config.cluster.addons.model_dump()
        checks = []
        for field, addon in ADDON_NAMES.items():
            want = pinned[field]
            label = f"add-on {addon}"
            try:
                response = eks.describe_addon_versions(addonName=addon, kubernetesVersion=version)
            except Exception as exc:  # noqa: BLE001
                checks.append(Check(label, "fail", f"cannot list versions ({_error(exc)})"))
                continue
            available = [
                v["addonVersion"]
                for a in response.get("addons", [])
                for v in a.get("addonVersions", [])
            ]
            if want in available:
                checks.append(Check(label, "pass", f"{want} exists for Kubernetes {version}"))
            else:
                newest = ", ".join(available[:3]) or "none"
                checks.append(
                    Check(
                        label,
                        "fail",
                        f"cluster.addons.{_camel(field)} {want} is not offered for "
                        f"Kubernetes {version} (newest: {newest})",
                    )
                )
        return checks

    def node_group_sizes(self) -> list[Check]:
        """Each existing autoscaled pool's new min/max against the live desired size.

        The node group's `desiredSize` is in `ignore_changes` once cluster-autoscaler owns
        it, so an update sends the new min and max with the desired size Pulumi last
        recorded; EKS refuses min > desired or desired > max (UpdateNodegroupConfig:
        "Minimum capacity N can't be greater than desired size M"). Fixing the live group
        first, then `pulumi up --refresh` (so the recorded size is the fixed one), makes
        the change in one update. Node groups are auto-named: each is found by the pool
        label (`mlops.dev/pool`) the stack puts on it.
        """
        eks = self.client("eks")
        cluster = self.config.cluster.name
        try:
            eks.describe_cluster(name=cluster)
        except Exception as exc:
            if "ResourceNotFound" in _error(exc):
                return [Check("node group sizes", "skipped", f"cluster {cluster} not created yet")]
            raise
        names = [
            name
            for page in eks.get_paginator("list_nodegroups").paginate(clusterName=cluster)
            for name in page.get("nodegroups", [])
        ]
        live: dict[str, dict[str, Any]] = {}
        for name in names:
            group = eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"]
            pool = group.get("labels", {}).get(POOL_LABEL)
            if pool is not None:
                live[pool] = group
        checks = []
        for pool_name, pool in self.config.node_pools.items():
            label = f"node group size: pool {pool_name}"
            group = live.get(pool_name)
            if group is None:
                checks.append(
                    Check(
                        label,
                        "pass",
                        f"no node group yet in {cluster}: created with "
                        f"{pool.min_size}/{pool.initial_desired_size}/{pool.max_size}",
                    )
                )
                continue
            scaling = group["scalingConfig"]
            desired = int(scaling["desiredSize"])
            if not pool.autoscaled or pool.min_size <= desired <= pool.max_size:
                checks.append(
                    Check(
                        label,
                        "pass",
                        f"{group['nodegroupName']}: live desired size {desired}, new "
                        f"min/max {pool.min_size}/{pool.max_size}",
                    )
                )
                continue
            fixed = min(max(desired, pool.min_size), pool.max_size)
            command = (
                f"aws eks update-nodegroup-config --region {self.region} "
                f"--cluster-name {cluster} --nodegroup-name {group['nodegroupName']} "
                f"--scaling-config minSize={pool.min_size},maxSize={pool.max_size},"
                f"desiredSize={fixed}"
            )
            checks.append(
                Check(
                    label,
                    "fail",
                    f"live desired size {desired} is outside the new minSize/maxSize "
                    f"{pool.min_size}/{pool.max_size}, which EKS refuses; run `{command}`, "
                    "then `pulumi up --refresh`",
                )
            )
        return checks

    def model_object(self) -> Check:
        service = self.config.service
        if service is None:
            return Check("model object", "skipped", "no service in this stack")
        if self.model_bucket is None:
            return Check(
                "model object",
                "skipped",
                "the bucket is created by this stack; pass --model-bucket to check one",
            )
        prefix = service.model_prefix.rstrip("/") + "/"
        try:
            listed = self.client("s3").list_objects_v2(
                Bucket=self.model_bucket, Prefix=prefix, MaxKeys=1
            )
        except Exception as exc:  # noqa: BLE001
            return Check("model object", "fail", f"s3://{self.model_bucket}: {_error(exc)}")
        if listed.get("KeyCount", 0) == 0:
            return Check("model object", "fail", f"nothing under s3://{self.model_bucket}/{prefix}")
        return Check("model object", "pass", f"s3://{self.model_bucket}/{prefix} has objects")

    def image(self) -> Check:
        service = self.config.service
        if service is None or service.image.repository is None:
            return Check(
                "image",
                "skipped",
                "service.image.repository not set: `pulumi up` builds serving/Dockerfile "
                "and pushes it to the stack's own ECR repository (needs Docker with buildx)",
            )
        repository = service.image.repository
        match = _ECR_REPOSITORY.match(repository)
        if match is None:
            return Check("image", "skipped", f"{repository} is not an ECR repository")
        registry, name = match.group(1), match.group(3)
        # The config pins an existing image by digest (core/config/service.py, ImageRef).
        image_id = (
            {"imageDigest": service.image.digest}
            if service.image.digest
            else {"imageTag": str(service.image.tag)}
        )
        try:
            # registryId: the repository may be another account's (shared images).
            self.client("ecr").describe_images(
                registryId=registry, repositoryName=name, imageIds=[image_id]
            )
        except Exception as exc:  # noqa: BLE001
            return Check("image", "fail", f"{repository} {image_id}: {_error(exc)}")
        return Check("image", "pass", f"{repository} has {next(iter(image_id.values()))}")

    # ----------------------------------------------------------------- the account

    def account_quotas(self) -> list[Check]:
        """Elastic IPs (one per NAT gateway) and VPCs left under their quotas."""
        network = self.config.network
        nat = nat_gateway_count(network.az_count, network.nat_strategy)
        ec2 = self.client("ec2")
        wanted = {
            "eip": (nat, len(ec2.describe_addresses().get("Addresses", []))),
            "vpc": (1, len(ec2.describe_vpcs().get("Vpcs", []))),
        }
        checks = []
        for key, (new, used) in wanted.items():
            if not new:
                continue
            service, code, title = ACCOUNT_QUOTAS[key]
            label = f"quota {title}"
            try:
                value = self.client("service-quotas").get_service_quota(
                    ServiceCode=service, QuotaCode=code
                )["Quota"]["Value"]
            except Exception as exc:  # noqa: BLE001
                checks.append(Check(label, "fail", f"{code}: cannot read it ({_error(exc)})"))
                continue
            why = (
                f"network.natStrategy {network.nat_strategy!r} needs {new}"
                if key == "eip"
                else "the stack creates 1"
            )
            detail = f"{code}: {used} in use, {why}, quota {value:g}"
            checks.append(Check(label, "pass" if used + new <= value else "fail", detail))
        return checks

    def leftovers(self) -> list[Check]:
        """A log group or cluster of the same name makes CreateCluster or CreateLogGroup fail."""
        name = self.config.cluster.name
        group = f"/aws/eks/{name}/cluster"
        groups = self.client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
        checks = []
        if any(g.get("logGroupName") == group for g in groups):
            checks.append(
                Check(
                    "leftover log group",
                    "fail",
                    f"{group} exists (left by an earlier cluster named {name!r}): the stack "
                    "creates it, so delete it or choose another cluster.name",
                )
            )
        else:
            checks.append(Check("leftover log group", "pass", f"no {group}"))
        try:
            self.client("eks").describe_cluster(name=name)
        except Exception as exc:  # noqa: BLE001
            if "ResourceNotFound" not in _error(exc):
                checks.append(Check("cluster name", "fail", f"cannot check it ({_error(exc)})"))
            else:
                checks.append(Check("cluster name", "pass", f"no EKS cluster named {name!r}"))
            return checks
        checks.append(
            Check(
                "cluster name",
                "fail",
                f"cluster.name {name!r}: an EKS cluster of that name already exists in "
                f"{self.region}",
            )
        )
        return checks

    def charts(self) -> list[Check]:
        """Each pinned chart version is listed in its repository's index.yaml."""
        import yaml

        cluster = self.config.cluster
        service = self.config.service
        used = {
            "clusterAutoscaler": cluster.cluster_autoscaler,
            "nvidiaDevicePlugin": cluster.nvidia_device_plugin,
            "awsLoadBalancerController": cluster.aws_load_balancer_controller,
        }
        needed = {
            "clusterAutoscaler": True,
            "nvidiaDevicePlugin": any(
                p.is_gpu and p.os == "al2023" for p in self.config.node_pools.values()
            ),
            "awsLoadBalancerController": service is not None and service.exposure != "cluster-ip",
        }
        checks = []
        for key, chart in used.items():
            if not chart.enabled or not needed[key]:
                continue
            name, _ = CHART_REPOSITORIES[key]
            url = self.chart_repositories[key].rstrip("/") + "/index.yaml"
            label = f"chart {name}"
            try:
                index = yaml.safe_load(self.fetch(url))
            except Exception as exc:  # noqa: BLE001
                checks.append(Check(label, "fail", f"cannot read {url} ({_error(exc)})"))
                continue
            entries = (index or {}).get("entries", {}).get(name, [])
            versions = [str(e.get("version")) for e in entries if isinstance(e, dict)]
            if chart.version in versions:
                checks.append(Check(label, "pass", f"{chart.version} is in {url}"))
            else:
                checks.append(
                    Check(
                        label,
                        "fail",
                        f"cluster.{key}.version {chart.version} is not in {url} "
                        f"(newest: {', '.join(versions[:3]) or 'none'})",
                    )
                )
        return checks

    def certificate(self) -> Check:
        service = self.config.service
        if service is None or service.tls_certificate_arn is None:
            return Check("TLS certificate", "skipped", "no service.tlsCertificateArn")
        arn = service.tls_certificate_arn
        if arn.split(":")[3] != self.region:
            return Check(
                "TLS certificate",
                "fail",
                f"service.tlsCertificateArn {arn} is not in {self.region}",
            )
        try:
            described = self.client("acm").describe_certificate(CertificateArn=arn)["Certificate"]
        except Exception as exc:  # noqa: BLE001
            return Check(
                "TLS certificate", "fail", f"service.tlsCertificateArn {arn}: {_error(exc)}"
            )
        status = described.get("Status")
        if status != "ISSUED":
            return Check(
                "TLS certificate",
                "fail",
                f"service.tlsCertificateArn {arn} is {status}, not ISSUED: the HTTPS listener "
                "would be refused",
            )
        return Check("TLS certificate", "pass", f"{arn} is issued")

    def image_pull(self) -> Check:
        """The nodes can pull the existing image the config names.

        The node role (AmazonEC2ContainerRegistryReadOnly) pulls from its own account's
        registries; another account's repository must allow it in its repository policy
        (ECR user guide, "Private repository policy examples": allow another account to
        pull, with `ecr:BatchGetImage` and `ecr:GetDownloadUrlForLayer`).
        """
        label = "image pull"
        service = self.config.service
        repository = service.image.repository if service is not None else None
        if repository is None:
            return Check(label, "skipped", "the image is built into the stack's own repository")
        match = _ECR_REPOSITORY.match(repository)
        if match is None:
            return Check(
                label, "skipped", f"{repository} is not in ECR: make sure the nodes can pull it"
            )
        registry, name = match.group(1), match.group(3)
        account = str(self.client("sts").get_caller_identity()["Account"])
        if registry == account:
            return Check(label, "pass", f"{repository} is in this account ({account})")
        try:
            text = self.client("ecr").get_repository_policy(
                registryId=registry, repositoryName=name
            )["policyText"]
        except Exception as exc:  # noqa: BLE001
            return Check(
                label,
                "fail",
                f"{repository} is in account {registry}, not {account}, and its repository "
                f"policy cannot be read ({_error(exc)}): it must allow ecr:BatchGetImage and "
                f"ecr:GetDownloadUrlForLayer to arn:aws:iam::{account}:root",
            )
        if _allows_pull(json.loads(text), account):
            return Check(
                label, "pass", f"{repository}: its repository policy lets account {account} pull"
            )
        return Check(
            label,
            "fail",
            f"{repository} is in account {registry} and its repository policy does not let "
            f"account {account} pull: add a statement allowing ecr:BatchGetImage and "
            f"ecr:GetDownloadUrlForLayer to arn:aws:iam::{account}:root",
        )

    def deployer_access(self) -> Check:
        """The deployer gets exactly one access entry.

        Listed in `adminPrincipalArns` with `bootstrapCreatorAdmin: true`, pulumi-eks
        creates a second access entry for the same principal and EKS refuses it
        (ResourceInUseException, pulumi/pulumi-eks#2373). Neither listed nor creator
        admin, everything up to the first Kubernetes object is created, then every Helm
        release and object fails Unauthorized (no access entry maps the caller).
        """
        label = "deployer access"
        cluster = self.config.cluster
        caller = str(self.client("sts").get_caller_identity()["Arn"])
        match = _ASSUMED_ROLE.match(caller)
        principal = caller
        resolved = ""
        if self.deployer_role_arn is not None:
            # The AWS provider assumes this role: EKS sees it, not the caller.
            principal, resolved = self.deployer_role_arn, " (the stack's aws:assumeRoles)"
        elif match is not None:
            name = match.group(3)
            try:
                role = self.client("iam").get_role(RoleName=name)["Role"]
            except Exception as exc:  # noqa: BLE001 (reported, and matched by name below)
                listed = [a for a in cluster.admin_principal_arns if a.rsplit("/", 1)[-1] == name]
                if len(listed) != 1:
                    return Check(
                        label,
                        "fail",
                        f"cannot resolve {caller} to its role ({_error(exc)}): allow "
                        f"iam:GetRole on role {name}, or check by hand that its role ARN "
                        "is listed in cluster.adminPrincipalArns exactly once",
                    )
                principal = listed[0]
                resolved = f" (role {name} matched by name; iam:GetRole denied)"
            else:
                principal = principal_of(caller, str(role.get("Path", "/")))
            resolved = resolved or f" (session {caller})"
        listed_here = principal in cluster.admin_principal_arns
        if listed_here and cluster.bootstrap_creator_admin:
            return Check(
                label,
                "fail",
                f"{principal}{resolved} is in cluster.adminPrincipalArns and "
                "bootstrapCreatorAdmin is true: pulumi-eks would create a second access "
                "entry for it and EKS refuses it (ResourceInUseException, "
                "pulumi/pulumi-eks#2373). Fix: set cluster.bootstrapCreatorAdmin: false "
                "(the listed entry already makes it admin)",
            )
        if not listed_here and not cluster.bootstrap_creator_admin:
            return Check(
                label,
                "fail",
                f"{principal}{resolved} runs `pulumi up` but is not in "
                "cluster.adminPrincipalArns and bootstrapCreatorAdmin is false: the "
                "cluster and node groups would be created, then every Kubernetes object "
                f"fail Unauthorized. Fix: add {principal} to cluster.adminPrincipalArns "
                "(or deploy as one of the listed roles)",
            )
        how = "listed in adminPrincipalArns" if listed_here else "bootstrapCreatorAdmin"
        return Check(label, "pass", f"{principal}{resolved} becomes cluster admin ({how})")

    # ----------------------------------------------------------------- all of them

    def run(self) -> list[Check]:
        try:
            checks = [self.credentials()]
        except Exception as exc:  # noqa: BLE001
            return [
                Check("credentials", "fail", _error(exc)),
                Check("everything else", "skipped", "no working AWS credentials"),
            ]
        steps: list[tuple[str, Callable[[], Check | list[Check]]]] = [
            ("availability zones", self.availability_zones),
            ("instance types", self.instance_types),
            ("vCPU quotas", self.vcpu_quotas),
            ("Kubernetes version", self.kubernetes_version),
            ("node AMIs", self.node_amis),
            ("add-on versions", self.addon_versions),
            ("node group sizes", self.node_group_sizes),
            ("model object", self.model_object),
            ("image", self.image),
            ("account quotas", self.account_quotas),
            ("leftovers", self.leftovers),
            ("Helm charts", self.charts),
            ("TLS certificate", self.certificate),
            ("image pull", self.image_pull),
            ("deployer access", self.deployer_access),
        ]
        for name, step in steps:
            try:
                result = step()
            except Exception as exc:  # noqa: BLE001 (one broken call must not hide the rest)
                result = Check(name, "fail", _error(exc))
            checks.extend(result if isinstance(result, list) else [result])
        return checks


def _fetch(url: str) -> bytes:
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"not an HTTP(S) URL: {url}")
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (checked above)
        data: bytes = response.read()
    return data


def run_checks(
    config: StackConfig,
    region: str,
    *,
    session: Any = None,
    clients: Mapping[str, Any] | None = None,
    model_bucket: str | None = None,
    stack: str | None = None,
    project: str | None = None,
    fetch: Callable[[str], bytes] | None = None,
    chart_repositories: Mapping[str, str] | None = None,
    deployer_role_arn: str | None = None,
) -> list[Check]:
    """All checks; `clients` overrides the boto3 client of a service (tests stub one)."""
    overrides = dict(clients or {})
    if session is None:
        import boto3

        session = boto3.session.Session(region_name=region)

    def client(service: str) -> Any:
        if service not in overrides:
            overrides[service] = session.client(service, region_name=region)
        return overrides[service]

    return Preflight(
        config,
        region,
        client,
        model_bucket=model_bucket,
        stack=stack,
        project=project,
        fetch=fetch,
        chart_repositories=chart_repositories,
        deployer_role_arn=deployer_role_arn,
    ).run()


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


def _load(project_dir: Path, stack: str) -> tuple[StackConfig, str, str]:
    stack_file = read_stack_file(project_dir, stack)
    return stack_file.platform(), stack_file.region, stack_file.project


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", default="dev", help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--project-dir", default=".", type=Path, help="folder of Pulumi.yaml")
    parser.add_argument("--model-bucket", default=None, help="an existing model bucket to check")
    args = parser.parse_args(argv)
    if not (args.project_dir / f"Pulumi.{args.stack}.yaml").exists():
        print(f"error: no stack config Pulumi.{args.stack}.yaml", file=sys.stderr)
        return 2
    try:
        config, region, project = _load(args.project_dir, args.stack)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Preflight of stack {args.stack} in {region} (read-only)…", file=sys.stderr)
    session = None
    # The credentials `pulumi up` will use: the stack's `aws:profile` when it sets one.
    stack_config = read_stack_file(args.project_dir, args.stack).config
    profile = stack_config.get("aws:profile")
    if profile:
        import boto3

        session = boto3.session.Session(region_name=region, profile_name=profile)
    roles = stack_config.get("aws:assumeRoles")
    try:
        auth = kubeconfig_auth(profile, json.loads(roles) if roles else None)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    checks = run_checks(
        config,
        region,
        session=session,
        model_bucket=args.model_bucket,
        stack=args.stack,
        project=project,
        deployer_role_arn=auth.role_arn,
    )
    print(format_table(checks))
    return 1 if any(c.status == "fail" for c in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
