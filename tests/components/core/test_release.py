"""The pure decisions behind what a stack publishes: the model's sha256, the context hash."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from components.core import release
from tests.conftest import ROOT

MODEL = ROOT / "models" / "iris" / "1"


def test_the_bundled_model_and_its_sidecar_agree() -> None:
    artifact = release.model_artifact(MODEL)
    assert artifact.path == MODEL / "model.onnx"
    assert artifact.sha256 == hashlib.sha256((MODEL / "model.onnx").read_bytes()).hexdigest()
    assert artifact.size == (MODEL / "model.onnx").stat().st_size
    # The sidecar the stack uploads parses as the server parses it (serving/repository.py).
    from serving.repository import _parse_sidecar

    body = release.sidecar_text(artifact).encode()
    assert _parse_sidecar("s3://b/iris/1/model.onnx.sha256", body) == artifact.sha256


def test_a_stale_sidecar_or_a_missing_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"model\.onnx: no such file"):
        release.model_artifact(tmp_path)
    (tmp_path / "model.onnx").write_bytes(b"new bytes")
    assert release.model_artifact(tmp_path).sha256 == hashlib.sha256(b"new bytes").hexdigest()
    (tmp_path / "model.onnx.sha256").write_text("0" * 64 + "  model.onnx\n")
    with pytest.raises(ValueError, match=r"model\.onnx\.sha256: says sha256 0{64} but"):
        release.model_artifact(tmp_path)


def test_the_context_hash_follows_the_image_sources_only(tmp_path: Path) -> None:
    for entry in release.IMAGE_CONTEXT:
        source = ROOT / entry
        if source.is_dir():
            shutil.copytree(source, tmp_path / entry, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / entry)
    before = release.context_hash(tmp_path)
    assert before == release.context_hash(ROOT)
    # Outside the image's context, or bytecode: the same image, the same tag.
    (tmp_path / "notes.txt").write_text("not in the image")
    (tmp_path / "serving" / "__pycache__").mkdir(exist_ok=True)
    (tmp_path / "serving" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    assert release.context_hash(tmp_path) == before
    # A changed server file: a new hash, so a new tag (ECR's tags are immutable).
    app = tmp_path / "serving" / "app.py"
    app.write_text(app.read_text() + "\n# changed\n")
    after = release.context_hash(tmp_path)
    assert after != before
    assert release.image_tag("0.1.0", after) == f"0.1.0-{after[:12]}"


def test_the_image_context_is_what_dockerignore_lets_in() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = tuple(line[1:] for line in lines if line.startswith("!"))
    assert allowed == release.IMAGE_CONTEXT
    assert (ROOT / release.DOCKERFILE).is_file()


def test_image_platforms_follow_the_pool_architecture() -> None:
    assert release.image_platform("x86_64") == "linux/amd64"
    assert release.image_platform("arm64") == "linux/arm64"
    with pytest.raises(ValueError, match="'sparc'"):
        release.image_platform("sparc")
