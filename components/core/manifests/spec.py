"""What the renderer is given (`ServiceSpec`), the server's contract, and the decisions
every object shares: labels, image and model versions, probe and drain budgets."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.core.config import ImageRef, ModelServiceConfig
from components.core.scheduling import Scheduling

__all__ = [
    "ALB_SCHEME",
    "CACHE_DIR",
    "ENV_PREFIX",
    "GRACE_MARGIN_SECONDS",
    "GRPC_HEALTH_SERVICE",
    "GRPC_SERVICE",
    "LIVE_PATH",
    "METRICS_PATH",
    "MONITORING_NAMESPACE",
    "PORT",
    "READY_PATH",
    "RUN_AS_USER",
    "STARTUP_PERIOD_SECONDS",
    "EmfTarget",
    "Manifest",
    "ServiceSpec",
    "grace_period_seconds",
    "image_reference",
    "image_version",
    "is_autoscaled",
    "load_balancer_source_cidrs",
    "model_version",
    "object_labels",
    "object_meta",
    "selector_labels",
    "startup_budget_seconds",
]

Manifest = dict[str, Any]

# The model server's contract (serving/): its port, health paths, user and writable paths.
PORT = 8080
READY_PATH = "/v2/health/ready"
LIVE_PATH = "/v2/health/live"
METRICS_PATH = "/metrics"
#: The V2 gRPC service and the standard health service the server also serves (when enabled).
GRPC_SERVICE = "inference.GRPCInferenceService"
GRPC_HEALTH_SERVICE = "grpc.health.v1.Health"
RUN_AS_USER = 10001
CACHE_DIR = "/var/cache/mlops"
ENV_PREFIX = "SERVING_"

STARTUP_PERIOD_SECONDS = 5
#: Seconds the kubelet waits beyond preStop + drain before it sends SIGKILL: the
#: process needs a moment to exit after its drain timer fires.
GRACE_MARGIN_SECONDS = 5
#: The Prometheus namespace allowed to scrape `/metrics` through the NetworkPolicy.
MONITORING_NAMESPACE = "monitoring"

ALB_SCHEME = {"alb-internet-facing": "internet-facing", "alb-internal": "internal"}


@dataclass(frozen=True, kw_only=True)
class ServiceSpec:
    """Everything the renderer needs: the service's config plus what the platform knows."""

    service: ModelServiceConfig
    image: str
    """Full image reference, `repo:tag`, `repo@sha256:…` or `repo:tag@sha256:…`."""
    model_uri: str
    """Where the server loads the model from: `s3://<bucket>/<prefix>`."""
    role_arn: str
    """The IAM role the service account assumes (IRSA)."""
    region: str
    kubernetes_version: str
    scheduling: Scheduling
    """Node selector and tolerations of the target pool (from `NodePool.scheduling`)."""
    load_balancer_source_cidrs: Sequence[str]
    """Where the load balancer's traffic comes from (`load_balancer_source_cidrs`): ALB
    and NLB nodes reach pod IPs directly with target type ip, from their subnets."""
    monitoring_namespace: str = MONITORING_NAMESPACE
    part_of: str = "mlops-platform"
    model_sha256: str | None = None
    """The uploaded model's sha256 (`core.release`): on the pod template, so a new model
    rolls the pods and an unchanged one leaves them."""
    emf: EmfTarget | None = None
    """Where the server sends its metrics (CloudWatch EMF); None: not sent."""


@dataclass(frozen=True, kw_only=True)
class EmfTarget:
    """The node's CloudWatch agent, which takes the server's EMF metrics on UDP 25888."""

    namespace: str
    dimensions: Mapping[str, str]
    """`ClusterName`, `Namespace`, `Service` (`core.observability.emf_dimensions`)."""
    node_cidrs: Sequence[str]
    """The nodes' subnets: the agent listens on its node's IP (host network)."""
    log_group: str
    """Where the agent writes the documents: a group the stack creates, with a retention."""
    port: int = 25888


def load_balancer_source_cidrs(
    exposure: str, *, public_subnets: Sequence[str], private_subnets: Sequence[str]
) -> tuple[str, ...]:
    """The subnets the load balancer's nodes send from, which the NetworkPolicy admits.

    An internet-facing ALB lives in the public subnets, which hold nothing else of ours
    (NAT gateways), so only it reaches the pods. An internal ALB or NLB lives in the
    private subnets, where the nodes and every pod (VPC CNI) live too: the policy then
    cannot tell the load balancer from another pod, and any pod in the cluster can reach
    the serving port. That is the remaining exposure of internal load balancers (no worse
    than the ClusterIP Service, which any pod can call anyway).
    """
    if exposure == "alb-internet-facing":
        return tuple(public_subnets)
    if exposure in ("alb-internal", "nlb-internal"):
        return tuple(private_subnets)
    return ()


def image_reference(repository: str, image: ImageRef) -> str:
    """`repository` pinned by the config's tag and/or digest; `image.repository` wins."""
    repo = image.repository or repository
    ref = repo
    if image.tag is not None:
        ref += f":{image.tag}"
    if image.digest is not None:
        ref += f"@{image.digest}"
    return ref


def startup_budget_seconds(service: ModelServiceConfig) -> tuple[int, int]:
    """(period, failure threshold) of the startup probe, covering the worst-case load."""
    period = STARTUP_PERIOD_SECONDS
    # One extra period: the first probe fires at once, before any loading happened.
    failures = math.ceil(service.model_load_seconds_max / period) + 1
    return period, failures


def grace_period_seconds(service: ModelServiceConfig) -> int:
    """Longer than the preStop pause plus the server's drain, so SIGKILL never cuts a drain."""
    return service.pre_stop_seconds + service.server.drain_timeout_seconds + GRACE_MARGIN_SECONDS


def selector_labels(service: ModelServiceConfig) -> dict[str, str]:
    """The labels that select the pods: stable across versions (a selector is immutable)."""
    return {"app.kubernetes.io/name": "model-server", "app.kubernetes.io/instance": service.name}


def object_labels(spec: ServiceSpec) -> dict[str, str]:
    version = image_version(spec.image)
    return {
        **selector_labels(spec.service),
        "app.kubernetes.io/version": version,
        "app.kubernetes.io/component": "inference",
        "app.kubernetes.io/part-of": spec.part_of,
        "app.kubernetes.io/managed-by": "pulumi",
        "mlops.dev/model": spec.service.model_name,
    }


def image_version(image: str) -> str:
    """A label-safe version: the tag, else the digest's first 12 hex digits."""
    name = image.split("@", 1)[0]
    tail = name.rsplit("/", 1)[-1]
    if ":" in tail:
        return tail.split(":", 1)[1][:63]
    digest = image.split("@sha256:", 1)[-1]
    return digest[:12]


def model_version(prefix: str) -> str | None:
    """The version a `name/<n>` prefix names (the KServe/Triton repository layout)."""
    last = prefix.rstrip("/").rsplit("/", 1)[-1]
    return last if re.fullmatch(r"\d+", last) else None


def is_autoscaled(service: ModelServiceConfig) -> bool:
    return service.max_replicas > service.min_replicas


def object_meta(spec: ServiceSpec, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": spec.service.namespace,
        "labels": object_labels(spec),
        **extra,
    }
