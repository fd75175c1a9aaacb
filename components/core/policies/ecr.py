"""ECR: repositories with immutable tags that scan every pushed image."""

from __future__ import annotations

from collections.abc import Iterator

from components.core.policies._base import (
    Finding,
    PolicyContext,
    Resource,
    _get,
    _known,
    _true,
    rule,
)

__all__ = ["ECR_REPOSITORY", "immutable_tags", "scan_on_push"]

ECR_REPOSITORY = "aws:ecr/repository:Repository"


@rule(
    "ecr-immutable-tags",
    "mandatory",
    types={ECR_REPOSITORY},
    description="ECR repositories have immutable tags.",
)
def immutable_tags(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    mutability = resource.inputs.get("imageTagMutability")
    # IMMUTABLE_WITH_EXCLUSION lets tags matching its filters be overwritten: not immutable.
    if _known(mutability) and mutability != "IMMUTABLE":
        yield (
            "imageTagMutability",
            f"is {mutability or 'MUTABLE (the default)'}: a pushed tag could be replaced "
            "under running pods; set IMMUTABLE",
        )


@rule(
    "ecr-scan-on-push",
    "mandatory",
    types={ECR_REPOSITORY},
    description="ECR repositories scan images on push.",
)
def scan_on_push(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    scan = _get(resource.inputs, "imageScanningConfiguration", "scanOnPush")
    if _known(scan) and not _true(scan):
        yield ("imageScanningConfiguration.scanOnPush", f"is {scan!r}; scan every pushed image")
