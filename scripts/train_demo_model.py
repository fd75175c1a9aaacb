"""Train the bundled demo model and export it as ONNX for the model server.

A logistic regression on scikit-learn's bundled iris dataset, so it runs offline. The export has
a dynamic batch dimension (the server batches rows across requests) and ZipMap disabled, so the
probabilities come out as a plain FP32 tensor instead of a sequence of maps.

    .venv/bin/python scripts/train_demo_model.py [--out models/iris/1]

Writes `model.onnx` and `model.onnx.sha256` (hex digest) into the output folder. Needs
scikit-learn and skl2onnx (requirements-dev.txt); the server itself does not.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

__all__ = ["main"]

INPUT_NAME = "input"
# Opsets that every onnxruntime >= 1.18 runs.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("models/iris/1"))
    args = parser.parse_args()

    features, labels = load_iris(return_X_y=True)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=0))
    pipeline.fit(features.astype("float32"), labels)

    onnx_model = to_onnx(
        pipeline,
        initial_types=[(INPUT_NAME, FloatTensorType([None, features.shape[1]]))],
        options={"zipmap": False},
        target_opset=TARGET_OPSET,
    )
    onnx_model.doc_string = "Iris classifier (scikit-learn logistic regression), for demos."
    payload = onnx_model.SerializeToString()

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "model.onnx").write_bytes(payload)
    (args.out / "model.onnx.sha256").write_text(hashlib.sha256(payload).hexdigest() + "\n")
    accuracy = pipeline.score(features, labels)
    print(f"wrote {args.out / 'model.onnx'} ({len(payload)} bytes, train accuracy {accuracy:.3f})")


if __name__ == "__main__":
    main()
