"""How the process runs: uvicorn with drain on SIGTERM, and a supervisor for several workers.

On SIGTERM (or SIGINT) a worker keeps listening but turns readiness to 503 and answers new
inference requests with 503; once the requests in flight and in the queue are done, or the drain
timeout has passed, uvicorn closes the connections and the process exits 0. When the drain
timeout passes with requests still running, or on a second signal, the process exits at once
(exit code 0), abandoning them: the pod's grace period is preStop + drain + a small margin.
With several workers, the parent binds the socket, starts the workers, forwards the signal to
them and exits 0 when they all have; a worker that dies on its own takes the others down and
the parent exits non-zero, so Kubernetes restarts the pod instead of running it short.
"""

from __future__ import annotations

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
from serving.logs import configure_logging
from serving.repository import ModelFile
from serving.runtime import OnnxModel
from serving.settings import Settings
from serving.state import ServerState

__all__ = ["STARTUP_FAILURE", "DrainingServer", "serve", "supervise"]

log = logging.getLogger("serving")

STARTUP_FAILURE = 3
"""Exit code when the model cannot be loaded (uvicorn's own code for a failed start)."""


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
            if not self._drain_logged:
                self._drain_logged = True
                log.info("draining", extra={"inflight": inflight, "timeout": self._drain_timeout})
            if inflight == 0:
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
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        # Drain already waited for the requests; this is only for responses being written.
        timeout_graceful_shutdown=1,
    )
    server = DrainingServer(config, app.state.serving, settings.drain_timeout_seconds)
    server.run(sockets)
    return STARTUP_FAILURE if failures or not server.started else 0


def _worker(
    settings: Settings, model_file: ModelFile, listener: socket.socket, ready_dir: Path
) -> None:
    configure_logging(settings.log_level)
    sys.exit(serve(settings, model_file, [listener], ready_dir))


def supervise(settings: Settings, model_file: ModelFile) -> int:
    """Run `settings.workers` worker processes on one socket; returns the exit code."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    listener = socket.create_server((settings.host, settings.port), family=family, backlog=2048)
    listener.set_inheritable(True)
    # Each worker counts for itself; prometheus_client sums the workers' files on a scrape.
    metrics_dir = tempfile.mkdtemp(prefix="serving-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    ready_dir = Path(tempfile.mkdtemp(prefix="serving-ready-"))
    from prometheus_client import multiprocess

    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(
            target=_worker, args=(settings, model_file, listener, ready_dir), name=f"worker-{i}"
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
