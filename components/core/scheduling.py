"""Where a workload lands: the labels and taints a node pool implies, as plain data.

`NodePool` puts these labels and taints on its nodes and exports the same `Scheduling`;
`ModelService` copies it into the pod spec. Both read this one function, so a pod can
never ask for a label that no pool sets, nor miss a pool's taint.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components.core import catalog
from components.core.config import NodePoolConfig

POOL_LABEL = "mlops.dev/pool"
ACCELERATOR_LABEL = "mlops.dev/accelerator"
GPU_TAINT_KEY = "nvidia.com/gpu"
#: The label that marks a pool's role; `system` marks where cluster services run.
POOL_ROLE_LABEL = "mlops.dev/pool-role"
#: cluster-autoscaler's AWS GPU label (cloudprovider/aws: `GPULabel`). A node carrying it
#: but not yet advertising `nvidia.com/gpu` (device plugin still starting) counts as not
#: ready, so the autoscaler does not launch a second GPU node for the same pending pod.
AWS_GPU_LABEL = "k8s.amazonaws.com/accelerator"


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str  # Kubernetes spelling: NoSchedule, PreferNoSchedule, NoExecute

    @property
    def eks_effect(self) -> str:
        """The EKS API's spelling of the effect (`NO_SCHEDULE`)."""
        return {
            "NoSchedule": "NO_SCHEDULE",
            "PreferNoSchedule": "PREFER_NO_SCHEDULE",
            "NoExecute": "NO_EXECUTE",
        }[self.effect]

    def toleration(self) -> dict[str, Any]:
        return {"key": self.key, "operator": "Equal", "value": self.value, "effect": self.effect}


@dataclass(frozen=True)
class Scheduling:
    """What a pod spec needs to land on one pool: node selector and tolerations."""

    node_selector: dict[str, str]
    tolerations: list[dict[str, Any]] = field(default_factory=list)


def pool_labels(pool_name: str, pool: NodePoolConfig) -> dict[str, str]:
    """The Kubernetes labels of every node in the pool."""
    labels = {**pool.labels, POOL_LABEL: pool_name, ACCELERATOR_LABEL: pool.accelerator}
    if pool.is_gpu:
        models = {
            catalog.INSTANCE_FAMILIES[catalog.instance_family(t)].gpu_model
            for t in pool.instance_types
        }
        only = models.pop() if len(models) == 1 else None
        labels[AWS_GPU_LABEL] = f"nvidia-{only.lower()}" if only else "nvidia"
    return labels


def pool_taints(pool: NodePoolConfig) -> list[Taint]:
    """The pool's taints: the user's, plus the GPU taint on GPU pools."""
    taints = [Taint(t.key, t.value, t.effect) for t in pool.taints]
    if pool.is_gpu and not any(t.key == GPU_TAINT_KEY for t in taints):
        taints.append(Taint(GPU_TAINT_KEY, "true", "NoSchedule"))
    return taints


def pool_scheduling(pool_name: str, pool: NodePoolConfig) -> Scheduling:
    """Node selector (the pool label) and a toleration for each of the pool's taints."""
    return Scheduling(
        node_selector={POOL_LABEL: pool_name},
        tolerations=[t.toleration() for t in pool_taints(pool)],
    )


def system_pool(pools: Mapping[str, NodePoolConfig]) -> str | None:
    """The pool cluster services run on (cluster-autoscaler, metrics-server, the load
    balancer controller): the first labelled `mlops.dev/pool-role: system`, else the first
    on-demand CPU pool, else None (then they run wherever they fit).

    Never a spot pool: the autoscaler would evict itself scaling that pool down, and a
    spot reclaim would take the HPA's metrics or the load balancer's webhooks with it.
    """
    for name, pool in pools.items():
        if pool.labels.get(POOL_ROLE_LABEL) == "system":
            return name
    for name, pool in pools.items():
        if pool.capacity_type == "ON_DEMAND" and not pool.is_gpu:
            return name
    return None


def placement_values(scheduling: Scheduling | None) -> dict[str, Any]:
    """`nodeSelector` and `tolerations`, as Helm charts and EKS add-on configurations
    spell them, that pin a workload to a pool; empty for None (it runs where it fits)."""
    if scheduling is None:
        return {}
    return {
        "nodeSelector": dict(scheduling.node_selector),
        "tolerations": [dict(t) for t in scheduling.tolerations],
    }


AUTOSCALER_TEMPLATE = "k8s.io/cluster-autoscaler/node-template"


def autoscaler_node_template_tags(
    labels: dict[str, str], taints: list[Taint], *, gpus: int = 0
) -> dict[str, str]:
    """The Auto Scaling group tags cluster-autoscaler reads to scale a pool up from zero.

    With no node to look at, the autoscaler learns a would-be node's labels, taints and
    extended resources from these tags (cluster-autoscaler AWS FAQ, "scaling a node group
    to 0"); without them a pod with a node selector or a GPU request never triggers a
    scale-up of an empty pool.
    """
    tags = {f"{AUTOSCALER_TEMPLATE}/label/{k}": v for k, v in sorted(labels.items())}
    for taint in taints:
        tags[f"{AUTOSCALER_TEMPLATE}/taint/{taint.key}"] = f"{taint.value}:{taint.effect}"
    if gpus:
        tags[f"{AUTOSCALER_TEMPLATE}/resources/nvidia.com/gpu"] = str(gpus)
    return tags
