"""The one stack-file reader: what the CLI would pass, and errors that name file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.core.config import ConfigError
from components.core.stackfile import read_stack_file

ROOT = Path(__file__).resolve().parents[3]


def _project(tmp_path: Path, stack_text: str) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: demo\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text(stack_text)
    return tmp_path


def test_reads_the_shipped_dev_stack_as_the_cli_passes_it() -> None:
    stack = read_stack_file(ROOT, "dev")
    assert stack.project == "mlops-platform"
    assert stack.platform_key == "mlops-platform:platform"
    assert json.loads(stack.config["mlops-platform:platform"])["environment"] == "dev"
    assert stack.region == stack.config["aws:region"]
    assert stack.platform().cluster.name


def test_plain_keys_are_namespaced_by_the_project(tmp_path: Path) -> None:
    stack = read_stack_file(
        _project(tmp_path, "config:\n  size: 3\n  aws:region: eu-west-1\n"), "dev"
    )
    assert stack.config == {"demo:size": "3", "aws:region": "eu-west-1"}
    assert stack.region == "eu-west-1"


def test_a_yaml_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    project = _project(tmp_path, "config:\n  demo:platform:\n    environment: [dev\n")
    with pytest.raises(ConfigError) as info:
        read_stack_file(project, "dev")
    message = str(info.value)
    assert "Pulumi.dev.yaml:" in message
    assert "YAML syntax error" in message
    assert "Traceback" not in message


def test_a_missing_stack_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: demo\n")
    with pytest.raises(ConfigError, match=r"Pulumi\.qa\.yaml"):
        read_stack_file(tmp_path, "qa")


def test_a_missing_platform_key_is_named(tmp_path: Path) -> None:
    stack = read_stack_file(_project(tmp_path, "config:\n  aws:region: us-east-1\n"), "dev")
    with pytest.raises(ConfigError, match="demo:platform"):
        stack.platform()
