"""The HTTP surface in process: routes, the status table, admission control, readiness, metrics."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
from starlette.testclient import TestClient

from serving.app import create_app
from serving.runtime import OnnxModel
from tests.serving.conftest import (
    IRIS,
    IRIS_ROWS,
    Batches,
    expected_iris,
    iris_request,
    make_settings,
    wait_ready,
)

INFER = "/v2/models/iris/infer"


class GatedModel(OnnxModel):
    """The iris model, held at a gate inside `predict` so a test can keep requests in flight."""

    gate: threading.Event | None = None
    armed = False

    def predict(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.armed and self.gate is not None:
            self.gate.wait(10)
        return super().predict(feeds)

    def warm_up(self, *, rows: int = 1, source: str = "") -> float:
        super().warm_up(rows=rows, source=source)
        self.armed = True
        return 1.0  # report a slow model, so the server runs it on its inference thread


def gated_loader(gate: threading.Event) -> Callable[[], tuple[OnnxModel, str]]:
    def load() -> tuple[OnnxModel, str]:
        model = GatedModel.load(IRIS / "model.onnx")
        model.gate = gate
        return model, "gated"

    return load


def error(response: httpx.Response) -> str:
    assert response.headers["content-type"] == "application/json"
    document = orjson.loads(response.content)
    assert list(document) == ["error"]
    return str(document["error"])


def test_infer_returns_the_models_outputs(iris_client: TestClient) -> None:
    response = iris_client.post(INFER, content=orjson.dumps(iris_request(id="r-1")))
    assert response.status_code == 200
    document = response.json()
    assert document["model_name"] == "iris" and document["model_version"] == "1"
    assert document["id"] == "r-1"
    labels, probabilities = expected_iris(IRIS_ROWS)
    outputs = {output["name"]: output for output in document["outputs"]}
    assert outputs["label"] == {
        "name": "label",
        "datatype": "INT64",
        "shape": [2],
        "data": labels.tolist(),
    }
    assert outputs["probabilities"]["shape"] == [2, 3]
    np.testing.assert_allclose(outputs["probabilities"]["data"], probabilities.ravel(), rtol=1e-6)


def test_versioned_route_and_requested_outputs(iris_client: TestClient) -> None:
    request = iris_request(outputs=[{"name": "probabilities"}])
    response = iris_client.post("/v2/models/iris/versions/1/infer", content=orjson.dumps(request))
    assert response.status_code == 200
    assert [output["name"] for output in response.json()["outputs"]] == ["probabilities"]


def test_metadata_comes_from_the_onnx_graph(iris_client: TestClient) -> None:
    for path in ("/v2/models/iris", "/v2/models/iris/versions/1"):
        document = iris_client.get(path).json()
        assert document["name"] == "iris" and document["versions"] == ["1"]
        assert document["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
        assert document["outputs"] == [
            {"name": "label", "datatype": "INT64", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]},
        ]
    server = iris_client.get("/v2").json()
    assert server["name"] == "mlops-serving" and server["extensions"] == ["binary_tensor_data"]


def test_health_and_model_readiness(iris_client: TestClient) -> None:
    assert iris_client.get("/v2/health/live").status_code == 200
    assert iris_client.get("/v2/health/ready").status_code == 200
    assert iris_client.get("/v2/models/iris/ready").status_code == 200
    assert iris_client.get("/v2/models/iris/versions/1/ready").status_code == 200
    assert iris_client.get("/v2/models/other/ready").status_code == 404


def test_openapi_description_is_served(iris_client: TestClient) -> None:
    document = iris_client.get("/v2/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert "/v2/models/{model_name}/infer" in document["paths"]
    assert "InferenceRequest" in document["components"]["schemas"]


@pytest.mark.parametrize(
    ("path", "content", "status", "expected"),
    [
        (INFER, b"{not json", 400, "request body is not valid JSON"),
        (INFER, b"", 400, "request body is not valid JSON"),
        (
            INFER,
            orjson.dumps(
                {
                    "inputs": [
                        {"name": "input", "shape": [1, 4], "datatype": "INT8", "data": [1.5] * 4}
                    ]
                }
            ),
            400,
            "input 'input': datatype INT8 does not match the model's datatype FP32",
        ),
        (
            INFER,
            orjson.dumps(
                {
                    "inputs": [
                        {"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [1] * 3}
                    ]
                }
            ),
            400,
            "input 'input': shape [1, 3] does not match the model's [-1, 4]",
        ),
        (
            INFER,
            orjson.dumps(
                {
                    "inputs": [
                        {"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1] * 5}
                    ]
                }
            ),
            400,
            "input 'input': shape [1, 4] needs 4 values, 'data' has 5",
        ),
        (
            INFER,
            orjson.dumps(
                {"inputs": [{"name": "other", "shape": [1], "datatype": "FP32", "data": [1]}]}
            ),
            400,
            "unknown input 'other'; the model expects 'input'",
        ),
        (
            INFER,
            orjson.dumps(iris_request([[1e39, 1, 1, 1]])),
            400,
            "not a finite FP32 number",
        ),
        (
            "/v2/models/nope/infer",
            orjson.dumps(iris_request()),
            404,
            "model 'nope' not found; serving 'iris'",
        ),
        (
            "/v2/models/iris/versions/7/infer",
            orjson.dumps(iris_request()),
            404,
            "model 'iris' has no version '7'; serving version '1'",
        ),
        ("/v2/nowhere", b"{}", 404, "no route POST /v2/nowhere"),
        ("/v2/health/live", b"{}", 405, "method POST is not allowed on /v2/health/live"),
    ],
)
def test_bad_requests_get_their_status_and_a_json_error(
    iris_client: TestClient, path: str, content: bytes, status: int, expected: str
) -> None:
    response = iris_client.post(path, content=content)
    assert response.status_code == status
    assert expected in error(response)
    # The server stays up and serves the next request.
    assert iris_client.post(INFER, content=orjson.dumps(iris_request())).status_code == 200


def test_unknown_model_metadata_is_404(iris_client: TestClient) -> None:
    response = iris_client.get("/v2/models/nope")
    assert response.status_code == 404
    assert "model 'nope' not found" in error(response)


def test_a_body_over_the_limit_gets_413_before_it_is_parsed(
    app_client: Callable[..., TestClient],
) -> None:
    client = app_client(max_body_bytes=1024)
    # Not JSON at all: a 413 proves the body was refused before anyone tried to parse it.
    response = client.post(INFER, content=b"x" * 2048)
    assert response.status_code == 413
    assert error(response) == "request body of 2048 bytes exceeds the limit of 1024"

    def chunks() -> Iterator[bytes]:
        yield b"x" * 1000
        yield b"x" * 1000

    response = client.post(INFER, content=chunks())  # chunked: no Content-Length
    assert response.status_code == 413
    assert error(response) == "request body exceeds the limit of 1024 bytes"


def test_readiness_is_false_until_the_model_is_loaded_and_warm(
    app_client: Callable[..., TestClient],
) -> None:
    release = threading.Event()

    def slow_load() -> tuple[OnnxModel, str]:
        release.wait(10)
        return OnnxModel.load(IRIS / "model.onnx"), "slow"

    client = app_client(ready=False, load=slow_load)
    assert client.get("/v2/health/live").status_code == 200
    for path in ("/v2/health/ready", "/v2/models/iris/ready", "/v2/models/iris"):
        response = client.get(path)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert error(response) == "model 'iris' is loading"
    response = client.post(INFER, content=orjson.dumps(iris_request()))
    assert response.status_code == 503 and error(response) == "model 'iris' is loading"
    release.set()
    wait_ready(client)
    assert client.post(INFER, content=orjson.dumps(iris_request())).status_code == 200


def test_a_failed_load_keeps_readiness_false_and_says_why(
    app_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    (tmp_path / "model.onnx").write_bytes(b"not onnx")

    def load() -> tuple[OnnxModel, str]:
        return OnnxModel.load(tmp_path / "model.onnx", source="s3://b/m/model.onnx"), "x"

    client = app_client(ready=False, load=load)
    deadline = time.monotonic() + 10
    while "loading" in error(response := client.get("/v2/health/ready")):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert response.status_code == 503
    assert error(response).startswith("cannot load model: s3://b/m/model.onnx: not a loadable")


def test_past_the_inflight_limit_requests_get_503_with_retry_after(
    app_client: Callable[..., TestClient],
) -> None:
    gate = threading.Event()
    client = app_client(load=gated_loader(gate), max_inflight=2)
    state = client.app.state.serving  # type: ignore[attr-defined]
    with ThreadPoolExecutor(2) as pool:
        held = [pool.submit(client.post, INFER, content=orjson.dumps(iris_request())) for _ in "ab"]
        deadline = time.monotonic() + 10
        while state.inflight < 2:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        response = client.post(INFER, content=orjson.dumps(iris_request()))
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert error(response) == "server is at its limit of 2 requests in flight"
        gate.set()
        assert [future.result().status_code for future in held] == [200, 200]
    assert client.post(INFER, content=orjson.dumps(iris_request())).status_code == 200


def test_a_request_past_its_deadline_gets_504(app_client: Callable[..., TestClient]) -> None:
    gate = threading.Event()
    client = app_client(load=gated_loader(gate), request_timeout_ms=50)
    response = client.post(INFER, content=orjson.dumps(iris_request()))
    assert response.status_code == 504
    assert error(response) == "deadline of 50 ms exceeded"
    gate.set()
    # The gated batch finishes after its 504; a request sent while it still runs would be
    # refused (503) from the pace of that slow batch, which is admission doing its job.
    batcher = client.app.state.serving.served.batcher  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while batcher.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.post(INFER, content=orjson.dumps(iris_request())).status_code == 200


def test_while_draining_readiness_and_new_requests_get_503(
    app_client: Callable[..., TestClient],
) -> None:
    client = app_client()
    client.app.state.serving.begin_drain()  # type: ignore[attr-defined]
    response = client.get("/v2/health/ready")
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert error(response) == "server is shutting down"
    response = client.post(INFER, content=orjson.dumps(iris_request()))
    assert response.status_code == 503 and error(response) == "server is shutting down"
    assert client.get("/v2/health/live").status_code == 200


def test_metrics_are_exposed_after_traffic(app_client: Callable[..., TestClient]) -> None:
    client = app_client()
    client.post(INFER, content=orjson.dumps(iris_request()))
    client.post(INFER, content=b"{")
    text = client.get("/metrics").text
    for line in (
        'serving_requests_total{model="iris",protocol="rest",status="200"} 1.0',
        'serving_requests_total{model="iris",protocol="rest",status="400"} 1.0',
        'serving_request_duration_seconds_count{model="iris",protocol="rest"} 1.0',
        'serving_batch_size_count{model="iris"} 1.0',
        'serving_batch_size_sum{model="iris"} 2.0',
        "serving_queue_wait_seconds_count",
        "serving_inflight_requests 0.0",
        'serving_model_load_seconds{model="iris"}',
    ):
        assert line in text


class FaultyModel(OnnxModel):
    """The iris model, failing outside ONNX Runtime's errors on one particular value."""

    def predict(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if (feeds["input"] == 13).any():
            raise RuntimeError("unlucky row")
        return super().predict(feeds)


@pytest.mark.parametrize("fast", [True, False], ids=["event-loop", "inference-thread"])
def test_an_unexpected_error_is_a_500_for_that_request_only(
    app_client: Callable[..., TestClient], fast: bool
) -> None:
    def load() -> tuple[OnnxModel, str]:
        model = FaultyModel.load(IRIS / "model.onnx")
        if not fast:
            model.warm_up = lambda **_: 1.0  # type: ignore[method-assign]
        return model, "faulty"

    client = app_client(load=load)
    response = client.post(INFER, content=orjson.dumps(iris_request([[13.0, 1.0, 1.0, 1.0]])))
    assert response.status_code == 500
    assert error(response) == "inference failed: RuntimeError: unlucky row"
    assert client.post(INFER, content=orjson.dumps(iris_request())).status_code == 200
    text = client.get("/metrics").text
    assert 'serving_requests_total{model="iris",protocol="rest",status="500"} 1.0' in text


def test_concurrent_requests_are_batched_and_each_gets_its_own_rows(
    app_client: Callable[..., TestClient],
) -> None:
    gate = threading.Event()
    client = app_client(load=gated_loader(gate))
    batches = Batches(client)
    rows = [[[5.0 + i / 10, 3.0, 1.5 + i / 5, 0.2 * i]] for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        futures = [
            pool.submit(client.post, INFER, content=orjson.dumps(iris_request(r))) for r in rows
        ]
        batches.wait_queued(6)  # the first batch is held at the gate, the others queue
        gate.set()
        for row, future in zip(rows, futures, strict=True):
            assert future.result().status_code == 200
            output = {o["name"]: o for o in future.result().json()["outputs"]}
            labels, probabilities = expected_iris(row)
            assert output["label"]["data"] == labels.tolist()
            np.testing.assert_allclose(
                output["probabilities"]["data"], probabilities.ravel(), rtol=1e-6
            )
    assert batches() == (2.0, 6.0)  # the queued requests ran as one inference


def test_settings_come_from_serving_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVING_MODEL_REPOSITORY", "s3://bucket/models/iris/1")
    monkeypatch.setenv("SERVING_MAX_BATCH_SIZE", "8")
    monkeypatch.setenv("SERVING_BATCHING_ENABLED", "false")
    from serving.settings import Settings

    settings = Settings()
    assert settings.model_repository == "s3://bucket/models/iris/1"
    assert settings.max_batch_size == 8 and settings.batching_enabled is False
    assert settings.port == 8080 and settings.drain_timeout_seconds == 20
    assert all(field.description for field in Settings.model_fields.values())


def test_an_unexpected_start_up_error_is_fatal_with_one_line_naming_the_uri() -> None:
    def load() -> tuple[OnnxModel, str]:
        raise ValueError("bad\nthings")

    fatal: list[str] = []
    app = create_app(make_settings(model_repository="/models/x"), load=load, on_fatal=fatal.append)
    with TestClient(app) as client:
        deadline = time.monotonic() + 10
        while not fatal:
            assert time.monotonic() < deadline, "start-up never failed"
            time.sleep(0.01)
        assert error(client.get("/v2/health/ready")) == fatal[0]
    assert fatal == ["cannot load model: /models/x: ValueError: bad things"]


def test_app_is_built_without_loading_anything() -> None:
    app = create_app(make_settings(model_repository="/does/not/exist"))
    assert app.state.serving.served is None


def test_with_workers_readiness_waits_for_every_worker(tmp_path: Path) -> None:
    client = TestClient(create_app(make_settings(workers=2), ready_dir=tmp_path))
    with client:
        deadline = time.monotonic() + 10
        while not list(tmp_path.iterdir()):  # this worker marks itself loaded
            assert time.monotonic() < deadline
            time.sleep(0.01)
        response = client.get("/v2/health/ready")
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert error(response) == "other workers are still loading the model"
        # This worker serves already; only the pod's readiness waits for the others.
        assert client.post(INFER, content=orjson.dumps(iris_request())).status_code == 200
        (tmp_path / "other-worker").touch()
        assert client.get("/v2/health/ready").status_code == 200
