"""The instance catalog: facts per EC2 type from data/instances.json, EC2's own type list."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest
from botocore.loaders import Loader

from components.core import catalog
from components.core.catalog import InstanceInfo, instance_info, known_instance_type

DATA = json.loads((resources.files("components.core.data") / "instances.json").read_text())


def test_the_file_is_dated_and_names_its_sources() -> None:
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", DATA["date"])
    assert DATA["generatedBy"].startswith("scripts/gen_catalog.py")
    assert DATA["sources"]
    for source in DATA["sources"].values():
        if "commit" in source:  # a public snapshot: repository, file, commit and its date
            assert re.fullmatch(r"[0-9a-f]{40}", source["commit"])
            assert source["repo"] and source["path"] and source["commitDate"]
    assert set(DATA["fields"]) >= {"vcpus", "memoryMib", "architecture", "gpus", "maxEnis"}
    assert catalog.instance_data().date == DATA["date"]


def test_facts_of_known_types() -> None:
    # Published on the EC2 instance type pages.
    assert instance_info("t3.medium") == InstanceInfo(
        instance_type="t3.medium",
        vcpus=2,
        memory_mib=4096,
        architecture="x86_64",
        gpus=0,
        accelerator="none",
        accelerator_name=None,
        accelerator_count=0,
        max_enis=3,
        ipv4_per_eni=6,
    )
    p5 = instance_info("p5.48xlarge")
    assert p5 is not None
    assert (p5.vcpus, p5.memory_gib, p5.gpus, p5.accelerator) == (192, 2048, 8, "nvidia")
    assert p5.accelerator_name == "h100"
    g5g = instance_info("g5g.xlarge")
    assert g5g is not None and (g5g.architecture, g5g.accelerator, g5g.gpus) == (
        "arm64",
        "nvidia",
        1,
    )
    inf2 = instance_info("inf2.xlarge")
    assert inf2 is not None and (inf2.accelerator, inf2.gpus, inf2.accelerator_count) == (
        "neuron",
        0,
        1,
    )
    trn1 = instance_info("trn1.32xlarge")
    assert trn1 is not None and trn1.accelerator == "neuron"
    assert instance_info("no.such") is None


@pytest.mark.parametrize(
    ("instance_type", "max_pods"),
    # awslabs/amazon-eks-ami templates/shared/runtime/eni-max-pods.txt (last version,
    # 2026-03-18, before nodeadm computed it from instance-info.jsonl).
    [
        ("t3.medium", 17),
        ("m5.large", 29),
        ("g5.xlarge", 58),
        ("m7g.medium", 8),
        ("c5.18xlarge", 737),
        ("c7g.16xlarge", 737),
        ("m7i.48xlarge", 737),
        ("p4d.24xlarge", 737),
        ("p5.48xlarge", 100),
    ],
)
def test_max_pods_matches_the_eks_ami(instance_type: str, max_pods: int) -> None:
    info = instance_info(instance_type)
    assert info is not None
    assert info.max_pods == max_pods


def test_the_catalog_covers_current_families_and_sizes() -> None:
    families = {catalog.instance_family(t) for t in DATA["instanceTypes"]}
    current = {"c7g", "m7g", "r7g", "c8g", "m8g", "r8g", "c7i", "m7i", "r7i", "c7a", "m7a"}
    accelerated = {"g5", "g5g", "g6", "g6e", "p4d", "p5", "p5e", "inf2", "trn1"}
    assert current | accelerated <= families
    sizes = {t.split(".", 1)[1] for t in DATA["instanceTypes"]}
    assert {"medium", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge", "metal"} <= sizes
    assert len(DATA["instanceTypes"]) > 1000


def test_every_entry_is_a_type_ec2_knows_with_sane_facts() -> None:
    ec2 = set(Loader().load_service_model("ec2", "service-2")["shapes"]["InstanceType"]["enum"])
    for name, row in DATA["instanceTypes"].items():
        assert name in ec2, name
        assert known_instance_type(name)
        assert row["vcpus"] >= 1 and row["memoryMib"] >= 512, name
        assert row["architecture"] in ("x86_64", "arm64"), name
        assert row["maxEnis"] >= 1 and row["ipv4PerEni"] >= 2, name
        if row["accelerator"] == "none":
            assert row["gpus"] == 0 and row["acceleratorName"] is None, name
        else:
            assert row["acceleratorName"], name
    assert not known_instance_type("m7g.huge")


def test_legacy_tables_are_views_of_the_file() -> None:
    assert catalog.GPUS_PER_INSTANCE["g6e.48xlarge"] == 8
    assert catalog.INSTANCE_SIZES["m7g.medium"].memory_mib == 4096
    assert catalog.INSTANCE_SIZES["r8g.8xlarge"].vcpus == 32
    assert catalog.INSTANCE_FAMILIES["c8g"].architecture == "arm64"
    assert catalog.INSTANCE_FAMILIES["g6e"].gpu_model == "L40S"
    assert set(catalog.INSTANCE_SIZES) == set(DATA["instanceTypes"])
