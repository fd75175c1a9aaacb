"""scripts/step.py: the make steps say what they run, are never silent, keep the exit code."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def test_a_quiet_command_gets_still_running_lines_and_keeps_its_exit_code() -> None:
    command = "import sys, time; print('a', flush=True); time.sleep(1.6); sys.exit(3)"
    result = subprocess.run(
        [sys.executable, ROOT / "scripts" / "step.py", "demo", "--", sys.executable, "-c", command],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "STEP_HEARTBEAT_SECONDS": "0.5"},
    )
    assert result.returncode == 3
    lines = result.stdout.splitlines()
    assert lines[0] == "==> demo" and lines[1] == "a"
    assert sum(line.startswith("... demo: still running") for line in lines) >= 2
    assert lines[-1].startswith("<== demo: failed (exit 3) in ")
