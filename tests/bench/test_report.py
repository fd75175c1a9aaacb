"""bench/report.py: wrk's summary is read right and the issue's targets are judged right.

bench/ is a folder of scripts run by hand (`make bench`), not a package, so the module is loaded
from its path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest


def _load() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "report.py"
    spec = importlib.util.spec_from_file_location("bench_report", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


if TYPE_CHECKING:
    import report  # bench/report.py: mypy checks bench/ as top-level modules, as its scripts run
else:
    report = _load()

WRK_STDOUT = """Running 10s test @ http://127.0.0.1:8080/v2/models/bench/infer
  1 threads and 32 connections
BENCH_JSON {"requests": 50000, "duration_us": 10000000, "bytes": 1, "p50_us": 4000, \
"p90_us": 5000, "p99_us": 9000, "max_us": 20000, "mean_us": 4100.0, "non_2xx": 3, \
"connect_errors": 1, "read_errors": 0, "write_errors": 0, "timeouts": 2}
"""


def test_parse_wrk_reads_the_lua_summary() -> None:
    m = report.parse_wrk(WRK_STDOUT, connections=32)
    assert m.rps == pytest.approx(5000.0)
    assert (m.p50_us, m.p99_us, m.non_2xx, m.socket_errors) == (4000, 9000, 3, 3)
    assert m.connections == 32


def test_parse_wrk_without_the_summary_says_so() -> None:
    with pytest.raises(ValueError, match="BENCH_JSON"):
        report.parse_wrk("Running 10s test\n", connections=1)


def _m(conns: int, rps: float, p50_ms: float, p99_ms: float) -> report.Measurement:
    return report.Measurement(
        connections=conns,
        requests=int(rps * 10),
        duration_us=10_000_000,
        p50_us=int(p50_ms * 1000),
        p99_us=int(p99_ms * 1000),
        non_2xx=0,
        socket_errors=0,
    )


def _r(
    server: str, workers: int, rps: float, p99: float, rss_mib: int, peer: bool = False
) -> report.Result:
    return report.Result(
        server=server,
        workers=workers,
        peer=peer,
        command="cmd",
        settings="s",
        rss_bytes=rss_mib * 2**20 * workers,
        runs=(_m(32, rps * 0.9, 5, p99 * 1.2), _m(32, rps, 5, p99), _m(1, rps / 2, 0.2, 1)),
    )


def _checks(ours_rps: float, batching: dict[str, tuple[float, float]]) -> dict[str, bool]:
    results = [
        _r("floor", 2, 10_000, 10, 80),
        _r("ours", 2, ours_rps, 12, 100),
        _r("kserve", 2, 1_000, 90, 200, peer=True),
        # One process without workers: it still counts as a peer against two workers.
        _r("mlserver", 1, 2_000, 200, 200, peer=True),
    ]
    checks = report.check_targets(results, ours="ours", floor="floor", batching=batching)
    return {c.target: c.ok for c in checks}


def test_targets_pass_at_the_thresholds_and_name_the_best_peer() -> None:
    ok = _checks(8_500, {"heavy": (150, 100), "small": (90, 100)})
    assert all(ok.values()), ok
    assert "2 workers, 32 conns: req/s ≥ 3 × the best peer's (mlserver)" in ok
    assert len(ok) == 8


def test_targets_fail_just_below_the_thresholds() -> None:
    ok = _checks(5_900, {"heavy": (149, 100), "small": (89, 100)})
    assert not ok["2 workers, 32 conns: req/s ≥ 85% of the floor's"]
    assert not ok["2 workers, 32 conns: req/s ≥ 3 × the best peer's (mlserver)"]
    assert not ok["heavy model, one-row requests: rows/s with batching ≥ 1.5 × without"]
    assert not ok["small model: batching costs ≤ 10% (rows/s on ≥ 0.9 × off)"]


def test_best_of_the_repeats_is_reported() -> None:
    res = _r("floor", 1, 10_000, 10, 80)
    at_32, at_1 = res.best(32), res.best(1)
    assert at_32 is not None and at_32.rps == pytest.approx(10_000)
    assert at_1 is not None and at_1.rps == pytest.approx(5_000)


def test_markdown_marks_failures() -> None:
    results = [_r("floor", 1, 10_000, 10, 80), _r("ours", 1, 1_000, 50, 100)]
    checks = report.check_targets(results, ours="ours", floor="floor", batching={})
    text = report.render_markdown(
        results=results,
        checks=checks,
        ours="ours",
        floor="floor",
        batching_rows=[],
        header=["machine"],
        wrk_command="wrk",
        versions={"main": "numpy==2"},
    )
    assert "| **ours** | 1 | 32 | 1,000 |" in text
    assert "**FAIL**" in text
    assert "numpy==2" in text
