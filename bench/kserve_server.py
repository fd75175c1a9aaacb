"""KServe's Python model server running the benchmark's ONNX file with ONNX Runtime.

Runs in the `kserve` bench venv. A small `kserve.Model` subclass, as KServe's docs show for a
custom predictor, with KServe's fastest documented settings (the harness passes them):
`--enable_grpc false` (only REST is measured), `--enable_latency_logging false` (no log line per
request), `--log_config_file bench/kserve_log.json` (KServe's own log config with the per-request
access log raised to WARNING), and a synchronous `predict`, which KServe calls inline on the
event loop instead of handing it to a thread pool.

KServe binds 0.0.0.0 in its REST server and has no host setting; the benchmark must stay on
loopback, so `_LoopbackConfig` pins uvicorn's host to 127.0.0.1. Nothing else is patched.

Run: python bench/kserve_server.py --model_dir DIR --model_name bench --http_port 8080 --workers 1
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import onnxruntime as ort
import uvicorn

# kserve parses sys.argv when imported; its parser ignores the options it does not know (ours).
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer

__all__ = ["OnnxModel"]

_DATATYPES = {np.dtype(np.float32): "FP32", np.dtype(np.int64): "INT64"}


class _LoopbackConfig(uvicorn.Config):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["host"] = "127.0.0.1"
        super().__init__(*args, **kwargs)


def _open(path: str, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


class OnnxModel(Model):  # type: ignore[misc]
    def __init__(self, name: str, path: str, threads: int) -> None:
        super().__init__(name)
        self.path = path
        self.threads = threads
        self.session: ort.InferenceSession | None = None

    def load(self) -> bool:
        self.session = _open(self.path, self.threads)
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.ready = True
        return self.ready

    # With --workers > 1 KServe pickles the model into spawned processes; an ONNX Runtime
    # session cannot be pickled, so each process opens its own.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["session"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.load()

    def predict(self, payload: InferRequest, headers: dict[str, str] | None = None) -> Any:
        assert self.session is not None
        x = payload.inputs[0].as_numpy().astype(np.float32, copy=False)
        results = self.session.run(self.output_names, {self.input_name: x})
        outputs = [
            InferOutput(
                name=name,
                shape=list(value.shape),
                datatype=_DATATYPES[value.dtype],
                data=value.ravel().tolist(),
            )
            for name, value in zip(self.output_names, results, strict=True)
        ]
        return InferResponse(
            response_id=payload.id or "", model_name=self.name, infer_outputs=outputs
        )


def main() -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--model_name", default="bench")
    parser.add_argument("--intra_op_threads", type=int, default=1)
    ours, _ = parser.parse_known_args()

    uvicorn.Config = _LoopbackConfig  # type: ignore[misc]
    model = OnnxModel(ours.model_name, f"{ours.model_dir}/model.onnx", ours.intra_op_threads)
    model.load()
    ModelServer().start([model])


if __name__ == "__main__":
    main()
