"""Platform: one stack's whole deployment, composed from the typed stack config."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi

from components.cluster import Cluster, ClusterArgs
from components.cluster_addons import ClusterAddons, ClusterAddonsArgs
from components.core.config import StackConfig
from components.core.scheduling import Scheduling, system_pool
from components.core.tags import stack_tags
from components.load_balancer_controller import LoadBalancerController, LoadBalancerControllerArgs
from components.model_service import ModelService, ModelServiceArgs
from components.model_store import ModelStore, ModelStoreArgs
from components.network import Network, NetworkArgs
from components.nodepool import NodePool, NodePoolArgs

__all__ = ["Platform", "Workload", "build_workload"]


class Platform(pulumi.ComponentResource):
    """Network, cluster, node pools, model store and model service for one stack."""

    network: Network
    cluster: Cluster
    node_pools: dict[str, NodePool]
    cluster_addons: ClusterAddons
    model_store: ModelStore
    workload: Workload

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
                system_pool=system_pool(config.node_pools),
                tags=tags,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.outputs: dict[str, object] = {
            "vpcId": self.network.vpc_id,
            "privateSubnetIds": self.network.private_subnet_ids,
            "publicSubnetIds": self.network.public_subnet_ids,
            # Plain CIDRs from the subnet plan: another stack's NetworkPolicy admits them.
            "privateSubnetCidrs": self.network.private_subnet_cidrs,
            "publicSubnetCidrs": self.network.public_subnet_cidrs,
            "clusterName": self.cluster.cluster_name,
            "clusterEndpoint": self.cluster.endpoint,
            "kubernetesVersion": self.cluster.kubernetes_version,
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

        # The model store needs nothing from the cluster.
        self.model_store = ModelStore(
            "model-store",
            ModelStoreArgs.from_config(config.model_store, tags=tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.outputs.update(
            {
                "modelBucketName": self.model_store.bucket_name,
                "modelBucketArn": self.model_store.bucket_arn,
                "modelBucketKmsKeyArn": self.model_store.kms_key_arn,
                "modelRepositoryUrl": self.model_store.repository_url,
            }
        )
        self.workload = build_workload(
            self,
            config,
            store=self.model_store,
            cluster_name=self.cluster.cluster_name,
            vpc_id=self.network.vpc_id,
            oidc_provider_arn=self.cluster.oidc_provider_arn,
            oidc_issuer=self.cluster.oidc_issuer,
            kubernetes_provider=self.cluster.provider,
            scheduling={n: p.scheduling for n, p in self.node_pools.items()},
            private_subnet_cidrs=self.network.private_subnet_cidrs,
            public_subnet_cidrs=self.network.public_subnet_cidrs,
            requires=[self.cluster_addons],
            tags=tags,
        )
        self.outputs.update(self.workload.outputs)
        # Model stacks of other teams (examples/second-model) need the controller for an
        # ALB or NLB exposure; they read whether this platform runs one.
        self.outputs["loadBalancerController"] = self.workload.load_balancer_controller is not None

        self.register_outputs(self.outputs)

    def export(self) -> None:
        """Export the platform's outputs as the stack's outputs."""
        for key, value in self.outputs.items():
            pulumi.export(key, value)


class Workload:
    """What `build_workload` created: the controller (when needed) and the service."""

    def __init__(
        self,
        load_balancer_controller: LoadBalancerController | None,
        service: ModelService | None,
    ) -> None:
        self.load_balancer_controller = load_balancer_controller
        self.service = service
        self.outputs: dict[str, object] = {}
        if service is not None:
            self.outputs = {
                "serviceNamespace": service.namespace,
                "serviceRoleArn": service.role_arn,
                "serviceHostname": service.load_balancer_hostname,
            }


def build_workload(
    parent: pulumi.Resource,
    config: StackConfig,
    *,
    store: ModelStore,
    cluster_name: pulumi.Input[str],
    vpc_id: pulumi.Input[str],
    oidc_provider_arn: pulumi.Input[str],
    oidc_issuer: pulumi.Input[str],
    kubernetes_provider: pulumi.ProviderResource,
    scheduling: Mapping[str, Scheduling],
    private_subnet_cidrs: Sequence[str] | None = None,
    public_subnet_cidrs: Sequence[str] | None = None,
    requires: Sequence[pulumi.Resource] = (),
    tags: Mapping[str, str],
) -> Workload:
    """The AWS Load Balancer Controller (when the exposure needs one) and the ModelService.

    The controller runs on the system pool (`core.scheduling.system_pool`) when there is
    one. Without a `service` section, nothing is created.
    """
    service = config.service
    if service is None:
        return Workload(None, None)
    controller: LoadBalancerController | None = None
    system = system_pool(config.node_pools)
    chart = config.cluster.aws_load_balancer_controller
    if service.exposure != "cluster-ip" and chart.enabled:
        controller = LoadBalancerController(
            "load-balancer-controller",
            LoadBalancerControllerArgs(
                cluster_name=cluster_name,
                vpc_id=vpc_id,
                oidc_provider_arn=oidc_provider_arn,
                oidc_issuer=oidc_issuer,
                chart_version=chart.version,
                kubernetes_provider=kubernetes_provider,
                scheduling=scheduling[system] if system is not None else None,
                requires=requires,
                tags=tags,
            ),
            opts=pulumi.ResourceOptions(parent=parent),
        )
    model_service = ModelService(
        f"service-{service.name}",
        ModelServiceArgs.from_config(
            config,
            scheduling=scheduling[service.node_pool],
            oidc_provider_arn=oidc_provider_arn,
            oidc_issuer=oidc_issuer,
            bucket_name=store.bucket_name,
            bucket_arn=store.bucket_arn,
            bucket_kms_key_arn=store.kms_key_arn,
            image_repository=store.repository_url,
            kubernetes_provider=kubernetes_provider,
            load_balancer_controller=controller.release if controller else None,
            private_subnet_cidrs=private_subnet_cidrs,
            public_subnet_cidrs=public_subnet_cidrs,
            requires=requires,
            tags=tags,
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return Workload(controller, model_service)
