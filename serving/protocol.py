"""Open Inference Protocol V2: datatypes, the request decoder, the response encoders.

Every wire format (JSON `data`, the REST binary tensor extension, gRPC typed `contents` and
`raw_input_contents`) goes through one checker, `decode_tensor`: the same rules and the same
messages for datatype, shape, element count, booleans, integer ranges and finiteness.

Decoding is hand-written over `orjson` and `numpy` rather than a pydantic model: the tensors are
the hot path, and one `np.asarray` over the JSON list (or `np.frombuffer` over raw bytes)
validates and converts them in C.
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
    "EXTENSIONS",
    "ONNX_DATATYPES",
    "TYPED_CONTENTS",
    "InferenceRequest",
    "JsonData",
    "MissingData",
    "ProtocolError",
    "RawData",
    "TensorData",
    "TensorSpec",
    "TypedData",
    "assemble_request",
    "decode_infer_request",
    "decode_requested_outputs",
    "decode_tensor",
    "encode_binary_response",
    "encode_error",
    "encode_infer_response",
    "metadata_tensor",
    "raw_bytes",
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

EXTENSIONS: Final = ("binary_tensor_data",)
"""The protocol extensions server metadata lists, by Triton's names: the binary tensor data
extension (REST's `Inference-Header-Content-Length`, gRPC's raw contents)."""

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
    raw_outputs: frozenset[str] = frozenset()
    """Outputs the client asked for as raw bytes (`binary_data`), not as typed values."""


@dataclass(frozen=True, slots=True)
class JsonData:
    """A tensor's values as JSON `data`: flat or nested lists."""

    values: Any
    maybe_bools: bool
    """Whether the body spells `true` or `false` anywhere (a walk then looks for booleans)."""


@dataclass(frozen=True, slots=True)
class RawData:
    """A tensor's values as raw bytes: little-endian, row-major; BYTES elements each after a
    4-byte little-endian length (the binary tensor extension and gRPC's raw contents)."""

    buffer: bytes | memoryview


@dataclass(frozen=True, slots=True)
class TypedData:
    """A tensor's values as gRPC typed contents: the non-empty `InferTensorContents` fields."""

    fields: Mapping[str, Sequence[Any]]


@dataclass(frozen=True, slots=True)
class MissingData:
    """A tensor that carries no values; `message` says what the client should have sent."""

    message: str


TensorData = JsonData | RawData | TypedData | MissingData

