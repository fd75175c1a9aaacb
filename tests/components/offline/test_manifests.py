"""`python -m components.offline.manifests`: the stack's objects as YAML files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from components.offline.manifests import main, read_stack
from components.testing import ACCOUNT_ID

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_writes_the_stack_objects_under_build(tmp_path: Path, stack: str) -> None:
    for name in ("Pulumi.yaml", f"Pulumi.{stack}.yaml"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    assert main(["--stack", stack, "--project-dir", str(tmp_path), "--bucket", "my-bucket"]) == 0
    files = sorted((tmp_path / "build" / stack / "manifests").glob("*.yaml"))
    objects = [yaml.safe_load(f.read_text()) for f in files]
    assert [o["kind"] for o in objects][:2] == ["Namespace", "ServiceAccount"]
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    env = {
        e["name"]: e.get("value")  # HOST_IP is `valueFrom` the pod's node
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["SERVING_MODEL_REPOSITORY"] == "s3://my-bucket/iris/1"
    assert env["AWS_REGION"] == "us-west-2"


def test_a_bad_stack_is_one_line_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    raw = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    raw["config"]["mlops-platform:platform"]["service"]["image"] = {"tag": "latest"}
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump(raw))
    assert main(["--stack", "dev", "--project-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "service.image.tag" in err and "latest" in err
    assert "Traceback" not in err


def test_read_stack_returns_the_region() -> None:
    config, region = read_stack(ROOT, "prod")
    assert region == "us-west-2"
    assert config.environment == "prod"


def _copy_stack(tmp_path: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    return tmp_path


def test_stack_outputs_fill_in_the_deployed_names(tmp_path: Path) -> None:
    project = _copy_stack(tmp_path)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps(
            {
                "modelBucketName": "models-abc123",
                "modelRepositoryUrl": "210987654321.dkr.ecr.us-west-2.amazonaws.com/models-x",
                "serviceRoleArn": "arn:aws:iam::210987654321:role/iris-reader-1",
                "clusterName": "ml-dev",
            }
        )
    )
    argv = ["--stack", "dev", "--project-dir", str(project), "--stack-outputs", str(outputs)]
    assert main([*argv, "--bucket", "flag-wins"]) == 0
    texts = [f.read_text() for f in (project / "build" / "dev" / "manifests").glob("*.yaml")]
    joined = "\n".join(texts)
    assert "PLACEHOLDER" not in joined and "replace-me" not in joined
    assert "s3://flag-wins/iris/1" in joined
    assert "210987654321.dkr.ecr.us-west-2.amazonaws.com/models-x:0.1.0" in joined
    assert "arn:aws:iam::210987654321:role/iris-reader-1" in joined


def test_without_outputs_every_placeholder_is_marked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _copy_stack(tmp_path)
    assert main(["--stack", "dev", "--project-dir", str(project)]) == 0
    files = sorted((project / "build" / "dev" / "manifests").glob("*.yaml"))
    for path in files:
        text = path.read_text()
        head = [line for line in text.splitlines() if line.startswith("# PLACEHOLDER")]
        assert [line.split(":")[0] for line in head] == [
            "# PLACEHOLDER bucket",
            "# PLACEHOLDER image_repository",
            "# PLACEHOLDER role_arn",
        ], path.name
        assert ACCOUNT_ID not in text
        assert yaml.safe_load(text)["kind"]  # still one valid YAML object
    deployment = next(f for f in files if "deployment" in f.name).read_text()
    assert "s3://replace-me-ml-dev-model-bucket/iris/1" in deployment
    assert "warning: placeholders" in capsys.readouterr().err


def test_a_bad_outputs_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = _copy_stack(tmp_path)
    (tmp_path / "o.json").write_text("[1, 2]")
    argv = ["--stack", "dev", "--project-dir", str(project), "--stack-outputs"]
    assert main([*argv, str(tmp_path / "o.json")]) == 2
    assert "expected the JSON object" in capsys.readouterr().err
