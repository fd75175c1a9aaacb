"""Side-by-side serving benchmark: our server, the floor, MLServer and KServe.

`make bench` builds the models and the peers' virtualenvs, then runs this file with the main
venv's Python (stdlib only here). For each server configuration, one at a time on the same
loopback port: start it in its own process group, wait for /v2/health/ready, check that it
answers a known row with the right label, warm it up, run wrk (32 connections twice, 1 connection
once), read the RSS of its whole process tree, stop the group and check the port is free again.
Then the batching check, and bench/results.md.

Environment: BENCH_DURATION (seconds per wrk run, default 10), BENCH_PORT (default 8080),
BENCH_ONLY (comma-separated server names, e.g. "floor,mlserver", to run a subset),
BENCH_SERVING_DIR (the checkout whose serving/ is benchmarked as ours; default this one),
BENCH_NICE (priority for servers and wrk, default -20; only root may go below 0, others run at
their own priority).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import (
    Measurement,
    Result,
    check_targets,
    parse_wrk,
    render_markdown,
)

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / ".work"
VENVS = WORK / "venvs"
MODELS = WORK / "models"
LOGS = WORK / "logs"
MAIN_PYTHON = ROOT / ".venv" / "bin" / "python"
SERVING_DIR = Path(os.environ.get("BENCH_SERVING_DIR", ROOT)).resolve()

HOST = "127.0.0.1"
PORT = int(os.environ.get("BENCH_PORT", "8080"))
DURATION = int(os.environ.get("BENCH_DURATION", "10"))
WARMUP = max(2, DURATION // 3)
MODEL_NAME = "bench"
OURS = "ours"
HAND_NOTES = "# Notes kept by hand (not written by `make bench`)"
FLOOR = "floor"

NICE = int(os.environ.get("BENCH_NICE", "-20"))


def _raise_priority() -> None:
    # On a shared machine, background jobs otherwise show up as noise in whichever row they hit.
    # Every server and wrk get the same priority; without the privilege they keep their own.
    # Each runs in a new session, and with scheduler autogroups (most distributions) the session's
    # group nice is what competes with other sessions, so both are set.
    with contextlib.suppress(OSError):
        Path("/proc/self/autogroup").write_text(str(NICE))
    with contextlib.suppress(PermissionError):
        os.setpriority(os.PRIO_PROCESS, 0, NICE)


def _nice_applies() -> bool:
    try:
        before = os.getpriority(os.PRIO_PROCESS, 0)
        os.setpriority(os.PRIO_PROCESS, 0, NICE)
        os.setpriority(os.PRIO_PROCESS, 0, before)
    except PermissionError:
        return False
    return True


# Every server gets the same threading: one ONNX Runtime intra-op thread per worker process, and
# one BLAS/OpenMP thread for MLServer's scikit-learn, so that workers, not threads, use the cores.
COMMON_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass(frozen=True, kw_only=True)
class Server:
    name: str
    workers: int
    argv: list[str]
    env: dict[str, str]
    settings: str
    peer: bool = False
    cwd: Path = ROOT

    def command(self) -> str:
        env = " ".join(f"{k}={shlex.quote(_short(v))}" for k, v in self.env.items())
        argv = " ".join(shlex.quote(_short(a)) for a in self.argv)
        return f"{env} {argv}".strip()


def _short(arg: str) -> str:
    return arg.replace(str(ROOT) + "/", "")


# ------------------------------------------------------------------------------------------------
# THE COMMAND THAT STARTS OUR SERVER. It is the only place that knows serving/'s contract
# (`python -m serving`, SERVING_* settings); change it here if that contract changes.
# ------------------------------------------------------------------------------------------------
def our_server(model_dir: Path, workers: int, *, batching: bool | None = None) -> Server:
    env = {
        "SERVING_HOST": HOST,
        "SERVING_PORT": str(PORT),
        "SERVING_MODEL_REPOSITORY": str(model_dir),
        "SERVING_MODEL_NAME": MODEL_NAME,
        "SERVING_WORKERS": str(workers),
        "SERVING_INTRA_OP_THREADS": "1",
        "SERVING_LOG_LEVEL": "warning",
    }
    # None keeps the server's default (batching on, with its default limits).
    if batching is not None:
        env["SERVING_BATCHING_ENABLED"] = "true" if batching else "false"
    settings = (
        "defaults (batching on)" if batching is None else f"batching {'on' if batching else 'off'}"
    )
    return Server(
        name=OURS,
        workers=workers,
        argv=[str(MAIN_PYTHON), "-m", "serving"],
        env=env,
        settings=f"{settings}, 1 intra-op thread, log level warning",
        cwd=SERVING_DIR,  # `python -m serving` imports serving/ from here
    )


def floor_server(model_dir: Path, workers: int) -> Server:
    return Server(
        name=FLOOR,
        workers=workers,
        argv=[
            str(MAIN_PYTHON), "-m", "uvicorn", "bench.floor:app",
            "--host", HOST, "--port", str(PORT), "--workers", str(workers),
            "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
        ],
        env={"BENCH_MODEL": str(model_dir / "model.onnx"), "BENCH_INTRA_OP_THREADS": "1"},
        settings="uvloop + httptools, no access log, 1 intra-op thread",
    )  # fmt: skip


def mlserver_server(model_dir: Path) -> Server:
    # MLServer reads its settings from a folder: settings.json (server) + model-settings.json.
    folder = WORK / "mlserver"
    folder.mkdir(parents=True, exist_ok=True)
    settings = {
        "debug": False,
        "parallel_workers": 0,
        "gzip_enabled": False,
        "host": HOST,
        "http_port": PORT,
        "grpc_port": PORT + 1,
        "metrics_port": PORT + 2,
    }
    (folder / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
    model = {
        "name": MODEL_NAME,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": str(model_dir / "model.joblib")},
    }
    (folder / "model-settings.json").write_text(json.dumps(model, indent=2) + "\n")
    return Server(
        name="mlserver",
        workers=1,
        argv=[str(VENVS / "mlserver" / "bin" / "mlserver"), "start", str(folder)],
        env={},
        settings=(
            "parallel_workers=0 (inference in the server process), debug=false (no access log), "
            "gzip_enabled=false, metrics on (default, own port)"
        ),
        peer=True,
    )


def kserve_server(model_dir: Path, workers: int) -> Server:
    return Server(
        name="kserve",
        workers=workers,
        argv=[
            str(VENVS / "kserve" / "bin" / "python"), str(BENCH / "kserve_server.py"),
            "--model_dir", str(model_dir), "--model_name", MODEL_NAME,
            "--http_port", str(PORT), "--workers", str(workers),
            "--enable_grpc", "false", "--enable_latency_logging", "false",
            "--log_config_file", str(BENCH / "kserve_log.json"),
        ],
        env={},
        settings="gRPC off, latency logging off, access log off, sync predict (inline)",
        peer=True,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------
# Processes
# ------------------------------------------------------------------------------------------------
def _port_open() -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((HOST, PORT)) == 0


def _http(method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(f"http://{HOST}:{PORT}{path}", data=body, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _tree(pid: int) -> list[int]:
    """pid and all its descendants, from /proc/<pid>/task/<tid>/children."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    return out


