"""Where the model comes from: a local folder or `s3://bucket/prefix`, checked by sha256.

The folder or prefix holds `model.onnx` and `model.onnx.sha256` (the hex digest, optionally
followed by a file name as `sha256sum` writes it). For S3 the object's own full-object SHA256
checksum stands in for a missing sidecar, whether S3 answers its absence with 404 or, under
the stack's least-privilege policy (no unconditional s3:ListBucket), with 403. S3 uses
boto3's default credential chain, so IRSA and EKS Pod Identity work unchanged; downloads go
to the cache folder and are verified before use.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["MODEL_FILE", "ModelFile", "RepositoryError", "fetch_model", "sha256_of"]

MODEL_FILE = "model.onnx"
SIDECAR_SUFFIX = ".sha256"
_HEX_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_CHUNK = 1024 * 1024
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
_DENIED = frozenset({"AccessDenied", "403", "Forbidden"})


class RepositoryError(Exception):
    """The model cannot be fetched or verified; the message is one line naming the URI."""


@dataclass(frozen=True, slots=True)
class ModelFile:
    """A verified local copy of the model and the URI it came from."""

    path: Path
    uri: str
    sha256: str


def fetch_model(repository: str, cache_dir: Path) -> ModelFile:
    """Return a verified local `model.onnx` from a folder or an `s3://` repository."""
    if repository.startswith("s3://"):
        return _fetch_s3(repository, cache_dir)
    if "://" in repository:
        raise RepositoryError(
            f"{repository}: unsupported scheme; use a folder or s3://bucket/prefix"
        )
    try:
        return _fetch_local(Path(repository))
    except OSError as error:  # unreadable folder or file: permissions, a directory, I/O
        where = error.filename or repository
        reason = error.strerror or type(error).__name__
        raise RepositoryError(f"{where}: cannot read: {reason}") from None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _parse_sidecar(uri: str, text: bytes) -> str:
    token = text.decode("ascii", errors="replace").strip().split(maxsplit=1)
    if not token or not _HEX_SHA256.match(token[0]):
        raise RepositoryError(f"{uri}: not a hex sha256 digest")
    return token[0].lower()


def _verify(uri: str, actual: str, expected: str) -> None:
    if actual != expected:
        raise RepositoryError(f"{uri}: checksum mismatch: expected sha256 {expected}, got {actual}")


def _fetch_local(folder: Path) -> ModelFile:
    path = folder / MODEL_FILE
    uri = str(path)
    if not path.is_file():
        raise RepositoryError(f"{uri}: no such file")
    sidecar = folder / (MODEL_FILE + SIDECAR_SUFFIX)
    if not sidecar.is_file():
        raise RepositoryError(f"{sidecar}: no such file (the model's sha256 sidecar)")
    expected = _parse_sidecar(str(sidecar), sidecar.read_bytes())
    actual = sha256_of(path)
    _verify(uri, actual, expected)
    return ModelFile(path=path, uri=uri, sha256=actual)


def _fetch_s3(repository: str, cache_dir: Path) -> ModelFile:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, prefix = repository.removeprefix("s3://").partition("/")
    if not bucket:
        raise RepositoryError(f"{repository}: no bucket in the URI")
    key = f"{prefix.strip('/')}/{MODEL_FILE}".lstrip("/")
    uri = f"s3://{bucket}/{key}"
    client: S3Client = boto3.client("s3")
    try:
        expected = _expected_s3_checksum(client, bucket, key, uri)
        destination = cache_dir / bucket / key
        if destination.is_file() and sha256_of(destination) == expected:
            return ModelFile(path=destination, uri=uri, sha256=expected)
        _download(client, bucket, key, destination, uri, expected)
    except ClientError as error:
        raise RepositoryError(f"{uri}: {_describe(error)}") from None
    except BotoCoreError as error:
        raise RepositoryError(f"{uri}: {error}") from None
    return ModelFile(path=destination, uri=uri, sha256=expected)


def _expected_s3_checksum(client: S3Client, bucket: str, key: str, uri: str) -> str:
    from botocore.exceptions import ClientError

    sidecar_uri = uri + SIDECAR_SUFFIX
    try:
        body = client.get_object(Bucket=bucket, Key=key + SIDECAR_SUFFIX)["Body"].read()
        return _parse_sidecar(sidecar_uri, body)
    except ClientError as error:
        # The pod's policy (components/core/iam.py `model_reader`) grants s3:ListBucket
        # only under an `s3:prefix` condition, which a GetObject never carries; S3 then
        # answers a missing key with 403, not 404 (S3 API reference, GetObject:
        # "If you don't have the s3:ListBucket permission, Amazon S3 returns an HTTP
        # status code 403"). Both mean "no readable sidecar": fall back to S3's checksum.
        if _code(error) not in _MISSING | _DENIED:
            raise RepositoryError(f"{sidecar_uri}: {_describe(error)}") from None
    head = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    checksum = head.get("ChecksumSHA256")
    # A multipart upload's checksum is of its parts ("...-3"), not of the object.
    if (
        checksum
        and head.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT"
        and "-" not in checksum
    ):
        try:
            return base64.b64decode(checksum, validate=True).hex()
        except binascii.Error:
            pass
    raise RepositoryError(
        f"{uri}: no checksum: upload {sidecar_uri} or the object with a full-object SHA256 checksum"
    )


def _download(
    client: S3Client, bucket: str, key: str, destination: Path, uri: str, expected: str
) -> None:
    """Download to a temporary file beside the destination; only a verified copy replaces it."""
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".download-", dir=destination.parent)
    except OSError as error:
        raise RepositoryError(f"{uri}: cannot write to the cache folder: {error}") from None
    try:
        with os.fdopen(handle, "wb") as file:
            client.download_fileobj(bucket, key, file)
        _verify(uri, sha256_of(Path(temporary)), expected)
        os.replace(temporary, destination)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _code(error: Exception) -> str:
    response = getattr(error, "response", {}) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _describe(error: Exception) -> str:
    code = _code(error)
    if code in _MISSING:
        return "no such object"
    if code in {"NoSuchBucket"}:
        return "no such bucket"
    if code in _DENIED:
        return (
            "access denied: no such object, or the pod's IAM role may not read it "
            "(without s3:ListBucket S3 answers 403 for a missing key too)"
        )
    return f"{code or type(error).__name__}: {error}"
