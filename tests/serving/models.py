"""ONNX models the serving tests build on the fly (onnx is a dev dependency, not a server one)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save_model

__all__ = ["write_slow_model"]


def write_slow_model(folder: Path, iterations: int) -> Path:
    """A model that returns its FP32 `input` [N, 4] as `output`, after a CPU-bound loop.

    The loop's state depends on the input, so ONNX Runtime cannot fold it away at load time.
    """
    width = 64
    weights = numpy_helper.from_array(np.eye(width, dtype=np.float32) * 0.5, "weights")
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("MatMul", ["state_in", "weights"], ["product"]),
            helper.make_node("Tanh", ["product"], ["state_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("iteration", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("state_in", TensorProto.FLOAT, [1, width]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("state_out", TensorProto.FLOAT, [1, width]),
        ],
        initializer=[weights],
    )
    constants = [
        numpy_helper.from_array(np.array(iterations, dtype=np.int64), "trips"),
        numpy_helper.from_array(np.array(True), "keep_going"),
        numpy_helper.from_array(np.zeros((1, width), dtype=np.float32), "zeros"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
    ]
    graph = helper.make_graph(
        [
            helper.make_node("ReduceSum", ["input"], ["total"], keepdims=1),
            helper.make_node("Mul", ["total", "zeros"], ["start"]),
            helper.make_node("Loop", ["trips", "keep_going", "start"], ["final"], body=body),
            helper.make_node("ReduceSum", ["final"], ["final_total"], keepdims=1),
            helper.make_node("Mul", ["final_total", "zero"], ["nothing"]),
            helper.make_node("Add", ["input", "nothing"], ["output"]),
        ],
        "slow",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 4])],
        initializer=constants,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    save_model(model, str(path))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (folder / "model.onnx.sha256").write_text(digest + "\n")
    return path
