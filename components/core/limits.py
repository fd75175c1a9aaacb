"""AWS's and Kubernetes' own rules on names and values, as pure functions.

Each check returns a list of problems (empty: fine) or raises `ValueError` naming the
value, so the config models can attach the key path. The rules come from the services'
own definitions, not from examples:

- AWS API shapes shipped in botocore (EKS `ClusterName`, `labelKey`/`labelValue`,
  `taintKey`/`taintValue`; IAM `tagKeyType`/`tagValueType`, the narrowest tag character
  set of the services that carry our tags);
- Kubernetes' apimachinery validation (`IsQualifiedName`, `IsValidLabelValue`,
  `IsDNS1035Label`, `resource.ParseQuantity`) and the kubelet's `--node-labels` rule;
- the EKS AMI's kubelet reservations (awslabs/amazon-eks-ami, nodeadm
  `internal/kubelet/config.go`: kube-reserved memory 255Mi + 11Mi per pod the node
  can run, CPU 6% of the first core, 1% of the second, 0.5% of the third and fourth,
  0.25% of every core above four; eviction-hard `memory.available<100Mi`; no
  system-reserved by default). Bottlerocket computes the same kube-reserved values.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "EVICTION_HARD_MEMORY_MIB",
    "MAX_TAGS",
    "PROGRAM_TAGS",
    "RESERVED_NAMESPACES",
    "Allocatable",
    "allocatable",
    "check_cluster_name",
    "check_dns1035",
    "check_label_key",
    "check_label_value",
    "check_node_label_key",
    "check_tag",
    "format_cores",
    "format_mib",
    "is_production_stack",
    "kube_reserved_cpu_millicores",
    "kube_reserved_memory_mib",
    "parse_quantity",
]

#: AWS's tags-per-resource limit (EC2, EKS, IAM, S3, ECR, KMS, Logs alike).
MAX_TAGS = 50

#: The most tags the program adds to one resource beside the user's: `mlops:project`,
#: `mlops:stack`, `mlops:component`, `Name`, and on subnets `kubernetes.io/role/elb` (or
#: `.../internal-elb`) and `kubernetes.io/cluster/<name>`. A test checks this against the
#: tags the dev stack's plan really carries.
PROGRAM_TAGS = 6

#: Namespaces every cluster already has (kube-apiserver creates them): creating one again
#: fails with AlreadyExists, and deleting the stack would try to delete it.
RESERVED_NAMESPACES: tuple[str, ...] = ("default", "kube-system", "kube-public", "kube-node-lease")


@functools.cache
def _shape(service: str, shape: str) -> Mapping[str, Any]:
    import botocore.loaders

    model = botocore.loaders.Loader().load_service_model(service, "service-2")
    result: Mapping[str, Any] = model["shapes"][shape]
    return result


def _check_shape(service: str, shape: str, value: str, what: str) -> None:
    spec = _shape(service, shape)
    low, high = spec.get("min", 0), spec.get("max")
    if len(value) < low or (high is not None and len(value) > high):
        limit = f"{low} to {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{what} {value!r} is {len(value)} characters; AWS allows {limit}")
    pattern = spec.get("pattern")
    # botocore's patterns are anchored at the start only; AWS (and tflint-ruleset-aws)
    # apply them to the whole value.
    if pattern and not re.fullmatch(pattern.removeprefix("^").removesuffix("$"), value):
        raise ValueError(f"{what} {value!r} does not match AWS's pattern {pattern}")


# --------------------------------------------------------------------------- AWS names


def check_cluster_name(name: str) -> str:
    """EKS `CreateCluster` `name` (botocore's `ClusterName` shape: length and pattern)."""
    _check_shape("eks", "ClusterName", name, "EKS cluster name")
    return name


_TAG_PUNCTUATION = frozenset("_.:/=+-@")


def _tag_characters(text: str) -> list[str]:
    """Characters outside IAM's tag set `[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]` (botocore
    `tagKeyType`): the narrowest of the services our tags land on (IAM roles carry them)."""
    return sorted(
        {c for c in text if unicodedata.category(c)[0] not in "LZN" and c not in _TAG_PUNCTUATION}
    )


def check_tag(key: str, value: str) -> list[str]:
    """What AWS would refuse about one tag (empty: nothing)."""
    problems = []
    key_shape, value_shape = _shape("iam", "tagKeyType"), _shape("iam", "tagValueType")
    if not 1 <= len(key) <= key_shape["max"]:
        problems.append(f"key {key!r} is {len(key)} characters; AWS allows 1 to {key_shape['max']}")
    if len(value) > value_shape["max"]:
        problems.append(
            f"value of {key!r} is {len(value)} characters; AWS allows at most {value_shape['max']}"
        )
    if key.lower().startswith("aws:"):
        problems.append(f"key {key!r}: the 'aws:' prefix is reserved for AWS")
    for what, text in (("key", key), ("value", value)):
        bad = _tag_characters(text)
        if bad:
            problems.append(
                f"{what} {text!r} has {''.join(bad)!r}: tags allow letters, digits, spaces "
                "and _ . : / = + - @ (IAM's tag character set)"
            )
    return problems


# --------------------------------------------------------------------------- Kubernetes names

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")


def _dns1123_subdomain(value: str) -> bool:
    return len(value) <= 253 and all(_DNS1123_LABEL.fullmatch(p) for p in value.split("."))


def check_dns1035(value: str, what: str) -> str:
    """A Kubernetes Service name (`IsDNS1035Label`): a letter first, at most 63."""
    if len(value) > 63 or not _DNS1035_LABEL.fullmatch(value):
        raise ValueError(
            f"{what} {value!r} is not a DNS-1035 label (Kubernetes Service names): lowercase "
            "letters, digits and '-', a letter first, at most 63 characters"
        )
    return value


def check_label_key(key: str) -> list[str]:
    """Kubernetes `IsQualifiedName`: `[prefix/]name`, prefix a DNS subdomain."""
    prefix, _, name = key.rpartition("/")
    problems = []
    if "/" in key and not prefix:
        problems.append(f"label key {key!r} has an empty prefix")
    if prefix and not _dns1123_subdomain(prefix):
        problems.append(
            f"label key {key!r}: prefix {prefix!r} is not a DNS subdomain "
            "(lowercase, at most 253 characters)"
        )
    if not name or len(name) > 63 or not _QUALIFIED_NAME.fullmatch(name):
        problems.append(
            f"label key {key!r}: name {name!r} must be 1 to 63 characters of letters, digits, "
            "'-', '_' or '.', starting and ending with a letter or digit"
        )
    return problems


def check_label_value(key: str, value: str, *, eks: bool = True) -> list[str]:
    """Kubernetes `IsValidLabelValue`; EKS node group labels also refuse an empty value
    (botocore `labelValue`: min 1)."""
    if eks and not value:
        return [f"label {key!r} has an empty value: EKS node group labels need 1 to 63 characters"]
    if len(value) > 63 or (value and not _QUALIFIED_NAME.fullmatch(value)):
        return [
            f"label {key!r} value {value!r} must be at most 63 characters of letters, digits, "
            "'-', '_' or '.', starting and ending with a letter or digit"
        ]
    return []


#: Labels in the kubernetes.io / k8s.io namespaces a kubelet may set on its own node
#: (kubelet `--node-labels`, NodeRestriction admission).
_KUBELET_ALLOWED = frozenset(
    {
        "beta.kubernetes.io/arch",
        "beta.kubernetes.io/instance-type",
        "beta.kubernetes.io/os",
        "failure-domain.beta.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "kubernetes.io/arch",
        "kubernetes.io/hostname",
        "kubernetes.io/os",
        "node.kubernetes.io/instance-type",
        "topology.kubernetes.io/region",
        "topology.kubernetes.io/zone",
    }
)
_KUBELET_ALLOWED_PREFIXES = ("kubelet.kubernetes.io", "node.kubernetes.io")


def check_node_label_key(key: str) -> list[str]:
    """A node label the kubelet may register: the syntax, then the reserved namespaces."""
    problems = check_label_key(key)
    if problems:
        return problems
    prefix = key.rpartition("/")[0]
    reserved = any(prefix == ns or prefix.endswith("." + ns) for ns in ("kubernetes.io", "k8s.io"))
    allowed = key in _KUBELET_ALLOWED or any(
        prefix == p or prefix.endswith("." + p) for p in _KUBELET_ALLOWED_PREFIXES
    )
    if reserved and not allowed:
        problems.append(
            f"label key {key!r} is in the reserved kubernetes.io/k8s.io namespace: the kubelet "
            "refuses to register it (--node-labels allows only kubelet.kubernetes.io/*, "
            "node.kubernetes.io/* and the well-known topology labels), so nodes never join"
        )
    return problems


# --------------------------------------------------------------------------- quantities

_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


def parse_quantity(text: str) -> Decimal:
    """A Kubernetes quantity (`resource.ParseQuantity`) in base units: cores or bytes."""
    match = _QUANTITY.fullmatch(text.strip()) if text == text.strip() else None
    if match is None:
        raise ValueError(
            f"{text!r} is not a Kubernetes quantity (a number with an optional suffix: "
            "m, k, M, G, T, Ki, Mi, Gi, Ti or an exponent such as 1e3)"
        )
    try:
        number = Decimal(match["number"])
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a Kubernetes quantity") from None
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return number * Decimal(10) ** int(suffix[1:])


def format_cores(millicores: int | Decimal) -> str:
    return f"{Decimal(millicores) / 1000:.3f}".rstrip("0").rstrip(".")


def format_mib(mib: int | Decimal) -> str:
    return f"{int(mib)}Mi"


# --------------------------------------------------------------------------- allocatable


def kube_reserved_cpu_millicores(vcpus: int) -> int:
    """The EKS AMI's kube-reserved CPU: 6% of the first core, 1% of the second, 0.5% of
    the third and fourth, 0.25% of the rest (nodeadm `getCPUMillicoresToReserve`)."""
    tiers = ((1, 60), (1, 10), (2, 5))
    reserved, left = Decimal(0), vcpus
    for cores, per_core in tiers:
        used = min(left, cores)
        reserved += used * per_core
        left -= used
    reserved += Decimal(left) * Decimal("2.5")
    return int(reserved)


def kube_reserved_memory_mib(max_pods: int) -> int:
    """The EKS AMI's kube-reserved memory: 255Mi + 11Mi per pod (`getMemoryMebibytesToReserve`)."""
    return 255 + 11 * max_pods


#: kubelet `evictionHard: memory.available<100Mi` (the EKS AMI's and kubelet's default).
EVICTION_HARD_MEMORY_MIB = 100


@dataclass(frozen=True)
class Allocatable:
    """What the scheduler may place on one node of a type."""

    instance_type: str
    cpu_millicores: int
    memory_mib: int | None
    """None when the type's max pods is unknown (kube-reserved memory depends on it)."""
    max_pods: int | None


def allocatable(
    instance_type: str, vcpus: int, memory_mib: int, max_pods: int | None
) -> Allocatable:
    cpu = vcpus * 1000 - kube_reserved_cpu_millicores(vcpus)
    memory = (
        memory_mib - kube_reserved_memory_mib(max_pods) - EVICTION_HARD_MEMORY_MIB
        if max_pods is not None
        else None
    )
    return Allocatable(instance_type, cpu, memory, max_pods)


# --------------------------------------------------------------------------- stacks


def is_production_stack(stack: str) -> bool:
    """The policy pack's rule (policy/pack.py `context_for`): `prod`, `production`,
    `prod-*` and `*-prod` are production stacks."""
    return stack in ("prod", "production") or stack.startswith("prod-") or stack.endswith("-prod")
