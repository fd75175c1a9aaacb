"""The server's metrics as CloudWatch Embedded Metric Format documents, sent to the node's agent.

Why EMF and not the CloudWatch agent's Prometheus scraping: the agent drops Prometheus
histograms ("The Prometheus metrics with the unsupported histogram metric type are dropped
by the CloudWatch agent", https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/
ContainerInsights-Prometheus-metrics-conversion.html), and the latency and queue-wait
histograms are what the on-call engineer alarms on. EMF carries the observations themselves,
so CloudWatch computes the percentiles (p50/p99) that alarms read.

Once a minute each worker turns what it counted since the last document into one EMF
document (and one per status, for the request rate by status) and sends each as a UDP
datagram to the CloudWatch agent of the `amazon-cloudwatch-observability` add-on, which
listens on port 25888 when its config has `logs.metrics_collected.emf`
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/
CloudWatch_Embedded_Metric_Format_Generation_CloudWatch_Agent.html). UDP: a missing agent
never slows or fails a request, and nothing on the request path changes (the documents are
built from the counts `/metrics` already keeps).

Histograms become EMF value arrays: each observation is reported as its bucket's upper bound
(so a percentile is never under-reported by more than one bucket). An EMF metric holds at
most 100 values, so a busier minute is scaled down proportionally, keeping every non-empty
bucket; the exact count and sum still go out as `Requests` and the `*Sum` metrics.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from serving.metrics import Metrics

__all__ = [
    "DIMENSIONS",
    "METRICS",
    "NAMESPACE",
    "EmfPublisher",
    "parse_endpoint",
    "run_publisher",
]

_log = logging.getLogger("serving.emf")

NAMESPACE = "MLOps/Serving"
"""The default CloudWatch namespace of the server's metrics."""
DIMENSIONS = ("ClusterName", "Namespace", "Service")
"""The dimension set of every metric (`Protocol`, `Status` added for `Requests` by status)."""
METRICS = {
    "Requests": "Count",
    "ServerErrors": "Count",
    "Overloaded": "Count",
    "RequestLatency": "Seconds",
    "QueueWait": "Seconds",
    "InFlightRequests": "Count",
}
"""Metric name -> CloudWatch unit. `ServerErrors`: HTTP 5xx and gRPC server-side codes;
`Overloaded`: HTTP 503 and gRPC UNAVAILABLE/RESOURCE_EXHAUSTED (admission refusals)."""
_MAX_VALUES = 100
"""An EMF metric's value array holds at most 100 values (EMF specification)."""
_GRPC_SERVER_ERRORS = frozenset(
    {"INTERNAL", "UNAVAILABLE", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED", "UNKNOWN", "DATA_LOSS"}
)
_GRPC_OVERLOADED = frozenset({"UNAVAILABLE", "RESOURCE_EXHAUSTED"})


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """`udp://host:port` -> (host, port); anything else is refused with the value named."""
    parts = urlsplit(endpoint)
    if parts.scheme != "udp" or not parts.hostname or parts.port is None or parts.path:
        raise ValueError(f"the EMF endpoint must be udp://<host>:<port>, got {endpoint!r}")
    return parts.hostname, parts.port


def _values(counts: list[int], bounds: tuple[float, ...]) -> list[float]:
    """Observations as bucket upper bounds, at most `_MAX_VALUES` of them."""
    total = sum(counts)
    if total == 0:
        return []
    # The +Inf bucket reports as the largest finite bound: "at least this much".
    tops = (*bounds, bounds[-1])
    scale = max(1.0, total / _MAX_VALUES)
    values: list[float] = []
    for top, count in zip(tops, counts, strict=True):
        if count:
            values += [top] * max(1, round(count / scale))
    if len(values) > _MAX_VALUES:
        # Rounding up small buckets can overshoot: thin the most common value(s) first.
        while len(values) > _MAX_VALUES:
            common = max(set(values), key=values.count)
            values.remove(common)
    return values


class EmfPublisher:
    """Builds this worker's EMF documents from `Metrics` and sends them."""

    def __init__(
        self,
        metrics: Metrics,
        *,
        endpoint: str,
        dimensions: Mapping[str, str],
        namespace: str = NAMESPACE,
        log_group: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        missing = [name for name in DIMENSIONS if not dimensions.get(name)]
        if missing:
            raise ValueError(f"EMF dimensions {missing} are missing from {dict(dimensions)}")
        self._address = parse_endpoint(endpoint)
        self._metrics = metrics
        self._dimensions = {name: dimensions[name] for name in DIMENSIONS}
        self._namespace = namespace
        self._log_group = log_group
        self._clock = clock
        self._sent_counts: dict[tuple[str, str, str], int] = {}
        self._sent_histograms: dict[str, list[int]] = {}
        self._socket: socket.socket | None = None

    def _delta(self, name: str, counts: list[int]) -> list[int]:
        before = self._sent_histograms.get(name, [0] * len(counts))
        self._sent_histograms[name] = counts
        return [now - then for now, then in zip(counts, before, strict=True)]

    def documents(self) -> list[dict[str, Any]]:
        """What was counted since the last call, as EMF documents (the first: the totals)."""
        metrics = self._metrics
        now_ms = int(self._clock() * 1000)
        by_status: dict[tuple[str, str], int] = {}
        for key, count in metrics.request_counts().items():
            delta = count - self._sent_counts.get(key, 0)
            self._sent_counts[key] = count
            _, protocol, status = key
            by_status[(protocol, status)] = by_status.get((protocol, status), 0) + delta
        requests = sum(by_status.values())
        server_errors = sum(
            n
            for (protocol, status), n in by_status.items()
            if (protocol == "rest" and status.isdigit() and int(status) >= 500)
            or (protocol == "grpc" and status in _GRPC_SERVER_ERRORS)
        )
        overloaded = sum(
            n
            for (protocol, status), n in by_status.items()
            if (protocol == "rest" and status == "503")
            or (protocol == "grpc" and status in _GRPC_OVERLOADED)
        )
        latency_counts = [
            a + b
            for a, b in zip(
                metrics.latency.snapshot()[0], metrics.grpc_latency.snapshot()[0], strict=True
            )
        ]
        latency = _values(self._delta("latency", latency_counts), metrics.latency_bounds)
        wait = _values(
            self._delta("queue_wait", metrics.queue_wait.snapshot()[0]), metrics.wait_bounds
        )
        fields: dict[str, Any] = {
            "Requests": requests,
            "ServerErrors": server_errors,
            "Overloaded": overloaded,
            "InFlightRequests": metrics.inflight_now(),
        }
        if latency:
            fields["RequestLatency"] = latency
        if wait:
            fields["QueueWait"] = wait
        totals = self._document(now_ms, fields, list(DIMENSIONS), {})
        documents = [totals]
        for (protocol, status), count in sorted(by_status.items()):
            if count:
                documents.append(
                    self._document(
                        now_ms,
                        {"Requests": count},
                        [*DIMENSIONS, "Protocol", "Status"],
                        {"Protocol": protocol, "Status": status},
                    )
                )
        return documents

    def _document(
        self,
        now_ms: int,
        fields: Mapping[str, Any],
        dimension_set: list[str],
        extra: Mapping[str, str],
    ) -> dict[str, Any]:
        meta: dict[str, Any] = {"Timestamp": now_ms}
        if self._log_group is not None:
            # The agent's CloudWatch Logs exporter routes a document to `_aws.LogGroupName`
            # (opentelemetry-collector-contrib awscloudwatchlogsexporter, `emfMetadata`).
            meta["LogGroupName"] = self._log_group
        return {
            "_aws": {
                **meta,
                "CloudWatchMetrics": [
                    {
                        "Namespace": self._namespace,
                        "Dimensions": [dimension_set],
                        "Metrics": [{"Name": name, "Unit": METRICS[name]} for name in fields],
                    }
                ],
            },
            **self._dimensions,
            **extra,
            **fields,
        }

    def publish(self) -> int:
        """Send the documents; returns how many went out. A send error is logged, not raised."""
        documents = self.documents()
        if self._socket is None:
            self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sent = 0
        for document in documents:
            payload = json.dumps(document, separators=(",", ":")).encode()
            try:
                self._socket.sendto(payload, self._address)
                sent += 1
            except OSError as exc:
                _log.warning("EMF document not sent to %s:%s: %s", *self._address, exc)
        return sent

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


async def run_publisher(publisher: EmfPublisher, interval: float = 60.0) -> None:
    """Publish every `interval` seconds until cancelled; the last minute goes out on cancel."""
    try:
        while True:
            await asyncio.sleep(interval)
            publisher.publish()
    finally:
        publisher.publish()
        publisher.close()
