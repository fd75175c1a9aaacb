"""Shared fixtures: the repo root and the two stacks' raw configs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG_KEY = "mlops-platform:platform"


def raw_stack_config(stack: str) -> dict[str, Any]:
    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    return copy.deepcopy(document["config"][CONFIG_KEY])


@pytest.fixture
def dev_raw() -> dict[str, Any]:
    return raw_stack_config("dev")


@pytest.fixture
def prod_raw() -> dict[str, Any]:
    return raw_stack_config("prod")
