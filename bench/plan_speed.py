"""Wall time of the prod offline plan beside the time of only importing the SDKs.

    .venv/bin/python bench/plan_speed.py [--repeat 5] [--stack prod]

Each measurement is a fresh interpreter (`python -c ...` / `python -m ...`), run
`--repeat` times, interleaved so that machine load hits both alike; the median is
reported. Target: plan <= 1.5 x the import floor. Not a test: timings
depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOOR = "import pulumi, pulumi_aws, pulumi_eks, pulumi_kubernetes"
# What the program really loads: pulumi_aws loads a submodule lazily, on first attribute
# access, and its ec2 module alone takes most of the plan's time.
USED = FLOOR + "; pulumi_aws.ec2.Vpc, pulumi_aws.iam.Role, pulumi_aws.cloudwatch.LogGroup"


def _time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--stack", default="prod")
    args = parser.parse_args()
    python = sys.executable
    samples: dict[str, list[float]] = {"floor": [], "used": [], "plan": []}
    with tempfile.TemporaryDirectory() as out:
        plan = [python, "-m", "components.offline.preview", "--stack", args.stack, "--out", out]
        _time(plan)  # warm the OS file cache and __pycache__ once
        for _ in range(args.repeat):
            samples["floor"].append(_time([python, "-c", FLOOR]))
            samples["used"].append(_time([python, "-c", USED]))
            samples["plan"].append(_time(plan))
    floor = statistics.median(samples["floor"])
    used = statistics.median(samples["used"])
    took = statistics.median(samples["plan"])
    print(f"median of {args.repeat} fresh interpreters each, {sys.version.split()[0]}")
    print(f"  import floor ({FLOOR}): {floor:.3f} s")
    print(f"  import of the SDK modules the program uses: {used:.3f} s")
    print(f"  offline plan of {args.stack} (python -m components.offline.preview): {took:.3f} s")
    print(f"  plan / import floor: {took / floor:.2f} x (target <= 1.5 x)")
    print(f"  plan / SDK modules used: {took / used:.2f} x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
