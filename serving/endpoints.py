"""The route handlers, one method each of `Endpoints`; `app.py` maps routes to them.

The inference path is one way: route → admission → body (size-limited) → decode (protocol) →
queue (batching) → runtime → encode (protocol). Health and metrics only read state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from serving.batching import DeadlineExceededError
from serving.openapi import openapi_document
from serving.protocol import (
    EXTENSIONS,
    ProtocolError,
    decode_infer_request,
    encode_binary_response,
    encode_error,
    encode_infer_response,
    metadata_tensor,
)
from serving.runtime import InferenceError, ModelInputError
from serving.state import ServerState

__all__ = ["Endpoints"]

log = logging.getLogger("serving")

_JSON = "application/json"
_RETRY_AFTER = "1"


def _json(document: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(document), status_code=status, media_type=_JSON)


def _error(status: int, message: str, retry_after: bool = False) -> Response:
    headers = {"Retry-After": _RETRY_AFTER} if retry_after else None
    return Response(encode_error(message), status_code=status, media_type=_JSON, headers=headers)


class Endpoints:
    """The handlers of the V2 routes, health, metrics and errors, over one `ServerState`."""

    def __init__(self, state: ServerState, server_version: str) -> None:
        self.state = state
        settings = state.settings
        self.name = settings.model_name
        self.version = settings.model_version
        self.server_version = server_version
        self._timeout = settings.request_timeout_ms / 1000
        self._timeout_ms = settings.request_timeout_ms
        self._max_body = settings.max_body_bytes
        self._max_inflight = settings.max_inflight
        self._openapi = orjson.dumps(openapi_document(server_version))

    # -- inference ---------------------------------------------------------------------------

    async def infer(self, request: Request) -> Response:
        started = time.perf_counter()
        state = self.state
        metrics = state.metrics
        counts_inflight = metrics.counts_inflight
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        admitted = False
        request_id: str | None = None
        try:
            self._find_model(request)
            served = state.served
            if served is None or state.draining:
                raise self._unavailable()
            if state.inflight >= self._max_inflight:
                raise ProtocolError(
                    503,
                    f"server is at its limit of {self._max_inflight} requests in flight",
                    retry_after=1,
                )
            state.inflight += 1
            if counts_inflight:
                metrics.inflight.inc()
            admitted = True
            try:
                # A client trickling its body must not hold an in-flight slot past the deadline.
                async with asyncio.timeout_at(deadline):
                    body, header_length = await _read_body(request, self._max_body)
            except TimeoutError:
                raise DeadlineExceededError from None
            model = served.model
            decoded = decode_infer_request(body, model.inputs, model.output_names, header_length)
            request_id = decoded.id
            outputs = await served.batcher.infer(
                decoded.inputs, deadline, alone=state.inflight == 1
            )
            if decoded.outputs is not None:
                outputs = {output: outputs[output] for output in decoded.outputs}
            if decoded.raw_outputs:
                payload, json_length = encode_binary_response(
                    self.name, self.version, request_id, outputs, model.outputs, decoded.raw_outputs
                )
                response = Response(
                    payload,
                    media_type="application/octet-stream",
                    headers={"Inference-Header-Content-Length": str(json_length)},
                )
            else:
                payload = encode_infer_response(
                    self.name, self.version, request_id, outputs, model.outputs
                )
                response = Response(payload, media_type=_JSON)
        except ProtocolError as error:
            response = _error(error.status, error.message, error.retry_after is not None)
        except DeadlineExceededError:
            response = _error(504, f"deadline of {self._timeout_ms} ms exceeded")
        except ModelInputError as error:
            response = _error(400, f"the model rejected the input: {error}")
        except InferenceError as error:
            response = _error(500, f"inference failed: {error}")
        except Exception as error:  # noqa: BLE001 - a fault of this request only: answer it
            response = _error(500, f"inference failed: {type(error).__name__}: {error}")
        finally:
            if admitted:
                state.inflight -= 1
                if counts_inflight:
                    metrics.inflight.dec()
        status = response.status_code
        metrics.count(status, None if status != 404 else "_unknown")
        elapsed = time.perf_counter() - started
        if status == 200:
            metrics.latency.observe(elapsed)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("infer", extra=_request_fields(request, status, elapsed, request_id))
        else:
            fields = _request_fields(request, status, elapsed, request_id)
            fields["error"] = orjson.loads(bytes(response.body))["error"]
            log.warning("infer failed", extra=fields)
        return response

    # -- health and metadata -----------------------------------------------------------------

    async def live(self, request: Request) -> Response:
        return Response(status_code=200)

    async def ready(self, request: Request) -> Response:
        state = self.state
        if state.ready:
            return Response(status_code=200)
        if state.served is not None and not state.draining:
            return _error(503, "other workers are still loading the model", retry_after=True)
        error = self._unavailable()
        return _error(error.status, error.message, retry_after=True)

    async def model_ready(self, request: Request) -> Response:
        try:
            self._find_model(request)
        except ProtocolError as error:
            return _error(error.status, error.message)
        return await self.ready(request)

    async def server_metadata(self, request: Request) -> Response:
        return _json(
            {
                "name": "mlops-serving",
                "version": self.server_version,
                "extensions": list(EXTENSIONS),
            }
        )

    async def model_metadata(self, request: Request) -> Response:
        try:
            self._find_model(request)
        except ProtocolError as error:
            return _error(error.status, error.message)
        served = self.state.served
        if served is None:
            loading = self._unavailable()
            return _error(loading.status, loading.message, retry_after=True)
        return _json(
            {
                "name": self.name,
                "versions": [self.version],
                "platform": "onnxruntime_onnx",
                "inputs": [metadata_tensor(spec) for spec in served.model.inputs.values()],
                "outputs": [metadata_tensor(spec) for spec in served.model.outputs.values()],
            }
        )

    async def metrics(self, request: Request) -> Response:
        return Response(self.state.metrics.exposition(), media_type="text/plain; version=0.0.4")

    async def openapi(self, request: Request) -> Response:
        return Response(self._openapi, media_type=_JSON)

    # -- errors ------------------------------------------------------------------------------

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            message = f"no route {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        return _error(exc.status_code, message)

    async def server_error(self, request: Request, exc: Exception) -> Response:
        log.error("unhandled error", exc_info=exc)
        return _error(500, "internal server error")

    # -- shared checks -----------------------------------------------------------------------

    def _find_model(self, request: Request) -> None:
        params = request.path_params
        name = self.name
        if params["model_name"] != name:
            raise ProtocolError(404, f"model '{params['model_name']}' not found; serving '{name}'")
        requested = params.get("model_version")
        if requested is not None and requested != self.version:
            raise ProtocolError(
                404,
                f"model '{name}' has no version '{requested}'; serving version '{self.version}'",
            )

    def _unavailable(self) -> ProtocolError:
        state = self.state
        if state.draining:
            return ProtocolError(503, "server is shutting down", retry_after=1)
        if state.load_error is not None:
            return ProtocolError(503, state.load_error, retry_after=1)
        return ProtocolError(503, f"model '{self.name}' is loading", retry_after=1)


async def _read_body(request: Request, limit: int) -> tuple[bytes, int | None]:
    """The body, refused with 413 as soon as it is known to exceed `limit` bytes, and the JSON
    part's length when the client uses the binary tensor extension."""
    length: bytes | None = None
    header_length: int | None = None
    for key, value in request.scope["headers"]:
        if key == b"content-length":
            length = value
        elif key == b"inference-header-content-length":
            if not value.isdigit():
                raise ProtocolError(
                    400,
                    f"Inference-Header-Content-Length {value.decode(errors='replace')!r} "
                    "is not a number",
                )
            header_length = int(value)
    if length is not None:
        if not length.isdigit():
            raise ProtocolError(
                400, f"Content-Length {length.decode(errors='replace')!r} is not a number"
            )
        if int(length) > limit:
            raise ProtocolError(
                413, f"request body of {int(length)} bytes exceeds the limit of {limit}"
            )
    receive = request.receive
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ProtocolError(400, "the client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ProtocolError(413, f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return (chunks[0] if len(chunks) == 1 else b"".join(chunks)), header_length


def _request_fields(
    request: Request, status: int, elapsed: float, request_id: str | None
) -> dict[str, Any]:
    return {
        "path": request.url.path,
        "status": status,
        "duration_ms": round(elapsed * 1000, 3),
        "request_id": request_id,
    }
