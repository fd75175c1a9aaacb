"""Interleaved A/B of server variants against the floor on this (shared, noisy) machine.

Each round starts every variant in turn (floor first), runs wrk at 32 connections and at 1, and
stops it; the ratios to the floor are taken within a round, so load from other work on the
machine hits both sides of a ratio about equally. Reports per-round ratios and their medians.

    .venv/bin/python bench/ab.py --rounds 3 --duration 5 --workers 1 \
        ours=. before=/tmp/before-checkout

A variant is NAME=DIR (our server run as `python -m serving` from DIR) or `floor`. Needs
`make bench`'s models (bench/.work/models). Environment: BENCH_PORT as bench/run.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # bench/run.py: the same server commands, ports and process handling


def _variant(spec: str, workers: int, model: str) -> run.Server:
    folder = run.MODELS / model
    if spec == "floor":
        return run.floor_server(folder, workers)
    name, _, directory = spec.partition("=")
    server = run.our_server(folder, workers)
    return replace(server, name=name, cwd=Path(directory).resolve())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--model", default="small")
    parser.add_argument("--conns", default="32,1")
    parser.add_argument("variants", nargs="+")
    args = parser.parse_args()
    conns = [int(c) for c in args.conns.split(",")]
    specs = ["floor", *[v for v in args.variants if v != "floor"]]
    servers = [_variant(spec, args.workers, args.model) for spec in specs]
    table: dict[tuple[str, int], list[run.Measurement]] = {}
    print(f"load before: {run._loadavg()}", flush=True)
    for round_ in range(args.rounds):
        for server in servers:
            result = run.run_one(server, args.model, conns, f"ab{round_}")
            for measurement in result.runs:
                table.setdefault((server.name, measurement.connections), []).append(measurement)
    print(f"load after: {run._loadavg()}")
    floor = servers[0].name
    for c in conns:
        print(f"== {args.workers} worker(s), {c} connection(s), {args.model} model")
        for server in servers:
            runs = table[(server.name, c)]
            base = table[(floor, c)]
            rps = [m.rps / b.rps for m, b in zip(runs, base, strict=True)]
            p50 = [m.p50_us / b.p50_us for m, b in zip(runs, base, strict=True)]
            p99 = [m.p99_us / b.p99_us for m, b in zip(runs, base, strict=True)]
            print(
                f"  {server.name:10} req/s {[round(m.rps) for m in runs]} "
                f"p50 us {[m.p50_us for m in runs]} p99 us {[m.p99_us for m in runs]} "
                f"non-2xx {sum(m.non_2xx for m in runs)} | median x floor: "
                f"req/s {statistics.median(rps):.2f} p50 {statistics.median(p50):.2f} "
                f"p99 {statistics.median(p99):.2f}"
            )
    os.environ.pop("BENCH_BODY", None)


if __name__ == "__main__":
    main()
