"""The IRSA role of one Kubernetes service account, with what it may do.

Five pods get an AWS identity the same way (the VPC CNI, the EBS CSI driver,
cluster-autoscaler, the load balancer controller, the model server): a role
whose trust is pinned to one service account (`core.iam.irsa_trust`) and one grant,
either a managed policy attached or an inline policy. Each caller passes its own
resource name, so a role keeps its URN and no stack's roles are replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import pulumi
import pulumi_aws as aws

from components.core import iam

__all__ = ["IrsaRole", "irsa_role"]


class IrsaRole(NamedTuple):
    role: aws.iam.Role
    grant: aws.iam.RolePolicyAttachment | aws.iam.RolePolicy
    """What the role may do: depend on it before starting the pods that use the role."""


def irsa_role(
    resource_name: str,
    *,
    parent: pulumi.Resource,
    oidc_provider_arn: pulumi.Input[str],
    oidc_issuer: pulumi.Input[str],
    namespace: str,
    service_account: str,
    description: str,
    tags: Mapping[str, str],
    policy_arn: pulumi.Input[str] | None = None,
    policy: pulumi.Input[str] | None = None,
    grant_name: str | None = None,
) -> IrsaRole:
    """The role `resource_name` and its grant (named `grant_name`, else `resource_name`).

    Exactly one of `policy_arn` (a managed or customer policy to attach) and `policy`
    (an inline policy document, JSON) says what the role may do.
    """
    if (policy_arn is None) == (policy is None):
        raise ValueError("irsa_role needs exactly one of policy_arn and policy")
    child = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(
        resource_name,
        description=description,
        assume_role_policy=pulumi.Output.all(oidc_provider_arn, oidc_issuer).apply(
            lambda values: iam.to_json(
                iam.irsa_trust(
                    values[0], values[1], namespace=namespace, service_account=service_account
                )
            )
        ),
        tags=dict(tags),
        opts=child,
    )
    name = grant_name or resource_name
    grant: aws.iam.RolePolicyAttachment | aws.iam.RolePolicy
    if policy_arn is not None:
        grant = aws.iam.RolePolicyAttachment(
            name, role=role.name, policy_arn=policy_arn, opts=child
        )
    elif policy is not None:
        grant = aws.iam.RolePolicy(name, role=role.id, policy=policy, opts=child)
    return IrsaRole(role, grant)
