"""A stack's objects from its config, and the YAML files `kubectl apply -f` takes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from components.core.config import StackConfig
from components.core.manifests.objects import render
from components.core.manifests.spec import (
    EmfTarget,
    Manifest,
    ServiceSpec,
    image_reference,
    load_balancer_source_cidrs,
)
from components.core.observability import (
    SERVER_NAMESPACE,
    emf_dimensions,
    server_metrics_enabled,
    server_metrics_log_group,
)
from components.core.scheduling import pool_scheduling
from components.core.subnets import subnet_cidrs

__all__ = [
    "emf_target",
    "spec_from_stack",
    "stack_manifests",
    "stack_subnet_cidrs",
    "to_yaml",
    "write_manifests",
]


def stack_subnet_cidrs(config: StackConfig) -> tuple[list[str], list[str]]:
    """The stack's private and public subnet CIDRs, from its subnet plan (as `Network`)."""
    network = config.network
    return subnet_cidrs(
        network.vpc_cidr,
        network.az_count,
        private_prefix=network.private_prefix,
        public_prefix=network.public_prefix,
    )


def spec_from_stack(
    config: StackConfig,
    *,
    region: str,
    image_repository: str,
    bucket: str,
    role_arn: str,
    cluster_name: str | None = None,
) -> ServiceSpec:
    """The spec of a stack's service, with its pool's scheduling and its LB's subnets.

    With Container Insights on, the server sends its metrics to the node's agent (EMF),
    under `cluster_name` (default: the config's cluster name)."""
    service = config.service
    if service is None:
        raise ValueError("the stack config has no `service` section")
    private, public = stack_subnet_cidrs(config)
    return ServiceSpec(
        service=service,
        image=image_reference(image_repository, service.image),
        model_uri=f"s3://{bucket}/{service.model_prefix.strip('/')}",
        role_arn=role_arn,
        region=region,
        kubernetes_version=config.cluster.kubernetes_version,
        scheduling=pool_scheduling(service.node_pool, config.node_pools[service.node_pool]),
        load_balancer_source_cidrs=load_balancer_source_cidrs(
            service.exposure, public_subnets=public, private_subnets=private
        ),
        emf=emf_target(config, cluster_name or config.cluster.name, private),
    )


def emf_target(
    config: StackConfig, cluster_name: str, node_cidrs: Sequence[str]
) -> EmfTarget | None:
    """Where the stack's server sends its metrics; None where no agent listens for them."""
    if not server_metrics_enabled(config):
        return None
    return EmfTarget(
        namespace=SERVER_NAMESPACE,
        dimensions=emf_dimensions(config, cluster_name),
        node_cidrs=tuple(node_cidrs),
        log_group=server_metrics_log_group(cluster_name),
    )


def stack_manifests(
    config: StackConfig,
    *,
    region: str,
    account_id: str = "123456789012",
    image_repository: str | None = None,
    bucket: str | None = None,
    role_arn: str | None = None,
) -> list[Manifest]:
    """A stack's objects for the offline preview; unknown names get illustrative values.

    Replace the bucket, repository and role with `pulumi stack output` values before
    applying them to a real cluster.
    """
    service = config.service
    if service is None:
        return []
    name = config.cluster.name
    spec = spec_from_stack(
        config,
        region=region,
        image_repository=image_repository
        or f"{account_id}.dkr.ecr.{region}.amazonaws.com/{name}-models",
        bucket=bucket or f"{name}-models-{account_id}",
        role_arn=role_arn or f"arn:aws:iam::{account_id}:role/{name}-{service.name}",
    )
    return render(spec)


class _PlainDumper(yaml.SafeDumper):
    """No `&id001` anchors where the renderer reuses a dict: every object reads alone."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(objects: Iterable[Manifest]) -> str:
    """One multi-document YAML stream, keys in the order the renderer wrote them."""
    return yaml.dump_all(
        list(objects), Dumper=_PlainDumper, sort_keys=False, default_flow_style=False
    )


def write_manifests(objects: Sequence[Manifest], directory: str | Path) -> list[Path]:
    """Write one `NN-kind-name.yaml` per object (apply order) into `directory`.

    Earlier `*.yaml` files there are removed first, so a dropped object does not linger
    and `kubectl apply -f <directory>` applies exactly the current set.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.yaml"):
        stale.unlink()
    paths = []
    for index, obj in enumerate(objects):
        kind = str(obj["kind"]).lower()
        name = str(obj["metadata"]["name"])
        path = folder / f"{index:02d}-{kind}-{name}.yaml"
        path.write_text(to_yaml([obj]))
        paths.append(path)
    return paths
