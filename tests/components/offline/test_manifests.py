"""`python -m components.offline.manifests`: the stack's objects as YAML files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.offline.manifests import main, read_stack

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
        e["name"]: e["value"]
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
