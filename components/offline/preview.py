"""The offline plan of a stack: run its program under the mocks kit and show what it creates.

    python -m components.offline.preview --stack dev      # `make preview STACK=dev`
    python -m components.offline.preview --project-dir examples/second-model --stack dev \
        --stack-reference organization/mlops-platform/dev=.

No AWS account and no Pulumi CLI are needed: the program runs in-process against
`components.testing.PlatformMocks`. Any Pulumi program built from these components works,
not only this repository's: it prints the resource tree with counts, the monthly cost
estimate and the policy results, and writes under `<project-dir>/build/<stack>/`:

    plan.json           every resource: urn, type, name, parent, inputs (secrets masked)
    cost.json           the estimate, per line, per component and in total
    policy.json         every rule's violations and the resource types checked
    manifests/*.yaml    the rendered Kubernetes objects (a platform stack's service)
    stack.dot           the diagram; stack.svg + stack.png with Graphviz, else stack.mmd

A stack with the platform's config (`<project>:platform`) is priced from its config
(`core.cost.estimate`); any other program from the resources it registered, for the kinds
the price table knows (NAT gateways, EKS control planes, node groups, interface endpoints,
KMS keys, load balancers). A program reading another stack (`pulumi.StackReference`)
needs `--stack-reference NAME=SOURCE`: SOURCE is `pulumi stack output --json` saved to a
file, or the referenced project's folder, whose stack then runs offline first.

Exit status: 0, or 1 when a mandatory policy fails, or 2 for a bad stack config, a
missing price or a stack reference without outputs. Two runs write byte-identical files.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import pulumi

from components.core.config import ConfigError, StackConfig
from components.core.cost import (
    CostError,
    Estimate,
    estimate,
    format_estimate,
    load_prices,
)
from components.core.policies import (
    RULES,
    STACK_RULES,
    PolicyContext,
    PolicyReport,
    Resource,
    evaluate,
)
from components.core.stackfile import read_stack_file
from components.offline.diagram import MERMAID_HINT, build_diagram, render
from components.offline.manifests import write_stack_manifests
from components.offline.resource_cost import resource_estimate
from components.testing import (
    PlatformMocks,
    Registration,
    StackRun,
    UnknownStackReferenceError,
    run_stack,
)

__all__ = [
    "MASK",
    "count_by_type",
    "main",
    "mask_secrets",
    "plan_document",
    "policy_resources",
    "render_tree",
    "resource_estimate",
    "stack_reference_outputs",
]

#: What a masked value is replaced with in plan.json.
MASK = "[secret]"

# The SDK's wire sentinel for a secret value (pulumi.runtime.rpc): under the mocks a
# secret input arrives as {SIG_KEY: SECRET_SIG, "value": ...}.
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 (a marker, not a secret)

# Keys whose values are credentials even when nobody marked them secret.
_SECRET_KEYS = frozenset(
    {
        "kubeconfig",
        "kubeconfigjson",
        "password",
        "secretstring",
        "privatekey",
        "token",
        "certificate-authority-data",
        "client-certificate-data",
        "client-key-data",
    }
)
_SECRET_OBJECT_TYPES = frozenset({"kubernetes:core/v1:Secret"})


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(_SIG_KEY) == _SECRET_SIG


def _secret_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in _SECRET_KEYS or "kubeconfig" in lowered or lowered.endswith("password")


def _asset(value: Any) -> dict[str, str] | None:
    """A Pulumi asset or archive as plain JSON (a path relative to the working folder, so
    two clones write the same plan); None for anything else."""
    for kind, attribute in (
        (pulumi.FileAsset, "path"),
        (pulumi.FileArchive, "path"),
        (pulumi.RemoteAsset, "uri"),
        (pulumi.RemoteArchive, "uri"),
    ):
        if isinstance(value, kind):
            where = str(getattr(value, attribute))
            if attribute == "path":
                path = Path(where)
                with contextlib.suppress(ValueError):
                    where = str(path.resolve().relative_to(Path.cwd().resolve()))
            return {kind.__name__: where}
    if isinstance(value, pulumi.StringAsset):
        digest = hashlib.sha256(str(value.text).encode()).hexdigest()
        return {"StringAsset": f"sha256:{digest}"}
    return None


def mask_secrets(value: Any, *, resource_type: str = "") -> Any:
    """`value` with every Pulumi secret and every credential-like field replaced by MASK."""
    if _is_secret(value):
        return MASK
    asset = _asset(value)
    if asset is not None:
        return asset
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            secret_data = resource_type in _SECRET_OBJECT_TYPES and key in ("data", "stringData")
            out[key] = MASK if secret_data or _secret_key(key) else mask_secrets(item)
        return out
    if isinstance(value, list):
        return [mask_secrets(item) for item in value]
    return value


def _unwrap(value: Any) -> Any:
    """Secrets as their plain values: the policy rules must see what will be deployed."""
    if _is_secret(value):
        return _unwrap(value.get("value"))
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


# --------------------------------------------------------------------------- tree


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


# --------------------------------------------------------------------------- plan files


def plan_document(run: StackRun, *, region: str) -> dict[str, Any]:
    """plan.json's content: every resource sorted by URN with masked inputs; output names."""
    resources = [
        {
            "urn": r.urn,
            "type": r.type,
            "name": r.name,
            "parent": r.parent,
            "custom": r.custom,
            "inputs": mask_secrets(r.inputs, resource_type=r.type),
        }
        for r in sorted(run.resources, key=lambda r: r.urn)
    ]
    return {
        "project": run.project,
        "stack": run.stack,
        "region": region,
        "counts": dict(count_by_type(run.resources)),
        "resources": resources,
        # Names only: the kit hands stack outputs back unwrapped, secret or not.
        "outputs": sorted(run.outputs),
    }


