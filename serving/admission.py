"""Load shedding: whether an inference request is taken on now, and the answer when it is not.

A request is refused (503 with `Retry-After`) at once, never left to time out, when the worker
already serves `max_inflight` requests, or when the work queued ahead of it (its rows at the pace
of recent batches, `Batcher.backlog_seconds`) would take it past its deadline. The HTTP edge asks
before it starts a handler, so that under overload a refusal costs one write on the connection
and no task; the handler asks again once it knows the request's rows.

Refusals are counted like any other answer, and logged at most once a second with how many there
were since the last line: under overload a line per refusal would be a flood of the same line.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from serving.state import ServerState

__all__ = ["Admission"]

log = logging.getLogger("serving")


class Admission:
    """The admission rules of one worker, over its `ServerState`."""

    def __init__(self, state: ServerState) -> None:
        settings = state.settings
        self._state = state
        self._max_inflight = settings.max_inflight
        self._timeout = settings.request_timeout_ms / 1000
        self._timeout_ms = settings.request_timeout_ms
        self._shed = 0
        self._shed_logged = 0.0
        prefix = f"/v2/models/{settings.model_name}"
        version = f"{prefix}/versions/{settings.model_version}/infer"
        self.paths = frozenset({(prefix + "/infer").encode(), version.encode()})
        """The request targets (no query string) of this worker's inference routes."""

    def refusal(self, arrival: float, now: float) -> str | None:
        """Why a request that arrived at `arrival` (the event loop's clock) must be refused
        now, or None to take it on. Loading and drain are the handler's to answer."""
        state = self._state
        if state.inflight >= self._max_inflight:
            return f"server is at its limit of {self._max_inflight} requests in flight"
        served = state.served
        if served is None or not (served.batcher.running or served.batcher.queued):
            return None  # nothing ahead of it (the common case, checked first)
        return self.late(arrival, now, 1)

    def late(self, arrival: float, now: float, rows: int) -> str | None:
        """Why a request of `rows` rows cannot be answered before its deadline, judged by the
        inference queued ahead of it, or None when it can."""
        served = self._state.served
        if served is None:
            return None
        left = arrival + self._timeout - now
        backlog = served.batcher.backlog_seconds(rows)
        if backlog <= left:
            return None
        return (
            f"the queue holds about {backlog * 1000:.0f} ms of inference; the request's "
            f"deadline of {self._timeout_ms} ms leaves {max(left, 0) * 1000:.0f} ms"
        )

    def shed(self, message: str, path: str) -> None:
        """Count and log a 503 that the edge answered without a handler."""
        self._state.metrics.count(503)
        self.log_shed(message, {"path": path, "status": 503})

    def log_shed(self, message: str, fields: dict[str, Any]) -> None:
        """Log a 503 (overload, drain or loading): at most a line a second, with the count of
        refusals since the last one; `fields` are the request's log fields."""
        self._shed += 1
        now = time.monotonic()
        if now < self._shed_logged + 1:
            return
        fields["shed_since_last_line"] = self._shed
        fields["error"] = message
        self._shed, self._shed_logged = 0, now
        log.warning("infer refused (503)", extra=fields)
