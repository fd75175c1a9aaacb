"""Known values the config is checked against: data with its date, nothing else.

Update `CATALOG_DATE` with every change. Sources: the EKS user guide ("Kubernetes
version lifecycle"), the EC2 instance type pages (general purpose, compute and memory
optimized, accelerated computing, Graviton: vCPUs, memory and GPUs per type).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CATALOG_DATE = "2026-11-29"

Architecture = Literal["x86_64", "arm64"]
Accelerator = Literal["none", "nvidia"]

#: EKS minor versions in standard support on CATALOG_DATE. Versions in extended
#: support (1.32, 1.33) are refused: they cost six times the control-plane price.
KUBERNETES_VERSIONS: tuple[str, ...] = ("1.34", "1.35", "1.36")

#: EKS minor versions past standard support on CATALOG_DATE, named in the error.
EXTENDED_SUPPORT_VERSIONS: tuple[str, ...] = ("1.32", "1.33")


def instance_family(instance_type: str) -> str:
    """The family part of `family.size` (`g5.xlarge` -> `g5`)."""
    return instance_type.split(".", 1)[0]


@dataclass(frozen=True)
class InstanceFamily:
    """What the platform needs to know about an EC2 instance family."""

    architecture: Architecture
    accelerator: Accelerator
    gpu_model: str | None = None


def _cpu(arch: Architecture) -> InstanceFamily:
    return InstanceFamily(architecture=arch, accelerator="none")


def _nvidia(model: str) -> InstanceFamily:
    return InstanceFamily(architecture="x86_64", accelerator="nvidia", gpu_model=model)


#: Instance families a node pool may use. A family missing here is refused by the
#: config with the list of known ones, rather than guessed at.
INSTANCE_FAMILIES: dict[str, InstanceFamily] = {
    # General purpose, compute and memory optimised, x86_64.
    **{
        f: _cpu("x86_64")
        for f in (
            "t3",
            "t3a",
            "m5",
            "m5a",
            "m6i",
            "m6a",
            "m7i",
            "m7a",
            "m7i-flex",
            "c5",
            "c5a",
            "c6i",
            "c6a",
            "c7i",
            "c7a",
            "r5",
            "r6i",
            "r6a",
            "r7i",
            "r7a",
        )
    },
    # Graviton, arm64.
    **{
        f: _cpu("arm64")
        for f in (
            "t4g",
            "m6g",
            "m7g",
            "m8g",
            "c6g",
            "c7g",
            "c8g",
            "r6g",
            "r7g",
            "r8g",
        )
    },
    # NVIDIA GPUs.
    "g4dn": _nvidia("T4"),
    "g5": _nvidia("A10G"),
    "g6": _nvidia("L4"),
    "g6e": _nvidia("L40S"),
    "gr6": _nvidia("L4"),
    "p4d": _nvidia("A100"),
    "p4de": _nvidia("A100"),
    "p5": _nvidia("H100"),
    "p5e": _nvidia("H200"),
    "p5en": _nvidia("H200"),
}

#: The GPU count of every GPU instance type a pool may use, for each NVIDIA family in
#: `INSTANCE_FAMILIES`. A GPU type missing here is refused by the config: guessing one
#: GPU for a p5.48xlarge would tell cluster-autoscaler a node brings 1 GPU, not 8.
GPUS_PER_INSTANCE: dict[str, int] = {
    **{f"g4dn.{s}": 1 for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")},
    "g4dn.12xlarge": 4,
    "g4dn.metal": 8,
    **{f"g5.{s}": 1 for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")},
    "g5.12xlarge": 4,
    "g5.24xlarge": 4,
    "g5.48xlarge": 8,
    **{f"g6.{s}": 1 for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")},
    "g6.12xlarge": 4,
    "g6.24xlarge": 4,
    "g6.48xlarge": 8,
    **{f"g6e.{s}": 1 for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")},
    "g6e.12xlarge": 4,
    "g6e.24xlarge": 4,
    "g6e.48xlarge": 8,
    "gr6.4xlarge": 1,
    "gr6.8xlarge": 1,
    "p4d.24xlarge": 8,
    "p4de.24xlarge": 8,
    "p5.4xlarge": 1,
    "p5.48xlarge": 8,
    "p5e.48xlarge": 8,
    "p5en.48xlarge": 8,
}


@dataclass(frozen=True)
class InstanceSize:
    """vCPUs and memory of one instance type (EC2 instance type pages)."""

    vcpus: int
    memory_gib: int


def _sizes(memory_per_vcpu: int, sizes: tuple[str, ...]) -> dict[str, InstanceSize]:
    vcpus = {"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16}
    return {s: InstanceSize(vcpus[s], vcpus[s] * memory_per_vcpu) for s in sizes}


_STANDARD = ("large", "xlarge", "2xlarge", "4xlarge")
#: Memory per vCPU (GiB) of the CPU families, by family prefix: c 2, m and t 4, r 8.
_CPU_SHAPES: dict[str, tuple[int, tuple[str, ...]]] = {
    **{f: (4, ("large", "xlarge", "2xlarge")) for f in ("t3", "t3a", "t4g")},
    **{
        f: (4, _STANDARD)
        for f in ("m5", "m5a", "m6i", "m6a", "m7i", "m7a", "m7i-flex", "m6g", "m7g", "m8g")
    },
    **{f: (2, _STANDARD) for f in ("c5", "c5a", "c6i", "c6a", "c7i", "c7a", "c6g", "c7g", "c8g")},
    **{f: (8, _STANDARD) for f in ("r5", "r6i", "r6a", "r7i", "r7a", "r6g", "r7g", "r8g")},
}


def _gpu_sizes(family: str, memory_per_vcpu: int) -> dict[str, InstanceSize]:
    vcpus = {
        "xlarge": 4,
        "2xlarge": 8,
        "4xlarge": 16,
        "8xlarge": 32,
        "12xlarge": 48,
        "16xlarge": 64,
        "24xlarge": 96,
        "48xlarge": 192,
        "metal": 96,
    }
    return {
        t: InstanceSize(vcpus[t.split(".")[1]], vcpus[t.split(".")[1]] * memory_per_vcpu)
        for t in GPUS_PER_INSTANCE
        if instance_family(t) == family
    }


#: vCPUs and memory of the instance types an autoscaled pool may use: the CPU families
#: of `INSTANCE_FAMILIES` from large to 4xlarge (t3, t3a and t4g stop at 2xlarge), and
#: every GPU type of `GPUS_PER_INSTANCE`. cluster-autoscaler builds one node template
#: per group and assumes every node of the group has its size, so a pool mixing sizes
#: is refused; a type missing here is refused too rather than guessed at.
INSTANCE_SIZES: dict[str, InstanceSize] = {
    **{
        f"{family}.{size}": shape
        for family, (per_vcpu, sizes) in _CPU_SHAPES.items()
        for size, shape in _sizes(per_vcpu, sizes).items()
    },
    **_gpu_sizes("g4dn", 4),
    **_gpu_sizes("g5", 4),
    **_gpu_sizes("g6", 4),
    **_gpu_sizes("g6e", 8),
    **_gpu_sizes("gr6", 8),
    "p4d.24xlarge": InstanceSize(96, 1152),
    "p4de.24xlarge": InstanceSize(96, 1152),
    "p5.4xlarge": InstanceSize(16, 256),
    "p5.48xlarge": InstanceSize(192, 2048),
    "p5e.48xlarge": InstanceSize(192, 2048),
    "p5en.48xlarge": InstanceSize(192, 2048),
}

#: CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS: tuple[int, ...] = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
