"""Every offline command refuses a broken stack file the same way: one line naming the
file, line and column (or the key path and value), exit status 2, no traceback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from components.offline import manifests, preflight, preview
from tests.conftest import ROOT, raw_stack_config

Main = Callable[[list[str]], int]
COMMANDS: dict[str, Main] = {
    "preview": preview.main,
    "manifests": manifests.main,
    "preflight": preflight.main,
}

BROKEN = "config:\n  aws:region: us-west-2\n  mlops-platform:platform:\n\tenvironment: dev\n"


def project(tmp_path: Path, text: str) -> Path:
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.dev.yaml").write_text(text)
    return tmp_path


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_yaml_syntax_error_names_file_and_line_and_exits_2(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = project(tmp_path, BROKEN)
    assert COMMANDS[command](["--stack", "dev", "--project-dir", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"{folder / 'Pulumi.dev.yaml'}:4:1: YAML syntax error" in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_bad_value_names_its_key_path_and_value_and_exits_2(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = raw_stack_config("dev")
    raw["service"]["cpuRequest"] = "500"
    text = json.dumps({"config": {"aws:region": "us-west-2", "mlops-platform:platform": raw}})
    folder = project(tmp_path, text)
    assert COMMANDS[command](["--stack", "dev", "--project-dir", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "service.cpuRequest: '500' is 500 CPU cores" in err, err
    assert "did you mean 500m?" in err
    assert "Traceback" not in err
