"""ModelStore: the S3 bucket for model artifacts and the ECR repository for the server image.

Both are locked down by default: encrypted (SSE-KMS with a key we create, or SSE-S3),
private (all four public access blocks, ACLs disabled, TLS-only bucket policy),
versioned with old versions expiring, and an image repository whose tags cannot be
overwritten, scanned on push, keeping only the last N images.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.core import iam
from components.core.config import ModelStoreConfig
from components.core.tags import component_tags

__all__ = ["ModelStore", "ModelStoreArgs"]

_SseByDefault = (
    aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs
)


@dataclass(frozen=True, kw_only=True)
class ModelStoreArgs:
    """Inputs of `ModelStore`; `from_config` builds them from the stack config."""

    kms_encryption: bool = True
    """SSE-KMS with a customer managed key (rotation on); false: SSE-S3."""
    noncurrent_version_expiration_days: int = 30
    keep_last_images: int = 20
    force_destroy: bool = False
    """Let `pulumi destroy` delete a bucket and repository that are not empty."""
    tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: ModelStoreConfig, *, tags: Mapping[str, str]) -> ModelStoreArgs:
        return cls(
            kms_encryption=config.kms_encryption,
            noncurrent_version_expiration_days=config.noncurrent_version_expiration_days,
            keep_last_images=config.keep_last_images,
            force_destroy=config.force_destroy,
            tags=tags,
        )


class ModelStore(pulumi.ComponentResource):
    """Where models and the server image live."""

    bucket_name: pulumi.Output[str]
    """The bucket's generated name."""
    bucket_arn: pulumi.Output[str]
    """The bucket's ARN."""
    kms_key_arn: pulumi.Output[str] | None
    """The bucket's KMS key (None with SSE-S3); readers need `kms:Decrypt` on it."""
    repository_url: pulumi.Output[str]
    """The ECR repository URL, `<account>.dkr.ecr.<region>.amazonaws.com/<name>`."""
    repository_arn: pulumi.Output[str]
    """The ECR repository's ARN."""
    registry_id: pulumi.Output[str]
    """The repository's registry id (the account), for `aws.ecr.get_authorization_token`."""

    def __init__(
        self, name: str, args: ModelStoreArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:model_store:ModelStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def tags(suffix: str) -> dict[str, str]:
            return component_tags(args.tags, "model-store", name=f"{name}-{suffix}")

        key: aws.kms.Key | None = None
        if args.kms_encryption:
            key = aws.kms.Key(
                f"{name}-key",
                description=f"Encrypts the model artifacts and images of {name}",
                enable_key_rotation=True,
                deletion_window_in_days=30,
                tags=tags("key"),
                opts=child,
            )

        bucket = aws.s3.Bucket(
            f"{name}-models",
            force_destroy=args.force_destroy,
            tags=tags("models"),
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-models",
            bucket=bucket.id,
            # ACLs off: access is decided by IAM and the bucket policy alone.
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-models",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        by_default = _SseByDefault(
            sse_algorithm="aws:kms" if key is not None else "AES256",
            kms_master_key_id=key.arn if key is not None else None,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-models",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=by_default,
                    # One data key per bucket, not per object: far fewer KMS calls.
                    bucket_key_enabled=key is not None,
                )
            ],
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-models",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled"
            ),
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-models",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-noncurrent-versions",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    noncurrent_version_expiration=(
                        aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                            noncurrent_days=args.noncurrent_version_expiration_days
                        )
                    ),
                    abort_incomplete_multipart_upload=(
                        aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                            days_after_initiation=7
                        )
                    ),
                )
            ],
            # S3 refuses a lifecycle configuration with noncurrent-version rules racing
            # the versioning change; order them.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        aws.s3.BucketPolicy(
            f"{name}-models",
            bucket=bucket.id,
            policy=bucket.arn.apply(lambda arn: iam.to_json(iam.deny_insecure_transport(arn))),
            # With BlockPublicPolicy on first, a mistaken public statement is refused.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access]),
        )

        repository = aws.ecr.Repository(
            f"{name}-images",
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
                scan_on_push=True
            ),
            encryption_configurations=[
                aws.ecr.RepositoryEncryptionConfigurationArgs(
                    encryption_type="KMS" if key is not None else "AES256",
                    kms_key=key.arn if key is not None else None,
                )
            ],
            force_delete=args.force_destroy,
            tags=tags("images"),
            opts=child,
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-images",
            repository=repository.name,
            policy=iam.to_json(iam.ecr_keep_last(args.keep_last_images)),
            opts=child,
        )

        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.kms_key_arn = key.arn if key is not None else None
        self.repository_url = repository.repository_url
        self.repository_arn = repository.arn
        self.registry_id = repository.registry_id
        self.register_outputs(
            {
                "bucketName": self.bucket_name,
                "bucketArn": self.bucket_arn,
                "kmsKeyArn": self.kms_key_arn,
                "repositoryUrl": self.repository_url,
                "repositoryArn": self.repository_arn,
            }
        )
