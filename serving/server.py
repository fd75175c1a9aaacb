"""How the process runs: uvicorn with drain on SIGTERM, and a supervisor for several workers.

On SIGTERM (or SIGINT) a worker keeps listening but turns readiness to 503 and answers new
inference requests with 503; every response from then on carries `Connection: close`, and no
connection is closed under a client: a request already on the wire of a kept-alive connection
gets its answer. Once nothing is in flight and every connection has closed (clients leave after
`Connection: close`; idle ones after uvicorn's keep-alive timeout), or the drain timeout has
passed, the listening socket closes and the process exits 0. When the drain timeout passes with
requests still running, or on a second signal, the process exits at once (exit code 0),
abandoning them: the pod's grace period is preStop + drain + a small margin.

With several workers, the parent binds the socket, starts the workers, closes its own copy of
the socket (so that it is closed once the workers close theirs), forwards the signal to them and
exits 0 when they all have; a worker that dies on its own takes the others down and the parent
exits non-zero, so Kubernetes restarts the pod instead of running it short. A worker dies with
its parent (Linux's parent-death signal), even when the parent is SIGKILLed.

Exit codes at start-up, one error line each: 1 the model cannot be fetched or read (missing,
unreadable, checksum), 2 a bad setting, 3 the model does not load, 4 the address cannot be
listened on (port in use, no permission).
"""

from __future__ import annotations

import ctypes
import errno
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

import uvicorn

from serving.app import create_app
from serving.edge import EdgeLimits, edge_protocol
from serving.logs import configure_logging
from serving.repository import ModelFile
from serving.runtime import OnnxModel
from serving.settings import Settings
from serving.state import ServerState

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

EXIT_REPOSITORY = 1
"""Exit code when the model cannot be fetched or read (missing, unreadable, bad checksum)."""
STARTUP_FAILURE = 3
"""Exit code when the model cannot be loaded (uvicorn's own code for a failed start)."""
EXIT_LISTEN = 4
"""Exit code when the address cannot be listened on (port in use, no permission)."""

_PR_SET_PDEATHSIG = 1


class ListenError(Exception):
    """The server's address cannot be bound; the message is one line."""


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, or ListenError naming the address and the reason."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        hint = " (another process listens there)" if error.errno == errno.EADDRINUSE else ""
        raise ListenError(f"cannot listen on {host}:{port}: {reason}{hint}") from None


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


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGTERM this process when its parent dies (even by SIGKILL): a worker must
    not serve on, unsupervised, from a socket nobody drains. Elsewhere this is a no-op."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed", extra={"errno": ctypes.get_errno()})
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _worker(
    settings: Settings,
    model_file: ModelFile,
    listener: socket.socket,
    ready_dir: Path,
    parent: int,
) -> None:
    _die_with_parent(parent)
    configure_logging(settings.log_level)
    sys.exit(serve(settings, model_file, [listener], ready_dir))


def supervise(settings: Settings, model_file: ModelFile) -> int:
    """Run `settings.workers` worker processes on one socket; returns the exit code."""
    try:
        listener = listen(settings.host, settings.port)
    except ListenError as error:
        log.error(str(error))
        return EXIT_LISTEN
    listener.set_inheritable(True)
    # Each worker counts for itself; prometheus_client sums the workers' files on a scrape.
    metrics_dir = tempfile.mkdtemp(prefix="serving-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    ready_dir = Path(tempfile.mkdtemp(prefix="serving-ready-"))
    from prometheus_client import multiprocess

    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(
            target=_worker,
            args=(settings, model_file, listener, ready_dir, os.getpid()),
            name=f"worker-{i}",
        )
        for i in range(settings.workers)
    ]
    stopping = False
    exit_code = 0

    def stop(sig: int = signal.SIGTERM, frame: FrameType | None = None) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers:
            if worker.pid is not None and worker.exitcode is None:
                os.kill(worker.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for worker in workers:
        worker.start()
    # The workers hold the socket now. Were the parent to keep its copy, the kernel would go on
    # accepting connections after the workers stopped, and reset them at exit.
    listener.close()
    log.info("workers started", extra={"workers": [worker.pid for worker in workers]})
    running: dict[int, multiprocessing.process.BaseProcess] = {
        worker.sentinel: worker for worker in workers
    }
    try:
        while running:
            for sentinel in multiprocessing.connection.wait(list(running), timeout=1.0):
                done = running.pop(sentinel)  # type: ignore[arg-type]
                done.join()
                if done.pid is not None:
                    multiprocess.mark_process_dead(done.pid)  # type: ignore[no-untyped-call]
                if done.exitcode != 0 or not stopping:
                    log.error("worker exited", extra={"pid": done.pid, "exitcode": done.exitcode})
                    if exit_code == 0:
                        exit_code = STARTUP_FAILURE if done.exitcode == STARTUP_FAILURE else 1
                    if not stopping:
                        stop()
    finally:
        listener.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)
        shutil.rmtree(ready_dir, ignore_errors=True)
    return exit_code
