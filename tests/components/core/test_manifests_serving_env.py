"""The container's `SERVING_*` environment is exactly what the server's settings read.

`core/manifests/` writes the environment and `serving/settings.py` (pydantic-settings,
`extra="forbid"`) reads it; the two live in separate packages (the server image ships
only `serving/`), so this test is what keeps them agreeing.
"""

from __future__ import annotations

import json
import os
import typing
from typing import Any

import pytest
from pydantic import BaseModel

from components.core.config import LogLevel, ModelServiceConfig, parse_stack_config
from components.core.manifests import ENV_PREFIX, stack_manifests
from serving.settings import Settings
from tests.conftest import raw_stack_config


def serving_env(stack: str, **server: Any) -> dict[str, str]:
    raw = raw_stack_config(stack)
    raw["service"].setdefault("server", {}).update(server)
    objects = stack_manifests(parse_stack_config(raw), region="us-west-2")
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"] if e["name"].startswith(ENV_PREFIX)}


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_rendered_environment_is_accepted_and_every_key_consumed(
    stack: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = serving_env(stack)
    # pydantic-settings ignores a prefixed variable that names no field (extra="forbid"
    # covers only init arguments), so a misspelt key would pass silently: check by name.
    assert ENV_PREFIX == Settings.model_config["env_prefix"] == "SERVING_"
    unknown = [n for n in env if n.removeprefix(ENV_PREFIX).lower() not in Settings.model_fields]
    assert unknown == []
    settings = settings_from(env, monkeypatch)
    # Every key reached its field: the value read back is the value written.
    for name, value in env.items():
        field = name.removeprefix(ENV_PREFIX).lower()
        read = getattr(settings, field)
        if isinstance(read, bool):
            assert read is (value == "true"), name
        elif isinstance(read, dict):
            assert read == json.loads(value), name
        else:
            assert str(read) == value or type(read)(value) == read, name
    assert settings.model_repository == env["SERVING_MODEL_REPOSITORY"]


def test_every_log_level_the_config_allows_the_server_accepts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The config's `LogLevel` (what `server.logLevel` takes) and the server's are one set."""
    server = ModelServiceConfig.model_fields["server"].annotation
    assert isinstance(server, type) and issubclass(server, BaseModel)
    # `object`: mypy would call comparing a field's annotation with a Literal alias never-equal.
    annotation: object = server.model_fields["log_level"].annotation
    assert annotation == LogLevel
    config_levels = typing.get_args(LogLevel)
    server_levels = typing.get_args(Settings.model_fields["log_level"].annotation)
    assert set(config_levels) == set(server_levels)
    for level in config_levels:
        env = serving_env("dev", logLevel=level)
        assert settings_from(env, monkeypatch).log_level == level


def test_the_emf_settings_are_accepted_once_the_kubelet_expands_the_node_ip(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Kubernetes expands `$(HOST_IP)` from the variable defined before it (the Kubernetes
    API reference, EnvVar `value`: "Variable references $(VAR_NAME) are expanded using the
    previously defined environment variables in the container")."""
    env = serving_env("prod")
    assert env["SERVING_EMF_ENDPOINT"] == "udp://$(HOST_IP):25888"
    env["SERVING_EMF_ENDPOINT"] = env["SERVING_EMF_ENDPOINT"].replace("$(HOST_IP)", "10.0.1.7")
    settings = settings_from(env, monkeypatch)
    assert settings.emf_endpoint == "udp://10.0.1.7:25888"
    assert (
        settings.emf_log_group
        == f"/aws/containerinsights/{settings.emf_dimensions['ClusterName']}/server-metrics"
    )
    assert set(settings.emf_dimensions) == {"ClusterName", "Namespace", "Service"}
    assert "SERVING_EMF_ENDPOINT" not in serving_env("dev")
