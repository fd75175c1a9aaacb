"""The floor: the least a V2 endpoint on our stack can do for one ONNX model.

A bare Starlette route that parses the V2 JSON with orjson, runs the ONNX Runtime session and
answers V2 JSON: no validation, no batching, no metrics, no admission control. What our server
adds on top of this costs throughput; the benchmark measures how much.

Run: BENCH_MODEL=bench/.work/models/small/model.onnx uvicorn bench.floor:app --workers 1
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import onnxruntime as ort
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["app"]

_DATATYPES = {np.dtype(np.float32): "FP32", np.dtype(np.int64): "INT64"}


def _session() -> ort.InferenceSession:
    options = ort.SessionOptions()
    # The same knob our server exposes (SERVING_INTRA_OP_THREADS); the harness sets both alike.
    options.intra_op_num_threads = int(os.environ.get("BENCH_INTRA_OP_THREADS", "1"))
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        os.environ["BENCH_MODEL"], options, providers=["CPUExecutionProvider"]
    )


_SESSION = _session()
_INPUT = _SESSION.get_inputs()[0].name
_OUTPUTS = [o.name for o in _SESSION.get_outputs()]


async def infer(request: Request) -> Response:
    payload: dict[str, Any] = orjson.loads(await request.body())
    tensor = payload["inputs"][0]
    x = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
    results = _SESSION.run(_OUTPUTS, {_INPUT: x})
    outputs = [
        {
            "name": name,
            "shape": list(value.shape),
            "datatype": _DATATYPES[value.dtype],
            "data": value.ravel(),
        }
        for name, value in zip(_OUTPUTS, results, strict=True)
    ]
    body = {"model_name": request.path_params["name"], "outputs": outputs}
    return Response(
        orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json"
    )


async def ready(_: Request) -> Response:
    return Response(status_code=200)


app = Starlette(
    routes=[
        Route("/v2/models/{name}/infer", infer, methods=["POST"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
    ]
)
