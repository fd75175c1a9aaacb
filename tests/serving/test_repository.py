"""Model repository: local folders and S3 (moto), checksums, the cache, and start-up failures."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from serving.__main__ import main
from serving.repository import RepositoryError, fetch_model
from tests.serving.conftest import IRIS

MODEL = (IRIS / "model.onnx").read_bytes()
DIGEST = hashlib.sha256(MODEL).hexdigest()


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket="models")
        yield client


def put_model(s3: object, prefix: str, body: bytes = MODEL, digest: str | None = DIGEST) -> None:
    s3.put_object(Bucket="models", Key=f"{prefix}/model.onnx", Body=body)  # type: ignore[attr-defined]
    if digest is not None:
        s3.put_object(  # type: ignore[attr-defined]
            Bucket="models", Key=f"{prefix}/model.onnx.sha256", Body=f"{digest}  model.onnx\n"
        )


def test_a_local_folder_is_verified_by_its_sidecar(tmp_path: Path) -> None:
    model_file = fetch_model(str(IRIS), tmp_path)
    assert model_file.path == IRIS / "model.onnx" and model_file.sha256 == DIGEST

    shutil.copy(IRIS / "model.onnx", tmp_path / "model.onnx")
    (tmp_path / "model.onnx.sha256").write_text("0" * 64)
    with pytest.raises(
        RepositoryError, match=r"model.onnx: checksum mismatch: expected sha256 0+,"
    ):
        fetch_model(str(tmp_path), tmp_path / "cache")


def test_a_local_folder_without_model_or_sidecar_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match=r"/model.onnx: no such file"):
        fetch_model(str(tmp_path), tmp_path)
    (tmp_path / "model.onnx").write_bytes(MODEL)
    with pytest.raises(RepositoryError, match=r"model.onnx.sha256: no such file"):
        fetch_model(str(tmp_path), tmp_path)
    with pytest.raises(RepositoryError, match="unsupported scheme"):
        fetch_model("gs://bucket/model", tmp_path)


def test_s3_model_is_downloaded_verified_and_cached(s3: object, tmp_path: Path) -> None:
    put_model(s3, "iris/1")
    model_file = fetch_model("s3://models/iris/1", tmp_path)
    assert model_file.uri == "s3://models/iris/1/model.onnx"
    assert model_file.path == tmp_path / "models" / "iris" / "1" / "model.onnx"
    assert model_file.path.read_bytes() == MODEL

    # A cached copy with the right digest is used as is: the object may even be gone.
    s3.delete_object(Bucket="models", Key="iris/1/model.onnx")  # type: ignore[attr-defined]
    assert fetch_model("s3://models/iris/1/", tmp_path).path == model_file.path


def test_s3_object_checksum_stands_in_for_a_missing_sidecar(s3: object, tmp_path: Path) -> None:
    s3.put_object(  # type: ignore[attr-defined]
        Bucket="models",
        Key="iris/model.onnx",
        Body=MODEL,
        ChecksumAlgorithm="SHA256",  # as `aws s3 cp --checksum-algorithm SHA256` uploads it
    )
    assert fetch_model("s3://models/iris", tmp_path).sha256 == DIGEST


def test_s3_model_without_any_checksum_is_refused(s3: object, tmp_path: Path) -> None:
    put_model(s3, "bare", digest=None)
    with pytest.raises(RepositoryError, match=r"s3://models/bare/model.onnx: no checksum"):
        fetch_model("s3://models/bare", tmp_path)


def test_s3_checksum_mismatch_leaves_no_file_behind(s3: object, tmp_path: Path) -> None:
    put_model(s3, "bad", digest="f" * 64)
    with pytest.raises(RepositoryError, match=r"s3://models/bad/model.onnx: checksum mismatch"):
        fetch_model("s3://models/bad", tmp_path)
    assert list((tmp_path / "models" / "bad").iterdir()) == []


@pytest.mark.parametrize(
    ("setup", "uri", "expected"),
    [
        ("nothing", "s3://models/missing", "s3://models/missing/model.onnx: no such object"),
        ("sidecar-only", "s3://models/half", "s3://models/half/model.onnx: no such object"),
        ("mismatch", "s3://models/bad", "s3://models/bad/model.onnx: checksum mismatch"),
        ("nothing", "s3://no-bucket/m", "s3://no-bucket/m/model.onnx.sha256: no such bucket"),
    ],
)
def test_start_up_fails_with_one_line_naming_the_uri(
    s3: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    setup: str,
    uri: str,
    expected: str,
) -> None:
    if setup == "sidecar-only":
        s3.put_object(Bucket="models", Key="half/model.onnx.sha256", Body=DIGEST)  # type: ignore[attr-defined]
    elif setup == "mismatch":
        put_model(s3, "bad", digest="0" * 64)
    monkeypatch.setenv("SERVING_MODEL_REPOSITORY", uri)
    monkeypatch.setenv("SERVING_CACHE_DIR", str(tmp_path))
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    lines = capfd.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and '"level":"error"' in lines[0]
    assert f"cannot load model: {expected}" in lines[0]


def test_invalid_settings_fail_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SERVING_MODEL_REPOSITORY", raising=False)
    monkeypatch.setenv("SERVING_PORT", "eighty")
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    (line,) = capfd.readouterr().err.strip().splitlines()
    assert line.startswith("invalid settings: ")
    assert "SERVING_PORT='eighty': Input should be a valid integer" in line
    assert "SERVING_MODEL_REPOSITORY: Field required" in line


# --------------------------------------------------------------------------- least privilege


@pytest.fixture
def without_list_bucket(s3: object) -> Iterator[None]:
    """S3 as the pod's own policy sees it: a missing key answers 403 AccessDenied, not 404.

    moto does not evaluate IAM, so this answers as S3 does for a principal without
    s3:ListBucket on the bucket (S3 API reference, GetObject and HeadObject: "If you don't
    have the s3:ListBucket permission, Amazon S3 returns an HTTP status code 403 Access
    Denied error"). `test_the_stack_policy_lacks_list_bucket_for_object_reads` ties this
    to the policy the stack writes. The answer is given by a `before-call` hook on the
    default session, so the server's own `boto3.client("s3")` gets it unchanged.
    """
    from botocore.awsrequest import AWSResponse

    inspector = boto3.session.Session().client("s3")

    def remember(params: dict[str, str], context: dict[str, object], **_: object) -> None:
        context["object"] = (params["Bucket"], params["Key"])

    def deny_missing(context: dict[str, tuple[str, str]], **_: object) -> object:
        bucket, key = context["object"]
        try:
            inspector.head_object(Bucket=bucket, Key=key)
        except inspector.exceptions.ClientError:
            response = AWSResponse("https://s3.amazonaws.com", 403, {}, None)  # type: ignore[arg-type]
            error = {"Code": "AccessDenied", "Message": "Access Denied"}
            return response, {
                "Error": error,
                "ResponseMetadata": {"HTTPStatusCode": 403},
            }
        return None

    boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    assert session is not None
    for operation in ("GetObject", "HeadObject"):
        session.events.register(f"before-parameter-build.s3.{operation}", remember)
        session.events.register(f"before-call.s3.{operation}", deny_missing)
    try:
        yield
    finally:
        boto3.DEFAULT_SESSION = None


def test_the_stack_policy_lacks_list_bucket_for_object_reads() -> None:
    """The premise of the 403 fixture: the pod's policy grants s3:ListBucket only under an
    `s3:prefix` condition, a key a GetObject request never carries, so for an object read
    S3 finds no ListBucket permission and answers a missing key with 403."""
    from components.core.iam import model_reader

    statements = model_reader("arn:aws:s3:::models", "iris/1")["Statement"]
    listing = [s for s in statements if "s3:ListBucket" in str(s["Action"])]
    assert listing and all(s["Condition"]["StringLike"]["s3:prefix"] for s in listing)


@pytest.mark.usefixtures("without_list_bucket")
def test_a_denied_sidecar_falls_back_to_the_s3_checksum(s3: object, tmp_path: Path) -> None:
    s3.put_object(  # type: ignore[attr-defined]
        Bucket="models", Key="iris/2/model.onnx", Body=MODEL, ChecksumAlgorithm="SHA256"
    )
    with pytest.raises(Exception) as denied:
        boto3.client("s3").get_object(Bucket="models", Key="iris/2/model.onnx.sha256")
    assert "AccessDenied" in str(denied.value)  # the fixture answers as S3 would

    model_file = fetch_model("s3://models/iris/2", tmp_path)
    assert model_file.sha256 == DIGEST and model_file.path.read_bytes() == MODEL


@pytest.mark.usefixtures("without_list_bucket")
def test_a_denied_sidecar_still_uses_a_present_sidecar(s3: object, tmp_path: Path) -> None:
    put_model(s3, "iris/3")
    assert fetch_model("s3://models/iris/3", tmp_path).sha256 == DIGEST
    put_model(s3, "iris/4", digest="0" * 64)
    with pytest.raises(RepositoryError, match="checksum mismatch"):
        fetch_model("s3://models/iris/4", tmp_path)


@pytest.mark.usefixtures("without_list_bucket")
@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("bare", r"^s3://models/p/model.onnx: no checksum: upload s3://models/p/model.onnx.sha256"),
        ("nothing", r"^s3://models/p/model.onnx: access denied: no such object, or the pod's"),
    ],
)
def test_under_403_a_missing_checksum_or_model_is_one_clear_error(
    s3: object, tmp_path: Path, setup: str, expected: str
) -> None:
    if setup == "bare":
        put_model(s3, "p", digest=None)
    with pytest.raises(RepositoryError, match=expected) as error:
        fetch_model("s3://models/p", tmp_path)
    assert "\n" not in str(error.value)
