"""ClusterAddons: what needs running nodes, created after the node pools exist.

CoreDNS, metrics-server and the EBS CSI controller are Deployments: created before any
node exists, an EKS add-on sits DEGRADED and `pulumi up` waits on it until it times out.
cluster-autoscaler and the NVIDIA device plugin are Helm releases that wait for their
pods. Every resource here therefore depends on the node pools it is given.

cluster-autoscaler over Karpenter for now: it works with the managed node groups and
launch templates this platform already defines, and needs no extra controller IAM or
CRDs. Karpenter would bin-pack GPU instance types better; adopting it means replacing
the node groups of the inference pools with Karpenter NodePools.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components._irsa import IrsaRole, irsa_role
from components.cluster import AddonTarget, Cluster, managed_addon
from components.core import iam
from components.core.config import ClusterConfig
from components.core.scheduling import (
    GPU_TAINT_KEY,
    POOL_LABEL,
    Scheduling,
    placement_values,
)
from components.core.tags import component_tags
from components.nodepool import NodePool

__all__ = ["AUTOSCALER_SERVICE_ACCOUNT", "ClusterAddons", "ClusterAddonsArgs"]

AUTOSCALER_SERVICE_ACCOUNT = ("kube-system", "cluster-autoscaler")
EBS_CSI_SERVICE_ACCOUNT = ("kube-system", "ebs-csi-controller-sa")
AUTOSCALER_REPO = "https://kubernetes.github.io/autoscaler"
DEVICE_PLUGIN_REPO = "https://nvidia.github.io/k8s-device-plugin"


@dataclass(frozen=True, kw_only=True)
class ClusterAddonsArgs:
    """Inputs of `ClusterAddons`; `from_config` builds them from the stack config."""

    cluster: Cluster
    pools: Sequence[NodePool]
    """The node pools; everything here is created after them."""
    coredns_version: str
    metrics_server_version: str
    ebs_csi_driver_version: str
    cluster_autoscaler_chart: str | None
    """Chart version of cluster-autoscaler; None: not installed."""
    nvidia_device_plugin_chart: str | None
    """Chart version of the NVIDIA device plugin; None: not installed."""
    system_scheduling: Scheduling | None = None
    """Where cluster-autoscaler and metrics-server run (the system pool's scheduling,
    `core.scheduling.system_pool`); None: wherever they fit."""
    tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(
        cls,
        config: ClusterConfig,
        *,
        cluster: Cluster,
        pools: Sequence[NodePool],
        system_pool: str | None = None,
        tags: Mapping[str, str],
    ) -> ClusterAddonsArgs:
        """`system_pool` names the pool (of `pools`) cluster services run on."""
        autoscaler, device_plugin = config.cluster_autoscaler, config.nvidia_device_plugin
        by_name = {pool.pool_name: pool for pool in pools}
        return cls(
            cluster=cluster,
            pools=pools,
            coredns_version=config.addons.coredns,
            metrics_server_version=config.addons.metrics_server,
            ebs_csi_driver_version=config.addons.ebs_csi_driver,
            cluster_autoscaler_chart=autoscaler.version if autoscaler.enabled else None,
            nvidia_device_plugin_chart=device_plugin.version if device_plugin.enabled else None,
            system_scheduling=by_name[system_pool].scheduling if system_pool else None,
            tags=tags,
        )


def device_plugin_values(pool_names: Sequence[str]) -> dict[str, Any]:
    """Helm values placing the NVIDIA device plugin on exactly the pools that need it.

    The chart's default affinity selects nodes labelled by Node Feature Discovery, which
    EKS nodes are not; we select by our pool label instead, and tolerate the GPU taint.
    """
    return {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": POOL_LABEL,
                                    "operator": "In",
                                    "values": sorted(pool_names),
                                }
                            ]
                        }
                    ]
                }
            }
        },
        "tolerations": [
            {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"},
            {"key": "CriticalAddonsOnly", "operator": "Exists"},
        ],
        "priorityClassName": "system-node-critical",
    }


class ClusterAddons(pulumi.ComponentResource):
    """CoreDNS, metrics-server, EBS CSI, cluster-autoscaler and the NVIDIA device plugin."""

    addons: dict[str, aws.eks.Addon]
    """The EKS managed add-ons created here, by add-on name."""
    autoscaler_role_arn: pulumi.Output[str] | None
    """cluster-autoscaler's IRSA role, when installed."""
    releases: dict[str, k8s.helm.v3.Release]
    """The Helm releases, by chart name."""

    def __init__(
        self, name: str, args: ClusterAddonsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:cluster_addons:ClusterAddons", name, None, opts)
        invoke = pulumi.InvokeOptions(parent=self)
        cluster = args.cluster
        after_pools: list[pulumi.Resource] = [pool.node_group for pool in args.pools]

        def tags(suffix: str) -> dict[str, str]:
            return component_tags(args.tags, "cluster-addons", name=f"{name}-{suffix}")

        partition = aws.get_partition(opts=invoke).partition
        region = aws.get_region(opts=invoke).region
        account_id = aws.get_caller_identity(opts=invoke).account_id

        def pod_role(
            suffix: str,
            account: tuple[str, str],
            *,
            policy_arn: pulumi.Input[str] | None = None,
            policy: pulumi.Input[str] | None = None,
        ) -> IrsaRole:
            namespace, service_account = account
            return irsa_role(
                f"{name}-{suffix}",
                parent=self,
                oidc_provider_arn=cluster.oidc_provider_arn,
                oidc_issuer=cluster.oidc_issuer,
                namespace=namespace,
                service_account=service_account,
                description=f"IRSA role of {namespace}/{service_account}",
                tags=tags(suffix),
                policy_arn=policy_arn,
                policy=policy,
            )

        ebs_role, ebs_policy = pod_role(
            "ebs-csi",
            EBS_CSI_SERVICE_ACCOUNT,
            policy_arn=iam.managed_policy_arn(iam.EBS_CSI_POLICY, partition=partition),
        )

        target = AddonTarget(self, name, cluster.cluster_name, tags, after=after_pools)

        self.addons = {
            "coredns": managed_addon(target, "coredns", args.coredns_version),
            # Off the spot pools: the HPA loses its metrics whenever a spot node goes.
            "metrics-server": managed_addon(
                target,
                "metrics-server",
                args.metrics_server_version,
                configuration=placement_values(args.system_scheduling),
            ),
            "aws-ebs-csi-driver": managed_addon(
                target,
                "aws-ebs-csi-driver",
                args.ebs_csi_driver_version,
                role_arn=ebs_role.arn,
                depends_on=[ebs_policy],
            ),
        }
        self.releases = {}
        self.autoscaler_role_arn = None

        if args.cluster_autoscaler_chart is not None:
            namespace, service_account = AUTOSCALER_SERVICE_ACCOUNT
            autoscaler_role, autoscaler_policy = pod_role(
                "autoscaler",
                AUTOSCALER_SERVICE_ACCOUNT,
                policy=cluster.cluster_name.apply(
                    lambda cluster_name: iam.to_json(
                        iam.cluster_autoscaler_policy(
                            cluster_name,
                            region=region,
                            account_id=account_id,
                            partition=partition,
                        )
                    )
                ),
            )
            self.autoscaler_role_arn = autoscaler_role.arn
            self.releases["cluster-autoscaler"] = k8s.helm.v3.Release(
                f"{name}-autoscaler",
                chart="cluster-autoscaler",
                version=args.cluster_autoscaler_chart,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=AUTOSCALER_REPO),
                namespace=namespace,
                values={
                    "cloudProvider": "aws",
                    "awsRegion": region,
                    # Auto-discovery finds the node groups by the tags EKS puts on their
                    # Auto Scaling groups: k8s.io/cluster-autoscaler/{enabled,<cluster>}.
                    "autoDiscovery": {"clusterName": cluster.cluster_name},
                    "fullnameOverride": "cluster-autoscaler",
                    "rbac": {
                        "serviceAccount": {
                            "create": True,
                            "name": service_account,
                            "annotations": {"eks.amazonaws.com/role-arn": autoscaler_role.arn},
                        }
                    },
                    "extraArgs": {
                        "balance-similar-node-groups": True,
                        "expander": "least-waste",
                        "skip-nodes-with-system-pods": False,
                    },
                    "priorityClassName": "system-cluster-critical",
                    # On the system pool: on a pool it scales, it could evict itself.
                    **placement_values(args.system_scheduling),
                },
                opts=pulumi.ResourceOptions(
                    parent=self,
                    provider=cluster.provider,
                    depends_on=[*after_pools, autoscaler_policy],
                ),
            )

        plugin_pools = [pool.pool_name for pool in args.pools if pool.needs_device_plugin]
        if args.nvidia_device_plugin_chart is not None and plugin_pools:
            self.releases["nvidia-device-plugin"] = k8s.helm.v3.Release(
                f"{name}-nvidia-device-plugin",
                chart="nvidia-device-plugin",
                version=args.nvidia_device_plugin_chart,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=DEVICE_PLUGIN_REPO),
                namespace="kube-system",
                values=device_plugin_values(plugin_pools),
                opts=pulumi.ResourceOptions(
                    parent=self, provider=cluster.provider, depends_on=after_pools
                ),
            )

        self.register_outputs(
            {
                "addons": {k: a.addon_version for k, a in self.addons.items()},
                "autoscalerRoleArn": self.autoscaler_role_arn,
            }
        )
