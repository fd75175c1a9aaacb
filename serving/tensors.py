"""V2 tensors: the datatypes, a model's tensor specs, and the one checker of input values.

Every wire format (JSON `data`, the REST binary tensor extension, gRPC typed `contents` and
`raw_input_contents`) hands its values to `decode_tensor` in one of the `TensorData` shapes: the
same rules and the same messages for datatype, shape, element count, booleans, integer ranges
and finiteness, whichever protocol carried the tensor. `serving.protocol` (REST's JSON document)
and `serving.grpc_service` build on this module; it imports neither.

Decoding is hand-written over `numpy` rather than a pydantic model: the tensors are the hot
path, and one `np.asarray` over the JSON list (or `np.frombuffer` over raw bytes) validates and
converts them in C.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "DATATYPES",
    "ONNX_DATATYPES",
    "TYPED_CONTENTS",
    "JsonData",
    "MissingData",
    "ProtocolError",
    "RawData",
    "TensorData",
    "TensorSpec",
    "TypedData",
    "bad",
    "decode_tensor",
    "quoted",
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


class ProtocolError(Exception):
    """A request the server answers with `status` and `{"error": message}`."""

    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


def bad(message: str) -> ProtocolError:
    """A client's mistake (400), for the caller to raise."""
    return ProtocolError(400, message)


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A model input or output: name, V2 datatype and shape (-1 where the model leaves it open)."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any] = field(init=False, repr=False, compare=False)
    """The numpy dtype of `datatype`, looked up once: every request reads it."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", DATATYPES[self.datatype])


# The records below are made per tensor of every request: NamedTuples, immutable like a frozen
# dataclass, cost a third of its construction.


class JsonData(NamedTuple):
    """A tensor's values as JSON `data`: flat or nested lists."""

    values: Any
    maybe_bools: bool
    """Whether the body spells `true` or `false` anywhere (a walk then looks for booleans)."""


class RawData(NamedTuple):
    """A tensor's values as raw bytes: little-endian, row-major; BYTES elements each after a
    4-byte little-endian length (the binary tensor extension and gRPC's raw contents)."""

    buffer: bytes | memoryview


class TypedData(NamedTuple):
    """A tensor's values as gRPC typed contents: the non-empty `InferTensorContents` fields."""

    fields: Mapping[str, Sequence[Any]]


