"""What the routes read: the loaded model, readiness, drain and the in-flight count; and the
start-up that fills it (fetch, load, warm up, choose where inference runs)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from serving.batching import INLINE_LIMIT_SECONDS, Batcher, choose_offload, inline_rows
from serving.metrics import Metrics
from serving.repository import RepositoryError, fetch_model
from serving.runtime import ModelLoadError, OnnxModel
from serving.settings import Settings

__all__ = ["WARM_UP_BATCH", "Loader", "ServedModel", "ServerState", "default_loader", "load_model"]

log = logging.getLogger("serving")

WARM_UP_BATCH = 8
"""Rows in the warm-up batch that tells whether batching pays for this model."""
INFERENCE_SWITCH_INTERVAL = 0.0005
"""The GIL switch interval (`sys.setswitchinterval`) of a process with an inference thread."""

Loader = Callable[[], tuple[OnnxModel, str]]
"""Loads the model; returns it with the URI it came from."""


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
        return (
            self.served is not None
            and self.load_error is None
            and not self.draining
            and self._all_workers_ready()
        )

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


def default_loader(settings: Settings) -> Loader:
    def load() -> tuple[OnnxModel, str]:
        model_file = fetch_model(settings.model_repository, settings.cache_dir)
        model = OnnxModel.load(
            model_file.path, intra_op_threads=settings.intra_op_threads, source=model_file.uri
        )
        return model, model_file.uri

    return load


async def load_model(
    state: ServerState, loader: Loader, on_fatal: Callable[[str], None] | None = None
) -> None:
    """Load and warm up the model off the event loop, then put it in `state`; on failure,
    record a one-line reason (readiness shows it) and call `on_fatal` with it."""
    settings = state.settings
    metrics = state.metrics

    def fail(message: str) -> None:
        state.load_error = message
        log.error(message)
        if on_fatal is not None:
            on_fatal(message)

    started = time.perf_counter()
    try:
        model, uri = await asyncio.to_thread(loader)
        seconds = await asyncio.to_thread(model.warm_up, source=uri)
        coalesce = settings.batching_enabled and model.batchable
        per_row: float | None = None
        warm_up = (seconds, 1)
        if coalesce:
            rows = min(settings.max_batch_size, WARM_UP_BATCH)
            batch_seconds = await asyncio.to_thread(model.warm_up, rows=rows, source=uri)
            per_row, warm_up = batch_seconds / rows, (batch_seconds, rows)
    except (ModelLoadError, RepositoryError) as error:
        fail(f"cannot load model: {error}")
        return
    except Exception as error:  # noqa: BLE001 - anything else must end the process too
        detail = " ".join(str(error).split()) or "no detail"
        fail(f"cannot load model: {settings.model_repository}: {type(error).__name__}: {detail}")
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
        warm_up=warm_up,
    )
    if batcher.offload:
        # The inference thread needs the GIL for a moment after each batch (ONNX Runtime
        # returns, rows are split): under overload the event loop holds it, and the default
        # 5 ms interval before a handover idled the inference thread for most of a small batch.
        # Only then: without that thread, a short interval only makes the event loop and
        # grpc.aio's poller thread trade the GIL ten times as often: it cost the bare grpc.aio
        # floor a fifth of its requests/s on uvloop (bench/results-grpc.md).
        sys.setswitchinterval(INFERENCE_SWITCH_INTERVAL)
    state.served = ServedModel(model=model, batcher=batcher, uri=uri)
    state.mark_loaded()
    metrics.load_seconds.set(time.perf_counter() - started)
    # What exists now lives as long as the process: keep it out of every future GC scan.
    gc.collect()
    gc.freeze()
    log.info(
        "model ready",
        extra={
            "model": settings.model_name,
            "version": settings.model_version,
            "uri": uri,
            "providers": model.providers,
            "batching": batcher.coalesce,
            "inference_thread": batcher.offload,
            "warm_up_seconds": round(seconds, 6),
            "batched_row_seconds": None if per_row is None else round(per_row, 6),
            "max_inline_rows": batcher.max_inline_rows,
        },
    )
