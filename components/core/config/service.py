"""`modelStore` and `service`: where the model and image live, and how the model is served."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from components.core import limits
from components.core.config._base import Cidr, ConfigModel
from serving.levels import LogLevel

__all__ = [
    "GrpcConfig",
    "ImageRef",
    "LogLevel",
    "ModelServiceConfig",
    "ModelStoreConfig",
    "ServerSettings",
]


_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
DnsLabel = Annotated[str, Field(pattern=_DNS_LABEL)]
# A Kubernetes label value (apimachinery validation.IsValidLabelValue) that is also the
# server's model name (serving/settings.py: not empty, starting with a letter or digit).
_LABEL_VALUE = r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
LabelValue = Annotated[str, Field(pattern=_LABEL_VALUE)]


class ModelStoreConfig(ConfigModel):
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


class ImageRef(ConfigModel):
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


class ServerSettings(ConfigModel):
    """Settings passed to the model server (`serving/settings.py`) as environment."""

    workers: int = Field(default=1, ge=1, le=64)
    max_batch_size: int = Field(default=16, ge=1)
    max_batch_delay_ms: float = Field(default=2.0, ge=0)
    max_inflight: int = Field(default=256, ge=1)
    request_timeout_ms: int = Field(default=10_000, ge=1)
    drain_timeout_seconds: int = Field(default=20, ge=1)
    intra_op_threads: int = Field(default=1, ge=1)
    log_level: LogLevel = "info"


class GrpcConfig(ConfigModel):
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


class ModelServiceConfig(ConfigModel):
    """The model deployment on the cluster."""

    name: DnsLabel
    namespace: DnsLabel = "models"
    image: ImageRef
    model_name: LabelValue
    """The model's name: the `mlops.dev/model` label value, the server's MODEL_NAME and
    the `/v2/models/<name>` path segment, so what all three accept (`iris_v2`)."""
    model_prefix: str = Field(pattern=r"^[\w!.*'()/-]+$")
    """Key prefix of the model in the ModelStore bucket (e.g. `iris/1`)."""
    model_source: str | None = "models/iris/1"
    """Folder, relative to the project directory, whose `model.onnx` the stack uploads to
    `modelPrefix` with its sha256 sidecar; null: the model is put there by other means
    (check it with `make preflight --model-bucket`)."""
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