TYPED_CONTENTS: Final[Mapping[str, str]] = {
    "BOOL": "bool_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
"""V2 datatype → the gRPC `InferTensorContents` field that carries it (FP16 has none: raw only)."""

_LENGTH = np.dtype("<u4")


def metadata_tensor(spec: TensorSpec) -> dict[str, Any]:
    return {"name": spec.name, "datatype": spec.datatype, "shape": list(spec.shape)}


def decode_infer_request(
    body: bytes,
    inputs: Mapping[str, TensorSpec],
    outputs: Sequence[str],
    header_length: int | None = None,
) -> InferenceRequest:
    """Parse and check a V2 inference request against the model's signature.

    `header_length` is the `Inference-Header-Content-Length` of a binary tensor request: the
    body's first `header_length` bytes are the JSON, the rest the inputs' raw values in order.
    Raises ProtocolError(400) naming the request part and the bad value.
    """
    binary: memoryview | None = None
    if header_length is not None:
        if header_length > len(body):
            raise _bad(
                f"Inference-Header-Content-Length {header_length} exceeds the body's "
                f"{len(body)} bytes"
            )
        binary = memoryview(body)[header_length:]
        body = body[:header_length]
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
    maybe_bools = b"true" in body or b"false" in body
    offset = 0
    tensors: list[tuple[str, Array]] = []
    for index, raw in enumerate(raw_inputs):
        if type(raw) is not dict:
            raise _bad(f"inputs[{index}] must be an object, got {_json_type(raw)}")
        data, offset = _json_tensor_data(raw, binary, offset, maybe_bools)
        tensors.append(
            decode_tensor(
                index, raw.get("name"), raw.get("shape"), raw.get("datatype"), data, inputs
            )
        )
    if binary is not None and offset != len(binary):
        raise _bad(
            f"the binary data holds {len(binary)} bytes, the inputs' 'binary_data_size' "
            f"add up to {offset}"
        )
    requested, raw_outputs = decode_requested_outputs(
        document.get("outputs"), outputs, _binary_flag(document.get("parameters"), "parameters")
    )
    return assemble_request(request_id, tensors, inputs, requested, raw_outputs)


def _json_tensor_data(
    raw: dict[str, Any], binary: memoryview | None, offset: int, maybe_bools: bool
) -> tuple[TensorData, int]:
    name = raw.get("name")
    parameters = raw.get("parameters")
    size = parameters.get("binary_data_size") if type(parameters) is dict else None
    data = raw.get("data", _MISSING)
    if size is None:
        if data is _MISSING:
            return MissingData(f"input '{name}': 'data' is missing"), offset
        return JsonData(data, maybe_bools), offset
    if binary is None:
        return MissingData(
            f"input '{name}': 'binary_data_size' needs the binary tensor extension "
            "(an Inference-Header-Content-Length header and the values after the JSON)"
        ), offset
    if type(size) is not int or size < 0:
        return MissingData(
            f"input '{name}': 'binary_data_size' must be a non-negative integer, got {size!r}"
        ), offset
    if data is not _MISSING:
        return MissingData(f"input '{name}': has both 'data' and 'binary_data_size'"), offset
    if offset + size > len(binary):
        return MissingData(
            f"input '{name}': 'binary_data_size' {size} runs past the end of the binary data "
            f"({len(binary)} bytes after the JSON)"
        ), offset
    return RawData(binary[offset : offset + size]), offset + size


def _binary_flag(parameters: Any, where: str) -> bool | None:
    """The `binary_data` / `binary_data_output` parameter, None when absent."""
    if parameters is None:
        return None
    if type(parameters) is not dict:
        raise _bad(f"'{where}' must be an object, got {_json_type(parameters)}")
    key = "binary_data_output" if where == "parameters" else "binary_data"
    value = parameters.get(key)
    if value is not None and type(value) is not bool:
        raise _bad(f"{where}.{key} must be a boolean, got {_json_type(value)}")
    return value


def assemble_request(
    request_id: str | None,
    tensors: Sequence[tuple[str, Array]],
    inputs: Mapping[str, TensorSpec],
    outputs: tuple[str, ...] | None,
    raw_outputs: frozenset[str] = frozenset(),
) -> InferenceRequest:
    """The checks across a request's decoded inputs: none twice, none missing."""
    decoded: dict[str, Array] = {}
    for name, array in tensors:
        if name in decoded:
            raise _bad(f"input '{name}' appears more than once")
        decoded[name] = array
    missing = [name for name in inputs if name not in decoded]
    if missing:
        raise _bad(f"missing input {_names(missing)}; the model expects {_names(list(inputs))}")
    return InferenceRequest(id=request_id, inputs=decoded, outputs=outputs, raw_outputs=raw_outputs)


def decode_tensor(
    index: int,
    name: Any,
    shape: Any,
    datatype: Any,
    data: TensorData,
    inputs: Mapping[str, TensorSpec],
) -> tuple[str, Array]:
    """Check one input tensor, whatever carried it, and convert it to the model's dtype.

    `shape` must be a list; the checks run in the same order for every wire format, so a bad
    tensor gets the same message over JSON, binary REST and gRPC.
    """
    # The happy path runs per request: checks are inline and messages are built only on error.
    if type(name) is not str:
        raise _bad(f"inputs[{index}].name must be a string")
    spec = inputs.get(name)
    if spec is None:
        raise _bad(f"unknown input '{name}'; the model expects {_names(list(inputs))}")
    if type(shape) is not list or not all(type(dim) is int and dim >= 0 for dim in shape):
        raise _bad(
            f"input '{name}': 'shape' must be a list of non-negative integers, got {shape!r}"
        )
    if type(datatype) is not str or datatype not in DATATYPES:
        raise _bad(
            f"input '{name}': unknown datatype {datatype!r}; expected one of {', '.join(DATATYPES)}"
        )

    model_shape = spec.shape
    if len(shape) != len(model_shape) or any(
        want >= 0 and got != want for got, want in zip(shape, model_shape, strict=True)
    ):
        raise _bad(f"input '{name}': shape {shape} does not match the model's {list(model_shape)}")
    if 0 in shape:
        raise _bad(f"input '{name}': shape {shape} holds no values")
    if type(data) is MissingData:
        # After the shape checks: protobuf cannot tell an empty tensor's values from none.
        raise _bad(data.message)
    where = f"input '{name}'"
    if datatype != spec.datatype:
        # As Triton: the client states the model's datatype; converting would hide its mistake.
        raise _bad(
            f"{where}: datatype {datatype} does not match the model's datatype {spec.datatype}"
        )
    if type(data) is JsonData:
        return name, _decode_data(where, data.values, shape, datatype, spec, data.maybe_bools)
    if type(data) is RawData:
        array, label = _decode_raw(where, data.buffer, shape, datatype, spec), "the raw data"
    else:
        assert type(data) is TypedData
        array, label = _decode_typed(where, data.fields, datatype)
    return name, _finish(where, array, shape, spec, label, parsed=False)


def _decode_data(
    where: str, data: Any, shape: list[int], datatype: str, spec: TensorSpec, maybe_bools: bool
) -> Array:
    if not isinstance(data, list):
        data = [data]
    declared = spec.dtype

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
    return _finish(where, array, shape, spec, "'data'", parsed=True)


def _finish(
    where: str, array: Array, shape: list[int], spec: TensorSpec, label: str, *, parsed: bool
) -> Array:
    """The checks every wire format shares once its values are an array: element count, integer
    range, finiteness; then the cast to the model's dtype and the declared shape.

    `parsed`: the values came from JSON, which has no NaN or infinity (orjson refuses them), so
    a non-finite value can only come from the cast; raw and typed floats may hold them as sent.
    """
    expected = math.prod(shape)
    if array.size != expected:
        raise _bad(f"{where}: shape {shape} needs {expected} values, {label} has {array.size}")
    target = spec.dtype
    datatype = spec.datatype
    if target.kind in "iu" and array.dtype != target:
        _check_int_range(where, array, target, datatype)
    try:
        with np.errstate(over="raise", invalid="raise"):
            array = array.astype(target, copy=False)
    except FloatingPointError:
        raise _bad(
            f"{where}: {label} holds a value that is not a finite {datatype} number "
            "(too large for the type); the model accepts finite numbers only"
        ) from None
    if not parsed and target.kind == "f" and not np.isfinite(array).all():
        raise _bad(
            f"{where}: {label} holds a value that is not a finite {datatype} number "
            "(NaN or infinity); the model accepts finite numbers only"
        )
    return array.reshape(shape)


def _decode_raw(
    where: str, buffer: bytes | memoryview, shape: list[int], datatype: str, spec: TensorSpec
) -> Array:
    expected = math.prod(shape)
    if datatype == "BYTES":
        return _decode_length_prefixed(where, buffer, expected)
    wire = spec.dtype.newbyteorder("<")
    if len(buffer) != expected * wire.itemsize:
        raise _bad(
            f"{where}: shape {shape} needs {expected} values ({expected * wire.itemsize} bytes "
            f"of {datatype}), the raw data has {len(buffer)} bytes"
        )
    if datatype == "BOOL":
        octets = np.frombuffer(buffer, dtype=np.uint8)
        if octets.size and int(octets.max()) > 1:
            raise _bad(f"{where}: the raw data for datatype BOOL must hold bytes 0 or 1 only")
        return octets.view(np.bool_)
    return np.frombuffer(buffer, dtype=wire)


def _decode_length_prefixed(where: str, buffer: bytes | memoryview, count: int) -> Array:
    view = memoryview(buffer).cast("B")
    values: list[str] = []
    offset, end = 0, len(view)
    while offset < end:
        if offset + 4 > end:
            raise _bad(
                f"{where}: the raw BYTES data ends inside the length of element {len(values)}"
            )
        length = int(np.frombuffer(view[offset : offset + 4], dtype=_LENGTH)[0])
        offset += 4
        if offset + length > end:
            raise _bad(
                f"{where}: BYTES element {len(values)} of {length} bytes runs past the end of "
                "the raw data"
            )
        values.append(_text(where, len(values), bytes(view[offset : offset + length])))
        offset += length
    array = np.empty(len(values), dtype=np.object_)
    array[:] = values
    if array.size != count:
        raise _bad(f"{where}: needs {count} BYTES values, the raw data has {array.size}")
    return array


def _text(where: str, index: int, value: bytes) -> str:
    # The model's string tensors hold text: bytes that are not UTF-8 cannot reach it intact.
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise _bad(f"{where}: BYTES element {index} is not valid UTF-8") from None


def _decode_typed(
    where: str, fields: Mapping[str, Sequence[Any]], datatype: str
) -> tuple[Array, str]:
    expected = TYPED_CONTENTS.get(datatype)
    if expected is None:
        raise _bad(
            f"{where}: datatype {datatype} has no typed 'contents' field; "
            "send its values in 'raw_input_contents'"
        )
    others = [field for field in fields if field != expected]
    if others:
        raise _bad(
            f"{where}: datatype {datatype} carries its values in 'contents.{expected}', "
            f"not in {', '.join(f'contents.{field}' for field in others)}"
        )
    values = fields[expected]
    label = f"'contents.{expected}'"
    if datatype == "BYTES":
        array = np.empty(len(values), dtype=np.object_)
        array[:] = [_text(where, index, bytes(value)) for index, value in enumerate(values)]
        return array, label
    # The protobuf field's own type (int32, uint64, float, ...) holds every value it decoded.
    return np.asarray(values, dtype=_TYPED_DTYPES[expected]), label


_TYPED_DTYPES: Final[Mapping[str, np.dtype[Any]]] = {
    "bool_contents": np.dtype(np.bool_),
    "int_contents": np.dtype(np.int32),
    "int64_contents": np.dtype(np.int64),
    "uint_contents": np.dtype(np.uint32),
    "uint64_contents": np.dtype(np.uint64),
    "fp32_contents": np.dtype(np.float32),
    "fp64_contents": np.dtype(np.float64),
}


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


def decode_requested_outputs(
    raw: Any, outputs: Sequence[str], binary_output: bool | None = None
) -> tuple[tuple[str, ...] | None, frozenset[str]]:
    """The requested output names (None for all) and those to send as raw bytes.

    An output's `parameters.binary_data` chooses for it; otherwise the request's
    `binary_data_output` (`binary_output`) chooses for every output, as Triton does.
    """
    everything = frozenset(outputs) if binary_output else frozenset()
    if raw is None:
        return None, everything
    if not isinstance(raw, list):
        raise _bad(f"'outputs' must be a list of objects, got {_json_type(raw)}")
    if not raw:
        return None, everything  # as if absent: an empty answer is never what a client asked for
    names: list[str] = []
    binary: set[str] = set()
    for index, item in enumerate(raw):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            raise _bad(f"outputs[{index}].name must be a string")
        if name not in outputs:
            raise _bad(f"unknown output '{name}'; the model has {_names(list(outputs))}")
        if name in names:
            raise _bad(f"output '{name}' is requested more than once")
        names.append(name)
        wanted = _binary_flag(item.get("parameters"), f"outputs[{index}].parameters")
        if wanted or (wanted is None and binary_output):
            binary.add(name)
    return tuple(names), frozenset(binary)


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
                raise _non_finite_output(name)
    return payload


def _non_finite_output(name: str) -> ProtocolError:
    return ProtocolError(
        400,
        f"output '{name}' is not finite (NaN or infinity, which JSON cannot carry) "
        "for this input: its values are outside the range the model computes in; "
        "send smaller values",
    )


def encode_binary_response(
    model_name: str,
    model_version: str,
    request_id: str | None,
    outputs: Mapping[str, Array],
    specs: Mapping[str, TensorSpec],
    raw_outputs: frozenset[str],
) -> tuple[bytes, int]:
    """Encode a V2 response with the binary tensor extension: the JSON, then the raw values of
    the outputs in `raw_outputs` in order; returns the body and the JSON's length (the
    `Inference-Header-Content-Length`). Raw outputs carry NaN and infinity as they are."""
    for name, array in outputs.items():
        if name not in raw_outputs and array.dtype.kind == "f" and not np.isfinite(array).all():
            raise _non_finite_output(name)
    encoded: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name, array in outputs.items():
        tensor: dict[str, Any] = {
            "name": name,
            "datatype": specs[name].datatype,
            "shape": list(array.shape),
        }
        if name in raw_outputs:
            chunk = raw_bytes(array, specs[name].datatype)
            chunks.append(chunk)
            tensor["parameters"] = {"binary_data_size": len(chunk)}
        else:
            tensor["data"] = _data(array)
        encoded.append(tensor)
    document: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id is not None:
        document["id"] = request_id
    document["outputs"] = encoded
    header = orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
    return b"".join([header, *chunks]), len(header)


def raw_bytes(array: Array, datatype: str) -> bytes:
    """A tensor's values as raw bytes: little-endian, row-major; BYTES elements each after their
    length as 4 little-endian bytes."""
    if datatype == "BYTES":
        parts: list[bytes] = []
        for value in array.ravel().tolist():
            item = value if isinstance(value, bytes) else str(value).encode()
            parts.append(len(item).to_bytes(4, "little"))
            parts.append(item)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=DATATYPES[datatype].newbyteorder("<")).tobytes()


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
