"""The ONNX Runtime session both floors run: bench/floor.py (REST) and bench/grpc_floor.py (gRPC).

The model at BENCH_MODEL on BENCH_INTRA_OP_THREADS threads (the knob our server exposes as
SERVING_INTRA_OP_THREADS; the harness sets both alike), loaded once at import.
"""

from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort

__all__ = ["DATATYPES", "INPUT", "OUTPUTS", "SESSION"]

DATATYPES = {np.dtype(np.float32): "FP32", np.dtype(np.int64): "INT64"}
"""The V2 datatype of each output dtype the benchmark models have."""


def _session() -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get("BENCH_INTRA_OP_THREADS", "1"))
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        os.environ["BENCH_MODEL"], options, providers=["CPUExecutionProvider"]
    )


SESSION = _session()
INPUT: str = SESSION.get_inputs()[0].name
OUTPUTS: list[str] = [output.name for output in SESSION.get_outputs()]
