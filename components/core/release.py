"""What a stack publishes before its pods start: the model's bytes and the server image.

Pure decisions over local files, no Pulumi: the model file and its sha256 (which the
pod template carries, so changed bytes roll the pods and unchanged bytes change
nothing), the sidecar the server reads (`serving/repository.py`), the hash of the
image's build context (which names the pushed tag, so a changed server never collides
with an ECR repository's immutable tags), and the platform the target pool runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DOCKERFILE",
    "IMAGE_CONTEXT",
    "MODEL_FILE",
    "MODEL_SHA256_ANNOTATION",
    "SIDECAR_SUFFIX",
    "ModelArtifact",
    "context_hash",
    "image_platform",
    "image_tag",
    "model_artifact",
    "sidecar_text",
]

#: The file the server loads and its checksum sidecar (serving/repository.py).
MODEL_FILE = "model.onnx"
SIDECAR_SUFFIX = ".sha256"
#: The pod template's annotation holding the model's sha256: a new model rolls the pods.
MODEL_SHA256_ANNOTATION = "mlops.dev/model-sha256"
#: The server's Dockerfile, relative to the project directory (the build context).
DOCKERFILE = "serving/Dockerfile"
#: What the image's build context holds: `.dockerignore`'s `!` entries, in the same order
#: (tests/components/core/test_release.py keeps the two equal).
IMAGE_CONTEXT = (
    "serving/",
    "requirements-serving.lock",
    "pyproject.toml",
    "README.md",
    "models/iris/",
)
_SKIPPED = ("__pycache__",)
_SKIPPED_SUFFIXES = (".pyc",)

_PLATFORMS = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}


@dataclass(frozen=True)
class ModelArtifact:
    """A model folder's `model.onnx`, ready to upload."""

    path: Path
    sha256: str
    size: int


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_artifact(folder: str | Path) -> ModelArtifact:
    """The folder's `model.onnx` and its sha256; a sidecar there must agree with it.

    Raises `ValueError` naming the file: a missing model, or a sidecar that disagrees
    (the server would refuse the upload at start, after the rollout began).
    """
    root = Path(folder)
    path = root / MODEL_FILE
    if not path.is_file():
        raise ValueError(f"{path}: no such file (service.modelSource must hold {MODEL_FILE})")
    actual = _sha256(path)
    sidecar = root / (MODEL_FILE + SIDECAR_SUFFIX)
    if sidecar.is_file():
        words = sidecar.read_text().split()
        expected = words[0].lower() if words else ""
        if expected != actual:
            raise ValueError(
                f"{sidecar}: says sha256 {expected or '(empty)'} but {path} has {actual}; "
                f"regenerate it (sha256sum {MODEL_FILE} > {MODEL_FILE}{SIDECAR_SUFFIX})"
            )
    return ModelArtifact(path=path, sha256=actual, size=path.stat().st_size)


def sidecar_text(artifact: ModelArtifact) -> str:
    """The sidecar's body as `sha256sum` writes it, which the server parses."""
    return f"{artifact.sha256}  {MODEL_FILE}\n"


def _files(root: Path, entries: Iterable[str]) -> list[Path]:
    found: list[Path] = []
    for entry in entries:
        path = root / entry
        candidates = sorted(path.rglob("*")) if path.is_dir() else [path]
        for candidate in candidates:
            relative = candidate.relative_to(root)
            if not candidate.is_file() or candidate.suffix in _SKIPPED_SUFFIXES:
                continue
            if any(part in _SKIPPED for part in relative.parts):
                continue
            found.append(candidate)
    return found


def context_hash(root: str | Path, entries: Iterable[str] = IMAGE_CONTEXT) -> str:
    """A sha256 over the build context's file names and bytes (what the image is built
    from), so an unchanged server keeps its tag and a changed one gets a new tag."""
    base = Path(root)
    digest = hashlib.sha256()
    for path in _files(base, entries):
        digest.update(path.relative_to(base).as_posix().encode() + b"\0")
        digest.update(_sha256(path).encode() + b"\0")
    return digest.hexdigest()


def image_tag(version: str, context: str) -> str:
    """`<version>-<first 12 hex of the context hash>`: ECR's tags are immutable, so a
    rebuilt server must never reuse the tag of an earlier build."""
    return f"{version}-{context[:12]}"


def image_platform(architecture: str) -> str:
    """The OCI platform of a node pool's architecture (`x86_64` → `linux/amd64`)."""
    try:
        return _PLATFORMS[architecture]
    except KeyError:
        raise ValueError(f"no image platform for architecture {architecture!r}") from None
