"""ModelService: the model server on the cluster, from the pure renderer in `core.manifests`.

The component renders the service's objects once, with `${...}` placeholders for what
only the deployment knows (the role ARN, the bucket, the image repository, the region),
resolves the placeholders into Pulumi outputs and creates each object as a
`pulumi_kubernetes` typed resource through the given provider. It also creates the
IRSA role the pods assume: trusted only by this namespace's service account, allowed
only to read the model's prefix.

The NetworkPolicy admits the serving port from the load balancer's subnets only
(`core.manifests.load_balancer_source_cidrs`): the public subnets for an internet-facing
ALB, which hold no pods. An internal ALB or NLB sits in the private subnets, where every
pod lives too (VPC CNI), so there any pod of the cluster can reach the serving port, as
it could through the ClusterIP Service anyway: the policy does not isolate the service
from the rest of the cluster for internal exposures.

Why IRSA rather than EKS Pod Identity: IRSA needs only the cluster's OIDC provider (no
agent add-on, no association resource), the binding is visible in the manifests (the
service account's annotation) so the offline YAML works as is, and the trust policy
itself names the namespace and service account.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components._irsa import irsa_role
from components.core import iam
from components.core.config import ModelServiceConfig, StackConfig
from components.core.manifests import (
    EmfTarget,
    Manifest,
    ServiceSpec,
    emf_target,
    image_reference,
    load_balancer_source_cidrs,
    render,
    stack_subnet_cidrs,
)
from components.core.scheduling import Scheduling
from components.core.tags import component_tags

__all__ = ["ModelService", "ModelServiceArgs"]

_PLACEHOLDER = re.compile(r"\$\{(repository|bucket|role_arn|region|digest|cluster_name)\}")

# Kubernetes kinds the renderer emits, and the typed resource for each.
_TYPED: dict[tuple[str, str], Any] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("v1", "Service"): k8s.core.v1.Service,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("networking.k8s.io/v1", "Ingress"): k8s.networking.v1.Ingress,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): k8s.autoscaling.v2.HorizontalPodAutoscaler,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
}


@dataclass(frozen=True, kw_only=True)
class ModelServiceArgs:
    """Inputs of `ModelService`: the service's config plus what the cluster and store export."""

    service: ModelServiceConfig
    scheduling: Scheduling
    """The target pool's node selector and tolerations (`NodePool.scheduling`)."""
    kubernetes_version: str
    """The cluster's version: pins the namespace's Pod Security Admission version."""
    oidc_provider_arn: pulumi.Input[str]
    """The cluster's IAM OIDC provider (IRSA)."""
    oidc_issuer: pulumi.Input[str]
    """The cluster's OIDC issuer URL, with or without `https://`."""
    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    image_repository: pulumi.Input[str]
    """Repository URL of the server image; `service.image.repository` overrides it."""
    load_balancer_source_cidrs: Sequence[str]
    """The load balancer's subnets (`core.manifests.load_balancer_source_cidrs`): the
    NetworkPolicy admits the serving port from these only."""
    bucket_kms_key_arn: pulumi.Input[str] | None = None
    """The bucket's KMS key when it uses SSE-KMS: the role gets `kms:Decrypt` via S3."""
    region: str | None = None
    """The AWS region; None: the provider's region."""
    kubernetes_provider: pulumi.ProviderResource | None = None
    """The cluster's provider (`Cluster.provider`); None: the ambient kubeconfig."""
    load_balancer_controller: pulumi.Resource | None = None
    """Created before the namespace, hence before every object: its webhooks intercept
    Services and pods, and the Ingress or NLB gets a load balancer at once."""
    requires: Sequence[pulumi.Resource] = ()
    """Created before the namespace (and so before everything): the node pools, say."""
    image_tag: str | None = None
    """The tag the stack pushed (`ModelRelease`); with `image_digest`, the pods run
    `<image_repository>:<image_tag>@<image_digest>` and the config's image is ignored."""
    image_digest: pulumi.Input[str] | None = None
    """The pushed image's digest, `sha256:<64 hex>`."""
    model_sha256: str | None = None
    """The uploaded model's sha256, carried by the pod template (a new model rolls)."""
    release: Sequence[pulumi.Resource] = ()
    """The Deployment waits for these: the uploaded model objects and the pushed image."""
    tags: Mapping[str, str] = field(default_factory=dict)
    emf: EmfTarget | None = None
    """Where the server sends its metrics (CloudWatch EMF to the node's agent); its
    dimensions may hold `${cluster_name}`, filled from `cluster_name`."""
    cluster_name: pulumi.Input[str] | None = None
    """The EKS cluster's name, for the server metrics' `ClusterName` dimension."""

    @classmethod
    def from_config(
        cls,
        config: StackConfig,
        *,
        scheduling: Scheduling,
        oidc_provider_arn: pulumi.Input[str],
        oidc_issuer: pulumi.Input[str],
        bucket_name: pulumi.Input[str],
        bucket_arn: pulumi.Input[str],
        image_repository: pulumi.Input[str],
        bucket_kms_key_arn: pulumi.Input[str] | None = None,
        kubernetes_provider: pulumi.ProviderResource | None = None,
        load_balancer_controller: pulumi.Resource | None = None,
        private_subnet_cidrs: Sequence[str] | None = None,
        public_subnet_cidrs: Sequence[str] | None = None,
        requires: Sequence[pulumi.Resource] = (),
        image_tag: str | None = None,
        image_digest: pulumi.Input[str] | None = None,
        model_sha256: str | None = None,
        release: Sequence[pulumi.Resource] = (),
        tags: Mapping[str, str],
        cluster_name: pulumi.Input[str] | None = None,
    ) -> ModelServiceArgs:
        """Subnet CIDRs default to the stack's subnet plan (what `Network` builds)."""
        if config.service is None:
            raise ValueError("the stack config has no `service` section")
        planned_private, planned_public = stack_subnet_cidrs(config)
        sources = load_balancer_source_cidrs(
            config.service.exposure,
            public_subnets=planned_public if public_subnet_cidrs is None else public_subnet_cidrs,
            private_subnets=(
                planned_private if private_subnet_cidrs is None else private_subnet_cidrs
            ),
        )
        return cls(
            service=config.service,
            scheduling=scheduling,
            kubernetes_version=config.cluster.kubernetes_version,
            oidc_provider_arn=oidc_provider_arn,
            oidc_issuer=oidc_issuer,
            bucket_name=bucket_name,
            bucket_arn=bucket_arn,
            image_repository=image_repository,
            load_balancer_source_cidrs=sources,
            bucket_kms_key_arn=bucket_kms_key_arn,
            kubernetes_provider=kubernetes_provider,
            load_balancer_controller=load_balancer_controller,
            requires=tuple(requires),
            image_tag=image_tag,
            image_digest=image_digest,
            model_sha256=model_sha256,
            release=tuple(release),
            tags=tags,
            # With Container Insights on, the add-on's agent takes the server's metrics.
            emf=emf_target(
                config,
                "${cluster_name}",
                planned_private if private_subnet_cidrs is None else private_subnet_cidrs,
            )
            if cluster_name is not None
            else None,
            cluster_name=cluster_name,
        )


