"""A hand-written HTTP/1.1 client over one socket, for tests that need to control the bytes:
kept-alive connections, pipelining, partial headers and bodies, malformed requests."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import orjson

__all__ = ["Connection", "Response", "raw_request"]


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    """Lower-cased names; a repeated header keeps its last value."""
    body: bytes

    def error(self) -> str:
        assert self.headers.get("content-type") == "application/json", self.headers
        document = orjson.loads(self.body)
        assert list(document) == ["error"], document
        return str(document["error"])

    @property
    def closes(self) -> bool:
        return self.headers.get("connection", "").lower() == "close"


def raw_request(
    method: str,
    path: str,
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1"]
    given = headers if headers is not None else [("Host", "test")]
    lines += [f"{name}: {value}" for name, value in given]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Connection:
    """One TCP connection to 127.0.0.1:port; every wait is bounded by `timeout` seconds."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, method: str, path: str, body: bytes = b"", **kwargs: object) -> Response:
        self.send(raw_request(method, path, body, **kwargs))  # type: ignore[arg-type]
        return self.response()

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self._buffer += chunk
        return True

    def response(self) -> Response:
        """The next complete response; ConnectionError if the server closes or resets first."""
        while b"\r\n\r\n" not in self._buffer:
            if not self._fill():
                raise ConnectionError(f"closed before a response; got {self._buffer!r}")
        head, _, rest = self._buffer.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        self._buffer = rest
        while len(self._buffer) < length:
            if not self._fill():
                raise ConnectionError("closed in the middle of a response body")
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return Response(status=int(status_line.split()[1]), headers=headers, body=body)

    def closed_cleanly(self) -> bool:
        """Whether the server closed the connection (FIN) with no further bytes, not a reset."""
        try:
            return not self._buffer and self.sock.recv(1) == b""
        except ConnectionResetError:
            return False

    def close(self) -> None:
        self.sock.close()
