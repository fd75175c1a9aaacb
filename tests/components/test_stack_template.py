"""`pulumi new` from this repository: the template's questions and the stack they make."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from components.config import ConfigError
from components.testing import run_stack
from tests.conftest import ROOT

ANSWERS = {
    "aws:region": "us-west-2",
    "mlops-platform:clusterName": "team-a",
    "mlops-platform:adminRoleArn": "arn:aws:iam::111122223333:role/team-a-admin",
    "mlops-platform:allowedCidrs": "198.51.100.0/24, 192.0.2.0/24",
}


def test_the_template_asks_for_region_cluster_admin_and_cidrs() -> None:
    """Schema: pulumi.com/docs/iac/guides/building-extending/creating-templates
    (`template.config.<key>.description`, optional `default`)."""
    template = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["template"]
    assert template["displayName"] and template["description"]
    config = template["config"]
    assert list(config) == ["aws:region", "clusterName", "adminRoleArn", "allowedCidrs"]
    assert all(entry["description"] for entry in config.values())
    assert "default" not in config["adminRoleArn"] and "default" not in config["allowedCidrs"]


def _new_project(tmp_path: Path, answers: dict[str, str]) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "__main__.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    # `pulumi new` copies the whole repository, the model the dev stack uploads too.
    shutil.copytree(ROOT / "models", tmp_path / "models")
    (tmp_path / "Pulumi.team.yaml").write_text(yaml.safe_dump({"config": answers}))
    return tmp_path


def test_a_stack_made_from_the_template_deploys_the_answers(tmp_path: Path) -> None:
    run = run_stack("team", project_dir=_new_project(tmp_path, ANSWERS))
    cluster = run.one("eks:index:Cluster")
    assert cluster.inputs["name"] == "team-a"
    assert cluster.inputs["publicAccessCidrs"] == ["198.51.100.0/24", "192.0.2.0/24"]
    entries = cluster.inputs["accessEntries"].values()
    assert [e["principalArn"] for e in entries] == [ANSWERS["mlops-platform:adminRoleArn"]]
    ingress = run.one("kubernetes:networking.k8s.io/v1:Ingress")
    annotations = ingress.inputs["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/inbound-cidrs"] == "198.51.100.0/24,192.0.2.0/24"


def test_a_missing_answer_is_named(tmp_path: Path) -> None:
    answers = {k: v for k, v in ANSWERS.items() if not k.endswith("adminRoleArn")}
    with pytest.raises(ConfigError, match="'mlops-platform:adminRoleArn'"):
        run_stack("team", project_dir=_new_project(tmp_path, answers))
