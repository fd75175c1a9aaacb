"""Fuzzing the inference endpoint: no request body, however odd, gets a 5xx or a non-JSON error;
no gRPC request or raw tensor, however odd, gets anything but a 400 from the decoder."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from serving.grpc_service import decode_grpc_request
from serving.proto import grpc_predict_v2_pb2 as pb
from serving.protocol import (
    DATATYPES,
    ProtocolError,
    RawData,
    TensorSpec,
    decode_infer_request,
    decode_tensor,
)

INFER = "/v2/models/iris/infer"

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
dims = st.lists(st.integers(-1, 6) | st.just("4") | st.floats(0, 4), max_size=4)
numbers = st.integers(-(2**70), 2**70) | st.floats() | st.booleans() | st.text(max_size=3)
tensors = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["input", "other", ""]) | json_scalars,
        "shape": dims | json_values,
        "datatype": st.sampled_from([*DATATYPES, "FLOAT", ""]) | json_scalars,
        "data": st.lists(numbers, max_size=12)
        | st.lists(st.lists(numbers, max_size=5), max_size=4)
        | json_values,
    },
    optional={
        "parameters": st.dictionaries(st.text(max_size=20), json_scalars, max_size=2),
    },
)
requests = st.fixed_dictionaries(
    {"inputs": st.lists(tensors, max_size=3) | json_values},
    optional={
        "id": json_scalars,
        "outputs": st.lists(
            st.fixed_dictionaries({"name": st.sampled_from(["label", "probabilities", "x"])}),
            max_size=3,
        )
        | json_values,
        "parameters": json_values,
    },
)


def encode(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):  # integers past 64 bits, NaN kept as text
        return repr(value).encode()


def check(client: TestClient, body: bytes) -> None:
    response = client.post(INFER, content=body)
    assert response.status_code < 500, (body, response.content)
    # `binary_data_output` in the request's parameters asks for the binary tensor extension.
    length = response.headers.get("inference-header-content-length")
    document = orjson.loads(response.content[: int(length)] if length else response.content)
    if response.status_code == 200:
        assert {output["name"] for output in document["outputs"]} <= {"label", "probabilities"}
    else:
        assert response.status_code == 400
        assert list(document) == ["error"] and document["error"]


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=requests)
def test_structured_requests_never_get_a_5xx(iris_client: TestClient, request: Any) -> None:
    check(iris_client, encode(request))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.binary(max_size=64) | json_values.map(encode))
def test_arbitrary_bodies_never_get_a_5xx(iris_client: TestClient, body: bytes) -> None:
    check(iris_client, body)


IRIS_SPECS = {"input": TensorSpec("input", "FP32", (-1, 4))}
ALL_SPECS = {datatype: TensorSpec("x", datatype, (-1, 2)) for datatype in DATATYPES}
contents_fields = st.sampled_from(
    [
        *("bool_contents", "int_contents", "int64_contents", "uint_contents", "uint64_contents"),
        *("fp32_contents", "fp64_contents", "bytes_contents"),
    ]
)


@st.composite
def grpc_requests(draw: st.DrawFn) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="iris")
    raw = draw(st.booleans())
    for _ in range(draw(st.integers(0, 2))):
        tensor = request.inputs.add(
            name=draw(st.sampled_from(["input", "other", ""])),
            datatype=draw(st.sampled_from([*DATATYPES, "FLOAT", ""])),
            shape=draw(st.lists(st.integers(-2, 5), max_size=3)),
        )
        if raw:
            request.raw_input_contents.append(draw(st.binary(max_size=40)))
        else:
            field = draw(contents_fields)
            values = {
                "bool_contents": st.booleans(),
                "int_contents": st.integers(-(2**31), 2**31 - 1),
                "int64_contents": st.integers(-(2**63), 2**63 - 1),
                "uint_contents": st.integers(0, 2**32 - 1),
                "uint64_contents": st.integers(0, 2**64 - 1),
                "fp32_contents": st.floats(width=32),
                "fp64_contents": st.floats(),
                "bytes_contents": st.binary(max_size=4),
            }[field]
            getattr(tensor.contents, field).extend(draw(st.lists(values, max_size=10)))
    for name in draw(st.lists(st.sampled_from(["label", "probabilities", "x"]), max_size=2)):
        output = request.outputs.add(name=name)
        if draw(st.booleans()):
            output.parameters["binary_data"].bool_param = draw(st.booleans())
    if draw(st.booleans()):
        request.parameters["binary_data_output"].string_param = "yes"
    return request


@settings(max_examples=300, deadline=None)
@given(request=grpc_requests())
def test_grpc_requests_decode_or_get_a_400(request: pb.ModelInferRequest) -> None:
    try:
        decoded, _ = decode_grpc_request(request, IRIS_SPECS, ("label", "probabilities"))
    except ProtocolError as error:
        assert error.status == 400 and error.message
        return
    assert decoded.inputs["input"].dtype.name == "float32"
    assert decoded.inputs["input"].shape[1:] == (4,)


@settings(max_examples=300, deadline=None)
@given(
    datatype=st.sampled_from(list(DATATYPES)),
    shape=st.lists(st.integers(0, 3), min_size=2, max_size=2),
    raw=st.binary(max_size=48),
)
def test_raw_tensors_decode_or_get_a_400(datatype: str, shape: list[int], raw: bytes) -> None:
    try:
        _, array = decode_tensor(0, "x", shape, datatype, RawData(raw), {"x": ALL_SPECS[datatype]})
    except ProtocolError as error:
        assert error.status == 400 and error.message.startswith("input 'x': ")
        return
    assert array.dtype == DATATYPES[datatype] and list(array.shape) == shape


def _reference_cast(values: list[int | float], datatype: str) -> Any:
    """numpy's own answer for JSON numbers and a float datatype: the array, or None where the
    cast overflows (what the decoder must refuse, naming the value as too large)."""
    try:
        with np.errstate(over="raise", invalid="raise"):
            return np.asarray(values).astype(DATATYPES[datatype])
    except FloatingPointError:
        return None


float_values = st.lists(
    st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([65504, 65519, 65520, 3.4028235e38, 3.4028235677973366e38, -1e39]),
    min_size=1,
    max_size=24,  # on both sides of the few values checked in Python, not under np.errstate
)


@given(values=float_values, datatype=st.sampled_from(["FP16", "FP32", "FP64"]))
@settings(max_examples=400, deadline=None)
def test_float_inputs_decode_as_numpys_checked_cast_would(
    values: list[int | float], datatype: str
) -> None:
    """The decoder's range check is a shortcut for a few values (Python against the type's
    overflow threshold) and numpy's checked cast for more: either way, it must accept exactly
    what numpy casts without overflow, to the same values, and refuse the rest as too large."""
    body = {"inputs": [{"name": "x", "shape": [len(values)], "datatype": datatype, "data": values}]}
    spec = {"x": TensorSpec("x", datatype, (-1,))}
    expected = _reference_cast(values, datatype)
    try:
        decoded = decode_infer_request(orjson.dumps(body), spec, ("y",)).inputs["x"]
    except ProtocolError as error:
        assert expected is None, error.message
        assert f"not a finite {datatype} number (too large for the type)" in error.message
        return
    assert expected is not None
    assert decoded.dtype == expected.dtype
    assert decoded.tolist() == expected.tolist()
