"""ModelStore under the mocks kit: what each resource is asked for."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

import pulumi

from components.model_store import ModelStore, ModelStoreArgs
from components.testing import PlatformMocks, Registration, pulumi_test

COMPONENT = "mlops:model_store:ModelStore"


def build(kit: PlatformMocks, make: Callable[[], Any]) -> dict[str, Any]:
    """Run `make` under the mocks; return what it returned, with outputs resolved."""
    box: dict[str, Any] = {}

    @pulumi_test
    def run() -> pulumi.Output[Any]:
        component = make()
        box["component"] = component
        return pulumi.Output.all(
            component.bucket_name, component.bucket_arn, component.repository_url
        ).apply(lambda values: box.update(outputs=values))

    run()
    return box


def one(kit: PlatformMocks, type_: str) -> Registration:
    found = [r for r in kit.registrations if r.type == type_]
    assert len(found) == 1, f"{type_}: {len(found)}"
    return found[0]


def store(**overrides: Any) -> Callable[[], ModelStore]:
    args = ModelStoreArgs(**{"tags": {"mlops:stack": "dev"}, **overrides})
    return lambda: ModelStore("store", args)


def test_bucket_is_private_versioned_tls_only_and_expires_old_versions(kit: PlatformMocks) -> None:
    build(kit, store(noncurrent_version_expiration_days=7))
    block = one(kit, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    for flag in (
        "blockPublicAcls",
        "blockPublicPolicy",
        "ignorePublicAcls",
        "restrictPublicBuckets",
    ):
        assert block[flag] is True, flag
    ownership = one(kit, "aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs
    assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    versioning = one(kit, "aws:s3/bucketVersioning:BucketVersioning").inputs
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    (rule,) = one(kit, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs[
        "rules"
    ]
    assert rule["status"] == "Enabled"
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == 7
    bucket = one(kit, "aws:s3/bucket:Bucket")
    policy = json.loads(one(kit, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    (deny,) = policy["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [bucket.outputs["arn"], bucket.outputs["arn"] + "/*"]
    assert "bucket" not in bucket.inputs  # a generated name: replacements stay possible


def test_sse_kms_with_a_rotated_key_of_our_own(kit: PlatformMocks) -> None:
    build(kit, store())
    key = one(kit, "aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    sse = one(
        kit,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    ).inputs["rules"][0]
    assert sse["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": key.outputs["arn"],
    }
    assert sse["bucketKeyEnabled"] is True


def test_sse_s3_when_kms_is_off(kit: PlatformMocks) -> None:
    build(kit, store(kms_encryption=False))
    assert not [r for r in kit.registrations if r.type == "aws:kms/key:Key"]
    sse = one(
        kit,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    ).inputs["rules"][0]
    assert sse["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    repository = one(kit, "aws:ecr/repository:Repository").inputs
    assert repository["encryptionConfigurations"] == [{"encryptionType": "AES256"}]


def test_repository_is_immutable_scanned_encrypted_and_trimmed(kit: PlatformMocks) -> None:
    build(kit, store(keep_last_images=12, force_destroy=True))
    repository = one(kit, "aws:ecr/repository:Repository").inputs
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    key = one(kit, "aws:kms/key:Key")
    assert repository["encryptionConfigurations"] == [
        {"encryptionType": "KMS", "kmsKey": key.outputs["arn"]}
    ]
    assert repository["forceDelete"] is True
    lifecycle = json.loads(one(kit, "aws:ecr/lifecyclePolicy:LifecyclePolicy").inputs["policy"])
    assert lifecycle["rules"][0]["selection"]["countNumber"] == 12


def test_outputs_and_parentage(kit: PlatformMocks) -> None:
    box = build(kit, store())
    name, arn, url = box["outputs"]
    assert arn == f"arn:aws:s3:::{name}"
    assert url.startswith("123456789012.dkr.ecr.us-west-2.amazonaws.com/")
    component = one(kit, COMPONENT)
    children = [r for r in kit.registrations if r.type != COMPONENT]
    assert children and all(r.parent == component.urn for r in children)
    assert all(r.name.startswith("store-") for r in children)


def test_uses_no_deprecated_resource(kit: PlatformMocks) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build(kit, store())
    deprecated = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert not [m for m in deprecated if "deprecated" in m.lower()], deprecated


KEPT = ("aws:s3/bucket:Bucket", "aws:ecr/repository:Repository", "aws:kms/key:Key")
SUFFIX = dict(zip(KEPT, ("models", "images", "key"), strict=True))


def test_prod_protects_bucket_repository_and_key_dev_destroys_to_zero() -> None:
    """`protect=True` makes the engine refuse a delete or a replacement ("resource ... is
    protected", Pulumi docs, Resource options: protect), so switching `kmsEncryption`
    (an ECR repository's encryption is immutable: pulumi-aws marks
    `encryptionConfigurations` force-new) stops before the repository and its images go.
    dev keeps nothing: force_destroy / force_delete empty the bucket and repository, and
    the key takes KMS's shortest deletion window (7 days)."""
    from components.testing import run_stack
    from tests.conftest import ROOT

    prod = run_stack("prod", project_dir=ROOT)
    for type_ in KEPT:
        assert prod.one(type_, f"model-store-{SUFFIX[type_]}").protect, type_
    assert prod.one("aws:kms/key:Key", "model-store-key").inputs["deletionWindowInDays"] == 30
    # Only what holds data: the store's other resources stay free to change.
    assert not prod.one("aws:ecr/lifecyclePolicy:LifecyclePolicy").protect

    dev = run_stack("dev", project_dir=ROOT)
    for type_ in KEPT:
        assert not dev.one(type_, f"model-store-{SUFFIX[type_]}").protect, type_
    assert dev.one("aws:s3/bucket:Bucket").inputs["forceDestroy"] is True
    assert dev.one("aws:ecr/repository:Repository").inputs["forceDelete"] is True
    assert dev.one("aws:kms/key:Key", "model-store-key").inputs["deletionWindowInDays"] == 7


def test_protection_follows_the_config_over_the_environment() -> None:
    from components.core.config import ModelStoreConfig

    assert ModelStoreArgs.from_config(ModelStoreConfig(), tags={}, environment="prod").protect
    assert not ModelStoreArgs.from_config(ModelStoreConfig(), tags={}, environment="dev").protect
    assert not ModelStoreArgs.from_config(
        ModelStoreConfig(protect=False), tags={}, environment="prod"
    ).protect
    assert ModelStoreArgs.from_config(
        ModelStoreConfig(protect=True), tags={}, environment="staging"
    ).protect


def test_a_protected_store_marks_its_resources(kit: PlatformMocks) -> None:
    build(kit, store(protect=True))
    for type_ in KEPT:
        assert one(kit, type_).protect, type_