def policy_resources(run: StackRun) -> list[Resource]:
    """The recorded resources as the policy rules take them."""
    return [
        Resource(
            type=r.type,
            name=r.name,
            inputs=_unwrap(r.inputs),
            urn=r.urn,
            parent=r.parent,
            outputs=_unwrap(r.outputs),
        )
        for r in run.resources
    ]


def _write_json(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, default=_json_default)
    path.write_text(text + "\n")
    return path


def _json_default(value: Any) -> Any:
    """json.dumps' fallback: a Pulumi asset or archive as its kind and path, else TypeError."""
    asset = _asset(value)
    if asset is None:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return asset


# --------------------------------------------------------------------------- references


def stack_reference_outputs(source: str, *, name: str) -> tuple[dict[str, Any], list[str]]:
    """A referenced stack's outputs and its secret output names, from `source`.

    `source` is a file of `pulumi stack output --json` (add `--show-secrets` for the
    kubeconfig), or the folder of the referenced project: its stack (the last part of
    `name`) then runs offline under the kit, as `make preview` would run it.
    """
    path = Path(source)
    if path.is_dir():
        stack = name.rsplit("/", 1)[-1]
        run = run_stack(stack, project_dir=path)
        secret = sorted(k for k in run.outputs if _secret_key(k))
        return dict(run.outputs), secret
    if not path.is_file():
        raise ConfigError(f"--stack-reference {name}={source}: no such file or folder")
    try:
        outputs = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--stack-reference {name}={source}: not JSON ({exc})") from None
    if not isinstance(outputs, dict):
        raise ConfigError(f"--stack-reference {name}={source}: expected a JSON object")
    return outputs, []


# --------------------------------------------------------------------------- the run


