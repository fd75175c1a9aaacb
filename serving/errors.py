"""The refusals REST and gRPC share: one source of their messages and statuses.

Each returns a `ProtocolError` with REST's status; REST answers it as `{"error": message}`, gRPC
as the status code its REST status maps to (`serving.grpc_service`), with the same message, so a
client reads the same reason whichever protocol it speaks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from serving.batching import DeadlineExceededError
from serving.runtime import InferenceError, ModelInputError
from serving.tensors import ProtocolError

if TYPE_CHECKING:
    from serving.state import ServerState

__all__ = ["at_inflight_limit", "inference_failure", "no_such_model", "unavailable"]

RETRY_AFTER_SECONDS = 1
"""What a retryable refusal tells the client to wait (REST's Retry-After, gRPC's RetryInfo)."""


def no_such_model(name: str, version: str, model: str, asked_version: str | None) -> ProtocolError:
    """404 for a request to `model` (version `asked_version`) in a server of `name`/`version`."""
    if model != name:
        return ProtocolError(404, f"model '{model}' not found; serving '{name}'")
    return ProtocolError(
        404, f"model '{name}' has no version '{asked_version}'; serving version '{version}'"
    )


def unavailable(state: ServerState) -> ProtocolError:
    """503 while the server cannot take a request: draining, failed to load, or loading."""
    if state.draining:
        return ProtocolError(503, "server is shutting down", retry_after=RETRY_AFTER_SECONDS)
    if state.load_error is not None:
        return ProtocolError(503, state.load_error, retry_after=RETRY_AFTER_SECONDS)
    return ProtocolError(
        503, f"model '{state.settings.model_name}' is loading", retry_after=RETRY_AFTER_SECONDS
    )


def at_inflight_limit(limit: int, status: int = 503) -> ProtocolError:
    """The refusal past `SERVING_MAX_INFLIGHT`: REST answers 503; gRPC passes 429, which it
    answers as RESOURCE_EXHAUSTED (its code for a server out of room), not UNAVAILABLE."""
    return ProtocolError(
        status,
        f"server is at its limit of {limit} requests in flight",
        retry_after=RETRY_AFTER_SECONDS,
    )


def inference_failure(error: Exception, timeout_ms: int) -> ProtocolError:
    """What a request whose inference raised `error` is answered: past its deadline (504), an
    input the model refused (400), or a fault of the model or server (500)."""
    if isinstance(error, DeadlineExceededError):
        return ProtocolError(504, f"deadline of {timeout_ms} ms exceeded")
    if isinstance(error, ModelInputError):
        return ProtocolError(400, f"the model rejected the input: {error}")
    if isinstance(error, InferenceError):
        return ProtocolError(500, f"inference failed: {error}")
    return ProtocolError(500, f"inference failed: {type(error).__name__}: {error}")
