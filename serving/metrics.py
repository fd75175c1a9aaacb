"""The server's Prometheus metrics; with several workers, summed over processes on a scrape.

With one worker the per-request metrics are plain Python numbers that only the event loop
thread writes, read by a collector at scrape time: prometheus_client's own take a lock and
walk the buckets in Python on every observation, which showed in the request path's profile.
With several workers prometheus_client's multiprocess files are the way to sum them.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_WAIT_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1)
_DOCS = {
    "serving_requests": "Inference requests by model, protocol (rest, grpc) and status (the HTTP"
    " status; the gRPC status code's name).",
    "serving_request_duration_seconds": "Inference request latency, body read to response, in"
    " seconds, by protocol.",
    "serving_batch_size": "Rows per inference run.",
    "serving_queue_wait_seconds": "Time a request waited in the batching queue, in seconds.",
    "serving_client_disconnects": "Inference requests whose client left before sending the"
    " whole body (not answered, not counted in serving_requests_total).",
}


class _LocalHistogram:
    """A histogram for one thread's writes: a bisect and two additions per observation."""

    __slots__ = ("_bounds", "_counts", "_sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self._bounds = tuple(float(bound) for bound in bounds)
        self._counts = [0] * (len(self._bounds) + 1)
        self._sum = 0.0

    def observe(self, amount: float) -> None:
        self._counts[bisect.bisect_left(self._bounds, amount)] += 1
        self._sum += amount

    def snapshot(self) -> tuple[list[int], float]:
        return list(self._counts), self._sum

    def family(self, name: str, model: str) -> HistogramMetricFamily:
        family = HistogramMetricFamily(name, _DOCS[name], labels=["model"])
        self.add_to(family, [model])
        return family

    def add_to(self, family: HistogramMetricFamily, labels: list[str]) -> None:
        cumulative, buckets = 0, []
        for bound, count in zip((*self._bounds, float("inf")), self._counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        family.add_metric(labels, buckets, self._sum)


class _LocalCount:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def inc(self) -> None:
        self.value += 1


class _LocalCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        metrics = self._metrics
        model = metrics._model
        requests = CounterMetricFamily(
            "serving_requests", _DOCS["serving_requests"], labels=["model", "protocol", "status"]
        )
        for (name, protocol, status), count in sorted(metrics._counts.items()):
            requests.add_metric([name, protocol, status], count)
        yield requests
        latency = HistogramMetricFamily(
            "serving_request_duration_seconds",
            _DOCS["serving_request_duration_seconds"],
            labels=["model", "protocol"],
        )
        for protocol, histogram in (("rest", metrics.latency), ("grpc", metrics.grpc_latency)):
            assert isinstance(histogram, _LocalHistogram)
            histogram.add_to(latency, [model, protocol])
        yield latency
        for name, histogram in (
            ("serving_batch_size", metrics.batch_size),
            ("serving_queue_wait_seconds", metrics.queue_wait),
        ):
            assert isinstance(histogram, _LocalHistogram)
            yield histogram.family(name, model)
        disconnects = CounterMetricFamily(
            "serving_client_disconnects", _DOCS["serving_client_disconnects"], labels=["model"]
        )
        assert isinstance(metrics.disconnects, _LocalCount)
        disconnects.add_metric([model], metrics.disconnects.value)
        yield disconnects


_GRPC_LATENCY = "serving_request_duration_seconds{protocol=grpc}"
"""The key of the gRPC child of the latency histogram among the shared metrics."""


class Metrics:
    """The Prometheus metrics; with workers, summed over processes by prometheus_client."""

    def __init__(self, model: str) -> None:
        self.multiprocess = "PROMETHEUS_MULTIPROC_DIR" in os.environ
        self.registry = CollectorRegistry()
        registry = self.registry
        self._counts: dict[tuple[str, str, str], int] = {}
        self.latency: Any
        self.grpc_latency: Any
        self.batch_size: Any
        self.queue_wait: Any
        self.disconnects: Any
        # Requests always count into local numbers (no lock, one thread writes them). With one
        # worker a collector reads them at scrape time; with several, `flush` adds what changed
        # to prometheus_client's shared files, once a second and before this worker's scrapes.
        self.latency = _LocalHistogram(_LATENCY_BUCKETS)
        self.grpc_latency = _LocalHistogram(_LATENCY_BUCKETS)
        self.batch_size = _LocalHistogram(_BATCH_BUCKETS)
        self.queue_wait = _LocalHistogram(_WAIT_BUCKETS)
        self.disconnects = _LocalCount()
        self._shared: dict[str, Any] = {}
        self._flushed_counts: dict[tuple[str, str, str], int] = {}
        self._flushed: dict[str, tuple[list[int], float]] = {}
        self._flushed_disconnects = 0
        if self.multiprocess:
            self.requests = Counter(
                "serving_requests",
                _DOCS["serving_requests"],
                ["model", "protocol", "status"],
                registry=registry,
            )
            latency = Histogram(
                "serving_request_duration_seconds",
                _DOCS["serving_request_duration_seconds"],
                ["model", "protocol"],
                buckets=_LATENCY_BUCKETS,
                registry=registry,
            )
            self._shared["serving_request_duration_seconds"] = latency.labels(model, "rest")
            self._shared[_GRPC_LATENCY] = latency.labels(model, "grpc")
            for name, buckets in (
                ("serving_batch_size", _BATCH_BUCKETS),
                ("serving_queue_wait_seconds", _WAIT_BUCKETS),
            ):
                self._shared[name] = Histogram(
                    name, _DOCS[name], ["model"], buckets=buckets, registry=registry
                ).labels(model)
            self._shared["serving_client_disconnects"] = Counter(
                "serving_client_disconnects",
                _DOCS["serving_client_disconnects"],
                ["model"],
                registry=registry,
            ).labels(model)
        else:
            registry.register(_LocalCollector(self))
        self.inflight = Gauge(
            "serving_inflight_requests",
            "Inference requests being served now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.load_seconds = Gauge(
            "serving_model_load_seconds",
            "Seconds to fetch, load and warm up the model.",
            ["model"],
            registry=registry,
            multiprocess_mode="max",
        ).labels(model)
        self._model = model
        self.counts_inflight = False
        """Whether requests must inc/dec the in-flight gauge (never: a scrape or `flush` reads
        the count)."""
        self._read_inflight: Callable[[], float] = lambda: 0.0

    def read_inflight(self, read: Callable[[], float]) -> None:
        """Where the in-flight count is read: at scrape time, or at each `flush` (workers)."""
        self._read_inflight = read
        if not self.multiprocess:
            self.inflight.set_function(read)

    latency_bounds = tuple(float(bound) for bound in _LATENCY_BUCKETS)
    """Upper bounds of the latency histogram's finite buckets (`serving.emf` reads them)."""
    wait_bounds = tuple(float(bound) for bound in _WAIT_BUCKETS)
    """Upper bounds of the queue-wait histogram's finite buckets."""

    def request_counts(self) -> dict[tuple[str, str, str], int]:
        """Finished requests so far in this process, by (model, protocol, status)."""
        return dict(self._counts)

    def inflight_now(self) -> float:
        """Requests being served now (this process)."""
        return self._read_inflight()

    def count(self, status: int, model: str | None = None) -> None:
        """Count one finished REST inference request by its HTTP status."""
        key = (self._model if model is None else model, "rest", str(status))
        self._counts[key] = self._counts.get(key, 0) + 1

    def flush(self) -> None:
        """With workers: add what was counted since the last flush to the shared files."""
        if not self.multiprocess:
            return
        for key, count in list(self._counts.items()):
            delta = count - self._flushed_counts.get(key, 0)
            if delta:
                self.requests.labels(*key).inc(delta)
                self._flushed_counts[key] = count
        for name, local in (
            ("serving_request_duration_seconds", self.latency),
            (_GRPC_LATENCY, self.grpc_latency),
            ("serving_batch_size", self.batch_size),
            ("serving_queue_wait_seconds", self.queue_wait),
        ):
            counts, total = local.snapshot()
            before, before_total = self._flushed.get(name, ([0] * len(counts), 0.0))
            if counts == before:
                continue
            shared = self._shared[name]
            # prometheus_client has no public "add n observations": its child's own values.
            for index, (now, then) in enumerate(zip(counts, before, strict=True)):
                if now != then:
                    shared._buckets[index].inc(now - then)
            shared._sum.inc(total - before_total)
            self._flushed[name] = (counts, total)
        delta = self.disconnects.value - self._flushed_disconnects
        if delta:
            self._shared["serving_client_disconnects"].inc(delta)
            self._flushed_disconnects = self.disconnects.value
        self.inflight.set(self._read_inflight())

    def count_grpc(self, code: str, model: str) -> None:
        """Count one finished gRPC inference call by its status code's name (`OK`, ...)."""
        key = (model, "grpc", code)
        self._counts[key] = self._counts.get(key, 0) + 1

    def exposition(self) -> bytes:
        if not self.multiprocess:
            return generate_latest(self.registry)
        self.flush()
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
