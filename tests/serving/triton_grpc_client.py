"""Triton's gRPC client against a running server, in a process of its own; prints one JSON line.

Run by tests/serving/test_interop.py as `python -m tests.serving.triton_grpc_client HOST:PORT`
with TEMPORARILY_DISABLE_PROTOBUF_VERSION_CHECK=true: tritonclient's stubs are protobuf 6
gencode and our environment has protobuf 5 (pulumi-policy pins it), and its `inference` messages
would clash with ours in one process's descriptor pool. The client's own message classes build
and parse every call, so this is Triton's wire format against ours.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import orjson
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

ROWS = np.asarray([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)


def error_of(call: Any) -> dict[str, str]:
    try:
        call()
    except InferenceServerException as error:
        return {"status": str(error.status()), "message": str(error.message())}
    return {"status": "OK", "message": ""}


def main(target: str) -> dict[str, Any]:
    client = triton.InferenceServerClient(url=target)
    report: dict[str, Any] = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready("iris", "1"),
        "server_name": client.get_server_metadata().name,
        "inputs": [
            [t.name, t.datatype, list(t.shape)] for t in client.get_model_metadata("iris").inputs
        ],
    }
    tensor = triton.InferInput("input", list(ROWS.shape), "FP32")
    tensor.set_data_from_numpy(ROWS)  # tritonclient.grpc always sends raw_input_contents
    result = client.infer(
        "iris",
        [tensor],
        model_version="1",
        request_id="g-1",
        outputs=[
            triton.InferRequestedOutput("label"),
            triton.InferRequestedOutput("probabilities"),
        ],
    )
    report["id"] = result.get_response().id
    report["label"] = result.as_numpy("label").tolist()
    report["probabilities"] = result.as_numpy("probabilities").tolist()
    report["probabilities_dtype"] = str(result.as_numpy("probabilities").dtype)

    bad = triton.InferInput("input", [1, 3], "FP32")
    bad.set_data_from_numpy(np.ones((1, 3), dtype=np.float32))
    report["bad_shape"] = error_of(lambda: client.infer("iris", [bad]))
    report["unknown_model"] = error_of(lambda: client.infer("nope", [tensor]))
    return report


if __name__ == "__main__":
    sys.stdout.write(orjson.dumps(main(sys.argv[1])).decode() + "\n")
