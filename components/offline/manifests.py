"""Write a stack's Kubernetes objects as YAML, offline: `build/<stack>/manifests/`.

    pulumi stack output --json > outputs.json        # once the stack is deployed
    python -m components.offline.manifests --stack dev --stack-outputs outputs.json

The objects are what `ModelService` creates (the same pure renderer). Three names exist
only once the stack is deployed: the model bucket, the image repository and the
service's IAM role. They come from `--stack-outputs` (the stack's `modelBucketName`,
`modelRepositoryUrl` and `serviceRoleArn`) or from `--bucket`, `--image-repository` and
`--role-arn`, which win. Any still missing is a loud placeholder (`replace-me-...`,
account 000000000000), listed in a comment at the top of every file and on stderr,
so the YAML never passes for a deployed stack's. The offline preview calls
`write_stack_manifests` without outputs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.core.config import ConfigError, StackConfig
from components.core.manifests import stack_manifests, write_manifests
from components.core.stackfile import read_stack_file

__all__ = ["PLACEHOLDER_ACCOUNT", "main", "placeholders", "read_stack", "write_stack_manifests"]

#: The account of every placeholder ARN and registry: not a real one, and not the mocks'.
PLACEHOLDER_ACCOUNT = "000000000000"

# Each deploy-time name: its flag, the platform stack output it comes from, and how the
# placeholder reads.
_NAMES = {
    "bucket": ("--bucket", "modelBucketName"),
    "image_repository": ("--image-repository", "modelRepositoryUrl"),
    "role_arn": ("--role-arn", "serviceRoleArn"),
}


def placeholders(region: str, cluster: str, service: str) -> dict[str, str]:
    """The loud stand-ins for the names only a deployed stack knows."""
    return {
        "bucket": f"replace-me-{cluster}-model-bucket",
        "image_repository": (
            f"{PLACEHOLDER_ACCOUNT}.dkr.ecr.{region}.amazonaws.com/replace-me-{cluster}-models"
        ),
        "role_arn": f"arn:aws:iam::{PLACEHOLDER_ACCOUNT}:role/replace-me-{cluster}-{service}",
    }


def read_stack(project_dir: Path, stack: str) -> tuple[StackConfig, str]:
    """The validated `StackConfig` and the `aws:region` of `Pulumi.<stack>.yaml`."""
    stack_file = read_stack_file(project_dir, stack)
    return stack_file.platform(), stack_file.region


def write_stack_manifests(
    config: StackConfig,
    directory: Path,
    *,
    region: str,
    image_repository: str | None = None,
    bucket: str | None = None,
    role_arn: str | None = None,
) -> list[Path]:
    """Render the stack's service and write one YAML file per object into `directory`.

    A name not given is a placeholder, and every file then starts with a comment naming
    each placeholder and how to fill it in.
    """
    given = {"bucket": bucket, "image_repository": image_repository, "role_arn": role_arn}
    service = config.service.name if config.service is not None else "service"
    stand_in = placeholders(region, config.cluster.name, service)
    values = {key: value or stand_in[key] for key, value in given.items()}
    objects = stack_manifests(config, region=region, account_id=PLACEHOLDER_ACCOUNT, **values)
    paths = write_manifests(objects, directory)
    missing = [key for key, value in given.items() if not value]
    if missing:
        header = "".join(
            f"# PLACEHOLDER {key}: {stand_in[key]} (not a deployed stack's; set {_NAMES[key][0]} "
            f"or --stack-outputs with {_NAMES[key][1]})\n"
            for key in missing
        )
        for path in paths:
            path.write_text(header + path.read_text())
    return paths


def _outputs_file(path: Path) -> Mapping[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"--stack-outputs {path}: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigError(
            f"--stack-outputs {path}: expected the JSON object of `pulumi stack output --json`"
        )
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--project-dir", type=Path, default=Path("."))
    parser.add_argument("--out", type=Path, help="default: build/<stack>/manifests")
    parser.add_argument(
        "--stack-outputs",
        type=Path,
        help="`pulumi stack output --json` of the deployed stack, saved to a file",
    )
    parser.add_argument("--bucket", help="the model bucket (stack output modelBucketName)")
    parser.add_argument(
        "--image-repository", help="the ECR repository URL (stack output modelRepositoryUrl)"
    )
    parser.add_argument("--role-arn", help="the service's IAM role (stack output serviceRoleArn)")
    args = parser.parse_args(argv)
    try:
        config, region = read_stack(args.project_dir, args.stack)
        outputs = _outputs_file(args.stack_outputs) if args.stack_outputs else {}
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    values = {
        key: getattr(args, key) or (str(outputs[name]) if outputs.get(name) else None)
        for key, (_, name) in _NAMES.items()
    }
    out = args.out or args.project_dir / "build" / args.stack / "manifests"
    paths = write_stack_manifests(config, out, region=region, **values)
    print(f"{len(paths)} objects written to {out}")
    missing = [key for key, value in values.items() if not value]
    if missing and paths:
        print(
            "warning: placeholders, not a deployed stack's names, for "
            + ", ".join(f"{key} ({_NAMES[key][0]})" for key in missing)
            + ": pass --stack-outputs FILE (pulumi stack output --json > FILE) before "
            "applying these files",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
