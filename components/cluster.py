"""Cluster: the EKS control plane, its encryption key and logs, IRSA, networking add-ons.

`pulumi_eks.Cluster` builds the control plane (a remote component: one resource from
here). Around it we create what it does not: the KMS key for secrets envelope
encryption, the control-plane log group (created first, with a retention), the
networking add-ons every node needs before it can become Ready (vpc-cni with its own
IRSA role, kube-proxy, the pod identity agent), and a Kubernetes provider for workloads.

Add-ons that run as Deployments (CoreDNS, metrics-server, the EBS CSI controller) and the
Helm releases need nodes; `ClusterAddons` creates them after the node pools exist.

The private endpoint is always on (nodes and pods use it). The shipped stacks keep the
public endpoint too, open only to `publicAccessCidrs` (the deploy runners), so the first
`pulumi up` reaches the API from outside a VPC it is creating. With the public endpoint
off, everything that talks to the Kubernetes API (the Helm releases, the workloads) does
so through the private endpoint: run `pulumi up` from a network routed to the VPC, listed
in `cluster.apiAccessCidrs`, which opens 443 on the cluster security group to it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from components._irsa import irsa_role
from components.core import iam
from components.core.config import ClusterConfig, KubeconfigAuth
from components.core.constants import CONTROL_PLANE_LOG_TYPES
from components.core.tags import component_tags

__all__ = [
    "CONTROL_PLANE_LOG_TYPES",
    "AddonTarget",
    "Cluster",
    "ClusterArgs",
    "creator_admin_transform",
    "entry_key",
    "kubeconfig_fields",
    "kubernetes_provider",
    "managed_addon",
]


@dataclass(frozen=True, kw_only=True)
class ClusterArgs:
    """Inputs of `Cluster`; `from_config` builds them from the stack config."""

    cluster_name: str
    """The EKS cluster's name (chosen, not generated: subnet and autoscaler tags carry it)."""
    kubernetes_version: str
    vpc_id: pulumi.Input[str]
    private_subnet_ids: Sequence[pulumi.Input[str]]
    """The control plane's network interfaces go here; public subnets are found by the
    load balancer controller through their `kubernetes.io/role/elb` tag."""
    endpoint_public_access: bool = False
    public_access_cidrs: Sequence[str] = ()
    api_access_cidrs: Sequence[str] = ()
    """Networks allowed to the private endpoint: 443 on the cluster security group."""
    admin_principal_arns: Sequence[str] = ()
    """IAM roles or users given cluster-admin through EKS access entries."""
    bootstrap_creator_admin: bool = False
    """Also make whoever runs `pulumi up` a cluster admin. Off: run `pulumi up` as one of
    `admin_principal_arns`, since the Helm releases reach the API as the deployer."""
    log_retention_days: int = 90
    vpc_cni_version: str
    kube_proxy_version: str
    pod_identity_agent_version: str
    kubeconfig_auth: KubeconfigAuth = field(default_factory=KubeconfigAuth)
    """The AWS profile and role `aws eks get-token` uses in the kubeconfig (and so the
    Kubernetes provider): the AWS provider's own (`components.config.load_kubeconfig_auth`)."""
    tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(
        cls,
        config: ClusterConfig,
        *,
        vpc_id: pulumi.Input[str],
        private_subnet_ids: Sequence[pulumi.Input[str]],
        tags: Mapping[str, str],
        kubeconfig_auth: KubeconfigAuth | None = None,
    ) -> ClusterArgs:
        return cls(
            cluster_name=config.name,
            kubernetes_version=config.kubernetes_version,
            vpc_id=vpc_id,
            private_subnet_ids=private_subnet_ids,
            endpoint_public_access=config.endpoint_public_access,
            public_access_cidrs=config.public_access_cidrs,
            api_access_cidrs=config.api_access_cidrs,
            admin_principal_arns=config.admin_principal_arns,
            bootstrap_creator_admin=config.bootstrap_creator_admin,
            log_retention_days=config.log_retention_days,
            vpc_cni_version=config.addons.vpc_cni,
            kube_proxy_version=config.addons.kube_proxy,
            pod_identity_agent_version=config.addons.pod_identity_agent,
            kubeconfig_auth=kubeconfig_auth or KubeconfigAuth(),
            tags=tags,
        )