class _ProgressMocks(PlatformMocks):
    """The kit, plus a line on stderr as each component registers."""

    def __init__(self, stream: TextIO, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._stream = stream

    def _record(self, registration: Registration) -> None:
        super()._record(registration)
        if not registration.custom:
            print(
                f"  + {registration.name} ({registration.type}) "
                f"[{len(self.registrations)} registered]",
                file=self._stream,
                flush=True,
            )


@dataclass(frozen=True)
class Plan:
    run: StackRun
    config: StackConfig | None
    """The platform's stack config; None for another program built from the components."""
    region: str
    cost: Estimate
    policy: PolicyReport
    files: tuple[Path, ...]
    manifests: tuple[Path, ...]
    mermaid: bool
    """The diagram is Mermaid text only (no Graphviz here)."""


def _load(project_dir: Path, stack: str) -> tuple[StackConfig | None, str]:
    """The platform config of the stack (None when it has none) and its region."""
    stack_file = read_stack_file(project_dir, stack)
    if stack_file.platform_key not in stack_file.config:
        return None, stack_file.region
    return stack_file.platform(), stack_file.region


def _production(stack: str, config: StackConfig | None) -> bool:
    if config is not None:
        return config.environment == "prod"
    return stack in ("prod", "production") or stack.startswith("prod-") or stack.endswith("-prod")


def build_plan(
    stack: str,
    project_dir: Path,
    out_root: Path,
    *,
    progress: TextIO | None = None,
    stack_references: Mapping[str, str] | None = None,
) -> Plan:
    """Run the stack offline and write build/<stack>/*; raises ConfigError or CostError.

    `stack_references` maps a referenced stack's name to its outputs' source (see
    `stack_reference_outputs`).
    """
    config, region = _load(project_dir, stack)
    prices = load_prices(region)
    # A missing price marks its line unknown (with the reason), never an error.
    cost = estimate(config, prices) if config is not None else None
    references: dict[str, dict[str, Any]] = {}
    secrets: dict[str, list[str]] = {}
    for name, source in (stack_references or {}).items():
        references[name], secrets[name] = stack_reference_outputs(source, name=name)
    # Offline, the region's real AZs are unknown (preflight checks them): offer enough.
    azs = max(4, config.network.az_count) if config is not None else 4
    kit = _ProgressMocks(
        progress or sys.stderr,
        region=region,
        az_count=azs,
        stack_references=references,
        secret_outputs=secrets,
    )
    try:
        run = run_stack(stack, project_dir=project_dir, mocks=kit)
    except UnknownStackReferenceError as exc:
        raise ConfigError(
            f"{exc}: pass --stack-reference NAME=FILE (`pulumi stack output --json "
            "--show-secrets` of that stack) or NAME=PROJECT-DIR (run it offline first)"
        ) from None
    finally:
        kit.close()
    if cost is None:
        cost = resource_estimate(run.resources, prices)
    policy = evaluate(policy_resources(run), PolicyContext(production=_production(stack, config)))
    out = out_root / stack
    files = [
        _write_json(out / "plan.json", plan_document(run, region=region)),
        _write_json(out / "cost.json", cost.to_dict()),
        _write_json(out / "policy.json", _policy_document(policy)),
    ]
    manifests = (
        sorted(write_stack_manifests(config, out / "manifests", region=region))
        if config is not None
        else []
    )
    title = f"{run.project}/{stack} ({region})"
    diagram = render(build_diagram(run.resources), title, out)
    files.extend(diagram)
    return Plan(
        run=run,
        config=config,
        region=region,
        cost=cost,
        policy=policy,
        files=tuple(files),
        manifests=tuple(manifests),
        mermaid=any(p.suffix == ".mmd" for p in diagram),
    )


def _policy_document(report: PolicyReport) -> dict[str, Any]:
    return {
        "passed": report.passed,
        "rules": [
            *(
                {
                    "id": r.id,
                    "severity": r.severity,
                    "description": r.description,
                    "scope": "resource",
                }
                for r in RULES
            ),
            *(
                {"id": r.id, "severity": r.severity, "description": r.description, "scope": "stack"}
                for r in STACK_RULES
            ),
        ],
        "checked": dict(report.checked),
        "violations": [
            {
                "rule": v.rule,
                "severity": v.severity,
                "type": v.resource_type,
                "name": v.resource_name,
                "field": v.field,
                "message": v.message,
            }
            for v in report.violations
        ],
    }


def _format_policy(report: PolicyReport) -> str:
    rule_count = len({r.id for r in RULES} | {r.id for r in STACK_RULES})
    checked = sum(report.checked.values())
    head = (
        f"Policies: {rule_count} rules over {checked} resources of {len(report.checked)} "
        f"checked types: {len(report.mandatory)} mandatory and {len(report.advisory)} "
        f"advisory violations — {'PASS' if report.passed else 'FAIL'}"
    )
    lines = [head, *(f"  {v}" for v in report.violations)]
    return "\n".join(lines) + "\n"


def _report(plan: Plan, project_dir: Path) -> str:
    run = plan.run
    width = max(len(t) for t, _ in count_by_type(run.resources))
    table = "\n".join(f"  {t:<{width}}  {n:>4}" for t, n in count_by_type(run.resources))
    custom = sum(1 for r in run.resources if r.custom)

    def shown(path: Path) -> str:
        try:
            return str(path.relative_to(project_dir))
        except ValueError:
            return str(path)

    if plan.config is None:
        manifests = "  manifests: none (no platform stack config; the plan holds the objects)\n"
    else:
        manifests = (
            f"  manifests: {len(plan.manifests)} files, with placeholder names for the "
            "bucket, image repository and role (make manifests OUTPUTS=... fills them in)\n"
        ) + "".join(f"    {shown(p)}\n" for p in plan.manifests)
    files = "".join(f"  {shown(p)}\n" for p in plan.files)
    diagram = f"\n{MERMAID_HINT}\n" if plan.mermaid else ""
    return (
        f"Stack {run.project}/{run.stack}: {custom} resources in "
        f"{len(run.resources) - custom} components (offline, under mocks)\n\n"
        f"{render_tree(run.resources)}\n\nResources by type:\n{table}\n\n"
        f"{format_estimate(plan.cost)}\n"
        f"{_format_policy(plan.policy)}\n"
        f"Wrote:\n{files}{manifests}{diagram}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", default="dev", help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--project-dir", default=".", type=Path, help="folder of Pulumi.yaml")
    parser.add_argument(
        "--out", default=None, type=Path, help="output folder (default: <project-dir>/build)"
    )
    parser.add_argument(
        "--stack-reference",
        action="append",
        default=[],
        metavar="NAME=SOURCE",
        help="outputs of a stack the program references: a `pulumi stack output --json` "
        "file, or the referenced project's folder (its stack runs offline first)",
    )
    args = parser.parse_args(argv)
    references: dict[str, str] = {}
    for item in args.stack_reference:
        name, sep, source = item.partition("=")
        if not sep or not name or not source:
            parser.error(f"--stack-reference {item!r}: expected NAME=SOURCE")
        references[name] = source

    project_dir: Path = args.project_dir
    config_file = project_dir / f"Pulumi.{args.stack}.yaml"
    if not config_file.exists():
        print(f"error: no stack config {config_file}", file=sys.stderr)
        return 2
    print(f"Running the {args.stack} stack's program offline…", file=sys.stderr, flush=True)
    try:
        plan = build_plan(
            args.stack,
            project_dir,
            args.out or project_dir / "build",
            stack_references=references,
        )
    except (ConfigError, CostError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        print(_report(plan, project_dir))
    except BrokenPipeError:  # `make preview | head` closed the pipe: not an error
        sys.stderr.close()
    if not plan.policy.passed:
        print(
            f"error: {len(plan.policy.mandatory)} mandatory policy violations (see above)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
