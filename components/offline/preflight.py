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
- model object: the model prefix has an object in `--model-bucket` (when given);
- image: the image tag (or digest) is in the ECR repository (when the config names one);
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from components.core import catalog
from components.core.config import ConfigError, StackConfig
from components.core.stackfile import read_stack_file

__all__ = [
    "ADDON_NAMES",
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
    ) -> None:
        self.config = config
        self.region = region
        self.client = client
        self.model_bucket = model_bucket
        self.azs: list[str] = list(config.network.availability_zones or [])

    # ----------------------------------------------------------------- the checks

    def credentials(self) -> Check:
        identity = self.client("sts").get_caller_identity()
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
                pools.setdefault(key, []).append(f"{name} {pool.max_size}×{largest}")
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
            checks.append(Check(label, "pass", f"releaseVersion {pool.release_version} is {ami}"))
        return checks

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
                        f"{want} is not offered for Kubernetes {version} (newest: {newest})",
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
        # The config pins an existing image by digest (core/config.py, ImageRef).
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
        """Issue 10 point 3: the deployer gets exactly one access entry.

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
        if match is not None:
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
            ("model object", self.model_object),
            ("image", self.image),
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


def run_checks(
    config: StackConfig,
    region: str,
    *,
    session: Any = None,
    clients: Mapping[str, Any] | None = None,
    model_bucket: str | None = None,
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

    return Preflight(config, region, client, model_bucket=model_bucket).run()


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


def _load(project_dir: Path, stack: str) -> tuple[StackConfig, str]:
    stack_file = read_stack_file(project_dir, stack)
    return stack_file.platform(), stack_file.region


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
        config, region = _load(args.project_dir, args.stack)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Preflight of stack {args.stack} in {region} (read-only)…", file=sys.stderr)
    session = None
    # The credentials `pulumi up` will use: the stack's `aws:profile` when it sets one.
    profile = read_stack_file(args.project_dir, args.stack).config.get("aws:profile")
    if profile:
        import boto3

        session = boto3.session.Session(region_name=region, profile_name=profile)
    checks = run_checks(config, region, session=session, model_bucket=args.model_bucket)
    print(format_table(checks))
    return 1 if any(c.status == "fail" for c in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
