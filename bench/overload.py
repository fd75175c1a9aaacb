"""Goodput under overload: how much of its capacity our server still delivers as 200s when
offered far more than it can serve, and how fast it sheds the rest.

`make bench-overload` (after `make bench` has built the models): our server, 1 worker, on the
heavy model with batching on (its defaults otherwise). First its capacity, the 200s per second at
OVERLOAD_CAPACITY_CONNECTIONS (default 64) wrk connections; then wrk at each of
OVERLOAD_CONNECTIONS (default "512,1024") connections: the 200s per second as a share of that
capacity, the share of 503s, and wrk's latency percentiles (200s and 503s together). wrk reuses
a connection as soon as it is answered, and ignores `Retry-After`: every 503 comes straight back,
the worst case for a server that sheds. Prints a Markdown table with the commands.

Environment: OVERLOAD_SECONDS (per wrk run, default 10), OVERLOAD_MODEL (heavy/small), and
run.py's BENCH_PORT and BENCH_SERVING_DIR.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # bench/run.py: the same server command, ports and process handling
from report import Measurement

SECONDS = int(os.environ.get("OVERLOAD_SECONDS", "10"))
MODEL = os.environ.get("OVERLOAD_MODEL", "heavy")
CAPACITY_CONNECTIONS = int(os.environ.get("OVERLOAD_CAPACITY_CONNECTIONS", "64"))
CONNECTIONS = [int(c) for c in os.environ.get("OVERLOAD_CONNECTIONS", "512,1024").split(",")]


def _ok_per_second(m: Measurement) -> float:
    return (m.requests - m.non_2xx) / (m.duration_us / 1e6)


def main() -> None:
    server = run.our_server(run.MODELS / MODEL, 1)
    running = run.Running(server, f"overload-{MODEL}")
    rows = []
    try:
        running.wait_ready()
        run.check_answer(MODEL)
        pid = running.proc.pid
        run.run_wrk(MODEL, CAPACITY_CONNECTIONS, 3, pid)
        capacity_run = run.run_wrk(MODEL, CAPACITY_CONNECTIONS, SECONDS, pid)
        capacity = _ok_per_second(capacity_run)
        print(f"capacity at c={CAPACITY_CONNECTIONS}: {capacity:,.0f} 200s/s", flush=True)
        rows.append((capacity_run, capacity))
        for connections in CONNECTIONS:
            m = run.run_wrk(MODEL, connections, SECONDS, pid)
            rows.append((m, capacity))
            print(
                f"c={connections}: {_ok_per_second(m):,.0f} 200s/s "
                f"({_ok_per_second(m) / capacity:.0%} of capacity), "
                f"{m.non_2xx / max(m.requests, 1):.0%} non-2xx of {m.rps:,.0f} req/s, "
                f"p50 {m.p50_us / 1000:.1f} ms p99 {m.p99_us / 1000:.1f} ms, "
                f"socket errors {m.socket_errors}",
                flush=True,
            )
    finally:
        running.stop()
    print()
    print(f"Server: `{server.command()}`; wrk: `{' '.join(run.wrk_argv(0, SECONDS))}` (-c below)")
    print()
    print("| connections | answers/s | 200s/s | 200s vs capacity | non-2xx | p50 | p99 |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for m, capacity in rows:
        ok = _ok_per_second(m)
        print(
            f"| {m.connections} | {m.rps:,.0f} | {ok:,.0f} | {ok / capacity:.0%} | "
            f"{m.non_2xx / max(m.requests, 1):.1%} | {m.p50_us / 1000:.1f} ms | "
            f"{m.p99_us / 1000:.1f} ms |"
        )


if __name__ == "__main__":
    main()
