"""Node user data: only the kubelet settings a pool needs, in the format its OS reads.

EKS managed node groups with an EKS AMI type write the cluster join configuration
themselves and merge ours into it, so user data carries only what differs from the
AMI's defaults. When nothing differs, there is no user data at all (`None`), so a
launch template change never rolls nodes for nothing.

- AL2023 reads `nodeadm` `NodeConfig` objects from a MIME multipart document
  (awslabs/amazon-eks-ami, nodeadm/doc/examples.md).
- Bottlerocket reads TOML settings (`settings.kubernetes.*`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "MIME_BOUNDARY",
    "KubeletSettings",
    "encode",
    "kubelet_settings_for",
    "render_user_data",
]

OperatingSystem = Literal["al2023", "bottlerocket"]

#: A fixed boundary keeps the rendered document byte-for-byte stable across runs.
MIME_BOUNDARY = "==MLOPS-NODECONFIG=="


@dataclass(frozen=True, kw_only=True)
class KubeletSettings:
    """Kubelet settings that differ from the EKS AMIs' defaults; None = keep the default."""

    shutdown_grace_period_seconds: int | None = None
    """Graceful node shutdown: how long the node waits for pods to stop on power-off."""
    shutdown_grace_period_critical_pods_seconds: int | None = None
    """The part of the grace period reserved for critical (system) pods."""
    image_gc_high_threshold_percent: int | None = None
    image_gc_low_threshold_percent: int | None = None

    def __post_init__(self) -> None:
        total, critical = (
            self.shutdown_grace_period_seconds,
            self.shutdown_grace_period_critical_pods_seconds,
        )
        if critical is not None and (total is None or critical >= total):
            raise ValueError(
                f"shutdown grace period for critical pods ({critical}s) must be shorter "
                f"than the whole shutdown grace period ({total}s)"
            )
        high, low = self.image_gc_high_threshold_percent, self.image_gc_low_threshold_percent
        if (high is None) != (low is None) or (
            high is not None and low is not None and not 0 < low < high <= 100
        ):
            raise ValueError(
                f"image GC thresholds need 0 < low < high <= 100, got low={low} high={high}"
            )

    @property
    def is_default(self) -> bool:
        return all(
            value is None
            for value in (
                self.shutdown_grace_period_seconds,
                self.shutdown_grace_period_critical_pods_seconds,
                self.image_gc_high_threshold_percent,
                self.image_gc_low_threshold_percent,
            )
        )


def kubelet_settings_for(*, capacity_type: str, accelerator: str) -> KubeletSettings:
    """What a pool changes from the AMI defaults, and why.

    Spot nodes get two minutes' notice; graceful node shutdown lets the kubelet run
    preStop hooks and drain connections when the instance powers off instead of killing
    pods mid-request. GPU images run to several GiB, so image garbage collection starts
    earlier than the default 85% to keep room for the next pull.
    """
    shutdown = (60, 15) if capacity_type == "SPOT" else (None, None)
    image_gc = (75, 60) if accelerator == "nvidia" else (None, None)
    return KubeletSettings(
        shutdown_grace_period_seconds=shutdown[0],
        shutdown_grace_period_critical_pods_seconds=shutdown[1],
        image_gc_high_threshold_percent=image_gc[0],
        image_gc_low_threshold_percent=image_gc[1],
    )


def _nodeadm(settings: KubeletSettings) -> str:
    config: list[str] = []
    if settings.shutdown_grace_period_seconds is not None:
        config.append(f"      shutdownGracePeriod: {settings.shutdown_grace_period_seconds}s")
    if settings.shutdown_grace_period_critical_pods_seconds is not None:
        seconds = settings.shutdown_grace_period_critical_pods_seconds
        config.append(f"      shutdownGracePeriodCriticalPods: {seconds}s")
    if settings.image_gc_high_threshold_percent is not None:
        config.append(
            f"      imageGCHighThresholdPercent: {settings.image_gc_high_threshold_percent}"
        )
    if settings.image_gc_low_threshold_percent is not None:
        config.append(
            f"      imageGCLowThresholdPercent: {settings.image_gc_low_threshold_percent}"
        )
    lines = [
        "MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{MIME_BOUNDARY}"',
        "",
        f"--{MIME_BOUNDARY}",
        "Content-Type: application/node.eks.aws",
        "",
        "---",
        "apiVersion: node.eks.aws/v1alpha1",
        "kind: NodeConfig",
        "spec:",
        "  kubelet:",
        "    config:",
        *config,
        "",
        f"--{MIME_BOUNDARY}--",
        "",
    ]
    return "\n".join(lines)


def _bottlerocket(settings: KubeletSettings) -> str:
    lines = ["[settings.kubernetes]"]
    if settings.shutdown_grace_period_seconds is not None:
        lines.append(f'shutdown-grace-period = "{settings.shutdown_grace_period_seconds}s"')
    if settings.shutdown_grace_period_critical_pods_seconds is not None:
        seconds = settings.shutdown_grace_period_critical_pods_seconds
        lines.append(f'shutdown-grace-period-for-critical-pods = "{seconds}s"')
    if settings.image_gc_high_threshold_percent is not None:
        lines.append(
            f"image-gc-high-threshold-percent = {settings.image_gc_high_threshold_percent}"
        )
    if settings.image_gc_low_threshold_percent is not None:
        lines.append(f"image-gc-low-threshold-percent = {settings.image_gc_low_threshold_percent}")
    return "\n".join(lines) + "\n"


def render_user_data(os: str, settings: KubeletSettings) -> str | None:
    """The user data document for `os`, or None when the AMI's defaults already fit."""
    if settings.is_default:
        return None
    if os == "al2023":
        return _nodeadm(settings)
    if os == "bottlerocket":
        return _bottlerocket(settings)
    raise ValueError(f"no user data format for os {os!r} (al2023 or bottlerocket)")


def encode(document: str) -> str:
    """Base64, as EC2 launch templates take user data."""
    return base64.b64encode(document.encode()).decode()
