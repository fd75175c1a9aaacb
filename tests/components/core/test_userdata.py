"""User data: which pools get any, and the exact documents (pinned by golden files).

Regenerate the golden files after an intended change with `UPDATE_GOLDEN=1 pytest ...`
and review the diff.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from components.core import userdata
from components.core.userdata import KubeletSettings

GOLDEN = Path(__file__).parent / "golden"

CASES = {
    "al2023-spot-cpu.mime": ("al2023", "SPOT", "none"),
    "al2023-on-demand-gpu.mime": ("al2023", "ON_DEMAND", "nvidia"),
    "al2023-spot-gpu.mime": ("al2023", "SPOT", "nvidia"),
    "bottlerocket-spot-cpu.toml": ("bottlerocket", "SPOT", "none"),
    "bottlerocket-spot-gpu.toml": ("bottlerocket", "SPOT", "nvidia"),
}


@pytest.mark.parametrize("golden", sorted(CASES))
def test_rendered_user_data_matches_golden_file(golden: str) -> None:
    os_name, capacity, accelerator = CASES[golden]
    document = userdata.render_user_data(
        os_name, userdata.kubelet_settings_for(capacity_type=capacity, accelerator=accelerator)
    )
    assert document is not None
    path = GOLDEN / golden
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(document)
    assert document == path.read_text()


@pytest.mark.parametrize("os_name", ["al2023", "bottlerocket"])
def test_on_demand_cpu_pool_gets_no_user_data(os_name: str) -> None:
    settings = userdata.kubelet_settings_for(capacity_type="ON_DEMAND", accelerator="none")
    assert settings.is_default
    assert userdata.render_user_data(os_name, settings) is None


def test_spot_pools_shut_down_gracefully_and_gpu_pools_collect_images_early() -> None:
    spot = userdata.kubelet_settings_for(capacity_type="SPOT", accelerator="none")
    assert spot.shutdown_grace_period_seconds == 60
    assert spot.image_gc_high_threshold_percent is None
    gpu = userdata.kubelet_settings_for(capacity_type="ON_DEMAND", accelerator="nvidia")
    assert gpu.shutdown_grace_period_seconds is None
    assert gpu.image_gc_high_threshold_percent == 75


def test_al2023_document_is_a_mime_multipart_nodeconfig() -> None:
    document = userdata.render_user_data(
        "al2023", KubeletSettings(shutdown_grace_period_seconds=30)
    )
    assert document is not None
    assert f'boundary="{userdata.MIME_BOUNDARY}"' in document
    assert "Content-Type: application/node.eks.aws" in document
    assert "kind: NodeConfig" in document
    assert document.rstrip().endswith(f"--{userdata.MIME_BOUNDARY}--")


def test_unknown_os_is_refused() -> None:
    with pytest.raises(ValueError, match="al2"):
        userdata.render_user_data("al2", KubeletSettings(shutdown_grace_period_seconds=30))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"shutdown_grace_period_critical_pods_seconds": 10},
        {"shutdown_grace_period_seconds": 10, "shutdown_grace_period_critical_pods_seconds": 10},
        {"image_gc_high_threshold_percent": 80},
        {"image_gc_high_threshold_percent": 50, "image_gc_low_threshold_percent": 60},
    ],
)
def test_inconsistent_settings_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        KubeletSettings(**kwargs)


def test_encode_is_base64_of_the_document() -> None:
    assert base64.b64decode(userdata.encode("a: b\n")).decode() == "a: b\n"
