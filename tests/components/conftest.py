"""The two stacks run once per test session under the mocks kit, shared by every reader.

A stack run takes seconds; most tests only read what it recorded. They take `dev`,
`prod` or `stack` (both, parametrized), or call `shared_run(name)`. A test that changes
the config, the mocks or anything a run records makes its own run with `run_stack`.
A test of one component builds it under `kit`, a fresh set of mocks of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

import pytest

from components.testing import PlatformMocks, StackRun, run_stack
from tests.conftest import ROOT

STACKS = ("dev", "prod")


@cache
def shared_run(name: str) -> StackRun:
    """The session's one run of stack `name`: read it, never change it."""
    return run_stack(name, project_dir=ROOT)


@pytest.fixture(scope="session")
def dev() -> StackRun:
    return shared_run("dev")


@pytest.fixture(scope="session")
def prod() -> StackRun:
    return shared_run("prod")


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> StackRun:
    return shared_run(request.param)


@pytest.fixture
def kit() -> Iterator[PlatformMocks]:
    """Fresh mocks installed for one test's component (project mlops-platform, stack dev)."""
    mocks = PlatformMocks()
    mocks.install(project="mlops-platform", stack="dev")
    yield mocks
    mocks.close()
