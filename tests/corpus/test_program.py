"""The Pulumi program itself: it refuses a mistake before registering anything, with the
stack's region and name in play, and the tag budget the config allows is the real one."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.config import ConfigError
from components.core import limits
from components.testing import PlatformMocks, run_stack
from tests.conftest import CONFIG_KEY, ROOT, raw_stack_config


def _run(stack: str, raw: dict[str, Any], kit: PlatformMocks) -> None:
    run_stack(stack, project_dir=ROOT, mocks=kit, config={CONFIG_KEY: raw})


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (("service", "cpuRequest", "500"), "service.cpuRequest: '500' is 500 CPU cores"),
        (("environment", None, "dev"), "environment: 'dev', but the stack 'prod'"),
        (
            ("service", "tlsCertificateArn", "arn:aws:acm:eu-west-1:123456789012:certificate/x"),
            "service.tlsCertificateArn: the certificate is in eu-west-1",
        ),
    ],
)
def test_a_mistake_stops_the_program_before_the_first_resource(
    change: tuple[str, str | None, str], named: str
) -> None:
    """The program validates the whole config, with `aws:region` and the stack's name,
    before `Platform` registers anything: a real `pulumi up` creates nothing."""
    raw = copy.deepcopy(raw_stack_config("prod"))
    section, key, value = change
    if key is None:
        raw[section] = value
    else:
        raw[section][key] = value
    kit = PlatformMocks(region="us-west-2")
    with pytest.raises(ConfigError) as info:
        _run("prod", raw, kit)
    assert named in str(info.value)
    assert kit.registrations == []


def test_the_program_adds_at_most_program_tags_to_any_resource() -> None:
    """`limits.PROGRAM_TAGS` is the most tags the dev stack's program adds to one resource
    beside the user's: the config's 50-tag budget counts exactly these."""
    raw = raw_stack_config("dev")
    run = run_stack("dev", project_dir=ROOT)
    added = [
        len(set(tags) - set(raw["tags"]))
        for r in run.resources
        if isinstance(tags := r.inputs.get("tags"), dict)
    ]
    assert max(added) == limits.PROGRAM_TAGS
