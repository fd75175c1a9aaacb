"""The model service as plain Kubernetes objects: one pure function, used three ways.

`render(spec)` turns a `ServiceSpec` into a list of dicts, each a complete Kubernetes
object. `ModelService` creates them with `pulumi_kubernetes` typed resources; the offline
preview writes them as YAML with `write_manifests` (so `kubectl apply -f` works on any
cluster, kind included); the tests validate them against the Kubernetes JSON schema and
scan them with checkov. What is checked is what is deployed.

Values only known at deploy time (the IAM role's ARN, the bucket's generated name, the
ECR repository URL) enter as strings; `ModelService` passes `${...}` placeholders and
resolves them into Pulumi outputs, the preview passes illustrative values.

`spec` holds the input and the decisions the objects share, `objects` the objects and
`render`, `files` a stack's objects and their YAML files. Import from here.
"""

from __future__ import annotations

from components.core.manifests.files import (
    emf_target,
    spec_from_stack,
    stack_manifests,
    stack_subnet_cidrs,
    to_yaml,
    write_manifests,
)
from components.core.manifests.objects import deregistration_delay_seconds, render
from components.core.manifests.spec import (
    CACHE_DIR,
    ENV_PREFIX,
    GRPC_HEALTH_SERVICE,
    GRPC_SERVICE,
    LIVE_PATH,
    METRICS_PATH,
    PORT,
    READY_PATH,
    RUN_AS_USER,
    EmfTarget,
    Manifest,
    ServiceSpec,
    grace_period_seconds,
    image_reference,
    load_balancer_source_cidrs,
    selector_labels,
    startup_budget_seconds,
)

__all__ = [
    "CACHE_DIR",
    "ENV_PREFIX",
    "GRPC_HEALTH_SERVICE",
    "GRPC_SERVICE",
    "LIVE_PATH",
    "METRICS_PATH",
    "PORT",
    "READY_PATH",
    "RUN_AS_USER",
    "EmfTarget",
    "Manifest",
    "ServiceSpec",
    "deregistration_delay_seconds",
    "emf_target",
    "grace_period_seconds",
    "image_reference",
    "load_balancer_source_cidrs",
    "render",
    "selector_labels",
    "spec_from_stack",
    "stack_manifests",
    "stack_subnet_cidrs",
    "startup_budget_seconds",
    "to_yaml",
    "write_manifests",
]
