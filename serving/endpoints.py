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
from starlette.types import Receive, Scope, Send

from serving.admission import Admission
from serving.batching import DeadlineExceededError, rows_of
from serving.edge import ARRIVAL, BODY_LATE, BODY_REFUSED
from serving.errors import at_inflight_limit, inference_failure, no_such_model, unavailable
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
from serving.state import ServerState

__all__ = ["Endpoints", "refuse_path"]

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
        self._counts_inflight = state.metrics.counts_inflight
        self.admission = Admission(state)
        self._openapi = orjson.dumps(openapi_document(server_version))

    # -- inference ---------------------------------------------------------------------------

    async def infer(
        self, scope: Scope, receive: Receive, send: Send, model: str, version: str | None
    ) -> None:
        """POST .../infer as a plain ASGI call: the hot path skips Starlette's Request and
        Response objects and its middleware (the route table still names it)."""
        state = self.state
        metrics = state.metrics
        loop = asyncio.get_running_loop()
        now = loop.time()
        started = time.perf_counter()
        # The deadline counts from the request's first byte (the edge stamps it), so the time it
        # waited behind other work before this handler ran is part of it.
        arrival = scope.get(ARRIVAL, now)
        deadline = arrival + self._timeout
        admitted = False
        request_id: str | None = None
        close = retry = False
        try:
            if model != self.name or (version is not None and version != self.version):
                self._no_such_model(model, version)
            served = state.served
            if served is None or state.draining:
                raise self._unavailable()
            if now >= deadline:
                raise ProtocolError(
                    503,
                    f"the request waited {(now - arrival) * 1000:.0f} ms before the server could "
                    f"start it, past its deadline of {self._timeout_ms} ms",
                    retry_after=1,
                )
            close = True  # until the whole body is read, the connection cannot be reused
            body, header_length = await _read_body(scope, receive, self._max_body)
            close = False
            if state.inflight >= self._max_inflight:
                raise at_inflight_limit(self._max_inflight)
            state.inflight += 1
            if self._counts_inflight:
                metrics.inflight.inc()
            admitted = True
            onnx = served.model
            decoded = decode_infer_request(body, onnx.inputs, onnx.output_names, header_length)
            request_id = decoded.id
            batcher = served.batcher
            rows = rows_of(decoded.inputs)
            alone = state.inflight == 1
            if batcher.runs_inline(rows, alone=alone):
                # No coroutine and no await: a request that runs on the loop runs to the end.
                # It waits behind no queue, so the queue's backlog cannot make it late: only a
                # request that queues is refused for it (below).
                outputs = batcher.run_inline(decoded.inputs, rows, deadline)
            else:
                if batcher.running or batcher.queued:
                    late = self.admission.late(arrival, loop.time(), rows)
                    if late is not None:
                        raise ProtocolError(503, late, retry_after=1)
                outputs = await batcher.infer(decoded.inputs, deadline, alone=alone)
            if decoded.outputs is not None:
                outputs = {output: outputs[output] for output in decoded.outputs}
            if decoded.raw_outputs:
                payload, json_length = encode_binary_response(
                    self.name, self.version, request_id, outputs, onnx.outputs, decoded.raw_outputs
                )
                headers = _binary_headers(payload, json_length)
            else:
                payload = encode_infer_response(
                    self.name, self.version, request_id, outputs, onnx.outputs
                )
                headers = _json_headers(payload)
            status = 200
        except ProtocolError as error:
            status, payload = error.status, encode_error(error.message)
            retry = error.retry_after is not None
        except _ClientGone:
            status, payload = 0, b""
        except Exception as error:  # noqa: BLE001 - a fault of this request only: answer it
            failure = inference_failure(error, self._timeout_ms)
            status, payload = failure.status, encode_error(failure.message)
        finally:
            if admitted:
                state.inflight -= 1
                if self._counts_inflight:
                    metrics.inflight.dec()
        if status == 200:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
            metrics.count(200)
            elapsed = time.perf_counter() - started
            metrics.latency.observe(elapsed)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("infer", extra=_request_fields(scope, 200, elapsed, request_id))
            return
        if status == 0:
            # The client left before its request was whole: nothing was delivered or answered.
            metrics.disconnects.inc()
            return
        await _send(send, status, payload, retry_after=retry, close=close)
        metrics.count(status, None if status != 404 else "_unknown")
        self._log_failure(scope, status, started, request_id, payload)

    def _log_failure(
        self, scope: Scope, status: int, started: float, request_id: str | None, payload: bytes
    ) -> None:
        elapsed = time.perf_counter() - started
        if status == 503:
            fields = _request_fields(scope, status, elapsed, request_id)
            self.admission.log_shed(orjson.loads(payload)["error"], fields)
            return
        fields = _request_fields(scope, status, elapsed, request_id)
        fields["error"] = orjson.loads(payload)["error"]
        log.warning("infer failed", extra=fields)

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
        model = params["model_name"]
        version = params.get("model_version")
        if model != self.name or (version is not None and version != self.version):
            self._no_such_model(model, version)

    def _no_such_model(self, model: str, version: str | None) -> None:
        raise no_such_model(self.name, self.version, model, version)

    def _unavailable(self) -> ProtocolError:
        return unavailable(self.state)


