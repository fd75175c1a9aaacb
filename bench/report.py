"""The benchmark's pure part: parse wrk's summary, judge the issue's targets, render the table.

Plain data in, plain data out, no processes and no clock, so it can be tested on its own
(tests/bench/test_report.py); bench/run.py does the starting, measuring and stopping.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

__all__ = [
    "Check",
    "Measurement",
    "Result",
    "check_targets",
    "parse_wrk",
    "render_markdown",
]

_MARKER = "BENCH_JSON "


@dataclass(frozen=True, kw_only=True)
class Measurement:
    """One wrk run against one server: latencies in microseconds."""

    connections: int
    requests: int
    duration_us: int
    p50_us: int
    p99_us: int
    non_2xx: int
    socket_errors: int
    server_cpu_us: float = 0.0
    """CPU time (user + system) the server's process tree used during the run."""

    @property
    def rps(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0

    @property
    def cpu_us_per_request(self) -> float:
        return self.server_cpu_us / self.requests if self.requests else 0.0


@dataclass(frozen=True, kw_only=True)
class Result:
    """Every run of one server configuration, with the memory it held after the load."""

    server: str
    workers: int
    peer: bool
    command: str
    settings: str
    rss_bytes: int
    runs: tuple[Measurement, ...] = field(default_factory=tuple)

    def best(self, connections: int) -> Measurement | None:
        """The run with the most req/s at this many connections (best of the repeats)."""
        runs = [r for r in self.runs if r.connections == connections]
        return max(runs, key=lambda r: r.rps) if runs else None

    @property
    def rss_per_worker(self) -> float:
        return self.rss_bytes / self.workers


@dataclass(frozen=True, kw_only=True)
class Check:
    target: str
    measured: str
    ok: bool


def parse_wrk(stdout: str, *, connections: int) -> Measurement:
    """Read the JSON line that bench/v2_post.lua's done() prints; fail loudly if it is missing."""
    lines = [line for line in stdout.splitlines() if line.startswith(_MARKER)]
    if not lines:
        raise ValueError(f"wrk printed no {_MARKER.strip()} line; its output was:\n{stdout}")
    raw = json.loads(lines[-1][len(_MARKER) :])
    return Measurement(
        connections=connections,
        requests=int(raw["requests"]),
        duration_us=int(raw["duration_us"]),
        p50_us=int(raw["p50_us"]),
        p99_us=int(raw["p99_us"]),
        non_2xx=int(raw["non_2xx"]),
        socket_errors=sum(
            int(raw[k]) for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
        ),
    )


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def _by(results: list[Result], server: str, workers: int) -> Result | None:
    return next((r for r in results if r.server == server and r.workers == workers), None)


def _best_peer(results: list[Result], workers: int, connections: int) -> Result | None:
    # The fastest peer configuration a user could run with at most this many worker processes:
    # MLServer with in-process inference is one process, so it stands against both counts.
    runs = [
        (r, m)
        for r in results
        if r.peer and r.workers <= workers and (m := r.best(connections)) is not None
    ]
    return max(runs, key=lambda rm: rm[1].rps)[0] if runs else None


def check_targets(
    results: list[Result],
    *,
    ours: str,
    floor: str,
    batching: dict[str, tuple[float, float]],
) -> list[Check]:
    """The issue's targets, one Check each. `batching` maps a model to (rows/s on, rows/s off)."""
    checks: list[Check] = []
    for workers in sorted({r.workers for r in results if r.server == ours}):
        us, fl = _by(results, ours, workers), _by(results, floor, workers)
        if us is None or fl is None:
            continue
        u32, f32, u1, f1 = us.best(32), fl.best(32), us.best(1), fl.best(1)
        w = f"{workers} worker{'s' if workers > 1 else ''}"
        if u32 and f32:
            r = _ratio(u32.rps, f32.rps)
            checks.append(
                Check(
                    target=f"{w}, 32 conns: req/s ≥ 85% of the floor's",
                    measured=f"{u32.rps:,.0f} vs {f32.rps:,.0f} ({r:.0%})",
                    ok=r >= 0.85,
                )
            )
            r = _ratio(u32.p99_us, f32.p99_us)
            checks.append(
                Check(
                    target=f"{w}, 32 conns: p99 ≤ 1.3 × the floor's",
                    measured=f"{u32.p99_us / 1000:.2f} ms vs {f32.p99_us / 1000:.2f} ms ({r:.2f}×)",
                    ok=r <= 1.3,
                )
            )
            peer = _best_peer(results, workers, 32)
            p32 = peer.best(32) if peer else None
            if peer and p32:
                r = _ratio(u32.rps, p32.rps)
                checks.append(
                    Check(
                        target=f"{w}, 32 conns: req/s ≥ 3 × the best peer's ({peer.server})",
                        measured=f"{u32.rps:,.0f} vs {p32.rps:,.0f} ({r:.1f}×)",
                        ok=r >= 3.0,
                    )
                )
                checks.append(
                    Check(
                        target=f"{w}, 32 conns: p99 lower than the best peer's ({peer.server})",
                        measured=f"{u32.p99_us / 1000:.2f} ms vs {p32.p99_us / 1000:.2f} ms",
                        ok=u32.p99_us < p32.p99_us,
                    )
                )
        if u1 and f1:
            r = _ratio(u1.p50_us, f1.p50_us)
            checks.append(
                Check(
                    target=f"{w}, 1 conn: p50 ≤ 1.2 × the floor's",
                    measured=f"{u1.p50_us / 1000:.3f} ms vs {f1.p50_us / 1000:.3f} ms ({r:.2f}×)",
                    ok=r <= 1.2,
                )
            )
        r = _ratio(us.rss_per_worker, fl.rss_per_worker)
        checks.append(
            Check(
                target=f"{w}: RSS per worker ≤ 1.5 × the floor's",
                measured=f"{us.rss_per_worker / 2**20:.0f} MiB vs "
                f"{fl.rss_per_worker / 2**20:.0f} MiB ({r:.2f}×)",
                ok=r <= 1.5,
            )
        )
    if "heavy" in batching:
        on, off = batching["heavy"]
        r = _ratio(on, off)
        checks.append(
            Check(
                target="heavy model, one-row requests: rows/s with batching ≥ 1.5 × without",
                measured=f"{on:,.0f} vs {off:,.0f} ({r:.2f}×)",
                ok=r >= 1.5,
            )
        )
    if "small" in batching:
        on, off = batching["small"]
        r = _ratio(on, off)
        checks.append(
            Check(
                target="small model: batching costs ≤ 10% (rows/s on ≥ 0.9 × off)",
                measured=f"{on:,.0f} vs {off:,.0f} ({r:.2f}×)",
                ok=r >= 0.9,
            )
        )
    return checks


def _fmt_ms(us: int) -> str:
    return f"{us / 1000:.2f}"


def render_markdown(
    *,
    results: list[Result],
    checks: list[Check],
    ours: str,
    floor: str,
    batching_rows: list[tuple[str, str, Measurement]],
    header: list[str],
    wrk_command: str,
    versions: dict[str, str],
    batching_notes: tuple[str, ...] = (),
) -> str:
    """The whole of bench/results.md."""
    out: list[str] = ["# Benchmark results", "", *header, ""]
    out += [
        "## Throughput and latency (small model, one-row V2 requests)",
        "",
        "Best of two 32-connection runs; p50/p99 in ms; server CPU is user + system time of the",
        "server's whole process tree during the run, per request; RSS summed over that tree after",
        "the load. Ratios: req/s over the floor's at the same worker count, and over the best",
        "peer's (the fastest peer configuration with at most as many worker processes).",
        "",
        "| server | workers | conns | req/s | p50 ms | p99 ms | non-2xx | socket errors "
        "| server CPU µs/req | RSS MiB (per worker) | × floor | × best peer |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for res in results:
        fl = _by(results, floor, res.workers)
        for conns in (32, 1):
            run = res.best(conns)
            if run is None:
                continue
            f_run = fl.best(conns) if fl else None
            to_floor = f"{_ratio(run.rps, f_run.rps):.2f}" if f_run else "–"
            peer = _best_peer(results, res.workers, conns)
            p_run = peer.best(conns) if peer else None
            to_peer = f"{_ratio(run.rps, p_run.rps):.2f}" if p_run and not res.peer else "–"
            rss = (
                f"{res.rss_bytes / 2**20:.0f} ({res.rss_per_worker / 2**20:.0f})"
                if conns == 32
                else ""
            )
            name = f"**{res.server}**" if res.server == ours else res.server
            out.append(
                f"| {name} | {res.workers} | {conns} | {run.rps:,.0f} | {_fmt_ms(run.p50_us)} "
                f"| {_fmt_ms(run.p99_us)} | {run.non_2xx} | {run.socket_errors} "
                f"| {run.cpu_us_per_request:.0f} | {rss} "
                f"| {to_floor} | {to_peer} |"
            )
    out += ["", "## Targets", "", "| target | measured | result |", "|---|---|---|"]
    for c in checks:
        out.append(f"| {c.target} | {c.measured} | {'pass' if c.ok else '**FAIL**'} |")
    if batching_rows:
        out += [
            "",
            "## Batching (our server, 1 worker, one-row requests at 32 connections)",
            "",
            "| model | batching | rows/s | p99 ms | server CPU µs/row |",
            "|---|---|---:|---:|---:|",
        ]
        for model, mode, run in batching_rows:
            out.append(
                f"| {model} | {mode} | {run.rps:,.0f} | {_fmt_ms(run.p99_us)} "
                f"| {run.cpu_us_per_request:.0f} |"
            )
        if batching_notes:
            out += ["", *batching_notes]
    out += [
        "",
        "## Exact commands and settings",
        "",
        f"Load: `{wrk_command}`",
        "",
        "| server | workers | settings | command |",
        "|---|---:|---|---|",
    ]
    for res in results:
        out.append(f"| {res.server} | {res.workers} | {res.settings} | `{res.command}` |")
    out += ["", "## Versions", ""]
    for env, freeze in versions.items():
        out += [
            f"<details><summary>{env}</summary>",
            "",
            "```",
            freeze.strip(),
            "```",
            "",
            "</details>",
            "",
        ]
    out += [
        "Per-run numbers (both 32-connection repeats) are in `bench/.work/results.json`.",
        "",
    ]
    return "\n".join(out)
