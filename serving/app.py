"""The ASGI application: V2 routes, health, metrics, admission control and drain state.

The request path is one way: route → admission → body (size-limited) → decode (protocol) →
queue (batching) → runtime → encode (protocol). Health and metrics only read state.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from serving.batching import (
    INLINE_LIMIT_SECONDS,
    Batcher,
    DeadlineExceededError,
    choose_offload,
    inline_rows,
)
from serving.grpc_service import Backend, GrpcServer
from serving.openapi import openapi_document
from serving.protocol import (
    ProtocolError,
    decode_infer_request,
    encode_binary_response,
    encode_error,
    encode_infer_response,
    metadata_tensor,
)
from serving.repository import RepositoryError, fetch_model
from serving.runtime import InferenceError, ModelInputError, ModelLoadError, OnnxModel
from serving.settings import Settings

__all__ = ["ServedModel", "ServerState", "create_app"]

log = logging.getLogger("serving")

WARM_UP_BATCH = 8
"""Rows in the warm-up batch that tells whether batching pays for this model."""

_JSON = "application/json"
_RETRY_AFTER = "1"
Loader = Callable[[], tuple[OnnxModel, str]]
"""Loads the model; returns it with the URI it came from."""


class Metrics:
    """The Prometheus metrics; with workers, summed over processes by prometheus_client."""

    def __init__(self, model: str) -> None:
        self.multiprocess = "PROMETHEUS_MULTIPROC_DIR" in os.environ
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "serving_requests",
            "Inference requests by model, protocol (rest, grpc) and status (the HTTP status; "
            "the gRPC status code's name).",
            ["model", "protocol", "status"],
            registry=registry,
        )
        latency = Histogram(
            "serving_request_duration_seconds",
            "Inference request latency, body read to response, in seconds, by protocol.",
            ["model", "protocol"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )
        self.latency = latency.labels(model, "rest")
        self.grpc_latency = latency.labels(model, "grpc")
        self.batch_size = Histogram(
            "serving_batch_size",
            "Rows per inference run.",
            ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=registry,
        ).labels(model)
        self.queue_wait = Histogram(
            "serving_queue_wait_seconds",
            "Time a request waited in the batching queue, in seconds.",
            ["model"],
            buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1),
            registry=registry,
        ).labels(model)
        self.inflight = Gauge(
            "serving_inflight_requests",
            "Inference requests being served now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.load_seconds = Gauge(
            "serving_model_load_seconds",
            "Seconds to fetch, load and warm up the model.",
            ["model"],
            registry=registry,
            multiprocess_mode="max",
        ).labels(model)
        self._model = model
        self._by_status: dict[int, Any] = {}
        self.counts_inflight = self.multiprocess
        """Whether requests must inc/dec the in-flight gauge; otherwise a scrape reads it."""

    def read_inflight(self, read: Callable[[], float]) -> None:
        """Let a scrape read the in-flight count, where the process is the only worker."""
        if not self.multiprocess:
            self.inflight.set_function(read)

    def count(self, status: int, model: str | None = None) -> None:
        if model is not None:
            self.requests.labels(model, "rest", str(status)).inc()
            return
        child = self._by_status.get(status)
        if child is None:
            child = self._by_status[status] = self.requests.labels(self._model, "rest", str(status))
        child.inc()

    def count_grpc(self, code: str, model: str) -> None:
        """Count one finished gRPC inference call by its status code's name (`OK`, ...)."""
        self.requests.labels(model, "grpc", code).inc()

    def exposition(self) -> bytes:
        if not self.multiprocess:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)


@dataclass(frozen=True, slots=True)
class ServedModel:
    """A loaded, warmed-up model and the queue in front of it."""

    model: OnnxModel
    batcher: Batcher
    uri: str


class ServerState:
    """What health, admission and drain read; written by the loader and the signal handler."""

    def __init__(self, settings: Settings, ready_dir: Path | None = None) -> None:
        self.settings = settings
        self.served: ServedModel | None = None
        self.load_error: str | None = None
        self.draining = False
        self.inflight = 0
        self.metrics = Metrics(settings.model_name)
        self.metrics.read_inflight(lambda: self.inflight)
        self._ready_dir = ready_dir
        self._peers_ready = ready_dir is None

    @property
    def ready(self) -> bool:
        """Loaded, warm and not draining; with workers, only once every worker is warm, so
        that a probe landing on one worker never sends the pod traffic the others turn away."""
        return self.served is not None and not self.draining and self._all_workers_ready()

    def mark_loaded(self) -> None:
        if self._ready_dir is not None:
            (self._ready_dir / str(os.getpid())).touch()

    def _all_workers_ready(self) -> bool:
        if not self._peers_ready and self._ready_dir is not None:
            self._peers_ready = len(os.listdir(self._ready_dir)) >= self.settings.workers
        return self._peers_ready

    def begin_drain(self) -> None:
        """Readiness turns false and new requests get 503; the ones in flight carry on."""
        self.draining = True


