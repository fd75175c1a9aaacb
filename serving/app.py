"""The ASGI application: the route table and the lifespan (load the model, close the queue).

The handlers are `serving.endpoints.Endpoints`' methods; what they read is `serving.state`.
`POST .../infer` is also matched before Starlette (`ServingApp`): the hot path then skips
Starlette's middleware, routing and Request/Response objects; everything else goes through it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import metadata
from pathlib import Path

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.exceptions import HTTPException
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from serving.emf import EmfPublisher, run_publisher
from serving.endpoints import Endpoints, refuse_path
from serving.grpc_service import start_grpc
from serving.settings import Settings
from serving.state import Loader, ServerState, default_loader, load_model

__all__ = ["ServingApp", "create_app"]

_MODELS = "/v2/models/"
_INFER = "/infer"


class ServingApp:
    """Starlette, with `POST /v2/models/{name}[/versions/{v}]/infer` answered before it."""

    def __init__(self, starlette: Starlette, endpoints: Endpoints) -> None:
        self.starlette = starlette
        self._infer = endpoints.infer
        self.admission = endpoints.admission

    @property
    def state(self) -> State:
        return self.starlette.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if b"%" in scope["raw_path"] and await refuse_path(scope, send):
                return
            path: str = scope["path"]
            if scope["method"] == "POST" and path.startswith(_MODELS) and path.endswith(_INFER):
                parts = path[len(_MODELS) : -len(_INFER)].split("/")
                if len(parts) == 1 and parts[0]:
                    return await self._infer(scope, receive, send, parts[0], None)
                if len(parts) == 3 and parts[1] == "versions" and parts[0] and parts[2]:
                    return await self._infer(scope, receive, send, parts[0], parts[2])
        await self.starlette(scope, receive, send)


async def _flush_metrics(state: ServerState) -> None:
    """With workers, this worker's counts reach the shared metric files once a second."""
    while True:
        await asyncio.sleep(1.0)
        state.metrics.flush()


class _InferRoute:
    """The infer handler as a Starlette endpoint (ASGI), for the route table's sake."""

    def __init__(self, endpoints: Endpoints) -> None:
        self._infer = endpoints.infer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        params = scope["path_params"]
        await self._infer(scope, receive, send, params["model_name"], params.get("model_version"))


def create_app(
    settings: Settings,
    *,
    load: Loader | None = None,
    on_fatal: Callable[[str], None] | None = None,
    ready_dir: Path | None = None,
) -> ServingApp:
    """Build the app; the model loads in the background once the app starts (lifespan).

    `load` replaces the default loader (fetch the repository, open the ONNX file); `on_fatal`
    is called with a one-line message when loading fails (the process entry point exits);
    `ready_dir` is the folder where the workers of one server mark themselves loaded.
    """
    state = ServerState(settings, ready_dir)
    loader = load or default_loader(settings)
    try:
        server_version = metadata.version("mlops-platform")
    except metadata.PackageNotFoundError:
        server_version = "0.0.0"
    endpoints = Endpoints(state, server_version)
    infer = _InferRoute(endpoints)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loading = asyncio.create_task(load_model(state, loader, on_fatal))
        app.state.loading = loading  # a reference keeps the task alive
        flushing = None
        if state.metrics.multiprocess:
            flushing = asyncio.create_task(_flush_metrics(state))
        publishing = None
        if settings.emf_endpoint is not None:
            publisher = EmfPublisher(
                state.metrics,
                endpoint=settings.emf_endpoint,
                dimensions=settings.emf_dimensions,
                namespace=settings.emf_namespace,
                log_group=settings.emf_log_group,
            )
            publishing = asyncio.create_task(run_publisher(publisher))
        grpc_server = await start_grpc(state, server_version, on_fatal)
        app.state.grpc = grpc_server
        yield
        if publishing is not None:
            publishing.cancel()
            # The last minute's counts go out before the process exits.
            await asyncio.gather(publishing, return_exceptions=True)
        if flushing is not None:
            flushing.cancel()
            state.metrics.flush()
        loading.cancel()
        if grpc_server is not None:
            # Drain already waited for gRPC calls too (one in-flight count for both listeners).
            await grpc_server.stop(1)
        if state.served is not None:
            state.served.batcher.close()

    prefix = "/v2/models/{model_name}"
    versioned = prefix + "/versions/{model_version}"
    routes = [
        # Inference first: Starlette tries routes in order.
        Route(prefix + "/infer", infer, methods=["POST"]),
        Route(versioned + "/infer", infer, methods=["POST"]),
        Route("/v2/health/live", endpoints.live, methods=["GET"]),
        Route("/v2/health/ready", endpoints.ready, methods=["GET"]),
        Route("/metrics", endpoints.metrics, methods=["GET"]),
        Route("/v2", endpoints.server_metadata, methods=["GET"]),
        Route("/v2/openapi.json", endpoints.openapi, methods=["GET"]),
        Route(prefix, endpoints.model_metadata, methods=["GET"]),
        Route(versioned, endpoints.model_metadata, methods=["GET"]),
        Route(prefix + "/ready", endpoints.model_ready, methods=["GET"]),
        Route(versioned + "/ready", endpoints.model_ready, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: endpoints.http_error, Exception: endpoints.server_error},
    )
    # A trailing slash is another path (404), never a redirect echoing the client's Host header.
    app.router.redirect_slashes = False
    app.state.serving = state
    return ServingApp(app, endpoints)
