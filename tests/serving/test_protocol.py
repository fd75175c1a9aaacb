"""The V2 codec: every datatype both ways, flat and nested data, and each bad request's error."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from serving.protocol import (
    DATATYPES,
    ProtocolError,
    TensorSpec,
    decode_infer_request,
    encode_infer_response,
)

SAMPLES: dict[str, list[Any]] = {
    "BOOL": [True, False, True, True],
    "UINT8": [0, 1, 254, 255],
    "UINT16": [0, 1, 65534, 65535],
    "UINT32": [0, 1, 2, 4294967295],
    "UINT64": [0, 1, 2, 18446744073709551615],
    "INT8": [-128, -1, 0, 127],
    "INT16": [-32768, -1, 0, 32767],
    "INT32": [-2147483648, -1, 0, 2147483647],
    "INT64": [-9223372036854775808, -1, 0, 9223372036854775807],
    "FP16": [0.5, -1.5, 2.0, 65504.0],
    "FP32": [0.1, -1.5, 3.25, 1e30],
    "FP64": [0.1, -1.5, 3.25, 1e300],
    "BYTES": ["a", "", "ü", "text"],
}


def body(**tensor: Any) -> bytes:
    base = {"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}
    return orjson.dumps({"inputs": [{**base, **tensor}]})


def decode(raw: bytes, datatype: str = "FP32", shape: tuple[int, ...] = (-1, 2)) -> Any:
    return decode_infer_request(raw, {"x": TensorSpec("x", datatype, shape)}, ("y",))


def error_of(raw: bytes, datatype: str = "FP32", shape: tuple[int, ...] = (-1, 2)) -> str:
    with pytest.raises(ProtocolError) as caught:
        decode(raw, datatype, shape)
    assert caught.value.status == 400
    return caught.value.message


def test_the_table_covers_every_v2_datatype() -> None:
    assert set(DATATYPES) == set(SAMPLES)


@pytest.mark.parametrize("datatype", sorted(SAMPLES))
def test_every_datatype_decodes_and_encodes_both_ways(datatype: str) -> None:
    values = SAMPLES[datatype]
    request = decode(body(datatype=datatype, data=values), datatype)
    array = request.inputs["x"]
    assert array.dtype == DATATYPES[datatype]
    assert array.shape == (2, 2)
    assert array.ravel().tolist() == pytest.approx(values) if datatype.startswith("FP") else True
    if not datatype.startswith("FP"):
        assert array.ravel().tolist() == values

    encoded = orjson.loads(
        encode_infer_response(
            "m", "1", "id-1", {"y": array}, {"y": TensorSpec("y", datatype, (-1, 2))}
        )
    )
    output = encoded["outputs"][0]
    assert output == {
        "name": "y",
        "datatype": datatype,
        "shape": [2, 2],
        "data": output["data"],
    }
    assert encoded["id"] == "id-1" and encoded["model_name"] == "m"
    decoded_back = np.asarray(output["data"], dtype=DATATYPES[datatype])
    np.testing.assert_array_equal(decoded_back, array.ravel())


def test_nested_and_flat_data_decode_to_the_same_tensor() -> None:
    flat = decode(body(data=[1, 2, 3, 4])).inputs["x"]
    nested = decode(body(data=[[1, 2], [3, 4]])).inputs["x"]
    np.testing.assert_array_equal(flat, nested)
    assert flat.dtype == np.float32


@pytest.mark.parametrize(
    ("declared", "model"), [("INT32", "FP32"), ("FP64", "FP32"), ("INT64", "INT8")]
)
def test_a_datatype_other_than_the_models_is_refused_not_converted(
    declared: str, model: str
) -> None:
    message = error_of(body(datatype=declared, data=[1, 2, 3, 4]), model)
    assert message == f"input 'x': datatype {declared} does not match the model's datatype {model}"


@pytest.mark.parametrize("datatype", ["FP32", "INT64", "UINT8"])
@pytest.mark.parametrize("data", [[True, 1, 2, 3], [[1, 2], [3, False]], [True, False, True, True]])
def test_booleans_are_not_numbers(datatype: str, data: list[Any]) -> None:
    message = error_of(body(datatype=datatype, data=data), datatype)
    assert message == f"input 'x': 'data' for datatype {datatype} must hold numbers only"


@pytest.mark.parametrize(
    ("shape", "data"),
    [([2, 2], [[1, 2, 3, 4]]), ([2, 2], [[1], [2], [3], [4]]), ([4, 1], [[1, 2], [3, 4]])],
)
def test_nested_data_must_have_the_declared_shape(shape: list[int], data: list[Any]) -> None:
    nested = list(np.asarray(data).shape)
    message = error_of(body(shape=shape, data=data), shape=(-1, -1))
    assert message == f"input 'x': nested 'data' has shape {nested}, not the declared {shape}"


def test_requested_outputs_and_id_are_kept() -> None:
    raw = orjson.loads(body())
    raw["id"] = "abc"
    raw["outputs"] = [{"name": "y", "parameters": {"binary_data": False}}]
    request = decode(orjson.dumps(raw))
    assert request.id == "abc" and request.outputs == ("y",)
    assert decode(body()).outputs is None
    raw["outputs"] = []
    assert decode(orjson.dumps(raw)).outputs is None  # an empty list means all of them


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"{not json", "request body is not valid JSON"),
        (b"[1, 2]", "request body must be a JSON object, got a list"),
        (b"{}", "'inputs' must be a non-empty list of tensors"),
        (b'{"inputs": []}', "'inputs' must be a non-empty list of tensors"),
        (b'{"inputs": [1]}', "inputs[0] must be an object, got a number"),
        (b'{"inputs": [{"shape": [1]}]}', "inputs[0].name must be a string"),
        (body(name="z"), "unknown input 'z'; the model expects 'x'"),
        (body(shape=[2, "2"]), "input 'x': 'shape' must be a list of non-negative integers"),
        (body(shape=[2, -2]), "input 'x': 'shape' must be a list of non-negative integers"),
        (body(datatype="FLOAT32"), "input 'x': unknown datatype 'FLOAT32'"),
        (
            body(datatype="BYTES", data=["a"] * 4),
            "datatype BYTES does not match the model's datatype FP32",
        ),
        (
            body(datatype="BOOL", data=[True] * 4),
            "datatype BOOL does not match the model's datatype FP32",
        ),
        (body(data=[1, 2, 3]), "input 'x': shape [2, 2] needs 4 values, 'data' has 3"),
        (
            body(data=[[1, 2], [3]]),
            "input 'x': 'data' is ragged or holds values that are not numbers",
        ),
        (body(data=[1, "2", 3, 4]), "input 'x': 'data' for datatype FP32 must hold numbers only"),
        (body(data=[1, None, 3, 4]), "input 'x': 'data' for datatype FP32 must hold numbers only"),
        (body(data=[{"a": 1}, 2, 3, 4]), "input 'x': 'data' for datatype FP32 must hold numbers"),
        (body(data=[1e39, 1, 2, 3]), "input 'x': 'data' holds a value that is not a finite FP32"),
        (
            body(shape=[2, 3], data=[1] * 6),
            "input 'x': shape [2, 3] does not match the model's [-1, 2]",
        ),
        (body(shape=[4], data=[1] * 4), "input 'x': shape [4] does not match the model's [-1, 2]"),
        (body(shape=[0, 2], data=[]), "input 'x': shape [0, 2] holds no values"),
        (
            body(parameters={"binary_data_size": 16}),
            "input 'x': 'binary_data_size' needs the binary tensor extension",
        ),
        (b'{"id": 5, "inputs": []}', "'id' must be a string, got a number"),
        (
            orjson.dumps({"inputs": [orjson.loads(body())["inputs"][0]] * 2}),
            "input 'x' appears more than once",
        ),
        (
            orjson.dumps({**orjson.loads(body()), "outputs": [{"name": "y"}, {"name": "y"}]}),
            "output 'y' is requested more than once",
        ),
        (
            orjson.dumps({**orjson.loads(body()), "outputs": [{"name": "nope"}]}),
            "unknown output 'nope'; the model has 'y'",
        ),
    ],
)
def test_bad_requests_get_400_naming_the_part_and_value(raw: bytes, expected: str) -> None:
    assert expected in error_of(raw)


def test_a_missing_input_is_named() -> None:
    specs = {"x": TensorSpec("x", "FP32", (-1, 2)), "w": TensorSpec("w", "FP32", (-1, 2))}
    with pytest.raises(ProtocolError, match="missing input 'w'; the model expects 'x', 'w'"):
        decode_infer_request(body(), specs, ("y",))


@pytest.mark.parametrize(
    ("datatype", "model", "value", "expected"),
    [
        ("INT8", "INT8", 300, "value 300 is out of range for INT8"),
        ("UINT8", "UINT8", -1, "value -1 is out of range for UINT8"),
        ("FP32", "INT64", 1, "datatype FP32 does not match the model's datatype INT64"),
        ("INT64", "INT64", 1.5, "'data' for datatype INT64 must hold numbers only"),
        ("FP16", "FP16", 70000.0, "not a finite FP16 number"),
    ],
)
def test_integer_ranges_and_float_to_int_are_refused(
    datatype: str, model: str, value: Any, expected: str
) -> None:
    raw = body(datatype=datatype, data=[value, 1, 1, 1])
    assert expected in error_of(raw, model)


def _stays_finite(value: float, dtype: type[np.floating[Any]]) -> bool:
    """numpy's own answer: does `value` cast to `dtype` stay finite?"""
    with np.errstate(over="ignore"):
        return bool(np.isfinite(np.asarray([value]).astype(dtype)).all())


