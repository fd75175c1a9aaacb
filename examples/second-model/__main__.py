"""A second model on an existing platform: this team's stack, the platform's cluster.

The platform stack (this repository's `__main__.py`) owns the VPC, the cluster, the node
pools, the model bucket and the image repository. This stack reads them through a
`pulumi.StackReference` (`PlatformReference`) and deploys one more `ModelService`:
its own namespace, IRSA role (reading only its model's prefix), Deployment, Service,
load balancer, autoscaler and network policies.
"""

import pulumi
from pydantic import ValidationError

from components.config import ConfigError, ModelServiceConfig
from components.core.tags import stack_tags
from components.model_service import ModelService, ModelServiceArgs
from components.platform_reference import PlatformReference, PlatformReferenceArgs

config = pulumi.Config()
try:
    service = ModelServiceConfig.model_validate(config.require_object("service"))
except ValidationError as exc:
    problems = [
        f"{config.full_key('service')}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
        for e in exc.errors()
    ]
    raise ConfigError("invalid stack config:\n  " + "\n  ".join(problems)) from None

platform = PlatformReference(
    "platform", PlatformReferenceArgs(stack=config.require("platformStack"))
)
model = ModelService(
    f"service-{service.name}",
    ModelServiceArgs(
        service=service,
        scheduling=platform.scheduling(service.node_pool),
        kubernetes_version=platform.kubernetes_version,
        oidc_provider_arn=platform.oidc_provider_arn,
        oidc_issuer=platform.oidc_issuer,
        bucket_name=platform.model_bucket_name,
        bucket_arn=platform.model_bucket_arn,
        bucket_kms_key_arn=platform.model_bucket_kms_key_arn,
        image_repository=platform.model_repository_url,
        load_balancer_source_cidrs=platform.load_balancer_source_cidrs(service.exposure),
        kubernetes_provider=platform.provider,
        tags=stack_tags(pulumi.get_project(), pulumi.get_stack(), config.get_object("tags") or {}),
    ),
)
pulumi.export("namespace", model.namespace)
pulumi.export("roleArn", model.role_arn)
pulumi.export("hostname", model.load_balancer_hostname)
