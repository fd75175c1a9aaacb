"""ClusterAddons under the mocks kit: what needs nodes waits for the pools."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from components.cluster_addons import device_plugin_values
from components.testing import StackRun, run_stack
from tests.conftest import raw_stack_config

ROOT = Path(__file__).resolve().parents[2]
ADDON = "aws:eks/addon:Addon"
RELEASE = "kubernetes:helm.sh/v3:Release"


def test_addons_that_need_nodes_depend_on_every_pool(stack: StackRun) -> None:
    node_groups = {g.urn for g in stack.by_type("aws:eks/nodeGroup:NodeGroup")}
    assert node_groups
    needing_nodes = [
        stack.one(ADDON, f"cluster-addons-{name}")
        for name in ("coredns", "metrics-server", "aws-ebs-csi-driver")
    ]
    component = stack.one("mlops:cluster_addons:ClusterAddons")
    releases = [r for r in stack.by_type(RELEASE) if r.parent == component.urn]
    assert releases
    for resource in [*needing_nodes, *releases]:
        assert node_groups <= set(resource.dependencies), resource.name


def test_ebs_csi_uses_its_irsa_role_with_the_ebs_policy(stack: StackRun) -> None:
    role = stack.one("aws:iam/role:Role", "cluster-addons-ebs-csi")
    addon = stack.one(ADDON, "cluster-addons-aws-ebs-csi-driver")
    assert addon.inputs["serviceAccountRoleArn"] == role.outputs["arn"]
    attachment = stack.one(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "cluster-addons-ebs-csi"
    )
    assert attachment.inputs["role"] == role.outputs["name"]
    assert attachment.inputs["policyArn"].endswith("service-role/AmazonEBSCSIDriverPolicy")


def test_cluster_autoscaler_discovers_by_tags_with_a_scoped_irsa_role(stack: StackRun) -> None:
    name = stack.outputs["clusterName"]
    release = stack.one(RELEASE, "cluster-addons-autoscaler")
    assert release.inputs["chart"] == "cluster-autoscaler"
    values = release.inputs["values"]
    assert values["autoDiscovery"] == {"clusterName": name}
    role = stack.one("aws:iam/role:Role", "cluster-addons-autoscaler")
    annotations = values["rbac"]["serviceAccount"]["annotations"]
    assert annotations["eks.amazonaws.com/role-arn"] == role.outputs["arn"]
    assert values["rbac"]["serviceAccount"]["name"] == "cluster-autoscaler"
    policy = json.loads(
        stack.one("aws:iam/rolePolicy:RolePolicy", "cluster-addons-autoscaler").inputs["policy"]
    )
    (scale,) = [s for s in policy["Statement"] if s.get("Sid") == "ScaleOwnNodeGroups"]
    assert scale["Condition"]["StringEquals"] == {
        f"aws:ResourceTag/k8s.io/cluster-autoscaler/{name}": "owned"
    }


def test_device_plugin_only_where_an_al2023_gpu_pool_exists(dev: StackRun, prod: StackRun) -> None:
    assert "cluster-addons-nvidia-device-plugin" not in {r.name for r in dev.by_type(RELEASE)}
    release = prod.one(RELEASE, "cluster-addons-nvidia-device-plugin")
    assert release.inputs["chart"] == "nvidia-device-plugin"
    values = release.inputs["values"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in values[
        "tolerations"
    ]
    terms = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    (expression,) = terms["nodeSelectorTerms"][0]["matchExpressions"]
    assert expression == {"key": "mlops.dev/pool", "operator": "In", "values": ["gpu"]}


def test_chart_and_addon_versions_from_config(prod: StackRun) -> None:
    assert prod.one(RELEASE, "cluster-addons-autoscaler").inputs["version"] == "9.59.0"
    assert prod.one(RELEASE, "cluster-addons-nvidia-device-plugin").inputs["version"] == "0.18.2"
    assert prod.one(ADDON, "cluster-addons-coredns").inputs["addonVersion"] == "v1.13.2-eksbuild.21"


def test_device_plugin_values_pure() -> None:
    values = device_plugin_values(["gpu-b", "gpu-a"])
    terms = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["gpu-a", "gpu-b"]


def test_autoscaler_and_metrics_server_run_on_the_system_pool(stack: StackRun) -> None:
    """Not on the spot pool the autoscaler scales down (it would evict itself)."""
    system = {"mlops.dev/pool": "system"}
    values = stack.one(RELEASE, "cluster-addons-autoscaler").inputs["values"]
    assert values["nodeSelector"] == system
    assert values["tolerations"] == []
    metrics = stack.one(ADDON, "cluster-addons-metrics-server")
    assert json.loads(metrics.inputs["configurationValues"]) == {
        "nodeSelector": system,
        "tolerations": [],
    }


def test_without_a_system_label_the_first_on_demand_cpu_pool_hosts_them() -> None:
    platform = copy.deepcopy(raw_stack_config("dev"))
    platform["nodePools"]["system"]["labels"] = {}
    platform["nodePools"] = {
        "cpu": platform["nodePools"]["cpu"],
        "base": platform["nodePools"]["system"],
    }
    platform["service"]["nodePool"] = "cpu"
    run = run_stack("dev", project_dir=ROOT, config={"platform": platform})
    values = run.one(RELEASE, "cluster-addons-autoscaler").inputs["values"]
    assert values["nodeSelector"] == {"mlops.dev/pool": "base"}
    lbc = run.one(RELEASE, "load-balancer-controller")
    assert lbc.inputs["values"]["nodeSelector"] == {"mlops.dev/pool": "base"}