@pytest.mark.parametrize("rows", [2, 12])  # 4 values: compared in Python; 24: cast under errstate
@pytest.mark.parametrize(("datatype", "dtype"), [("FP32", np.float32), ("FP16", np.float16)])
def test_a_float_is_refused_exactly_when_it_would_not_fit_the_models_type(
    rows: int, datatype: str, dtype: type[np.floating[Any]]
) -> None:
    """The largest finite value and every value that rounds to it are accepted; from the first
    value that rounds to infinity on, refused, with either sign: as numpy's cast decides."""
    largest = float(np.finfo(dtype).max)
    gap = largest - float(np.nextafter(dtype(largest), dtype(0)))
    threshold = largest + gap / 2
    candidates = [largest, np.nextafter(threshold, 0.0), threshold, np.nextafter(threshold, np.inf)]
    for magnitude in candidates:
        for value in (float(magnitude), -float(magnitude)):
            raw = body(datatype=datatype, shape=[rows, 2], data=[value] + [1.0] * (2 * rows - 1))
            if _stays_finite(value, dtype):
                assert decode(raw, datatype).inputs["x"][0, 0] == dtype(value)
            else:
                assert f"not a finite {datatype} number (too large" in error_of(raw, datatype)
    assert not _stays_finite(threshold, dtype) and _stays_finite(np.nextafter(threshold, 0), dtype)


