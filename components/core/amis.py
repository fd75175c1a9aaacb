"""The EKS managed node group AMI type a pool implies: accelerator × architecture × OS.

Values are the EKS API's `amiType` enum (CreateNodegroup). The AL2023 and Bottlerocket
families cover every pairing the config allows; AL2 is gone (end of support 2025-11-26).
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = [
    "AMI_TYPES",
    "ROOT_DEVICE",
    "AmiType",
    "ami_type",
    "check_release_version",
    "data_volume_device",
    "runs_nvidia_device_plugin",
]

Accelerator = Literal["none", "nvidia"]
Architecture = Literal["x86_64", "arm64"]
OperatingSystem = Literal["al2023", "bottlerocket"]
AmiType = str

#: The root device of every EKS AMI we run (AL2023 and Bottlerocket alike).
ROOT_DEVICE = "/dev/xvda"

#: (os, architecture, accelerator) -> EKS `amiType`.
AMI_TYPES: dict[tuple[OperatingSystem, Architecture, Accelerator], AmiType] = {
    ("al2023", "x86_64", "none"): "AL2023_x86_64_STANDARD",
    ("al2023", "arm64", "none"): "AL2023_ARM_64_STANDARD",
    ("al2023", "x86_64", "nvidia"): "AL2023_x86_64_NVIDIA",
    ("al2023", "arm64", "nvidia"): "AL2023_ARM_64_NVIDIA",
    ("bottlerocket", "x86_64", "none"): "BOTTLEROCKET_x86_64",
    ("bottlerocket", "arm64", "none"): "BOTTLEROCKET_ARM_64",
    ("bottlerocket", "x86_64", "nvidia"): "BOTTLEROCKET_x86_64_NVIDIA",
    ("bottlerocket", "arm64", "nvidia"): "BOTTLEROCKET_ARM_64_NVIDIA",
}


def ami_type(os: str, architecture: str, accelerator: str) -> AmiType:
    """The `amiType` for a pool; a combination EKS does not offer is a `ValueError`."""
    try:
        return AMI_TYPES[(os, architecture, accelerator)]  # type: ignore[index]
    except KeyError:
        raise ValueError(
            f"no EKS AMI type for os={os!r}, architecture={architecture!r}, "
            f"accelerator={accelerator!r}"
        ) from None


def runs_nvidia_device_plugin(os: str, accelerator: str) -> bool:
    """Whether the AMI itself advertises `nvidia.com/gpu` to the kubelet.

    The EKS user guide ("Install Kubernetes device plugin for GPUs"): the EKS-optimized
    Bottlerocket NVIDIA AMIs include the NVIDIA device plugin; the AL2023 NVIDIA AMIs ship
    the driver and container toolkit but not the plugin, which must be installed.
    """
    return accelerator == "nvidia" and os == "bottlerocket"


def data_volume_device(os: str) -> str:
    """The block device that holds container images, so the pool's volume size lands there.

    AL2023 keeps everything on the root volume (`/dev/xvda`); Bottlerocket keeps a small
    OS volume on `/dev/xvda` and puts images and pod storage on `/dev/xvdb`.
    """
    return "/dev/xvdb" if os == "bottlerocket" else ROOT_DEVICE


#: Bottlerocket's OS volume (`/dev/xvda`: the active and passive OS partitions, no
#: workload data). Mapped explicitly so it is encrypted gp3 rather than the AMI's
#: default (unencrypted gp2); 4 GiB is Karpenter's Bottlerocket default and holds the
#: AMI's OS snapshot, which a smaller size would make the launch fail on.
BOTTLEROCKET_OS_VOLUME_GIB = 4


def os_volume_device(os: str) -> str | None:
    """The separate OS volume to map besides the data volume; None when there is none."""
    return ROOT_DEVICE if os == "bottlerocket" else None


_AL2023_RELEASE = re.compile(r"^(\d+\.\d+)\.\d+-\d{8}$")
_BOTTLEROCKET_RELEASE = re.compile(r"^\d+\.\d+\.\d+-[0-9a-f]{8}$")


def check_release_version(os: str, kubernetes_version: str, release_version: str) -> str:
    """Refuse a release version that cannot belong to this OS and Kubernetes version.

    AL2023 releases read `<k8s major.minor.patch>-<YYYYMMDD>` (`1.35.7-20260827`);
    Bottlerocket releases read `<bottlerocket version>-<commit>` (`1.50.0-1a2b3c4d`).
    """
    if os == "bottlerocket":
        if not _BOTTLEROCKET_RELEASE.match(release_version):
            raise ValueError(
                f"{release_version!r} is not a Bottlerocket release version (like 1.50.0-1a2b3c4d)"
            )
        return release_version
    match = _AL2023_RELEASE.match(release_version)
    if match is None:
        raise ValueError(
            f"{release_version!r} is not an AL2023 EKS AMI release version "
            f"(like {kubernetes_version}.7-20260827)"
        )
    if match.group(1) != kubernetes_version:
        raise ValueError(
            f"release version {release_version!r} is for Kubernetes {match.group(1)}, "
            f"but the cluster runs {kubernetes_version}"
        )
    return release_version
