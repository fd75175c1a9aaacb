"""The `mlops-serve` console script: the server, or one line saying which extra to install.

The script is installed with the package whatever its extras, but the server needs the
`serving` extra (Starlette, uvicorn, ONNX Runtime, ...). Without it, importing
`serving.__main__` would end in an ImportError traceback; this checks first.
"""

from __future__ import annotations

import importlib.util
import sys

__all__ = ["MISSING_EXTRA_EXIT", "REQUIRED_MODULES", "main", "missing_modules"]

#: Exit status when the `serving` extra is missing (1-4 are the server's own).
MISSING_EXTRA_EXIT = 5

#: The import name of each distribution of the `serving` extra.
REQUIRED_MODULES = (
    "starlette",
    "uvicorn",
    "onnxruntime",
    "numpy",
    "orjson",
    "prometheus_client",
    "pydantic_settings",
    "boto3",
)


def missing_modules() -> list[str]:
    """The `serving` extra's modules that cannot be imported here."""
    return [name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None]


def main() -> None:
    missing = missing_modules()
    if missing:
        print(
            "mlops-serve needs the 'serving' extra: pip install 'mlops-platform[serving]' "
            f"(missing: {', '.join(missing)})",
            file=sys.stderr,
        )
        sys.exit(MISSING_EXTRA_EXIT)
    from serving.__main__ import main as serve

    serve()
