"""The floor: the least a V2 endpoint on our stack can do for one ONNX model.

A bare Starlette route that parses the V2 JSON with orjson, runs the ONNX Runtime session and
answers V2 JSON: no validation, no batching, no metrics, no admission control. What our server
adds on top of this costs throughput; the benchmark measures how much.

Run: BENCH_MODEL=bench/.work/models/small/model.onnx uvicorn bench.floor:app --workers 1
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.floor_model import DATATYPES, INPUT, OUTPUTS, SESSION

__all__ = ["app"]


async def infer(request: Request) -> Response:
    payload: dict[str, Any] = orjson.loads(await request.body())
    tensor = payload["inputs"][0]
    x = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
    results = SESSION.run(OUTPUTS, {INPUT: x})
    outputs = [
        {
            "name": name,
            "shape": list(value.shape),
            "datatype": DATATYPES[value.dtype],
            "data": value.ravel(),
        }
        for name, value in zip(OUTPUTS, results, strict=True)
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
