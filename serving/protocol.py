"""Open Inference Protocol V2 (REST): datatypes, the request decoder, the response encoder.

Decoding is hand-written over `orjson` and `numpy` rather than a pydantic model: the tensors are
the hot path, and one `np.asarray` over the JSON list validates and converts them in C.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import orjson

__all__ = [
    "DATATYPES",
    "ONNX_DATATYPES",
    "InferenceRequest",
    "ProtocolError",
    "TensorSpec",
    "decode_infer_request",
    "encode_error",
    "encode_infer_response",
    "metadata_tensor",
]

Array = npt.NDArray[Any]

DATATYPES: Final[Mapping[str, np.dtype[Any]]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(np.object_),
}
"""V2 datatype → the numpy dtype a tensor of it decodes to."""

ONNX_DATATYPES: Final[Mapping[str, str]] = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}
"""ONNX Runtime type string → V2 datatype."""

# The numpy kinds (`dtype.kind`) that JSON data may decode to for each kind of V2 datatype:
# integers are fine for floats, but strings, booleans and objects are not numbers.
_ACCEPTED_KINDS: Final[Mapping[str, str]] = {"b": "b", "u": "iu", "i": "iu", "f": "iuf"}
_MISSING: Final = object()


class ProtocolError(Exception):
    """A request the server answers with `status` and `{"error": message}`."""

    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


def _bad(message: str) -> ProtocolError:
    return ProtocolError(400, message)


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A model input or output: name, V2 datatype and shape (-1 where the model leaves it open)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    @property
    def dtype(self) -> np.dtype[Any]:
        return DATATYPES[self.datatype]


@dataclass(frozen=True, slots=True)
class InferenceRequest:
    """A decoded, validated inference request: tensors already in the model's dtypes."""

    id: str | None
    inputs: dict[str, Array]
    outputs: tuple[str, ...] | None
    """Requested output names in order, or None for all of the model's outputs (also when the
    request's `outputs` is an empty list)."""


def metadata_tensor(spec: TensorSpec) -> dict[str, Any]:
    return {"name": spec.name, "datatype": spec.datatype, "shape": list(spec.shape)}


