"""The adapter from CrossGuard's arguments onto `components.core.policies`.

Each rule becomes one `ResourceValidationPolicy` (or `StackValidationPolicy` for the
rules that span resources), with the rule's id as its name and its severity as the
enforcement level. Building these objects starts nothing; only `PolicyPack` (in
`__main__.py`) starts the analyzer server, so tests import this module, not that one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from components.core.policies import (
    RULES,
    STACK_RULES,
    UNKNOWN,
    PolicyContext,
    Resource,
    Rule,
    StackRule,
    check_resource,
    check_stack,
)

__all__ = [
    "PRODUCTION_STACKS",
    "context_for",
    "plain",
    "policies",
    "resource_validation",
    "stack_validation",
]

#: Stack names treated as production when the policy config does not say.
PRODUCTION_STACKS: frozenset[str] = frozenset({"prod", "production"})


def plain(value: Any) -> Any:
    """CrossGuard's props (proxies that raise on unknown values) as plain data with UNKNOWN."""
    if isinstance(value, str | bytes):
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in value:
            try:
                out[key] = plain(value[key])
            except UnknownValueError:
                out[key] = UNKNOWN
        return out
    if isinstance(value, Sequence):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    return value


def _stack_of(urn: str) -> str:
    """`urn:pulumi:<stack>::<project>::<type>::<name>` → `<stack>`."""
    parts = urn.split("::", 1)[0].split(":")
    return parts[2] if len(parts) > 2 else ""


def context_for(urn: str, config: Mapping[str, Any]) -> PolicyContext:
    """Production when the policy config says `production: true`, or by the stack's name."""
    flag = config.get("production")
    if isinstance(flag, bool):
        return PolicyContext(production=flag)
    stack = _stack_of(urn)
    return PolicyContext(
        production=stack in PRODUCTION_STACKS
        or stack.startswith("prod-")
        or stack.endswith("-prod")
    )


def _schema() -> PolicyConfigSchema:
    """`production: true|false` overrides the guess from the stack's name."""
    return PolicyConfigSchema(properties={"production": {"type": "boolean"}})


def _level(rule: Rule | StackRule) -> EnforcementLevel:
    return EnforcementLevel.MANDATORY if rule.severity == "mandatory" else EnforcementLevel.ADVISORY


def resource_validation(rule: Rule) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    """The CrossGuard callback for one per-resource rule."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in rule.types:
            return
        resource = Resource(
            type=args.resource_type, name=args.name, inputs=plain(args.props), urn=args.urn
        )
        context = context_for(args.urn, args.get_config())
        for violation in check_resource(resource, context, rules=(rule,)):
            report_violation(violation.message, None)

    return validate


def stack_validation(rule: StackRule) -> Callable[[StackValidationArgs, ReportViolation], None]:
    """The CrossGuard callback for one rule over the whole stack."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = []
        for item in args.resources:
            props = plain(item.props)
            resources.append(
                Resource(
                    type=item.resource_type,
                    name=item.name,
                    inputs=props,
                    urn=item.urn,
                    parent=item.parent.urn if item.parent is not None else None,
                    outputs=props,
                )
            )
        if not resources:
            return
        urns = {(r.type, r.name): r.urn for r in resources}
        context = context_for(resources[0].urn, args.get_config())
        for violation in check_stack(resources, context, rules=(rule,)):
            report_violation(
                violation.message, urns.get((violation.resource_type, violation.resource_name))
            )

    return validate


def policies() -> list[Policy]:
    """One CrossGuard policy per rule; stack rules get a `-stack` suffix (names are unique)."""
    built: list[Policy] = [
        ResourceValidationPolicy(
            name=rule.id,
            description=rule.description,
            validate=resource_validation(rule),
            enforcement_level=_level(rule),
            config_schema=_schema(),
        )
        for rule in RULES
    ]
    built.extend(
        StackValidationPolicy(
            name=f"{rule.id}-stack",
            description=rule.description,
            validate=stack_validation(rule),
            enforcement_level=_level(rule),
            config_schema=_schema(),
        )
        for rule in STACK_RULES
    )
    return built
