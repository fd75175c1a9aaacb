"""Raw tensor values: the decoder's raw and typed forms, and REST's binary tensor extension.

Raw values (little-endian, row-major; BYTES with 4-byte length prefixes) are what both the binary
tensor extension and gRPC's raw contents carry; they go through the same checks as JSON `data`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pytest
from starlette.testclient import TestClient

from serving.protocol import (
    DATATYPES,
    TYPED_CONTENTS,
    ProtocolError,
    RawData,
    TensorSpec,
    TypedData,
    decode_infer_request,
    decode_tensor,
    encode_binary_response,
    raw_bytes,
)
from tests.serving.conftest import IRIS_ROWS, expected_iris, iris_request
from tests.serving.test_app import INFER
from tests.serving.test_protocol import SAMPLES


def spec(datatype: str) -> dict[str, TensorSpec]:
    return {"x": TensorSpec("x", datatype, (-1, 2))}


def decode_raw(datatype: str, raw: bytes, shape: list[int] | None = None) -> Any:
    return decode_tensor(0, "x", shape or [2, 2], datatype, RawData(raw), spec(datatype))[1]


def refused(call: Callable[[], Any]) -> str:
    with pytest.raises(ProtocolError) as caught:
        call()
    assert caught.value.status == 400
    return caught.value.message


@pytest.mark.parametrize("datatype", list(DATATYPES))
def test_every_datatype_round_trips_through_raw_bytes(datatype: str) -> None:
    values = SAMPLES[datatype]
    array = np.asarray(values, dtype=DATATYPES[datatype]).reshape(2, 2)
    decoded = decode_raw(datatype, raw_bytes(array, datatype))
    assert decoded.dtype == DATATYPES[datatype] and decoded.shape == (2, 2)
    assert decoded.ravel().tolist() == array.ravel().tolist()


def test_raw_bytes_are_little_endian_and_bytes_are_length_prefixed() -> None:
    assert raw_bytes(np.asarray([1, 256], dtype=np.int32), "INT32") == (
        b"\x01\x00\x00\x00\x00\x01\x00\x00"
    )
    big_endian = np.asarray([1.0], dtype=">f4")
    assert raw_bytes(big_endian, "FP32") == np.asarray([1.0], "<f4").tobytes()
    assert raw_bytes(np.asarray(["ab", ""], dtype=object), "BYTES") == (
        b"\x02\x00\x00\x00ab\x00\x00\x00\x00"
    )


@pytest.mark.parametrize("datatype", [d for d in DATATYPES if d in TYPED_CONTENTS])
def test_every_typed_datatype_decodes_from_its_contents_field(datatype: str) -> None:
    values: list[Any] = SAMPLES[datatype]
    if datatype == "BYTES":
        values = [value.encode() for value in values]
    fields = {TYPED_CONTENTS[datatype]: values}
    _, decoded = decode_tensor(0, "x", [2, 2], datatype, TypedData(fields), spec(datatype))
    assert decoded.dtype == DATATYPES[datatype]
    expected = np.asarray(SAMPLES[datatype], dtype=DATATYPES[datatype])
    assert decoded.ravel().tolist() == expected.tolist()


@pytest.mark.parametrize(
    ("datatype", "raw", "expected"),
    [
        ("FP32", b"\0" * 12, "shape [2, 2] needs 4 values (16 bytes of FP32), the raw data has 12"),
        ("BOOL", b"\x00\x01\x02\x00", "the raw data for datatype BOOL must hold bytes 0 or 1"),
        (
            "FP64",
            np.asarray([1, np.nan, 2, 3], "<f8").tobytes(),
            "the raw data holds a value that is not a finite FP64 number",
        ),
        ("BYTES", b"\x05\x00\x00\x00ab", "BYTES element 0 of 5 bytes runs past the end"),
        ("BYTES", b"\x01\x00", "the raw BYTES data ends inside the length of element 0"),
        ("BYTES", b"\x01\x00\x00\x00a" * 3, "needs 4 BYTES values, the raw data has 3"),
        ("BYTES", b"\x01\x00\x00\x00\xff" * 4, "BYTES element 0 is not valid UTF-8"),
    ],
)
def test_bad_raw_values_are_refused_naming_the_input(
    datatype: str, raw: bytes, expected: str
) -> None:
    message = refused(lambda: decode_raw(datatype, raw))
    assert message.startswith("input 'x': ") and expected in message


@pytest.mark.parametrize(
    ("datatype", "fields", "expected"),
    [
        ("INT8", {"int_contents": [1, 2, 300, 4]}, "value 300 is out of range for INT8"),
        ("UINT16", {"uint_contents": [1, 2, 3, 70000]}, "value 70000 is out of range for UINT16"),
        ("FP16", {"fp32_contents": [1.0] * 4}, "datatype FP16 has no typed 'contents' field"),
        (
            "INT64",
            {"int64_contents": [1] * 4, "int_contents": [1]},
            "carries its values in 'contents.int64_contents', not in contents.int_contents",
        ),
        ("BOOL", {"bool_contents": [True] * 3}, "'contents.bool_contents' has 3"),
    ],
)
def test_bad_typed_values_are_refused_naming_the_input(
    datatype: str, fields: dict[str, list[Any]], expected: str
) -> None:
    message = refused(
        lambda: decode_tensor(0, "x", [2, 2], datatype, TypedData(fields), spec(datatype))
    )
    assert expected in message


def binary_body(document: dict[str, Any], *chunks: bytes) -> tuple[bytes, int]:
    header = orjson.dumps(document)
    return header + b"".join(chunks), len(header)


def test_the_binary_extension_decodes_inputs_in_order_and_flags_outputs() -> None:
    specs = {"a": TensorSpec("a", "FP32", (-1, 2)), "b": TensorSpec("b", "INT64", (-1,))}
    a = np.asarray([[1, 2]], np.float32)
    b = np.asarray([7], np.int64)
    body, length = binary_body(
        {
            "inputs": [
                {
                    "name": "a",
                    "shape": [1, 2],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 8},
                },
                {
                    "name": "b",
                    "shape": [1],
                    "datatype": "INT64",
                    "parameters": {"binary_data_size": 8},
                },
            ],
            "outputs": [{"name": "y", "parameters": {"binary_data": True}}, {"name": "z"}],
        },
        a.tobytes(),
        b.tobytes(),
    )
    request = decode_infer_request(body, specs, ("y", "z"), length)
    np.testing.assert_array_equal(request.inputs["a"], a)
    np.testing.assert_array_equal(request.inputs["b"], b)
    assert request.outputs == ("y", "z") and request.raw_outputs == {"y"}
    # binary_data_output asks for every output not choosing for itself.
    body, length = binary_body(
        {
            "inputs": [{"name": "b", "shape": [1], "datatype": "INT64", "data": [7]}],
            "parameters": {"binary_data_output": True},
        }
    )
    request = decode_infer_request(body, {"b": specs["b"]}, ("y", "z"), length)
    assert request.outputs is None and request.raw_outputs == {"y", "z"}


@pytest.mark.parametrize(
    ("size", "tail", "header_extra", "expected"),
    [
        (8, b"\0" * 4, 0, "'binary_data_size' 8 runs past the end of the binary data (4 bytes"),
        (
            8,
            b"\0" * 12,
            0,
            "the binary data holds 12 bytes, the inputs' 'binary_data_size' add up to 8",
        ),
        (-1, b"", 0, "'binary_data_size' must be a non-negative integer, got -1"),
        (8, b"\0" * 8, 10_000, "Inference-Header-Content-Length 10"),
    ],
)
def test_bad_binary_requests_are_refused(
    size: int, tail: bytes, header_extra: int, expected: str
) -> None:
    body, length = binary_body(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [1, 2],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": size},
                }
            ]
        },
        tail,
    )
    message = refused(
        lambda: decode_infer_request(body, spec("FP32"), ("y",), length + header_extra)
    )
    assert expected in message


def test_a_binary_response_holds_the_json_then_the_raw_outputs() -> None:
    outputs: dict[str, np.ndarray] = {
        "y": np.asarray([[1.5, np.nan]], np.float32),
        "z": np.asarray([3], np.int64),
    }
    specs = {"y": TensorSpec("y", "FP32", (-1, 2)), "z": TensorSpec("z", "INT64", (-1,))}
    body, length = encode_binary_response("m", "1", "r", outputs, specs, frozenset({"y"}))
    document = orjson.loads(body[:length])
    assert document["outputs"] == [
        {"name": "y", "datatype": "FP32", "shape": [1, 2], "parameters": {"binary_data_size": 8}},
        {"name": "z", "datatype": "INT64", "shape": [1], "data": [3]},
    ]
    # Raw bytes carry NaN as it is; only JSON, which cannot, refuses it.
    np.testing.assert_array_equal(np.frombuffer(body[length:], "<f4"), outputs["y"].ravel())
    with pytest.raises(ProtocolError, match="output 'y' is not finite"):
        encode_binary_response("m", "1", "r", outputs, specs, frozenset({"z"}))


def test_rest_binary_requests_and_responses(iris_client: TestClient) -> None:
    rows = np.asarray(IRIS_ROWS, np.float32)
    body, length = binary_body(
        {
            "inputs": [
                {
                    "name": "input",
                    "shape": [2, 4],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": rows.nbytes},
                }
            ],
            "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}],
        },
        rows.tobytes(),
    )
    response = iris_client.post(
        INFER,
        content=body,
        headers={
            "Inference-Header-Content-Length": str(length),
            "Content-Type": "application/octet-stream",
        },
    )
    assert response.status_code == 200
    json_length = int(response.headers["inference-header-content-length"])
    document = orjson.loads(response.content[:json_length])
    assert document["outputs"][0]["parameters"] == {"binary_data_size": 24}
    _, probabilities = expected_iris(IRIS_ROWS)
    np.testing.assert_allclose(
        np.frombuffer(response.content[json_length:], "<f4").reshape(2, 3), probabilities, rtol=1e-6
    )
    # A plain JSON request still gets plain JSON.
    plain = iris_client.post(INFER, content=orjson.dumps(iris_request()))
    assert "inference-header-content-length" not in plain.headers
    assert plain.headers["content-type"] == "application/json"


def test_rest_binary_errors_and_the_body_limit(app_client: Callable[..., TestClient]) -> None:
    client = app_client(max_body_bytes=1024)
    response = client.post(INFER, content=b"{}", headers={"Inference-Header-Content-Length": "two"})
    assert response.status_code == 400
    assert response.json() == {"error": "Inference-Header-Content-Length 'two' is not a number"}
    rows = np.ones((100, 4), np.float32)  # 1600 bytes of values: past the 1024-byte body limit
    body, length = binary_body(
        {
            "inputs": [
                {
                    "name": "input",
                    "shape": [100, 4],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": rows.nbytes},
                }
            ]
        },
        rows.tobytes(),
    )
    response = client.post(
        INFER, content=body, headers={"Inference-Header-Content-Length": str(length)}
    )
    assert response.status_code == 413


def test_the_openapi_description_names_the_binary_extension(iris_client: TestClient) -> None:
    infer = iris_client.get("/v2/openapi.json").json()["paths"]["/v2/models/{model_name}/infer"]
    post = infer["post"]
    assert "Inference-Header-Content-Length" in [p["name"] for p in post["parameters"]]
    assert set(post["requestBody"]["content"]) == {"application/json", "application/octet-stream"}
    assert "Inference-Header-Content-Length" in post["responses"]["200"]["headers"]
