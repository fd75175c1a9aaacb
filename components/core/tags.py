"""Tags every taggable resource carries: who made it, for which stack, in which component."""

from __future__ import annotations

from collections.abc import Mapping


def component_tags(
    base: Mapping[str, str], component: str, *, name: str | None = None
) -> dict[str, str]:
    """`base` (project, stack, the user's tags) plus the component, and a `Name` if given."""
    tags = {**base, "mlops:component": component}
    if name is not None:
        tags["Name"] = name
    return tags


def stack_tags(project: str, stack: str, extra: Mapping[str, str]) -> dict[str, str]:
    """The tags of a whole stack; the user's own tags cannot override these two."""
    return {**extra, "mlops:project": project, "mlops:stack": stack}
