"""S3: buckets block public access and deny plain HTTP, and every bucket has both guards."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from components.core.policies._base import (
    Finding,
    PolicyContext,
    Resource,
    StackCheck,
    StackRule,
    _get,
    _json,
    _known,
    _refers_to,
    _statements,
    _strings,
    _true,
    rule,
)

__all__ = [
    "BUCKET",
    "BUCKETS",
    "BUCKET_POLICY",
    "BUCKET_V2",
    "PUBLIC_ACCESS_BLOCK",
    "bucket_has_policy",
    "bucket_has_public_access_block",
    "public_access_blocked",
    "tls_only",
]

BUCKET = "aws:s3/bucket:Bucket"
BUCKET_V2 = "aws:s3/bucketV2:BucketV2"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKETS = (BUCKET, BUCKET_V2)
_BLOCK_FIELDS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)


@rule(
    "s3-public-access-blocked",
    "mandatory",
    types={PUBLIC_ACCESS_BLOCK, *BUCKETS},
    description="S3 buckets block all public access.",
)
def public_access_blocked(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    if resource.type == PUBLIC_ACCESS_BLOCK:
        for key in _BLOCK_FIELDS:
            value = resource.inputs.get(key)
            if _known(value) and not _true(value):
                yield (key, f"is {value!r}; all four public access blocks must be true")
    else:
        acl = resource.inputs.get("acl")
        if isinstance(acl, str) and acl.startswith("public-"):
            yield ("acl", f"is {acl!r}")


def _denies_insecure_transport(document: Any) -> bool:
    for statement in _statements(document):
        if statement.get("Effect") != "Deny":
            continue
        actions = _strings(statement.get("Action"))
        if not ({"s3:*", "*"} & set(actions)):
            continue
        principal = statement.get("Principal")
        if principal not in ("*", {"AWS": "*"}):
            continue  # a deny for one principal leaves everyone else on plain HTTP
        resources = _strings(statement.get("Resource"))
        objects = any(r.endswith("/*") for r in resources)
        bucket = any(not r.endswith("*") for r in resources)
        if "*" not in resources and not (objects and bucket):
            continue  # must cover the bucket itself and its objects
        condition = statement.get("Condition")
        secure = _get(condition, "Bool", "aws:SecureTransport")
        if secure is None:
            secure = _get(condition, "BoolIfExists", "aws:SecureTransport")
        values = [str(v).lower() for v in ([secure] if not isinstance(secure, list) else secure)]
        if "false" in values:
            return True
    return False


@rule(
    "s3-tls-only",
    "mandatory",
    types={BUCKET_POLICY},
    description="S3 bucket policies deny requests without TLS.",
)
def tls_only(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    policy = resource.inputs.get("policy")
    if not _known(policy):
        return
    if not _denies_insecure_transport(_json(policy)):
        yield (
            "policy",
            "has no Deny of s3:* when aws:SecureTransport is false: plain-HTTP access is allowed",
        )


def _bucket_companions(companion: str, field_name: str, what: str) -> StackCheck:
    """A stack check: every bucket has a `companion` resource that refers to it."""

    def check(
        resources: Sequence[Resource], _: PolicyContext
    ) -> Iterator[tuple[Resource, Finding]]:
        others = [r for r in resources if r.type == companion]
        for bucket in (r for r in resources if r.type in BUCKETS):
            if not any(_refers_to(o.inputs.get("bucket"), bucket, o) for o in others):
                yield bucket, (field_name, f"the bucket has no {what}")

    return check


bucket_has_public_access_block = StackRule(
    "s3-public-access-blocked",
    "mandatory",
    "Every S3 bucket has a public access block.",
    frozenset(BUCKETS),
    _bucket_companions(PUBLIC_ACCESS_BLOCK, "bucketPublicAccessBlock", "public access block"),
)

bucket_has_policy = StackRule(
    "s3-tls-only",
    "mandatory",
    "Every S3 bucket has a bucket policy.",
    frozenset(BUCKETS),
    _bucket_companions(BUCKET_POLICY, "bucketPolicy", "bucket policy denying non-TLS access"),
)
