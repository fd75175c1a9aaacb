"""The Pulumi-facing loader of the stack config.

The models themselves are the pure core's (`components/core/config/`); this module reads
them from the running stack and raises `ConfigError`, a `pulumi.RunError`, which the
Pulumi CLI prints as one message without a traceback. The models are re-exported so a
consumer stack imports everything about its config from one place.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.core import config as core
from components.core.config import (
    CONFIG_KEY,
    ClusterConfig,
    ImageRef,
    KubeconfigAuth,
    ModelServiceConfig,
    ModelStoreConfig,
    NetworkConfig,
    NodePoolConfig,
    StackConfig,
)
from components.core.stackfile import DEFAULT_REGION

__all__ = [
    "CONFIG_KEY",
    "ClusterConfig",
    "ConfigError",
    "ImageRef",
    "KubeconfigAuth",
    "ModelServiceConfig",
    "ModelStoreConfig",
    "NetworkConfig",
    "NodePoolConfig",
    "StackConfig",
    "load_kubeconfig_auth",
    "load_stack_config",
    "parse_stack_config",
]


class ConfigError(core.ConfigError, pulumi.RunError):
    """The stack config is invalid; the message lists every bad key path and value."""


def parse_stack_config(
    raw: Any, *, root: str = CONFIG_KEY, region: str | None = None, stack: str | None = None
) -> StackConfig:
    """Validate a plain config value; raise `ConfigError` naming each bad key path."""
    try:
        return core.parse_stack_config(raw, root=root, region=region, stack=stack)
    except core.ConfigError as exc:
        raise ConfigError(str(exc)) from None


def load_stack_config(config: pulumi.Config | None = None) -> StackConfig:
    """Read and validate `<project>:platform` from the current stack's config."""
    config = config or pulumi.Config()
    raw = config.get_object(CONFIG_KEY)
    if raw is None:
        raise ConfigError(
            f"missing stack config {config.full_key(CONFIG_KEY)!r}: "
            "see Pulumi.dev.yaml for a complete example"
        )
    # The region and stack name let the checks that need them run before any resource.
    region = pulumi.Config("aws").get("region") or DEFAULT_REGION
    return parse_stack_config(
        raw, root=config.full_key(CONFIG_KEY), region=region, stack=pulumi.get_stack()
    )


def load_kubeconfig_auth(aws_config: pulumi.Config | None = None) -> KubeconfigAuth:
    """The AWS provider's `aws:profile` and `aws:assumeRoles`, for the kubeconfig.

    The default provider reads the same keys (pulumi_aws/config/vars.py), so the
    Kubernetes provider then calls `aws eks get-token` as the identity that created the
    cluster, not whatever `AWS_PROFILE` or the default chain happen to give.
    """
    aws_config = aws_config or pulumi.Config("aws")
    try:
        return core.kubeconfig_auth(aws_config.get("profile"), aws_config.get_object("assumeRoles"))
    except core.ConfigError as exc:
        raise ConfigError(str(exc)) from None
