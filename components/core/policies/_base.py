"""What every rule module shares: the data a rule sees, the declaration, the value helpers.

Private to the package: `components.core.policies` re-exports the public part.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["mandatory", "advisory"]


class _Unknown:
    """A value the engine does not know yet (during a real preview)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


@dataclass(frozen=True)
class Resource:
    """One resource as the rules see it: type token, logical name, wire-name inputs.

    `outputs` (when known) and `parent` only serve the stack rules, to tell which
    resource another one refers to.
    """

    type: str
    name: str
    inputs: Mapping[str, Any]
    urn: str = ""
    parent: str | None = None
    outputs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PolicyContext:
    """What a rule may need beyond the resource: whether the stack is production."""

    production: bool = False


@dataclass(frozen=True)
class Violation:
    rule: str
    severity: Severity
    resource_type: str
    resource_name: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"[{self.severity}] {self.rule}: {self.message}"


Finding = tuple[str, str]
"""(field path, what is wrong with it)."""

ResourceCheck = Callable[[Resource, PolicyContext], Iterable[Finding]]
StackCheck = Callable[[Sequence[Resource], PolicyContext], Iterable[tuple[Resource, Finding]]]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    description: str
    types: frozenset[str]
    check: ResourceCheck


@dataclass(frozen=True)
class StackRule:
    id: str
    severity: Severity
    description: str
    types: frozenset[str]
    check: StackCheck


def rule(
    id: str, severity: Severity, *, types: Iterable[str], description: str
) -> Callable[[ResourceCheck], Rule]:
    """Declare the function below as the check of a per-resource rule.

    The name then holds the `Rule`; the package's `RULES` lists it.
    """

    def declare(check: ResourceCheck) -> Rule:
        return Rule(id, severity, description, frozenset(types), check)

    return declare


def stack_rule(
    id: str, severity: Severity, *, types: Iterable[str], description: str
) -> Callable[[StackCheck], StackRule]:
    """Declare the function below as the check of a stack rule (facts spanning resources)."""

    def declare(check: StackCheck) -> StackRule:
        return StackRule(id, severity, description, frozenset(types), check)

    return declare


# --------------------------------------------------------------------------- value helpers


def _known(value: Any) -> bool:
    return value is not UNKNOWN


def _get(data: Any, *path: str | int) -> Any:
    """`data[path...]`, None where a part is missing, UNKNOWN where a part is unknown."""
    for part in path:
        if data is UNKNOWN:
            return UNKNOWN
        if isinstance(part, int):
            if not isinstance(data, list) or part >= len(data):
                return None
            data = data[part]
        else:
            if not isinstance(data, Mapping):
                return None
            data = data.get(part)
    return data


def _true(value: Any) -> bool:
    """pulumi_aws carries some booleans as strings (`encrypted: "true"`)."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.lower() == "false")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _json(value: Any) -> Any:
    """An IAM-style document given as a JSON string or already as a dict."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _statements(document: Any) -> list[dict[str, Any]]:
    statements = document.get("Statement") if isinstance(document, Mapping) else None
    if isinstance(statements, Mapping):
        return [dict(statements)]
    return [dict(s) for s in _list(statements) if isinstance(s, Mapping)]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in _list(value) if isinstance(v, str)]


def _open_cidr(cidr: str) -> bool:
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return False


def _tags(resource: Resource) -> Mapping[str, Any]:
    tags = resource.inputs.get("tags")
    return tags if isinstance(tags, Mapping) else {}


def _refers_to(value: Any, target: Resource, holder: Resource) -> bool:
    """Does `value` (an input of `holder`) name `target`? Unknown: same component."""
    if value is None or not _known(value):
        return holder.parent is not None and holder.parent == target.parent
    names = {
        v
        for source in (target.inputs, target.outputs)
        for key in ("id", "name", "bucket", "arn")
        if isinstance(v := source.get(key), str)
    }
    return value in names