def kubeconfig_fields(kubeconfig_json: str) -> tuple[str, str]:
    """The cluster name and API endpoint inside a pulumi-eks kubeconfig.

    `pulumi_eks.Cluster` exposes them only on `eks_cluster`, a resource reference; the
    kubeconfig it renders from that same cluster carries both as plain values, so reading
    them here keeps the dependency on the cluster and works under mocks too.
    """
    document = json.loads(kubeconfig_json)
    endpoint = str(document["clusters"][0]["cluster"]["server"])
    args = list(document["users"][0]["user"]["exec"]["args"])
    return str(args[args.index("--cluster-name") + 1]), endpoint


def creator_admin_transform(enabled: bool) -> pulumi.ResourceTransform:
    """Set `bootstrapClusterCreatorAdminPermissions` on the EKS cluster pulumi-eks creates.

    pulumi-eks 4.x hard-codes it to true (nodejs/eks/cluster/cluster.ts: "required for
    this component because it deploys charts"); with no default node group, no storage
    class and the default VPC CNI it deploys nothing into the cluster, so the flag can
    follow our config. The transform reaches the child because transforms apply to the
    resources of packaged components; it sees their properties by wire (camelCase) names.
    A create-time setting: pulumi-eks ignores later changes to it.
    """

    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        if args.type_ != "aws:eks/cluster:Cluster":
            return None
        props = dict(args.props)
        current = props.get("accessConfig")
        access = dict(current) if isinstance(current, Mapping) else {}
        access["bootstrapClusterCreatorAdminPermissions"] = enabled
        props["accessConfig"] = access
        return pulumi.ResourceTransformResult(props=props, opts=args.opts)

    return transform


def entry_key(arn: str) -> str:
    """A stable, unique access-entry key from a principal ARN: `ml-admin-1a2b3c4d`.

    The name alone is not unique (`role/x` and `user/x`, or the same role name in two
    accounts, would share a key and one admin would silently be dropped), so the key
    ends in a short hash of the whole ARN; the name is kept for readability.
    """
    name = re.sub(r"[^A-Za-z0-9-]+", "-", arn.rsplit("/", 1)[-1]).strip("-").lower()
    digest = hashlib.sha256(arn.encode()).hexdigest()[:8]
    return f"{name}-{digest}" if name else digest


def _cidr_slug(cidr: str) -> str:
    """A CIDR as a resource-name part: `10.30.0.0/16` -> `10-30-0-0-16`."""
    return re.sub(r"[./]", "-", cidr)


@dataclass(frozen=True)
class AddonTarget:
    """Where a component installs EKS managed add-ons: the cluster, names, tags, order."""

    parent: pulumi.Resource
    prefix: str
    """Add-on resources are named `<prefix>-<add-on name>`."""
    cluster_name: pulumi.Input[str]
    tags: Callable[[str], Mapping[str, str]]
    """The tags of the resource named `<prefix>-<suffix>`, given the suffix."""
    after: Sequence[pulumi.Resource] = ()
    """Created first (the node pools, for add-ons that run as Deployments)."""


def managed_addon(
    target: AddonTarget,
    addon_name: str,
    version: str,
    *,
    role_arn: pulumi.Input[str] | None = None,
    configuration: Mapping[str, Any] | None = None,
    depends_on: Sequence[pulumi.Resource] = (),
) -> aws.eks.Addon:
    """An EKS managed add-on at a pinned version; EKS's own settings give way to ours."""
    return aws.eks.Addon(
        f"{target.prefix}-{addon_name}",
        cluster_name=target.cluster_name,
        addon_name=addon_name,
        addon_version=version,
        service_account_role_arn=role_arn,
        configuration_values=json.dumps(configuration, sort_keys=True) if configuration else None,
        resolve_conflicts_on_create="OVERWRITE",
        resolve_conflicts_on_update="OVERWRITE",
        tags=dict(target.tags(addon_name)),
        opts=pulumi.ResourceOptions(parent=target.parent, depends_on=[*target.after, *depends_on]),
    )


