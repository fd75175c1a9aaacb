"""Batching: results equal unbatched inference, a bad request fails alone, limits hold."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving.batching import (
    INLINE_LIMIT_SECONDS,
    Batcher,
    DeadlineExceededError,
    choose_offload,
    inline_rows,
)
from serving.runtime import InferenceError, ModelInputError, OnnxModel
from tests.serving.conftest import IRIS

IRIS_MODEL = OnnxModel.load(IRIS / "model.onnx")

finite = st.floats(-20, 20, allow_nan=False, width=32)
request_rows = st.lists(st.lists(finite, min_size=4, max_size=4), min_size=1, max_size=5)


async def run_concurrently(batcher: Batcher, requests: list[np.ndarray]) -> list[Any]:
    deadline = asyncio.get_running_loop().time() + 10
    tasks = [batcher.infer({"input": rows}, deadline) for rows in requests]
    return await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.parametrize("offload", [False, True], ids=["event-loop", "inference-thread"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests=st.lists(request_rows, min_size=1, max_size=12), max_batch=st.integers(1, 16))
def test_batched_results_equal_unbatched(
    offload: bool, requests: list[list[list[float]]], max_batch: int
) -> None:
    arrays = [np.asarray(rows, dtype=np.float32) for rows in requests]
    sizes: list[float] = []
    batcher = Batcher(
        IRIS_MODEL.predict,
        coalesce=True,
        offload=offload,
        max_batch_size=max_batch,
        max_batch_delay=0.001,
        observe_batch=sizes.append,
    )
    try:
        results = asyncio.run(run_concurrently(batcher, arrays))
    finally:
        batcher.close()
    for array, result in zip(arrays, results, strict=True):
        alone = IRIS_MODEL.predict({"input": array})
        np.testing.assert_array_equal(result["label"], alone["label"])
        # Labels are exact. Probabilities may differ in the last float32 bits: ONNX Runtime's GEMM
        # picks other kernels for other row counts (the same happens without our batching).
        np.testing.assert_allclose(
            result["probabilities"], alone["probabilities"], rtol=1e-5, atol=1e-7
        )
        assert result["probabilities"].shape == (len(array), 3)
    assert sum(sizes) == sum(len(array) for array in arrays)
    # A request larger than the limit runs alone; otherwise no batch exceeds the limit.
    assert all(size <= max(max_batch, max(len(a) for a in arrays)) for size in sizes)
    if offload and len(arrays) > 1 and len(arrays[0]) + len(arrays[1]) <= max_batch:
        # Concurrent requests queue while the first batch forms: it takes at least two of them,
        # so the equality above was checked on stacked rows, not on requests run one by one.
        assert sizes[0] >= len(arrays[0]) + len(arrays[1])


def test_concurrent_requests_are_coalesced_into_one_inference() -> None:
    calls: list[int] = []

    def predict(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        calls.append(len(feeds["x"]))
        return {"y": feeds["x"] * 2}

    batcher = Batcher(predict, coalesce=True, offload=True, max_batch_size=8, max_batch_delay=0)
    requests = [np.full((1, 2), i, dtype=np.float32) for i in range(5)]
    results = asyncio.run(run_concurrently_x(batcher, requests))
    batcher.close()
    assert calls == [5]
    for request, result in zip(requests, results, strict=True):
        np.testing.assert_array_equal(result["y"], request * 2)


def test_a_fast_model_runs_each_request_at_once_without_queueing() -> None:
    calls: list[int] = []
    seen_queue: list[int] = []

    def predict(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        calls.append(len(feeds["x"]))
        seen_queue.append(batcher.queued)
        return {"y": feeds["x"]}

    batcher = Batcher(predict, coalesce=True, offload=False, max_batch_size=8, max_batch_delay=1)
    requests = [np.ones((1, 2), dtype=np.float32) for _ in range(4)]
    results = asyncio.run(run_concurrently_x(batcher, requests))
    assert calls == [1, 1, 1, 1] and seen_queue == [0, 0, 0, 0]
    assert all(isinstance(result, dict) for result in results)


def test_with_batching_off_each_request_runs_alone() -> None:
    calls: list[int] = []

    def predict(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        calls.append(len(feeds["x"]))
        return {"y": feeds["x"]}

    for offload in (False, True):
        calls.clear()
        batcher = Batcher(
            predict, coalesce=False, offload=offload, max_batch_size=8, max_batch_delay=0
        )
        requests = [np.ones((1, 2), dtype=np.float32) for _ in range(4)]

        asyncio.run(run_concurrently_x(batcher, requests))
        batcher.close()
        assert calls == [1, 1, 1, 1]


@pytest.mark.parametrize("offload", [False, True], ids=["event-loop", "inference-thread"])
def test_one_bad_request_fails_alone_and_never_its_batch_mates(offload: bool) -> None:
    def predict(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if (feeds["x"] < 0).any():
            raise ModelInputError("negative values are not allowed")
        return {"y": feeds["x"] + 1}

    batcher = Batcher(predict, coalesce=True, offload=offload, max_batch_size=16, max_batch_delay=0)
    requests = [np.full((2, 2), value, dtype=np.float32) for value in (1, 2, -1, 3)]
    results = asyncio.run(run_concurrently_x(batcher, requests))
    batcher.close()
    assert isinstance(results[2], ModelInputError)
    for index in (0, 1, 3):
        np.testing.assert_array_equal(results[index]["y"], requests[index] + 1)


def test_an_unexpected_error_fails_only_its_own_request() -> None:
    def predict(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if (feeds["x"] == 13).any():
            raise RuntimeError("unlucky")
        return {"y": feeds["x"] + 1}

    batcher = Batcher(predict, coalesce=True, offload=True, max_batch_size=16, max_batch_delay=0)
    requests = [np.full((1, 2), value, dtype=np.float32) for value in (1, 13, 2, 3)]
    results = asyncio.run(run_concurrently_x(batcher, requests))
    batcher.close()
    assert isinstance(results[1], InferenceError)
    assert str(results[1]) == "RuntimeError: unlucky"
    for index in (0, 2, 3):
        np.testing.assert_array_equal(results[index]["y"], requests[index] + 1)


async def run_concurrently_x(batcher: Batcher, requests: list[np.ndarray]) -> list[Any]:
    deadline = asyncio.get_running_loop().time() + 10
    return await asyncio.gather(
        *(batcher.infer({"x": r}, deadline) for r in requests), return_exceptions=True
    )


def test_requests_with_other_trailing_shapes_are_not_stacked() -> None:
    calls: list[tuple[int, ...]] = []

    def predict(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        calls.append(feeds["x"].shape)
        return {"y": feeds["x"].sum(axis=1)}

    batcher = Batcher(predict, coalesce=True, offload=True, max_batch_size=16, max_batch_delay=0)
    requests = [
        np.ones((1, 2), np.float32),
        np.ones((1, 3), np.float32),
        np.ones((2, 2), np.float32),
    ]
    results = asyncio.run(run_concurrently_x(batcher, requests))
    batcher.close()
    assert sorted(calls) == [(1, 3), (3, 2)]
    assert [r["y"].tolist() for r in results] == [[2.0], [3.0], [2.0, 2.0]]


def test_a_request_waiting_past_its_deadline_fails_with_deadline_exceeded() -> None:
    def predict(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        time.sleep(0.2)
        return {"y": feeds["x"]}

    batcher = Batcher(predict, coalesce=False, offload=True, max_batch_size=4, max_batch_delay=0)

    async def main() -> Sequence[object]:
        now = asyncio.get_running_loop().time()
        first = batcher.infer({"x": np.ones((1, 1))}, now + 5)
        second = batcher.infer({"x": np.ones((1, 1))}, now + 0.05)
        return await asyncio.gather(first, second, return_exceptions=True)

    results = asyncio.run(main())
    batcher.close()
    assert isinstance(results[0], dict)
    assert isinstance(results[1], DeadlineExceededError)


@pytest.mark.parametrize(
    ("one_row", "per_row_in_batch", "offload"),
    [
        (0.000007, 0.000002, False),  # tiny model: HTTP dominates, a queue would only cost
        (0.00002, 0.000012, False),  # small tree ensemble: still cheaper on the event loop
        (0.00023, 0.00005, True),  # wide MLP: rows are 4x cheaper in a batch
        (0.00023, 0.0002, False),  # as slow, but batching barely helps
        (0.00023, None, False),  # batching off or a fixed batch axis
        (0.002, None, True),  # too slow for the event loop, batching or not
    ],
)
def test_inference_leaves_the_event_loop_when_it_is_slow_or_batching_pays(
    one_row: float, per_row_in_batch: float | None, offload: bool
) -> None:
    assert choose_offload(one_row, per_row_in_batch) is offload


def test_warm_up_times_a_batch_of_the_requested_rows() -> None:
    assert IRIS_MODEL.warm_up(rows=8) > 0


def test_a_lone_request_on_a_fast_batching_model_skips_the_queue_and_thread() -> None:
    import threading

    threads: list[str] = []

    def predict(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        threads.append(threading.current_thread().name)
        return {"out": np.asarray(inputs["input"]) * 2}

    def batcher(inline_when_alone: bool) -> Batcher:
        return Batcher(
            predict,
            coalesce=True,
            offload=True,
            max_batch_size=8,
            max_batch_delay=0,
            inline_when_alone=inline_when_alone,
        )

    async def one(b: Batcher, *, alone: bool) -> None:
        deadline = asyncio.get_running_loop().time() + 5
        result = await b.infer({"input": np.ones((1, 4), np.float32)}, deadline, alone=alone)
        assert result["out"].tolist() == [[2.0] * 4]

    for inline, alone, expected in [
        (True, True, "MainThread"),  # alone and allowed: on the event loop
        (True, False, "inference"),  # others in flight: queue, so they can batch
        (False, True, "inference"),  # a slow model never runs on the loop
    ]:
        threads.clear()
        b = batcher(inline)
        try:
            asyncio.run(one(b, alone=alone))
        finally:
            b.close()
        assert threads and threads[0].startswith(expected), (inline, alone, threads)


def test_a_request_too_large_for_the_event_loop_runs_on_the_inference_thread() -> None:
    threads: dict[int, str] = {}

    def predict(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        threads[len(feeds["x"])] = threading.current_thread().name
        return {"y": feeds["x"] * 2}

    batcher = Batcher(
        predict,
        coalesce=True,
        offload=False,
        max_batch_size=8,
        max_batch_delay=0,
        max_inline_rows=4,
    )
    requests = [np.ones((4, 2), dtype=np.float32), np.ones((5, 2), dtype=np.float32)]
    try:
        results = asyncio.run(run_concurrently_x(batcher, requests))
    finally:
        batcher.close()
    assert [result["y"].shape for result in results] == [(4, 2), (5, 2)]
    assert threads[4] == threading.main_thread().name
    assert threads[5].startswith("inference")


def test_an_inline_inference_that_ends_past_the_deadline_is_a_deadline_error() -> None:
    def predict(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        time.sleep(0.05)
        return {"y": feeds["x"]}

    batcher = Batcher(predict, coalesce=False, offload=False, max_batch_size=8, max_batch_delay=0)

    async def late() -> None:
        deadline = asyncio.get_running_loop().time() + 0.01
        await batcher.infer({"x": np.ones((1, 2), dtype=np.float32)}, deadline)

    with pytest.raises(DeadlineExceededError):
        asyncio.run(late())


def test_inline_rows_follows_the_warm_up_seconds_per_row() -> None:
    assert inline_rows(INLINE_LIMIT_SECONDS / 10) == 10
    assert inline_rows(INLINE_LIMIT_SECONDS * 2) == 0
    assert inline_rows(0.0) > 10**9


def test_the_inference_thread_takes_each_next_batch_while_the_event_loop_is_busy() -> None:
    """Under overload a turn of the event loop is long; the inference thread must not wait for
    the loop between batches. Here the loop is blocked for a second after queueing three
    requests (one batch each, batching off): all three run during that second."""
    calls: list[int] = []

    def predict(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        time.sleep(0.02)
        calls.append(len(feeds["x"]))
        return {"y": feeds["x"]}

    batcher = Batcher(predict, coalesce=False, offload=True, max_batch_size=8, max_batch_delay=0)

    async def main() -> int:
        deadline = asyncio.get_running_loop().time() + 30
        tasks = [
            asyncio.ensure_future(batcher.infer({"x": np.ones((1, 2), np.float32)}, deadline))
            for _ in range(3)
        ]
        await asyncio.sleep(0)  # each task queues its request
        await asyncio.sleep(0)  # the inference thread is woken at the end of a turn
        time.sleep(1.0)  # the loop is busy: nothing runs on it
        ran_while_busy = len(calls)
        await asyncio.gather(*tasks)
        return ran_while_busy

    try:
        assert asyncio.run(main()) == 3
    finally:
        batcher.close()


def test_the_backlog_estimate_counts_the_running_batch_and_the_queue() -> None:
    gate = threading.Event()
    started = threading.Event()

    def predict(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        started.set()
        gate.wait(10)
        return {"y": feeds["x"]}

    def batcher(coalesce: bool) -> Batcher:
        return Batcher(
            predict,
            coalesce=coalesce,
            offload=True,
            max_batch_size=8,
            max_batch_delay=0,
            warm_up=(0.1, 4),  # 0.1 s for a batch of 4 rows
        )

    async def backlog(b: Batcher) -> tuple[float, float]:
        assert b.backlog_seconds() == 0  # nothing runs or waits: always taken on
        deadline = asyncio.get_running_loop().time() + 30

        def request() -> asyncio.Future[Any]:
            return asyncio.ensure_future(b.infer({"x": np.ones((2, 2), np.float32)}, deadline))

        tasks = [request()]
        while not started.wait(0.001):  # the first request runs...
            await asyncio.sleep(0.001)
        tasks += [request() for _ in range(4)]  # ...and four wait
        while b.queued != 4:
            await asyncio.sleep(0.001)
        estimate = b.backlog_seconds(rows=2), b.backlog_seconds(rows=30)
        gate.set()
        await asyncio.gather(*tasks)
        return estimate

    for coalesce, expected in [
        # running batch 0.1 s, then 8 queued rows + 2 (or 30) at 0.025 s a row
        (True, (0.1 + 10 * 0.025, 0.1 + 38 * 0.025)),
        # running batch 0.1 s, then each of the four requests and this one a batch of 0.1 s
        (False, (0.1 + 5 * 0.1, 0.1 + 5 * 0.1)),
    ]:
        gate.clear()
        started.clear()
        b = batcher(coalesce)
        try:
            assert asyncio.run(backlog(b)) == pytest.approx(expected)
        finally:
            b.close()