def _rss_bytes(pid: int) -> int:
    total = 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


class Running:
    """One server process group: started alone on the port, always stopped by its id."""

    def __init__(self, server: Server, log_name: str) -> None:
        if _port_open():
            raise SystemExit(f"{HOST}:{PORT} is already in use; stop whatever listens there first")
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log = LOGS / f"{log_name}.log"
        env = {**os.environ, **COMMON_ENV, **server.env}
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                server.argv,
                cwd=server.cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so workers stop with it
                preexec_fn=_raise_priority,
            )

    def answers(self) -> bool:
        """Whether the server is ready now (not listening yet: False)."""
        try:
            return _http("GET", "/v2/health/ready")[0] == 200
        except OSError:
            return False

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log}")
            if self.answers():
                return
            time.sleep(0.25)
        raise RuntimeError(f"server not ready after {timeout:.0f}s; see {self.log}")

    def stop(self) -> None:
        pgid = self.proc.pid
        for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and _group_alive(pgid):
                self.proc.poll()
                time.sleep(0.1)
            if not _group_alive(pgid):
                break
        self.proc.wait(timeout=5)
        deadline = time.monotonic() + 5
        while _port_open() and time.monotonic() < deadline:
            time.sleep(0.1)
        if _port_open() or _group_alive(pgid):
            raise RuntimeError(f"process group {pgid} or port {PORT} still alive after stop")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    # A zombie leader still counts until reaped; Popen.poll() reaps it.
    return True


