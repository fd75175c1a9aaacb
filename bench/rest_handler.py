"""The cost of our REST infer handler beside the floor's, without the HTTP transport.

Both handlers get the same one-row V2 JSON body (the benchmark's `body.json`) as an ASGI call:
ours is `Endpoints.infer` over our server's real state (settings, loaded and warmed-up model,
batcher, metrics, admission), the floor's is bench/floor.py's Starlette endpoint with its
Request and Response. What is left out (the socket, HTTP parsing and writing, the task per
request) is the same for both, so the difference is what our handler adds per request; the
A/B per layer in bench/results.md used it to find where the last 10% of the floor went.

    .venv/bin/python bench/rest_handler.py bench/.work/models/small [--calls N] [--mode ...]

Prints µs per call, the best of 5 rounds (other work on the machine only ever adds time).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from serving.endpoints import Endpoints
from serving.runtime import OnnxModel
from serving.settings import Settings
from serving.state import ServerState, load_model

Call = Callable[[dict[str, Any]], Awaitable[None]]


async def _ours(folder: Path, body: bytes) -> Call:
    with tempfile.TemporaryDirectory() as cache:
        settings = Settings(
            model_repository=str(folder),
            model_name="bench",
            cache_dir=Path(cache),
            grpc_enabled=False,
            log_level="warning",
        )
    state = ServerState(settings)
    model = OnnxModel.load(folder / "model.onnx")
    await load_model(state, lambda: (model, str(folder)))
    endpoints = Endpoints(state, "bench")
    message = {"type": "http.request", "body": body, "more_body": False}

    async def receive() -> dict[str, Any]:
        return message

    async def send(_: Any) -> None:
        return None

    async def call(scope: dict[str, Any]) -> None:
        await endpoints.infer(scope, receive, send, "bench", None)

    return call


async def _floor(folder: Path, body: bytes) -> Call:
    os.environ["BENCH_MODEL"] = str(folder / "model.onnx")
    os.environ.setdefault("BENCH_INTRA_OP_THREADS", "1")
    import floor  # bench/floor.py; its session loads at import, from BENCH_MODEL
    from starlette.requests import Request

    message = {"type": "http.request", "body": body, "more_body": False}

    async def receive() -> dict[str, Any]:
        return message

    async def call(scope: dict[str, Any]) -> None:
        response = await floor.infer(Request(scope, receive))
        assert response.status_code == 200

    return call


async def _loop(call: Call, body: bytes, calls: int) -> float:
    loop = asyncio.get_running_loop()
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
    ]
    started = time.perf_counter()
    for _ in range(calls):
        # A fresh scope per request, as uvicorn makes one; the edge stamps the arrival time.
        await call(
            {
                "type": "http",
                "method": "POST",
                "path": "/v2/models/bench/infer",
                "raw_path": b"/v2/models/bench/infer",
                "headers": headers,
                "path_params": {"name": "bench"},
                "serving.arrival": loop.time(),
            }
        )
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("folder", type=Path, help="a bench model folder (model.onnx, body.json)")
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mode", choices=("ours", "floor", "both"), default="both")
    args = parser.parse_args()
    folder = args.folder.resolve()
    body = (folder / "body.json").read_bytes()
    modes = ("floor", "ours") if args.mode == "both" else (args.mode,)
    for mode in modes:
        call = await (_floor if mode == "floor" else _ours)(folder, body)
        await _loop(call, body, min(args.calls, 2000))  # warm the paths
        best = min([await _loop(call, body, args.calls) for _ in range(args.rounds)])
        if args.calls:
            print(f"{mode:6} {best / args.calls * 1e6:7.1f} µs per call ({args.calls} calls)")


if __name__ == "__main__":
    uvloop.run(main())
