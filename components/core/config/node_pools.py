"""`nodePools`: managed node groups, their instance types, sizes and launch template."""

from __future__ import annotations

import difflib
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from components.core import catalog
from components.core.config._base import ConfigModel

__all__ = ["NodePoolConfig", "RootVolume", "Taint"]

_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")


class Taint(ConfigModel):
    key: str
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class RootVolume(ConfigModel):
    """The node's encrypted gp3 root volume."""

    size_gib: int | None = Field(default=None, ge=20, le=16384)
    """Default 20 GiB, 100 GiB on GPU pools (the NVIDIA images are large)."""
    iops: int = Field(default=3000, ge=3000, le=16000)
    throughput_mibps: int = Field(default=125, ge=125, le=1000)


class NodePoolConfig(ConfigModel):
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
