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
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
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
        self._pending: list[_Pending] = []
        self._pending_rows = 0
        self._scheduled: asyncio.Handle | None = None
        self._delayed = False
        self._running = False
        self._concurrent = False
        """Whether the last batch held more than one request: evidence that waiting pays."""
        self._executor: ThreadPoolExecutor | None = None
        if offload:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")

    @property
    def queued(self) -> int:
        """Requests waiting for a batch (not counting the one running)."""
        return len(self._pending)

    async def infer(self, inputs: Tensors, deadline: float, *, alone: bool = False) -> Tensors:
        """Outputs for one request's tensors; `deadline` is on the event loop's clock.

        `alone`: no other request is in flight in this server process.
        """
        rows = _rows(inputs)
        loop = asyncio.get_running_loop()
        if rows <= self.max_inline_rows and (
            not self.offload
            or (alone and self._inline_when_alone and not self._running and not self._pending)
        ):
            self._observe_batch(float(rows))
            outputs = self._predict(inputs)
            if loop.time() > deadline:
                raise DeadlineExceededError
            return outputs
        item = _Pending(
            inputs=inputs,
            rows=rows,
            key=_key(inputs) if self.coalesce else (),
            future=loop.create_future(),
            enqueued=time.perf_counter(),
        )
        item.timer = loop.call_at(deadline, _expire, item.future)
        self._pending.append(item)
        self._pending_rows += rows
        self._schedule(loop)
        try:
            return await item.future
        finally:
            item.timer.cancel()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def _schedule(self, loop: asyncio.AbstractEventLoop, *, now: bool = False) -> None:
        """Arrange the next batch; `now` (from a batch's completion) starts it in this call,
        not on the loop's next turn: under load a turn of the loop is long, and the inference
        thread would idle through it."""
        if self._running:
            return  # the running batch's completion schedules the next one
        full = self._pending_rows >= self._max_rows
        if self._scheduled is not None:
            if self._delayed and full:  # enough batch-mates arrived: stop waiting
                self._scheduled.cancel()
                self._scheduled, self._delayed = loop.call_soon(self._flush), False
            return
        if self.coalesce and self._concurrent and self._max_delay and not full:
            self._scheduled, self._delayed = loop.call_later(self._max_delay, self._flush), True
        elif now:
            self._flush()
        else:
            self._scheduled, self._delayed = loop.call_soon(self._flush), False

    def _take(self) -> list[_Pending]:
        batch: list[_Pending] = []
        keep: list[_Pending] = []
        rows = 0
        now = time.perf_counter()
        for item in self._pending:
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
                self._observe_wait(now - item.enqueued)
            else:
                keep.append(item)
        self._pending = keep
        if batch:
            self._concurrent = len(batch) > 1
            self._observe_batch(float(rows))
        return batch

    def _flush(self) -> None:
        self._scheduled = None
        batch = self._take()
        if not batch:
            return
        if self._executor is None:  # a fast model's first request too large for the event loop
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self._running = True
        loop = asyncio.get_running_loop()
        running = loop.run_in_executor(self._executor, _run_batch, self._predict, batch)
        running.add_done_callback(lambda done: self._finished(batch, done))

    def _finished(self, batch: list[_Pending], done: asyncio.Future[list[_Outcome]]) -> None:
        self._running = False
        # The next batch first: the inference thread works while this thread delivers results.
        if self._pending:
            self._schedule(asyncio.get_running_loop(), now=True)
        if done.cancelled():
            _deliver(batch, [DeadlineExceededError("inference was cancelled")] * len(batch))
        elif (error := done.exception()) is not None:
            _deliver(batch, [error] * len(batch))
        else:
            _deliver(batch, done.result())


def _rows(inputs: Tensors) -> int:
    first = next(iter(inputs.values()))
    return int(first.shape[0]) if first.ndim else 1


def _key(inputs: Tensors) -> tuple[Any, ...]:
    """Requests stack only when every input agrees on name, dtype and trailing shape."""
    rows = _rows(inputs)
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
