"""Platform: one stack's whole deployment, composed from the typed stack config."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pulumi

from components.cluster import Cluster, ClusterArgs
from components.cluster_addons import ClusterAddons, ClusterAddonsArgs
from components.config import CONFIG_KEY, ConfigError, load_kubeconfig_auth
from components.core.config import StackConfig
from components.core.cost import CostError, estimate, load_prices
from components.core.release import ModelArtifact, context_hash, image_platform, model_artifact
from components.core.release import image_tag as image_tag_for
from components.core.scheduling import system_pool
from components.core.tags import stack_tags
from components.load_balancer_controller import LoadBalancerController, LoadBalancerControllerArgs
from components.model_release import ModelRelease, ModelReleaseArgs
from components.model_service import ModelService, ModelServiceArgs
from components.model_store import ModelStore, ModelStoreArgs
from components.network import Network, NetworkArgs
from components.nodepool import NodePool, NodePoolArgs
from components.observability import Observability, ObservabilityArgs

__all__ = ["Platform", "release_model"]


class Platform(pulumi.ComponentResource):
    """Network, cluster, node pools, model store and model service for one stack."""

    network: Network
    cluster: Cluster
    node_pools: dict[str, NodePool]
    cluster_addons: ClusterAddons
    model_store: ModelStore
    load_balancer_controller: LoadBalancerController | None
    """The AWS Load Balancer Controller, when the service's exposure needs one."""
    model_release: ModelRelease | None
    """The service's model objects and image, published before its pods."""
    model_service: ModelService | None
    """The model server; None without a `service` section."""
    observability: Observability | None
    """Alarms, dashboard, budget and Container Insights (`observability.enabled`)."""
    project_dir: Path
    """The folder of `Pulumi.yaml`: the model source and the image's build context."""

    def __init__(
        self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        # Read before any resource: a missing model or a stale sidecar is a config error
        # that costs nothing, not a failed rollout after the cluster was built.
        project_dir = Path(pulumi.get_root_directory() or ".")
        model = release_model(config, project_dir)
        kubeconfig_auth = load_kubeconfig_auth()
        budget_base = budget_estimate(config)
        super().__init__("mlops:platform:Platform", name, None, opts)
        self.project_dir = project_dir
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
                kubeconfig_auth=kubeconfig_auth,
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
            ModelStoreArgs.from_config(
                config.model_store, tags=tags, environment=config.environment
            ),
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
        self._build_workload(config, model, tags)
        # Model stacks of other teams (examples/second-model) need the controller for an
        # ALB or NLB exposure; they read whether this platform runs one.
        self.outputs["loadBalancerController"] = self.load_balancer_controller is not None
        self._build_observability(config, budget_base, tags)

        self.register_outputs(self.outputs)

    def _build_observability(
        self, config: StackConfig, estimate_max: float | None, tags: Mapping[str, str]
    ) -> None:
        self.observability = None
        if not config.observability.enabled:
            return
        service = self.model_service
        self.observability = Observability(
            "observability",
            ObservabilityArgs(
                config=config,
                cluster_name=self.cluster.cluster_name,
                oidc_provider_arn=self.cluster.oidc_provider_arn,
                oidc_issuer=self.cluster.oidc_issuer,
                estimate_max=estimate_max,
                service_hostname=service.load_balancer_hostname if service else None,
                nat_gateway_ids=self.network.nat_gateway_ids,
                pool_asg_names={n: p.asg_name for n, p in self.node_pools.items()},
                requires=[self.cluster_addons],
                tags=tags,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.outputs.update(
            {
                "alarmTopicArn": self.observability.topic_arn,
                "dashboardName": self.observability.dashboard_name,
            }
        )

    def _build_workload(
        self, config: StackConfig, model: ModelArtifact | None, tags: Mapping[str, str]
    ) -> None:
        """The load balancer controller (when the exposure needs one), the ModelRelease
        and the ModelService, each a direct child of the Platform (their URNs predate
        this method: it replaced a free `build_workload` function with the same parent).

        The controller runs on the system pool (`core.scheduling.system_pool`) when there
        is one. Without a `service` section, none of them is created.
        """
        self.load_balancer_controller = None
        self.model_release = None
        self.model_service = None
        service = config.service
        if service is None:
            return
        scheduling = {n: p.scheduling for n, p in self.node_pools.items()}
        system = system_pool(config.node_pools)
        chart = config.cluster.aws_load_balancer_controller
        requires: list[pulumi.Resource] = [self.cluster_addons]
        if service.exposure != "cluster-ip" and chart.enabled:
            self.load_balancer_controller = LoadBalancerController(
                "load-balancer-controller",
                LoadBalancerControllerArgs(
                    cluster_name=self.cluster.cluster_name,
                    vpc_id=self.network.vpc_id,
                    oidc_provider_arn=self.cluster.oidc_provider_arn,
                    oidc_issuer=self.cluster.oidc_issuer,
                    chart_version=chart.version,
                    kubernetes_provider=self.cluster.provider,
                    scheduling=scheduling[system] if system is not None else None,
                    requires=requires,
                    tags=tags,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        # The pods need the model in the bucket and the image in the registry: the stack
        # publishes both first, and the Deployment waits for them.
        store = self.model_store
        built = service.image.built
        image_tag = (
            image_tag_for(service.image.tag or "build", context_hash(self.project_dir))
            if built
            else None
        )
        self.model_release = ModelRelease(
            f"release-{service.name}",
            ModelReleaseArgs(
                bucket_name=store.bucket_name,
                model_prefix=service.model_prefix,
                model=model,
                repository_url=store.repository_url if built else None,
                registry_id=store.registry_id if built else None,
                context=self.project_dir,
                image_tag=image_tag or "",
                platform=image_platform(config.node_pools[service.node_pool].architecture),
                tags=tags,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        controller = self.load_balancer_controller
        self.model_service = ModelService(
            f"service-{service.name}",
            ModelServiceArgs.from_config(
                config,
                scheduling=scheduling[service.node_pool],
                oidc_provider_arn=self.cluster.oidc_provider_arn,
                oidc_issuer=self.cluster.oidc_issuer,
                bucket_name=store.bucket_name,
                bucket_arn=store.bucket_arn,
                bucket_kms_key_arn=store.kms_key_arn,
                image_repository=store.repository_url,
                kubernetes_provider=self.cluster.provider,
                load_balancer_controller=controller.release if controller else None,
                private_subnet_cidrs=self.network.private_subnet_cidrs,
                public_subnet_cidrs=self.network.public_subnet_cidrs,
                requires=requires,
                image_tag=image_tag,
                image_digest=self.model_release.image_digest,
                model_sha256=self.model_release.model_sha256,
                release=self.model_release.dependencies,
                tags=tags,
                cluster_name=self.cluster.cluster_name,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.outputs.update(
            {
                "serviceNamespace": self.model_service.namespace,
                "serviceRoleArn": self.model_service.role_arn,
                "serviceHostname": self.model_service.load_balancer_hostname,
                "modelSha256": self.model_release.model_sha256,
                "serviceImage": self.model_release.image_ref,
            }
        )

    def export(self) -> None:
        """Export the platform's outputs as the stack's outputs."""
        for key, value in self.outputs.items():
            pulumi.export(key, value)


def budget_estimate(config: StackConfig) -> float | None:
    """The budget's base, the cost estimate's monthly maximum (or `budget.limitUsd`); read
    before any resource, so a region without prices is a config error that costs nothing."""
    observability = config.observability
    budget = observability.budget
    if not (observability.enabled and budget.enabled):
        return None
    if budget.limit_usd is not None:
        return budget.limit_usd
    region = pulumi.Config("aws").get("region") or "us-west-2"
    try:
        result = estimate(config, load_prices(region))
    except CostError as exc:
        raise ConfigError(
            "observability.budget: its limit comes from the cost estimate, which failed: "
            f"{exc} (or set observability.budget.limitUsd)"
        ) from None
    high = result.total[1]
    if result.unknown:
        missing = ", ".join(sorted({line.item for line in result.unknown}))
        if high <= 0:
            pulumi.log.warn(
                f"observability.budget: no line of the cost estimate for {region} is priced "
                f"({missing}), so no budget is created: set observability.budget.limitUsd"
            )
            return None
        pulumi.log.warn(
            f"observability.budget: the budget's limit leaves out unpriced lines ({missing}); "
            "set observability.budget.limitUsd to include them"
        )
    return high


def release_model(config: StackConfig, project_dir: Path) -> ModelArtifact | None:
    """The service's model to upload (`service.modelSource`), or `ConfigError`."""
    service = config.service
    if service is None or service.model_source is None:
        return None
    try:
        return model_artifact(project_dir / service.model_source)
    except ValueError as exc:
        raise ConfigError(f"{CONFIG_KEY}.service.modelSource: {exc}") from None
