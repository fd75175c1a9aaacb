"""gRPC and binary REST benchmark: our gRPC front against a bare grpc.aio floor and
KServe's gRPC server, and our REST server with the binary tensor extension against its JSON.

Run by `make bench` after bench/run.py (or alone: `make bench-grpc`), with the main venv's
Python. Reuses run.py's process handling (process groups, RSS, CPU) and the same models and
one-row request. gRPC load comes from h2load (Debian's nghttp2-client) posting one pre-encoded
gRPC frame (`bench/.work/grpc/request.bin`: the 5-byte gRPC message prefix and a
`ModelInferRequest` with the row in `raw_input_contents`) on 32 or 1 connections, one stream
each; latency percentiles come from h2load's per-request log. h2load checks the HTTP status
only, not the gRPC status in the trailers: every server first answers the known row with the
expected label over gRPC, and ours counts its gRPC answers by code, which the harness reads
after the runs (`serving_requests_total{protocol="grpc"}`): any non-OK fails the run.

Environment: as run.py (BENCH_DURATION, BENCH_PORT, BENCH_NICE), and BENCH_GRPC_PORT (default
BENCH_PORT + 1).
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import run
from report import Measurement, Result, parse_wrk

HAND_NOTES = "# Notes kept by hand (not written by `make bench-grpc`)"
GRPC_PORT = int(os.environ.get("BENCH_GRPC_PORT", str(run.PORT + 1)))
TARGET = f"{run.HOST}:{GRPC_PORT}"
GRPC_WORK = run.WORK / "grpc"
METHOD = "/inference.GRPCInferenceService/ModelInfer"


@dataclass(frozen=True)
class Row:
    row: list[float]
    expected: object


def _known(model: str) -> Row:
    request = json.loads((run.MODELS / model / "request.json").read_text())
    tensor = request["body"]["inputs"][0]
    data = tensor["data"]
    while isinstance(data[0], list):
        data = [value for inner in data for value in inner]
    return Row(row=[float(v) for v in data], expected=request["expected_label"])


def _frame(row: Row) -> bytes:
    from serving.proto import grpc_predict_v2_pb2 as pb

    request = pb.ModelInferRequest(model_name=run.MODEL_NAME)
    request.inputs.add(name="input", datatype="FP32", shape=[1, len(row.row)])
    request.raw_input_contents.append(struct.pack(f"<{len(row.row)}f", *row.row))
    message = request.SerializeToString()
    return b"\x00" + struct.pack(">I", len(message)) + message


def _binary_body(row: Row) -> tuple[bytes, int]:
    raw = struct.pack(f"<{len(row.row)}f", *row.row)
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "shape": [1, len(row.row)],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            "parameters": {"binary_data_output": True},
        },
        separators=(",", ":"),
    ).encode()
    return header + raw, len(header)


def _grpc_label(row: Row, timeout: float = 5.0) -> object:
    import grpc
    import numpy as np

    from serving.proto import grpc_predict_v2_pb2 as pb
    from serving.proto import grpc_predict_v2_pb2_grpc as pb_grpc

    with grpc.insecure_channel(TARGET) as channel:
        request = pb.ModelInferRequest.FromString(_frame(row)[5:])
        response = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=timeout)
    names = [output.name for output in response.outputs]
    index = next((names.index(n) for n in ("label", "predict") if n in names), 0)
    output = response.outputs[index]
    if response.raw_output_contents:
        dtype = {"INT64": "<i8", "FP32": "<f4", "INT32": "<i4"}[output.datatype]
        return np.frombuffer(response.raw_output_contents[index], dtype).tolist()[0]
    contents = output.contents
    values = list(contents.int64_contents) or list(contents.int_contents)
    return values[0]


class GrpcRunning(run.Running):
    """A server process group, ready once it answers the known row over gRPC."""

    def answers(self) -> bool:
        try:
            _grpc_label(ROW, timeout=1.0)
        except Exception:  # noqa: BLE001 - not listening or not loaded yet
            return False
        return True


ROW = _known("small")


def h2load_argv(connections: int, seconds: int, warm_up: int, log: Path) -> list[str]:
    return [
        "h2load", "-t1", f"-c{connections}", "-m1", f"-D{seconds}", f"--warm-up-time={warm_up}",
        "-d", str(GRPC_WORK / "request.bin"), "-H", "content-type: application/grpc",
        "-H", "te: trailers", f"--log-file={log}", f"http://{TARGET}{METHOD}",
    ]  # fmt: skip


def run_h2load(connections: int, seconds: int, server_pid: int) -> Measurement:
    log = GRPC_WORK / f"h2load-c{connections}.log"
    log.unlink(missing_ok=True)
    cpu_before = run._cpu_us(server_pid)
    out = subprocess.run(
        h2load_argv(connections, seconds, run.WARMUP, log),
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + run.WARMUP + 60,
        start_new_session=True,
        preexec_fn=run._raise_priority,
    )
    cpu = run._cpu_us(server_pid) - cpu_before
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out.stdout)
    finished = re.search(r"finished in ([\d.]+)s", out.stdout)
    status = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out.stdout)
    if not (done and finished and status):
        raise RuntimeError(f"cannot read h2load's summary:\n{out.stdout}\n{out.stderr}")
    durations = sorted(
        int(line.split("\t")[2]) for line in log.read_text().splitlines() if line.count("\t") >= 2
    )
    if not durations:
        raise RuntimeError(f"h2load logged no request:\n{out.stdout}")
    requests = int(done.group(1))
    return Measurement(
        connections=connections,
        requests=requests,
        duration_us=int(float(finished.group(1)) * 1e6),
        p50_us=durations[len(durations) // 2],
        p99_us=durations[min(len(durations) - 1, int(len(durations) * 0.99))],
        non_2xx=requests - int(status.group(1)),
        socket_errors=requests - int(done.group(2)),
        server_cpu_us=cpu,
    )


def run_wrk_binary(connections: int, seconds: int, server_pid: int) -> Measurement:
    body, length = _binary_body(ROW)
    path = GRPC_WORK / "binary.bin"
    path.write_bytes(body)
    cpu_before = run._cpu_us(server_pid)
    out = subprocess.run(
        run.wrk_argv(connections, seconds),
        env={**os.environ, "BENCH_BODY": str(path), "BENCH_HEADER_LENGTH": str(length)},
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
        start_new_session=True,
        preexec_fn=run._raise_priority,
    )
    cpu = run._cpu_us(server_pid) - cpu_before
    measurement = parse_wrk(out.stdout, connections=connections)
    return Measurement(**{**measurement.__dict__, "server_cpu_us": cpu})


def floor_grpc(model_dir: Path) -> run.Server:
    return run.Server(
        name="grpc-floor",
        workers=1,
        argv=[str(run.MAIN_PYTHON), str(run.BENCH / "grpc_floor.py"), "--port", str(GRPC_PORT)],
        env={"BENCH_MODEL": str(model_dir / "model.onnx"), "BENCH_INTRA_OP_THREADS": "1"},
        settings="bare grpc.aio, raw in and out, 1 intra-op thread",
    )


def ours_grpc(model_dir: Path) -> run.Server:
    server = run.our_server(model_dir, 1)
    return run.Server(
        name="ours-grpc",
        workers=1,
        argv=server.argv,
        env={**server.env, "SERVING_GRPC_PORT": str(GRPC_PORT)},
        settings=server.settings,
        cwd=server.cwd,
    )


def kserve_grpc(model_dir: Path) -> run.Server:
    server = run.kserve_server(model_dir, 1)
    argv = [a for a in server.argv]
    index = argv.index("--enable_grpc")
    argv[index + 1] = "true"
    argv += ["--grpc_port", str(GRPC_PORT)]
    return run.Server(
        name="kserve-grpc",
        workers=1,
        argv=argv,
        env=server.env,
        settings="gRPC on, latency logging off, access log off, sync predict (inline)",
        peer=True,
    )


def _grpc_codes() -> dict[str, float]:
    status, body = run._http("GET", "/metrics")
    if status != 200:
        return {}
    codes: dict[str, float] = {}
    for line in body.decode().splitlines():
        if line.startswith("serving_requests_total{") and 'protocol="grpc"' in line:
            code = re.search(r'status="([^"]+)"', line)
            if code:
                codes[code.group(1)] = codes.get(code.group(1), 0.0) + float(line.split()[-1])
    return codes


def measure(server: run.Server, plan: list[int], load: str) -> Result:
    running = GrpcRunning(server, f"grpc-{server.name}")
    try:
        running.wait_ready()
        if load == "grpc":
            got = _grpc_label(ROW)
        else:
            run.check_answer("small")
            got = ROW.expected
        if got != ROW.expected:
            raise RuntimeError(f"known row: label {got!r}, expected {ROW.expected!r}")
        measure_one: Callable[[int, int, int], Measurement] = {
            "grpc": run_h2load,
            "binary": run_wrk_binary,
            "json": lambda c, d, pid: run.run_wrk("small", c, d, pid),
        }[load]
        measure_one(32, run.WARMUP, running.proc.pid)
        # The readiness wait may have seen UNAVAILABLE while the model loaded: only what the
        # measured runs answered counts. Only our server has the metrics that count them.
        counts_codes = server.name == "ours-grpc" and load == "grpc"
        codes_before = _grpc_codes() if counts_codes else {}
        runs = []
        for conns in plan:
            m = measure_one(conns, run.DURATION, running.proc.pid)
            print(
                f"  {server.name:12} {load:6} c={conns:<2} {m.rps:9,.0f} req/s "
                f"p50 {m.p50_us / 1000:6.2f} ms  p99 {m.p99_us / 1000:7.2f} ms  "
                f"non-2xx {m.non_2xx}  errors {m.socket_errors}  "
                f"server CPU {m.cpu_us_per_request:.0f} µs/req",
                flush=True,
            )
            runs.append(m)
        if counts_codes:
            after = _grpc_codes()
            codes = {c: n - codes_before.get(c, 0.0) for c, n in after.items()}
            bad = {code: n for code, n in codes.items() if code != "OK" and n}
            if not codes.get("OK") or bad:
                raise RuntimeError(f"gRPC answers by code during the runs: {codes}")
        rss = run._rss_bytes(running.proc.pid)
    finally:
        running.stop()
    return run.result_of(server, rss, runs, None if load == "grpc" else f"ours-rest-{load}")


def _ms(us: int) -> str:
    return f"{us / 1000:.2f}"


def render(results: list[Result], load_before: str) -> str:
    by = {r.server: r for r in results}
    lines = [
        "# gRPC and binary REST benchmark",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} at commit "
        f"`{run._out(['git', '-C', str(run.ROOT), 'rev-parse', '--short', 'HEAD'])}` by "
        "`make bench-grpc` (bench/grpc_run.py), small model, one-row request, 1 worker each.",
        "",
        f"- machine: {os.cpu_count()} CPUs, {run._cpu_model()}, {run._mem_total()} RAM; load "
        f"average before: {load_before}, after: {run._loadavg()} (other work on the machine "
        "shows up as noise in every row)",
        f"- gRPC load: `{' '.join(h2load_argv(32, run.DURATION, run.WARMUP, Path('LOG')))}` "
        f"(and -c1); {run.DURATION} s per run after a {run.WARMUP} s warm-up; percentiles "
        "from h2load's per-request log",
        "- REST load: wrk with bench/v2_post.lua; `ours-rest-binary` with BENCH_HEADER_LENGTH set: "
        "the same row as raw FP32 after the JSON, every output asked for as binary "
        "(`binary_data_output`); `ours-rest-json` the plain V2 JSON request of bench/run.py",
        "- every server answered the known row with the expected label first; our gRPC server "
        "counted every answer as OK (its metrics)",
        "",
        "| server | settings | conns | req/s | p50 ms | p99 ms | server CPU µs/req | "
        "non-2xx | RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        for conns in (32, 1):
            m = result.best(conns)
            if m is None:
                continue
            lines.append(
                f"| {result.server} | {result.settings} | {conns} | {m.rps:,.0f} | "
                f"{_ms(m.p50_us)} | {_ms(m.p99_us)} | {m.cpu_us_per_request:.0f} | "
                f"{m.non_2xx + m.socket_errors} | {result.rss_bytes / 2**20:.0f} |"
            )
    lines += ["", "## Targets (relative to the bare grpc.aio floor in the same run)", ""]
    us, floor, peer = by.get("ours-grpc"), by.get("grpc-floor"), by.get("kserve-grpc")
    checks: list[tuple[str, str, bool]] = []
    if us and floor:
        u32, f32, u1, f1 = us.best(32), floor.best(32), us.best(1), floor.best(1)
        if u32 and f32:
            r = u32.rps / f32.rps
            checks.append(
                (
                    "32 conns: req/s ≥ 85% of the floor's",
                    f"{u32.rps:,.0f} vs {f32.rps:,.0f} ({r:.0%})",
                    r >= 0.85,
                )
            )
            r = u32.p99_us / f32.p99_us
            checks.append(
                (
                    "32 conns: p99 ≤ 1.3 × the floor's",
                    f"{_ms(u32.p99_us)} vs {_ms(f32.p99_us)} ms ({r:.2f}×)",
                    r <= 1.3,
                )
            )
        if u1 and f1:
            r = u1.p50_us / f1.p50_us
            checks.append(
                (
                    "1 conn: p50 ≤ 1.2 × the floor's",
                    f"{_ms(u1.p50_us)} vs {_ms(f1.p50_us)} ms ({r:.2f}×)",
                    r <= 1.2,
                )
            )
        r = us.rss_bytes / floor.rss_bytes
        checks.append(
            (
                "RSS ≤ 1.5 × the floor's",
                f"{us.rss_bytes / 2**20:.0f} vs {floor.rss_bytes / 2**20:.0f} MiB ({r:.2f}×)",
                r <= 1.5,
            )
        )
    if us and peer and (u32 := us.best(32)) and (p32 := peer.best(32)):
        r = u32.rps / p32.rps
        checks.append(
            (
                "32 conns: req/s ≥ 3 × KServe's gRPC",
                f"{u32.rps:,.0f} vs {p32.rps:,.0f} ({r:.1f}×)",
                r >= 3,
            )
        )
    lines += [
        f"- {'pass' if ok else 'FAIL'}: {target}: {measured}" for target, measured, ok in checks
    ]
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    only = {s for s in os.environ.get("BENCH_ONLY", "").split(",") if s}
    GRPC_WORK.mkdir(parents=True, exist_ok=True)
    (GRPC_WORK / "request.bin").write_bytes(_frame(ROW))
    small = run.MODELS / "small"
    plan = [32, 32, 1]
    load_before = run._loadavg()
    configs: list[tuple[run.Server, str]] = [
        (floor_grpc(small), "grpc"),
        (ours_grpc(small), "grpc"),
        (ours_grpc(small), "binary"),
        (ours_grpc(small), "json"),
    ]
    if (run.VENVS / "kserve" / "bin" / "python").exists():
        configs.append((kserve_grpc(small), "grpc"))
    results: list[Result] = []
    print(f"== gRPC and binary REST: small model, {run.DURATION} s per run", flush=True)
    for server, load in configs:
        if only and server.name not in only:
            continue
        try:
            results.append(measure(server, plan, load))
        except (RuntimeError, subprocess.SubprocessError) as exc:
            print(f"  {server.name} {load}: FAILED: {exc}", flush=True)
    text = render(results, load_before)
    run.write_keeping_notes(run.BENCH / "results-grpc.md", text, HAND_NOTES)
    print(text)


if __name__ == "__main__":
    main()