def decode_infer_request(
    body: bytes, inputs: Mapping[str, TensorSpec], outputs: Sequence[str]
) -> InferenceRequest:
    """Parse and check a V2 inference request against the model's signature.

    Raises ProtocolError(400) naming the request part and the bad value.
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise _bad(f"request body is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise _bad(f"request body must be a JSON object, got {_json_type(document)}")

    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise _bad(f"'id' must be a string, got {_json_type(request_id)}")

    raw_inputs = document.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise _bad("'inputs' must be a non-empty list of tensors")
    tensors: dict[str, Array] = {}
    maybe_bools = b"true" in body or b"false" in body
    for index, raw in enumerate(raw_inputs):
        name, array = _decode_input(index, raw, inputs, maybe_bools)
        if name in tensors:
            raise _bad(f"input '{name}' appears more than once")
        tensors[name] = array
    missing = [name for name in inputs if name not in tensors]
    if missing:
        raise _bad(f"missing input {_names(missing)}; the model expects {_names(list(inputs))}")

    return InferenceRequest(
        id=request_id,
        inputs=tensors,
        outputs=_decode_requested_outputs(document.get("outputs"), outputs),
    )


def _decode_input(
    index: int, raw: Any, inputs: Mapping[str, TensorSpec], maybe_bools: bool
) -> tuple[str, Array]:
    # The happy path runs per request: checks are inline and messages are built only on error.
    if type(raw) is not dict:
        raise _bad(f"inputs[{index}] must be an object, got {_json_type(raw)}")
    name = raw.get("name")
    if type(name) is not str:
        raise _bad(f"inputs[{index}].name must be a string")
    spec = inputs.get(name)
    if spec is None:
        raise _bad(f"unknown input '{name}'; the model expects {_names(list(inputs))}")

    shape = raw.get("shape")
    if type(shape) is not list or not all(type(dim) is int and dim >= 0 for dim in shape):
        raise _bad(
            f"input '{name}': 'shape' must be a list of non-negative integers, got {shape!r}"
        )
    datatype = raw.get("datatype")
    if type(datatype) is not str or datatype not in DATATYPES:
        raise _bad(
            f"input '{name}': unknown datatype {datatype!r}; expected one of {', '.join(DATATYPES)}"
        )
    parameters = raw.get("parameters")
    if parameters is not None and type(parameters) is dict and "binary_data_size" in parameters:
        raise _bad(
            f"input '{name}': binary tensor data is not supported; send the values in 'data'"
        )
    data = raw.get("data", _MISSING)
    if data is _MISSING:
        raise _bad(f"input '{name}': 'data' is missing")

    model_shape = spec.shape
    if len(shape) != len(model_shape) or any(
        want >= 0 and got != want for got, want in zip(shape, model_shape, strict=True)
    ):
        raise _bad(f"input '{name}': shape {shape} does not match the model's {list(model_shape)}")
    if 0 in shape:
        raise _bad(f"input '{name}': shape {shape} holds no values")
    return name, _decode_data(name, data, shape, datatype, spec, maybe_bools)


def _decode_data(
    name: str, data: Any, shape: list[int], datatype: str, spec: TensorSpec, maybe_bools: bool
) -> Array:
    where = f"input '{name}'"
    if datatype != spec.datatype:
        # As Triton: the client states the model's datatype; converting would hide its mistake.
        raise _bad(
            f"{where}: datatype {datatype} does not match the model's datatype {spec.datatype}"
        )
    if not isinstance(data, list):
        data = [data]
    declared = target = spec.dtype

    if datatype == "BYTES":
        array = _decode_bytes(where, data)
    else:
        try:
            array = np.asarray(data)
            if declared.kind in "iu" and array.dtype.kind in "fO":
                # Integers past INT64's range make numpy guess floats or objects.
                array = _exact_integers(where, data, array, declared, datatype)
        except (ValueError, TypeError, OverflowError):
            raise _bad(f"{where}: 'data' is ragged or holds values that are not numbers") from None
        if array.dtype.kind not in _ACCEPTED_KINDS[declared.kind] or (
            # numpy turns booleans mixed with numbers into numbers; only a body that spells
            # `true` or `false` somewhere pays for the walk that finds them.
            maybe_bools and declared.kind != "b" and _holds_bool(data)
        ):
            kind = "booleans" if declared.kind == "b" else "numbers"
            raise _bad(f"{where}: 'data' for datatype {datatype} must hold {kind} only")

    if array.ndim > 1 and array.shape != tuple(shape):
        # Flat data is row-major by the spec; nested data carries a shape of its own.
        raise _bad(
            f"{where}: nested 'data' has shape {list(array.shape)}, not the declared {shape}"
        )
    expected = math.prod(shape)
    if array.size != expected:
        raise _bad(f"{where}: shape {shape} needs {expected} values, 'data' has {array.size}")

    if target.kind in "iu":
        _check_int_range(where, array, target, datatype)
    # JSON has no NaN or infinity (orjson refuses them), so the only way to a non-finite value
    # is a number too large for the model's type: the cast reports that, with no scan of the data.
    try:
        with np.errstate(over="raise", invalid="raise"):
            array = array.astype(target, copy=False)
    except FloatingPointError:
        raise _bad(
            f"{where}: 'data' holds a value that is not a finite {spec.datatype} number "
            "(too large for the type); the model accepts finite numbers only"
        ) from None
    return array.reshape(shape)


def _holds_bool(data: list[Any]) -> bool:
    lists = [data]
    while lists:
        for value in lists.pop():
            if type(value) is bool:
                return True
            if type(value) is list:
                lists.append(value)
    return False


def _exact_integers(
    where: str, data: list[Any], guessed: Array, declared: np.dtype[Any], datatype: str
) -> Array:
    values = np.asarray(data, dtype=np.object_).ravel().tolist()
    if not values or not all(type(value) is int for value in values):
        return guessed  # not integers after all: the kind check names the problem
    info = np.iinfo(declared)
    bad = next((value for value in values if not info.min <= value <= info.max), None)
    if bad is not None:
        raise _bad(f"{where}: value {bad} is out of range for {datatype}")
    return np.asarray(data, dtype=declared)


def _decode_bytes(where: str, data: list[Any]) -> Array:
    try:
        array = np.asarray(data, dtype=np.object_)
    except ValueError:
        raise _bad(f"{where}: 'data' is ragged") from None
    if not all(isinstance(value, str) for value in array.ravel().tolist()):
        raise _bad(f"{where}: 'data' for datatype BYTES must hold strings only")
    return array


def _check_int_range(where: str, array: Array, dtype: np.dtype[Any], datatype: str) -> None:
    info = np.iinfo(dtype)
    if array.dtype.kind not in "iu" or array.size == 0:
        return
    low, high = int(array.min()), int(array.max())
    if low < info.min or high > info.max:
        bad = low if low < info.min else high
        raise _bad(f"{where}: value {bad} is out of range for {datatype}")


def _decode_requested_outputs(raw: Any, outputs: Sequence[str]) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise _bad(f"'outputs' must be a list of objects, got {_json_type(raw)}")
    if not raw:
        return None  # as if absent: an empty answer is never what a client asked for
    names: list[str] = []
    for index, item in enumerate(raw):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            raise _bad(f"outputs[{index}].name must be a string")
        if name not in outputs:
            raise _bad(f"unknown output '{name}'; the model has {_names(list(outputs))}")
        if name in names:
            raise _bad(f"output '{name}' is requested more than once")
        names.append(name)
    return tuple(names)


def encode_infer_response(
    model_name: str,
    model_version: str,
    request_id: str | None,
    outputs: Mapping[str, Array],
    specs: Mapping[str, TensorSpec],
) -> bytes:
    """Encode output tensors as a V2 response; numeric data goes to orjson as numpy, no lists.

    Raises ProtocolError(400) naming an output that holds NaN or infinity: JSON cannot carry
    them (orjson would write null), and a silently corrupted answer is worse than an error. The
    inputs were finite (the decoder refuses anything else) and the model gave finite outputs at
    warm-up, so the input drove it there (e.g. 3e38 overflowing a sum): the client's to fix.
    """
    encoded = [
        {
            "name": name,
            "datatype": specs[name].datatype,
            "shape": list(array.shape),
            "data": _data(array),
        }
        for name, array in outputs.items()
    ]
    document: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id is not None:
        document["id"] = request_id
    document["outputs"] = encoded
    payload = orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
    # orjson writes NaN and infinity as null, and nothing else of ours is a bare null: one scan
    # of the bytes replaces a check of every float output (a name holding "null" costs a check).
    if b"null" in payload:
        for name, array in outputs.items():
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                raise ProtocolError(
                    400,
                    f"output '{name}' is not finite (NaN or infinity, which JSON cannot carry) "
                    "for this input: its values are outside the range the model computes in; "
                    "send smaller values",
                )
    return payload


def _data(array: Array) -> Any:
    if array.dtype.kind == "O" or not array.flags.c_contiguous:
        return array.ravel().tolist()
    return array.reshape(-1)


def encode_error(message: str) -> bytes:
    return orjson.dumps({"error": message})


def _names(names: Sequence[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number"
    )
