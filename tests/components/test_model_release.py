"""ModelRelease under the mocks kit: the stack publishes the model and the image before the
pods need them, and the Deployment runs exactly what it published."""

from __future__ import annotations

import hashlib
import shutil
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from components.config import ConfigError
from components.testing import PlatformMocks, Registration, StackRun, reveal_secrets, run_stack
from tests.conftest import ROOT, raw_stack_config

IMAGE = "docker-build:index:Image"
OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
BUNDLED = ROOT / "models" / "iris" / "1" / "model.onnx"


@cache
def stack(name: str) -> StackRun:
    return run_stack(name, project_dir=ROOT)


def container(run: StackRun) -> dict[str, Any]:
    (deployment,) = run.by_type(DEPLOYMENT)
    return dict(deployment.inputs["spec"]["template"]["spec"]["containers"][0])


def objects(run: StackRun) -> dict[str, Registration]:
    return {o.inputs["key"]: o for o in run.by_type(OBJECT)}


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_deployment_waits_for_the_uploaded_model_and_the_built_image(name: str) -> None:
    run = stack(name)
    (deployment,) = run.by_type(DEPLOYMENT)
    image = run.one(IMAGE)
    uploaded = objects(run)
    assert set(uploaded) == {"iris/1/model.onnx", "iris/1/model.onnx.sha256"}
    for resource in [image, *uploaded.values()]:
        assert resource.urn in deployment.dependencies, resource.name
    # The pods run the pushed image by its digest, under the tag that was pushed.
    (tag,) = image.inputs["tags"]
    digest = image.outputs["digest"]
    assert digest.startswith("sha256:") and len(digest) == 71
    assert container(run)["image"] == f"{tag}@{digest}"
    assert container(run)["imagePullPolicy"] == "IfNotPresent"
    repository = run.one("aws:ecr/repository:Repository").outputs["repositoryUrl"]
    assert tag.startswith(f"{repository}:0.1.0-")
    assert run.outputs["serviceImage"] == f"{tag}@{digest}"


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_image_is_built_from_serving_dockerfile_and_pushed_with_ecr_credentials(
    name: str,
) -> None:
    run = stack(name)
    inputs = run.one(IMAGE).inputs
    assert inputs["push"] is True
    assert inputs["buildOnPreview"] is False  # a preview needs no Docker
    assert inputs["context"] == {"location": "."}
    assert inputs["dockerfile"] == {"location": "serving/Dockerfile"}
    assert inputs["platforms"] == ["linux/amd64"]  # the service's pool is x86_64
    repository = run.one("aws:ecr/repository:Repository").outputs["repositoryUrl"]
    (registry,) = reveal_secrets(inputs["registries"])
    assert registry["address"] == repository.split("/", 1)[0]
    assert (registry["username"], registry["password"]) == ("AWS", "offline-token")
    calls = [a for t, a in run.calls if t.startswith("aws:ecr/getAuthorizationToken")]
    assert calls and calls[0]["registryId"] == "123456789012"


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_model_is_uploaded_with_its_checksum_and_sidecar(name: str) -> None:
    run = stack(name)
    bucket = run.one("aws:s3/bucket:Bucket").outputs["bucket"]
    uploaded = objects(run)
    model, sidecar = uploaded["iris/1/model.onnx"], uploaded["iris/1/model.onnx.sha256"]
    sha = hashlib.sha256(BUNDLED.read_bytes()).hexdigest()
    for obj in (model, sidecar):
        assert obj.inputs["bucket"] == bucket
        assert obj.inputs["checksumAlgorithm"] == "SHA256"
    assert Path(model.inputs["source"].path).resolve() == BUNDLED
    assert sidecar.inputs["content"] == f"{sha}  model.onnx\n"
    (deployment,) = run.by_type(DEPLOYMENT)
    annotations = deployment.inputs["spec"]["template"]["metadata"]["annotations"]
    assert annotations["mlops.dev/model-sha256"] == sha
    assert run.outputs["modelSha256"] == sha


def _with_model(tmp_path: Path, body: bytes | None) -> StackRun:
    folder = tmp_path / "model"
    folder.mkdir(parents=True)
    if body is None:
        shutil.copy(BUNDLED, folder / "model.onnx")
    else:
        (folder / "model.onnx").write_bytes(body)
    raw = raw_stack_config("dev")
    raw["service"]["modelSource"] = str(folder)
    return run_stack("dev", project_dir=ROOT, config={"platform": raw})


def test_unchanged_bytes_change_nothing_and_new_bytes_roll_the_pods(tmp_path: Path) -> None:
    """Same bytes from another folder: the Deployment's inputs are identical (no roll).
    New bytes: only the pod template's model annotation (and the object's file) differ,
    so the pods roll onto the new model and nothing else changes."""
    base = stack("dev")
    (before,) = base.by_type(DEPLOYMENT)
    (same,) = _with_model(tmp_path / "same", None).by_type(DEPLOYMENT)
    assert same.inputs == before.inputs
    changed = _with_model(tmp_path / "new", b"other model bytes")
    (after,) = changed.by_type(DEPLOYMENT)
    new_sha = hashlib.sha256(b"other model bytes").hexdigest()
    template = after.inputs["spec"]["template"]
    assert template["metadata"]["annotations"]["mlops.dev/model-sha256"] == new_sha
    old_template = before.inputs["spec"]["template"]
    assert template["spec"] == old_template["spec"]
    assert objects(changed)["iris/1/model.onnx.sha256"].inputs["content"].startswith(new_sha)


def test_an_existing_image_runs_by_digest_and_nothing_is_built() -> None:
    raw = raw_stack_config("prod")
    repository = "210987654321.dkr.ecr.us-west-2.amazonaws.com/shared/server"
    digest = "sha256:" + "c" * 64
    raw["service"]["image"] = {"repository": repository, "tag": "2.0.0", "digest": digest}
    run = run_stack("prod", project_dir=ROOT, config={"platform": raw})
    assert not run.by_type(IMAGE)
    assert container(run)["image"] == f"{repository}:2.0.0@{digest}"
    (deployment,) = run.by_type(DEPLOYMENT)
    assert {o.urn for o in run.by_type(OBJECT)} <= set(deployment.dependencies)


def test_an_existing_image_must_be_pinned_by_digest() -> None:
    raw = raw_stack_config("prod")
    raw["service"]["image"] = {"repository": "ghcr.io/acme/server", "tag": "2.0.0"}
    with pytest.raises(ConfigError, match=r"pin it by image\.digest"):
        run_stack("prod", project_dir=ROOT, config={"platform": raw})


def test_a_missing_model_folder_fails_before_any_resource(tmp_path: Path) -> None:
    raw = raw_stack_config("dev")
    raw["service"]["modelSource"] = str(tmp_path / "nowhere")
    kit = PlatformMocks()
    try:
        with pytest.raises(ConfigError, match=r"service\.modelSource: .*model\.onnx: no such file"):
            run_stack("dev", project_dir=ROOT, config={"platform": raw}, mocks=kit)
        assert kit.registrations == []
    finally:
        kit.close()


def test_no_model_source_uploads_nothing() -> None:
    raw = raw_stack_config("dev")
    raw["service"]["modelSource"] = None
    run = run_stack("dev", project_dir=ROOT, config={"platform": raw})
    assert not run.by_type(OBJECT)
    (deployment,) = run.by_type(DEPLOYMENT)
    assert "mlops.dev/model-sha256" not in deployment.inputs["spec"]["template"]["metadata"].get(
        "annotations", {}
    )
