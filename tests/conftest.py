"""Shared fixtures: the repo root and the two stacks' raw configs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import hypothesis  # noqa: F401  (see below)
import pytest
import yaml

# Imported here, at collection, on purpose: when hypothesis's pytest plugin imports it
# lazily at the end of a run, CPython 3.11.7 can fail compiling the module with
# "SystemError: AST constructor recursion depth mismatch" after threaded Pulumi runs.

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
