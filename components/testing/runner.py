"""Run a program or a whole stack (its `__main__.py` and `Pulumi.<stack>.yaml`) under the mocks."""

from __future__ import annotations

import asyncio
import contextvars
import json
import runpy
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec

import pulumi
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.core.stackfile import read_stack_file
from components.testing.mocks import PlatformMocks
from components.testing.records import StackRun

__all__ = ["load_stack_config_file", "pulumi_test", "run_program", "run_stack"]

_P = ParamSpec("_P")


def load_stack_config_file(project_dir: Path, stack: str) -> tuple[str, dict[str, str]]:
    """The project name and `Pulumi.<stack>.yaml` config as the CLI would pass it."""
    stack_file = read_stack_file(project_dir, stack)
    return stack_file.project, stack_file.config


@contextmanager
def _argv(program: Path) -> Iterator[None]:
    saved = list(sys.argv), list(sys.path)
    sys.argv = [str(program)]
    sys.path.insert(0, str(program.parent))
    try:
        yield
    finally:
        sys.argv, sys.path[:] = saved[0], saved[1]


def run_program(
    program: Callable[[], object],
    *,
    project: str = "project",
    stack: str = "test",
    config: Mapping[str, Any] | None = None,
    mocks: PlatformMocks | None = None,
    preview: bool = False,
    root_directory: str | Path | None = None,
) -> StackRun:
    """Run `program` (a function that builds resources) under the mocks and record it.

    `config` keys are `"namespace:key"` or `"key"` (put in the project's namespace);
    non-string values are passed as JSON, as the CLI does for structured config.
    Exceptions from the program or from a mocked AWS call propagate unchanged. Each call
    runs in a fresh context, so several runs in one process do not see each other.
    """
    full_config: dict[str, str] = {}
    for key, value in (config or {}).items():
        full = key if ":" in key else f"{project}:{key}"
        full_config[full] = value if isinstance(value, str) else json.dumps(value)
    kit = mocks or PlatformMocks(region=full_config.get("aws:region", "us-west-2"))

    def run() -> StackRun:
        # As `pulumi.runtime.test` does: a failed earlier run must not leak its RPCs here.
        SETTINGS.rpc_manager.clear()
        SETTINGS.outputs.clear()
        kit.install(project=project, stack=stack, preview=preview, root_directory=root_directory)
        pulumi.runtime.set_all_config(full_config)
        root = pulumi.runtime.get_root_resource()

        def call() -> None:
            program()

        _sync_await(run_pulumi_func(call))
        exported = getattr(root, "outputs", {})
        outputs = _sync_await(pulumi.Output.from_input(exported).future()) if exported else {}
        return StackRun(
            stack=stack,
            project=project,
            resources=list(kit.registrations),
            outputs=dict(outputs or {}),
            calls=list(kit.calls),
        )

    # A fresh event loop per run: the SDK's synchronous awaits use the current loop, and
    # code that ran before (asyncio.run in another test, say) may have closed or unset it.
    loop = asyncio.new_event_loop()
    previous = asyncio.get_event_loop_policy().get_event_loop() if _has_loop() else None
    asyncio.set_event_loop(loop)
    try:
        return contextvars.Context().run(run)
    finally:
        asyncio.set_event_loop(previous)
        loop.close()
        if mocks is None:
            kit.close()


def pulumi_test(fn: Callable[_P, object]) -> Callable[_P, None]:
    """`@pulumi.runtime.test`, typed: `fn` runs under the installed mocks and whatever it
    returns (an `Output`, an awaitable) is awaited before the call returns.

    The SDK's decorator has no annotations, so under `mypy --strict` it would make every
    test it decorates untyped; this is the same decorator with its real signature.
    """
    decorate: Callable[[Callable[_P, object]], Callable[_P, None]] = pulumi.runtime.test
    return decorate(fn)


def _has_loop() -> bool:
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        return False
    return True


def run_stack(
    stack: str,
    *,
    project_dir: str | Path = ".",
    mocks: PlatformMocks | None = None,
    config: Mapping[str, Any] | None = None,
    program: str = "__main__.py",
    preview: bool = False,
) -> StackRun:
    """Run a stack's program file under the mocks, with its `Pulumi.<stack>.yaml` config.

    `config` overrides or adds keys, as in `run_program`.
    """
    root_dir = Path(project_dir).resolve()
    project, stack_config = load_stack_config_file(root_dir, stack)
    merged: dict[str, Any] = {**stack_config, **(config or {})}
    path = root_dir / program

    def main() -> None:
        with _argv(path):
            runpy.run_path(str(path), run_name="__main__")

    return run_program(
        main,
        project=project,
        stack=stack,
        config=merged,
        mocks=mocks,
        preview=preview,
        root_directory=root_dir,
    )
