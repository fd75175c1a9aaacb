"""`python -m components.offline.preflight`: the stack's checks as a table, and the exit status."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from components.core.config import ConfigError, StackConfig, kubeconfig_auth
from components.core.stackfile import read_stack_file
from components.offline.preflight.base import format_table
from components.offline.preflight.checks import run_checks

__all__ = ["main"]

_DESCRIPTION = (
    "Read-only checks against the real AWS account before `pulumi up` (`make preflight`)."
)


def _load(project_dir: Path, stack: str) -> tuple[StackConfig, str, str]:
    stack_file = read_stack_file(project_dir, stack)
    return stack_file.platform(), stack_file.region, stack_file.project


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m components.offline.preflight", description=_DESCRIPTION
    )
    parser.add_argument("--stack", default="dev", help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--project-dir", default=".", type=Path, help="folder of Pulumi.yaml")
    parser.add_argument("--model-bucket", default=None, help="an existing model bucket to check")
    args = parser.parse_args(argv)
    if not (args.project_dir / f"Pulumi.{args.stack}.yaml").exists():
        print(f"error: no stack config Pulumi.{args.stack}.yaml", file=sys.stderr)
        return 2
    try:
        config, region, project = _load(args.project_dir, args.stack)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Preflight of stack {args.stack} in {region} (read-only)…", file=sys.stderr)
    session = None
    # The credentials `pulumi up` will use: the stack's `aws:profile` when it sets one.
    stack_config = read_stack_file(args.project_dir, args.stack).config
    profile = stack_config.get("aws:profile")
    if profile:
        import boto3

        session = boto3.session.Session(region_name=region, profile_name=profile)
    roles = stack_config.get("aws:assumeRoles")
    try:
        auth = kubeconfig_auth(profile, json.loads(roles) if roles else None)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    checks = run_checks(
        config,
        region,
        session=session,
        model_bucket=args.model_bucket,
        stack=args.stack,
        project=project,
        deployer_role_arn=auth.role_arn,
    )
    print(format_table(checks))
    return 1 if any(c.status == "fail" for c in checks) else 0
