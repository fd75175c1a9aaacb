"""The real process: drain on SIGTERM with one and with two workers, start-up failures and their
exit codes, and workers that die with their supervisor."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest

from tests.serving.conftest import IRIS, REPO, ServerProcess, free_port, start_slow_server
from tests.serving.http1 import Connection, raw_request
from tests.serving.models import write_slow_model

pytestmark = pytest.mark.slow

REQUEST = orjson.dumps(
    {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
)
IRIS_REQUEST = orjson.dumps(
    {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5, 3, 1, 0]}]}
)


def inflight(server: ServerProcess) -> float:
    text = httpx.get(server.url + "/metrics", timeout=5).text
    match = re.search(r"^serving_inflight_requests (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def inflight_total(server: ServerProcess) -> float:
    """The in-flight gauge, or 0 while the server cannot answer (never raises)."""
    try:
        return inflight(server)
    except httpx.TransportError:
        return 0.0


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


JSON = [("Host", "test"), ("Content-Type", "application/json")]


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_drains_every_accepted_request_then_exits_0(
    server_process: Callable[[dict[str, str]], ServerProcess], tmp_path: Path, workers: int
) -> None:
    server = start_slow_server(server_process, tmp_path, workers)
    accepted = 6
    # Raw sockets: all six are on the wire within milliseconds, whatever the machine's load.
    connections = [Connection(server.port, timeout=60) for _ in range(accepted)]
    for connection in connections:
        connection.send(raw_request("POST", "/v2/models/slow/infer", REQUEST, JSON))
    wait_for(lambda: inflight_total(server) >= accepted, what="requests in flight")
    # A kept-alive connection keeps its worker (and so the socket) up through the drain, so
    # the checks below never race the process's exit.
    probe = Connection(server.port, timeout=60)
    assert probe.request("GET", "/v2/health/live").status == 200

    server.terminate()
    # Draining: readiness is false at once and new work is turned away, with Retry-After.
    wait_for(
        lambda: httpx.get(server.url + "/v2/health/ready", timeout=5).status_code == 503,
        what="readiness to turn 503",
    )
    ready = httpx.get(server.url + "/v2/health/ready", timeout=5)
    assert ready.json() == {"error": "server is shutting down"}
    for _ in range(10_000):  # the probe's worker may see the signal a moment later
        late = probe.request("POST", "/v2/models/slow/infer", REQUEST, headers=JSON)
        if late.closes:
            break
    assert late.status == 503 and late.headers["retry-after"] == "1"

    responses = [connection.response() for connection in connections]
    assert [response.status for response in responses] == [200] * accepted
    assert all(
        orjson.loads(r.body)["outputs"][0]["data"] == [1.0, 2.0, 3.0, 4.0] for r in responses
    )
    assert all(response.closes for response in responses)  # answered during the drain
    assert server.process.wait(timeout=30) == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_answers_every_request_on_kept_alive_connections(
    server_process: Callable[[dict[str, str]], ServerProcess], workers: int
) -> None:
    """Kubernetes sends to a terminating pod until the endpoints update lands: a request already
    on the wire of a kept-alive connection must get an answer (never a reset), each answer from
    the drain on says `Connection: close`, and the process exits once its clients have left."""
    server = server_process(
        {
            "SERVING_MODEL_REPOSITORY": str(IRIS),
            "SERVING_MODEL_NAME": "iris",
            "SERVING_WORKERS": str(workers),
            "SERVING_DRAIN_TIMEOUT_SECONDS": "60",  # so that exiting early is not the timeout
        }
    )
    server.wait_ready()
    path = "/v2/models/iris/infer"
    connections = [Connection(server.port) for _ in range(16)]
    for connection in connections:
        response = connection.request("POST", path, IRIS_REQUEST, headers=JSON)
        assert response.status == 200 and not response.closes  # kept alive
    server.terminate()
    signalled = time.monotonic()
    for connection in connections:
        # Until this connection's worker has seen the signal, answers may still be 200 and
        # kept alive; from then on the answer is 503 with `Connection: close`, then a clean FIN.
        for _ in range(10_000):
            response = connection.request("POST", path, IRIS_REQUEST, headers=JSON)
            assert response.status in (200, 503), response
            if response.closes:
                break
        assert response.status == 503 and response.error() == "server is shutting down"
        assert response.headers["retry-after"] == "1"
        assert connection.closed_cleanly()
    assert server.process.wait(timeout=30) == 0
    assert time.monotonic() - signalled < 30  # left with its clients, not at the drain timeout
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=5)


def _listening_inode(port: int) -> str | None:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                return fields[9]
    return None


def _socket_inodes(pid: int) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[len("socket:[") : -1])
    return found


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return children


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_supervisor_does_not_hold_the_listening_socket(
    server_process: Callable[[dict[str, str]], ServerProcess],
) -> None:
    """Were the parent to keep its copy, the kernel would accept connections after the workers
    stopped and reset them when the parent exits."""
    server = server_process(
        {
            "SERVING_MODEL_REPOSITORY": str(IRIS),
            "SERVING_MODEL_NAME": "iris",
            "SERVING_WORKERS": "2",
        }
    )
    server.wait_ready()
    inode = _listening_inode(server.port)
    assert inode is not None
    workers = _children(server.process.pid)
    assert len(workers) >= 2
    assert inode not in _socket_inodes(server.process.pid)
    assert any(inode in _socket_inodes(worker) for worker in workers)


def test_workers_die_when_the_supervisor_is_killed(
    server_process: Callable[[dict[str, str]], ServerProcess],
) -> None:
    server = server_process(
        {
            "SERVING_MODEL_REPOSITORY": str(IRIS),
            "SERVING_MODEL_NAME": "iris",
            "SERVING_WORKERS": "2",
        }
    )
    server.wait_ready()
    workers = [pid for pid in _children(server.process.pid) if _alive(pid)]
    assert len(workers) >= 2
    server.process.kill()
    server.process.wait(timeout=10)
    wait_for(lambda: not any(_alive(pid) for pid in workers), what="the workers to exit")


def test_a_corrupt_model_ends_start_up_with_one_error_line_naming_it(
    server_process: Callable[[dict[str, str]], ServerProcess], tmp_path: Path
) -> None:
    corrupt = (IRIS / "model.onnx").read_bytes()[:200]  # truncated, with a matching sidecar
    (tmp_path / "model.onnx").write_bytes(corrupt)
    (tmp_path / "model.onnx.sha256").write_text(hashlib.sha256(corrupt).hexdigest())
    server = server_process({"SERVING_MODEL_REPOSITORY": str(tmp_path)})
    assert server.process.wait(timeout=30) == 3
    _, stderr = server.process.communicate()
    errors = [orjson.loads(line) for line in stderr.splitlines() if '"level":"error"' in line]
    assert len(errors) == 1
    assert errors[0]["message"].startswith(
        f"cannot load model: {tmp_path / 'model.onnx'}: not a loadable ONNX model"
    )


def test_a_body_sent_too_slowly_gets_504_at_the_deadline_and_frees_its_slot(
    server_process: Callable[[dict[str, str]], ServerProcess],
) -> None:
    server = server_process(
        {
            "SERVING_MODEL_REPOSITORY": str(IRIS),
            "SERVING_MODEL_NAME": "iris",
            "SERVING_REQUEST_TIMEOUT_MS": "300",
            "SERVING_MAX_INFLIGHT": "1",
        }
    )
    server.wait_ready()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as stalled:
        stalled.sendall(
            b"POST /v2/models/iris/infer HTTP/1.1\r\nHost: x\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"inp'
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            chunk = stalled.recv(4096)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 504")
    assert orjson.loads(body) == {"error": "deadline of 300 ms exceeded"}
    # The one in-flight slot is free again: the next request is served.
    ok = httpx.post(server.url + "/v2/models/iris/infer", content=IRIS_REQUEST, timeout=5)
    assert ok.status_code == 200


@pytest.mark.parametrize("how", ["drain-timeout", "second-signal"])
def test_stuck_requests_do_not_hold_the_exit_past_the_drain(
    server_process: Callable[[dict[str, str]], ServerProcess], tmp_path: Path, how: str
) -> None:
    write_slow_model(tmp_path, iterations=200_000)  # about 0.3 s per inference
    drain = 0.5 if how == "drain-timeout" else 60.0
    server = server_process(
        {
            "SERVING_MODEL_REPOSITORY": str(tmp_path),
            "SERVING_MODEL_NAME": "slow",
            "SERVING_REQUEST_TIMEOUT_MS": "60000",
            "SERVING_DRAIN_TIMEOUT_SECONDS": str(drain),
            "SERVING_BATCHING_ENABLED": "false",  # one inference per request: a long queue
        }
    )
    server.wait_ready()
    # Seconds of queued work on the one inference thread: far more than the drain allows.
    # Raw sockets send all of them within milliseconds (httpx clients in threads took seconds
    # to start on a loaded machine, and the early requests were done before the last arrived).
    queued = 32
    connections = [Connection(server.port, timeout=30) for _ in range(queued)]
    for connection in connections:
        connection.send(raw_request("POST", "/v2/models/slow/infer", REQUEST, JSON))
    wait_for(lambda: inflight(server) >= queued, what="every request in flight")
    server.terminate()
    signalled = time.monotonic()
    if how == "second-signal":
        wait_for(
            lambda: httpx.get(server.url + "/v2/health/ready", timeout=5).status_code == 503,
            what="the drain to begin",
        )
        server.terminate()
    assert server.process.wait(timeout=30) == 0
    # Generous against the bug (uvicorn's own 5 s wait on top of the drain, then the
    # whole queue), not a speed figure.
    assert time.monotonic() - signalled < (drain if how == "drain-timeout" else 0) + 3.5
    for connection in connections:
        connection.close()


def _start(env: dict[str, str], *, drop_dac: bool = False) -> subprocess.Popen[str]:
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SERVING_")},
        "SERVING_HOST": "127.0.0.1",
        "SERVING_CACHE_DIR": "/tmp/serving-test-cache",
        **env,
    }
    argv = [sys.executable, "-m", "serving"]
    if drop_dac:
        # Root reads any file: without these two capabilities, permission bits bind it too.
        caps = "-dac_override,-dac_read_search"
        argv = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", "--", *argv]
    return subprocess.Popen(
        argv, cwd=REPO, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _one_error_line(process: subprocess.Popen[str]) -> str:
    _, stderr = process.communicate(timeout=30)
    assert "Traceback" not in stderr, stderr
    errors = [orjson.loads(line) for line in stderr.splitlines() if '"level":"error"' in line]
    assert len(errors) == 1, stderr
    return str(errors[0]["message"])


@pytest.mark.parametrize("workers", [1, 2])
def test_a_busy_port_exits_4_with_one_line(workers: int) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        process = _start(
            {
                "SERVING_MODEL_REPOSITORY": str(IRIS),
                "SERVING_PORT": str(port),
                "SERVING_WORKERS": str(workers),
            }
        )
        assert process.wait(timeout=60) == 4
        message = _one_error_line(process)
    assert message.startswith(f"cannot listen on 127.0.0.1:{port}: Address already in use")


@pytest.mark.parametrize("what", ["folder", "file"])
def test_an_unreadable_model_exits_1_with_one_line(tmp_path: Path, what: str) -> None:
    """As root, permissions do not stop reads: the server then runs without the capabilities
    that bypass them (setpriv)."""
    folder = tmp_path / "model"
    folder.mkdir()
    data = (IRIS / "model.onnx").read_bytes()
    (folder / "model.onnx").write_bytes(data)
    (folder / "model.onnx.sha256").write_text(hashlib.sha256(data).hexdigest())
    tmp_path.chmod(0o755)
    if what == "folder":
        folder.chmod(0)
    else:
        folder.chmod(0o755)
        (folder / "model.onnx").chmod(0)
    process = _start(
        {"SERVING_MODEL_REPOSITORY": str(folder), "SERVING_PORT": str(free_port())},
        drop_dac=os.geteuid() == 0,
    )
    try:
        assert process.wait(timeout=60) == 1
        message = _one_error_line(process)
    finally:
        folder.chmod(stat.S_IRWXU)
    assert message.startswith("cannot load model: ") and "cannot read: Permission denied" in message


def test_the_supervisor_process_loads_neither_the_app_nor_onnx_runtime() -> None:
    """With several workers the parent only binds, supervises and forwards signals: importing
    the entry point must not pull in what each worker loads for itself (uvicorn, Starlette,
    ONNX Runtime, gRPC, numpy), or the pod pays for one more worker's memory."""
    heavy = ("uvicorn", "starlette", "onnxruntime", "grpc", "numpy", "serving.server")
    probe = (
        "import sys, serving.__main__, serving.supervisor\n"
        f"print(','.join(name for name in {heavy!r} if name in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == ""
