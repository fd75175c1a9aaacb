"""IAM: least privilege on every role, and node roles that carry only the node policies."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from components.core.iam import NODE_ROLE_POLICIES
from components.core.policies._base import (
    Finding,
    PolicyContext,
    Resource,
    _get,
    _json,
    _list,
    _refers_to,
    _statements,
    _strings,
    rule,
    stack_rule,
)

__all__ = [
    "IAM_POLICY",
    "NODE_ROLE_POLICIES",
    "ROLE",
    "ROLE_POLICY",
    "ROLE_POLICY_ATTACHMENT",
    "least_privilege",
    "node_role_attachments",
]

ROLE = "aws:iam/role:Role"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_POLICY = "aws:iam/policy:Policy"

#: Managed policies no role of ours may carry.
_BROAD_POLICIES: frozenset[str] = frozenset(
    {"AdministratorAccess", "PowerUserAccess", "IAMFullAccess"}
)


def _policy_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _broad(arn: str) -> bool:
    name = _policy_name(arn)
    return name in _BROAD_POLICIES or name.endswith("FullAccess")


def _trusts_ec2(role: Resource) -> bool:
    trust = _json(role.inputs.get("assumeRolePolicy"))
    for statement in _statements(trust):
        principal = statement.get("Principal")
        services = _strings(_get(principal, "Service")) if isinstance(principal, Mapping) else []
        if "ec2.amazonaws.com" in services and statement.get("Effect", "Allow") == "Allow":
            return True
    return False


def _allows_wildcard(document: Any) -> bool:
    for statement in _statements(document):
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement:
            return True  # allows every action but a few: a wildcard in disguise
        actions = _strings(statement.get("Action"))
        resources = _strings(statement.get("Resource"))
        any_resource = any(r == "*" or r.endswith(":*") for r in resources)
        if "*" in actions or (any_resource and any(a.endswith(":*") for a in actions)):
            return True
    return False


@rule(
    "iam-least-privilege",
    "mandatory",
    types={ROLE, ROLE_POLICY_ATTACHMENT, ROLE_POLICY, IAM_POLICY},
    description="No role carries administrator, *FullAccess or wildcard policies; node roles "
    "carry only the worker, registry and SSM policies.",
)
def least_privilege(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    inputs = resource.inputs
    if resource.type == ROLE_POLICY_ATTACHMENT:
        arn = inputs.get("policyArn")
        if isinstance(arn, str) and _broad(arn):
            yield ("policyArn", f"attaches {_policy_name(arn)}: grant only what the role needs")
    elif resource.type in (ROLE_POLICY, IAM_POLICY):
        if _allows_wildcard(_json(inputs.get("policy"))):
            yield ("policy", "allows a wildcard action ('*' or 'service:*' on '*')")
    elif resource.type == ROLE:
        for arn in _strings(inputs.get("managedPolicyArns")):
            if _broad(arn):
                yield ("managedPolicyArns", f"includes {_policy_name(arn)}")
            elif _trusts_ec2(resource) and _policy_name(arn) not in NODE_ROLE_POLICIES:
                yield (
                    "managedPolicyArns",
                    f"gives a node role {_policy_name(arn)}; a node role carries only "
                    f"{sorted(NODE_ROLE_POLICIES)}",
                )
        for index, inline in enumerate(_list(inputs.get("inlinePolicies"))):
            if _allows_wildcard(_json(_get(inline, "policy"))):
                yield (f"inlinePolicies[{index}].policy", "allows a wildcard action")


@stack_rule(
    "iam-least-privilege",
    "mandatory",
    types={ROLE, ROLE_POLICY_ATTACHMENT, ROLE_POLICY},
    description="Node roles carry only the worker, registry and SSM policies.",
)
def node_role_attachments(
    resources: Sequence[Resource], _: PolicyContext
) -> Iterator[tuple[Resource, Finding]]:
    roles = [r for r in resources if r.type == ROLE and _trusts_ec2(r)]
    for role in roles:
        for other in resources:
            if other.type == ROLE_POLICY_ATTACHMENT and _refers_to(
                other.inputs.get("role"), role, other
            ):
                arn = other.inputs.get("policyArn")
                if isinstance(arn, str) and _policy_name(arn) not in NODE_ROLE_POLICIES:
                    yield (
                        other,
                        (
                            "policyArn",
                            f"attaches {_policy_name(arn)} to node role {role.name!r}; a node "
                            f"role carries only {sorted(NODE_ROLE_POLICIES)}",
                        ),
                    )
            elif other.type == ROLE_POLICY and _refers_to(other.inputs.get("role"), role, other):
                yield (
                    other,
                    (
                        "role",
                        f"puts an inline policy on node role {role.name!r}: give pods IRSA "
                        "roles instead of widening the node's",
                    ),
                )
