"""V2 over gRPC in process: the same model, checks, messages, limits, batching and drain as REST.

The plain grpcio stubs generated from serving/proto talk to the server's real gRPC socket; the
REST checks' error cases (tests/serving/test_app.py) are repeated here as gRPC status codes.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import orjson
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import ValidationError
from starlette.testclient import TestClient

from serving.__main__ import main
from serving.grpc_service import SERVICE_NAME
from serving.proto import grpc_predict_v2_pb2 as pb
from serving.proto import grpc_predict_v2_pb2_grpc as pb_grpc
from serving.runtime import OnnxModel
from serving.settings import Settings
from serving.state import INFERENCE_SWITCH_INTERVAL
from tests.serving.conftest import IRIS, IRIS_ROWS, Batches, expected_iris, iris_request
from tests.serving.models import write_slow_model
from tests.serving.test_app import INFER, FaultyModel, gated_loader

Stub = Any
ROWS = np.asarray(IRIS_ROWS, dtype=np.float32)


@pytest.fixture
def channels() -> Iterator[Callable[[TestClient], Stub]]:
    """Factory: a V2 stub on the gRPC port of an in-process server."""
    opened: list[grpc.Channel] = []

    def connect(client: TestClient) -> Stub:
        port = client.app.state.grpc.port  # type: ignore[attr-defined]
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        opened.append(channel)
        return pb_grpc.GRPCInferenceServiceStub(channel)

    yield connect
    for channel in opened:
        channel.close()


def health_stub(client: TestClient) -> Any:
    port = client.app.state.grpc.port  # type: ignore[attr-defined]
    return health_pb2_grpc.HealthStub(grpc.insecure_channel(f"127.0.0.1:{port}"))


def typed_request(rows: np.ndarray = ROWS, **fields: Any) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="iris", **fields)
    tensor = request.inputs.add(name="input", datatype="FP32", shape=list(rows.shape))
    tensor.contents.fp32_contents.extend(rows.ravel().tolist())
    return request


def raw_request(rows: np.ndarray = ROWS, **fields: Any) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="iris", **fields)
    request.inputs.add(name="input", datatype="FP32", shape=list(rows.shape))
    request.raw_input_contents.append(rows.astype("<f4").tobytes())
    return request


def failure(call: Callable[[], Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def test_typed_contents_in_typed_contents_out(
    app_client: Callable[..., TestClient], channels: Callable[[TestClient], Stub]
) -> None:
    stub = channels(app_client())
    response = stub.ModelInfer(typed_request(id="req-1"))
    labels, probabilities = expected_iris(IRIS_ROWS)
    assert (response.model_name, response.model_version, response.id) == ("iris", "1", "req-1")
    assert [(o.name, o.datatype, list(o.shape)) for o in response.outputs] == [
        ("label", "INT64", [2]),
        ("probabilities", "FP32", [2, 3]),
    ]
    assert not response.raw_output_contents
    assert list(response.outputs[0].contents.int64_contents) == labels.tolist()
    np.testing.assert_allclose(
        response.outputs[1].contents.fp32_contents, probabilities.ravel(), rtol=1e-6
    )


def test_raw_contents_in_raw_contents_out_and_requested_outputs(
    app_client: Callable[..., TestClient], channels: Callable[[TestClient], Stub]
) -> None:
    stub = channels(app_client())
    request = raw_request(model_version="1")
    request.outputs.add(name="probabilities")
    response = stub.ModelInfer(request)
    _, probabilities = expected_iris(IRIS_ROWS)
    assert [o.name for o in response.outputs] == ["probabilities"]
    assert not response.outputs[0].HasField("contents")
    (raw,) = response.raw_output_contents
    np.testing.assert_allclose(np.frombuffer(raw, "<f4").reshape(2, 3), probabilities, rtol=1e-6)

    # Typed inputs with `binary_data` asked for one output: raw outputs, as Triton does.
    request = typed_request()
    request.outputs.add(name="label").parameters["binary_data"].bool_param = True
    response = stub.ModelInfer(request)
    assert np.frombuffer(response.raw_output_contents[0], "<i8").tolist() == [0, 2]


def test_health_metadata_and_readiness(
    app_client: Callable[..., TestClient], channels: Callable[[TestClient], Stub]
) -> None:
    client = app_client()
    stub = channels(client)
    assert stub.ServerLive(pb.ServerLiveRequest()).live
    assert stub.ServerReady(pb.ServerReadyRequest()).ready
    assert stub.ModelReady(pb.ModelReadyRequest(name="iris", version="1")).ready
    error = failure(lambda: stub.ModelReady(pb.ModelReadyRequest(name="nope")))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == "model 'nope' not found; serving 'iris'"
    server = stub.ServerMetadata(pb.ServerMetadataRequest())
    assert server.name == "mlops-serving"
    assert server.name == client.get("/v2").json()["name"]
    assert list(server.extensions) == client.get("/v2").json()["extensions"]
    metadata = stub.ModelMetadata(pb.ModelMetadataRequest(name="iris"))
    assert (metadata.name, list(metadata.versions), metadata.platform) == (
        "iris",
        ["1"],
        "onnxruntime_onnx",
    )
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [
        ("input", "FP32", [-1, 4])
    ]
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.outputs] == [
        ("label", "INT64", [-1]),
        ("probabilities", "FP32", [-1, 3]),
    ]


def _tensor(**fields: Any) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=fields.pop("model", "iris"))
    request.model_version = fields.pop("version", "")
    values = fields.pop("values", [1.0] * 4)
    field = fields.pop("field", "fp32_contents")
    tensor = request.inputs.add(
        name=fields.pop("name", "input"),
        datatype=fields.pop("datatype", "FP32"),
        shape=fields.pop("shape", [1, 4]),
    )
    getattr(tensor.contents, field).extend(values)
    assert not fields
    return request


def _raw(datatype: str, shape: list[int], raw: bytes) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="iris")
    request.inputs.add(name="input", datatype=datatype, shape=shape)
    request.raw_input_contents.append(raw)
    return request


# The REST cases of test_app.test_bad_requests_get_their_status_and_a_json_error, over gRPC (the
# JSON syntax cases have no gRPC form: protobuf parses the message), and the gRPC-only ones.
@pytest.mark.parametrize(
    ("request_", "code", "expected"),
    [
        (
            _tensor(datatype="INT8", field="int_contents", values=[1] * 4),
            grpc.StatusCode.INVALID_ARGUMENT,
            "input 'input': datatype INT8 does not match the model's datatype FP32",
        ),
        (
            _tensor(shape=[1, 3], values=[1.0] * 3),
            grpc.StatusCode.INVALID_ARGUMENT,
            "input 'input': shape [1, 3] does not match the model's [-1, 4]",
        ),
        (
            _tensor(values=[1.0] * 5),
            grpc.StatusCode.INVALID_ARGUMENT,
            "input 'input': shape [1, 4] needs 4 values, 'contents.fp32_contents' has 5",
        ),
        (
            _raw("FP32", [1, 4], b"\0" * 20),
            grpc.StatusCode.INVALID_ARGUMENT,
            "input 'input': shape [1, 4] needs 4 values (16 bytes of FP32), the raw data has 20",
        ),
        (
            _tensor(name="other", shape=[1]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "unknown input 'other'; the model expects 'input'",
        ),
        (
            _tensor(values=[float("nan"), 1.0, 1.0, 1.0]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "'contents.fp32_contents' holds a value that is not a finite FP32 number",
        ),
        (
            _raw("FP32", [1, 4], np.asarray([np.inf, 1, 1, 1], "<f4").tobytes()),
            grpc.StatusCode.INVALID_ARGUMENT,
            "the raw data holds a value that is not a finite FP32 number",
        ),
        (
            _tensor(field="fp64_contents"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "datatype FP32 carries its values in 'contents.fp32_contents', not in "
            "contents.fp64_contents",
        ),
        (
            _tensor(values=[]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "input 'input': no values; send them in 'contents' or 'raw_input_contents'",
        ),
        (
            _tensor(datatype="FLOAT32"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "input 'input': unknown datatype 'FLOAT32'",
        ),
        (
            _tensor(shape=[0, 4], values=[]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "input 'input': shape [0, 4] holds no values",
        ),
        (
            pb.ModelInferRequest(model_name="iris"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "'inputs' must be a non-empty list of tensors",
        ),
        (
            _tensor(model="nope"),
            grpc.StatusCode.NOT_FOUND,
            "model 'nope' not found; serving 'iris'",
        ),
        (
            _tensor(version="7"),
            grpc.StatusCode.NOT_FOUND,
            "model 'iris' has no version '7'; serving version '1'",
        ),
    ],
)
def test_bad_requests_get_the_rest_message_as_a_grpc_code(
    app_client: Callable[..., TestClient],
    channels: Callable[[TestClient], Stub],
    request_: pb.ModelInferRequest,
    code: grpc.StatusCode,
    expected: str,
) -> None:
    client = app_client()
    stub = channels(client)
    error = failure(lambda: stub.ModelInfer(request_))
    assert error.code() == code
    assert expected in (error.details() or "")
    # The server stays up and serves the next request.
    assert stub.ModelInfer(typed_request()).outputs


def test_the_same_bad_tensor_gets_the_same_message_over_rest_and_grpc(
    app_client: Callable[..., TestClient], channels: Callable[[TestClient], Stub]
) -> None:
    client = app_client()
    stub = channels(client)
    cases: list[tuple[dict[str, Any], pb.ModelInferRequest]] = [
        ({"shape": [1, 3], "data": [1] * 3}, _tensor(shape=[1, 3], values=[1.0] * 3)),
        (
            {"datatype": "INT64", "data": [1] * 4},
            _tensor(datatype="INT64", field="int64_contents", values=[1] * 4),
        ),
        ({"name": "other", "shape": [1], "data": [1]}, _tensor(name="other", shape=[1])),
    ]
    for fields, request in cases:
        tensor = {"name": "input", "shape": [1, 4], "datatype": "FP32", **fields}
        rest = client.post(INFER, content=orjson.dumps({"inputs": [tensor]}))
        assert rest.status_code == 400
        assert failure(partial(stub.ModelInfer, request)).details() == rest.json()["error"]


def test_a_message_over_the_body_limit_is_refused(
    app_client: Callable[..., TestClient], channels: Callable[[TestClient], Stub]
) -> None:
    stub = channels(app_client(max_body_bytes=1024))
    big = np.ones((100, 4), dtype=np.float32)  # 1600 raw bytes
    error = failure(lambda: stub.ModelInfer(raw_request(big)))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert stub.ModelInfer(raw_request()).outputs  # a message under the limit still works


def test_while_loading_calls_are_unavailable_and_health_is_not_serving(
    app_client: Callable[..., TestClient], channels: Callable[[TestClient], Stub]
) -> None:
    release = threading.Event()

    def slow_load() -> tuple[OnnxModel, str]:
        release.wait(10)
        return OnnxModel.load(IRIS / "model.onnx"), "slow"

    client = app_client(ready=False, load=slow_load)
    stub = channels(client)
    health = health_stub(client)
    for service in ("", SERVICE_NAME):
        status = health.Check(health_pb2.HealthCheckRequest(service=service)).status
        assert status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert not stub.ServerReady(pb.ServerReadyRequest()).ready
    error = failure(lambda: stub.ModelInfer(typed_request()))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error.details() == "model 'iris' is loading"
    release.set()
    deadline = time.monotonic() + 10
    while health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME)).status != (
        health_pb2.HealthCheckResponse.SERVING
    ):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert stub.ModelInfer(typed_request()).outputs


def test_past_the_inflight_limit_calls_get_resource_exhausted_with_retry_info(
    app_client: Callable[..., TestClient], channels: Callable[[TestClient], Stub]
) -> None:
    gate = threading.Event()
    client = app_client(load=gated_loader(gate), max_inflight=2)
    stub = channels(client)
    state = client.app.state.serving  # type: ignore[attr-defined]
    with ThreadPoolExecutor(2) as pool:
        # One REST request and one gRPC call share the limit: one in-flight count.
        held = [
            pool.submit(client.post, INFER, content=orjson.dumps(iris_request())),
            pool.submit(stub.ModelInfer, typed_request()),
        ]
        deadline = time.monotonic() + 10
        while state.inflight < 2:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        error = failure(lambda: stub.ModelInfer(typed_request()))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error.details() == "server is at its limit of 2 requests in flight"
        trailers = {item.key: item.value for item in error.trailing_metadata()}
        status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
        retry = error_details_pb2.RetryInfo()
        assert status.details[0].Unpack(retry)
        assert retry.retry_delay.seconds == 1
        assert client.post(INFER, content=orjson.dumps(iris_request())).status_code == 503
        gate.set()
        assert held[0].result().status_code == 200
        assert held[1].result().outputs
    assert stub.ModelInfer(typed_request()).outputs


def test_the_server_deadline_and_the_clients_deadline_are_honoured(
    app_client: Callable[..., TestClient], channels: Callable[[TestClient], Stub]
) -> None:
    gate = threading.Event()
    client = app_client(load=gated_loader(gate), request_timeout_ms=100)
    stub = channels(client)
    state = client.app.state.serving  # type: ignore[attr-defined]
    error = failure(lambda: stub.ModelInfer(typed_request()))
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert error.details() == "deadline of 100 ms exceeded"
    # A client's deadline shorter than the server's is the one that counts.
    error = failure(lambda: stub.ModelInfer(typed_request(), timeout=0.05))
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    deadline = time.monotonic() + 10
    while state.inflight:  # the abandoned call gives its slot back
        assert time.monotonic() < deadline
        time.sleep(0.005)
    gate.set()
    assert stub.ModelInfer(typed_request()).outputs


def test_while_draining_calls_are_unavailable_and_health_turns_not_serving(
    app_client: Callable[..., TestClient], channels: Callable[[TestClient], Stub]
) -> None:
    client = app_client()
    stub = channels(client)
    client.app.state.serving.begin_drain()  # type: ignore[attr-defined]
    error = failure(lambda: stub.ModelInfer(typed_request()))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error.details() == "server is shutting down"
    assert not stub.ServerReady(pb.ServerReadyRequest()).ready
    assert stub.ServerLive(pb.ServerLiveRequest()).live
    health = health_stub(client)
    deadline = time.monotonic() + 10
    while health.Check(health_pb2.HealthCheckRequest(service="")).status != (
        health_pb2.HealthCheckResponse.NOT_SERVING
    ):
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_rest_and_grpc_requests_share_one_batch(
    app_client: Callable[..., TestClient], channels: Callable[[TestClient], Stub]
) -> None:
    gate = threading.Event()
    client = app_client(load=gated_loader(gate))
    stub = channels(client)
    batches = Batches(client)
    rows = [[[5.0 + i / 10, 3.0, 1.5 + i / 5, 0.2 * i]] for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        futures = [
            pool.submit(client.post, INFER, content=orjson.dumps(iris_request(rows[0]))),
            pool.submit(client.post, INFER, content=orjson.dumps(iris_request(rows[1]))),
            pool.submit(stub.ModelInfer, typed_request(np.asarray(rows[2], np.float32))),
            pool.submit(stub.ModelInfer, raw_request(np.asarray(rows[3], np.float32))),
        ]
        batches.wait_queued(4)
        gate.set()
        results = [future.result() for future in futures]
    assert batches() == (2.0, 4.0)  # the three queued requests, REST and gRPC, ran as one
    for row, result in zip(rows[:2], results[:2], strict=True):
        assert result.json()["outputs"][0]["data"] == expected_iris(row)[0].tolist()
    assert list(results[2].outputs[0].contents.int64_contents) == expected_iris(rows[2])[0].tolist()
    assert np.frombuffer(results[3].raw_output_contents[0], "<i8").tolist() == (
        expected_iris(rows[3])[0].tolist()
    )


def test_the_short_gil_switch_interval_comes_only_with_an_inference_thread(
    app_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    """A short interval makes the event loop and grpc.aio's poller thread trade the GIL ten
    times as often (a fifth of the bare grpc.aio floor's requests/s, bench/results-grpc.md):
    only a model that runs on the inference thread, which needs the GIL back after each
    batch, pays that."""
    before = sys.getswitchinterval()
    default = 0.005  # Python's; an earlier test's slow model may have shortened it already
    sys.setswitchinterval(default)
    try:
        # iris without batching: microseconds per row, inline on the event loop (with batching
        # the warm-up may find rows cheaper in a batch and choose the inference thread).
        fast = app_client(batching_enabled=False)
        assert not fast.app.state.serving.served.batcher.offload  # type: ignore[attr-defined]
        assert sys.getswitchinterval() == default
        write_slow_model(tmp_path, iterations=20_000)
        slow = app_client(model_repository=str(tmp_path), model_name="slow")
        assert slow.app.state.serving.served.batcher.offload  # type: ignore[attr-defined]
        assert sys.getswitchinterval() == INFERENCE_SWITCH_INTERVAL != default
    finally:
        sys.setswitchinterval(before)


def test_grpc_can_be_turned_off(app_client: Callable[..., TestClient]) -> None:
    client = app_client(grpc_enabled=False)
    assert client.app.state.grpc is None  # type: ignore[attr-defined]
    assert client.post(INFER, content=orjson.dumps(iris_request())).status_code == 200


def test_an_unexpected_error_is_internal_for_that_call_only(
    app_client: Callable[..., TestClient], channels: Callable[[TestClient], Stub]
) -> None:
    def load() -> tuple[OnnxModel, str]:
        return FaultyModel.load(IRIS / "model.onnx"), "faulty"

    stub = channels(app_client(load=load))
    unlucky = np.asarray([[13.0, 1.0, 1.0, 1.0]], np.float32)
    error = failure(lambda: stub.ModelInfer(typed_request(unlucky)))
    assert error.code() == grpc.StatusCode.INTERNAL
    assert error.details() == "inference failed: RuntimeError: unlucky row"
    assert stub.ModelInfer(typed_request()).outputs


def test_a_failed_load_is_unavailable_and_says_why(
    app_client: Callable[..., TestClient],
    channels: Callable[[TestClient], Stub],
    tmp_path: Path,
) -> None:
    (tmp_path / "model.onnx").write_bytes(b"not onnx")

    def load() -> tuple[OnnxModel, str]:
        return OnnxModel.load(tmp_path / "model.onnx", source="s3://b/m/model.onnx"), "x"

    client = app_client(ready=False, load=load)
    stub = channels(client)
    deadline = time.monotonic() + 10
    infer = partial(stub.ModelInfer, typed_request())
    while "loading" in (details := failure(infer).details() or ""):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert details.startswith("cannot load model: s3://b/m/model.onnx: not a loadable")
    error = failure(lambda: stub.ModelMetadata(pb.ModelMetadataRequest(name="iris")))
    assert error.code() == grpc.StatusCode.UNAVAILABLE


def test_an_unknown_method_is_unimplemented(
    app_client: Callable[..., TestClient], channels: Callable[[TestClient], Stub]
) -> None:
    client = app_client()
    port = client.app.state.grpc.port  # type: ignore[attr-defined]
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            "/inference.GRPCInferenceService/RepositoryIndex"
        )
        error = failure(lambda: call(b""))
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED


def test_metrics_count_grpc_calls_by_protocol_and_code(
    app_client: Callable[..., TestClient], channels: Callable[[TestClient], Stub]
) -> None:
    client = app_client()
    stub = channels(client)
    stub.ModelInfer(typed_request())
    failure(lambda: stub.ModelInfer(_tensor(shape=[1, 3], values=[1.0] * 3)))
    client.post(INFER, content=orjson.dumps(iris_request()))
    text = client.get("/metrics").text
    for line in (
        'serving_requests_total{model="iris",protocol="grpc",status="OK"} 1.0',
        'serving_requests_total{model="iris",protocol="grpc",status="INVALID_ARGUMENT"} 1.0',
        'serving_requests_total{model="iris",protocol="rest",status="200"} 1.0',
        'serving_request_duration_seconds_count{model="iris",protocol="grpc"} 1.0',
        'serving_request_duration_seconds_count{model="iris",protocol="rest"} 1.0',
    ):
        assert line in text


def test_grpc_settings_come_from_the_environment_and_need_their_own_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SERVING_MODEL_REPOSITORY", str(IRIS))
    monkeypatch.setenv("SERVING_GRPC_PORT", "9001")
    monkeypatch.setenv("SERVING_GRPC_ENABLED", "false")
    settings = Settings()
    assert (settings.grpc_port, settings.grpc_enabled) == (9001, False)
    with pytest.raises(ValidationError, match="SERVING_GRPC_PORT 8080 is SERVING_PORT too"):
        Settings(model_repository=str(IRIS), grpc_port=8080, grpc_enabled=True)
    assert Settings(model_repository=str(IRIS), grpc_port=8080, grpc_enabled=False).port == 8080


def test_a_grpc_port_in_use_is_fatal_and_says_which(app_client: Callable[..., TestClient]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        client = app_client(ready=False, host="127.0.0.1", grpc_port=port)
        state = client.app.state.serving  # type: ignore[attr-defined]
        assert client.app.state.grpc is None  # type: ignore[attr-defined]
        assert state.load_error.startswith(f"cannot listen for gRPC on 127.0.0.1:{port}")
        assert client.get("/v2/health/ready").status_code == 503


def test_a_grpc_port_equal_to_the_http_port_stops_the_process_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SERVING_MODEL_REPOSITORY", str(IRIS))
    monkeypatch.setenv("SERVING_GRPC_PORT", "8080")
    monkeypatch.delenv("SERVING_GRPC_ENABLED", raising=False)
    monkeypatch.delenv("SERVING_PORT", raising=False)
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    (line,) = capfd.readouterr().err.strip().splitlines()
    assert line == (
        "invalid settings: SERVING_GRPC_PORT 8080 is SERVING_PORT too; give gRPC its own port "
        "or set SERVING_GRPC_ENABLED=false"
    )
