"""NodePool under the mocks kit: launch templates, node groups, roles, autoscaler tags."""

from __future__ import annotations

import base64
import contextvars
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.config import ConfigError, NodePoolConfig
from components.core import scheduling
from components.core.scheduling import Taint
from components.nodepool import NodePool, NodePoolArgs
from components.testing import PlatformMocks, Registration, StackRun, pulumi_test, run_stack
from tests.conftest import raw_stack_config

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "components" / "core" / "golden"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
NG = "aws:eks/nodeGroup:NodeGroup"
ATTACH = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"


def run(stack: str, platform: dict[str, Any] | None = None) -> StackRun:
    config = {"platform": platform} if platform is not None else None
    return run_stack(stack, project_dir=ROOT, config=config)


def pool_child(run: StackRun, pool: str, type_: str) -> Registration:
    return run.one(type_, f"pool-{pool}-{'lt' if type_ == LT else 'ng'}")


def test_every_launch_template_requires_imdsv2_hop_1_and_encrypted_gp3(stack: StackRun) -> None:
    templates = stack.by_type(LT)
    assert len(templates) == len(raw_stack_config(stack.stack)["nodePools"])
    for lt in templates:
        assert lt.inputs["metadataOptions"]["httpTokens"] == "required", lt.name
        assert lt.inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1, lt.name
        (volume,) = lt.inputs["blockDeviceMappings"]
        assert volume["ebs"]["encrypted"] == "true", lt.name
        assert volume["ebs"]["volumeType"] == "gp3", lt.name
        assert volume["ebs"]["iops"] >= 3000 and volume["ebs"]["throughput"] >= 125
        assert lt.inputs["monitoring"] == {"enabled": True}
        (nic,) = lt.inputs["networkInterfaces"]
        assert nic["associatePublicIpAddress"] == "false", lt.name
        kinds = {spec["resourceType"] for spec in lt.inputs["tagSpecifications"]}
        assert {"instance", "volume"} <= kinds


def test_hop_limit_2_only_with_the_explicit_flag() -> None:
    platform = raw_stack_config("dev")
    platform["nodePools"]["cpu"]["allowPodImdsAccess"] = True
    result = run("dev", platform)
    assert pool_child(result, "cpu", LT).inputs["metadataOptions"]["httpPutResponseHopLimit"] == 2
    assert (
        pool_child(result, "system", LT).inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
    )


def test_gpu_pool_nvidia_ami_taint_label_and_scheduling_export(prod: StackRun) -> None:
    group = pool_child(prod, "gpu", NG)
    assert group.inputs["amiType"] == "AL2023_x86_64_NVIDIA"
    assert {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"} in group.inputs[
        "taints"
    ]
    assert group.inputs["labels"][scheduling.ACCELERATOR_LABEL] == "nvidia"
    # g6 (L4) and g5 (A10G) mixed: the autoscaler's GPU label says only "nvidia".
    assert group.inputs["labels"][scheduling.AWS_GPU_LABEL] == "nvidia"
    exported = prod.outputs["nodePools"]["gpu"]
    for key, value in exported["nodeSelector"].items():
        assert group.inputs["labels"][key] == value
    assert exported["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
    ]
    (volume,) = pool_child(prod, "gpu", LT).inputs["blockDeviceMappings"]
    assert volume["ebs"]["volumeSize"] == 100


def test_cpu_pools_are_standard_untainted_and_tolerate_nothing(stack: StackRun) -> None:
    for pool in ("system", "cpu"):
        group = pool_child(stack, pool, NG)
        assert group.inputs["amiType"] == "AL2023_x86_64_STANDARD"
        assert not group.inputs.get("taints")
        assert stack.outputs["nodePools"][pool]["tolerations"] == []
        assert group.inputs["labels"][scheduling.POOL_LABEL] == pool


