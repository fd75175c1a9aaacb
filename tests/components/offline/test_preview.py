"""`make preview`: the offline plan prints the tree, cost and policies, writes build/<stack>/,
is byte-for-byte repeatable, masks secrets, and exits non-zero on a mandatory violation."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from components.core.cost import load_prices
from components.offline import manifests, preview
from components.offline.preview import (
    MASK,
    count_by_type,
    main,
    mask_secrets,
    policy_resources,
    render_tree,
    resource_estimate,
)
from components.testing import ACCOUNT_ID, Registration, StackRun, run_stack
from tests.conftest import ROOT


def test_dev_preview_prints_the_tree_and_counts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["--stack", "dev", "--project-dir", str(ROOT), "--out", str(tmp_path)]) == 0
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
        [
            sys.executable,
            "-m",
            "components.offline.preview",
            "--project-dir",
            str(tmp_path),
            "--out",
            str(tmp_path / "build"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 2
    assert "mlops-platform:platform.network.natStrategy" in result.stderr
    assert "'often'" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


# --------------------------------------------------------------------------- the full plan

PLAN_FILES = ("plan.json", "cost.json", "policy.json", "stack.dot")


def _project(tmp_path: Path, extra: str = "") -> Path:
    """A copy of the dev stack whose program adds `extra` after the platform."""
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    # The service's model (service.modelSource) is read relative to the project.
    shutil.copytree(ROOT / "models", tmp_path / "models")
    program = (ROOT / "__main__.py").read_text()
    (tmp_path / "__main__.py").write_text(
        "import pulumi\nimport pulumi_aws as aws\n" + program + "\n" + textwrap.dedent(extra)
    )
    return tmp_path


def test_the_plan_writes_every_file_and_every_resource(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--stack", "prod", "--project-dir", str(ROOT), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr()
    for name in PLAN_FILES:
        assert (tmp_path / "prod" / name).is_file(), name
    diagram = {"stack.svg", "stack.png"} if shutil.which("dot") else {"stack.mmd"}
    assert diagram <= {p.name for p in (tmp_path / "prod").iterdir()}
    plan = json.loads((tmp_path / "prod" / "plan.json").read_text())
    run = run_stack("prod", project_dir=ROOT)
    assert len(plan["resources"]) == len(run.resources)
    vpc = next(r for r in plan["resources"] if r["type"] == "aws:ec2/vpc:Vpc")
    assert vpc["inputs"]["cidrBlock"] == "10.30.0.0/16"
    assert vpc["parent"].endswith("mlops:network:Network::network")
    assert plan["region"] == "us-west-2"
    cost = json.loads((tmp_path / "prod" / "cost.json").read_text())
    assert cost["total"]["monthlyMin"] < cost["total"]["monthlyMax"]
    assert "pool gpu" in cost["components"]
    policy = json.loads((tmp_path / "prod" / "policy.json").read_text())
    assert policy["passed"] is True and policy["checked"]
    # The terminal report: tree, cost, policies; progress went to stderr.
    assert "Monthly cost estimate" in out.out and "TOTAL" in out.out
    assert "Policies:" in out.out and "PASS" in out.out
    assert "+ network (mlops:network:Network)" in out.err


def test_two_runs_write_identical_files(tmp_path: Path) -> None:
    for out in ("a", "b"):
        assert (
            main(["--stack", "dev", "--project-dir", str(ROOT), "--out", str(tmp_path / out)]) == 0
        )
    first = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*"))
    second = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*"))
    assert first == second and first
    for rel in first:
        if (tmp_path / "a" / rel).is_file():
            assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_secrets_are_masked_in_the_plan_but_seen_by_the_policies(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        """
        aws.ssm.Parameter("token", type="SecureString", value=pulumi.Output.secret("hunter2"))
        aws.ssm.Parameter("conf", type="String", value="x", description="kubeconfig below",
                          tags={"kubeconfig": "apiVersion: v1"})
        """,
    )
    assert main(["--project-dir", str(project), "--out", str(tmp_path / "build")]) == 0
    text = (tmp_path / "build" / "dev" / "plan.json").read_text()
    assert "hunter2" not in text and "apiVersion: v1" not in text
    plan = json.loads(text)
    token = next(r for r in plan["resources"] if r["name"] == "token")
    assert token["inputs"]["value"] == MASK
    conf = next(r for r in plan["resources"] if r["name"] == "conf")
    assert conf["inputs"]["tags"]["kubeconfig"] == MASK and conf["inputs"]["type"] == "String"

    # The rules see through the secret wrapper: a secret "MUTABLE" is still mutable.
    wrapped = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}
    repo = Registration(
        type="aws:ecr/repository:Repository",
        name="images",
        urn="urn:pulumi:dev::p::aws:ecr/repository:Repository::images",
        parent=None,
        custom=True,
        inputs={"imageTagMutability": {**wrapped, "value": "MUTABLE"}},
        outputs={},
        id="images",
    )
    resources = policy_resources(StackRun(stack="dev", project="p", resources=[repo], outputs={}))
    assert resources[0].inputs["imageTagMutability"] == "MUTABLE"


def test_mask_secrets_handles_sentinels_credentials_and_k8s_secrets() -> None:
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": 1}
    masked = mask_secrets({"a": [secret, {"password": "p", "httpTokens": "required"}]})
    assert masked == {"a": [MASK, {"password": MASK, "httpTokens": "required"}]}
    k8s_secret = mask_secrets({"data": {"k": "v"}}, resource_type="kubernetes:core/v1:Secret")
    assert k8s_secret == {"data": MASK}
    assert mask_secrets({"data": {"k": "v"}}) == {"data": {"k": "v"}}


def test_a_mandatory_violation_fails_the_preview(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(tmp_path, 'aws.ecr.Repository("images", image_tag_mutability="MUTABLE")\n')
    assert main(["--project-dir", str(project), "--out", str(tmp_path / "build")]) == 1
    out = capsys.readouterr()
    assert "[mandatory] ecr-immutable-tags" in out.out and "'images'" in out.out
    assert "FAIL" in out.out and "mandatory policy violations" in out.err
    policy = json.loads((tmp_path / "build" / "dev" / "policy.json").read_text())
    assert policy["passed"] is False
    assert {v["rule"] for v in policy["violations"]} >= {
        "ecr-immutable-tags",
        "ecr-scan-on-push",
    }


def test_an_unpriced_instance_type_marks_its_cost_line_unknown(tmp_path: Path) -> None:
    """hpc7a is sold outside us-west-2 and us-east-1: its line is unknown, the preview goes
    on and says which pool and type it could not price."""
    project = _project(tmp_path)
    config = project / "Pulumi.dev.yaml"
    config.write_text(config.read_text().replace("[t3.large, t3a.large]", "[hpc7a.12xlarge]"))
    result = subprocess.run(
        [sys.executable, "-m", "components.offline.preview", "--project-dir", str(project)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "'hpc7a.12xlarge'" in result.stdout and "nodePools.system" in result.stdout
    assert "TOTAL (without 1 unknown lines)" in result.stdout
    assert "Traceback" not in result.stderr


def test_any_commercial_region_previews_with_a_cost(tmp_path: Path) -> None:
    """A region without prices of its own (sa-east-1) is priced from the fallback region,
    line by line, and a stack may use six AZs (us-east-1 has six)."""
    project = _project(tmp_path)
    config = project / "Pulumi.dev.yaml"
    text = config.read_text()
    assert "aws:region: us-west-2" in text and "azCount: 2" in text
    config.write_text(
        text.replace("aws:region: us-west-2", "aws:region: sa-east-1").replace(
            "azCount: 2", "azCount: 6"
        )
    )
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "components.offline.preview",
            "--project-dir",
            str(project),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "sa-east-1 prices of" in result.stdout and "[fallback:" in result.stdout
    cost = json.loads((out / "dev" / "cost.json").read_text())
    assert cost["region"] == "sa-east-1" and cost["total"]["unknownLines"] == 0
    assert 0 < cost["total"]["monthlyMin"] < cost["total"]["monthlyMax"]
    plan = json.loads((out / "dev" / "plan.json").read_text())
    subnets = [r for r in plan["resources"] if r["type"] == "aws:ec2/subnet:Subnet"]
    assert len(subnets) == 12  # six private, six public


def test_the_preview_writes_the_stacks_manifests_with_marked_placeholders(tmp_path: Path) -> None:
    config, _ = preview._load(ROOT, "dev")
    assert config is not None
    (tmp_path / "stale.yaml").write_text("old")
    written = manifests.write_stack_manifests(config, tmp_path, region="us-west-2")
    assert written == sorted(written) and {p.suffix for p in written} == {".yaml"}
    assert not (tmp_path / "stale.yaml").exists()
    texts = [p.read_text() for p in written]
    assert any("kind: Deployment" in t for t in texts)
    # The mocks' account never reaches the YAML; every file says what is a placeholder.
    assert not any(ACCOUNT_ID in t for t in texts)
    assert all(t.startswith("# PLACEHOLDER bucket: replace-me-") for t in texts)


def test_the_preview_writes_what_the_manifests_command_writes_without_outputs(
    tmp_path: Path,
) -> None:
    """One writer: `make preview`'s manifests are `make manifests`' files, byte for byte."""
    assert main(["--stack", "dev", "--project-dir", str(ROOT), "--out", str(tmp_path)]) == 0
    assert manifests.main(["--project-dir", str(ROOT), "--out", str(tmp_path / "cli")]) == 0
    previewed = sorted((tmp_path / "dev" / "manifests").iterdir())
    written = sorted((tmp_path / "cli").iterdir())
    assert [p.name for p in previewed] == [p.name for p in written]
    assert len(previewed) == 9 and previewed[0].name == "00-namespace-models.yaml"
    assert [p.read_bytes() for p in previewed] == [p.read_bytes() for p in written]


def test_the_documented_command_keeps_the_exit_codes(tmp_path: Path) -> None:
    """README: `.venv/bin/python -m components.offline.preview` exits 1 on a mandatory
    violation (make would turn it into 2)."""
    project = _project(tmp_path, 'aws.ecr.Repository("images", image_tag_mutability="MUTABLE")\n')
    result = subprocess.run(
        [sys.executable, "-m", "components.offline.preview", "--project-dir", str(project)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr
    assert "mandatory policy violations" in result.stderr


def test_without_graphviz_the_preview_says_it_wrote_mermaid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    assert main(["--stack", "dev", "--project-dir", str(ROOT), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "stack.mmd (Mermaid) was written instead of stack.svg and stack.png" in out
    assert "apt-get install graphviz" in out and "mermaid.live" in out
    assert (tmp_path / "dev" / "stack.mmd").exists()


SECOND_MODEL = ROOT / "examples" / "second-model"
PLATFORM_STACK = "organization/mlops-platform/dev"


def test_any_program_of_our_components_previews_with_its_references(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--project-dir", str(SECOND_MODEL), "--stack", "dev", "--out", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert repr(PLATFORM_STACK) in err and "--stack-reference" in err
    assert "Traceback" not in err

    # The platform's outputs, as `pulumi stack output --json` would save them.
    outputs = tmp_path / "platform.json"
    outputs.write_text(json.dumps(run_stack("dev", project_dir=ROOT).outputs))
    assert main([*argv, "--stack-reference", f"{PLATFORM_STACK}={outputs}"]) == 0
    out = capsys.readouterr().out
    assert "└─ platform  (mlops:platform_reference:PlatformReference)" in out
    assert "service-digits  (mlops:model_service:ModelService)" in out
    assert "PASS" in out
    cost = json.loads((tmp_path / "dev" / "cost.json").read_text())
    assert [(x["component"], x["item"]) for x in cost["lines"]] == [
        ("service-digits", "load balancer")
    ]
    assert cost["total"]["monthlyMin"] > 0
    plan = json.loads((tmp_path / "dev" / "plan.json").read_text())
    assert plan["project"] == "second-model"
    # A project folder works too: the referenced stack then runs offline first.
    assert main([*argv, "--stack-reference", f"{PLATFORM_STACK}={ROOT}"]) == 0
    assert json.loads((tmp_path / "dev" / "plan.json").read_text()) == plan


def test_resource_estimate_prices_what_a_program_registered() -> None:
    run = run_stack("dev", project_dir=ROOT)
    prices = load_prices("us-west-2")
    by_resources = resource_estimate(run.resources, prices)
    items = {(line.item, line.component) for line in by_resources.lines}
    assert ("EKS control plane", "cluster") in items
    assert ("NAT gateway", "network") in items
    assert ("load balancer", "service-iris") in items
    nodes = [line for line in by_resources.lines if line.item == "nodes"]
    assert len(nodes) == 2 and all(line.monthly_max > line.monthly_min > 0 for line in nodes)
    # The alarms, per metric read (the 5xx-rate alarm reads two), and the dashboard.
    alarms = [line for line in by_resources.lines if line.item == "CloudWatch alarm"]
    assert {line.component for line in alarms} == {"observability"}
    assert sum(line.monthly_min for line in alarms) == pytest.approx(4 * 0.10)
    assert ("CloudWatch dashboard", "observability") in items


def test_assets_are_written_as_plain_json_relative_to_the_working_folder() -> None:
    """The model upload's `source` is a `pulumi.FileAsset`: plan.json names its path
    (relative, so two clones write the same file) instead of failing to serialize it."""
    import pulumi

    from components.offline.preview import mask_secrets

    inputs = {
        "source": pulumi.FileAsset(str(Path("models/iris/1/model.onnx").resolve())),
        "content": pulumi.StringAsset("abc"),
    }
    masked = mask_secrets(inputs)
    assert masked["source"] == {"FileAsset": "models/iris/1/model.onnx"}
    assert masked["content"]["StringAsset"].startswith("sha256:ba7816bf")
    json.dumps(masked)


def test_the_preview_prices_observability_and_follows_its_config(tmp_path: Path) -> None:
    """`make preview`'s cost.json has the observability lines; turning Container Insights
    on in dev adds its lines and alarms, and a longer retention costs more storage."""

    def observability(project: Path, out: Path) -> dict[str, dict[str, Any]]:
        assert main(["--stack", "dev", "--project-dir", str(project), "--out", str(out)]) == 0
        cost = json.loads((out / "dev" / "cost.json").read_text())
        return {x["item"]: x for x in cost["lines"] if x["component"] == "observability"}

    (tmp_path / "project").mkdir()
    project = _project(tmp_path / "project")
    plain = observability(project, tmp_path / "a")
    assert {"CloudWatch alarms", "CloudWatch dashboard"} <= set(plain)
    assert "Container Insights observations" not in plain
    config = project / "Pulumi.dev.yaml"
    text = config.read_text()
    assert "      containerInsights:\n        enabled: false\n" in text
    config.write_text(
        text.replace(
            "      containerInsights:\n        enabled: false\n",
            "      containerInsights:\n        enabled: true\n        logRetentionDays: 30\n",
        )
    )
    insights = observability(project, tmp_path / "b")
    assert {
        "Container Insights observations",
        "Container Insights log storage",
        "server metrics (EMF custom metrics)",
    } <= set(insights)
    # More alarms now (pods, nodes, the server's own metrics): the line costs more.
    assert insights["CloudWatch alarms"]["monthlyMin"] > plain["CloudWatch alarms"]["monthlyMin"]
    config.write_text(config.read_text().replace("logRetentionDays: 30", "logRetentionDays: 90"))
    longer = observability(project, tmp_path / "c")
    storage = "Container Insights log storage"
    assert longer[storage]["monthlyMin"] > insights[storage]["monthlyMin"]
