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

import difflib
import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components.core import amis, catalog, limits, stackchecks
from components.core.subnets import MAX_AZS, SubnetPlanError, check_fits

__all__ = [
    "CONFIG_KEY",
    "ClusterConfig",
    "ConfigError",
    "GrpcConfig",
    "ImageRef",
    "InterfaceEndpoint",
    "KubeconfigAuth",
    "LogLevel",
    "ModelServiceConfig",
    "ModelStoreConfig",
    "NatStrategy",
    "NetworkConfig",
    "NodePoolConfig",
    "ObservabilityConfig",
    "StackConfig",
    "kubeconfig_auth",
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
LogLevel = Literal["debug", "info", "warning", "error"]
"""The model server's log levels (`serving.settings.LogLevel`: the server image ships
without `components`, so tests/components/core/test_manifests_serving_env.py keeps the
two sets equal)."""

_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
DnsLabel = Annotated[str, Field(pattern=_DNS_LABEL)]
# A Kubernetes label value (apimachinery validation.IsValidLabelValue) that is also the
# server's model name (serving/settings.py: not empty, starting with a letter or digit).
_LABEL_VALUE = r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
LabelValue = Annotated[str, Field(pattern=_LABEL_VALUE)]
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")


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

    @field_validator("private_subnet_prefix", "public_subnet_prefix")
    @classmethod
    def _subnet_size(cls, value: int | None) -> int | None:
        # CreateSubnet: "The allowed block size is between a /16 netmask and /28 netmask."
        if value is not None and not 16 <= value <= 28:
            raise ValueError(f"AWS subnets are /16 to /28, got /{value}")
        return value

    @model_validator(mode="after")
    def _shape(self) -> NetworkConfig:
        low = 1 if self.allow_single_az else 2
        if not low <= self.az_count <= MAX_AZS:
            hint = "" if self.allow_single_az else " (1 only with allowSingleAz: true)"
            raise ValueError(
                f"azCount must be {low} to {MAX_AZS} (the subnet plan's slots){hint}, "
                f"got {self.az_count}"
            )
        if self.availability_zones is not None and len(self.availability_zones) != self.az_count:
            raise ValueError(
                f"availabilityZones lists {len(self.availability_zones)} AZs "
                f"{self.availability_zones} but azCount is {self.az_count}"
            )
        try:
            check_fits(self.vpc, self.private_prefix, self.public_prefix, self.az_count)
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

    name: str
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
    # ---- day 0 (issue 10 points 2-3): who can reach the API, and who may talk to it
    deploy_from_inside_vpc: bool = False
    """Acknowledge a fully private endpoint whose only `apiAccessCidrs` lie inside this
    stack's own VPC: `pulumi up` must then run from a host inside that VPC (or a network
    attached to it), which cannot exist before the VPC does, so the first `pulumi up` is
    the README's two-stage bring-up (the network first, then the rest from inside it)."""
    # ---- end of day 0
    log_retention_days: int = 90
    addons: AddonVersions
    cluster_autoscaler: HelmChart
    nvidia_device_plugin: HelmChart
    aws_load_balancer_controller: HelmChart

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return limits.check_cluster_name(value)

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

    @model_validator(mode="after")
    def _someone_may_talk(self) -> ClusterConfig:
        # With neither, the cluster, node groups and add-ons get created and then the
        # first Kubernetes object fails Unauthorized: nobody has an access entry.
        if not self.admin_principal_arns and not self.bootstrap_creator_admin:
            raise ValueError(
                "adminPrincipalArns is empty and bootstrapCreatorAdmin is false: nobody "
                "could use the cluster, not even `pulumi up` (its Kubernetes objects would "
                "fail Unauthorized); list the deploying role in adminPrincipalArns, or set "
                "bootstrapCreatorAdmin: true"
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
    """The pool's size; on an autoscaled pool only its size at creation (clamped into
    [minSize, maxSize]): cluster-autoscaler owns it from then on."""
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
            if catalog.instance_info(instance_type) is None:
                raise ValueError(_unknown_instance_type(instance_type))
        if len(set(value)) != len(value):
            raise ValueError(f"instance types repeat: {value}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> NodePoolConfig:
        if self.max_size < 1:
            raise ValueError(f"maxSize must be at least 1, got {self.max_size}")
        if self.min_size > self.max_size:
            raise ValueError(f"minSize {self.min_size} is greater than maxSize {self.max_size}")
        # An autoscaled pool's desiredSize is only its size at creation (`pulumi up` then
        # ignores it; cluster-autoscaler owns it), so it is clamped into [minSize, maxSize]
        # rather than refused: raising minSize must not also demand a meaningless edit.
        if not self.autoscaled and self.min_size > self.desired_size:
            raise ValueError(
                f"minSize {self.min_size} is greater than desiredSize {self.desired_size} "
                "(autoscaled: false, so desiredSize is the pool's size)"
            )
        if not self.autoscaled and self.desired_size > self.max_size:
            raise ValueError(
                f"desiredSize {self.desired_size} is greater than maxSize {self.max_size} "
                "(autoscaled: false, so desiredSize is the pool's size)"
            )
        for instance_type in self.instance_types:
            info = catalog.instance_info(instance_type)
            if info is None:  # refused by `_types` already
                continue
            if info.accelerator not in ("none", "nvidia"):
                raise ValueError(
                    f"{instance_type!r} carries {info.accelerator} accelerators "
                    f"({info.accelerator_name}); node pools here are CPU (accelerator: none) "
                    "or NVIDIA GPU (accelerator: nvidia)"
                )
            if info.accelerator != self.accelerator:
                kind = "GPU (accelerator: nvidia)" if self.accelerator == "nvidia" else "CPU"
                has = "has NVIDIA GPUs" if info.accelerator == "nvidia" else "has no NVIDIA GPU"
                raise ValueError(f"a {kind} pool cannot use {instance_type!r}: it {has}")
            if info.architecture != self.architecture:
                raise ValueError(
                    f"{instance_type!r} is {info.architecture} "
                    f"but the pool's architecture is {self.architecture}"
                )
        if self.max_unavailable is not None and self.max_unavailable_percentage is not None:
            raise ValueError("set maxUnavailable or maxUnavailablePercentage, not both")
        if self.is_gpu:
            unknown = [t for t in self.instance_types if t not in catalog.GPUS_PER_INSTANCE]
            if unknown:
                raise ValueError(
                    f"{unknown} have no whole GPU (fractional-GPU types such as g6f share one "
                    "GPU between instances), so no pod could request nvidia.com/gpu on them"
                )
        if self.autoscaled:
            _check_same_size(self.instance_types)
        return self

    @property
    def initial_desired_size(self) -> int:
        """The size EKS is given: `desiredSize`, within [minSize, maxSize] as EKS requires
        (an autoscaled pool's is used only when the node group is created)."""
        return min(max(self.desired_size, self.min_size), self.max_size)

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


def _unknown_instance_type(instance_type: str) -> str:
    data = catalog.instance_data()
    if catalog.known_instance_type(instance_type):
        return (
            f"EC2 instance type {instance_type!r} is not in the instance catalog "
            f"(components/core/data/instances.json of {data.date}: types an EKS node can "
            "run); regenerate it with scripts/gen_catalog.py if the type is new"
        )
    close = difflib.get_close_matches(instance_type, list(data.types), n=3)
    hint = f"; did you mean {close}?" if close else ""
    return f"unknown EC2 instance type {instance_type!r} (not in the EC2 API's list){hint}"


def _check_same_size(instance_types: list[str]) -> None:
    """cluster-autoscaler models a node group by one template node (its first instance
    type), so every type of an autoscaled pool needs the same vCPUs and memory."""
    sizes = {t: catalog.INSTANCE_SIZES[t] for t in instance_types if t in catalog.INSTANCE_SIZES}
    if len({(s.vcpus, s.memory_mib) for s in sizes.values()}) > 1:
        listed = ", ".join(f"{t} ({s.vcpus} vCPU, {s.memory_gib:g} GiB)" for t, s in sizes.items())
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
    protect: bool | None = None
    """Protect the bucket, the image repository and the KMS key (`protect=True`): Pulumi
    then refuses to delete or replace them (a destroy, or a change such as
    `kmsEncryption` that replaces the repository). Default: on in `environment: prod`."""


# --------------------------------------------------------------------------- model service


class ImageRef(_Model):
    """The server image, by immutable tag or digest; never `latest`.

    Without `repository` (and without `digest`), `pulumi up` builds `serving/Dockerfile`
    and pushes it to the stack's own ECR repository as `<tag>-<context hash>`, and the
    Deployment runs it by digest. With `repository`, that existing image runs, by its
    `digest` (required: a tag of someone else's repository may move).
    """

    repository: str | None = None
    """Full repository URL of an existing image; absent: built and pushed by the stack."""
    tag: str | None = None
    """The version: the tag's prefix of a built image, else the image's tag."""
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
        if self.repository is not None and self.digest is None:
            raise ValueError(
                f"image.repository {self.repository!r} names an existing image: pin it by "
                "image.digest (aws ecr describe-images --query 'imageDetails[].imageDigest'), "
                "or drop repository to have the stack build and push serving/Dockerfile"
            )
        return self

    @property
    def built(self) -> bool:
        """Built from serving/Dockerfile and pushed by the stack itself."""
        return self.repository is None and self.digest is None


class ServerSettings(_Model):
    """Settings passed to the model server (`serving/settings.py`) as environment."""

    workers: int = Field(default=1, ge=1, le=64)
    max_batch_size: int = Field(default=16, ge=1)
    max_batch_delay_ms: float = Field(default=2.0, ge=0)
    max_inflight: int = Field(default=256, ge=1)
    request_timeout_ms: int = Field(default=10_000, ge=1)
    drain_timeout_seconds: int = Field(default=20, ge=1)
    intra_op_threads: int = Field(default=1, ge=1)
    log_level: LogLevel = "info"


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
    model_name: LabelValue
    """The model's name: the `mlops.dev/model` label value, the server's MODEL_NAME and
    the `/v2/models/<name>` path segment, so what all three accept (`iris_v2`)."""
    model_prefix: str = Field(pattern=r"^[\w!.*'()/-]+$")
    """Key prefix of the model in the ModelStore bucket (e.g. `iris/1`)."""
    # ---- day 0 (issue 10 point 1)
    model_source: str | None = "models/iris/1"
    """Folder, relative to the project directory, whose `model.onnx` the stack uploads to
    `modelPrefix` with its sha256 sidecar; null: the model is put there by other means
    (check it with `make preflight --model-bucket`)."""
    # ---- end of day 0
    node_pool: str
    """The node pool (a key of `nodePools`) the pods run on."""
    min_replicas: int = Field(default=2, ge=1)
    max_replicas: int = Field(default=10, ge=1)
    cpu_request: str = "500m"
    memory_request: str = "1Gi"
    gpus: int = Field(default=0, ge=0)
    target_cpu_utilization: int = Field(default=70, ge=1, le=2**31 - 1)
    """HPA `averageUtilization`, percent of the CPU request: above 100 is legal and is the
    point when pods have no CPU limit and may burst past their request."""
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

    @field_validator("cpu_request", "memory_request")
    @classmethod
    def _quantity(cls, value: str) -> str:
        limits.parse_quantity(value)
        return value

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
    """Usage the monthly estimate assumes; prices live in core/data/prices.json."""

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
    container_insights_observations_per_node_millions: float = Field(default=20.0, ge=0)
    """Container Insights (enhanced) observations per node per month, in millions: the
    node's, its pods' and containers' metrics, once a minute. Check it against the bill."""
    container_log_gb_per_month: float = Field(default=10.0, ge=0)
    """The pods' logs (application, dataplane, host) Container Insights ships per month."""
    server_status_series: int = Field(default=4, ge=0)
    """Distinct (protocol, status) pairs the server reports in a month (200, 400, 503, ...):
    each is a custom metric of its own."""


# --------------------------------------------------------------------------- observability


_EMAIL = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"


class ContainerInsightsConfig(_Model):
    """The `amazon-cloudwatch-observability` EKS add-on: node, pod and container metrics in
    the `ContainerInsights` namespace and the pods' logs in CloudWatch Logs."""

    enabled: bool | None = None
    """None: on in prod, off elsewhere."""
    version: str = Field(pattern=r"^v\d+\.\d+\.\d+-eksbuild\.\d+$")
    """The add-on version, pinned (`aws eks describe-addon-versions --addon-name
    amazon-cloudwatch-observability`)."""
    log_retention_days: int = 30
    """Retention of the add-on's log groups (`/aws/containerinsights/<cluster>/...`),
    which the stack creates first so they do not default to never expiring."""

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        return _check_retention(value)


class SloConfig(_Model):
    """The service level the alarms hold the load balancer to."""

    p99_latency_ms: int = Field(default=1000, ge=1, le=300_000)
    """p99 target response time, at the load balancer."""
    error_rate_percent: float = Field(default=1.0, gt=0, le=100)
    """Share of requests answered 5xx by the pods, over 5 minutes."""
    queue_wait_p99_ms: int = Field(default=250, ge=1, le=60_000)
    """p99 time a request waits in the server's batching queue (the server's own metric)."""
    overload_rate_percent: float = Field(default=1.0, gt=0, le=100)
    """Share of requests the server refuses as overloaded (503, gRPC UNAVAILABLE)."""


class BudgetConfig(_Model):
    """A monthly AWS Budget from the cost estimate."""

    enabled: bool = True
    margin_percent: int = Field(default=20, ge=0, le=1000)
    """The limit is the estimate's maximum plus this margin."""
    limit_usd: float | None = Field(default=None, gt=0)
    """A fixed monthly limit instead of the estimate's (needed where the estimate has
    unpriced lines, e.g. a region without price data)."""


class ObservabilityConfig(_Model):
    """Alarms, their SNS topic, a dashboard, a budget and Container Insights."""

    enabled: bool = True
    container_insights: ContainerInsightsConfig | None = None
    alarm_emails: list[Annotated[str, Field(pattern=_EMAIL)]] = Field(default_factory=list)
    """Email addresses subscribed to the alarm topic (each confirms once, by email)."""
    slo: SloConfig = Field(default_factory=SloConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)


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
    observability: ObservabilityConfig = Field(default_factory=ObservabilityConfig)

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
    def _api_reachable(self) -> StackConfig:
        """Refuse an API endpoint that no deploy runner can reach on the first `pulumi up`.

        pulumi-eks skips its health check for a private endpoint, so such a stack creates
        the control plane, node groups and add-ons and then times out on every Helm
        release and Kubernetes object (issue 10): a runner cannot be inside a VPC that
        did not exist a minute earlier.
        """
        cluster = self.cluster
        if cluster.endpoint_public_access:
            return self
        vpc = self.network.vpc
        outside = [c for c in cluster.api_access_cidrs if not _inside(c, vpc)]
        if not cluster.api_access_cidrs:
            raise ValueError(
                "cluster: the API endpoint is private (endpointPublicAccess: false) and "
                "apiAccessCidrs is empty, so nothing outside the cluster can reach it and "
                "`pulumi up` would time out at its first Kubernetes object; set "
                "endpointPublicAccess: true with publicAccessCidrs listing your runner's "
                "egress CIDRs (endpointPrivateAccess stays on for the nodes), or list the "
                "networks routed to the VPC in apiAccessCidrs"
            )
        if not outside and not cluster.deploy_from_inside_vpc:
            raise ValueError(
                "cluster: the API endpoint is private and apiAccessCidrs "
                f"{cluster.api_access_cidrs} lie inside this stack's own VPC "
                f"{self.network.vpc_cidr}, which does not exist before the first "
                "`pulumi up`: no runner can reach the API then. Set endpointPublicAccess: "
                "true with publicAccessCidrs listing your runner's egress CIDRs, or set "
                "deployFromInsideVpc: true and follow the README's two-stage bring-up "
                "(the network first, then `pulumi up` from a host inside the VPC)"
            )
        return self

    @model_validator(mode="after")
    def _observability(self) -> StackConfig:
        observability = self.observability
        if (
            observability.enabled
            and self.environment == "prod"
            and observability.container_insights is None
        ):
            raise ValueError(
                "observability.containerInsights: prod turns Container Insights on by "
                "default; pin the add-on's version (containerInsights.version) or set "
                "containerInsights.enabled: false"
            )
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

    @model_validator(mode="after")
    def _stack_checks(self, info: ValidationInfo) -> StackConfig:
        # AWS's and Kubernetes' rules across keys (core/stackchecks.py), all at once.
        context = info.context if isinstance(info.context, dict) else {}
        found = stackchecks.problems(
            self,
            stackchecks.StackContext(region=context.get("region"), stack=context.get("stack")),
        )
        if found:
            raise ValueError("\n  ".join(found))
        return self


# --------------------------------------------------------------------------- day 0: kubeconfig


@dataclass(frozen=True)
class KubeconfigAuth:
    """How `aws eks get-token` in the kubeconfig authenticates: as the AWS provider does.

    pulumi-eks puts `profile` into the kubeconfig's exec environment (`AWS_PROFILE`) and
    `role_arn` into its arguments (`--role-arn`), per `KubeconfigOptionsArgs` in
    pulumi_eks/_inputs.py; None leaves the default credential chain.
    """

    profile: str | None = None
    role_arn: str | None = None


#: Keys of an `aws:assumeRoles` entry that `aws eks get-token --role-arn` can honour.
_GET_TOKEN_KEYS = frozenset({"roleArn", "sessionName", "duration"})


def kubeconfig_auth(profile: str | None, assume_roles: Any) -> KubeconfigAuth:
    """The kubeconfig's credentials from the stack's `aws:profile` and `aws:assumeRoles`.

    `assume_roles` is the decoded `aws:assumeRoles` value (pulumi-aws 7: a list of
    objects, camelCase keys, pulumi_aws/config/vars.py). `aws eks get-token` assumes one
    role with no external id, tags or policies, so a chain or such options are refused
    with the fix (an AWS CLI profile doing the same, named in `aws:profile`) rather than
    leaving the Kubernetes provider on other credentials than the AWS provider's.
    """
    if assume_roles is None or assume_roles == []:
        return KubeconfigAuth(profile=profile or None)
    roles = assume_roles if isinstance(assume_roles, list) else [assume_roles]
    fix = (
        "configure an AWS CLI profile that assumes the role(s) (role_arn, source_profile, "
        "external_id) and set aws:profile to it instead"
    )
    if len(roles) != 1 or not isinstance(roles[0], dict):
        raise ConfigError(
            f"aws:assumeRoles: the kubeconfig's `aws eks get-token` assumes one role, got "
            f"{assume_roles!r}; {fix}"
        )
    role = roles[0]
    extra = sorted(k for k, v in role.items() if k not in _GET_TOKEN_KEYS and v)
    if extra:
        raise ConfigError(
            f"aws:assumeRoles[0]: {extra} cannot be passed to `aws eks get-token`, so the "
            f"Kubernetes provider would authenticate differently from the AWS provider; {fix}"
        )
    arn = role.get("roleArn")
    if not isinstance(arn, str) or not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/", arn):
        raise ConfigError(f"aws:assumeRoles[0].roleArn: not an IAM role ARN (got {arn!r})")
    return KubeconfigAuth(profile=profile or None, role_arn=arn)


def _inside(cidr: str, network: ipaddress.IPv4Network) -> bool:
    return ipaddress.IPv4Network(cidr).subnet_of(network)


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


def parse_stack_config(
    raw: Any, *, root: str = CONFIG_KEY, region: str | None = None, stack: str | None = None
) -> StackConfig:
    """Validate a plain config value; raise `ConfigError` naming each bad key path.

    `region` (`aws:region`) and `stack` (the stack's name) enable the checks that need
    them: an ACM certificate of another region, AZs of another region, `environment`
    against the policy pack's production rule.
    """
    try:
        return StackConfig.model_validate(raw, context={"region": region, "stack": stack})
    except ValidationError as exc:
        raise ConfigError(_format(exc, root)) from None
