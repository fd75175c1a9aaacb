"""The server's settings: environment variables with the `SERVING_` prefix, each documented."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from serving.levels import LogLevel

__all__ = ["LogLevel", "Settings"]


class Settings(BaseSettings):
    """What `python -m serving` reads from the environment (`SERVING_<FIELD>`)."""

    model_config = SettingsConfigDict(
        env_prefix="SERVING_",
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
        protected_namespaces=(),
    )

    host: str = "0.0.0.0"
    """Address to listen on."""

    port: int = Field(default=8080, ge=1, le=65535)
    """TCP port for the V2 API, health and `/metrics`."""

    grpc_enabled: bool = True
    """Serve the V2 gRPC API (`inference.GRPCInferenceService`, `grpc.health.v1`) as well."""

    grpc_port: int = Field(default=8001, ge=1, le=65535)
    """TCP port for the V2 gRPC API (Triton's default); must differ from `port`."""

    model_repository: str = Field(min_length=1)
    """Local folder or `s3://bucket/prefix` holding `model.onnx` and `model.onnx.sha256`."""

    model_name: str = Field(default="model", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    """Name the model is served under (`/v2/models/<name>`)."""

    model_version: str = Field(default="1", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    """Version the model is served under (`/v2/models/<name>/versions/<version>`)."""

    cache_dir: Path = Path("/var/cache/mlops")
    """Folder where models from S3 are downloaded; must be writable."""

    workers: int = Field(default=1, ge=1, le=64)
    """Worker processes (each loads the model); match the pod's CPU request."""

    intra_op_threads: int = Field(default=1, ge=1, le=256)
    """ONNX Runtime threads per inference, per worker."""

    batching_enabled: bool = True
    """Coalesce concurrent requests into one inference (models with a dynamic batch dimension)."""

    max_batch_size: int = Field(default=32, ge=1, le=65536)
    """Most rows in one coalesced inference."""

    max_batch_delay_ms: float = Field(default=2.0, ge=0, le=1000)
    """Longest an idle, slow model waits for batch-mates once traffic is concurrent."""

    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    """Largest request body accepted; larger ones get 413 before they are read."""

    max_inflight: int = Field(default=256, ge=1)
    """Requests per worker being served at once; more get 503 with Retry-After."""

    request_timeout_ms: int = Field(default=5000, ge=1)
    """Deadline of an inference request from its first byte, queueing included; past it the answer
    is 504, and a request the queue cannot serve before it gets 503 with Retry-After at once."""

    header_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    """Longest a connection may take to send a request's headers (also a new, silent one)."""

    write_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    """Longest a response may stay unread by the client before its connection is dropped."""

    max_slow_bodies: int = Field(default=64, ge=1)
    """Requests per worker whose body is still arriving; more get 503 with Retry-After."""

    drain_timeout_seconds: float = Field(default=20.0, ge=0)
    """On SIGTERM, how long in-flight and queued requests may take before the process exits."""

    emf_endpoint: str | None = Field(default=None, pattern=r"^udp://[^/:]+:\d{1,5}$")
    """Where this server sends its metrics as CloudWatch EMF once a minute
    (`udp://<node IP>:25888`, the CloudWatch agent); unset: not sent."""

    emf_namespace: str = Field(default="MLOps/Serving", min_length=1, max_length=255)
    """CloudWatch namespace of the EMF metrics."""

    emf_log_group: str | None = Field(default=None, max_length=512, pattern=r"^[A-Za-z0-9_\-/.#]+$")
    """The log group the agent writes the EMF documents to (`_aws.LogGroupName`); unset:
    the agent's default, `emf/logs/default`, which never expires."""

    emf_dimensions: dict[str, str] = Field(default_factory=dict)
    """`{"ClusterName": ..., "Namespace": ..., "Service": ...}` (JSON), the metrics' dimensions."""

    log_level: LogLevel = "info"
    """Log level: `debug` logs one line per request, `warning` one per failed request."""

    @model_validator(mode="after")
    def _emf(self) -> Settings:
        if self.emf_endpoint is not None:
            missing = [
                name
                for name in ("ClusterName", "Namespace", "Service")
                if not self.emf_dimensions.get(name)
            ]
            if missing:
                raise ValueError(
                    f"SERVING_EMF_DIMENSIONS lacks {missing}: with SERVING_EMF_ENDPOINT set it "
                    'must be JSON like {"ClusterName": "c", "Namespace": "ml", "Service": "m"}'
                )
        return self

    @model_validator(mode="after")
    def _distinct_ports(self) -> Settings:
        if self.grpc_enabled and self.grpc_port == self.port:
            raise ValueError(
                f"SERVING_GRPC_PORT {self.grpc_port} is SERVING_PORT too; give gRPC its own port "
                "or set SERVING_GRPC_ENABLED=false"
            )
        return self
