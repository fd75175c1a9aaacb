"""Adaptive batching: coalesce the rows of concurrent requests into one inference.

Batches form while the model is busy, not by waiting. A model slow enough to be worth it runs
on one inference thread (ONNX Runtime releases the GIL); while a batch runs there, the event loop
keeps decoding requests, and the ones that queued meanwhile form the next batch, up to
`max_batch_size` rows. Only when such a model is idle and its recent batches held several
requests does `max_batch_delay` hold it back to wait for batch-mates. A fast model (the warm-up
decides) runs on the event loop and never queues: a request there runs to completion without
yielding, so there is nothing to coalesce, and a queue would only add cost. Results are split
back by rows; if a batch fails, its requests run one by one so a bad request fails alone.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from serving.runtime import InferenceError, ModelInputError

__all__ = [
    "INLINE_LIMIT_SECONDS",
    "Batcher",
    "DeadlineExceededError",
    "choose_offload",
    "inline_rows",
    "rows_of",
]

Array = npt.NDArray[Any]
Tensors = dict[str, Array]
Predict = Callable[[Mapping[str, Array]], Tensors]
_Outcome = Tensors | BaseException


INLINE_LIMIT_SECONDS = 0.0003
"""A model slower than this per single row never runs on the event loop (it would stall it)."""
BATCH_WORTH_SECONDS = 0.00005
"""Below this per single row, a thread hop and a queue cost more than batching can save."""


def choose_offload(one_row: float, per_row_in_batch: float | None) -> bool:
    """Whether inference runs on the inference thread (and queues) rather than the event loop.

    `one_row` is the warm-up's seconds for one row; `per_row_in_batch` the seconds per row of a
    warm-up batch, or None when the model cannot batch or batching is off.
    """
    if one_row > INLINE_LIMIT_SECONDS:
        return True
    if per_row_in_batch is None:
        return False
    return one_row >= BATCH_WORTH_SECONDS and per_row_in_batch <= one_row / 2


def inline_rows(row_seconds: float) -> int:
    """The most rows one request may have to run on the event loop, given the warm-up's seconds
    per row: a request larger than that would stall the loop past INLINE_LIMIT_SECONDS."""
    if row_seconds <= 0:
        return sys.maxsize
    return int(INLINE_LIMIT_SECONDS // row_seconds)


class DeadlineExceededError(Exception):
    """The request's deadline passed before its inference finished."""


@dataclass(slots=True, eq=False)
class _Pending:
    inputs: Tensors
    rows: int
    key: tuple[Any, ...]
    future: asyncio.Future[Tensors]
    enqueued: float
    timer: asyncio.TimerHandle | None = field(default=None)


def _noop(_: float) -> None:
    return None


