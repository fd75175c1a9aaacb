"""Open Inference Protocol V2 over REST: the JSON request and response documents.

A request's tensors, JSON `data` or raw bytes after the JSON (the binary tensor extension's
`Inference-Header-Content-Length`), go to `serving.tensors.decode_tensor`, the checker gRPC
uses too; this module reads the document around them (id, inputs, requested outputs, the
`binary_data` parameters) and writes the answer, as JSON or with raw outputs after it. The
tensor vocabulary is re-exported here for the modules that speak the protocol as a whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple

import numpy as np
import orjson

from serving.tensors import (
    DATATYPES,
    ONNX_DATATYPES,
    TYPED_CONTENTS,
    Array,
    JsonData,
    MissingData,
    ProtocolError,
    RawData,
    TensorData,
    TensorSpec,
    TypedData,
    bad,
    decode_tensor,
    quoted,
    raw_bytes,
)

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

EXTENSIONS: Final = ("binary_tensor_data",)
"""The protocol extensions server metadata lists, by Triton's names: the binary tensor data
extension (REST's `Inference-Header-Content-Length`, gRPC's raw contents)."""

_MISSING: Final = object()


class InferenceRequest(NamedTuple):
    """A decoded, validated inference request: tensors already in the model's dtypes (a
    NamedTuple: immutable, and a third of a frozen dataclass's cost to make, once per request)."""

    id: str | None
    inputs: dict[str, Array]
    outputs: tuple[str, ...] | None
    """Requested output names in order, or None for all of the model's outputs (also when the
    request's `outputs` is an empty list)."""
    raw_outputs: frozenset[str] = frozenset()
    """Outputs the client asked for as raw bytes (`binary_data`), not as typed values."""


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
            raise bad(
                f"Inference-Header-Content-Length {header_length} exceeds the body's "
                f"{len(body)} bytes"
            )
        binary = memoryview(body)[header_length:]
        body = body[:header_length]
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise bad(f"request body is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise bad(f"request body must be a JSON object, got {_json_type(document)}")

    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise bad(f"'id' must be a string, got {_json_type(request_id)}")

    raw_inputs = document.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise bad("'inputs' must be a non-empty list of tensors")
    maybe_bools = b"true" in body or b"false" in body
    offset = 0
    tensors: list[tuple[str, Array]] = []
    for index, raw in enumerate(raw_inputs):
        if type(raw) is not dict:
            raise bad(f"inputs[{index}] must be an object, got {_json_type(raw)}")
        data, offset = _json_tensor_data(raw, binary, offset, maybe_bools)
        tensors.append(
            decode_tensor(
                index, raw.get("name"), raw.get("shape"), raw.get("datatype"), data, inputs
            )
        )
    if binary is not None and offset != len(binary):
        raise bad(
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
        raise bad(f"'{where}' must be an object, got {_json_type(parameters)}")
    key = "binary_data_output" if where == "parameters" else "binary_data"
    value = parameters.get(key)
    if value is not None and type(value) is not bool:
        raise bad(f"{where}.{key} must be a boolean, got {_json_type(value)}")
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
            raise bad(f"input '{name}' appears more than once")
        decoded[name] = array
    # Every decoded name is one of the model's inputs, none twice: the counts tell if any lack.
    if len(decoded) != len(inputs):
        missing = [name for name in inputs if name not in decoded]
        raise bad(f"missing input {quoted(missing)}; the model expects {quoted(list(inputs))}")
    return InferenceRequest(id=request_id, inputs=decoded, outputs=outputs, raw_outputs=raw_outputs)


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
        raise bad(f"'outputs' must be a list of objects, got {_json_type(raw)}")
    if not raw:
        return None, everything  # as if absent: an empty answer is never what a client asked for
    names: list[str] = []
    binary: set[str] = set()
    for index, item in enumerate(raw):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            raise bad(f"outputs[{index}].name must be a string")
        if name not in outputs:
            raise bad(f"unknown output '{name}'; the model has {quoted(list(outputs))}")
        if name in names:
            raise bad(f"output '{name}' is requested more than once")
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


def _data(array: Array) -> Any:
    if array.dtype.kind == "O" or not array.flags.c_contiguous:
        return array.ravel().tolist()
    return array.reshape(-1)


def encode_error(message: str) -> bytes:
    return orjson.dumps({"error": message})


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number"
    )