def test_no_pool_in_a_public_subnet(stack: StackRun) -> None:
    private = set(stack.outputs["privateSubnetIds"].values())
    public = set(stack.outputs["publicSubnetIds"].values())
    for group in stack.by_type(NG):
        assert set(group.inputs["subnetIds"]) == private, group.name
        assert not set(group.inputs["subnetIds"]) & public


def test_desired_size_ignored_when_autoscaled(stack: StackRun) -> None:
    for group in stack.by_type(NG):
        assert group.ignore_changes == ("scalingConfig.desiredSize",), group.name


def test_desired_size_managed_when_not_autoscaled() -> None:
    platform = raw_stack_config("dev")
    platform["nodePools"]["system"]["autoscaled"] = False
    result = run("dev", platform)
    assert pool_child(result, "system", NG).ignore_changes == ()
    assert pool_child(result, "cpu", NG).ignore_changes == ("scalingConfig.desiredSize",)


def test_scaling_capacity_release_and_update_config(stack: StackRun) -> None:
    pools = raw_stack_config(stack.stack)["nodePools"]
    for name, pool in pools.items():
        group = pool_child(stack, name, NG)
        assert group.inputs["scalingConfig"] == {
            "minSize": pool["minSize"],
            "desiredSize": pool["desiredSize"],
            "maxSize": pool["maxSize"],
        }
        assert group.inputs["capacityType"] == pool["capacityType"]
        assert group.inputs["instanceTypes"] == pool["instanceTypes"]
        assert group.inputs["releaseVersion"] == pool["releaseVersion"]
        update = group.inputs["updateConfig"]
        if "maxUnavailablePercentage" in pool:
            assert update == {"maxUnavailablePercentage": pool["maxUnavailablePercentage"]}
        else:
            assert update == {"maxUnavailable": pool.get("maxUnavailable", 1)}
        assert group.inputs["nodeRepairConfig"] == {"enabled": True}
        lt = pool_child(stack, name, LT)
        assert group.inputs["launchTemplate"]["id"] == lt.id


def test_node_role_carries_exactly_the_two_policies(stack: StackRun) -> None:
    for group in stack.by_type(NG):
        role_name = group.inputs["nodeRoleArn"].rsplit("/", 1)[1]
        policies = {
            a.inputs["policyArn"] for a in stack.by_type(ATTACH) if a.inputs["role"] == role_name
        }
        assert policies == {
            "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
            "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
        }, group.name


def test_ssm_policy_added_only_when_enabled() -> None:
    platform = raw_stack_config("dev")
    platform["nodePools"]["cpu"]["enableSsm"] = True
    result = run("dev", platform)
    role_name = pool_child(result, "cpu", NG).inputs["nodeRoleArn"].rsplit("/", 1)[1]
    policies = {
        a.inputs["policyArn"].rsplit("/", 1)[1]
        for a in result.by_type(ATTACH)
        if a.inputs["role"] == role_name
    }
    assert policies == {
        "AmazonEKSWorkerNodePolicy",
        "AmazonEC2ContainerRegistryReadOnly",
        "AmazonSSMManagedInstanceCore",
    }


def test_user_data_only_where_needed_and_as_pinned(dev: StackRun, prod: StackRun) -> None:
    assert "userData" not in pool_child(dev, "system", LT).inputs
    assert "userData" not in pool_child(prod, "cpu", LT).inputs
    spot = base64.b64decode(pool_child(dev, "cpu", LT).inputs["userData"]).decode()
    assert spot == (GOLDEN / "al2023-spot-cpu.mime").read_text()
    gpu = base64.b64decode(pool_child(prod, "gpu", LT).inputs["userData"]).decode()
    assert gpu == (GOLDEN / "al2023-on-demand-gpu.mime").read_text()