def _resolve(value: Any, values: Mapping[str, pulumi.Input[str]]) -> Any:
    """`value` with every `${key}` placeholder replaced by the (possibly unknown) input."""
    if isinstance(value, dict):
        return {k: _resolve(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, values) for v in value]
    if isinstance(value, str) and _PLACEHOLDER.search(value):
        keys = sorted(set(_PLACEHOLDER.findall(value)))

        def fill(resolved: list[Any], template: str = value) -> str:
            known = dict(zip(keys, resolved, strict=True))
            return _PLACEHOLDER.sub(lambda m: str(known[m.group(1)]), template)

        return pulumi.Output.all(*[values[key] for key in keys]).apply(fill)
    return value


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class ModelService(pulumi.ComponentResource):
    """The model server: namespace, IRSA service account, deployment, exposure, scaling."""

    namespace: str
    """The Kubernetes namespace."""
    service_name: str
    """The ClusterIP Service in front of the pods (port 80)."""
    role_arn: pulumi.Output[str]
    """The IAM role the pods assume."""
    load_balancer_hostname: pulumi.Output[str | None]
    """DNS name of the ALB or NLB once the controller has created it; None for cluster-ip."""
    objects: list[Manifest]
    """The rendered objects, with `${...}` placeholders where deploy-time values go."""

    def __init__(
        self, name: str, args: ModelServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:model_service:ModelService", name, None, opts)
        service = args.service
        region: pulumi.Input[str] = (
            args.region
            if args.region is not None
            else aws.get_region(opts=pulumi.InvokeOptions(parent=self)).region
        )

        kms_key: pulumi.Input[str | None] = args.bucket_kms_key_arn
        # `kms:ViaService` names S3's endpoint host, whose suffix is the partition's.
        dns_suffix = aws.get_partition(opts=pulumi.InvokeOptions(parent=self)).dns_suffix
        role, policy = irsa_role(
            f"{name}-model-reader",
            parent=self,
            oidc_provider_arn=args.oidc_provider_arn,
            oidc_issuer=args.oidc_issuer,
            namespace=service.namespace,
            service_account=service.name,
            description=f"IRSA role of {service.namespace}/{service.name}: reads its model",
            tags=component_tags(args.tags, "model-service", name=f"{name}-model-reader"),
            policy=pulumi.Output.all(args.bucket_arn, kms_key, region).apply(
                lambda a: iam.to_json(
                    iam.model_reader(
                        a[0],
                        service.model_prefix,
                        kms_key_arn=a[1],
                        region=a[2],
                        dns_suffix=dns_suffix,
                    )
                )
            ),
        )

        image = image_reference("${repository}", service.image)
        if args.image_digest is not None:
            # The literal `@sha256:` keeps the renderer's digest logic (pull policy,
            # checkov) and the tag keeps a readable version label; only the hex is late.
            image = f"${{repository}}:{args.image_tag}@sha256:${{digest}}"
        spec = ServiceSpec(
            service=service,
            image=image,
            model_sha256=args.model_sha256,
            model_uri=f"s3://${{bucket}}/{service.model_prefix.strip('/')}",
            role_arn="${role_arn}",
            region="${region}",
            kubernetes_version=args.kubernetes_version,
            scheduling=args.scheduling,
            load_balancer_source_cidrs=tuple(args.load_balancer_source_cidrs),
            emf=args.emf,
        )
        self.objects = render(spec)
        values: dict[str, pulumi.Input[str]] = {
            "repository": args.image_repository,
            "bucket": args.bucket_name,
            "role_arn": role.arn,
            "region": region,
        }
        if args.cluster_name is not None:
            values["cluster_name"] = args.cluster_name
        if args.image_digest is not None:
            values["digest"] = pulumi.Output.from_input(args.image_digest).apply(
                lambda digest: digest.removeprefix("sha256:")
            )

        namespace_resource: pulumi.Resource | None = None
        created: dict[tuple[str, str], pulumi.CustomResource] = {}
        for obj in self.objects:
            kind, obj_name = obj["kind"], obj["metadata"]["name"]
            depends: list[pulumi.Resource] = []
            if namespace_resource is not None:
                depends.append(namespace_resource)
            else:
                depends += args.requires
                if args.load_balancer_controller is not None:
                    # The controller's webhooks (Service mutation, failurePolicy Fail; pod
                    # readiness-gate injection) must answer before any Service or pod is
                    # created; everything else waits for the namespace, so it waits here.
                    depends.append(args.load_balancer_controller)
            if kind == "Deployment":
                # The pods read the model at start: the role's policy must exist first.
                depends += [created[("ServiceAccount", service.name)], policy]
                # The pods pull the image and read the model at start: both must exist.
                depends += args.release
            resource_opts = pulumi.ResourceOptions(
                parent=self, provider=args.kubernetes_provider, depends_on=depends
            )
            resource = self._create(
                f"{name}-{kind.lower()}-{obj_name}", _resolve(obj, values), resource_opts
            )
            created[(kind, obj_name)] = resource
            if kind == "Namespace":
                namespace_resource = resource

        self.namespace = service.namespace
        self.service_name = service.name
        self.role_arn = role.arn
        exposure = created.get(("Ingress", service.name)) or created.get(
            ("Service", f"{service.name}-nlb")
        )
        self.load_balancer_hostname = (
            exposure.status.apply(_hostname)  # type: ignore[attr-defined]
            if exposure is not None
            else pulumi.Output.from_input(None)
        )
        self.register_outputs(
            {
                "namespace": self.namespace,
                "serviceName": self.service_name,
                "roleArn": self.role_arn,
                "loadBalancerHostname": self.load_balancer_hostname,
            }
        )

    @staticmethod
    def _create(
        resource_name: str, obj: Manifest, opts: pulumi.ResourceOptions
    ) -> pulumi.CustomResource:
        api_version, kind = obj["apiVersion"], obj["kind"]
        typed = _TYPED.get((api_version, kind))
        if typed is None:
            # CRDs (the ServiceMonitor) have no typed class.
            return k8s.apiextensions.CustomResource(
                resource_name,
                api_version=api_version,
                kind=kind,
                metadata=obj["metadata"],
                spec=obj.get("spec"),
                opts=opts,
            )
        fields = {_snake(k): v for k, v in obj.items() if k not in ("apiVersion", "kind")}
        resource: pulumi.CustomResource = typed(resource_name, opts=opts, **fields)
        return resource


def _hostname(status: Any) -> str | None:
    """The load balancer's DNS name from an Ingress or Service status, when present."""
    if not status:
        return None
    balancer = getattr(status, "load_balancer", None)
    entries = getattr(balancer, "ingress", None) or []
    for entry in entries:
        hostname = getattr(entry, "hostname", None)
        if hostname:
            return str(hostname)
    return None
