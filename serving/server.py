"""How a worker runs: uvicorn with drain on SIGTERM (`serve`).

On SIGTERM (or SIGINT) a worker keeps listening but turns readiness to 503 and answers new
inference requests with 503; every response from then on carries `Connection: close`, and no
connection is closed under a client: a request already on the wire of a kept-alive connection
gets its answer. Once nothing is in flight and every connection has closed (clients leave after
`Connection: close`; idle ones after uvicorn's keep-alive timeout), or the drain timeout has
passed, the listening socket closes and the process exits 0. When the drain timeout passes with
requests still running, or on a second signal, the process exits at once (exit code 0),
abandoning them: the pod's grace period is preStop + drain + a small margin.

Several workers run under `serving.supervisor`, which also holds the listening socket and the
exit codes.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from types import FrameType

import uvicorn

from serving.app import create_app
from serving.edge import EdgeLimits, edge_protocol
from serving.repository import ModelFile
from serving.runtime import OnnxModel
from serving.settings import Settings
from serving.state import ServerState
from serving.supervisor import (
    EXIT_LISTEN,
    EXIT_REPOSITORY,
    STARTUP_FAILURE,
    ListenError,
    listen,
    supervise,
)

__all__ = [
    "EXIT_LISTEN",
    "EXIT_REPOSITORY",
    "STARTUP_FAILURE",
    "DrainingServer",
    "listen",
    "serve",
    "supervise",
]

log = logging.getLogger("serving")


class DrainingServer(uvicorn.Server):
    """A uvicorn server that drains before it stops."""

    def __init__(self, config: uvicorn.Config, state: ServerState, drain_timeout: float) -> None:
        super().__init__(config)
        self._state = state
        self._drain_timeout = drain_timeout
        self._drain_deadline: float | None = None
        self._drain_logged = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Runs as a signal handler: set flags only, `on_tick` does the rest.
        if self._drain_deadline is None and self.started and not self.should_exit:
            self._drain_deadline = time.monotonic() + self._drain_timeout
            self._state.begin_drain()
            return
        if self._drain_deadline is not None or self.should_exit:
            self.force_exit = True  # a second signal: stop now, not after another grace period
        self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        if self._drain_deadline is not None and not self.should_exit:
            inflight = self._state.inflight
            connections = self.server_state.connections
            if not self._drain_logged:
                self._drain_logged = True
                log.info("draining", extra={"inflight": inflight, "timeout": self._drain_timeout})
                # Responses being produced now close their connection after they are sent.
                for connection in list(connections):
                    drain = getattr(connection, "drain", None)
                    if drain is not None:
                        drain()
            if inflight == 0 and not connections:
                self.should_exit = True
            elif time.monotonic() >= self._drain_deadline:
                log.warning("drain timeout passed", extra={"inflight": inflight})
                # Past the drain the kubelet's SIGKILL is near: skip uvicorn's graceful wait.
                self.force_exit = True
                self.should_exit = True
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        if self.force_exit:
            # Exit before asyncio cancels the abandoned requests (a traceback each) and before the
            # interpreter joins the inference thread, which may run on past the grace period.
            log.warning("exiting with requests abandoned", extra={"inflight": self._state.inflight})
            logging.shutdown()
            os._exit(0)


def _loader(settings: Settings, model_file: ModelFile) -> tuple[OnnxModel, str]:
    model = OnnxModel.load(
        model_file.path, intra_op_threads=settings.intra_op_threads, source=model_file.uri
    )
    return model, model_file.uri


def serve(
    settings: Settings,
    model_file: ModelFile,
    sockets: list[socket.socket] | None = None,
    ready_dir: Path | None = None,
) -> int:
    """Serve in this process until drained; returns the exit code."""
    failures: list[str] = []

    def on_fatal(message: str) -> None:
        failures.append(message)
        server.should_exit = True

    app = create_app(
        settings,
        load=lambda: _loader(settings, model_file),
        on_fatal=on_fatal,
        ready_dir=ready_dir,
    )
    if sockets is None:
        try:
            sockets = [listen(settings.host, settings.port)]
        except ListenError as error:
            log.error(str(error))
            return EXIT_LISTEN
    state = app.state.serving
    limits = EdgeLimits(
        header_timeout=settings.header_timeout_seconds,
        write_timeout=settings.write_timeout_seconds,
        body_timeout=settings.request_timeout_ms / 1000,
        max_slow_bodies=settings.max_slow_bodies,
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=edge_protocol(limits, lambda: state.draining, app.admission),
        loop="uvloop",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        lifespan="on",
        # Drain already waited for the requests; this is only for responses being written.
        timeout_graceful_shutdown=1,
    )
    server = DrainingServer(config, state, settings.drain_timeout_seconds)
    server.run(sockets)
    return STARTUP_FAILURE if failures or not server.started else 0
