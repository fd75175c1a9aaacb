"""The one reader of `Pulumi.yaml` and `Pulumi.<stack>.yaml` outside the Pulumi CLI.

The offline preview, the manifests tool, preflight and the mocks kit all read a stack
the way the CLI would hand it to the program: config keys namespaced by the project,
structured values as JSON text. A YAML syntax error names the file, line and column
instead of a parser traceback, and a missing file or config key is a `ConfigError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.core.config import CONFIG_KEY, ConfigError, StackConfig, parse_stack_config

__all__ = ["DEFAULT_REGION", "StackFile", "read_stack_file", "read_yaml"]

DEFAULT_REGION = "us-west-2"
"""The region when a stack file sets no `aws:region` (the AWS provider has none)."""


@dataclass(frozen=True)
class StackFile:
    """A stack as the Pulumi CLI passes it to the program."""

    project: str
    stack: str
    config: dict[str, str]
    """Every config value by its full key (`project:key`); objects as JSON text."""

    @property
    def region(self) -> str:
        return self.config.get("aws:region", DEFAULT_REGION)

    @property
    def platform_key(self) -> str:
        return f"{self.project}:{CONFIG_KEY}"

    def platform(self) -> StackConfig:
        """The validated platform config; `ConfigError` naming the key path otherwise."""
        raw = self.config.get(self.platform_key)
        if raw is None:
            raise ConfigError(
                f"missing stack config {self.platform_key!r} in Pulumi.{self.stack}.yaml: "
                "see Pulumi.dev.yaml for a complete example"
            )
        return parse_stack_config(json.loads(raw), root=self.platform_key)


def read_yaml(path: Path) -> Any:
    """A YAML document; a syntax error becomes a `ConfigError` with file, line and column."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"no such file: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"{where}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: YAML syntax error: {exc}") from None


def read_stack_file(project_dir: Path, stack: str) -> StackFile:
    """`Pulumi.yaml`'s project name and `Pulumi.<stack>.yaml`'s config, as the CLI reads them."""
    project_doc = read_yaml(project_dir / "Pulumi.yaml")
    if not isinstance(project_doc, dict) or not isinstance(project_doc.get("name"), str):
        raise ConfigError(f"{project_dir / 'Pulumi.yaml'}: no project `name`")
    project = project_doc["name"]
    document = read_yaml(project_dir / f"Pulumi.{stack}.yaml") or {}
    if not isinstance(document, dict):
        raise ConfigError(f"Pulumi.{stack}.yaml: expected a mapping with a `config` key")
    values = document.get("config") or {}
    if not isinstance(values, dict):
        raise ConfigError(f"Pulumi.{stack}.yaml: `config` must be a mapping")
    config: dict[str, str] = {}
    for key, value in values.items():
        full = key if ":" in str(key) else f"{project}:{key}"
        config[full] = value if isinstance(value, str) else json.dumps(value)
    return StackFile(project=project, stack=stack, config=config)
