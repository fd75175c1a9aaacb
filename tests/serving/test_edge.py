"""The HTTP edge over real sockets (`python -m serving`, hand-written clients): header limits and
deadlines, malformed HTTP, paths and headers outside the contract, slow bodies, queueing before
the handler, an input that overflows the model, and what the metrics count."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.serving.conftest import IRIS, ServerProcess
from tests.serving.http1 import Connection, raw_request
from tests.serving.models import write_slow_model

pytestmark = pytest.mark.slow

INFER = "/v2/models/iris/infer"
ROW = orjson.dumps(
    {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5, 3, 1, 0]}]}
)
JSON = [("Host", "test"), ("Content-Type", "application/json")]


@pytest.fixture(scope="module")
def iris() -> Iterator[ServerProcess]:
    server = ServerProcess(
        {
            "SERVING_MODEL_REPOSITORY": str(IRIS),
            "SERVING_MODEL_NAME": "iris",
            "SERVING_HEADER_TIMEOUT_SECONDS": "0.5",
        }
    )
    server.wait_ready()
    yield server
    server.stop()


def metric(server: ServerProcess, name: str, labels: str = "") -> float:
    text = httpx.get(server.url + "/metrics", timeout=5).text
    pattern = rf"^{re.escape(name)}{re.escape(labels)} (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def wait_for(condition: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


# -- finding 6: header deadline, size and count ------------------------------------------------


def test_headers_sent_too_slowly_get_408_and_the_connection_closes(iris: ServerProcess) -> None:
    connection = Connection(iris.port)
    connection.send(b"POST /v2/models/iris/infer HTTP/1.1\r\nHost: test\r\n")  # and no more
    response = connection.response()
    assert response.status == 408 and response.closes
    assert response.error() == "request headers not received within 0.5 s"
    assert connection.closed_cleanly()


def test_a_silent_connection_is_closed(iris: ServerProcess) -> None:
    connection = Connection(iris.port)
    assert connection.closed_cleanly()  # within the socket's 10 s timeout, at the 0.5 s limit


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([("Host", "test"), ("X-Big", "x" * 100_000)], "request line and headers exceed 16384"),
        ([("Host", "test")] + [(f"X-{i}", "1") for i in range(5000)], "more than 100 header"),
    ],
    ids=["100-KB-header", "5000-headers"],
)
def test_oversized_headers_get_431(
    iris: ServerProcess, headers: list[tuple[str, str]], expected: str
) -> None:
    connection = Connection(iris.port)
    connection.send(raw_request("POST", INFER, ROW, headers))
    response = connection.response()
    assert response.status == 431 and response.closes
    assert response.error().startswith(expected)


# -- finding 7: the edge answers inside the contract -------------------------------------------


def test_malformed_http_gets_a_json_400(iris: ServerProcess) -> None:
    connection = Connection(iris.port)
    connection.send(b"GARBAGE\x01 / HTTP/9\r\n\r\n")
    response = connection.response()
    assert response.status == 400 and response.closes
    assert response.error().startswith("malformed HTTP request")


@pytest.mark.parametrize(
    ("path", "headers", "status", "expected"),
    [
        (INFER + "/", [*JSON, ("Host", "evil.example")][1:], 404, "no route POST /v2/models/"),
        ("/v2/models/iris%2Finfer", JSON, 400, "holds an encoded '/' (%2F)"),
        ("/v2/models/iris%2finfer", JSON, 400, "holds an encoded '/' (%2F)"),
        (INFER, [*JSON, ("Host", "other")], 400, "more than one Host header"),
        (INFER, [("Content-Type", "application/json")], 400, "no Host header"),
        (INFER, [("Host", "t"), ("Content-Type", "text/plain")], 415, "Content-Type 'text/plain'"),
        (
            INFER,
            [("Host", "t"), ("Content-Type", "application/x-www-form-urlencoded")],
            415,
            "Content-Type 'application/x-www-form-urlencoded' is not supported",
        ),
    ],
    ids=[
        "trailing-slash",
        "encoded-slash",
        "encoded-slash-lower",
        "two-hosts",
        "no-host",
        "text-plain",
        "form",
    ],
)
def test_requests_outside_the_contract_get_a_json_error(
    iris: ServerProcess, path: str, headers: list[tuple[str, str]], status: int, expected: str
) -> None:
    """Decisions (serving/README.md): no redirects (a trailing slash is another path, and a
    Location must never echo the client's Host); `%2F` never routes as `/`; exactly one Host
    (RFC 9112 section 3.2); a body is JSON (`application/json`, `+json`, or no Content-Type)."""
    connection = Connection(iris.port)
    response = connection.request("POST", path, ROW, headers=headers)
    assert response.status == status
    assert "location" not in response.headers
    assert expected in response.error()


def test_json_content_types_are_accepted(iris: ServerProcess) -> None:
    connection = Connection(iris.port)
    for content_type in ("application/json", "application/json; charset=utf-8", None):
        headers = [("Host", "t")] + ([("Content-Type", content_type)] if content_type else [])
        assert connection.request("POST", INFER, ROW, headers=headers).status == 200


# -- finding 8: an input that drives the model's output out of range ---------------------------


def test_an_input_that_overflows_the_output_is_a_400_naming_it(iris: ServerProcess) -> None:
    big = orjson.dumps(
        {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [3e38] * 4}]}
    )
    connection = Connection(iris.port)
    response = connection.request("POST", INFER, big, headers=JSON)
    assert response.status == 400
    assert response.error().startswith("output 'probabilities' is not finite")


# -- finding 10: metrics count what was delivered -------------------------------------------


def test_a_client_leaving_mid_body_is_a_disconnect_not_a_status(iris: ServerProcess) -> None:
    labels = '{model="iris",status="400"}'
    before_400 = metric(iris, "serving_requests_total", labels)
    before_503 = metric(iris, "serving_requests_total", labels.replace("400", "503"))
    before = metric(iris, "serving_client_disconnects_total", '{model="iris"}')
    connection = Connection(iris.port)
    head = raw_request("POST", INFER, b"x" * 100, JSON)
    connection.send(head[: len(head) - 90])  # headers and 10 of the 100 body bytes
    connection.close()
    wait_for(
        lambda: metric(iris, "serving_client_disconnects_total", '{model="iris"}') > before,
        what="the disconnect to be counted",
    )
    assert metric(iris, "serving_requests_total", labels) == before_400
    assert metric(iris, "serving_requests_total", labels.replace("400", "503")) == before_503


# -- finding 4: slow bodies hold no inference slot ---------------------------------------------


def test_slow_bodies_do_not_lock_out_normal_requests(
    server_process: Callable[[dict[str, str]], ServerProcess],
) -> None:
    server = server_process(
        {
            "SERVING_MODEL_REPOSITORY": str(IRIS),
            "SERVING_MODEL_NAME": "iris",
            "SERVING_MAX_INFLIGHT": "4",
            "SERVING_MAX_SLOW_BODIES": "5",
            "SERVING_REQUEST_TIMEOUT_MS": "30000",
        }
    )
    server.wait_ready()
    slow = [Connection(server.port) for _ in range(20)]
    for connection in slow:
        request = raw_request("POST", INFER, b"x" * 100, JSON)
        connection.send(request[: len(request) - 99])  # one byte of the body, then nothing
    # Past the cap on slow bodies, the rest are refused at once (and so were all seen).
    for connection in slow[5:]:
        response = connection.response()
        assert response.status == 503 and response.closes
        assert response.headers["retry-after"] == "1"
        assert response.error() == "too many requests are sending their bodies slowly; retry"
    # The five bodies still arriving hold none of the four inference slots.
    normal = Connection(server.port)
    for _ in range(20):
        assert normal.request("POST", INFER, ROW, headers=JSON).status == 200
    for connection in slow:
        connection.close()


# -- finding 3: the deadline counts the wait before the handler --------------------------------


def test_a_request_that_queued_past_its_deadline_is_refused_not_served_late(
    server_process: Callable[[dict[str, str]], ServerProcess], tmp_path: Path
) -> None:
    """Pipelined requests wait on their connection while the ones before them run: with each
    inference at least ~0.1 s, the later ones have waited past the 1 s deadline before their
    handler starts. None of them may be answered 200 after its deadline."""
    write_slow_model(tmp_path, iterations=30_000)
    timeout = 1.0
    server = server_process(
        {
            "SERVING_MODEL_REPOSITORY": str(tmp_path),
            "SERVING_MODEL_NAME": "slow",
            "SERVING_REQUEST_TIMEOUT_MS": str(int(timeout * 1000)),
        }
    )
    server.wait_ready()
    body = orjson.dumps(
        {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
    )
    connection = Connection(server.port, timeout=60)
    count = 30
    sent = time.monotonic()
    connection.send(raw_request("POST", "/v2/models/slow/infer", body, JSON) * count)
    answers = []
    for _ in range(count):
        response = connection.response()
        answers.append((response.status, time.monotonic() - sent))
    # A 200 is only ever sent before the deadline (plus this client's own scheduling slack).
    late = [(status, at) for status, at in answers if status == 200 and at > timeout + 0.5]
    assert not late, answers
    refused = [status for status, _ in answers if status != 200]
    assert refused and set(refused) <= {503, 504}, answers