def _label(response: dict[str, object]) -> object:
    outputs = response.get("outputs")
    if not isinstance(outputs, list) or not outputs:
        raise ValueError(f"no outputs in {response}")
    named = [o for o in outputs if o.get("name") in ("label", "predict")]
    data = (named or outputs)[0]["data"]
    while isinstance(data, list):
        data = data[0]
    return data


def check_answer(model: str) -> None:
    request = json.loads((MODELS / model / "request.json").read_text())
    path = f"/v2/models/{MODEL_NAME}/infer"
    status, body = _http("POST", path, json.dumps(request["body"]).encode())
    if status != 200:
        raise RuntimeError(f"known row: status {status}: {body[:300]!r}")
    got = _label(json.loads(body))
    if got != request["expected_label"]:
        raise RuntimeError(f"known row: label {got!r}, expected {request['expected_label']!r}")


def wrk_argv(connections: int, seconds: int) -> list[str]:
    return [
        "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
        "-s", str(BENCH / "v2_post.lua"), f"http://{HOST}:{PORT}/v2/models/{MODEL_NAME}/infer",
    ]  # fmt: skip


def _cpu_us(pid: int) -> float:
    """User + system CPU of pid's process tree, from /proc/<pid>/stat (clock ticks)."""
    ticks = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks * 1e6 / os.sysconf("SC_CLK_TCK")


def run_wrk(model: str, connections: int, seconds: int, server_pid: int) -> Measurement:
    body = MODELS / model / "body.json"
    request = json.loads((MODELS / model / "request.json").read_text())
    body.write_text(json.dumps(request["body"], separators=(",", ":")))
    cpu_before = _cpu_us(server_pid)
    out = subprocess.run(
        wrk_argv(connections, seconds),
        env={**os.environ, "BENCH_BODY": str(body)},
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
        start_new_session=True,
        preexec_fn=_raise_priority,
    )
    cpu = _cpu_us(server_pid) - cpu_before
    return replace(parse_wrk(out.stdout, connections=connections), server_cpu_us=cpu)


def measure(server: Server, model: str, plan: list[int], tag: str) -> tuple[Result, Running]:
    running = Running(server, f"{tag}-{server.name}-{server.workers}w")
    try:
        running.wait_ready()
        check_answer(model)
        run_wrk(model, 32, WARMUP, running.proc.pid)
        runs = []
        for conns in plan:
            m = run_wrk(model, conns, DURATION, running.proc.pid)
            print(
                f"  {tag:12} {server.name:8} {server.workers}w c={conns:<2} {m.rps:9,.0f} req/s "
                f"p50 {m.p50_us / 1000:6.2f} ms  p99 {m.p99_us / 1000:7.2f} ms  "
                f"non-2xx {m.non_2xx}  socket errors {m.socket_errors}  "
                f"server CPU {m.cpu_us_per_request:.0f} µs/req",
                flush=True,
            )
            runs.append(m)
        rss = _rss_bytes(running.proc.pid)
    except BaseException:
        running.stop()
        raise
    return result_of(server, rss, runs), running


def result_of(server: Server, rss: int, runs: list[Measurement], name: str | None = None) -> Result:
    """The report's row of `server` (under `name` when given) after its runs."""
    return Result(
        server=name or server.name,
        workers=server.workers,
        peer=server.peer,
        command=server.command(),
        settings=server.settings,
        rss_bytes=rss,
        runs=tuple(runs),
    )


def run_one(server: Server, model: str, plan: list[int], tag: str) -> Result:
    result, running = measure(server, model, plan, tag)
    running.stop()
    return result


# ------------------------------------------------------------------------------------------------
# The report's header: machine and versions
# ------------------------------------------------------------------------------------------------
def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem_total() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    return "unknown"