class Batcher:
    """Serves `predict` to concurrent callers, batching their rows where the model allows.

    `offload` runs inference on a dedicated thread instead of the event loop (slow models);
    `coalesce` stacks queued requests (batching on and a model with an open first axis). Without
    `offload` every request runs at once, on the event loop. `inline_when_alone` lets a request
    that is alone in the server run at once on the event loop even when `offload` is on: for a
    model fast enough for the loop whose rows are cheaper in batches, the queue and thread hop
    only pay when there are batch-mates to wait for. `max_inline_rows` caps the rows of a
    request that may run on the event loop at all; a larger one goes to the inference thread.
    `warm_up` (seconds, rows) of a warm-up inference starts the estimate of `backlog_seconds`.

    The inference thread takes each next batch from the queue itself, as soon as the last one
    is done: under overload a turn of the event loop (answering hundreds of connections) takes
    tens of milliseconds, and a thread that waited for the loop to hand it each batch ran one
    batch per turn and idled the rest of it. The loop only enqueues requests and delivers
    results.
    """

    def __init__(
        self,
        predict: Predict,
        *,
        coalesce: bool,
        offload: bool,
        max_batch_size: int,
        max_batch_delay: float,
        observe_batch: Callable[[float], None] = _noop,
        observe_wait: Callable[[float], None] = _noop,
        inline_when_alone: bool = False,
        max_inline_rows: int = sys.maxsize,
        warm_up: tuple[float, int] = (0.0, 0),
    ) -> None:
        self._predict = predict
        self.max_inline_rows = max_inline_rows
        self._inline_when_alone = inline_when_alone
        self.coalesce = coalesce
        self.offload = offload
        self._max_rows = max_batch_size
        self._max_delay = max_batch_delay
        self._observe_batch = observe_batch
        self._observe_wait = observe_wait
        # Shared with the inference thread, under `_lock`: the queue and its row count.
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: deque[_Pending] = deque()
        self._pending_rows = 0
        self._idle = True
        """Whether the inference thread waits for work (the loop must wake it)."""
        self._wake_soon = False
        self._closed = False
        self.running = False
        """Whether a batch runs on the inference thread now (read-only outside)."""
        self._concurrent = False
        """Whether the last batch held more than one request: evidence that waiting pays."""
        self._thread: threading.Thread | None = None
        # Seconds and rows of recent batches (moving averages), for `backlog_seconds`; the
        # warm-up's (seconds, rows) until batches have run.
        self._batch_seconds = float(warm_up[0])
        self._batch_rows = float(warm_up[1])

    @property
    def queued(self) -> int:
        """Requests waiting for a batch (not counting the one running)."""
        return len(self._pending)

    def backlog_seconds(self, rows: int = 1) -> float:
        """About how long a request of `rows` rows enqueued now would wait for its answer: the
        running batch, then the rows queued ahead of it and its own at the pace of recent
        batches. 0 when nothing runs or waits (a request alone is always taken on), and until a
        batch has run on the inference thread (nothing to go by)."""
        seconds, per_batch = self._batch_seconds, self._batch_rows
        if not per_batch or not (self.running or self._pending):
            return 0.0
        if self.coalesce:
            queued = self._pending_rows + rows
            work = seconds if queued <= per_batch else queued * seconds / per_batch
        else:
            work = (len(self._pending) + 1) * seconds
        return work + (seconds if self.running else 0.0)

    async def infer(self, inputs: Tensors, deadline: float, *, alone: bool = False) -> Tensors:
        """Outputs for one request's tensors; `deadline` is on the event loop's clock.

        `alone`: no other request is in flight in this server process.
        """
        rows = rows_of(inputs)
        if self.runs_inline(rows, alone=alone):
            return self.run_inline(inputs, rows, deadline)
        loop = asyncio.get_running_loop()
        item = _Pending(
            inputs=inputs,
            rows=rows,
            key=_key(inputs) if self.coalesce else (),
            future=loop.create_future(),
            enqueued=time.perf_counter(),
        )
        item.timer = loop.call_at(deadline, _expire, item.future)
        if self._thread is None:
            self._start(loop)
        with self._lock:
            self._pending.append(item)
            self._pending_rows += rows
            if self._idle:
                if self._pending_rows >= self._max_rows:
                    self._wake.notify()
                elif not self._wake_soon:
                    # An idle model starts at the end of this turn of the loop, with every
                    # request decoded in it: a burst forms one batch, not one of its first.
                    self._wake_soon = True
                    loop.call_soon(self._wake_up)
        try:
            return await item.future
        finally:
            item.timer.cancel()

    def runs_inline(self, rows: int, *, alone: bool) -> bool:
        """Whether a request of `rows` rows runs at once on the event loop (`run_inline`) rather
        than through the queue: what `infer` decides first, for callers that skip a coroutine
        on the hot path."""
        return rows <= self.max_inline_rows and (
            not self.offload
            or (alone and self._inline_when_alone and not self.running and not self._pending)
        )

    def run_inline(self, inputs: Tensors, rows: int, deadline: float) -> Tensors:
        """Run one request on the calling (event loop) thread; see `runs_inline`. Raises
        DeadlineExceededError when it finished past `deadline` (the event loop's clock)."""
        self._observe_batch(float(rows))
        outputs = self._predict(inputs)
        if asyncio.get_running_loop().time() > deadline:
            raise DeadlineExceededError
        return outputs

    def _wake_up(self) -> None:
        with self._lock:
            self._wake_soon = False
            if self._idle and self._pending:
                self._wake.notify()

    def close(self) -> None:
        """Stop the inference thread after its running batch; queued requests fail."""
        with self._lock:
            self._closed = True
            abandoned = list(self._pending)
            self._pending.clear()
            self._pending_rows = 0
            self._wake.notify()
        _deliver(abandoned, [DeadlineExceededError("inference was cancelled")] * len(abandoned))

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._thread = threading.Thread(
            target=self._work, args=(loop,), name="inference", daemon=True
        )
        self._thread.start()

    def _work(self, loop: asyncio.AbstractEventLoop) -> None:
        """The inference thread: take a batch, run it, hand the results to the loop, repeat."""
        predict = self._predict
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            if not batch:
                continue
            started = time.perf_counter()
            outcomes = _run_batch(predict, batch)
            seconds = time.perf_counter() - started
            rows = sum(item.rows for item in batch)
            # Moving averages over about the last eight batches, for the backlog estimate.
            if self._batch_rows:
                self._batch_seconds += (seconds - self._batch_seconds) / 8
                self._batch_rows += (rows - self._batch_rows) / 8
            else:
                self._batch_seconds, self._batch_rows = seconds, float(rows)
            self.running = False
            try:
                loop.call_soon_threadsafe(_deliver, batch, outcomes)
            except RuntimeError:  # the loop is closed: nobody waits for these any more
                return

    def _next_batch(self) -> list[_Pending] | None:
        """The next batch (possibly empty, when every queued request expired), or None once
        closed. Waits for work; with concurrent traffic and a part-full queue, waits up to
        `max_batch_delay` for batch-mates."""
        with self._wake:
            while not self._pending and not self._closed:
                self._idle = True
                self._wake.wait()
            if self._closed:
                return None
            if (
                self.coalesce
                and self._concurrent
                and self._max_delay
                and self._pending_rows < self._max_rows
            ):
                until = time.monotonic() + self._max_delay
                while self._pending_rows < self._max_rows and not self._closed:
                    left = until - time.monotonic()
                    if left <= 0:
                        break
                    self._idle = True
                    self._wake.wait(left)
            self._idle = False
            batch, waits, rows = self._take()
            self.running = bool(batch)
        if batch:
            self._concurrent = len(batch) > 1
            loop = batch[0].future.get_loop()
            try:
                loop.call_soon_threadsafe(self._observe, rows, waits)
            except RuntimeError:
                return None
        return batch

    def _observe(self, rows: int, waits: list[float]) -> None:
        """On the event loop (the metrics are written by one thread only)."""
        self._observe_batch(float(rows))
        for wait in waits:
            self._observe_wait(wait)

    def _take(self) -> tuple[list[_Pending], list[float], int]:
        """Under `_lock`: the queued requests that form the next batch, oldest first."""
        batch: list[_Pending] = []
        keep: list[_Pending] = []
        waits: list[float] = []
        rows = 0
        now = time.perf_counter()
        pending = self._pending
        while pending:
            item = pending.popleft()
            if item.future.done():  # expired or abandoned while queued
                self._pending_rows -= item.rows
                continue
            fits = not batch or (
                self.coalesce and item.key == batch[0].key and rows + item.rows <= self._max_rows
            )
            if fits:
                batch.append(item)
                rows += item.rows
                self._pending_rows -= item.rows
                waits.append(now - item.enqueued)
                if rows >= self._max_rows or not self.coalesce:
                    break
            else:
                keep.append(item)
        if keep:
            pending.extendleft(reversed(keep))
        return batch, waits, rows


