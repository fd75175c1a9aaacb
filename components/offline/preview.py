"""The offline plan of a stack: run its program under the mocks kit and show what it creates.

    python -m components.offline.preview --stack dev

No AWS account and no Pulumi CLI are needed: the program runs in-process against
`components.testing.PlatformMocks`. A bad stack config ends with its message and exit
status 2, before any resource is registered.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from components.config import ConfigError
from components.testing import Registration, StackRun, run_stack

__all__ = ["count_by_type", "main", "render_tree"]


def render_tree(resources: Sequence[Registration]) -> str:
    """Components and their children, indented, in registration order."""
    known = {r.urn for r in resources}
    children: dict[str | None, list[Registration]] = {}
    for resource in resources:
        parent = resource.parent if resource.parent in known else None
        children.setdefault(parent, []).append(resource)
    # Registration order depends on thread scheduling; sort so the output is stable.
    for siblings in children.values():
        siblings.sort(key=lambda r: (r.custom, r.type, r.name))

    lines: list[str] = []

    def walk(parent: str | None, prefix: str) -> None:
        siblings = children.get(parent, [])
        for index, resource in enumerate(siblings):
            last = index == len(siblings) - 1
            branch = "└─ " if last else "├─ "
            lines.append(f"{prefix}{branch}{resource.name}  ({resource.type})")
            walk(resource.urn, prefix + ("   " if last else "│  "))

    walk(None, "")
    return "\n".join(lines)


def count_by_type(resources: Sequence[Registration]) -> list[tuple[str, int]]:
    """(type, count) pairs, components first, then by type name."""
    counts = Counter(r.type for r in resources)
    return sorted(counts.items(), key=lambda item: (not item[0].startswith("mlops:"), item[0]))


def _report(run: StackRun) -> str:
    width = max(len(t) for t, _ in count_by_type(run.resources))
    table = "\n".join(f"  {t:<{width}}  {n:>4}" for t, n in count_by_type(run.resources))
    custom = sum(1 for r in run.resources if r.custom)
    return (
        f"Stack {run.project}/{run.stack}: {custom} resources in "
        f"{len(run.resources) - custom} components (offline, under mocks)\n\n"
        f"{render_tree(run.resources)}\n\nResources by type:\n{table}\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", default="dev", help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--project-dir", default=".", type=Path, help="folder of Pulumi.yaml")
    args = parser.parse_args(argv)

    config_file = args.project_dir / f"Pulumi.{args.stack}.yaml"
    if not config_file.exists():
        print(f"error: no stack config {config_file}", file=sys.stderr)
        return 2
    print(f"Running the {args.stack} stack's program offline…", file=sys.stderr, flush=True)
    try:
        run = run_stack(args.stack, project_dir=args.project_dir)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        print(_report(run))
    except BrokenPipeError:  # `make preview | head` closed the pipe: not an error
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
