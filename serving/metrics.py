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
            self.latency = latency.labels(model, "rest")
            self.grpc_latency = latency.labels(model, "grpc")
            self.batch_size, self.queue_wait = (
                Histogram(name, _DOCS[name], ["model"], buckets=buckets, registry=registry).labels(
                    model
                )
                for name, buckets in (
                    ("serving_batch_size", _BATCH_BUCKETS),
                    ("serving_queue_wait_seconds", _WAIT_BUCKETS),
                )
            )
            self.disconnects = Counter(
                "serving_client_disconnects",
                _DOCS["serving_client_disconnects"],
                ["model"],
                registry=registry,
            ).labels(model)
        else:
            self.latency = _LocalHistogram(_LATENCY_BUCKETS)
            self.grpc_latency = _LocalHistogram(_LATENCY_BUCKETS)
            self.batch_size = _LocalHistogram(_BATCH_BUCKETS)
            self.queue_wait = _LocalHistogram(_WAIT_BUCKETS)
            self.disconnects = _LocalCount()
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
        self._by_status: dict[int, Any] = {}
        self.counts_inflight = self.multiprocess
        """Whether requests must inc/dec the in-flight gauge; otherwise a scrape reads it."""

    def read_inflight(self, read: Callable[[], float]) -> None:
        """Let a scrape read the in-flight count, where the process is the only worker."""
        if not self.multiprocess:
            self.inflight.set_function(read)

    def count(self, status: int, model: str | None = None) -> None:
        """Count one finished REST inference request by its HTTP status."""
        if not self.multiprocess:
            key = (self._model if model is None else model, "rest", str(status))
            self._counts[key] = self._counts.get(key, 0) + 1
            return
        if model is not None:
            self.requests.labels(model, "rest", str(status)).inc()
            return
        child = self._by_status.get(status)
        if child is None:
            child = self._by_status[status] = self.requests.labels(self._model, "rest", str(status))
        child.inc()

    def count_grpc(self, code: str, model: str) -> None:
        """Count one finished gRPC inference call by its status code's name (`OK`, ...)."""
        if not self.multiprocess:
            key = (model, "grpc", code)
            self._counts[key] = self._counts.get(key, 0) + 1
            return
        self.requests.labels(model, "grpc", code).inc()

    def exposition(self) -> bytes:
        if not self.multiprocess:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
