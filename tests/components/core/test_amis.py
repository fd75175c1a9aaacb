"""AMI type and release version: pure decisions, no Pulumi."""

from __future__ import annotations

import itertools

import pytest

from components.core import amis


@pytest.mark.parametrize(
    ("os", "arch", "accelerator", "expected"),
    [
        ("al2023", "x86_64", "none", "AL2023_x86_64_STANDARD"),
        ("al2023", "arm64", "none", "AL2023_ARM_64_STANDARD"),
        ("al2023", "x86_64", "nvidia", "AL2023_x86_64_NVIDIA"),
        ("al2023", "arm64", "nvidia", "AL2023_ARM_64_NVIDIA"),
        ("bottlerocket", "x86_64", "none", "BOTTLEROCKET_x86_64"),
        ("bottlerocket", "arm64", "none", "BOTTLEROCKET_ARM_64"),
        ("bottlerocket", "x86_64", "nvidia", "BOTTLEROCKET_x86_64_NVIDIA"),
        ("bottlerocket", "arm64", "nvidia", "BOTTLEROCKET_ARM_64_NVIDIA"),
    ],
)
def test_ami_type_for_every_combination(
    os: str, arch: str, accelerator: str, expected: str
) -> None:
    assert amis.ami_type(os, arch, accelerator) == expected


def test_every_nvidia_ami_type_is_an_nvidia_image_and_no_cpu_one_is() -> None:
    for os, arch, accelerator in itertools.product(
        ("al2023", "bottlerocket"), ("x86_64", "arm64"), ("none", "nvidia")
    ):
        assert ("NVIDIA" in amis.ami_type(os, arch, accelerator)) == (accelerator == "nvidia")


def test_unknown_combination_names_the_values() -> None:
    with pytest.raises(ValueError, match=r"os='al2'.*accelerator='nvidia'"):
        amis.ami_type("al2", "x86_64", "nvidia")


def test_only_bottlerocket_nvidia_runs_the_device_plugin_itself() -> None:
    assert amis.runs_nvidia_device_plugin("bottlerocket", "nvidia")
    assert not amis.runs_nvidia_device_plugin("al2023", "nvidia")
    assert not amis.runs_nvidia_device_plugin("bottlerocket", "none")


def test_image_volume_device_per_os() -> None:
    assert amis.data_volume_device("al2023") == "/dev/xvda"
    assert amis.data_volume_device("bottlerocket") == "/dev/xvdb"
    # Bottlerocket's OS lives on a second volume the launch template must map too.
    assert amis.os_volume_device("bottlerocket") == "/dev/xvda"
    assert amis.os_volume_device("al2023") is None


def test_release_version_accepted_when_it_matches_the_cluster() -> None:
    assert amis.check_release_version("al2023", "1.35", "1.35.7-20260827") == "1.35.7-20260827"
    assert amis.check_release_version("bottlerocket", "1.35", "1.50.0-1a2b3c4d") == (
        "1.50.0-1a2b3c4d"
    )


@pytest.mark.parametrize(
    ("os", "release", "message"),
    [
        ("al2023", "1.34.2-20260101", "for Kubernetes 1.34, but the cluster runs 1.35"),
        ("al2023", "latest", "not an AL2023 EKS AMI release version"),
        ("al2023", "1.35.7", "not an AL2023 EKS AMI release version"),
        ("bottlerocket", "v1.50.0", "not a Bottlerocket release version"),
    ],
)
def test_release_version_refused(os: str, release: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        amis.check_release_version(os, "1.35", release)
