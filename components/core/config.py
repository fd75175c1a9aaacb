"""The typed stack config: every key of `Pulumi.<stack>.yaml` validated before any resource.

The whole platform is one structured config value, `mlops-platform:platform`, so that a
typo anywhere in it is an error (`extra="forbid"`) rather than a silently ignored key.
Keys are camelCase in YAML, snake_case in Python. Each error names the key path and the
bad value.

This is the contract every layer reads, so it lives in the pure core and imports no
Pulumi: `parse_stack_config` raises `ConfigError`, a plain `ValueError`. The Pulumi-facing
loader (`components/config.py`) turns that into a `pulumi.RunError`, which the CLI prints
as one message without a traceback.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components.core import amis, catalog
from components.core.subnets import SubnetPlanError, check_fits

__all__ = [
    "CONFIG_KEY",
    "ClusterConfig",
    "ConfigError",
    "GrpcConfig",
    "ImageRef",
    "InterfaceEndpoint",
    "ModelServiceConfig",
    "ModelStoreConfig",
    "NatStrategy",
    "NetworkConfig",
    "NodePoolConfig",
    "StackConfig",
    "parse_stack_config",
]

#: The config key (in the project's namespace) that holds the whole `StackConfig`.
CONFIG_KEY = "platform"


class ConfigError(ValueError):
    """The stack config is invalid; the message lists every bad key path and value."""


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
    )


def _network(value: str) -> str:
    try:
        ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"not an IPv4 CIDR block: {exc}") from None
    return value


Cidr = Annotated[str, AfterValidator(_network)]

InterfaceEndpoint = Literal["ecr.api", "ecr.dkr", "sts", "logs", "ec2"]
NatStrategy = Literal["none", "single", "one-per-az"]
"""none: no NAT (private subnets reach AWS only through endpoints); single: one NAT
gateway for all AZs; one-per-az: one per AZ, so an AZ outage leaves the others online."""

_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
DnsLabel = Annotated[str, Field(pattern=_DNS_LABEL)]
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")
_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$"


# --------------------------------------------------------------------------- network


class NetworkConfig(_Model):
    """The VPC: its CIDR, AZs, subnets, NAT and endpoints."""

    vpc_cidr: Cidr
    az_count: int = 3
    availability_zones: list[str] | None = None
    """Explicit AZ names; when absent, the first `azCount` AZs the region offers."""
    allow_single_az: bool = False
    """A single AZ is refused unless this is true (dev only: no zone redundancy)."""
    nat_strategy: NatStrategy = "one-per-az"
    private_subnet_prefix: int | None = None
    """Prefix length of each private subnet; default: the VPC's prefix + 3."""
    public_subnet_prefix: int | None = None
    """Prefix length of each public subnet; default: the VPC's prefix + 5."""
    enable_interface_endpoints: bool = False
    interface_endpoints: list[InterfaceEndpoint] = Field(
        default_factory=lambda: list(get_args(InterfaceEndpoint))
    )
    enable_flow_logs: bool = False
    flow_log_retention_days: int = 30

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc_size(cls, value: str) -> str:
        prefix = ipaddress.IPv4Network(value).prefixlen
        if not 16 <= prefix <= 24:
            raise ValueError(f"VPC prefix must be /16 to /24 (AWS's limits), got /{prefix}")
        return value

    @field_validator("flow_log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        return _check_retention(value)

    @model_validator(mode="after")
    def _shape(self) -> NetworkConfig:
        low = 1 if self.allow_single_az else 2
        if not low <= self.az_count <= 3:
            hint = "" if self.allow_single_az else " (1 only with allowSingleAz: true)"
            raise ValueError(f"azCount must be {low} to 3{hint}, got {self.az_count}")
        if self.availability_zones is not None and len(self.availability_zones) != self.az_count:
            raise ValueError(
                f"availabilityZones lists {len(self.availability_zones)} AZs "
                f"{self.availability_zones} but azCount is {self.az_count}"
            )
        try:
            check_fits(self.vpc, self.private_prefix, self.public_prefix)
        except SubnetPlanError as exc:
            raise ValueError(f"subnets do not fit the VPC: {exc}") from None
        return self

    @property
    def vpc(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.vpc_cidr)

    @property
    def private_prefix(self) -> int:
        return self.private_subnet_prefix or self.vpc.prefixlen + 3

    @property
    def public_prefix(self) -> int:
        return self.public_subnet_prefix or self.vpc.prefixlen + 5


def _check_retention(value: int) -> int:
    if value not in catalog.LOG_RETENTION_DAYS:
        raise ValueError(
            f"CloudWatch Logs accepts only {list(catalog.LOG_RETENTION_DAYS)} days, got {value}"
        )
    return value


# --------------------------------------------------------------------------- cluster


class AddonVersions(_Model):
    """EKS managed add-on versions, pinned (`aws eks describe-addon-versions`)."""

    vpc_cni: str
    coredns: str
    kube_proxy: str
    ebs_csi_driver: str
    pod_identity_agent: str
    metrics_server: str


class HelmChart(_Model):
    """A Helm chart the platform installs, pinned to a version."""

    enabled: bool = True
    version: str


class ClusterConfig(_Model):
    """The EKS control plane and its add-ons."""

    name: str = Field(pattern=r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
    """The EKS cluster's name: subnet, autoscaler and load-balancer tags all carry it,
    and `aws eks update-kubeconfig --name` needs it, so it is chosen, not generated."""
    kubernetes_version: str
    endpoint_public_access: bool = False
    """Public API endpoint; when on, `publicAccessCidrs` must list who may reach it."""
    public_access_cidrs: list[Cidr] = Field(default_factory=list)
    api_access_cidrs: list[Cidr] = Field(default_factory=list)
    """Networks allowed to the private API endpoint (443 on the cluster security group):
    where `pulumi up` and kubectl run from (VPN, CI runners). Nothing is implicit, not even
    the VPC: list its CIDR for a runner inside it."""
    admin_principal_arns: list[str] = Field(default_factory=list)
    """IAM roles or users given cluster-admin through EKS access entries."""
    bootstrap_creator_admin: bool = False
    """Also make whoever runs `pulumi up` a cluster admin (off: use access entries)."""
    log_retention_days: int = 90
    addons: AddonVersions
    cluster_autoscaler: HelmChart
    nvidia_device_plugin: HelmChart
    aws_load_balancer_controller: HelmChart

    @field_validator("kubernetes_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if value in catalog.KUBERNETES_VERSIONS:
            return value
        extended = (
            " (in EKS extended support, billed at six times the standard rate)"
            if value in catalog.EXTENDED_SUPPORT_VERSIONS
            else ""
        )
        raise ValueError(
            f"unsupported Kubernetes version {value!r}{extended}; "
            f"supported on {catalog.CATALOG_DATE}: {list(catalog.KUBERNETES_VERSIONS)}"
        )

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        return _check_retention(value)

    @field_validator("admin_principal_arns")
    @classmethod
    def _arns(cls, value: list[str]) -> list[str]:
        pattern = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")
        for arn in value:
            if not pattern.match(arn):
                raise ValueError(f"not an IAM role or user ARN: {arn!r}")
        repeated = sorted({arn for arn in value if value.count(arn) > 1})
        if repeated:
            raise ValueError(f"admin principal ARNs repeat: {repeated}")
        return value

    @field_validator("api_access_cidrs")
    @classmethod
    def _api_cidrs(cls, value: list[str]) -> list[str]:
        if "0.0.0.0/0" in value:
            raise ValueError(
                "0.0.0.0/0 would open the private API endpoint to every network routed to "
                "the VPC; list your VPN, CI or VPC CIDRs"
            )
        return value

    @model_validator(mode="after")
    def _endpoint(self) -> ClusterConfig:
        if self.endpoint_public_access:
            if not self.public_access_cidrs:
                raise ValueError(
                    "endpointPublicAccess is true but publicAccessCidrs is empty: "
                    "list the CIDRs allowed to reach the API server"
                )
            open_to_all = [c for c in self.public_access_cidrs if c == "0.0.0.0/0"]
            if open_to_all:
                raise ValueError(
                    "publicAccessCidrs contains 0.0.0.0/0: the API server would be open "
                    "to the internet; list your own CIDRs"
                )
        elif self.public_access_cidrs:
            raise ValueError(
                f"publicAccessCidrs {self.public_access_cidrs} is set but "
                "endpointPublicAccess is false"
            )
        return self


# --------------------------------------------------------------------------- node pools


class Taint(_Model):
    key: str
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class RootVolume(_Model):
    """The node's encrypted gp3 root volume."""

    size_gib: int | None = Field(default=None, ge=20, le=16384)
    """Default 20 GiB, 100 GiB on GPU pools (the NVIDIA images are large)."""
    iops: int = Field(default=3000, ge=3000, le=16000)
    throughput_mibps: int = Field(default=125, ge=125, le=1000)


class NodePoolConfig(_Model):
    """One managed node group and its launch template."""

    instance_types: list[str] = Field(min_length=1)
    capacity_type: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"
    accelerator: Literal["none", "nvidia"] = "none"
    architecture: Literal["x86_64", "arm64"] = "x86_64"
    os: Literal["al2023", "bottlerocket"] = "al2023"
    release_version: str
    """The EKS AMI release version, pinned so nodes roll only when you change it."""
    min_size: int = Field(ge=0)
    desired_size: int = Field(ge=0)
    max_size: int
    autoscaled: bool = True
    """cluster-autoscaler owns the size; `pulumi up` then ignores `desiredSize` drift."""
    root_volume: RootVolume = Field(default_factory=RootVolume)
    labels: dict[str, str] = Field(default_factory=dict)
    taints: list[Taint] = Field(default_factory=list)
    max_unavailable: int | None = Field(default=None, ge=1)
    max_unavailable_percentage: int | None = Field(default=None, ge=1, le=100)
    allow_pod_imds_access: bool = False
    """Raise the IMDSv2 hop limit to 2 so pods can reach the node's instance metadata
    (and its role). Off: pods use IRSA, and IMDS stays reachable from the node only."""
    enable_ssm: bool = False
    """Attach AmazonSSMManagedInstanceCore so nodes can be reached with Session Manager."""

    @field_validator("instance_types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        for instance_type in value:
            if not _INSTANCE_TYPE.match(instance_type):
                raise ValueError(f"instance type {instance_type!r} is not of the form family.size")
            family = catalog.instance_family(instance_type)
            if family not in catalog.INSTANCE_FAMILIES:
                raise ValueError(
                    f"unknown instance family {family!r} in {instance_type!r}; "
                    f"known ({catalog.CATALOG_DATE}): {sorted(catalog.INSTANCE_FAMILIES)}"
                )
        if len(set(value)) != len(value):
            raise ValueError(f"instance types repeat: {value}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> NodePoolConfig:
        if self.max_size < 1:
            raise ValueError(f"maxSize must be at least 1, got {self.max_size}")
        if self.min_size > self.desired_size:
            raise ValueError(
                f"minSize {self.min_size} is greater than desiredSize {self.desired_size}"
            )
        if self.desired_size > self.max_size:
            raise ValueError(
                f"desiredSize {self.desired_size} is greater than maxSize {self.max_size}"
            )
        for instance_type in self.instance_types:
            family = catalog.INSTANCE_FAMILIES[catalog.instance_family(instance_type)]
            if family.accelerator != self.accelerator:
                kind = "GPU (accelerator: nvidia)" if self.accelerator == "nvidia" else "CPU"
                has = "has NVIDIA GPUs" if family.accelerator == "nvidia" else "has no NVIDIA GPU"
                raise ValueError(f"a {kind} pool cannot use {instance_type!r}: it {has}")
            if family.architecture != self.architecture:
                raise ValueError(
                    f"{instance_type!r} is {family.architecture} "
                    f"but the pool's architecture is {self.architecture}"
                )
        if self.max_unavailable is not None and self.max_unavailable_percentage is not None:
            raise ValueError("set maxUnavailable or maxUnavailablePercentage, not both")
        if self.is_gpu:
            unknown = [t for t in self.instance_types if t not in catalog.GPUS_PER_INSTANCE]
            if unknown:
                raise ValueError(
                    f"GPU count of {unknown} unknown (catalog.GPUS_PER_INSTANCE, "
                    f"{catalog.CATALOG_DATE}): add it there rather than have it guessed"
                )
        if self.autoscaled:
            _check_same_size(self.instance_types)
        return self

    @property
    def gpus_per_node(self) -> int:
        """GPUs every node of the pool has, whichever of its types it is (0: CPU pool)."""
        if not self.is_gpu:
            return 0
        return min(catalog.GPUS_PER_INSTANCE[t] for t in self.instance_types)

    @property
    def is_gpu(self) -> bool:
        return self.accelerator == "nvidia"

    @property
    def root_volume_gib(self) -> int:
        return self.root_volume.size_gib or (100 if self.is_gpu else 20)


def _check_same_size(instance_types: list[str]) -> None:
    """cluster-autoscaler models a node group by one template node (its first instance
    type), so every type of an autoscaled pool needs the same vCPUs and memory."""
    unknown = [t for t in instance_types if t not in catalog.INSTANCE_SIZES]
    if unknown:
        raise ValueError(
            f"vCPUs and memory of {unknown} unknown (catalog.INSTANCE_SIZES, "
            f"{catalog.CATALOG_DATE}); an autoscaled pool needs them to check its types match"
        )
    sizes = {t: catalog.INSTANCE_SIZES[t] for t in instance_types}
    if len({(s.vcpus, s.memory_gib) for s in sizes.values()}) > 1:
        listed = ", ".join(f"{t} ({s.vcpus} vCPU, {s.memory_gib} GiB)" for t, s in sizes.items())
        raise ValueError(
            "an autoscaled pool's instance types must have equal vCPUs and memory "
            f"(cluster-autoscaler sizes the group from one of them): {listed}"
        )


# --------------------------------------------------------------------------- model store


class ModelStoreConfig(_Model):
    """The S3 bucket for model artifacts and the ECR repository for the server image."""

    kms_encryption: bool = True
    """SSE-KMS with a key we create; false: SSE-S3."""
    noncurrent_version_expiration_days: int = Field(default=30, ge=1)
    keep_last_images: int = Field(default=20, ge=1)
    force_destroy: bool = False
    """Let `pulumi destroy` delete a bucket that still holds models (dev)."""


# --------------------------------------------------------------------------- model service


class ImageRef(_Model):
    """The server image, by immutable tag or digest; never `latest`."""

    repository: str | None = None
    """Full repository URL; absent: the stack's own ECR repository."""
    tag: str | None = None
    digest: str | None = Field(default=None, pattern=r"^sha256:[0-9a-f]{64}$")

    @field_validator("tag")
    @classmethod
    def _tag(cls, value: str | None) -> str | None:
        if value is not None and value.lower() == "latest":
            raise ValueError("image tag 'latest' is mutable; pin a version tag or a digest")
        if value is not None and not re.match(r"^[\w][\w.-]{0,127}$", value):
            raise ValueError(f"not a valid image tag: {value!r}")
        return value

    @model_validator(mode="after")
    def _one(self) -> ImageRef:
        if self.tag is None and self.digest is None:
            raise ValueError("set image.tag or image.digest")
        return self


class ServerSettings(_Model):
    """Settings passed to the model server (`serving/settings.py`) as environment."""

    workers: int = Field(default=1, ge=1, le=64)
    max_batch_size: int = Field(default=16, ge=1)
    max_batch_delay_ms: float = Field(default=2.0, ge=0)
    max_inflight: int = Field(default=256, ge=1)
    request_timeout_ms: int = Field(default=10_000, ge=1)
    drain_timeout_seconds: int = Field(default=20, ge=1)
    intra_op_threads: int = Field(default=1, ge=1)
    log_level: Literal["debug", "info", "warning", "error"] = "info"


class GrpcConfig(_Model):
    """The server's V2 gRPC API (`inference.GRPCInferenceService`, `grpc.health.v1`)."""

    enabled: bool = False
    """Serve gRPC and expose it: on the Service, passed through by an NLB, or routed by an ALB
    (HTTPS only: an ALB forwards gRPC on HTTPS listeners alone)."""
    port: int = Field(default=8001, ge=1024, le=65535)
    """The gRPC port of the container and the Services (Triton's 8001)."""

    @model_validator(mode="after")
    def _own_port(self) -> GrpcConfig:
        if self.port == _HTTP_PORT:
            raise ValueError(f"port {self.port} is the server's HTTP port; pick another")
        return self


#: The model server's HTTP port (`components.core.manifests.PORT`, `serving/settings.py`).
_HTTP_PORT = 8080


class ModelServiceConfig(_Model):
    """The model deployment on the cluster."""

    name: DnsLabel
    namespace: DnsLabel = "models"
    image: ImageRef
    model_name: DnsLabel
    model_prefix: str = Field(pattern=r"^[\w!.*'()/-]+$")
    """Key prefix of the model in the ModelStore bucket (e.g. `iris/1`)."""
    node_pool: str
    """The node pool (a key of `nodePools`) the pods run on."""
    min_replicas: int = Field(default=2, ge=1)
    max_replicas: int = Field(default=10, ge=1)
    cpu_request: str = Field(default="500m", pattern=_QUANTITY)
    memory_request: str = Field(default="1Gi", pattern=_QUANTITY)
    gpus: int = Field(default=0, ge=0)
    target_cpu_utilization: int = Field(default=70, ge=10, le=100)
    exposure: Literal["alb-internet-facing", "alb-internal", "nlb-internal", "cluster-ip"] = (
        "alb-internal"
    )
    model_load_seconds_max: int = Field(default=120, ge=1)
    """Worst-case seconds to download and load the model; sizes the startup probe."""
    pre_stop_seconds: int = Field(default=15, ge=0)
    """Pause before SIGTERM while endpoints and the load balancer stop sending traffic
    (the AWS Load Balancer Controller takes several seconds to deregister a target)."""
    tls_certificate_arn: str | None = Field(
        default=None, pattern=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[\w-]+$"
    )
    """ACM certificate for the ALB: HTTPS on 443 (TLS 1.2+), HTTP redirected to it."""
    allowed_source_cidrs: list[Cidr] = Field(default_factory=list)
    """Who may reach an internet-facing ALB; empty: anyone (the ALB default)."""
    server: ServerSettings = Field(default_factory=ServerSettings)
    grpc: GrpcConfig = Field(default_factory=GrpcConfig)
    service_monitor: bool = False
    """Create a Prometheus Operator ServiceMonitor (the CRD must exist)."""

    @model_validator(mode="after")
    def _replicas(self) -> ModelServiceConfig:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"minReplicas {self.min_replicas} is greater than maxReplicas {self.max_replicas}"
            )
        alb = self.exposure.startswith("alb-")
        if self.tls_certificate_arn is not None and not alb:
            raise ValueError(
                f"tlsCertificateArn is set but exposure is {self.exposure!r}: only an ALB "
                "terminates TLS here"
            )
        if (
            self.exposure == "alb-internet-facing"
            and self.tls_certificate_arn is None
            and not self.allowed_source_cidrs
        ):
            raise ValueError(
                "exposure 'alb-internet-facing' with neither tlsCertificateArn nor "
                "allowedSourceCidrs would serve plain HTTP to the whole internet: set "
                "tlsCertificateArn (HTTPS), allowedSourceCidrs (who may connect), or both"
            )
        if self.grpc.enabled and alb and self.tls_certificate_arn is None:
            # ELB docs, "Target groups for your Application Load Balancers", protocol version:
            # a GRPC target group is supported with HTTPS listeners only.
            raise ValueError(
                f"grpc.enabled with exposure {self.exposure!r} needs tlsCertificateArn: an ALB "
                "forwards gRPC only on an HTTPS listener (or use exposure 'nlb-internal', which "
                "passes gRPC through as TCP)"
            )
        if self.allowed_source_cidrs and self.exposure != "alb-internet-facing":
            raise ValueError(
                f"allowedSourceCidrs is set but exposure is {self.exposure!r}: it limits an "
                "internet-facing ALB"
            )
        return self


# --------------------------------------------------------------------------- cost


class CostAssumptions(_Model):
    """Usage the monthly estimate assumes; prices live in core/data/prices_<region>.json."""

    nat_data_gb_per_month: float = Field(default=100.0, ge=0)
    """GB through all NAT gateways together per month."""
    spot_discount: float = Field(default=0.65, ge=0, lt=1)
    """Fraction saved by spot against on-demand (AWS quotes up to 90%; 65% is typical)."""
    log_ingestion_gb_per_month: float = Field(default=5.0, ge=0)
    """Control-plane and flow logs sent to CloudWatch per month; stored for the retention."""
    load_balancer_lcu: float = Field(default=1.0, ge=0)
    """Average load balancer capacity units in use."""
    interface_endpoint_data_gb_per_month: float = Field(default=20.0, ge=0)
    """GB through all interface endpoints together per month (image pulls, API calls)."""
    model_store_gb: float = Field(default=5.0, ge=0)
    """Model artifacts kept in S3, all versions."""
    image_store_gb: float = Field(default=5.0, ge=0)
    """Server images kept in ECR."""


# --------------------------------------------------------------------------- stack


class StackConfig(_Model):
    """Everything one stack deploys."""

    environment: Literal["dev", "staging", "prod"]
    tags: dict[str, str] = Field(default_factory=dict)
    network: NetworkConfig
    cluster: ClusterConfig
    node_pools: dict[str, NodePoolConfig] = Field(min_length=1)
    model_store: ModelStoreConfig = Field(default_factory=ModelStoreConfig)
    service: ModelServiceConfig | None = None
    cost: CostAssumptions = Field(default_factory=CostAssumptions)

    @field_validator("node_pools")
    @classmethod
    def _pool_names(cls, value: dict[str, NodePoolConfig]) -> dict[str, NodePoolConfig]:
        for name in value:
            if not re.match(r"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$", name):
                raise ValueError(f"node pool name {name!r} must be a lowercase DNS label")
        return value

    @model_validator(mode="after")
    def _release_versions(self) -> StackConfig:
        # Checked here, before any resource exists, rather than when the node group is
        # built: by then `pulumi up` would already be creating the VPC and control plane.
        problems = []
        for name, pool in self.node_pools.items():
            try:
                amis.check_release_version(
                    pool.os, self.cluster.kubernetes_version, pool.release_version
                )
            except ValueError as exc:
                problems.append(f"nodePools.{name}.releaseVersion: {exc}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _references(self) -> StackConfig:
        service = self.service
        if service is None:
            return self
        pool = self.node_pools.get(service.node_pool)
        if pool is None:
            raise ValueError(
                f"service.nodePool {service.node_pool!r} is not one of the node pools "
                f"{sorted(self.node_pools)}"
            )
        if service.gpus and not pool.is_gpu:
            raise ValueError(
                f"service.gpus is {service.gpus} but node pool {service.node_pool!r} has no GPUs"
            )
        if service.gpus > pool.gpus_per_node:
            raise ValueError(
                f"service.gpus is {service.gpus} but a node of pool {service.node_pool!r} "
                f"has {pool.gpus_per_node} ({pool.instance_types}): no pod could be scheduled"
            )
        if pool.is_gpu and not service.gpus:
            raise ValueError(
                f"service runs on GPU pool {service.node_pool!r} but service.gpus is 0"
            )
        if pool.max_size < 1:
            raise ValueError(f"node pool {service.node_pool!r} cannot hold the service")
        return self


def _format(error: ValidationError, root: str) -> str:
    lines = []
    for item in error.errors():
        path = ".".join([root, *(str(part) for part in item["loc"])])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; unknown keys are refused)"
        value = item.get("input")
        shown = "" if isinstance(value, dict) or item["type"] == "missing" else f" (got {value!r})"
        lines.append(f"{path}: {message}{shown}")
    return "invalid stack config:\n  " + "\n  ".join(lines)


def parse_stack_config(raw: Any, *, root: str = CONFIG_KEY) -> StackConfig:
    """Validate a plain config value; raise `ConfigError` naming each bad key path."""
    try:
        return StackConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format(exc, root)) from None
