"""`make preview`: the offline plan prints the tree and counts, and refuses bad configs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components.offline.preview import count_by_type, main, render_tree
from components.testing import run_stack
from tests.conftest import ROOT


def test_dev_preview_prints_the_tree_and_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "dev", "--project-dir", str(ROOT)]) == 0
    out = capsys.readouterr().out
    assert "└─ platform  (mlops:platform:Platform)" in out
    assert "network-private-us-west-2a  (aws:ec2/subnet:Subnet)" in out
    assert "aws:ec2/natGateway:NatGateway" in out


def test_tree_nests_children_under_their_component_and_is_stable() -> None:
    run = run_stack("prod", project_dir=ROOT)
    tree = render_tree(run.resources)
    lines = tree.splitlines()
    network = next(i for i, line in enumerate(lines) if "(mlops:network:Network)" in line)
    vpc = next(i for i, line in enumerate(lines) if "(aws:ec2/vpc:Vpc)" in line)
    assert vpc > network
    indent = len(lines[vpc]) - len(lines[vpc].lstrip("│ "))
    assert indent > len(lines[network]) - len(lines[network].lstrip("│ "))
    assert render_tree(list(reversed(run.resources))) == tree
    counts = dict(count_by_type(run.resources))
    assert counts["aws:ec2/natGateway:NatGateway"] == 3


def test_bad_config_exits_2_with_the_key_path_and_no_traceback(tmp_path: Path) -> None:
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    text = (
        (ROOT / "Pulumi.dev.yaml").read_text().replace("natStrategy: single", "natStrategy: often")
    )
    (tmp_path / "Pulumi.dev.yaml").write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "components.offline.preview", "--project-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 2
    assert "mlops-platform:platform.network.natStrategy" in result.stderr
    assert "'often'" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