def test_gpu_pool_scales_from_zero_with_node_template_tags(prod: StackRun) -> None:
    group = pool_child(prod, "gpu", NG)
    assert group.inputs["scalingConfig"]["minSize"] == 0
    asg = group.outputs["resources"][0]["autoscalingGroups"][0]["name"]
    tags = {
        t.inputs["tag"]["key"]: t.inputs["tag"]["value"]
        for t in prod.by_type("aws:autoscaling/tag:Tag")
        if t.inputs["autoscalingGroupName"] == asg
    }
    template = "k8s.io/cluster-autoscaler/node-template"
    assert tags[f"{template}/label/mlops.dev/pool"] == "gpu"
    assert tags[f"{template}/label/mlops.dev/accelerator"] == "nvidia"
    assert tags[f"{template}/label/k8s.amazonaws.com/accelerator"] == "nvidia"
    assert tags[f"{template}/taint/nvidia.com/gpu"] == "true:NoSchedule"
    assert tags[f"{template}/resources/nvidia.com/gpu"] == "1"


def test_pools_that_never_reach_zero_get_no_template_tags(dev: StackRun) -> None:
    keys = [t.inputs["tag"]["key"] for t in dev.by_type("aws:autoscaling/tag:Tag")]
    assert keys and not [k for k in keys if k.startswith(scheduling.AUTOSCALER_TEMPLATE)]


def test_editing_the_stacks_tags_leaves_every_launch_template_as_it_is(dev: StackRun) -> None:
    """A changed `tag_specifications` is a new launch template version, and the node
    group follows `latest_version`, rolling every node (EC2 CreateLaunchTemplateVersion;
    pulumi-aws `ec2.LaunchTemplate`: a change to anything but name, description, tags
    and default version makes a new version). Templates carry the stable keys only;
    the user's tags go on the Auto Scaling group, propagated to instances it launches
    (an ASG tag change touches no template: nothing rolls)."""
    platform = raw_stack_config("dev")
    platform["tags"] = {**platform["tags"], "cost-center": "ml-research", "team": "vision"}
    edited = run("dev", platform)
    before = {lt.name: lt.inputs for lt in dev.by_type(LT)}
    after = {lt.name: lt.inputs for lt in edited.by_type(LT)}
    assert before and before == after
    for inputs in after.values():
        for spec in inputs["tagSpecifications"]:
            assert set(spec["tags"]) == {
                "mlops:project",
                "mlops:stack",
                "mlops:component",
                "mlops:pool",
                "Name",
            }
    pools = {p.urn: p.name for p in edited.by_type("mlops:nodepool:NodePool")}
    propagated: dict[tuple[str, str], Any] = {}
    for t in edited.by_type("aws:autoscaling/tag:Tag"):
        if t.inputs["tag"]["propagateAtLaunch"]:
            assert t.parent is not None
            propagated[(pools[t.parent], t.inputs["tag"]["key"])] = t.inputs["tag"]
    for pool in pools.values():
        assert propagated[(pool, "cost-center")]["value"] == "ml-research"
        assert propagated[(pool, "team")]["value"] == "vision"
        assert (pool, "mlops:stack") not in propagated  # already on the template
    # The node group itself carries every tag (a tag edit there is in place).
    group = edited.one(NG, "pool-cpu-ng")
    assert group.inputs["tags"]["cost-center"] == "ml-research"
    assert group.inputs["tags"]["mlops:pool"] == "cpu"


def test_node_groups_wait_for_the_networking_addons(stack: StackRun) -> None:
    addons = {a.name: a.urn for a in stack.by_type("aws:eks/addon:Addon")}
    for group in stack.by_type(NG):
        for needed in ("cluster-vpc-cni", "cluster-kube-proxy"):
            assert addons[needed] in group.dependencies, (group.name, needed)


def test_release_version_for_another_kubernetes_is_refused_before_any_resource() -> None:
    platform = raw_stack_config("dev")
    platform["nodePools"]["cpu"]["releaseVersion"] = "1.34.2-20260101"
    mocks = PlatformMocks()
    with pytest.raises(ConfigError, match=r"nodePools\.cpu\.releaseVersion: .*Kubernetes 1\.34"):
        run_stack("dev", project_dir=ROOT, config={"platform": platform}, mocks=mocks)
    assert mocks.registrations == []


