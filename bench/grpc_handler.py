"""The cost of our ModelInfer handler beside the floor's, without the gRPC transport.

Both handlers get the same pre-encoded `ModelInferRequest` (a one-row raw FP32 request, as
bench/grpc_run.py sends), parse it and serialize their answer exactly as grpc.aio would; the
loop runs on an asyncio event loop with our server's real state (settings, loaded model, batcher,
metrics). What is left out (HTTP/2, the C core, the call's task) is the same for both, so the
difference is what our front adds per request.

    .venv/bin/python bench/grpc_handler.py MODEL.onnx [--calls N] [--mode ours|floor|both]

Prints µs per call (the best of 5 rounds: other work on the machine only ever adds time). For
an A/B that noise cannot move, count instructions instead:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        .venv/bin/python bench/grpc_handler.py MODEL.onnx --calls 1000 --mode ours --rounds 1

and subtract a run with `--calls 0` (start-up), divide by the calls.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from serving.grpc_service import Backend, _InferenceServicer
from serving.proto import grpc_predict_v2_pb2 as pb
from serving.runtime import OnnxModel
from serving.settings import Settings
from serving.state import ServerState, load_model


class _Context:
    """What a unary call's context answers when the client sets no deadline."""

    def time_remaining(self) -> float | None:
        return None

    async def abort(self, code: Any, message: str, trailers: Any = ()) -> None:
        raise RuntimeError(f"{code}: {message}")


def _request(model: OnnxModel) -> bytes:
    spec = next(iter(model.inputs.values()))
    width = spec.shape[1]
    request = pb.ModelInferRequest(model_name="model")
    request.inputs.add(name=spec.name, datatype=spec.datatype, shape=[1, width])
    request.raw_input_contents.append(struct.pack(f"<{width}f", *([0.5] * width)))
    return request.SerializeToString()


async def _ours(path: Path) -> tuple[Any, OnnxModel]:
    with tempfile.TemporaryDirectory() as cache:
        settings = Settings(model_repository=str(path), cache_dir=Path(cache), log_level="warning")
    state = ServerState(settings)
    model = OnnxModel.load(path)
    await load_model(state, lambda: (model, str(path)))
    assert state.served is not None
    # The small model runs on the event loop (its warm-up decides so at native speed); under
    # valgrind the warm-up is ~50x slower and would pick the inference thread: pin the path.
    state.served.batcher.offload = False
    state.served.batcher.max_inline_rows = sys.maxsize
    servicer = _InferenceServicer(Backend(state, "bench"))
    return servicer.ModelInfer, model


async def _loop(handler: Any, frame: bytes, calls: int) -> float:
    context = _Context()
    parse = pb.ModelInferRequest.FromString
    started = time.perf_counter()
    for _ in range(calls):
        response = await handler(parse(frame), context)
        response.SerializeToString()
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mode", choices=("ours", "floor", "both"), default="both")
    args = parser.parse_args()
    ours, model = await _ours(args.model.resolve())
    frame = _request(model)
    # The floor's own handler, on its own session of the same model (loaded at its import).
    os.environ["BENCH_MODEL"] = str(args.model.resolve())
    os.environ.setdefault("BENCH_INTRA_OP_THREADS", "1")
    import grpc_floor

    handlers = {"ours": ours, "floor": grpc_floor.model_infer}
    modes = ("floor", "ours") if args.mode == "both" else (args.mode,)
    for mode in modes:
        await _loop(handlers[mode], frame, min(args.calls, 200))  # warm the paths
        best = min([await _loop(handlers[mode], frame, args.calls) for _ in range(args.rounds)])
        if args.calls:
            print(f"{mode:6} {best / args.calls * 1e6:7.1f} µs per call ({args.calls} calls)")


if __name__ == "__main__":
    asyncio.run(main())
