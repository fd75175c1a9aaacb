"""Platform: one stack's whole deployment, composed from the typed stack config."""

from __future__ import annotations

import pulumi

from components.config import StackConfig
from components.core.tags import stack_tags
from components.network import Network, NetworkArgs

__all__ = ["Platform"]


class Platform(pulumi.ComponentResource):
    """Network, cluster, node pools, model store and model service for one stack."""

    network: Network

    def __init__(
        self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:platform:Platform", name, None, opts)
        tags = stack_tags(pulumi.get_project(), pulumi.get_stack(), config.tags)

        self.network = Network(
            "network",
            NetworkArgs.from_config(config.network, cluster_name=config.cluster.name, tags=tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.outputs: dict[str, object] = {
            "vpcId": self.network.vpc_id,
            "privateSubnetIds": self.network.private_subnet_ids,
            "publicSubnetIds": self.network.public_subnet_ids,
        }
        self.register_outputs(self.outputs)

    def export(self) -> None:
        """Export the platform's outputs as the stack's outputs."""
        for key, value in self.outputs.items():
            pulumi.export(key, value)
