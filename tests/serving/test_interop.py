"""Interoperability over real sockets with independent V2 clients.

`tritonclient.http` (Triton's client, JSON tensors with binary_data=False, and the binary tensor
extension with binary_data=True), `tritonclient.grpc` (Triton's gRPC client, in a child process:
see tests/serving/triton_grpc_client.py), the plain `grpcio` stubs generated from our .proto,
and the Open Inference Protocol working group's `open-inference-openapi` client (generated from
the protocol's OpenAPI description). KServe's own client is not used: `kserve` 0.21 pins
protobuf>=6.33, which conflicts with pulumi-policy's protobuf 5.29 in our environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import grpc
import numpy as np
import orjson
import pytest
import tritonclient.http as triton
from open_inference.openapi.client import OpenInferenceClient
from open_inference.openapi.core.api_error import ApiError
from open_inference.openapi.errors.bad_request_error import BadRequestError
from open_inference.openapi.types import InferenceRequest
from tritonclient.utils import InferenceServerException

from serving.proto import grpc_predict_v2_pb2 as pb
from serving.proto import grpc_predict_v2_pb2_grpc as pb_grpc
from tests.serving.conftest import IRIS, IRIS_ROWS, REPO, ServerProcess, expected_iris

pytestmark = pytest.mark.slow

ROWS = np.asarray(IRIS_ROWS, dtype=np.float32)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    process = ServerProcess({"SERVING_MODEL_REPOSITORY": str(IRIS), "SERVING_MODEL_NAME": "iris"})
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def test_tritonclient_health_metadata_and_inference(server: ServerProcess) -> None:
    client = triton.InferenceServerClient(url=server.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("iris") and client.is_model_ready("iris", "1")
    assert not client.is_model_ready("other")
    metadata = client.get_model_metadata("iris")
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    assert client.get_server_metadata()["name"] == "mlops-serving"

    tensor = triton.InferInput("input", list(ROWS.shape), "FP32")
    tensor.set_data_from_numpy(ROWS, binary_data=False)
    outputs = [
        triton.InferRequestedOutput("label", binary_data=False),
        triton.InferRequestedOutput("probabilities", binary_data=False),
    ]
    result = client.infer("iris", [tensor], model_version="1", outputs=outputs, request_id="t-1")
    labels, probabilities = expected_iris(IRIS_ROWS)
    np.testing.assert_array_equal(result.as_numpy("label"), labels)
    np.testing.assert_allclose(result.as_numpy("probabilities"), probabilities, rtol=1e-6)
    assert result.as_numpy("probabilities").dtype == np.float32
    assert result.get_response()["id"] == "t-1"


def test_tritonclient_sees_our_error_messages(server: ServerProcess) -> None:
    client = triton.InferenceServerClient(url=server.url.removeprefix("http://"))
    tensor = triton.InferInput("input", [1, 3], "FP32")
    tensor.set_data_from_numpy(np.ones((1, 3), dtype=np.float32), binary_data=False)
    with pytest.raises(InferenceServerException, match=r"shape \[1, 3\] does not match"):
        client.infer("iris", [tensor])
    with pytest.raises(InferenceServerException, match="model 'nope' not found"):
        client.infer("nope", [tensor])


def test_open_inference_client_health_metadata_and_inference(server: ServerProcess) -> None:
    client = OpenInferenceClient(base_url=server.url)
    client.check_server_liveness()
    client.check_server_readiness()
    client.check_model_readiness("iris")
    client.check_model_version_readiness("iris", "1")
    assert client.read_server_metadata().name == "mlops-serving"
    metadata = client.read_model_metadata("iris")
    assert metadata.inputs is not None
    assert [(t.name, t.datatype, t.shape) for t in metadata.inputs] == [("input", "FP32", [-1, 4])]

    # Built from the wire form: the client's pydantic-v1 models leave unset what is not given
    # (its stubs type each Optional field as a required argument).
    request = InferenceRequest.parse_obj(
        {
            "id": "o-1",
            "inputs": [
                {"name": "input", "shape": [2, 4], "datatype": "FP32", "data": ROWS.tolist()}
            ],
            "outputs": [{"name": "label"}],
        }
    )
    response = client.model_version_infer("iris", "1", request=request)
    labels, _ = expected_iris(IRIS_ROWS)
    assert response.id == "o-1" and response.model_name == "iris"
    assert [output.name for output in response.outputs] == ["label"]
    assert response.outputs[0].shape == [2]
    assert response.outputs[0].data.__root__ == labels.tolist()


def test_open_inference_client_sees_our_errors(server: ServerProcess) -> None:
    client = OpenInferenceClient(base_url=server.url)
    request = InferenceRequest.parse_obj(
        {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3]}]}
    )
    with pytest.raises(BadRequestError) as bad:
        client.model_infer("iris", request=request)
    assert bad.value.body == {"error": "input 'input': shape [1, 4] needs 4 values, 'data' has 3"}
    with pytest.raises(ApiError) as missing:
        client.model_version_infer("iris", "9", request=request)
    assert missing.value.status_code == 404


def test_tritonclient_http_binary_tensors_both_ways(server: ServerProcess) -> None:
    client = triton.InferenceServerClient(url=server.url.removeprefix("http://"))
    tensor = triton.InferInput("input", list(ROWS.shape), "FP32")
    tensor.set_data_from_numpy(ROWS, binary_data=True)
    outputs = [
        triton.InferRequestedOutput("label", binary_data=True),
        triton.InferRequestedOutput("probabilities", binary_data=False),
    ]
    result = client.infer("iris", [tensor], outputs=outputs, request_id="b-1")
    labels, probabilities = expected_iris(IRIS_ROWS)
    np.testing.assert_array_equal(result.as_numpy("label"), labels)
    np.testing.assert_allclose(result.as_numpy("probabilities"), probabilities, rtol=1e-6)
    response = result.get_response()
    assert response["id"] == "b-1"
    assert response["outputs"][0]["parameters"] == {"binary_data_size": labels.nbytes}
    # No outputs named: the client asks for binary_data_output, every output comes back raw.
    result = client.infer("iris", [tensor])
    np.testing.assert_allclose(result.as_numpy("probabilities"), probabilities, rtol=1e-6)
    assert all("data" not in output for output in result.get_response()["outputs"])

    bad = triton.InferInput("input", [1, 3], "FP32")
    bad.set_data_from_numpy(np.ones((1, 3), dtype=np.float32), binary_data=True)
    with pytest.raises(InferenceServerException, match=r"shape \[1, 3\] does not match"):
        client.infer("iris", [bad])


def test_tritonclient_grpc_health_metadata_inference_and_errors(server: ServerProcess) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "tests.serving.triton_grpc_client", server.grpc_target],
        cwd=REPO,
        env={**os.environ, "TEMPORARILY_DISABLE_PROTOBUF_VERSION_CHECK": "true"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    report = orjson.loads(completed.stdout)
    assert report["live"] and report["ready"] and report["model_ready"]
    assert report["server_name"] == "mlops-serving"
    assert report["inputs"] == [["input", "FP32", [-1, 4]]]
    labels, probabilities = expected_iris(IRIS_ROWS)
    assert report["id"] == "g-1"
    assert report["label"] == labels.tolist()
    np.testing.assert_allclose(report["probabilities"], probabilities, rtol=1e-6)
    assert report["probabilities_dtype"] == "float32"
    assert report["bad_shape"] == {
        "status": "StatusCode.INVALID_ARGUMENT",
        "message": "input 'input': shape [1, 3] does not match the model's [-1, 4]",
    }
    assert report["unknown_model"] == {
        "status": "StatusCode.NOT_FOUND",
        "message": "model 'nope' not found; serving 'iris'",
    }


def test_plain_grpc_stubs_typed_and_raw_against_the_real_process(server: ServerProcess) -> None:
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        labels, probabilities = expected_iris(IRIS_ROWS)
        typed = pb.ModelInferRequest(model_name="iris")
        tensor = typed.inputs.add(name="input", datatype="FP32", shape=[2, 4])
        tensor.contents.fp32_contents.extend(ROWS.ravel().tolist())
        response = stub.ModelInfer(typed, timeout=10)
        assert list(response.outputs[0].contents.int64_contents) == labels.tolist()
        raw = pb.ModelInferRequest(model_name="iris", raw_input_contents=[ROWS.tobytes()])
        raw.inputs.add(name="input", datatype="FP32", shape=[2, 4])
        response = stub.ModelInfer(raw, timeout=10)
        got = np.frombuffer(response.raw_output_contents[1], "<f4").reshape(2, 3)
        np.testing.assert_allclose(got, probabilities, rtol=1e-6)
