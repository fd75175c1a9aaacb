"""Run one step of a `make` target and never leave the terminal silent for long.

    python3 scripts/step.py "installing the program's lock" -- pip install ...

Prints `==> <label>` before the command and `<== <label>: ok in 12.3 s` (or the exit
status) after it, passes the command's output through as it comes, and prints a
`... <label>: still running (25 s)` line whenever the command has said nothing for
`STEP_HEARTBEAT_SECONDS` (default 5): pip's "Installing collected packages" and a cold
mypy run can each be quiet for a minute. Exits with the command's own status.

Standard library only: it runs before any virtualenv exists.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time

__all__ = ["main"]


def main(argv: list[str]) -> int:
    if "--" not in argv or argv.index("--") != 1 or len(argv) < 3:
        print("usage: step.py LABEL -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    label, command = argv[0], argv[2:]
    quiet_limit = float(os.environ.get("STEP_HEARTBEAT_SECONDS", "5"))
    out = sys.stdout.buffer
    print(f"==> {label}", flush=True)
    start = last = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    open_stream = True
    while open_stream:
        if not selector.select(timeout=0.5):
            now = time.monotonic()
            if now - last >= quiet_limit:
                out.write(f"... {label}: still running ({now - start:.0f} s)\n".encode())
                out.flush()
                last = now
            continue
        # Raw chunks, not lines: pytest's progress dots must show as they come.
        chunk = os.read(process.stdout.fileno(), 65536)
        if not chunk:
            open_stream = False
            continue
        out.write(chunk)
        out.flush()
        last = time.monotonic()
    code = process.wait()
    elapsed = time.monotonic() - start
    verdict = "ok" if code == 0 else f"failed (exit {code})"
    print(f"<== {label}: {verdict} in {elapsed:.1f} s", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
