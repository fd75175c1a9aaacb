"""Tags every taggable resource carries: who made it, for which stack, in which component."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "POOL_TAG",
    "STABLE_TAG_KEYS",
    "component_tags",
    "free_tags",
    "stable_tags",
    "stack_tags",
]

#: The node pool a resource belongs to (its `nodePools` key).
POOL_TAG = "mlops:pool"

#: Keys whose values never change over a resource's life. Launch templates carry only
#: these in their `tag_specifications`: any change there is a new template version, and
#: the node group follows its latest version, which rolls every node of the pool.
STABLE_TAG_KEYS: frozenset[str] = frozenset(
    {"mlops:project", "mlops:stack", "mlops:component", POOL_TAG, "Name"}
)


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


def stable_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Only the tags of `STABLE_TAG_KEYS`: safe where a change would replace or roll."""
    return {key: value for key, value in tags.items() if key in STABLE_TAG_KEYS}


def free_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The user's own tags (`tags` in the stack config): everything not stable."""
    return {key: value for key, value in tags.items() if key not in STABLE_TAG_KEYS}
