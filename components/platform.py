"""Platform: one stack's whole deployment, composed from the typed stack config."""

from __future__ import annotations

import pulumi

from components.cluster import Cluster, ClusterArgs
from components.cluster_addons import ClusterAddons, ClusterAddonsArgs
from components.config import StackConfig
from components.core.tags import stack_tags
from components.network import Network, NetworkArgs
from components.nodepool import NodePool, NodePoolArgs

__all__ = ["Platform"]


class Platform(pulumi.ComponentResource):
    """Network, cluster, node pools, model store and model service for one stack."""

    network: Network
    cluster: Cluster
    node_pools: dict[str, NodePool]
    cluster_addons: ClusterAddons

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
        private_subnets = [self.network.private_subnet_ids[az] for az in self.network.azs]
        self.cluster = Cluster(
            "cluster",
            ClusterArgs.from_config(
                config.cluster,
                vpc_id=self.network.vpc_id,
                private_subnet_ids=private_subnets,
                tags=tags,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.node_pools = {
            pool_name: NodePool(
                f"pool-{pool_name}",
                NodePoolArgs.from_config(
                    pool_name,
                    pool,
                    cluster_name=self.cluster.cluster_name,
                    kubernetes_version=self.cluster.kubernetes_version,
                    subnet_ids=private_subnets,
                    cluster_security_group_id=self.cluster.cluster_security_group_id,
                    requires=self.cluster.node_prerequisites,
                    tags=tags,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for pool_name, pool in config.node_pools.items()
        }
        # Add-ons that need nodes come after the pools: a separate component, so the
        # dependency is explicit in the graph rather than an accident of ordering.
        self.cluster_addons = ClusterAddons(
            "cluster-addons",
            ClusterAddonsArgs.from_config(
                config.cluster,
                cluster=self.cluster,
                pools=list(self.node_pools.values()),
                tags=tags,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.outputs: dict[str, object] = {
            "vpcId": self.network.vpc_id,
            "privateSubnetIds": self.network.private_subnet_ids,
            "publicSubnetIds": self.network.public_subnet_ids,
            "clusterName": self.cluster.cluster_name,
            "clusterEndpoint": self.cluster.endpoint,
            "kubeconfig": self.cluster.kubeconfig,
            "oidcProviderArn": self.cluster.oidc_provider_arn,
            "oidcProviderUrl": self.cluster.oidc_provider_url,
            "nodePools": {
                pool_name: {
                    "nodeGroupName": pool.node_group_name,
                    "nodeSelector": pool.scheduling.node_selector,
                    "tolerations": pool.scheduling.tolerations,
                }
                for pool_name, pool in self.node_pools.items()
            },
        }
        self.register_outputs(self.outputs)

    def export(self) -> None:
        """Export the platform's outputs as the stack's outputs."""
        for key, value in self.outputs.items():
            pulumi.export(key, value)
