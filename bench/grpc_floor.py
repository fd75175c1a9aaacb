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
import sys
from pathlib import Path
from typing import Any

import grpc
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.floor_model import DATATYPES, INPUT, OUTPUTS, SESSION
from serving.proto import grpc_predict_v2_pb2 as pb


async def model_infer(request: pb.ModelInferRequest, context: Any) -> pb.ModelInferResponse:
    tensor = request.inputs[0]
    x = np.frombuffer(request.raw_input_contents[0], dtype=np.float32).reshape(tensor.shape)
    results = SESSION.run(OUTPUTS, {INPUT: x})
    response = pb.ModelInferResponse(model_name=request.model_name, id=request.id)
    for name, value in zip(OUTPUTS, results, strict=True):
        response.outputs.add(name=name, datatype=DATATYPES[value.dtype], shape=value.shape)
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
