"""The typed stack config: every key of `Pulumi.<stack>.yaml` validated before any resource.

The whole platform is one structured config value, `mlops-platform:platform`, so that a
typo anywhere in it is an error (`extra="forbid"`) rather than a silently ignored key.
Keys are camelCase in YAML, snake_case in Python. Each error names the key path and the
bad value.

This is the contract every layer reads, so it lives in the pure core and imports no
Pulumi: `parse_stack_config` raises `ConfigError`, a plain `ValueError`. The Pulumi-facing
loader (`components/config.py`) turns that into a `pulumi.RunError`, which the CLI prints
as one message without a traceback.

One module per section of the YAML (`network`, `cluster`, `node_pools`, `service` for
`modelStore` and `service`, `observability` for `observability` and `cost`), `stack` for
the whole value and the checks across sections, `kubeconfig` for the credentials read
from the AWS provider's keys; what they share is in `_base`. Import from here.
"""

from __future__ import annotations

from components.core.config._base import ConfigError
from components.core.config.cluster import ClusterConfig
from components.core.config.kubeconfig import KubeconfigAuth, kubeconfig_auth
from components.core.config.network import InterfaceEndpoint, NetworkConfig
from components.core.config.node_pools import NodePoolConfig
from components.core.config.observability import CostAssumptions, ObservabilityConfig
from components.core.config.service import (
    GrpcConfig,
    ImageRef,
    LogLevel,
    ModelServiceConfig,
    ModelStoreConfig,
)
from components.core.config.stack import CONFIG_KEY, StackConfig, parse_stack_config
from components.core.subnets import NatStrategy

__all__ = [
    "CONFIG_KEY",
    "ClusterConfig",
    "ConfigError",
    "CostAssumptions",
    "GrpcConfig",
    "ImageRef",
    "InterfaceEndpoint",
    "KubeconfigAuth",
    "LogLevel",
    "ModelServiceConfig",
    "ModelStoreConfig",
    "NatStrategy",
    "NetworkConfig",
    "NodePoolConfig",
    "ObservabilityConfig",
    "StackConfig",
    "kubeconfig_auth",
    "parse_stack_config",
]
