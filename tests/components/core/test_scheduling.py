"""The pure scheduling decisions: which pool cluster services run on, and how."""

from __future__ import annotations

from typing import Any

from components.config import NodePoolConfig
from components.core.scheduling import placement_values, pool_scheduling, system_pool


def pool(capacity: str = "ON_DEMAND", role: str | None = None, **extra: Any) -> NodePoolConfig:
    return NodePoolConfig.model_validate(
        {
            "instanceTypes": ["m7i.large"],
            "capacityType": capacity,
            "releaseVersion": "1.35.7-20260827",
            "minSize": 1,
            "desiredSize": 1,
            "maxSize": 2,
            "labels": {"mlops.dev/pool-role": role} if role else {},
            **extra,
        }
    )


def gpu_pool() -> NodePoolConfig:
    return pool(instanceTypes=["g6.xlarge"], accelerator="nvidia")


def test_the_pool_labelled_system_wins_wherever_it_is() -> None:
    pools = {"cpu": pool(), "infra": pool(role="system"), "spot": pool("SPOT")}
    assert system_pool(pools) == "infra"


def test_without_a_label_the_first_on_demand_cpu_pool() -> None:
    pools = {"spot": pool("SPOT"), "gpu": gpu_pool(), "cpu": pool(), "cpu2": pool()}
    assert system_pool(pools) == "cpu"


def test_never_a_spot_or_gpu_pool() -> None:
    assert system_pool({"spot": pool("SPOT"), "gpu": gpu_pool()}) is None


def test_placement_values_pin_to_the_pool_and_tolerate_its_taints() -> None:
    values = placement_values(pool_scheduling("gpu", gpu_pool()))
    assert values["nodeSelector"] == {"mlops.dev/pool": "gpu"}
    assert values["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
    ]
    assert placement_values(None) == {}
