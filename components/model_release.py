"""ModelRelease: what the pods need, published by the stack before the workload.

The model: `model.onnx` from a local folder uploaded into the stack's bucket under the
service's prefix, with S3's SHA256 checksum and the `model.onnx.sha256` sidecar the
server verifies it with (`serving/repository.py`). A Pulumi `FileAsset` is diffed by its
hash, so unchanged bytes change nothing and changed bytes upload a new object version;
the pod template carries the sha256 (`core.release.MODEL_SHA256_ANNOTATION`), so the pods
roll onto it.

The image: `serving/Dockerfile` built with BuildKit and pushed to the stack's ECR
repository by `pulumi_docker_build.Image` (as awsx's `ecr.Image` does), with registry
credentials from `aws.ecr.get_authorization_token`; the tag carries the build context's
hash (ECR tags are immutable) and the Deployment references the pushed digest. Building
needs Docker with buildx where `pulumi up` runs; previews skip the build.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

from components.core import release
from components.core.tags import component_tags

__all__ = ["ModelRelease", "ModelReleaseArgs"]


@dataclass(frozen=True, kw_only=True)
class ModelReleaseArgs:
    """Inputs of `ModelRelease`."""

    bucket_name: pulumi.Input[str]
    """The ModelStore bucket."""
    model_prefix: str
    """Key prefix of the model (`iris/1`): `<prefix>/model.onnx` and its sidecar."""
    model: release.ModelArtifact | None = None
    """The local model to upload (`core.release.model_artifact`); None: upload nothing."""
    repository_url: pulumi.Input[str] | None = None
    """The ECR repository to push a build to; None: build nothing."""
    registry_id: pulumi.Input[str] | None = None
    """The repository's registry (account) id, for its authorization token."""
    context: Path = field(default_factory=Path)
    """The build context: the project directory (`.dockerignore` keeps it small)."""
    image_tag: str = ""
    """The tag to push (`core.release.image_tag`)."""
    platform: str = "linux/amd64"
    """The target node pool's platform (`core.release.image_platform`)."""
    tags: Mapping[str, str] = field(default_factory=dict)


class ModelRelease(pulumi.ComponentResource):
    """The model's objects in S3 and the server image in ECR, for one service."""

    model_sha256: str | None
    """The uploaded model's sha256 (None when nothing is uploaded)."""
    model_uri: pulumi.Output[str] | None
    """`s3://<bucket>/<prefix>/model.onnx` of the uploaded model."""
    image_digest: pulumi.Output[str] | None
    """The pushed image's digest, `sha256:<64 hex>` (None when nothing is built)."""
    image_ref: pulumi.Output[str] | None
    """`<repository>:<tag>@<digest>`: what the pods run."""
    dependencies: list[pulumi.Resource]
    """What the Deployment must wait for: the model's objects and the pushed image."""

    def __init__(
        self, name: str, args: ModelReleaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:model_release:ModelRelease", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        prefix = args.model_prefix.strip("/")
        self.dependencies = []
        self.model_sha256 = None
        self.model_uri = None
        self.image_digest = None
        self.image_ref = None

        if args.model is not None:
            model = args.model
            key = f"{prefix}/{release.MODEL_FILE}"
            model_object = aws.s3.BucketObjectv2(
                f"{name}-model",
                bucket=args.bucket_name,
                key=key,
                source=pulumi.FileAsset(str(model.path)),
                # S3 computes and stores a full-object SHA256: the server's fallback when
                # the sidecar is unreadable, and a check of the upload itself.
                checksum_algorithm="SHA256",
                content_type="application/octet-stream",
                tags=component_tags(args.tags, "model-release", name=f"{name}-model"),
                opts=child,
            )
            sidecar = aws.s3.BucketObjectv2(
                f"{name}-model-sha256",
                bucket=args.bucket_name,
                key=key + release.SIDECAR_SUFFIX,
                content=release.sidecar_text(model),
                checksum_algorithm="SHA256",
                content_type="text/plain",
                tags=component_tags(args.tags, "model-release", name=f"{name}-model-sha256"),
                opts=child,
            )
            self.dependencies += [model_object, sidecar]
            self.model_sha256 = model.sha256
            self.model_uri = pulumi.Output.concat("s3://", args.bucket_name, "/", key)

        if args.repository_url is not None:
            repository_url = pulumi.Output.from_input(args.repository_url)
            token = aws.ecr.get_authorization_token_output(
                registry_id=args.registry_id, opts=pulumi.InvokeOptions(parent=self)
            )
            # Relative to the working directory (the project's, under the CLI): an
            # absolute path in the state would differ between a laptop and a CI runner.
            context = _relative(args.context)
            image = docker_build.Image(
                f"{name}-image",
                context=docker_build.BuildContextArgs(location=context),
                dockerfile=docker_build.DockerfileArgs(
                    location=str(Path(context) / release.DOCKERFILE)
                ),
                platforms=[docker_build.Platform(args.platform)],
                push=True,
                tags=[pulumi.Output.concat(repository_url, ":", args.image_tag)],
                registries=[
                    docker_build.RegistryArgs(
                        address=repository_url.apply(lambda url: url.split("/", 1)[0]),
                        username=token.user_name,
                        password=pulumi.Output.secret(token.password),
                    )
                ],
                # A preview needs no Docker: the digest is unknown until `pulumi up`.
                build_on_preview=False,
                opts=child,
            )
            self.dependencies.append(image)
            self.image_digest = image.digest
            self.image_ref = pulumi.Output.concat(
                repository_url, ":", args.image_tag, "@", image.digest
            )

        self.register_outputs(
            {
                "modelSha256": self.model_sha256,
                "modelUri": self.model_uri,
                "imageDigest": self.image_digest,
                "imageRef": self.image_ref,
            }
        )


def _relative(path: Path) -> str:
    """`path` relative to the working directory when it lies inside it, else absolute."""
    resolved, here = path.resolve(), Path.cwd().resolve()
    return str(resolved.relative_to(here)) if resolved.is_relative_to(here) else str(resolved)
