"""The process around the workers: the listening socket, the exit codes, and a supervisor for
several workers (`supervise`).

With several workers, the parent binds the socket, starts the workers, closes its own copy of
the socket (so that it is closed once the workers close theirs), forwards the signal to them and
exits 0 when they all have; a worker that dies on its own takes the others down and the parent
exits non-zero, so Kubernetes restarts the pod instead of running it short. A worker dies with
its parent (Linux's parent-death signal), even when the parent is SIGKILLed.

The parent imports neither uvicorn, the app nor ONNX Runtime (the workers do, in
`serving.server`): it runs in ~38 MiB, not the ~85 MiB of a worker's imports, in a pod
whose memory request counts it.

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
from pathlib import Path
from types import FrameType

from serving.logs import configure_logging
from serving.repository import ModelFile
from serving.settings import Settings

__all__ = [
    "EXIT_LISTEN",
    "EXIT_REPOSITORY",
    "STARTUP_FAILURE",
    "ListenError",
    "listen",
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
    from serving.server import serve  # the worker's imports: uvicorn, the app, ONNX Runtime

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
