"""The gRPC floor: the least a V2 gRPC endpoint on grpc.aio can do for one ONNX model.

A bare `grpc.aio` server with one generic handler for `inference.GRPCInferenceService/ModelInfer`
(and ServerReady, so the harness can wait for it): parse the request with our generated message
classes, read the first input from `raw_input_contents` as float32, run the ONNX Runtime
session, answer `raw_output_contents`. No validation, no batching, no metrics, no admission
control, no health service. What our gRPC front adds on top of this costs throughput; the
benchmark measures how much.

Run: BENCH_MODEL=bench/.work/models/small/model.onnx python bench/grpc_floor.py --port 8001
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from serving.proto import grpc_predict_v2_pb2 as pb

_DATATYPES = {np.dtype(np.float32): "FP32", np.dtype(np.int64): "INT64"}


def _session() -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get("BENCH_INTRA_OP_THREADS", "1"))
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        os.environ["BENCH_MODEL"], options, providers=["CPUExecutionProvider"]
    )


_SESSION = _session()
_INPUT = _SESSION.get_inputs()[0].name
_OUTPUTS = [o.name for o in _SESSION.get_outputs()]


async def model_infer(request: pb.ModelInferRequest, context: Any) -> pb.ModelInferResponse:
    tensor = request.inputs[0]
    x = np.frombuffer(request.raw_input_contents[0], dtype=np.float32).reshape(tensor.shape)
    results = _SESSION.run(_OUTPUTS, {_INPUT: x})
    response = pb.ModelInferResponse(model_name=request.model_name, id=request.id)
    for name, value in zip(_OUTPUTS, results, strict=True):
        response.outputs.add(name=name, datatype=_DATATYPES[value.dtype], shape=value.shape)
        response.raw_output_contents.append(value.tobytes())
    return response


async def server_ready(request: pb.ServerReadyRequest, context: Any) -> pb.ServerReadyResponse:
    return pb.ServerReadyResponse(ready=True)


async def main(host: str, port: int) -> None:
    server = grpc.aio.server()
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "ModelInfer": grpc.unary_unary_rpc_method_handler(
            model_infer,
            request_deserializer=pb.ModelInferRequest.FromString,
            response_serializer=pb.ModelInferResponse.SerializeToString,
        ),
        "ServerReady": grpc.unary_unary_rpc_method_handler(
            server_ready,
            request_deserializer=pb.ServerReadyRequest.FromString,
            response_serializer=pb.ServerReadyResponse.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("inference.GRPCInferenceService", handlers),)
    )
    server.add_insecure_port(f"{host}:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port))
