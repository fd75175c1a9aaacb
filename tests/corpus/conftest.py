"""Prints the mistakes corpus's catch rate at the end of the run, whether or not `-s`."""

from __future__ import annotations

from typing import Any

import pytest

REPORT = pytest.StashKey[dict[str, Any]]()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    report = config.stash.get(REPORT, None)
    if report is None:
        return
    write = terminalreporter.write_line
    terminalreporter.section("mistakes corpus")
    rate = report["caught"] / report["mistakes"]
    write(
        f"caught {report['caught']}/{report['mistakes']} mistakes ({rate:.1%}) naming the key "
        f"or value; valid configs accepted {report['valid_ok']}/{report['valid']}"
    )
    write("by layer: " + ", ".join(f"{k} {v}" for k, v in sorted(report["layers"].items())))
    for family, (caught, total) in sorted(report["families"].items()):
        write(f"  {family:<9} {caught}/{total}")
    for line in report["missed"]:
        write(f"  missed: {line}")
    for line in report["refused"]:
        write(f"  refused valid: {line}")
