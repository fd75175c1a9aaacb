"""Build the benchmark models into a folder (bench/.work/models by default).

Runs in the `models` bench venv (scikit-learn, skl2onnx), never in the main venv. Writes, per model,
a folder with `model.onnx`, `model.onnx.sha256` (the layout our server reads), `model.joblib` (for
MLServer's scikit-learn runtime) and `request.json`: a one-row V2 request with its expected label,
so that every server gets the same bytes and the harness can check the answer before measuring.

- `small`: an MLP (one hidden layer of 16) on iris; per-request overhead dominates, as in the issue.
- `heavy`: a wide MLP (two hidden layers of 2048) on digits: 4.3 M weights (17 MB) that one
  row must read in full, about 1 ms per row on one thread against ~0.1 ms of HTTP and JSON per
  request, so inference dominates and coalescing rows into one matrix product pays.

`inference.json` beside each model records ONNX Runtime's time for 1 and 32 rows on one thread,
so the report can show how much of a request is inference.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
import warnings
from pathlib import Path

import joblib
import numpy as np
import onnxruntime as ort
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

__all__ = ["build_all", "main"]

INPUT_NAME = "input"
SEED = 0


def _train(x: np.ndarray, y: np.ndarray, hidden: tuple[int, ...], max_iter: int) -> MLPClassifier:
    model = MLPClassifier(hidden_layer_sizes=hidden, max_iter=max_iter, random_state=SEED)
    # The heavy model is trained only a few epochs: its accuracy does not matter, its size does.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y)
    return model


def _v2_request(row: np.ndarray) -> dict[str, object]:
    return {
        "inputs": [
            {
                "name": INPUT_NAME,
                "shape": [1, int(row.shape[0])],
                "datatype": "FP32",
                "data": [float(str(v)) for v in row],
            }
        ]
    }


def _write(out: Path, model: MLPClassifier, x: np.ndarray, row_index: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    # Dynamic batch dimension (None) so that batching servers can stack rows; no ZipMap so the
    # probabilities are a plain tensor every V2 server can encode.
    onx = convert_sklearn(
        model,
        initial_types=[(INPUT_NAME, FloatTensorType([None, x.shape[1]]))],
        options={id(model): {"zipmap": False}},
        target_opset=17,
    )
    data = onx.SerializeToString()
    (out / "model.onnx").write_bytes(data)
    (out / "model.onnx.sha256").write_text(hashlib.sha256(data).hexdigest() + "\n")
    joblib.dump(model, out / "model.joblib")
    row = x[row_index]
    label = int(model.predict(row.reshape(1, -1))[0])
    request = {"body": _v2_request(row), "expected_label": label}
    (out / "request.json").write_text(json.dumps(request))
    (out / "inference.json").write_text(json.dumps(_time_inference(data, x)))


def _time_inference(model: bytes, x: np.ndarray) -> dict[str, float]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    timings: dict[str, float] = {}
    for rows in (1, 32):
        batch = {INPUT_NAME: x[:rows]}
        session.run(None, batch)
        # The best of a few rounds: other work on the machine only ever adds time.
        rounds = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(20):
                session.run(None, batch)
            rounds.append((time.perf_counter() - start) / 20 * 1e3)
        timings[f"ms_{rows}_rows"] = min(rounds)
    return timings


def build_all(root: Path) -> None:
    iris = load_iris()
    x_small = iris.data.astype(np.float32)
    small = _train(x_small, iris.target, hidden=(16,), max_iter=2000)
    # Row 0 is a setosa (label 0); a wrong label from a server means it mangled the input.
    _write(root / "small", small, x_small, row_index=0)

    digits = load_digits()
    x_heavy = (digits.data / 16.0).astype(np.float32)
    heavy = _train(x_heavy, digits.target, hidden=(2048, 2048), max_iter=3)
    _write(root / "heavy", heavy, x_heavy, row_index=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/.work/models"))
    args = parser.parse_args()
    build_all(args.out)
    for name in ("small", "heavy"):
        req = json.loads((args.out / name / "request.json").read_text())
        size = (args.out / name / "model.onnx").stat().st_size
        t = json.loads((args.out / name / "inference.json").read_text())
        print(
            f"{name}: {size} bytes of ONNX, expected label {req['expected_label']}, "
            f"{t['ms_1_rows']:.3f} ms for 1 row, {t['ms_32_rows']:.3f} ms for 32 rows"
        )


if __name__ == "__main__":
    main()