class Cluster(pulumi.ComponentResource):
    """An EKS control plane with encrypted secrets, full audit logs and IRSA."""

    cluster_name: pulumi.Output[str]
    """The EKS cluster's name."""
    kubernetes_version: str
    """The control plane's Kubernetes minor version."""
    endpoint: pulumi.Output[str]
    """The API server endpoint."""
    kubeconfig: pulumi.Output[str]
    """A kubeconfig (JSON, `aws eks get-token` auth) for the cluster; a secret."""
    oidc_provider_arn: pulumi.Output[str]
    """The IAM OIDC provider's ARN, the `Federated` principal of IRSA trust policies."""
    oidc_provider_url: pulumi.Output[str]
    """The OIDC issuer URL (`https://oidc.eks.<region>.amazonaws.com/id/...`)."""
    oidc_issuer: pulumi.Output[str]
    """The issuer without scheme, as IRSA condition keys spell it."""
    cluster_security_group_id: pulumi.Output[str]
    """The EKS-created security group shared by the control plane and managed nodes."""
    kms_key_arn: pulumi.Output[str]
    """The key that envelope-encrypts Kubernetes secrets."""
    log_group_name: pulumi.Output[str]
    """The control-plane log group."""
    provider: k8s.Provider
    """A Kubernetes provider for workloads on this cluster."""
    node_prerequisites: list[pulumi.Resource]
    """What a node group must wait for: the networking add-ons."""
    eks_cluster: eks.Cluster
    """The underlying `pulumi_eks.Cluster`."""

    def __init__(
        self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:cluster:Cluster", name, None, opts)
        invoke = pulumi.InvokeOptions(parent=self)

        def tags(suffix: str) -> dict[str, str]:
            return component_tags(args.tags, "cluster", name=f"{name}-{suffix}")

        account_id = aws.get_caller_identity(opts=invoke).account_id
        partition = aws.get_partition(opts=invoke).partition

        key = aws.kms.Key(
            f"{name}-secrets",
            description=f"Envelope encryption of Kubernetes secrets in EKS {args.cluster_name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=iam.to_json(iam.kms_key_policy(account_id, partition=partition)),
            tags=tags("secrets"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        region = aws.get_region(opts=invoke).region
        logs_key = aws.kms.Key(
            f"{name}-logs",
            description=f"Encryption of the control-plane logs of EKS {args.cluster_name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=iam.to_json(iam.log_key_policy(account_id, region=region, partition=partition)),
            tags=tags("logs"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # EKS writes to exactly this name; creating it ourselves first sets a retention
        # (EKS's own would keep logs forever) and a KMS key, and lets `pulumi destroy` remove
        # it. Adding the key to an existing group is an update in place (AssociateKmsKey).
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane",
            name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_in_days=args.log_retention_days,
            kms_key_id=logs_key.arn,
            tags=tags("control-plane"),
            opts=pulumi.ResourceOptions(parent=self),
        )

        cluster = eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=args.kubernetes_version,
            vpc_id=args.vpc_id,
            private_subnet_ids=list(args.private_subnet_ids),
            node_associate_public_ip_address=False,
            endpoint_private_access=True,
            endpoint_public_access=args.endpoint_public_access,
            public_access_cidrs=list(args.public_access_cidrs) or None,
            authentication_mode=eks.AuthenticationMode.API,
            access_entries=_admin_access_entries(args.admin_principal_arns, partition),
            skip_default_node_group=True,
            # Managed node groups use the EKS-created cluster security group; the extra
            # groups pulumi-eks makes are for self-managed nodes only.
            skip_default_security_groups=True,
            # We install vpc-cni, kube-proxy and CoreDNS as managed add-ons with pinned
            # versions, so neither EKS nor pulumi-eks installs its own copies.
            bootstrap_self_managed_addons=False,
            use_default_vpc_cni=True,
            kube_proxy_addon_options=eks.KubeProxyAddonOptionsArgs(enabled=False),
            coredns_addon_options=eks.CoreDnsAddonOptionsArgs(enabled=False),
            encryption_config_key_arn=key.arn,
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            create_oidc_provider=True,
            # EKS's default is EXTENDED: at the end of standard support a forgotten
            # cluster would silently move to extended support at six times the price.
            # STANDARD upgrades it instead; the config refuses extended versions anyway.
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            # The kubeconfig (and so our Kubernetes provider) authenticates as the AWS
            # provider does: pulumi-eks writes the profile as AWS_PROFILE into the exec
            # environment and the role as `--role-arn` (KubeconfigOptionsArgs docs in
            # pulumi_eks/_inputs.py and Cluster.get_kubeconfig in pulumi_eks/cluster.py).
            provider_credential_opts=(
                eks.KubeconfigOptionsArgs(
                    profile_name=args.kubeconfig_auth.profile,
                    role_arn=args.kubeconfig_auth.role_arn,
                )
                if args.kubeconfig_auth.profile or args.kubeconfig_auth.role_arn
                else None
            ),
            tags=tags("eks"),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[log_group],
                transforms=(
                    None
                    if args.bootstrap_creator_admin
                    else [creator_admin_transform(enabled=False)]
                ),
            ),
        )

        cni_role, cni_policy = irsa_role(
            f"{name}-vpc-cni",
            parent=self,
            oidc_provider_arn=cluster.oidc_provider_arn,
            oidc_issuer=cluster.oidc_issuer,
            namespace="kube-system",
            service_account="aws-node",
            description=f"IRSA role of the VPC CNI in EKS {args.cluster_name}",
            tags=tags("vpc-cni"),
            policy_arn=iam.managed_policy_arn(iam.CNI_POLICY, partition=partition),
        )

        self._api_access(name, args.api_access_cidrs, cluster, tags)

        fields = cluster.kubeconfig_json.apply(kubeconfig_fields)
        cluster_name = fields.apply(lambda f: f[0])

        target = AddonTarget(self, name, cluster_name, tags)
        vpc_cni = managed_addon(
            target,
            "vpc-cni",
            args.vpc_cni_version,
            role_arn=cni_role.arn,
            # Without it the cluster accepts NetworkPolicy objects but enforces none.
            configuration={"enableNetworkPolicy": "true"},
            depends_on=[cni_policy],
        )
        kube_proxy = managed_addon(target, "kube-proxy", args.kube_proxy_version)
        pod_identity = managed_addon(
            target, "eks-pod-identity-agent", args.pod_identity_agent_version
        )

        kubeconfig: pulumi.Output[str] = pulumi.Output.secret(cluster.kubeconfig_json)
        provider = kubernetes_provider(name, kubeconfig, parent=self)

        self.cluster_name = cluster_name
        self.kubernetes_version = args.kubernetes_version
        self.endpoint = fields.apply(lambda f: f[1])
        self.kubeconfig = kubeconfig
        self.oidc_provider_arn = cluster.oidc_provider_arn
        self.oidc_provider_url = cluster.oidc_provider_url
        self.oidc_issuer = cluster.oidc_issuer
        self.cluster_security_group_id = cluster.cluster_security_group_id
        self.kms_key_arn = key.arn
        self.log_group_name = log_group.name
        self.provider = provider
        self.node_prerequisites = [vpc_cni, kube_proxy, pod_identity]
        self.eks_cluster = cluster
        self.register_outputs(
            {
                "clusterName": self.cluster_name,
                "endpoint": self.endpoint,
                "kubeconfig": self.kubeconfig,
                "oidcProviderArn": self.oidc_provider_arn,
                "oidcProviderUrl": self.oidc_provider_url,
                "clusterSecurityGroupId": self.cluster_security_group_id,
                "kmsKeyArn": self.kms_key_arn,
            }
        )

    def _api_access(
        self,
        name: str,
        cidrs: Sequence[str],
        cluster: eks.Cluster,
        tags: Callable[[str], dict[str, str]],
    ) -> None:
        """HTTPS to the private endpoint from each listed network.

        The private endpoint answers in the cluster security group, which admits only
        itself (control plane and nodes): whoever runs `pulumi up` or kubectl from
        elsewhere (VPN, CI runner, a host in the VPC) needs its network listed here.
        """
        for cidr in cidrs:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-api-{_cidr_slug(cidr)}",
                security_group_id=cluster.cluster_security_group_id,
                ip_protocol="tcp",
                from_port=443,
                to_port=443,
                cidr_ipv4=cidr,
                description=f"Kubernetes API (private endpoint) from {cidr}",
                tags=tags(f"api-{_cidr_slug(cidr)}"),
                opts=pulumi.ResourceOptions(parent=self),
            )


def _admin_access_entries(
    principal_arns: Sequence[str], partition: str
) -> dict[str, eks.AccessEntryArgs]:
    """A cluster-admin EKS access entry per principal, keyed as pulumi-eks names them."""
    return {
        entry_key(arn): eks.AccessEntryArgs(
            principal_arn=arn,
            access_policies={
                "cluster-admin": eks.AccessPolicyAssociationArgs(
                    policy_arn=iam.access_policy_arn(
                        iam.CLUSTER_ADMIN_ACCESS_POLICY, partition=partition
                    ),
                    access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                )
            },
        )
        for arn in principal_arns
    }


def kubernetes_provider(
    name: str, kubeconfig: pulumi.Input[str], *, parent: pulumi.Resource
) -> k8s.Provider:
    """The Kubernetes provider of a cluster (`<name>-k8s`): server-side apply, and the
    kubeconfig, which the caller has made a secret."""
    return k8s.Provider(
        f"{name}-k8s",
        kubeconfig=kubeconfig,
        enable_server_side_apply=True,
        opts=pulumi.ResourceOptions(parent=parent),
    )
