"""What a run recorded: each registration, the whole run, and secrets unwrapped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Registration", "StackRun", "UnknownStackReferenceError", "reveal_secrets"]


class UnknownStackReferenceError(LookupError):
    """The program read a stack the kit was given no outputs for."""


@dataclass(frozen=True)
class Registration:
    """One resource the program registered, as the engine would have seen it."""

    type: str
    name: str
    urn: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    id: str | None
    dependencies: tuple[str, ...] = ()
    provider: str | None = None
    ignore_changes: tuple[str, ...] = ()
    """Property paths the engine is told to ignore, as sent on the wire (camelCase)."""
    transforms: int = 0
    """How many resource transforms the registration carries (they run in the engine)."""
    protect: bool = False
    """`protect=True`: the engine refuses to delete or replace it."""
    retain_on_delete: bool = False
    """`retain_on_delete=True`: deleting it from the stack leaves it in the cloud."""
    read: bool = False
    """Read, not created: a `StackReference` or a resource's `.get(...)`."""

    @property
    def is_component(self) -> bool:
        return not self.custom


@dataclass
class StackRun:
    """What one run of a stack program registered and exported."""

    stack: str
    project: str
    resources: list[Registration]
    outputs: dict[str, Any]
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def by_type(self, type_: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Registration:
        found = [r for r in self.by_type(type_) if name is None or r.name == name]
        if len(found) != 1:
            raise LookupError(f"expected one {type_} named {name!r}, found {len(found)}")
        return found[0]

    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.resources}

    def children(self, parent: Registration) -> list[Registration]:
        return [r for r in self.resources if r.parent == parent.urn]

    def ancestors(self, resource: Registration) -> list[Registration]:
        """The parent chain of a resource, nearest first, up to (not including) the stack."""
        index = self.by_urn()
        chain = []
        parent = resource.parent
        while parent and parent in index:
            chain.append(index[parent])
            parent = index[parent].parent
        return chain


#: How the SDK marks a secret value in a registration's inputs (pulumi/runtime/rpc.py).
_SECRET_SIG = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")


def reveal_secrets(value: Any) -> Any:
    """`value` with every secret wrapper the SDK put around recorded inputs removed.

    Registrations keep secrets wrapped (`{<sig>: <secret sig>, "value": ...}`) so the
    preview can mask them; a test that asserts on a secret's content unwraps it here.
    """
    if isinstance(value, dict):
        if value.get(_SECRET_SIG[0]) == _SECRET_SIG[1] and "value" in value:
            return reveal_secrets(value["value"])
        return {k: reveal_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal_secrets(v) for v in value]
    return value
