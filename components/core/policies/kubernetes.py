"""Kubernetes workloads: restricted pod security, resource requests, probes, pinned images."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from components.core.policies._base import (
    Finding,
    PolicyContext,
    Resource,
    _false,
    _get,
    _known,
    _list,
    _strings,
    _true,
    rule,
)

__all__ = [
    "CRON_JOB",
    "DAEMON_SET",
    "DEPLOYMENT",
    "JOB",
    "LONG_RUNNING",
    "POD",
    "STATEFUL_SET",
    "WORKLOADS",
    "no_latest_image",
    "probes",
    "resource_requests",
    "restricted_security_context",
]

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
JOB = "kubernetes:batch/v1:Job"
CRON_JOB = "kubernetes:batch/v1:CronJob"
POD = "kubernetes:core/v1:Pod"
LONG_RUNNING = frozenset({DEPLOYMENT, STATEFUL_SET, DAEMON_SET})
WORKLOADS = LONG_RUNNING | {JOB, CRON_JOB, POD}


def _pod_spec(resource: Resource) -> tuple[Any, str]:
    """The pod spec inside a workload and its field path."""
    if resource.type == POD:
        return _get(resource.inputs, "spec"), "spec"
    if resource.type == CRON_JOB:
        return (
            _get(resource.inputs, "spec", "jobTemplate", "spec", "template", "spec"),
            "spec.jobTemplate.spec.template.spec",
        )
    return _get(resource.inputs, "spec", "template", "spec"), "spec.template.spec"


def _containers(resource: Resource) -> Iterator[tuple[str, Mapping[str, Any], str]]:
    """(field path, container, kind) for every container and init container."""
    spec, path = _pod_spec(resource)
    for kind in ("initContainers", "containers"):
        for index, container in enumerate(_list(_get(spec, kind))):
            if isinstance(container, Mapping):
                yield f"{path}.{kind}[{index}]", container, kind


@rule(
    "k8s-restricted-security-context",
    "mandatory",
    types=WORKLOADS,
    description="Workloads meet the 'restricted' Pod Security Standard and a read-only root "
    "filesystem.",
)
def restricted_security_context(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    spec, path = _pod_spec(resource)
    if not isinstance(spec, Mapping):
        return
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if _true(spec.get(flag)):
            yield (f"{path}.{flag}", "is true")
    pod_sc = spec.get("securityContext") if isinstance(spec.get("securityContext"), Mapping) else {}
    for where, container, _kind in _containers(resource):
        raw = container.get("securityContext")
        sc: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        name = container.get("name", "?")
        ctx = f"{where}.securityContext"
        non_root = sc.get("runAsNonRoot", _get(pod_sc, "runAsNonRoot"))
        if _known(non_root) and not _true(non_root):
            yield (f"{ctx}.runAsNonRoot", f"container {name!r} may run as root; set true")
        user = sc.get("runAsUser", _get(pod_sc, "runAsUser"))
        if user == 0:
            yield (f"{ctx}.runAsUser", f"container {name!r} runs as UID 0")
        escalation = sc.get("allowPrivilegeEscalation")
        if _known(escalation) and not _false(escalation):
            yield (f"{ctx}.allowPrivilegeEscalation", f"container {name!r}: set false")
        if _true(sc.get("privileged")):
            yield (f"{ctx}.privileged", f"container {name!r} is privileged")
        read_only = sc.get("readOnlyRootFilesystem")
        if _known(read_only) and not _true(read_only):
            yield (f"{ctx}.readOnlyRootFilesystem", f"container {name!r}: set true")
        drop = _get(sc, "capabilities", "drop")
        if _known(drop) and "ALL" not in _strings(drop):
            yield (f"{ctx}.capabilities.drop", f"container {name!r}: drop ALL")
        added = [c for c in _strings(_get(sc, "capabilities", "add")) if c != "NET_BIND_SERVICE"]
        if added:
            yield (f"{ctx}.capabilities.add", f"container {name!r} adds {added}")
        seccomp = _get(sc, "seccompProfile", "type") or _get(pod_sc, "seccompProfile", "type")
        if _known(seccomp) and seccomp not in ("RuntimeDefault", "Localhost"):
            yield (
                f"{ctx}.seccompProfile.type",
                f"container {name!r} has seccomp {seccomp or 'unset'}; use RuntimeDefault",
            )


@rule(
    "k8s-resource-requests",
    "mandatory",
    types=WORKLOADS,
    description="Every container requests CPU and memory.",
)
def resource_requests(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    for where, container, _kind in _containers(resource):
        requests = _get(container, "resources", "requests")
        if not _known(requests):
            continue
        missing = [k for k in ("cpu", "memory") if not _get(requests, k)]
        if missing:
            yield (
                f"{where}.resources.requests",
                f"container {container.get('name', '?')!r} has no {' or '.join(missing)} "
                "request: the scheduler and the autoscalers cannot size it",
            )


@rule(
    "k8s-probes",
    "mandatory",
    types=LONG_RUNNING,
    description="Long-running containers have readiness and liveness probes.",
)
def probes(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    for where, container, kind in _containers(resource):
        if kind != "containers":
            continue
        for probe in ("readinessProbe", "livenessProbe"):
            if not container.get(probe):
                yield (f"{where}.{probe}", f"container {container.get('name', '?')!r} has none")


def _latest(image: str) -> bool:
    if "@" in image:
        return False
    last = image.rsplit("/", 1)[-1]
    return ":" not in last or last.rsplit(":", 1)[1] == "latest"


@rule(
    "k8s-no-latest-image",
    "mandatory",
    types=WORKLOADS,
    description="Images are pinned by tag or digest, never 'latest'.",
)
def no_latest_image(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    for where, container, _kind in _containers(resource):
        image = container.get("image")
        if isinstance(image, str) and _latest(image):
            yield (
                f"{where}.image",
                f"is {image!r}: 'latest' (or no tag) is mutable; pin a version tag or a digest",
            )