def _out(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "unknown"


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def header(load_before: str) -> list[str]:
    wrk_lines = _out(["wrk", "-v"]).splitlines()
    wrk = wrk_lines[0].split(" Copyright")[0] if wrk_lines else "wrk"
    commit = _out(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    return [
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} at commit `{commit}` "
        "by `make bench`.",
        "",
        f"- machine: {os.cpu_count()} CPUs (`nproc` {_out(['nproc'])}), {_cpu_model()}, "
        f"{_mem_total()} RAM, {platform.system()} {platform.release()}",
        f"- load average (1, 5, 15 min) before the run: {load_before}; after: {_loadavg()} "
        "(other work on the machine shows up as noise in every row)",
        f"- Python {platform.python_version()}; load generator: {wrk}",
        f"- each wrk run: {DURATION} s after a {WARMUP} s warm-up at 32 connections; "
        "one thread (`-t1`) so that wrk takes as little CPU from the server as it can; servers and "
        + (f"wrk at nice {NICE}" if _nice_applies() else "wrk at the caller's priority"),
        "- every server on 127.0.0.1:" + str(PORT) + ", alone, started and stopped by the harness; "
        "every one answered the known row with the expected label before it was measured",
        "- request: one row, V2 JSON (`bench/.work/models/<model>/body.json`), the same bytes "
        "for every server; responses carry every model output (MLServer's scikit-learn runtime "
        "answers `predict` only)",
    ]


def versions() -> dict[str, str]:
    envs = {
        "main venv (ours, floor)": MAIN_PYTHON,
        "MLServer venv": VENVS / "mlserver" / "bin" / "python",
        "KServe venv": VENVS / "kserve" / "bin" / "python",
        "models venv (build only)": VENVS / "models" / "bin" / "python",
    }
    return {
        name: _out([str(py), "-m", "pip", "freeze", "--exclude-editable"])
        for name, py in envs.items()
        if py.exists()
    }


# ------------------------------------------------------------------------------------------------


def write_keeping_notes(path: Path, text: str, marker: str) -> None:
    """Write a results file; what stands below `marker` (notes kept by hand) outlives each run."""
    kept = path.read_text().partition(marker)[2] if path.exists() else ""
    path.write_text(text + (f"\n---\n\n{marker}{kept}" if kept else ""))


def main() -> None:
    only = {s for s in os.environ.get("BENCH_ONLY", "").split(",") if s}
    small, heavy = MODELS / "small", MODELS / "heavy"
    plan = [32, 32, 1]

    servers: list[Server] = []
    for workers in (1, 2):
        servers += [floor_server(small, workers), our_server(small, workers)]
        servers.append(kserve_server(small, workers))
    servers.append(mlserver_server(small))
    servers = [s for s in servers if not only or s.name in only]

    load_before = _loadavg()
    results: list[Result] = []
    print(f"== throughput and latency: small model, {DURATION} s per run", flush=True)
    for server in servers:
        try:
            results.append(run_one(server, "small", plan, "main"))
        except (RuntimeError, subprocess.SubprocessError) as exc:
            print(f"  {server.name} {server.workers}w: FAILED: {exc}", flush=True)

    batching: dict[str, tuple[float, float]] = {}
    batching_rows: list[tuple[str, str, Measurement]] = []
    if not only or OURS in only:
        print("== batching: our server, 1 worker, one-row requests at 32 connections", flush=True)
        for model, folder in (("heavy", heavy), ("small", small)):
            rps: dict[bool, float] = {}
            for on in (True, False):
                try:
                    res = run_one(our_server(folder, 1, batching=on), model, [32], f"batch-{model}")
                except (RuntimeError, subprocess.SubprocessError) as exc:
                    print(f"  {model} batching {on}: FAILED: {exc}", flush=True)
                    continue
                run = res.runs[0]
                rps[on] = run.rps
                batching_rows.append((model, "on" if on else "off", run))
            if len(rps) == 2:
                batching[model] = (rps[True], rps[False])

    notes = []
    for model in ("small", "heavy"):
        t = json.loads((MODELS / model / "inference.json").read_text())
        notes.append(
            f"- {model} model, ONNX Runtime on one thread: {t['ms_1_rows']:.3f} ms for 1 row, "
            f"{t['ms_32_rows']:.3f} ms for 32 rows (`bench/build_models.py`)."
        )
    checks = check_targets(results, ours=OURS, floor=FLOOR, batching=batching)
    text = render_markdown(
        results=results,
        checks=checks,
        ours=OURS,
        floor=FLOOR,
        batching_rows=batching_rows,
        header=header(load_before),
        wrk_command=" ".join(_short(a) for a in wrk_argv(32, DURATION))
        + "  (and -c1; BENCH_BODY names the request body file)",
        versions=versions(),
        batching_notes=tuple(notes),
    )
    write_keeping_notes(BENCH / "results.md", text, HAND_NOTES)
    (WORK / "results.json").write_text(
        json.dumps([asdict(r) for r in results], indent=2, default=str)
    )
    print(f"== wrote {BENCH / 'results.md'}")
    for c in checks:
        print(f"  {'pass' if c.ok else 'FAIL'}  {c.target}: {c.measured}")


if __name__ == "__main__":
    main()
