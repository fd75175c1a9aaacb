"""The HTTP/1.1 edge: uvicorn's httptools protocol with the limits a pod facing real traffic needs.

uvicorn parses and writes HTTP; this subclass adds what it lacks, per connection:

- a header deadline: a connection that takes longer than `header_timeout` to send a request's
  headers (a fresh, silent one too) is closed, with 408 if it had started a request;
- header limits: request line and headers over `max_header_bytes` or `max_headers` lines get 431;
  more than one Host header (or none, in HTTP/1.1) gets 400 (RFC 9112 section 3.2);
- a write deadline: a response the client leaves unread past `write_timeout` (the transport's
  buffer above its high-water mark all that time) drops the connection and frees its buffers;
  a client pipelining more than `MAX_PIPELINED` requests without reading the answers is dropped;
- errors in our contract: malformed HTTP gets a JSON `{"error"}` 400, not uvicorn's plain text;
- the arrival time of each request in its scope (`ARRIVAL`), so that the request's deadline
  counts the time it waited before its handler ran;
- load shedding before any handler: an inference request that the server would refuse (see
  `serving.admission`) is answered 503 with `Retry-After` from here, in one write, without an
  ASGI task; under overload, refusals then cost the event loop little of the time the requests
  it serves need (its body is read and dropped; one that has not all arrived closes the
  connection);
- drain: once the server drains, every response carries `Connection: close`, and connections stay
  open until their client is answered, so a request already on the wire is never reset.

It relies on uvicorn's `HttpToolsProtocol` internals (`cycle`, `pipeline`, `flow`), which are
pinned by the lock file; `tests/serving/test_edge.py` drives each of these over real sockets.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from serving.protocol import encode_error

__all__ = [
    "ARRIVAL",
    "BODY_LATE",
    "BODY_REFUSED",
    "MAX_PIPELINED",
    "EdgeLimits",
    "EdgeProtocol",
    "edge_protocol",
]

log = logging.getLogger("serving")

ARRIVAL = "serving.arrival"
"""Scope key: the event loop's time when the request's first byte was parsed."""

BODY_LATE = "serving.body_late"
"""Scope key, set True when the request's body was still arriving at its deadline."""
BODY_REFUSED = "serving.body_refused"
"""Scope key, set True when the body arrives in pieces while `max_slow_bodies` others do."""

MAX_PIPELINED = 32
"""Requests one connection may queue behind a response it has not read."""

SHED_PAUSE_SECONDS = 1.0
"""How long a connection is not read after a 503 for overload: its `Retry-After`."""


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    header_timeout: float = 10.0
    max_header_bytes: int = 16 * 1024
    max_headers: int = 100
    write_timeout: float = 10.0
    body_timeout: float = 5.0
    """Seconds from a request's first byte to its last (the request deadline)."""
    max_slow_bodies: int = 64
    """Requests per worker whose body did not come with their headers and is still arriving."""


class _SlowBodies:
    """How many requests of one server are waiting for the rest of their body."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


class _Answered:
    """Stands for "no response in progress" on a connection whose first request is refused
    before a handler: uvicorn's body callbacks ignore a request whose cycle is complete."""

    response_complete = True
    keep_alive = True


_ANSWERED: Any = _Answered()


