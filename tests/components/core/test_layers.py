"""The pure core stands on its own: importing it never loads Pulumi or the shells above."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import components.core

_CORE_MODULES = sorted(
    info.name for info in pkgutil.walk_packages(components.core.__path__, "components.core.")
)


def test_the_core_has_modules_to_check() -> None:
    assert "components.core.config" in _CORE_MODULES
    assert "components.core.stackfile" in _CORE_MODULES
    assert len(_CORE_MODULES) >= 12


def test_importing_every_core_module_leaves_pulumi_unloaded() -> None:
    # A fresh interpreter: this test process has Pulumi loaded by other tests already.
    probe = (
        "import importlib, sys\n"
        f"for name in {_CORE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pulumi', 'pulumi_aws', 'pulumi_eks', 'pulumi_kubernetes') "
        "or m in ('components.config', 'components.testing') "
        "or (m.startswith('components.') and not m.startswith('components.core')))\n"
        "print(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]", result.stdout