def test_node_pool_alone_refuses_a_release_for_another_kubernetes() -> None:
    """The same guard for a stack that builds a NodePool without our config."""
    pool = NodePoolConfig.model_validate(
        {
            "instanceTypes": ["m7i.large"],
            "releaseVersion": "1.34.2-20260101",
            "minSize": 1,
            "desiredSize": 1,
            "maxSize": 2,
        }
    )
    mocks = PlatformMocks()

    def body() -> None:
        mocks.install(project="consumer", stack="unit")

        @pulumi_test
        def build() -> None:
            NodePool(
                "p",
                NodePoolArgs(
                    pool_name="p",
                    pool=pool,
                    cluster_name="c",
                    kubernetes_version="1.35",
                    subnet_ids=["subnet-01"],
                    cluster_security_group_id="sg-01",
                ),
            )

        build()

    with pytest.raises(pulumi.RunError, match=r"nodePools\.p: .*Kubernetes 1\.34"):
        contextvars.Context().run(body)


def test_bottlerocket_gpu_pool_uses_its_ami_and_no_device_plugin_release() -> None:
    platform = raw_stack_config("prod")
    platform["nodePools"]["gpu"]["os"] = "bottlerocket"
    platform["nodePools"]["gpu"]["releaseVersion"] = "1.50.0-1a2b3c4d"
    result = run("prod", platform)
    assert pool_child(result, "gpu", NG).inputs["amiType"] == "BOTTLEROCKET_x86_64_NVIDIA"
    data, os_volume = pool_child(result, "gpu", LT).inputs["blockDeviceMappings"]
    assert data["deviceName"] == "/dev/xvdb"
    assert data["ebs"]["volumeSize"] == 100
    # The OS volume too, or it keeps the AMI's defaults (unencrypted).
    assert os_volume["deviceName"] == "/dev/xvda"
    assert os_volume["ebs"]["volumeSize"] == 4
    for mapping in (data, os_volume):
        assert mapping["ebs"]["encrypted"] == "true", mapping
        assert mapping["ebs"]["volumeType"] == "gp3", mapping
        assert mapping["ebs"]["deleteOnTermination"] == "true", mapping
    user_data = base64.b64decode(pool_child(result, "gpu", LT).inputs["userData"]).decode()
    assert user_data.startswith("[settings.kubernetes]")
    releases = {r.name for r in result.by_type("kubernetes:helm.sh/v3:Release")}
    assert "cluster-addons-nvidia-device-plugin" not in releases


def test_node_template_tags_pure() -> None:
    tags = scheduling.autoscaler_node_template_tags(
        {"b": "2", "a": "1"}, [Taint("nvidia.com/gpu", "true", "NoSchedule")], gpus=4
    )
    assert json.dumps(tags) == json.dumps(
        {
            "k8s.io/cluster-autoscaler/node-template/label/a": "1",
            "k8s.io/cluster-autoscaler/node-template/label/b": "2",
            "k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu": "true:NoSchedule",
            "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu": "4",
        }
    )
    assert not any("resources" in k for k in scheduling.autoscaler_node_template_tags({}, []))


def test_single_gpu_model_pool_names_it_in_the_autoscaler_gpu_label() -> None:
    pool = NodePoolConfig.model_validate(
        {
            "instanceTypes": ["g6.xlarge", "g6.2xlarge"],
            "accelerator": "nvidia",
            "autoscaled": False,
            "releaseVersion": "1.35.7-20260827",
            "minSize": 0,
            "desiredSize": 0,
            "maxSize": 2,
        }
    )
    assert scheduling.pool_labels("gpu", pool)[scheduling.AWS_GPU_LABEL] == "nvidia-l4"
    cpu = NodePoolConfig.model_validate(
        {
            "instanceTypes": ["m7i.large"],
            "releaseVersion": "1.35.7-20260827",
            "minSize": 1,
            "desiredSize": 1,
            "maxSize": 2,
        }
    )
    assert scheduling.AWS_GPU_LABEL not in scheduling.pool_labels("cpu", cpu)
