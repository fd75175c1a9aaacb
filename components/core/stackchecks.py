"""Checks that span the stack config: what one key means for another, the region, the stack.

Every function takes the validated `StackConfig` and returns problems as
`key.path: what is wrong (value)` lines; `StackConfig` runs them all before any resource
exists and raises them together. The region and the stack name come from the validation
context (`parse_stack_config(..., region=, stack=)`): the Pulumi loader, the offline
preview, the manifests tool and preflight all pass them; without them, the checks that
need them are skipped.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from components.core import catalog, limits

if TYPE_CHECKING:
    from components.core.config import ModelServiceConfig, NodePoolConfig, StackConfig

__all__ = ["CHECKS", "InstanceShape", "StackContext", "instance_shape", "problems"]


@dataclass(frozen=True)
class StackContext:
    """What the config alone does not say: where and as which stack it deploys."""

    region: str | None = None
    stack: str | None = None


@dataclass(frozen=True)
class InstanceShape:
    vcpus: int
    memory_mib: int
    max_pods: int | None
    max_enis: int | None
    ipv4_per_eni: int | None


def instance_shape(instance_type: str) -> InstanceShape | None:
    """The catalog's facts about a type (None: unknown to the catalog).

    Max pods is the EKS AMI's ENI formula, capped as EKS caps it for managed node groups
    (110 below 30 vCPUs, 250 from 30: the EKS AMI's max-pods-calculator.sh): the cap only
    lowers the kube-reserved memory, so a check never refuses for want of it.
    """
    info = catalog.instance_info(instance_type)
    if info is None:
        return None
    cap = 110 if info.vcpus < 30 else 250
    return InstanceShape(
        vcpus=info.vcpus,
        memory_mib=info.memory_mib,
        max_pods=min(info.max_pods, cap),
        max_enis=info.max_enis,
        ipv4_per_eni=info.ipv4_per_eni,
    )


Check = Callable[["StackConfig", StackContext], Iterable[str]]


# --------------------------------------------------------------------------- AWS limits


def tags(config: StackConfig, context: StackContext) -> Iterable[str]:
    """AWS tag rules on the user's tags, and the 50-per-resource limit with ours counted."""
    for key, value in config.tags.items():
        for problem in limits.check_tag(key, value):
            yield f"tags.{key}: {problem}"
    room = limits.MAX_TAGS - limits.PROGRAM_TAGS
    if len(config.tags) > room:
        yield (
            f"tags: {len(config.tags)} tags, but AWS allows {limits.MAX_TAGS} per resource and "
            f"the platform adds up to {limits.PROGRAM_TAGS} (mlops:*, Name, the subnets' "
            f"kubernetes.io tags): at most {room}"
        )


#: Tags EKS puts on a managed node group's Auto Scaling group (eks:cluster-name,
#: eks:nodegroup-name, k8s.io/cluster-autoscaler/enabled, k8s.io/cluster-autoscaler/<name>,
#: kubernetes.io/cluster/<name>); the autoscaler's node-template tags come on top.
_EKS_ASG_TAGS = 5


def node_labels_and_taints(config: StackConfig, context: StackContext) -> Iterable[str]:
    from components.core.scheduling import (
        AUTOSCALER_TEMPLATE,
        autoscaler_node_template_tags,
        pool_labels,
        pool_taints,
    )

    for name, pool in config.node_pools.items():
        for key, value in pool.labels.items():
            path = f"nodePools.{name}.labels.{key}"
            for problem in limits.check_node_label_key(key):
                yield f"{path}: {problem}"
            for problem in limits.check_label_value(key, value):
                yield f"{path}: {problem}"
        seen: set[tuple[str, str]] = set()
        for index, taint in enumerate(pool.taints):
            path = f"nodePools.{name}.taints[{index}]"
            for problem in limits.check_label_key(taint.key):
                yield f"{path}.key: taint {problem}"
            if len(taint.key) > 63:
                yield f"{path}.key: {taint.key!r} is longer than EKS's 63-character taint key"
            if taint.value:
                for problem in limits.check_label_value(taint.key, taint.value, eks=False):
                    yield f"{path}.value: taint {problem}"
            if (taint.key, taint.effect) in seen:
                yield f"{path}: taint {taint.key}:{taint.effect} repeats (Kubernetes refuses it)"
            seen.add((taint.key, taint.effect))
        if len(pool.taints) > 50:
            yield f"nodePools.{name}.taints: {len(pool.taints)} taints; EKS allows 50"
        if pool.autoscaled and pool.min_size == 0:
            # What NodePool tags the group with: the pool's labels and taints with ours.
            template = autoscaler_node_template_tags(
                pool_labels(name, pool), pool_taints(pool), gpus=pool.gpus_per_node
            )
            if len(template) + _EKS_ASG_TAGS > limits.MAX_TAGS:
                yield (
                    f"nodePools.{name}: a pool that scales from zero carries one Auto Scaling "
                    f"group tag per label and taint; {len(template)} + the {_EKS_ASG_TAGS} EKS "
                    f"sets exceed AWS's {limits.MAX_TAGS}"
                )
            for key in template:
                if len(key) > 128:
                    short = key.removeprefix(AUTOSCALER_TEMPLATE + "/")
                    yield (
                        f"nodePools.{name}: the autoscaler tag for {short!r} is {len(key)} "
                        "characters; AWS tag keys allow 128 (shorten the label or taint key)"
                    )


def root_volumes(config: StackConfig, context: StackContext) -> Iterable[str]:
    """gp3: at most 500 IOPS per GiB and 0.25 MiB/s per IOPS (EBS volume types)."""
    for name, pool in config.node_pools.items():
        volume = pool.root_volume
        size = pool.root_volume_gib
        path = f"nodePools.{name}.rootVolume"
        if volume.iops > 3000 and volume.iops > 500 * size:
            yield (
                f"{path}.iops: {volume.iops} IOPS on {size} GiB exceeds gp3's 500 IOPS per GiB "
                f"(at most {500 * size}; or raise sizeGib to {math.ceil(volume.iops / 500)})"
            )
        if volume.throughput_mibps > 125 and volume.throughput_mibps * 4 > volume.iops:
            yield (
                f"{path}.throughputMibps: {volume.throughput_mibps} MiB/s with {volume.iops} IOPS "
                f"exceeds gp3's 0.25 MiB/s per IOPS (at most {volume.iops // 4}; or raise iops "
                f"to {volume.throughput_mibps * 4})"
            )


def subnets_hold_the_pods(config: StackConfig, context: StackContext) -> Iterable[str]:
    """Each AZ's private subnet holds the addresses its nodes take at the pools' max size.

    The VPC CNI gives every pod a VPC address from its node's subnet, and with its default
    WARM_ENI_TARGET=1 a full node holds every address of every ENI it can attach:
    max ENIs × IPv4 addresses per ENI. An Auto Scaling group balances its nodes over the
    AZs, so each AZ takes ceil(maxSize / AZs) of every pool.
    """
    network = config.network
    usable = 2 ** (32 - network.private_prefix) - 5  # AWS reserves 5 per subnet
    needed = 0
    parts = []
    for name, pool in config.node_pools.items():
        per_node = 0
        for instance_type in pool.instance_types:
            shape = instance_shape(instance_type)
            if shape is None or shape.max_enis is None or shape.ipv4_per_eni is None:
                continue
            per_node = max(per_node, shape.max_enis * shape.ipv4_per_eni)
        if not per_node:
            continue
        nodes = math.ceil(pool.max_size / network.az_count)
        needed += nodes * per_node
        parts.append(f"{name}: {nodes} nodes × {per_node}")
    if needed > usable:
        yield (
            f"network.privateSubnetPrefix: each /{network.private_prefix} private subnet has "
            f"{usable} usable addresses, but at their max sizes the pools' nodes and pods take "
            f"up to {needed} per AZ ({'; '.join(parts)}): use a larger subnet (smaller prefix) "
            "or VPC"
        )


def certificate_region(config: StackConfig, context: StackContext) -> Iterable[str]:
    service = config.service
    if service is None or service.tls_certificate_arn is None or context.region is None:
        return
    region = service.tls_certificate_arn.split(":")[3]
    if region != context.region:
        yield (
            f"service.tlsCertificateArn: the certificate is in {region} but the stack deploys "
            f"to {context.region} (aws:region); an ALB can only use an ACM certificate of its "
            f"own region ({service.tls_certificate_arn})"
        )


def availability_zones(config: StackConfig, context: StackContext) -> Iterable[str]:
    zones = config.network.availability_zones
    if not zones:
        return
    repeated = sorted({z for z in zones if zones.count(z) > 1})
    if repeated:
        yield f"network.availabilityZones: {repeated} repeat; EKS needs two distinct AZs"
    if context.region is None:
        return
    pattern = re.compile(re.escape(context.region) + r"[a-z]")
    foreign = [z for z in zones if not pattern.fullmatch(z)]
    if foreign:
        yield (
            f"network.availabilityZones: {foreign} are not AZ names of {context.region} "
            f"(aws:region), like {context.region}a; Local Zones and AZ IDs are not AZs"
        )


def load_balancer_controller_version(config: StackConfig, context: StackContext) -> Iterable[str]:
    from components.core.lbc import published_policy

    service = config.service
    chart = config.cluster.aws_load_balancer_controller
    if service is None or service.exposure == "cluster-ip" or not chart.enabled:
        return
    try:
        published_policy(chart.version)
    except ValueError as exc:
        yield f"cluster.awsLoadBalancerController.version: {exc}"


_ADDON_VERSION = re.compile(r"v\d+\.\d+\.\d+-eksbuild\.\d+")


def addon_versions(config: StackConfig, context: StackContext) -> Iterable[str]:
    """EKS add-on versions read `vX.Y.Z-eksbuild.N` (every version `aws eks
    describe-addon-versions` lists); kube-proxy's X.Y is the cluster's Kubernetes version
    (EKS builds one kube-proxy per minor version and refuses another minor's)."""
    cluster = config.cluster
    pinned = cluster.addons.model_dump(by_alias=True)
    for key, version in pinned.items():
        if not _ADDON_VERSION.fullmatch(version):
            yield (
                f"cluster.addons.{key}: {version!r} is not an EKS add-on version "
                "(vX.Y.Z-eksbuild.N, as `aws eks describe-addon-versions` lists them)"
            )
    proxy = cluster.addons.kube_proxy
    if _ADDON_VERSION.fullmatch(proxy):
        minor = ".".join(proxy.removeprefix("v").split(".")[:2])
        if minor != cluster.kubernetes_version:
            yield (
                f"cluster.addons.kubeProxy: {proxy} is kube-proxy for Kubernetes {minor}, but "
                f"cluster.kubernetesVersion is {cluster.kubernetes_version}: pin the add-on "
                "versions `aws eks describe-addon-versions --kubernetes-version "
                f"{cluster.kubernetes_version}` lists"
            )


# The distribution/reference grammar of a repository name: an optional registry host
# (with a port), then lowercase path components joined by '/'.
_HOST_PART = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_REGISTRY = rf"(?:{_HOST_PART}(?:\.{_HOST_PART})*(?::\d+)?/)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(_REGISTRY + _PATH_COMPONENT + r"(?:/" + _PATH_COMPONENT + r")*")


def image_repository(config: StackConfig, context: StackContext) -> Iterable[str]:
    """`image.repository` is a repository name as the container runtime parses it: no
    scheme, no tag or digest (those are `image.tag` / `image.digest`)."""
    service = config.service
    if service is None or service.image.repository is None:
        return
    repository = service.image.repository
    if "://" in repository:
        yield (
            f"service.image.repository: {repository!r} has a URL scheme; an image reference "
            f"has none ({repository.split('://', 1)[1]!r})"
        )
    elif "@" in repository or re.search(r":[^/]*$", repository.split("/", 1)[-1]):
        yield (
            f"service.image.repository: {repository!r} includes a tag or digest; put it in "
            "service.image.tag or service.image.digest"
        )
    elif len(repository) > 255 or not _REPOSITORY.fullmatch(repository):
        yield (
            f"service.image.repository: {repository!r} is not a repository name (lowercase "
            "path components, an optional registry host first): the pods could not pull it"
        )


# --------------------------------------------------------------------------- Kubernetes


def service_names(config: StackConfig, context: StackContext) -> Iterable[str]:
    service = config.service
    if service is None:
        return
    try:
        limits.check_dns1035(service.name, "the Service name")
    except ValueError as exc:
        yield f"service.name: {exc}"
    if service.namespace in limits.RESERVED_NAMESPACES:
        yield (
            f"service.namespace: {service.namespace!r} already exists in every cluster; the "
            "platform creates (and on destroy deletes) its namespace: choose another name"
        )


def _quantity(value: str, path: str) -> tuple[Decimal | None, str | None]:
    try:
        return limits.parse_quantity(value), None
    except ValueError as exc:
        return None, f"{path}: {exc}"


def _smallest(pool: NodePoolConfig) -> list[tuple[limits.Allocatable, int]]:
    """Each type's allocatable, with its whole memory (MiB)."""
    shapes = []
    for instance_type in pool.instance_types:
        shape = instance_shape(instance_type)
        if shape is not None:
            node = limits.allocatable(instance_type, shape.vcpus, shape.memory_mib, shape.max_pods)
            shapes.append((node, shape.memory_mib))
    return shapes


def service_fits_its_pool(config: StackConfig, context: StackContext) -> Iterable[str]:
    """Requests against the allocatable of the pool's smallest type; replicas against maxSize."""
    service = config.service
    if service is None or service.node_pool not in config.node_pools:
        return
    pool = config.node_pools[service.node_pool]
    cpu, problem = _quantity(service.cpu_request, "service.cpuRequest")
    if problem:
        yield problem
    memory, problem = _quantity(service.memory_request, "service.memoryRequest")
    if problem:
        yield problem
    if cpu is None or memory is None:
        return
    yield from _unit_slips(service, cpu, memory)
    if cpu <= 0 or memory < 2**20:
        return
    nodes = _smallest(pool)
    if not nodes:
        return
    cpu_m = cpu * 1000
    memory_mib = memory / 2**20
    per_node: list[int] = []
    for node, whole_memory in nodes:
        if node.memory_mib is None and memory_mib > whole_memory - limits.EVICTION_HARD_MEMORY_MIB:
            yield (
                f"service.memoryRequest: {service.memory_request!r} is "
                f"{limits.format_mib(memory_mib)}, more than {node.instance_type}'s "
                f"{whole_memory}Mi less the 100Mi eviction threshold (pool "
                f"{service.node_pool!r}): no node could hold a pod"
            )
            return
        if cpu_m > node.cpu_millicores:
            hint = ""
            if re.fullmatch(r"\d+", service.cpu_request):
                hint = f"; did you mean {service.cpu_request}m?"
            yield (
                f"service.cpuRequest: {service.cpu_request!r} is {limits.format_cores(cpu_m)} "
                f"CPU cores, more than the {limits.format_cores(node.cpu_millicores)} "
                f"allocatable on {node.instance_type} (pool {service.node_pool!r}, after the "
                f"EKS AMI's kube-reserved CPU){hint}"
            )
            return
        if node.memory_mib is not None and memory_mib > node.memory_mib:
            yield (
                f"service.memoryRequest: {service.memory_request!r} is "
                f"{limits.format_mib(memory_mib)}, more than the "
                f"{limits.format_mib(node.memory_mib)} allocatable on {node.instance_type} "
                f"(pool {service.node_pool!r}: memory less kube-reserved 255Mi + 11Mi × "
                f"{node.max_pods} pods and the 100Mi eviction threshold)"
            )
            return
        fits = int(Decimal(node.cpu_millicores) // cpu_m)
        if node.memory_mib is not None:
            fits = min(fits, int(Decimal(node.memory_mib) // memory_mib))
        if node.max_pods is not None:
            fits = min(fits, node.max_pods)
        if service.gpus and pool.gpus_per_node:
            fits = min(fits, pool.gpus_per_node // service.gpus)
        per_node.append(fits)
    capacity = min(per_node) * pool.max_size
    if capacity < service.max_replicas:
        yield (
            f"service.maxReplicas: {service.max_replicas} replicas, but pool "
            f"{service.node_pool!r} at maxSize {pool.max_size} holds {capacity} "
            f"({min(per_node)} per node of its smallest type with cpuRequest "
            f"{service.cpu_request} and memoryRequest {service.memory_request}): raise "
            f"nodePools.{service.node_pool}.maxSize or lower maxReplicas"
        )


def _unit_slips(service: ModelServiceConfig, cpu: Decimal, memory: Decimal) -> Iterable[str]:
    if cpu <= 0:
        yield (
            f"service.cpuRequest: {service.cpu_request!r} requests no CPU; the autoscaler's "
            "CPU target is a share of the request, so the HPA could never scale"
        )
    elif cpu * 1000 < 1:
        yield f"service.cpuRequest: {service.cpu_request!r} is below Kubernetes' 1m resolution"
    if re.search(r"(Ki|Mi|Gi|Ti|Pi|Ei)$", service.cpu_request):
        yield (
            f"service.cpuRequest: {service.cpu_request!r} is a byte unit; CPU is counted in "
            "cores ('1') or millicores ('500m')"
        )
    if memory < 2**20:
        plain = re.fullmatch(r"(\d+)m?", service.memory_request)
        hint = f"; did you mean {plain[1]}Mi?" if plain else ""
        yield (
            f"service.memoryRequest: {service.memory_request!r} is {memory.normalize():f} "
            "bytes; the memory limit equals the request, so the server would be killed at "
            f"start{hint}"
        )


# --------------------------------------------------------------------------- cross-field


def cluster_has_two_azs(config: StackConfig, context: StackContext) -> Iterable[str]:
    if config.network.az_count < 2:
        yield (
            f"network.azCount: {config.network.az_count} AZ, but EKS CreateCluster needs "
            "subnets in at least two AZs (allowSingleAz cannot change that)"
        )


#: Interface endpoints private nodes need with no NAT: the image registry (ecr.api,
#: ecr.dkr), IRSA's STS, and the VPC CNI's EC2 calls. S3 (image layers, models) is the
#: gateway endpoint the network always creates.
_NO_NAT_ENDPOINTS = ("ecr.api", "ecr.dkr", "sts", "ec2")

#: Charts whose images come from public registries no VPC endpoint reaches.
_PUBLIC_REGISTRIES = {
    "clusterAutoscaler": "registry.k8s.io",
    "nvidiaDevicePlugin": "nvcr.io",
    "awsLoadBalancerController": "public.ecr.aws",
}


def no_nat_reachability(config: StackConfig, context: StackContext) -> Iterable[str]:
    network = config.network
    if network.nat_strategy != "none":
        return
    have = set(network.interface_endpoints) if network.enable_interface_endpoints else set()
    missing = [e for e in _NO_NAT_ENDPOINTS if e not in have]
    if missing:
        yield (
            f"network.natStrategy: 'none' leaves private nodes no route to {missing}: set "
            f"enableInterfaceEndpoints: true with {list(_NO_NAT_ENDPOINTS)} in "
            "interfaceEndpoints, or use a NAT gateway"
        )
    cluster = config.cluster
    service = config.service
    needed = {
        "clusterAutoscaler": cluster.cluster_autoscaler.enabled,
        "nvidiaDevicePlugin": cluster.nvidia_device_plugin.enabled
        and any(p.is_gpu and p.os == "al2023" for p in config.node_pools.values()),
        "awsLoadBalancerController": cluster.aws_load_balancer_controller.enabled
        and service is not None
        and service.exposure != "cluster-ip",
    }
    for key, used in needed.items():
        if used:
            yield (
                f"cluster.{key}: its image comes from {_PUBLIC_REGISTRIES[key]}, which nodes "
                "cannot reach with natStrategy 'none' (no endpoint serves public registries)"
            )
    if service is not None and service.image.repository is not None:
        host = service.image.repository.split("/", 1)[0]
        if context.region is not None and not host.endswith(
            f".dkr.ecr.{context.region}.amazonaws.com"
        ):
            yield (
                f"service.image.repository: {service.image.repository!r} is outside the "
                f"region's ECR, which nodes cannot reach with natStrategy 'none'"
            )


def controllers_present(config: StackConfig, context: StackContext) -> Iterable[str]:
    cluster = config.cluster
    service = config.service
    if (
        service is not None
        and service.exposure != "cluster-ip"
        and not cluster.aws_load_balancer_controller.enabled
    ):
        kind = "ALB" if service.exposure.startswith("alb-") else "NLB"
        yield (
            f"cluster.awsLoadBalancerController.enabled: false, but service.exposure "
            f"{service.exposure!r} needs the controller to create the {kind}; nothing would "
            "serve the Ingress or Service"
        )
    for name, pool in config.node_pools.items():
        if pool.is_gpu and pool.os == "al2023" and not cluster.nvidia_device_plugin.enabled:
            yield (
                f"nodePools.{name}: a GPU pool on AL2023 needs cluster.nvidiaDevicePlugin "
                "(enabled: false): the AMI has no device plugin, so nodes never advertise "
                "nvidia.com/gpu and GPU pods stay pending"
            )
        if pool.min_size == 0 and pool.autoscaled and not cluster.cluster_autoscaler.enabled:
            yield (
                f"nodePools.{name}.minSize: 0 with cluster.clusterAutoscaler disabled: nothing "
                "would ever scale the pool up from zero"
            )
    if service is not None and service.node_pool in config.node_pools:
        pool = config.node_pools[service.node_pool]
        if not pool.autoscaled and pool.desired_size == 0:
            yield (
                f"nodePools.{service.node_pool}.desiredSize: 0 on a pool that is not "
                f"autoscaled, but service {service.name!r} runs there: its pods stay pending"
            )


def allow_list_is_a_list(config: StackConfig, context: StackContext) -> Iterable[str]:
    service = config.service
    if service is None or service.exposure != "alb-internet-facing":
        return
    open_to_all = [
        c for c in service.allowed_source_cidrs if ipaddress.IPv4Network(c).prefixlen == 0
    ]
    if open_to_all and service.tls_certificate_arn is None:
        yield (
            f"service.allowedSourceCidrs: {open_to_all} allows every address, so the ALB "
            "would serve plain HTTP to the whole internet: list your own CIDRs or set "
            "tlsCertificateArn"
        )


def environment_matches_stack(config: StackConfig, context: StackContext) -> Iterable[str]:
    if context.stack is None:
        return
    production = limits.is_production_stack(context.stack)
    if production and config.environment != "prod":
        yield (
            f"environment: {config.environment!r}, but the stack {context.stack!r} is "
            "production by its name (prod, production, prod-*, *-prod: the policy pack's "
            "rule), so the production policies would judge a non-production config"
        )
    elif not production and config.environment == "prod":
        yield (
            f"environment: 'prod', but the policy pack treats stack {context.stack!r} as "
            "non-production (only prod, production, prod-* and *-prod are), so the "
            "production policies would not run: rename the stack or change environment"
        )


#: Every check, in the order their problems are listed.
CHECKS: tuple[Check, ...] = (
    tags,
    node_labels_and_taints,
    root_volumes,
    availability_zones,
    cluster_has_two_azs,
    subnets_hold_the_pods,
    certificate_region,
    load_balancer_controller_version,
    addon_versions,
    image_repository,
    service_names,
    service_fits_its_pool,
    no_nat_reachability,
    controllers_present,
    allow_list_is_a_list,
    environment_matches_stack,
)


def problems(config: StackConfig, context: StackContext) -> list[str]:
    return [problem for check in CHECKS for problem in check(config, context)]
