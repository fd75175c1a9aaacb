"""PlatformReference: a deployed platform stack's outputs, typed, for another team's stack.

One platform, many model stacks: a team's own Pulumi project reads the platform stack
(`pulumi.StackReference`) and deploys its model with `ModelService` onto the platform's
cluster, node pools, bucket and repository. This component reads the reference once and
hands out what `ModelServiceArgs` takes:

- deploy-time values as outputs: the cluster's kubeconfig (a Kubernetes provider), OIDC
  provider and issuer, the model bucket and its KMS key, the image repository;
- render-time facts as plain values, read synchronously from the reference (as the SDK's
  synchronous invokes are): the Kubernetes version, a node pool's scheduling, the
  subnets' CIDRs. `ModelService` renders its objects once from these, so they must be
  known when it is built; a missing output is an error naming it and the platform stack.

The platform exports all of these (`Platform.outputs`, see `__main__.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi.runtime.sync_await import _sync_await

from components.cluster import kubernetes_provider
from components.core.manifests import load_balancer_source_cidrs
from components.core.scheduling import Scheduling

__all__ = ["PlatformReference", "PlatformReferenceArgs", "PlatformReferenceError"]


class PlatformReferenceError(pulumi.RunError):
    """The platform stack lacks an output this stack needs (a RunError: no traceback)."""


@dataclass(frozen=True, kw_only=True)
class PlatformReferenceArgs:
    stack: str
    """The platform stack's full name, `<org>/<project>/<stack>` (`organization/...` for a
    self-managed backend)."""


class PlatformReference(pulumi.ComponentResource):
    """The platform stack's outputs, and a Kubernetes provider for its cluster."""

    stack: str
    cluster_name: pulumi.Output[Any]
    oidc_provider_arn: pulumi.Output[Any]
    oidc_issuer: pulumi.Output[Any]
    model_bucket_name: pulumi.Output[Any]
    model_bucket_arn: pulumi.Output[Any]
    model_bucket_kms_key_arn: pulumi.Output[Any]
    model_repository_url: pulumi.Output[Any]
    kubernetes_version: str
    load_balancer_controller: bool
    """Whether the platform runs the AWS Load Balancer Controller (ALB and NLB exposures)."""
    provider: k8s.Provider

    def __init__(
        self, name: str, args: PlatformReferenceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:platform_reference:PlatformReference", name, None, opts)
        self.stack = args.stack
        self._ref = pulumi.StackReference(
            f"{name}-stack", stack_name=args.stack, opts=pulumi.ResourceOptions(parent=self)
        )
        self.cluster_name = self._ref.require_output("clusterName")
        self.oidc_provider_arn = self._ref.require_output("oidcProviderArn")
        self.oidc_issuer = self._ref.require_output("oidcProviderUrl")
        self.model_bucket_name = self._ref.require_output("modelBucketName")
        self.model_bucket_arn = self._ref.require_output("modelBucketArn")
        self.model_bucket_kms_key_arn = self._ref.get_output("modelBucketKmsKeyArn")
        self.model_repository_url = self._ref.require_output("modelRepositoryUrl")
        self.kubernetes_version = str(self.plain("kubernetesVersion"))
        self.load_balancer_controller = bool(self.plain("loadBalancerController"))
        self._pools: dict[str, Any] = dict(self.plain("nodePools"))
        self._subnet_cidrs = (
            list(self.plain("privateSubnetCidrs")),
            list(self.plain("publicSubnetCidrs")),
        )
        self.provider = kubernetes_provider(
            name, pulumi.Output.secret(self._ref.require_output("kubeconfig")), parent=self
        )
        self.register_outputs({"stack": self.stack, "clusterName": self.cluster_name})

    def plain(self, output: str) -> Any:
        """An output's value now (blocks until the reference is read); error if missing."""
        details = _sync_await(self._ref.get_output_details(output))
        value = details.value if details.value is not None else details.secret_value
        if value is None:
            raise PlatformReferenceError(
                f"platform stack {self.stack!r} has no output {output!r}: update the platform "
                "stack (`pulumi up` there) to a version that exports it"
            )
        return value

    @property
    def node_pools(self) -> list[str]:
        return sorted(self._pools)

    def scheduling(self, pool: str) -> Scheduling:
        """The node selector and tolerations of one of the platform's node pools."""
        if pool not in self._pools:
            raise PlatformReferenceError(
                f"node pool {pool!r} is not one of platform stack {self.stack!r}'s node pools "
                f"{self.node_pools}"
            )
        exported = self._pools[pool]
        return Scheduling(
            node_selector=dict(exported["nodeSelector"]),
            tolerations=[dict(t) for t in exported.get("tolerations") or []],
        )

    def load_balancer_source_cidrs(self, exposure: str) -> list[str]:
        """Where the service's load balancer connects from (its NetworkPolicy admits these)."""
        if exposure != "cluster-ip" and not self.load_balancer_controller:
            raise PlatformReferenceError(
                f"exposure {exposure!r} needs the AWS Load Balancer Controller, which platform "
                f"stack {self.stack!r} does not run: use exposure 'cluster-ip' or enable it there"
            )
        private, public = self._subnet_cidrs
        return list(
            load_balancer_source_cidrs(exposure, public_subnets=public, private_subnets=private)
        )
