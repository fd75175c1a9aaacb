"""LoadBalancerController: the AWS Load Balancer Controller, so Ingresses get an ALB.

A Helm release (eks-charts) with its own IRSA role carrying AWS's published IAM policy
for that controller version (`core/data/aws_load_balancer_controller_iam_policy.json`).
The chart version must match the bundled policy's; a mismatch is a config error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components._irsa import irsa_role
from components.core import iam
from components.core.lbc import published_policy
from components.core.scheduling import Scheduling, placement_values
from components.core.tags import component_tags

__all__ = ["CHART_REPOSITORY", "LoadBalancerController", "LoadBalancerControllerArgs"]

CHART_REPOSITORY = "https://aws.github.io/eks-charts"
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "aws-load-balancer-controller"


@dataclass(frozen=True, kw_only=True)
class LoadBalancerControllerArgs:
    """Inputs of `LoadBalancerController`."""

    cluster_name: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    """Given explicitly: with an IMDS hop limit of 1 the pods cannot look it up."""
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    chart_version: str
    """The eks-charts chart version (`cluster.awsLoadBalancerController.version`)."""
    region: str | None = None
    """None: the provider's region."""
    kubernetes_provider: pulumi.ProviderResource | None = None
    scheduling: Scheduling | None = None
    """Where the controller runs (the system pool's scheduling); None: anywhere."""
    replicas: int = 2
    requires: Sequence[pulumi.Resource] = ()
    """Created first: the node pools (the release waits for its pods to run)."""
    tags: Mapping[str, str] = field(default_factory=dict)


class LoadBalancerController(pulumi.ComponentResource):
    """The controller's IAM role and policy, and its Helm release in kube-system."""

    role_arn: pulumi.Output[str]
    """The controller's IRSA role."""
    release: k8s.helm.v3.Release
    """The Helm release; depend on it before creating Ingresses."""
    app_version: str
    """The controller version the IAM policy was published for."""

    def __init__(
        self,
        name: str,
        args: LoadBalancerControllerArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlops:load_balancer_controller:LoadBalancerController", name, None, opts)
        try:
            published = published_policy(args.chart_version)
        except ValueError as exc:
            raise pulumi.RunError(str(exc)) from None
        child = pulumi.ResourceOptions(parent=self)
        tags = component_tags(args.tags, "load-balancer-controller", name=name)
        region: pulumi.Input[str] = (
            args.region
            if args.region is not None
            else aws.get_region(opts=pulumi.InvokeOptions(parent=self)).region
        )

        policy = aws.iam.Policy(
            f"{name}-policy",
            description=(
                f"AWS Load Balancer Controller {published.app_version}, as published: "
                f"{published.source}"
            ),
            policy=iam.to_json(published.document),
            tags=tags,
            opts=child,
        )
        role, attachment = irsa_role(
            f"{name}-role",
            parent=self,
            oidc_provider_arn=args.oidc_provider_arn,
            oidc_issuer=args.oidc_issuer,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            description="IRSA role of the AWS Load Balancer Controller",
            tags=tags,
            policy_arn=policy.arn,
            grant_name=f"{name}-policy",
        )

        values: dict[str, object] = {
            "clusterName": args.cluster_name,
            "region": region,
            "vpcId": args.vpc_id,
            "replicaCount": args.replicas,
            "serviceAccount": {
                "create": True,
                "name": SERVICE_ACCOUNT,
                "annotations": {"eks.amazonaws.com/role-arn": role.arn},
            },
        }
        values.update(placement_values(args.scheduling))
        self.release = k8s.helm.v3.Release(
            name,
            chart="aws-load-balancer-controller",
            version=args.chart_version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPOSITORY),
            namespace=NAMESPACE,
            values=values,
            # Waits until the controller and its webhooks run (Services created after it
            # need them) and rolls a failed upgrade back.
            atomic=True,
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.kubernetes_provider,
                depends_on=[attachment, *args.requires],
            ),
        )
        self.role_arn = role.arn
        self.app_version = published.app_version
        self.register_outputs({"roleArn": self.role_arn, "appVersion": self.app_version})