def rows_of(inputs: Mapping[str, Array]) -> int:
    """The rows of a request: its first input's first dimension (1 for a scalar)."""
    first = next(iter(inputs.values()))
    return int(first.shape[0]) if first.ndim else 1


def _key(inputs: Tensors) -> tuple[Any, ...]:
    """Requests stack only when every input agrees on name, dtype and trailing shape."""
    rows = rows_of(inputs)
    if any(not array.ndim or array.shape[0] != rows for array in inputs.values()):
        return (object(),)  # inputs disagree on rows: this request runs alone
    return tuple((name, array.dtype, array.shape[1:]) for name, array in inputs.items())


def _expire(future: asyncio.Future[Tensors]) -> None:
    if not future.done():
        future.set_exception(DeadlineExceededError())


def _run_batch(predict: Predict, batch: list[_Pending]) -> list[_Outcome]:
    if len(batch) == 1:
        return [_attempt(predict, batch[0].inputs)]
    total = sum(item.rows for item in batch)
    feeds = {
        name: np.concatenate([item.inputs[name] for item in batch]) for name in batch[0].inputs
    }
    try:
        outputs = predict(feeds)
    except Exception:  # noqa: BLE001 - find the request at fault; the others still succeed
        return [_attempt(predict, item.inputs) for item in batch]
    if any(not array.ndim or array.shape[0] != total for array in outputs.values()):
        # The model mixes rows after all (e.g. a reduction over the batch axis): never split it.
        return [_attempt(predict, item.inputs) for item in batch]
    results: list[_Outcome] = []
    start = 0
    for item in batch:
        stop = start + item.rows
        results.append({name: array[start:stop] for name, array in outputs.items()})
        start = stop
    return results


def _attempt(predict: Predict, inputs: Tensors) -> _Outcome:
    try:
        return predict(inputs)
    except (ModelInputError, InferenceError) as error:
        return error
    except Exception as error:  # noqa: BLE001 - a fault outside ONNX Runtime's own errors
        return InferenceError(f"{type(error).__name__}: {error}")


def _deliver(batch: list[_Pending], outcomes: list[_Outcome]) -> None:
    for item, outcome in zip(batch, outcomes, strict=True):
        if item.future.done():
            continue
        if isinstance(outcome, BaseException):
            item.future.set_exception(outcome)
        else:
            item.future.set_result(outcome)