@pytest.mark.parametrize("rows", [2, 12])
def test_an_integer_past_fp16s_range_is_refused_not_sent_as_infinity(rows: int) -> None:
    """JSON integers for an FP16 input: 65519 rounds to FP16's largest value, 65520 to
    infinity, as numpy's cast decides; the model never sees an infinity it was not sent."""
    for value in (65519, 65520, -65520, 2**62):
        raw = body(datatype="FP16", shape=[rows, 2], data=[value] + [1] * (2 * rows - 1))
        if _stays_finite(float(value), np.float16):
            assert decode(raw, "FP16").inputs["x"][0, 0] == np.float16(65504.0)
        else:
            assert "not a finite FP16 number (too large" in error_of(raw, "FP16")
    assert _stays_finite(65519.0, np.float16) and not _stays_finite(65520.0, np.float16)


def test_bytes_must_be_strings() -> None:
    raw = body(datatype="BYTES", data=["a", 1, "b", "c"])
    assert "'data' for datatype BYTES must hold strings only" in error_of(raw, "BYTES")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_a_non_finite_output_is_a_400_naming_it(value: float) -> None:
    """The decoder admits finite inputs only, so a non-finite output is the input's doing."""
    array = np.asarray([[1.0, value]], dtype=np.float32)
    with pytest.raises(ProtocolError) as caught:
        encode_infer_response("m", "1", None, {"y": array}, {"y": TensorSpec("y", "FP32", (-1, 2))})
    assert caught.value.status == 400
    assert caught.value.message.startswith("output 'y' is not finite")


@pytest.mark.parametrize(
    "values",
    [
        [np.nan, 1e39],
        [1e39, np.nan],
        [1.0, np.nan, 1e39],
        [np.nan, -1e39],
        [np.inf, 1e39],
        [-np.inf, 1.0],
        [np.nan, 1.0],
        [np.nan] * 20 + [1e39],
        [1.0] * 20,
    ],
)
def test_the_range_shortcut_agrees_with_numpys_checked_cast_around_nan_and_infinity(
    values: list[float],
) -> None:
    """JSON carries neither NaN nor infinity, but the cast is shared with every wire format:
    with either among a few values, max() and min() no longer bound the rest (a NaN first in
    the list sticks), so the shortcut must leave the answer to numpy's own checked cast."""
    from serving.tensors import _cast_finite

    array = np.asarray(values, dtype=np.float64)
    try:
        with np.errstate(over="raise", invalid="raise"):
            expected = array.astype(np.float32)
    except FloatingPointError:
        expected = None
    got = _cast_finite(array, np.dtype(np.float32))
    if expected is None:
        assert got is None
    else:
        assert got is not None and np.array_equal(got, expected, equal_nan=True)
