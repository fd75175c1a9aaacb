"""The policy rules: resource type + inputs in, violations out. Plain data, no Pulumi.

One package, used twice: the offline plan (`components/offline/preview.py`) runs the rules
over the resources the mocks kit recorded, and the CrossGuard pack (`policy/`) runs them
over what `pulumi preview` sends. Inputs use the engine's camelCase wire names
(`metadataOptions.httpTokens`), as both of those see them.

One module per service (`ec2`, `eks`, `iam`, `network`, `s3`, `ecr`, `kubernetes`); each
rule is declared on its check function (id, severity, resource types, description) and
listed once in `RULES` or `STACK_RULES` below. Two kinds of rule:

- a `Rule` looks at one resource (`check_resource`);
- a `StackRule` looks at the whole stack (`check_stack`), for facts that span resources:
  an S3 bucket without a public access block, a node role with an extra policy attached.

A value that is not known yet (an output of a resource still to be created, during a
real preview) arrives as `UNKNOWN`; rules never report on what they cannot see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from components.core.policies import ec2, ecr, eks, iam, kubernetes, network, s3
from components.core.policies._base import (
    UNKNOWN,
    Finding,
    PolicyContext,
    Resource,
    Rule,
    StackRule,
    Violation,
)
from components.core.policies.iam import NODE_ROLE_POLICIES

__all__ = [
    "CHECKED_TYPES",
    "NODE_ROLE_POLICIES",
    "RULES",
    "STACK_RULES",
    "UNKNOWN",
    "PolicyContext",
    "PolicyReport",
    "Resource",
    "Rule",
    "StackRule",
    "Violation",
    "check_resource",
    "check_stack",
    "evaluate",
]

#: Every per-resource rule, in the order the CrossGuard pack lists them.
RULES: tuple[Rule, ...] = (
    ec2.imdsv2_required,
    ec2.imds_hop_limit,
    ec2.ebs_encrypted,
    eks.secrets_envelope_encryption,
    eks.control_plane_logs,
    eks.prod_endpoint_private,
    eks.public_endpoint_cidrs,
    ec2.nodes_no_public_ip,
    iam.least_privilege,
    network.no_open_ingress,
    s3.public_access_blocked,
    s3.tls_only,
    ecr.immutable_tags,
    ecr.scan_on_push,
    kubernetes.restricted_security_context,
    eks.nodegroup_launch_template,
    kubernetes.resource_requests,
    kubernetes.probes,
    kubernetes.no_latest_image,
)

#: Every rule over the whole stack; an id may also name a per-resource rule.
STACK_RULES: tuple[StackRule, ...] = (
    iam.node_role_attachments,
    s3.bucket_has_public_access_block,
    s3.bucket_has_policy,
)


def _violation(rule: Rule | StackRule, resource: Resource, finding: Finding) -> Violation:
    path, problem = finding
    return Violation(
        rule=rule.id,
        severity=rule.severity,
        resource_type=resource.type,
        resource_name=resource.name,
        field=path,
        message=f"{resource.type} {resource.name!r}: {path} {problem}",
    )


def check_resource(
    resource: Resource,
    context: PolicyContext | None = None,
    rules: Sequence[Rule] = RULES,
) -> list[Violation]:
    """The violations of the per-resource rules by one resource."""
    ctx = context or PolicyContext()
    if resource.type == eks.EKS_CLUSTER and not resource.inputs:
        # pulumi-eks's Cluster is a component written in Node.js, whose component props
        # never reach the analyzer in a real `pulumi preview`; its child
        # aws:eks/cluster:Cluster carries the same settings and is checked instead.
        return []
    return [
        _violation(rule, resource, finding)
        for rule in rules
        if resource.type in rule.types
        for finding in rule.check(resource, ctx)
    ]


def check_stack(
    resources: Sequence[Resource],
    context: PolicyContext | None = None,
    rules: Sequence[StackRule] = STACK_RULES,
) -> list[Violation]:
    """The violations of the stack rules (facts spanning resources) only."""
    ctx = context or PolicyContext()
    return [
        _violation(rule, resource, finding)
        for rule in rules
        for resource, finding in rule.check(resources, ctx)
    ]


@dataclass(frozen=True)
class PolicyReport:
    """All violations of a stack, and how many resources of each type a rule looked at."""

    violations: tuple[Violation, ...]
    checked: Mapping[str, int]
    """Resource type → number of resources of that type at least one rule applies to."""

    @property
    def mandatory(self) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if v.severity == "mandatory")

    @property
    def advisory(self) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if v.severity == "advisory")

    @property
    def passed(self) -> bool:
        return not self.mandatory


#: Every resource type some rule looks at.
CHECKED_TYPES: frozenset[str] = frozenset(
    {t for rule in RULES for t in rule.types} | {t for rule in STACK_RULES for t in rule.types}
)


def evaluate(resources: Sequence[Resource], context: PolicyContext | None = None) -> PolicyReport:
    """Run every rule over a whole stack; violations sorted by rule, type and name."""
    violations = [v for r in resources for v in check_resource(r, context)]
    violations.extend(check_stack(resources, context))
    violations.sort(key=lambda v: (v.rule, v.resource_type, v.resource_name, v.field, v.message))
    checked: dict[str, int] = {}
    for resource in resources:
        if resource.type in CHECKED_TYPES:
            checked[resource.type] = checked.get(resource.type, 0) + 1
    return PolicyReport(violations=tuple(violations), checked=dict(sorted(checked.items())))