async def refuse_path(scope: Scope, send: Send) -> bool:
    """Answer 400 for a path with an encoded slash (`%2F`), which would otherwise route as a
    real `/` (`iris%2Finfer` as `iris/infer`); returns whether it answered."""
    if b"%2f" not in scope["raw_path"].lower():
        return False
    raw = scope["raw_path"].decode("latin-1")
    await _send(send, 400, encode_error(f"path {raw!r} holds an encoded '/' (%2F); not allowed"))
    return True


class _ClientGone(Exception):  # noqa: N818 - a condition, not an error of ours
    """The client disconnected before the whole request body arrived."""


def _json_headers(payload: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]


def _binary_headers(payload: bytes, json_length: int) -> list[tuple[bytes, bytes]]:
    """A binary tensor extension answer: the JSON's length, then JSON and raw values."""
    return [
        (b"content-type", b"application/octet-stream"),
        (b"content-length", b"%d" % len(payload)),
        (b"inference-header-content-length", b"%d" % json_length),
    ]


async def _send(
    send: Send, status: int, payload: bytes, *, retry_after: bool = False, close: bool = False
) -> None:
    headers = _json_headers(payload)
    if retry_after:
        headers.append((b"retry-after", _RETRY_AFTER.encode()))
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _media_type(value: bytes) -> bytes:
    return value.split(b";", 1)[0].strip().lower()


async def _read_body(scope: Scope, receive: Receive, limit: int) -> tuple[bytes, int | None]:
    """The body, refused with 413 as soon as it is known to exceed `limit` bytes, and the length
    of its JSON part when the client uses the binary tensor extension (its raw values follow).

    The edge (serving/edge.py) bounds a body that arrives in pieces: past the request's deadline
    it marks the scope late (504), and past its cap on slow bodies it marks it refused (503).
    """
    length: bytes | None = None
    content_type: bytes | None = None
    header_length: int | None = None
    for key, value in scope["headers"]:
        if key == b"content-length":
            length = value
        elif key == b"content-type":
            content_type = value
        elif key == b"inference-header-content-length":
            if not value.isdigit():
                raise ProtocolError(
                    400,
                    f"Inference-Header-Content-Length {value.decode(errors='replace')!r} "
                    "is not a number",
                )
            header_length = int(value)
    if content_type is not None and content_type != b"application/json":
        media = _media_type(content_type)
        json = media == b"application/json" or media.endswith(b"+json")
        # A binary tensor extension body is JSON and raw bytes: octet-stream is its honest type.
        if not json and not (header_length is not None and media == b"application/octet-stream"):
            shown = content_type.decode("latin-1")
            raise ProtocolError(
                415,
                f"Content-Type {shown!r} is not supported; send application/json (or "
                "application/octet-stream with Inference-Header-Content-Length)",
            )
    if length is not None:
        if not length.isdigit():
            raise ProtocolError(
                400, f"Content-Length {length.decode(errors='replace')!r} is not a number"
            )
        if int(length) > limit:
            raise ProtocolError(
                413, f"request body of {int(length)} bytes exceeds the limit of {limit}"
            )
    message = await receive()
    if message["type"] != "http.request":
        raise _ClientGone
    if not message.get("more_body", False):
        body: bytes = message.get("body", b"")
        if len(body) > limit:
            raise ProtocolError(413, f"request body exceeds the limit of {limit} bytes")
        return body, header_length
    chunks: list[bytes] = []
    size = 0
    while True:
        if scope.get(BODY_LATE):
            raise DeadlineExceededError
        if scope.get(BODY_REFUSED):
            raise ProtocolError(
                503, "too many requests are sending their bodies slowly; retry", retry_after=1
            )
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ProtocolError(413, f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), header_length
        message = await receive()
        if message["type"] != "http.request":
            raise _ClientGone


def _request_fields(
    scope: Scope, status: int, elapsed: float, request_id: str | None
) -> dict[str, Any]:
    return {
        "path": scope["path"],
        "status": status,
        "duration_ms": round(elapsed * 1000, 3),
        "request_id": request_id,
    }
