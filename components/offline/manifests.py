"""Write a stack's Kubernetes objects as YAML, offline: `build/<stack>/manifests/`.

    python -m components.offline.manifests --stack dev

The objects are what `ModelService` creates (the same pure renderer), with illustrative
values where only a deployment knows the name (bucket, image repository, role ARN);
pass the real ones from `pulumi stack output` to apply them to a cluster of your own.
The offline preview calls `write_stack_manifests`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from components.core.config import ConfigError, StackConfig
from components.core.manifests import stack_manifests, write_manifests
from components.core.stackfile import read_stack_file

__all__ = ["main", "read_stack", "write_stack_manifests"]


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
    """Render the stack's service and write one YAML file per object into `directory`."""
    objects = stack_manifests(
        config, region=region, image_repository=image_repository, bucket=bucket, role_arn=role_arn
    )
    return write_manifests(objects, directory)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--project-dir", type=Path, default=Path("."))
    parser.add_argument("--out", type=Path, help="default: build/<stack>/manifests")
    parser.add_argument("--bucket", help="the model bucket (pulumi stack output modelBucketName)")
    parser.add_argument("--image-repository", help="the ECR repository URL")
    parser.add_argument("--role-arn", help="the service's IAM role ARN")
    args = parser.parse_args(argv)
    try:
        config, region = read_stack(args.project_dir, args.stack)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out or args.project_dir / "build" / args.stack / "manifests"
    paths = write_stack_manifests(
        config,
        out,
        region=region,
        image_repository=args.image_repository,
        bucket=args.bucket,
        role_arn=args.role_arn,
    )
    print(f"{len(paths)} objects written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