class _RefusedError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class EdgeProtocol(HttpToolsProtocol):
    """One client connection; see the module's docstring. Subclassed per server by
    `edge_protocol`, which binds the limits and the drain flag."""

    limits: ClassVar[EdgeLimits] = EdgeLimits()
    draining: ClassVar[Any] = None
    """A callable returning whether the server drains (set by `edge_protocol`)."""
    slow_bodies: ClassVar[_SlowBodies] = _SlowBodies()
    admission: ClassVar[Any] = None
    """The server's `serving.admission.Admission`, or None to leave every refusal to handlers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._header_count = 0
        self._hosts = 0
        self._started = False
        self._body_pending = False
        self._body_timer: asyncio.TimerHandle | None = None
        self._slow_counted = False
        self._close_after_response = False
        self._shedding: str | None = None
        """The refusal of the request being read, answered once its body is in."""
        self._shed_timer: asyncio.TimerHandle | None = None

    # -- connection ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        self._body_done()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        if self._shed_timer is not None:
            self._shed_timer.cancel()
            self._shed_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except _RefusedError as refused:
            self._refuse(refused.status, refused.message)
        except httptools.HttpParserUpgrade:
            self._refuse(400, "protocol upgrades are not supported")
        except httptools.HttpParserError as error:
            cause = error.__context__
            if isinstance(cause, _RefusedError):
                self._refuse(cause.status, cause.message)
            else:
                detail = str(error) or type(error).__name__
                self._refuse(400, f"malformed HTTP request: {detail}")
            return
        # Most requests come whole in one read: only one still incomplete after it gets a timer.
        if self._started and self._header_timer is None:
            scope: dict[str, Any] = self.scope  # type: ignore[assignment]
            started = float(scope.get(ARRIVAL, self.loop.time()))
            self._header_timer = self.loop.call_at(
                started + self.limits.header_timeout, self._header_late
            )
        elif self._body_pending and self._body_timer is None:
            self._body_slow()
        elif self._shedding is not None:  # a refused request's body is still arriving
            message, self._shedding = self._shedding, None
            self._answer_shed(message, keep_alive=False)

    def drain(self) -> None:
        """The server drains: the response being produced closes its connection after it."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False

    # -- parser callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope[ARRIVAL] = self.loop.time()  # type: ignore[literal-required]
        self._header_bytes = 0
        self._header_count = 0
        self._hosts = 0
        self._started = True

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._header_bytes += len(url)
        if self._header_bytes > self.limits.max_header_bytes:
            raise _RefusedError(
                431, f"request line and headers exceed {self.limits.max_header_bytes} bytes"
            )

    def on_header(self, name: bytes, value: bytes) -> None:
        limits = self.limits
        self._header_bytes += len(name) + len(value) + 4
        self._header_count += 1
        if self._header_bytes > limits.max_header_bytes:
            raise _RefusedError(
                431, f"request line and headers exceed {limits.max_header_bytes} bytes"
            )
        if self._header_count > limits.max_headers:
            raise _RefusedError(431, f"more than {limits.max_headers} header lines")
        if len(name) == 4 and name.lower() == b"host":
            self._hosts += 1
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        self._started = False
        if self._hosts > 1:
            raise _RefusedError(400, "more than one Host header")
        if self._hosts == 0 and self.parser.get_http_version() == "1.1":
            raise _RefusedError(400, "no Host header (HTTP/1.1 requires one)")
        if len(self.pipeline) >= MAX_PIPELINED:
            raise _RefusedError(429, f"more than {MAX_PIPELINED} pipelined requests unanswered")
        admission = self.admission
        if admission is not None and self.url in admission.paths:
            cycle = self.cycle
            idle = cycle is None or cycle.response_complete
            draining = self.draining
            if (
                idle
                and not self.flow.write_paused
                and self.parser.get_method() == b"POST"
                and not (draining is not None and draining())
            ):
                scope: dict[str, Any] = self.scope  # type: ignore[assignment]
                message = admission.refusal(scope[ARRIVAL], self.loop.time())
                if message is not None:
                    self._shedding = message
                    if cycle is None:  # uvicorn's body callbacks then drop the body
                        self.cycle = _ANSWERED
                    return
        super().on_headers_complete()
        self._body_pending = True
        draining = self.draining
        if draining is not None and draining():
            self.cycle.keep_alive = False

    def on_response_complete(self) -> None:
        if self._close_after_response:
            self.server_state.total_requests += 1
            self.transport.close()
            return
        super().on_response_complete()

    def on_message_complete(self) -> None:
        if self._shedding is not None:
            message, self._shedding = self._shedding, None
            self._answer_shed(message, keep_alive=self.parser.should_keep_alive())
            return
        super().on_message_complete()
        self._body_done()

    # -- flow control --------------------------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(self.limits.write_timeout, self._write_stalled)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    # -- internals -----------------------------------------------------------------------

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.limits.header_timeout, self._header_late)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _body_slow(self) -> None:
        """The request's body did not all come with its headers: count it among the slow
        bodies, or refuse it when there are too many, and bound it by its deadline."""
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            return
        slow = self.slow_bodies
        if slow.count >= self.limits.max_slow_bodies:
            self.scope[BODY_REFUSED] = True  # type: ignore[literal-required]
            self._body_pending = False
            cycle.keep_alive = False
            cycle.message_event.set()
            return
        slow.count += 1
        self._slow_counted = True
        scope: dict[str, Any] = self.scope  # type: ignore[assignment]
        arrival = float(scope.get(ARRIVAL, self.loop.time()))
        self._body_timer = self.loop.call_at(arrival + self.limits.body_timeout, self._body_late)

    def _body_late(self) -> None:
        self._body_timer = None
        cycle = self.cycle
        if self._body_pending and cycle is not None and not cycle.response_complete:
            self.scope[BODY_LATE] = True  # type: ignore[literal-required]
            cycle.keep_alive = False
            cycle.message_event.set()
        self._body_done()

    def _body_done(self) -> None:
        self._body_pending = False
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        if self._slow_counted:
            self._slow_counted = False
            self.slow_bodies.count -= 1

    def _header_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            return  # a pipelined request behind a running one: its response comes first
        if self._started:
            timeout = self.limits.header_timeout
            self._refuse(408, f"request headers not received within {timeout:g} s")
        else:
            self.transport.close()

    def _write_stalled(self) -> None:
        self._write_timer = None
        if self.flow.write_paused:
            log.warning(
                "client does not read its responses; connection dropped",
                extra={"client": self.client, "write_timeout": self.limits.write_timeout},
            )
            self.transport.abort()

    def _answer_shed(self, message: str, *, keep_alive: bool) -> None:
        """503 with Retry-After for a request refused before its handler (no response is in
        progress on this connection); the connection stays open when `keep_alive`."""
        self.admission.shed(message, self.url.decode("latin-1"))
        if self.transport.is_closing():
            return
        body = encode_error(message)
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[503],
                    b"content-type: application/json\r\ncontent-length: ",
                    str(len(body)).encode(),
                    b"\r\nretry-after: 1\r\n",
                    b"\r\n" if keep_alive else b"connection: close\r\n\r\n",
                    body,
                ]
            )
        )
        if not keep_alive:
            self.transport.close()
            return
        self.on_response_complete()
        # The answer says when to come back: a client that sends again on this connection
        # sooner is not read until then, so that under overload clients that ignore
        # Retry-After cannot keep the event loop busy refusing them.
        self.flow.pause_reading()
        self._shed_timer = self.loop.call_later(SHED_PAUSE_SECONDS, self._resume_after_shed)

    def _resume_after_shed(self) -> None:
        self._shed_timer = None
        if not self.transport.is_closing():
            self.flow.resume_reading()

    def _refuse(self, status: int, message: str) -> None:
        """Answer `status` with a JSON error and close; never in the middle of a response."""
        self._cancel_header_timer()
        self.pipeline.clear()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # A response is being produced on this connection (`cycle` may be a pipelined one
            # that will now never run): close once the one running is sent.
            self._close_after_response = True
            cycle.keep_alive = False
            self.flow.pause_reading()
            return
        if self.transport.is_closing():
            return
        body = encode_error(message)
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[status],
                    b"content-type: application/json\r\n",
                    b"content-length: ",
                    str(len(body)).encode(),
                    b"\r\nconnection: close\r\n\r\n",
                    body,
                ]
            )
        )
        self.transport.close()


def edge_protocol(limits: EdgeLimits, draining: Any, admission: Any = None) -> type[EdgeProtocol]:
    """An `EdgeProtocol` class bound to `limits`, `draining` (a no-argument callable) and the
    server's `Admission` (None: handlers answer every refusal)."""
    return type(
        "BoundEdgeProtocol",
        (EdgeProtocol,),
        {
            "limits": limits,
            "draining": staticmethod(draining),
            "slow_bodies": _SlowBodies(),
            "admission": admission,
        },
    )
