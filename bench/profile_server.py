"""Where our server's time goes under load: py-spy samples while wrk runs.

`make bench-profile` (after `make bench` has built the models): starts our server exactly as
bench/run.py does, loads it with wrk, records py-spy's raw samples of the worker process into
bench/.work/profile-<tag>.txt, and prints the frames with the largest share of the samples,
inclusive and self. Also counts the garbage collector's work in the same run, from the server's own
`gc.callbacks`, through a wrapper that leaves serving/ untouched; PROFILE_GC_FREEZE=1 makes
the wrapper call `gc.collect(); gc.freeze()` once the server is ready, to see what moving the
start-up objects out of the collector's reach would change.

Environment: PROFILE_CONNECTIONS (default 32), PROFILE_BATCHING (on/off, default: the server's
default), PROFILE_MODEL (small/heavy, default small), PROFILE_SECONDS (default 8).
"""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # bench/run.py: the same server command, ports and process handling
from report import Measurement

PY_SPY = run.VENVS / "tools" / "bin" / "py-spy"
RATE = 500
# Runs `python -m serving` with a GC callback that writes totals per generation at exit.
GC_WRAPPER = """
import atexit, gc, json, os, runpy, sys, time
sys.path.insert(0, os.getcwd())
stats = {g: [0, 0.0, 0.0] for g in (0, 1, 2)}
start = {}
def on_gc(phase, info):
    g = info["generation"]
    if phase == "start":
        start[g] = time.perf_counter()
    else:
        ms = (time.perf_counter() - start[g]) * 1e3
        s = stats[g]
        s[0] += 1; s[1] += ms; s[2] = max(s[2], ms)
gc.callbacks.append(on_gc)
atexit.register(lambda: open(os.environ["PROFILE_GC_OUT"], "w").write(json.dumps(stats)))
if os.environ.get("PROFILE_GC_FREEZE") == "1":
    import threading, urllib.request
    def freeze_when_ready():
        url = f"http://127.0.0.1:{os.environ['SERVING_PORT']}/v2/health/ready"
        while True:
            try:
                if urllib.request.urlopen(url, timeout=1).status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        gc.collect()
        gc.freeze()
    threading.Thread(target=freeze_when_ready, daemon=True).start()
runpy.run_module("serving", run_name="__main__")
"""


def _summarise(raw: Path, top: int = 25) -> list[str]:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        if not line.strip():
            continue
        stack, count = line.rsplit(" ", 1)
        # The first frame is the thread (--threads). Sampling pauses the process for each
        # sample: --nonblocking is cheaper but mixes frames from different moments under load.
        frames = [
            re.sub(r":\d+\)$", ")", re.sub(r" \(/.*?/(site-packages|python3\.\d+)/", " (", f))
            for f in stack.split(";")[1:]
        ]
        for f in set(frames):
            inclusive[f] += int(count)
        if frames:
            own[frames[-1]] += int(count)
    # Shares of the samples, not absolute times: under heavy load py-spy drops some samples.
    total = max(sum(own.values()), 1)
    out = [f"{total} samples; % inclusive, % self, frame"]
    for frame, n in inclusive.most_common(top):
        out.append(f"{100 * n / total:6.1f} {100 * own[frame] / total:6.1f}  {frame}")
    return out


def main() -> None:
    conns = int(os.environ.get("PROFILE_CONNECTIONS", "32"))
    model = os.environ.get("PROFILE_MODEL", "small")
    seconds = int(os.environ.get("PROFILE_SECONDS", "8"))
    batching_env = os.environ.get("PROFILE_BATCHING")
    batching = None if batching_env is None else batching_env == "on"
    freeze = "-gc-freeze" if os.environ.get("PROFILE_GC_FREEZE") == "1" else ""
    tag = f"{model}-c{conns}-batching-{batching_env or 'default'}{freeze}"

    server = run.our_server(run.MODELS / model, 1, batching=batching)
    wrapper = run.WORK / "gc_wrapper.py"
    wrapper.write_text(GC_WRAPPER)
    gc_out = run.WORK / f"profile-{tag}-gc.json"
    server = replace(
        server,
        argv=[server.argv[0], str(wrapper)],
        env={
            **server.env,
            "PROFILE_GC_OUT": str(gc_out),
            "PROFILE_GC_FREEZE": os.environ.get("PROFILE_GC_FREEZE", "0"),
        },
    )
    raw = run.WORK / f"profile-{tag}.txt"
    running = run.Running(server, f"profile-{tag}")
    try:
        running.wait_ready()
        run.check_answer(model)
        run.run_wrk(model, 32, 2, running.proc.pid)
        result: dict[str, Measurement] = {}
        load = threading.Thread(
            target=lambda: result.update(m=run.run_wrk(model, conns, seconds + 2, running.proc.pid))
        )
        load.start()
        time.sleep(1)
        subprocess.run(
            [str(PY_SPY), "record", "--pid", str(running.proc.pid), "--duration", str(seconds),
             "--rate", str(RATE), "--format", "raw", "--threads", "--output", str(raw)],
            check=True, capture_output=True,
        )  # fmt: skip
        load.join()
    finally:
        running.stop()
    m = result["m"]
    print(f"{tag}: {m.rps:,.0f} req/s, p50 {m.p50_us / 1000:.2f} ms, p99 {m.p99_us / 1000:.2f} ms")
    print(f"server CPU {m.cpu_us_per_request:.0f} µs a request (user + system, whole run)")
    print("\n".join(_summarise(raw)))
    if gc_out.exists():
        stats = json.loads(gc_out.read_text())
        for gen, (count, total_ms, max_ms) in stats.items():
            print(
                f"gc generation {gen}: {count} collections, {total_ms:.0f} ms, max {max_ms:.1f} ms"
            )
    print(f"raw samples: {raw}")


if __name__ == "__main__":
    main()
