"""The wheel as a consumer gets it: built, installed into a fresh venv extra by extra, and
used there: the examples' tests pass, mypy sees our types, `mlops-serve` explains a
missing extra.

The fresh venv first holds the wheel alone (no dependencies): `mlops-serve` must explain
the missing extra with the standard library only. Then the test toolchain's site-packages
(`make test`'s `.venv`, installed from requirements-dev.lock) is appended to its path
with a `.pth` file, after its own, and each extra is installed with `pip install
--no-index --find-links <wheel dir> "mlops-platform[<extra>]"`: pip resolves the wheel's
declared requirements of that extra offline against what is there, and fails on any it
cannot satisfy. So the dependency metadata is checked for real, while the heavy packages
(the AWS SDK is 270 MB) are not unpacked once more. The installs from the registry into
an empty venv are measured in the README (`make preview` on a fresh clone).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

PIP_TIMEOUT = 600


def _run(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (
        f"{result.args}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result.stdout


def _site_packages(python: str | Path) -> Path:
    out = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the sources (no build/ or egg-info in the checkout)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("components", "serving"):
        shutil.copytree(ROOT / package, src / package, ignore=ignore)
    out = tmp_path_factory.mktemp("dist")
    _ok(
        _run(
            sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", out, src,
            cwd=src, timeout=PIP_TIMEOUT,
        )
    )  # fmt: skip
    (found,) = out.glob("mlops_platform-*.whl")
    return found


def test_the_wheel_works_for_each_extra(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _ok(_run(sys.executable, "-m", "venv", venv, cwd=tmp_path))
    python = venv / "bin" / "python"
    pip: list[str | Path] = [python, "-m", "pip", "install", "--disable-pip-version-check"]
    work = tmp_path / "work"  # not the checkout: nothing may import from it
    work.mkdir()

    # The wheel alone: py.typed and the data files ship, mlops-serve explains.
    _ok(_run(*pip, "--no-deps", wheel, cwd=work))
    site = _site_packages(python)
    assert (site / "components" / "py.typed").is_file()
    assert (site / "serving" / "py.typed").is_file()
    assert (site / "components" / "core" / "data" / "prices.json").is_file()
    serve = _run(venv / "bin" / "mlops-serve", cwd=work)
    assert serve.returncode == 5, serve.stderr
    assert "pip install 'mlops-platform[serving]'" in serve.stderr
    assert "Traceback" not in serve.stderr

    # The toolchain's packages behind the venv's own; each extra resolved offline.
    (site / "zz_toolchain.pth").write_text(f"{_site_packages(sys.executable)}\n")
    offline: list[str | Path] = ["--no-index", "--find-links", wheel.parent]
    for extra in ("", "[testing]", "[serving]"):
        _ok(_run(*pip, *offline, f"mlops-platform{extra}", cwd=work))
    # The examples' own requirements, with pytest resolved from the toolchain.
    for example in ("consumer", "second-model"):
        requirements = ROOT / "examples" / example / "requirements.txt"
        _ok(_run(*pip, *offline, "-r", requirements, cwd=work))
    imports = "import components.platform, serving.app; print(components.__file__)"
    where = _ok(_run(python, "-c", imports, cwd=work))
    assert Path(where.strip()).is_relative_to(site), where

    (work / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    result = _run(
        python, "-m", "pytest", "-q", "-c", work / "pytest.ini", "--rootdir", work,
        ROOT / "examples" / "consumer", ROOT / "examples" / "second-model",
        cwd=work,
    )  # fmt: skip
    out = _ok(result)
    assert re.search(r"\b6 passed\b", out), out

    # mypy --strict in the consumer's venv sees our types (py.typed), not Any.
    probe = work / "probe.py"
    probe.write_text(
        "from components.testing import PlatformMocks\n\n"
        "region: int = PlatformMocks(region='eu-west-1').region\n"
    )
    (work / "mypy.ini").write_text(
        "[mypy]\nstrict = True\n"
        "[mypy-pulumi.*,pulumi_aws.*,pulumi_eks.*,pulumi_kubernetes.*,moto.*,boto3.*,yaml.*]\n"
        "follow_imports = skip\n"
    )
    checked = _run(
        sys.executable, "-m", "mypy", "--config-file", work / "mypy.ini",
        "--python-executable", python, "--cache-dir", tmp_path / "mypy-cache", probe,
        cwd=work,
    )  # fmt: skip
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert 'expression has type "str", variable has type "int"' in checked.stdout
    assert "missing library stubs or py.typed" not in checked.stdout

    # With [serving] the script reaches the server, which checks its settings (exit 2).
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVING_")}
    serve = _run(venv / "bin" / "mlops-serve", cwd=work, env=env)
    assert serve.returncode == 2, serve.stderr
    assert "SERVING_MODEL_REPOSITORY" in serve.stderr
