"""The ASGI application: the route table and the lifespan (load the model, close the queue).

The handlers are `serving.endpoints.Endpoints`' methods; what they read is `serving.state`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import metadata
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Route

from serving.endpoints import Endpoints
from serving.grpc_service import start_grpc
from serving.settings import Settings
from serving.state import Loader, ServerState, default_loader, load_model

__all__ = ["create_app"]


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
    loader = load or default_loader(settings)
    try:
        server_version = metadata.version("mlops-platform")
    except metadata.PackageNotFoundError:
        server_version = "0.0.0"
    endpoints = Endpoints(state, server_version)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loading = asyncio.create_task(load_model(state, loader, on_fatal))
        app.state.loading = loading  # a reference keeps the task alive
        grpc_server = await start_grpc(state, server_version, on_fatal)
        app.state.grpc = grpc_server
        yield
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
        Route(prefix + "/infer", endpoints.infer, methods=["POST"]),
        Route(versioned + "/infer", endpoints.infer, methods=["POST"]),
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
    app.state.serving = state
    return app