class MissingData(NamedTuple):
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
_WIRE: Final[Mapping[str, np.dtype[Any]]] = {
    datatype: dtype.newbyteorder("<") for datatype, dtype in DATATYPES.items()
}
"""V2 datatype → its dtype on the wire (little-endian), made once: not per tensor."""


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
        raise bad(f"inputs[{index}].name must be a string")
    spec = inputs.get(name)
    if spec is None:
        raise bad(f"unknown input '{name}'; the model expects {quoted(list(inputs))}")
    model_shape = spec.shape
    shape_status = _shape_status(shape, model_shape)
    if shape_status is _NOT_DIMS:
        raise bad(f"input '{name}': 'shape' must be a list of non-negative integers, got {shape!r}")
    if type(datatype) is not str or datatype not in DATATYPES:
        raise bad(
            f"input '{name}': unknown datatype {datatype!r}; expected one of {', '.join(DATATYPES)}"
        )
    if shape_status is _MISMATCH:
        raise bad(f"input '{name}': shape {shape} does not match the model's {list(model_shape)}")
    if 0 in shape:
        raise bad(f"input '{name}': shape {shape} holds no values")
    if type(data) is MissingData:
        # After the shape checks: protobuf cannot tell an empty tensor's values from none.
        raise bad(data.message)
    where = f"input '{name}'"
    if datatype != spec.datatype:
        # As Triton: the client states the model's datatype; converting would hide its mistake.
        raise bad(
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


_SHAPE_OK: Final = "ok"
_NOT_DIMS: Final = "not a list of non-negative integers"
_MISMATCH: Final = "not the model's shape"


def _shape_status(shape: Any, model_shape: tuple[int, ...]) -> str:
    """Whether `shape` is a list of non-negative ints, and then whether it has the model's rank
    and size on every axis the model fixes: one loop, run per tensor of every request."""
    if type(shape) is not list:
        return _NOT_DIMS
    fits = len(shape) == len(model_shape)
    for axis, dim in enumerate(shape):
        if type(dim) is not int or dim < 0:
            return _NOT_DIMS
        if fits:
            want = model_shape[axis]
            fits = want < 0 or dim == want
    return _SHAPE_OK if fits else _MISMATCH


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
            raise bad(f"{where}: 'data' is ragged or holds values that are not numbers") from None
        if array.dtype.kind not in _ACCEPTED_KINDS[declared.kind] or (
            # numpy turns booleans mixed with numbers into numbers; only a body that spells
            # `true` or `false` somewhere pays for the walk that finds them.
            maybe_bools and declared.kind != "b" and _holds_bool(data)
        ):
            kind = "booleans" if declared.kind == "b" else "numbers"
            raise bad(f"{where}: 'data' for datatype {datatype} must hold {kind} only")

    if array.ndim > 1 and array.shape != tuple(shape):
        # Flat data is row-major by the spec; nested data carries a shape of its own.
        raise bad(f"{where}: nested 'data' has shape {list(array.shape)}, not the declared {shape}")
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
        raise bad(f"{where}: shape {shape} needs {expected} values, {label} has {array.size}")
    target = spec.dtype
    datatype = spec.datatype
    if array.dtype != target:  # raw values arrive in the model's dtype: nothing to cast
        if target.kind in "iu":
            _check_int_range(where, array, target, datatype)
        cast = _cast_finite(array, target)
        if cast is None:
            raise bad(
                f"{where}: {label} holds a value that is not a finite {datatype} number "
                "(too large for the type); the model accepts finite numbers only"
            )
        array = cast
    if not parsed and target.kind == "f" and not _all_finite(array):
        raise bad(
            f"{where}: {label} holds a value that is not a finite {datatype} number "
            "(NaN or infinity); the model accepts finite numbers only"
        )
    return array.reshape(shape)


def _cast_finite(array: Array, target: np.dtype[Any]) -> Array | None:
    """`array` as `target`, or None when a finite value would not stay finite: a number past a
    narrower float type's range (3e38 * 10 as FP32, 70000 as FP16). A few values are compared in
    Python with the type's overflow threshold; more are cast under `np.errstate`, whose cost per
    call (~1 µs, a third of a small request's decoding) only pays off on larger arrays."""
    if not _may_overflow(array.dtype, target) or array.size == 0:
        return array.astype(target, copy=False)
    if array.size <= _FEW:
        threshold = _OVERFLOW[target]
        values = array.ravel().tolist()
        high, low = max(values), min(values)
        # With an infinity, or a NaN first in the list (every comparison with it is false, so
        # max() or min() returns it), the bounds say nothing of the other values: numpy decides.
        if math.isfinite(high) and math.isfinite(low):
            if high >= threshold or low <= -threshold:
                return None
            return array.astype(target, copy=False)
    try:
        with np.errstate(over="raise", invalid="raise"):
            return array.astype(target)
    except FloatingPointError:
        return None


def _may_overflow(source: np.dtype[Any], target: np.dtype[Any]) -> bool:
    """Whether casting `source` values to `target` can give infinity: a float to a narrower
    float, or an integer to FP16 (every 64-bit integer fits FP32's range, not FP16's 65504)."""
    if target.kind != "f":
        return False
    if source.kind == "f":
        return source.itemsize > target.itemsize
    return source.kind in "iu" and target.itemsize == 2


_FEW = 16
"""Up to this many values, Python checks them faster than numpy sets up a ufunc and a reduction."""


def _overflow_threshold(dtype: np.dtype[Any]) -> float:
    """The smallest float64 magnitude that rounds to infinity as `dtype`: its largest value plus
    half the gap below it (round to nearest, ties to even, and that largest value is odd)."""
    largest = np.finfo(dtype).max
    gap = float(largest) - float(np.nextafter(largest, dtype.type(0)))
    return float(largest) + gap / 2


_OVERFLOW: Final[Mapping[np.dtype[Any], float]] = {
    dtype: _overflow_threshold(dtype) for dtype in (np.dtype(np.float16), np.dtype(np.float32))
}


def _all_finite(array: Array) -> bool:
    if array.size <= _FEW:
        return all(map(math.isfinite, array.ravel().tolist()))
    return bool(np.isfinite(array).all())


def _decode_raw(
    where: str, buffer: bytes | memoryview, shape: list[int], datatype: str, spec: TensorSpec
) -> Array:
    expected = math.prod(shape)
    if datatype == "BYTES":
        return _decode_length_prefixed(where, buffer, expected)
    wire = _WIRE[datatype]
    if len(buffer) != expected * wire.itemsize:
        raise bad(
            f"{where}: shape {shape} needs {expected} values ({expected * wire.itemsize} bytes "
            f"of {datatype}), the raw data has {len(buffer)} bytes"
        )
    if datatype == "BOOL":
        octets = np.frombuffer(buffer, dtype=np.uint8)
        if octets.size and int(octets.max()) > 1:
            raise bad(f"{where}: the raw data for datatype BOOL must hold bytes 0 or 1 only")
        return octets.view(np.bool_)
    return np.frombuffer(buffer, dtype=wire)


def _decode_length_prefixed(where: str, buffer: bytes | memoryview, count: int) -> Array:
    view = memoryview(buffer).cast("B")
    values: list[str] = []
    offset, end = 0, len(view)
    while offset < end:
        if offset + 4 > end:
            raise bad(
                f"{where}: the raw BYTES data ends inside the length of element {len(values)}"
            )
        length = int(np.frombuffer(view[offset : offset + 4], dtype=_LENGTH)[0])
        offset += 4
        if offset + length > end:
            raise bad(
                f"{where}: BYTES element {len(values)} of {length} bytes runs past the end of "
                "the raw data"
            )
        values.append(_text(where, len(values), bytes(view[offset : offset + length])))
        offset += length
    array = np.empty(len(values), dtype=np.object_)
    array[:] = values
    if array.size != count:
        raise bad(f"{where}: needs {count} BYTES values, the raw data has {array.size}")
    return array


def _text(where: str, index: int, value: bytes) -> str:
    # The model's string tensors hold text: bytes that are not UTF-8 cannot reach it intact.
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise bad(f"{where}: BYTES element {index} is not valid UTF-8") from None


def _decode_typed(
    where: str, fields: Mapping[str, Sequence[Any]], datatype: str
) -> tuple[Array, str]:
    expected = TYPED_CONTENTS.get(datatype)
    if expected is None:
        raise bad(
            f"{where}: datatype {datatype} has no typed 'contents' field; "
            "send its values in 'raw_input_contents'"
        )
    others = [field for field in fields if field != expected]
    if others:
        raise bad(
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
    outside = next((value for value in values if not info.min <= value <= info.max), None)
    if outside is not None:
        raise bad(f"{where}: value {outside} is out of range for {datatype}")
    return np.asarray(data, dtype=declared)


def _decode_bytes(where: str, data: list[Any]) -> Array:
    try:
        array = np.asarray(data, dtype=np.object_)
    except ValueError:
        raise bad(f"{where}: 'data' is ragged") from None
    if not all(isinstance(value, str) for value in array.ravel().tolist()):
        raise bad(f"{where}: 'data' for datatype BYTES must hold strings only")
    return array


def _check_int_range(where: str, array: Array, dtype: np.dtype[Any], datatype: str) -> None:
    info = np.iinfo(dtype)
    if array.dtype.kind not in "iu" or array.size == 0:
        return
    low, high = int(array.min()), int(array.max())
    if low < info.min or high > info.max:
        outside = low if low < info.min else high
        raise bad(f"{where}: value {outside} is out of range for {datatype}")


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
    wire = _WIRE[datatype]
    # tobytes() writes row-major whatever the layout; a cast only when not little-endian already.
    return (array if array.dtype == wire else array.astype(wire)).tobytes()


def quoted(names: Sequence[str]) -> str:
    """Names as a message lists them: 'a', 'b'."""
    return ", ".join(f"'{name}'" for name in names)