def _default_loader(settings: Settings) -> Loader:
    def load() -> tuple[OnnxModel, str]:
        model_file = fetch_model(settings.model_repository, settings.cache_dir)
        model = OnnxModel.load(
            model_file.path, intra_op_threads=settings.intra_op_threads, source=model_file.uri
        )
        return model, model_file.uri

    return load


def _json(document: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(document), status_code=status, media_type=_JSON)


def _error(status: int, message: str, retry_after: bool = False) -> Response:
    headers = {"Retry-After": _RETRY_AFTER} if retry_after else None
    return Response(encode_error(message), status_code=status, media_type=_JSON, headers=headers)


def create_app(
    settings: Settings,
    *,
    load: Loader | None = None,
    on_fatal: Callable[[str], None] | None = None,
    ready_dir: Path | None = None,
) -> Starlette:
    """Build the app; the model loads in the background once the app starts (lifespan).

    `load` replaces the default loader (fetch the repository, open the ONNX file); `on_fatal`
    is called with a one-line message when loading fails (the process entry point exits);
    `ready_dir` is the folder where the workers of one server mark themselves loaded.
    """
    state = ServerState(settings, ready_dir)
    loader = load or _default_loader(settings)
    name, version = settings.model_name, settings.model_version
    timeout = settings.request_timeout_ms / 1000
    max_body = settings.max_body_bytes
    max_inflight = settings.max_inflight
    metrics = state.metrics
    counts_inflight = metrics.counts_inflight
    try:
        server_version = metadata.version("mlops-platform")
    except metadata.PackageNotFoundError:
        server_version = "0.0.0"
    openapi = orjson.dumps(openapi_document(server_version))

    def fail(message: str) -> None:
        state.load_error = message
        log.error(message)
        if on_fatal is not None:
            on_fatal(message)

    async def load_model() -> None:
        started = time.perf_counter()
        try:
            model, uri = await asyncio.to_thread(loader)
            seconds = await asyncio.to_thread(model.warm_up, source=uri)
            coalesce = settings.batching_enabled and model.batchable
            per_row: float | None = None
            if coalesce:
                rows = min(settings.max_batch_size, WARM_UP_BATCH)
                per_row = await asyncio.to_thread(model.warm_up, rows=rows, source=uri) / rows
        except (ModelLoadError, RepositoryError) as error:
            fail(f"cannot load model: {error}")
            return
        except Exception as error:  # noqa: BLE001 - anything else must end the process too
            detail = " ".join(str(error).split()) or "no detail"
            fail(
                f"cannot load model: {settings.model_repository}: {type(error).__name__}: {detail}"
            )
            return
        batcher = Batcher(
            model.predict,
            coalesce=coalesce,
            offload=choose_offload(seconds, per_row),
            inline_when_alone=seconds <= INLINE_LIMIT_SECONDS,
            max_inline_rows=inline_rows(seconds if per_row is None else per_row),
            max_batch_size=settings.max_batch_size,
            max_batch_delay=settings.max_batch_delay_ms / 1000,
            observe_batch=metrics.batch_size.observe,
            observe_wait=metrics.queue_wait.observe,
        )
        state.served = ServedModel(model=model, batcher=batcher, uri=uri)
        state.mark_loaded()
        metrics.load_seconds.set(time.perf_counter() - started)
        # What exists now lives as long as the process: keep it out of every future GC scan.
        gc.collect()
        gc.freeze()
        log.info(
            "model ready",
            extra={
                "model": name,
                "version": version,
                "uri": uri,
                "providers": model.providers,
                "batching": batcher.coalesce,
                "inference_thread": batcher.offload,
                "warm_up_seconds": round(seconds, 6),
                "batched_row_seconds": None if per_row is None else round(per_row, 6),
                "max_inline_rows": batcher.max_inline_rows,
            },
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loading = asyncio.create_task(load_model())
        app.state.loading = loading  # a reference keeps the task alive
        grpc_server: GrpcServer | None = None
        if settings.grpc_enabled:
            backend = Backend(
                state=state,
                server_version=server_version,
                count=metrics.count_grpc,
                observe=metrics.grpc_latency.observe,
            )
            try:
                grpc_server = await GrpcServer.start(
                    backend, settings.host, settings.grpc_port, max_body
                )
            except RuntimeError as error:
                fail(str(error))
        app.state.grpc = grpc_server
        yield
        loading.cancel()
        if grpc_server is not None:
            # Drain already waited for gRPC calls too (one in-flight count for both listeners).
            await grpc_server.stop(1)
        if state.served is not None:
            state.served.batcher.close()

    def find_model(request: Request) -> None:
        params = request.path_params
        if params["model_name"] != name:
            raise ProtocolError(404, f"model '{params['model_name']}' not found; serving '{name}'")
        requested = params.get("model_version")
        if requested is not None and requested != version:
            raise ProtocolError(
                404, f"model '{name}' has no version '{requested}'; serving version '{version}'"
            )

    def unavailable() -> ProtocolError:
        if state.draining:
            return ProtocolError(503, "server is shutting down", retry_after=1)
        if state.load_error is not None:
            return ProtocolError(503, state.load_error, retry_after=1)
        return ProtocolError(503, f"model '{name}' is loading", retry_after=1)

    async def infer(request: Request) -> Response:
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        admitted = False
        request_id: str | None = None
        try:
            find_model(request)
            served = state.served
            if served is None or state.draining:
                raise unavailable()
            if state.inflight >= max_inflight:
                raise ProtocolError(
                    503,
                    f"server is at its limit of {max_inflight} requests in flight",
                    retry_after=1,
                )
            state.inflight += 1
            if counts_inflight:
                metrics.inflight.inc()
            admitted = True
            try:
                # A client trickling its body must not hold an in-flight slot past the deadline.
                async with asyncio.timeout_at(deadline):
                    body, header_length = await _read_body(request, max_body)
            except TimeoutError:
                raise DeadlineExceededError from None
            decoded = decode_infer_request(
                body, served.model.inputs, served.model.output_names, header_length
            )
            request_id = decoded.id
            outputs = await served.batcher.infer(
                decoded.inputs, deadline, alone=state.inflight == 1
            )
            if decoded.outputs is not None:
                outputs = {output: outputs[output] for output in decoded.outputs}
            if decoded.raw_outputs:
                payload, json_length = encode_binary_response(
                    name, version, request_id, outputs, served.model.outputs, decoded.raw_outputs
                )
                response = Response(
                    payload,
                    media_type="application/octet-stream",
                    headers={"Inference-Header-Content-Length": str(json_length)},
                )
            else:
                payload = encode_infer_response(
                    name, version, request_id, outputs, served.model.outputs
                )
                response = Response(payload, media_type=_JSON)
        except ProtocolError as error:
            response = _error(error.status, error.message, error.retry_after is not None)
        except DeadlineExceededError:
            response = _error(504, f"deadline of {settings.request_timeout_ms} ms exceeded")
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

    async def live(request: Request) -> Response:
        return Response(status_code=200)

    async def ready(request: Request) -> Response:
        if state.ready:
            return Response(status_code=200)
        if state.served is not None and not state.draining:
            return _error(503, "other workers are still loading the model", retry_after=True)
        error = unavailable()
        return _error(error.status, error.message, retry_after=True)

    async def model_ready(request: Request) -> Response:
        try:
            find_model(request)
        except ProtocolError as error:
            return _error(error.status, error.message)
        return await ready(request)

    async def server_metadata(request: Request) -> Response:
        return _json({"name": "mlops-serving", "version": server_version, "extensions": []})

    async def model_metadata(request: Request) -> Response:
        try:
            find_model(request)
        except ProtocolError as error:
            return _error(error.status, error.message)
        served = state.served
        if served is None:
            loading = unavailable()
            return _error(loading.status, loading.message, retry_after=True)
        return _json(
            {
                "name": name,
                "versions": [version],
                "platform": "onnxruntime_onnx",
                "inputs": [metadata_tensor(spec) for spec in served.model.inputs.values()],
                "outputs": [metadata_tensor(spec) for spec in served.model.outputs.values()],
            }
        )

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.exposition(), media_type="text/plain; version=0.0.4")

    async def openapi_endpoint(request: Request) -> Response:
        return Response(openapi, media_type=_JSON)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            message = f"no route {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        return _error(exc.status_code, message)

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("unhandled error", exc_info=exc)
        return _error(500, "internal server error")

    prefix = "/v2/models/{model_name}"
    versioned = prefix + "/versions/{model_version}"
    routes = [
        # Inference first: Starlette tries routes in order.
        Route(prefix + "/infer", infer, methods=["POST"]),
        Route(versioned + "/infer", infer, methods=["POST"]),
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/v2", server_metadata, methods=["GET"]),
        Route("/v2/openapi.json", openapi_endpoint, methods=["GET"]),
        Route(prefix, model_metadata, methods=["GET"]),
        Route(versioned, model_metadata, methods=["GET"]),
        Route(prefix + "/ready", model_ready, methods=["GET"]),
        Route(versioned + "/ready", model_ready, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    app.state.serving = state
    return app


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
