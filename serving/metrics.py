"""The server's Prometheus metrics; with several workers, summed over processes on a scrape."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess

__all__ = ["Metrics"]


class Metrics:
    """The Prometheus metrics; with workers, summed over processes by prometheus_client."""

    def __init__(self, model: str) -> None:
        self.multiprocess = "PROMETHEUS_MULTIPROC_DIR" in os.environ
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "serving_requests",
            "Inference requests by model, protocol (rest, grpc) and status (the HTTP status; "
            "the gRPC status code's name).",
            ["model", "protocol", "status"],
            registry=registry,
        )
        latency = Histogram(
            "serving_request_duration_seconds",
            "Inference request latency, body read to response, in seconds, by protocol.",
            ["model", "protocol"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )
        self.latency = latency.labels(model, "rest")
        self.grpc_latency = latency.labels(model, "grpc")
        self.batch_size = Histogram(
            "serving_batch_size",
            "Rows per inference run.",
            ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=registry,
        ).labels(model)
        self.queue_wait = Histogram(
            "serving_queue_wait_seconds",
            "Time a request waited in the batching queue, in seconds.",
            ["model"],
            buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1),
            registry=registry,
        ).labels(model)
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
        if model is not None:
            self.requests.labels(model, "rest", str(status)).inc()
            return
        child = self._by_status.get(status)
        if child is None:
            child = self._by_status[status] = self.requests.labels(self._model, "rest", str(status))
        child.inc()

    def count_grpc(self, code: str, model: str) -> None:
        """Count one finished gRPC inference call by its status code's name (`OK`, ...)."""
        self.requests.labels(model, "grpc", code).inc()

    def exposition(self) -> bytes:
        if not self.multiprocess:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
