"""Shared fixtures for the server's tests: settings, in-process apps, real server processes."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort
import pytest
from starlette.testclient import TestClient

from serving.app import create_app
from serving.settings import Settings
from tests.serving.models import write_slow_model

REPO = Path(__file__).resolve().parents[2]
IRIS = REPO / "models" / "iris" / "1"
IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def expected_iris(rows: list[list[float]]) -> list[np.ndarray]:
    """The demo model's outputs (labels, probabilities) for `rows`, from ONNX Runtime itself."""
    session = ort.InferenceSession(str(IRIS / "model.onnx"), providers=["CPUExecutionProvider"])
    return list(session.run(None, {"input": np.asarray(rows, dtype=np.float32)}))


def iris_request(rows: list[list[float]] | None = None, **extra: Any) -> dict[str, Any]:
    rows = IRIS_ROWS if rows is None else rows
    return {
        "inputs": [{"name": "input", "shape": [len(rows), 4], "datatype": "FP32", "data": rows}],
        **extra,
    }


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "model_repository": str(IRIS),
        "model_name": "iris",
        "cache_dir": "/tmp/serving-test-cache",
        # Never the default 8001: tests (and other checkouts' tests) run side by side.
        "grpc_port": free_port(),
    }
    values.update(overrides)
    return Settings(**values)


def wait_ready(client: TestClient | httpx.Client, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/v2/health/ready").status_code == 200:
            return
        time.sleep(0.01)
    raise AssertionError("server did not become ready")


class Batches:
    """The batches an in-process app has run, read from its batch-size histogram."""

    def __init__(self, client: TestClient) -> None:
        self._state = client.app.state.serving  # type: ignore[attr-defined]
        self._registry = self._state.metrics.registry
        self._labels = {"model": self._state.settings.model_name}

    def __call__(self) -> tuple[float, float]:
        """(batches run, rows in them) so far."""
        count = self._registry.get_sample_value("serving_batch_size_count", self._labels)
        rows = self._registry.get_sample_value("serving_batch_size_sum", self._labels)
        return count or 0.0, rows or 0.0

    def wait_queued(self, requests: int, timeout: float = 10.0) -> None:
        """Wait until the first of `requests` runs (held, say, at a gate of the test's loader)
        and every other one queues behind it."""
        deadline = time.monotonic() + timeout
        while True:
            count, rows = self()
            if count == 1 and self._state.served.batcher.queued + rows == requests:
                return
            assert time.monotonic() < deadline, f"{requests} requests never queued: {self()}"
            time.sleep(0.005)


@pytest.fixture
def app_client() -> Iterator[Callable[..., TestClient]]:
    """Factory: a started, ready TestClient for `create_app(make_settings(**overrides))`."""
    clients: list[TestClient] = []

    def start(ready: bool = True, **kwargs: Any) -> TestClient:
        load = kwargs.pop("load", None)
        client = TestClient(create_app(make_settings(**kwargs), load=load))
        client.__enter__()
        clients.append(client)
        if ready:
            wait_ready(client)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture(scope="module")
def iris_client() -> Iterator[TestClient]:
    """One ready in-process iris server for the read-only tests of a module."""
    with TestClient(create_app(make_settings())) as client:
        wait_ready(client)
        yield client


@pytest.fixture(autouse=True)
def _fresh_event_loop_policy() -> Iterator[None]:
    """`asyncio.run` leaves the main thread marked as having had its loop unset; later tests
    (Pulumi's, which call `asyncio.get_event_loop()`) need a policy that makes a new one."""
    yield
    asyncio.set_event_loop_policy(None)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`main()` configures the root logger; put it back for the next test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """`python -m serving` in a child process, on a free port."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.grpc_port = free_port()
        self.grpc_target = f"127.0.0.1:{self.grpc_port}"
        full_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SERVING_")},
            "SERVING_HOST": "127.0.0.1",
            "SERVING_PORT": str(self.port),
            "SERVING_GRPC_PORT": str(self.grpc_port),
            "SERVING_CACHE_DIR": "/tmp/serving-test-cache",
            **env,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "serving"],
            cwd=REPO,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 90.0) -> None:
        # Generous: on a loaded 2-core machine, workers importing and warming up take a while.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited early: {self.process.communicate()}")
            try:
                if httpx.get(self.url + "/v2/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError("server did not become ready")

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=10)


@pytest.fixture
def server_process() -> Iterator[Callable[[dict[str, str]], ServerProcess]]:
    started: list[ServerProcess] = []

    def start(env: dict[str, str]) -> ServerProcess:
        server = ServerProcess(env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def start_slow_server(
    server_process: Callable[[dict[str, str]], ServerProcess],
    folder: Path,
    workers: int,
    **env: str,
) -> ServerProcess:
    """A ready server process of the slow model (written to `folder`), named "slow", with
    deadlines long enough for a drain test; `env` adds or overrides SERVING_* variables."""
    # Over a second per inference: with workers the in-flight gauge reaches /metrics once a
    # second, so shorter inferences could all finish between two samples.
    write_slow_model(folder, iterations=600_000)
    server = server_process(
        {
            "SERVING_MODEL_REPOSITORY": str(folder),
            "SERVING_MODEL_NAME": "slow",
            "SERVING_WORKERS": str(workers),
            "SERVING_REQUEST_TIMEOUT_MS": "60000",
            "SERVING_DRAIN_TIMEOUT_SECONDS": "60",
            **env,
        }
    )
    server.wait_ready()
    return server
