"""The model runtime: an ONNX Runtime session with its signature read from the graph.

Hooks, in the order the server calls them: `OnnxModel.load(path)` (parse, pick the execution
provider, read inputs and outputs), `warm_up()` (one inference on zeros before readiness),
`predict(feeds)` (any thread; ONNX Runtime releases the GIL while it runs), `unload()`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

from serving.protocol import ONNX_DATATYPES, TensorSpec

__all__ = ["InferenceError", "ModelInputError", "ModelLoadError", "OnnxModel"]

Array = npt.NDArray[Any]

_LOAD_ERRORS: tuple[type[BaseException], ...] = (
    ort_errors.Fail,
    ort_errors.InvalidArgument,
    ort_errors.InvalidGraph,
    ort_errors.InvalidProtobuf,
    ort_errors.NoModel,
    ort_errors.NoSuchFile,
    ort_errors.NotImplemented,
    ort_errors.RuntimeException,
    OSError,
)
_RUN_ERRORS: tuple[type[BaseException], ...] = (
    ort_errors.Fail,
    ort_errors.EngineError,
    ort_errors.RuntimeException,
    ort_errors.NotImplemented,
)


_QUICK_SECONDS = 0.01


class ModelLoadError(Exception):
    """The model cannot be loaded or served; the message is one line naming what failed."""


class ModelInputError(Exception):
    """ONNX Runtime rejected the request's tensors (a client mistake: 400)."""


class InferenceError(Exception):
    """ONNX Runtime failed on tensors it accepted (a server fault: 500)."""


class OnnxModel:
    """One ONNX model in one ONNX Runtime session."""

    def __init__(self, session: ort.InferenceSession) -> None:
        self._session = session
        self.inputs: dict[str, TensorSpec] = {
            arg.name: _spec(arg.name, arg.type, arg.shape) for arg in session.get_inputs()
        }
        self.outputs: dict[str, TensorSpec] = {
            arg.name: _spec(arg.name, arg.type, arg.shape) for arg in session.get_outputs()
        }
        self.output_names: tuple[str, ...] = tuple(self.outputs)
        self.batchable = all(
            spec.shape and spec.shape[0] < 0
            for spec in (*self.inputs.values(), *self.outputs.values())
        )
        """Whether rows of several requests may be stacked along a shared, open first axis."""
        self.providers: list[str] = session.get_providers()

    @classmethod
    def load(cls, path: Path, *, intra_op_threads: int = 1, source: str = "") -> Self:
        """Open the model; `source` (the URI it came from) names it in errors."""
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Spinning threads burn the CPU that the other workers and the event loop need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        available = ort.get_available_providers()
        providers = [p for p in ("CUDAExecutionProvider",) if p in available]
        providers.append("CPUExecutionProvider")
        try:
            session = ort.InferenceSession(str(path), options, providers=providers)
        except _LOAD_ERRORS as error:
            detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
            raise ModelLoadError(f"{source or path}: not a loadable ONNX model: {detail}") from None
        try:
            return cls(session)
        except KeyError as error:
            raise ModelLoadError(
                f"{source or path}: tensor type {error.args[0]} is not supported by V2 REST"
            ) from None

    def predict(self, feeds: Mapping[str, Array]) -> dict[str, Array]:
        """Run the model on tensors in its dtypes; returns every output by name."""
        try:
            results = self._session.run(self.output_names, dict(feeds))
        except ort_errors.InvalidArgument as error:
            raise ModelInputError(str(error).strip().splitlines()[0]) from None
        except _RUN_ERRORS as error:
            raise InferenceError(str(error).strip().splitlines()[0]) from None
        return dict(zip(self.output_names, results, strict=True))

    def warm_up(self, *, rows: int = 1, source: str = "") -> float:
        """Run `rows` rows of zeros (empty strings); returns the seconds (best of three if fast).

        The first run pays for lazy initialisation, so a fast model gets two more for a fair
        figure; the server uses it to decide where inference runs and whether batching pays.
        `rows` > 1 needs a model with an open first axis.
        """
        feeds = {spec.name: _zeros(spec, rows) for spec in self.inputs.values()}
        best = float("inf")
        for attempt in range(3):
            started = time.perf_counter()
            try:
                self.predict(feeds)
            except (ModelInputError, InferenceError) as error:
                raise ModelLoadError(f"{source}: warm-up inference failed: {error}") from None
            best = min(best, time.perf_counter() - started)
            if attempt == 0 and best > _QUICK_SECONDS:
                break
        return best

    def unload(self) -> None:
        del self._session


def _zeros(spec: TensorSpec, rows: int) -> Array:
    shape = tuple(1 if dim < 0 else dim for dim in spec.shape)
    if rows > 1:
        shape = (rows, *shape[1:])
    if spec.datatype == "BYTES":
        return np.full(shape, "", dtype=np.object_)
    return np.zeros(shape, dtype=spec.dtype)


def _spec(name: str, onnx_type: str, shape: list[Any] | None) -> TensorSpec:
    datatype = ONNX_DATATYPES[onnx_type]
    dims = tuple(dim if isinstance(dim, int) and dim >= 0 else -1 for dim in (shape or []))
    return TensorSpec(name=name, datatype=datatype, shape=dims)
