"""The mistakes corpus: how many realistic mistakes are caught offline, naming
the key or the value, and whether every valid variation is accepted.

A mistake is caught when the stack config refuses it (`read_stack_file(...).platform()`,
what `make preview`, `make manifests` and `make preflight` all start with, with the
stack's region and name) or when `make preflight` fails a check, under moto, with the
one ready account `moto_account.py` builds (stubbing only what moto lacks: quota values,
EKS DescribeAddonVersions and the public /aws/service/eks SSM parameters). Either way the
message must contain the key path or the bad value the case names. A valid config must
pass both. The rate is printed at the end of the run (`conftest.py`), `-s` or not.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from components.core.config import ConfigError, parse_stack_config
from components.core.stackfile import read_stack_file
from tests.components.offline.moto_account import REGION, Account, ready_account
from tests.conftest import ROOT, raw_stack_config
from tests.corpus.cases import DELETE, MISTAKES, VALID, Case
from tests.corpus.conftest import REPORT

#: Keys of mappings whose own keys may contain dots (tag keys, label keys).
_FREE_KEYS = ("tags", "labels")


def patched(case: Case, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    raw = copy.deepcopy(raw_stack_config(case.base))
    for path, value in case.patch.items():
        parts = path.split(".")
        node = raw
        index = 0
        while index < len(parts) - 1:
            key = parts[index]
            if key in _FREE_KEYS:
                break
            node = node.setdefault(key, {})
            index += 1
        if parts[index] in _FREE_KEYS and index < len(parts) - 1:
            node = node.setdefault(parts[index], {})
            leaf = ".".join(parts[index + 1 :])
        else:
            leaf = parts[index]
        if value is DELETE:
            node.pop(leaf, None)
        elif isinstance(value, str) and value.startswith("@"):
            node[leaf] = (extra or {})[value[1:]]
        else:
            node[leaf] = value
    return raw


def _stack_dir(tmp: Path, case: Case, raw: dict[str, Any] | None) -> Path:
    """The project folder as the CLI sees it: Pulumi.yaml and Pulumi.<stack>.yaml."""
    stack = case.stack or case.base
    folder = tmp / "project"
    folder.mkdir(exist_ok=True)
    (folder / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    text = case.yaml_text
    if text is None:
        document = {"config": {"aws:region": "us-west-2", "mlops-platform:platform": raw}}
        text = json.dumps(document)
    (folder / f"Pulumi.{stack}.yaml").write_text(text)
    return folder


def _config_stage(case: Case, tmp: Path) -> tuple[str, str] | None:
    """The stack file's refusal, or None when it is accepted (or needs the account first)."""
    if any(isinstance(v, str) and v.startswith("@") for v in case.patch.values()):
        return None
    try:
        read_stack_file(_stack_dir(tmp, case, patched(case)), case.stack or case.base).platform()
    except ConfigError as exc:
        return "config", str(exc)
    return None


def _preflight_stage(case: Case, tmp: Path, account: Account) -> tuple[str, str]:
    if case.account is not None:
        case.account(account)
    try:
        config = read_stack_file(
            _stack_dir(tmp, case, patched(case, account.extra)), case.stack or case.base
        ).platform()
    except ConfigError as exc:
        return "config", str(exc)
    failures = [c for c in account.run(config) if c.status == "fail"]
    if failures:
        return "preflight", "\n".join(f"{c.name}: {c.detail}" for c in failures)
    return "accepted", ""


def _account(case: Case, tmp: Path) -> AbstractContextManager[Account]:
    stack = case.stack or case.base
    base = parse_stack_config(raw_stack_config(case.base), region=REGION, stack=case.base)
    return ready_account(base, stack, tmp)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """Every case's outcome. Cases that leave the account as it is share one ready
    account per (base, stack); a case that changes the account gets a fresh one."""
    out: dict[str, tuple[str, str]] = {}
    shared: dict[tuple[str, str], list[Case]] = {}
    for case in [*MISTAKES, *VALID]:
        folder = tmp_path_factory.mktemp(case.id)
        refused = _config_stage(case, folder)
        if refused is not None:
            out[case.id] = refused
        elif case.account is None:
            shared.setdefault((case.base, case.stack or case.base), []).append(case)
        else:
            with _account(case, tmp_path_factory.mktemp("charts")) as account:
                out[case.id] = _preflight_stage(case, folder, account)
    for cases in shared.values():
        with _account(cases[0], tmp_path_factory.mktemp("charts")) as account:
            for case in cases:
                out[case.id] = _preflight_stage(case, tmp_path_factory.mktemp(case.id), account)
    return out


def test_the_corpus_is_big_enough_and_covers_every_family() -> None:
    families = Counter(case.family for case in MISTAKES)
    assert len(MISTAKES) >= 80 and len(VALID) >= 20
    assert set(families) == {"aws", "k8s", "cross", "versions", "account", "messages"}
    assert len({case.id for case in [*MISTAKES, *VALID]}) == len(MISTAKES) + len(VALID)
    assert all(case.deploy for case in [*MISTAKES, *VALID])


def test_mistakes_are_caught_naming_the_key_or_value(
    results: dict[str, tuple[str, str]], pytestconfig: pytest.Config
) -> None:
    caught = {
        c.id for c in MISTAKES if results[c.id][0] != "accepted" and c.names in results[c.id][1]
    }
    by_family: dict[str, list[int]] = {}
    for case in MISTAKES:
        tally = by_family.setdefault(case.family, [0, 0])
        tally[1] += 1
        tally[0] += case.id in caught
    valid_ok = sum(results[c.id][0] == "accepted" for c in VALID)
    missed = [
        f"{c.id}: {results[c.id][0]}: {results[c.id][1][:300]}"
        for c in MISTAKES
        if c.id not in caught
    ]
    refused = [f"{c.id}: {results[c.id][1][:300]}" for c in VALID if results[c.id][0] != "accepted"]
    layers = Counter(results[c.id][0] for c in MISTAKES if c.id in caught)
    pytestconfig.stash[REPORT] = {
        "caught": len(caught),
        "mistakes": len(MISTAKES),
        "valid_ok": valid_ok,
        "valid": len(VALID),
        "families": by_family,
        "layers": dict(layers),
        "missed": missed,
        "refused": refused,
    }
    assert len(caught) / len(MISTAKES) >= 0.95, "\n".join(missed)
    assert not refused, "\n".join(refused)
