"""The stack config refuses each bad value with a message naming the key path and value."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from components.config import ConfigError, StackConfig, parse_stack_config
from components.core import catalog

Raw = dict[str, Any]


def test_both_stacks_parse(dev_raw: Raw, prod_raw: Raw) -> None:
    dev, prod = parse_stack_config(dev_raw), parse_stack_config(prod_raw)
    assert isinstance(dev, StackConfig)
    assert dev.network.nat_strategy == "single" and prod.network.nat_strategy == "one-per-az"
    assert prod.cluster.endpoint_public_access and prod.cluster.public_access_cidrs
    assert prod.node_pools["gpu"].is_gpu and prod.node_pools["gpu"].min_size == 0


def _set(path: str, value: Any) -> Callable[[Raw], None]:
    def mutate(raw: Raw) -> None:
        *parents, leaf = path.split(".")
        node = raw
        for key in parents:
            node = node[key]
        node[leaf] = value

    return mutate


def _private(*cidrs: str, **extra: Any) -> Callable[[Raw], None]:
    """Makes the API endpoint private, reachable from `cidrs` only."""

    def mutate(raw: Raw) -> None:
        cluster = raw["cluster"]
        cluster.pop("publicAccessCidrs", None)
        cluster.update(endpointPublicAccess=False, apiAccessCidrs=list(cidrs), **extra)

    return mutate


REJECTED: list[tuple[str, Callable[[Raw], None], str, str]] = [
    (
        "malformed CIDR",
        _set("network.vpcCidr", "10.0.0.300/16"),
        "platform.network.vpcCidr",
        "'10.0.0.300/16'",
    ),
    (
        "host bits set",
        _set("network.vpcCidr", "10.0.0.1/16"),
        "platform.network.vpcCidr",
        "has host bits set",
    ),
    (
        "VPC prefix too large",
        _set("network.vpcCidr", "10.0.0.0/12"),
        "platform.network.vpcCidr",
        "got /12",
    ),
    (
        "VPC prefix too small",
        _set("network.vpcCidr", "10.0.0.0/25"),
        "platform.network.vpcCidr",
        "got /25",
    ),
    (
        "subnets do not fit",
        _set("network.privateSubnetPrefix", 17),
        "platform.network",
        "do not fit",
    ),
    (
        "one AZ without the flag",
        _set("network.azCount", 1),
        "platform.network",
        "azCount must be 2 to 6 (the subnet plan's slots) (1 only with allowSingleAz: true), got 1",
    ),
    ("seven AZs", _set("network.azCount", 7), "platform.network", "got 7"),
    (
        "unknown NAT strategy",
        _set("network.natStrategy", "per-subnet"),
        "platform.network.natStrategy",
        "'per-subnet'",
    ),
    (
        "min > desired on a pool not autoscaled",
        lambda raw: raw["nodePools"]["cpu"].update(autoscaled=False, minSize=3),
        "platform.nodePools.cpu",
        "minSize 3 is greater than desiredSize 1 (autoscaled: false",
    ),
    (
        "desired > max on a pool not autoscaled",
        lambda raw: raw["nodePools"]["cpu"].update(autoscaled=False, desiredSize=9),
        "platform.nodePools.cpu",
        "desiredSize 9 is greater than maxSize 4 (autoscaled: false",
    ),
    (
        "min > max",
        _set("nodePools.cpu.minSize", 5),
        "platform.nodePools.cpu",
        "minSize 5 is greater than maxSize 4",
    ),
    (
        "max = 0",
        lambda raw: raw["nodePools"]["cpu"].update(minSize=0, desiredSize=0, maxSize=0),
        "platform.nodePools.cpu",
        "maxSize must be at least 1, got 0",
    ),
    (
        "instance type not family.size",
        _set("nodePools.cpu.instanceTypes", ["c7ilarge"]),
        "platform.nodePools.cpu.instanceTypes",
        "'c7ilarge' is not of the form family.size",
    ),
    (
        "unknown family",
        _set("nodePools.cpu.instanceTypes", ["zz9.large"]),
        "platform.nodePools.cpu.instanceTypes",
        "unknown EC2 instance type 'zz9.large' (not in the EC2 API's list)",
    ),
    (
        "GPU pool on a CPU family",
        lambda raw: raw["nodePools"]["cpu"].update(accelerator="nvidia"),
        "platform.nodePools.cpu",
        "a GPU (accelerator: nvidia) pool cannot use 'c7i.large'",
    ),
    (
        "CPU pool on a GPU family",
        _set("nodePools.cpu.instanceTypes", ["g5.xlarge"]),
        "platform.nodePools.cpu",
        "a CPU pool cannot use 'g5.xlarge': it has NVIDIA GPUs",
    ),
    (
        "arm64 type in an x86 pool",
        _set("nodePools.cpu.instanceTypes", ["m7g.large"]),
        "platform.nodePools.cpu",
        "'m7g.large' is arm64",
    ),
    (
        "unsupported Kubernetes version",
        _set("cluster.kubernetesVersion", "1.29"),
        "platform.cluster.kubernetesVersion",
        "unsupported Kubernetes version '1.29'",
    ),
    (
        "extended-support version",
        _set("cluster.kubernetesVersion", "1.33"),
        "platform.cluster.kubernetesVersion",
        "extended support",
    ),
    ("unknown top-level key", _set("netwrok", {}), "platform.netwrok", "unknown key"),
    (
        "unknown nested key",
        _set("nodePools.cpu.instanceType", "c7i.large"),
        "platform.nodePools.cpu.instanceType",
        "unknown key",
    ),
    (
        "image tagged latest",
        _set("service.image.tag", "latest"),
        "platform.service.image.tag",
        "'latest' is mutable",
    ),
    (
        "public endpoint open to the world",
        _set("cluster.publicAccessCidrs", ["0.0.0.0/0"]),
        "platform.cluster",
        "0.0.0.0/0",
    ),
    (
        "public endpoint without allow-list",
        _set("cluster.publicAccessCidrs", []),
        "platform.cluster",
        "publicAccessCidrs is empty",
    ),
    (
        "service on a missing pool",
        _set("service.nodePool", "gpu"),
        "platform: service.nodePool",
        "'gpu' is not one of the node pools",
    ),
    ("GPUs on a CPU pool", _set("service.gpus", 1), "platform", "has no GPUs"),
    (
        "bad retention",
        _set("cluster.logRetentionDays", 42),
        "platform.cluster.logRetentionDays",
        "got 42",
    ),
    (
        "bad admin ARN",
        _set("cluster.adminPrincipalArns", ["admin"]),
        "platform.cluster.adminPrincipalArns",
        "not an IAM role or user ARN: 'admin'",
    ),
    (
        "AMI release for another Kubernetes version",
        _set("nodePools.cpu.releaseVersion", "1.34.2-20260101"),
        "nodePools.cpu.releaseVersion",
        "is for Kubernetes 1.34, but the cluster runs 1.35",
    ),
    (
        "AMI release that is not one",
        _set("nodePools.system.releaseVersion", "latest"),
        "nodePools.system.releaseVersion",
        "'latest' is not an AL2023 EKS AMI release version",
    ),
    # Accepted before the infra review.
    (
        "admin ARN listed twice",
        _set(
            "cluster.adminPrincipalArns",
            ["arn:aws:iam::123456789012:role/a", "arn:aws:iam::123456789012:role/a"],
        ),
        "platform.cluster.adminPrincipalArns",
        "admin principal ARNs repeat: ['arn:aws:iam::123456789012:role/a']",
    ),
    (
        "autoscaled pool mixing memory sizes",
        _set("nodePools.cpu.instanceTypes", ["c7i.large", "m7i.large"]),
        "platform.nodePools.cpu",
        "equal vCPUs and memory (cluster-autoscaler sizes the group from one of them): "
        "c7i.large (2 vCPU, 4 GiB), m7i.large (2 vCPU, 8 GiB)",
    ),
    (
        "autoscaled pool mixing vCPU counts",
        _set("nodePools.cpu.instanceTypes", ["c7i.large", "c7i.xlarge"]),
        "platform.nodePools.cpu",
        "c7i.large (2 vCPU, 4 GiB), c7i.xlarge (4 vCPU, 8 GiB)",
    ),
    (
        "a type EC2 knows but no EKS node runs (macOS host)",
        _set("nodePools.cpu.instanceTypes", ["mac2.metal"]),
        "platform.nodePools.cpu.instanceTypes",
        "EC2 instance type 'mac2.metal' is not in the instance catalog",
    ),
    (
        "GPU type that does not exist",
        lambda raw: raw["nodePools"]["cpu"].update(
            accelerator="nvidia", instanceTypes=["g5.96xlarge"], autoscaled=False
        ),
        "platform.nodePools.cpu.instanceTypes",
        "unknown EC2 instance type 'g5.96xlarge'",
    ),
    (
        "GPU pool of fractional-GPU types (no whole nvidia.com/gpu to request)",
        lambda raw: raw["nodePools"]["cpu"].update(
            accelerator="nvidia", instanceTypes=["g6f.xlarge"], autoscaled=False
        ),
        "platform.nodePools.cpu",
        "['g6f.xlarge'] have no whole GPU",
    ),
    (
        "CPU pool on Inferentia",
        _set("nodePools.cpu.instanceTypes", ["inf2.xlarge"]),
        "platform.nodePools.cpu",
        "'inf2.xlarge' carries neuron accelerators (inferentia2)",
    ),
    (
        "private API endpoint open to all",
        _set("cluster.apiAccessCidrs", ["10.20.0.0/16", "0.0.0.0/0"]),
        "platform.cluster.apiAccessCidrs",
        "0.0.0.0/0 would open the private API endpoint",
    ),
    (
        "private API allow-list entry not a CIDR",
        _set("cluster.apiAccessCidrs", ["10.20.0.1/16"]),
        "platform.cluster.apiAccessCidrs",
        "has host bits set",
    ),
    (
        "internet-facing ALB, plain HTTP, open to all",
        _set("service.allowedSourceCidrs", []),
        "platform.service",
        "neither tlsCertificateArn nor allowedSourceCidrs would serve plain HTTP",
    ),
    # A cluster nobody can reach or administer on day 0.
    (
        "private endpoint, no allow-listed network",
        _private(),
        "platform: cluster: the API endpoint is private",
        "apiAccessCidrs is empty, so nothing outside the cluster can reach it",
    ),
    (
        "private endpoint, only this stack's own VPC listed",
        _private("10.20.0.0/16"),
        "platform: cluster: the API endpoint is private",
        "apiAccessCidrs ['10.20.0.0/16'] lie inside this stack's own VPC 10.20.0.0/16",
    ),
    (
        "private endpoint, a subnet of the VPC listed",
        _private("10.20.4.0/24"),
        "platform: cluster",
        "set deployFromInsideVpc: true and follow the README's two-stage bring-up",
    ),
    (
        "nobody is admin",
        lambda raw: raw["cluster"].update(adminPrincipalArns=[], bootstrapCreatorAdmin=False),
        "platform.cluster",
        "adminPrincipalArns is empty and bootstrapCreatorAdmin is false",
    ),
    (
        "nobody is admin (both defaulted)",
        lambda raw: raw["cluster"].pop("adminPrincipalArns"),
        "platform.cluster",
        "list the deploying role in adminPrincipalArns, or set bootstrapCreatorAdmin: true",
    ),
    # Still refused after the false positives below were accepted.
    (
        "HPA target 0",
        _set("service.targetCpuUtilization", 0),
        "platform.service.targetCpuUtilization",
        "greater than or equal to 1",
    ),
    (
        "model name not a label value (slash)",
        _set("service.modelName", "iris/v2"),
        "platform.service.modelName",
        "'iris/v2'",
    ),
    (
        "model name ending in an underscore",
        _set("service.modelName", "iris_"),
        "platform.service.modelName",
        "'iris_'",
    ),
    (
        "model name of 64 characters",
        _set("service.modelName", "m" * 64),
        "platform.service.modelName",
        "should match pattern",
    ),
]


@pytest.mark.parametrize(
    ("case", "mutate", "path", "message"), REJECTED, ids=[c[0] for c in REJECTED]
)
def test_rejected(
    dev_raw: Raw, case: str, mutate: Callable[[Raw], None], path: str, message: str
) -> None:
    mutate(dev_raw)
    with pytest.raises(ConfigError) as info:
        parse_stack_config(dev_raw)
    text = str(info.value)
    assert path in text, text
    assert message in text, text
    assert "Traceback" not in text


def test_single_az_is_refused_even_when_asked_for(dev_raw: Raw) -> None:
    """EKS CreateCluster: "Subnets specified must be in at least two different AZs"
    (EKS user guide, "VPC and subnet requirements"): one AZ fails at the cluster."""
    dev_raw["network"].update(azCount=1, allowSingleAz=True)
    with pytest.raises(ConfigError, match=r"network\.azCount: 1 AZ, but EKS"):
        parse_stack_config(dev_raw)


def test_every_error_is_reported_at_once(dev_raw: Raw) -> None:
    dev_raw["network"]["natStrategy"] = "nope"
    dev_raw["cluster"]["kubernetesVersion"] = "1.2"
    with pytest.raises(ConfigError) as info:
        parse_stack_config(dev_raw)
    assert "natStrategy" in str(info.value) and "kubernetesVersion" in str(info.value)


def test_config_error_is_a_clean_pulumi_run_error() -> None:
    import pulumi

    assert issubclass(ConfigError, pulumi.RunError)


def test_catalog_is_dated_and_consistent() -> None:
    assert catalog.CATALOG_DATE
    assert not set(catalog.KUBERNETES_VERSIONS) & set(catalog.EXTENDED_SUPPORT_VERSIONS)
    for instance_type in catalog.GPUS_PER_INSTANCE:
        family = catalog.INSTANCE_FAMILIES[catalog.instance_family(instance_type)]
        assert family.accelerator == "nvidia", instance_type
    gpu_families = {f for f, v in catalog.INSTANCE_FAMILIES.items() if v.accelerator == "nvidia"}
    whole = {catalog.instance_family(t) for t in catalog.GPUS_PER_INSTANCE}
    assert gpu_families - whole == {"g6f", "gr6f"}  # fractional GPUs only
    # Every family has sizes, and every GPU type has its vCPUs and memory.
    sized = {catalog.instance_family(t) for t in catalog.INSTANCE_SIZES}
    assert sized == set(catalog.INSTANCE_FAMILIES)
    assert set(catalog.GPUS_PER_INSTANCE) <= set(catalog.INSTANCE_SIZES)
    assert catalog.GPUS_PER_INSTANCE["p5.48xlarge"] == 8
    assert catalog.INSTANCE_SIZES["c7a.large"] == catalog.INSTANCE_SIZES["c7i.large"]


def test_service_cannot_ask_for_more_gpus_than_a_node_has(prod_raw: Raw) -> None:
    prod_raw["service"].update(nodePool="gpu", gpus=2)
    with pytest.raises(ConfigError) as info:
        parse_stack_config(prod_raw)
    assert "service.gpus is 2 but a node of pool 'gpu' has 1" in str(info.value)
    prod_raw["nodePools"]["gpu"]["instanceTypes"] = ["g6.12xlarge", "g5.12xlarge"]
    # Two 2-GPU pods per node: 6 nodes hold the 12 replicas of maxReplicas.
    prod_raw["nodePools"]["gpu"]["maxSize"] = 6
    config = parse_stack_config(prod_raw)
    assert config.node_pools["gpu"].gpus_per_node == 4


def test_the_stacks_autoscaled_pools_have_one_size(dev_raw: Raw, prod_raw: Raw) -> None:
    for raw in (dev_raw, prod_raw):
        for pool in parse_stack_config(raw).node_pools.values():
            sizes = {catalog.INSTANCE_SIZES[t] for t in pool.instance_types}
            assert len(sizes) == 1, pool.instance_types


def test_internet_facing_alb_with_tls_alone_is_accepted(dev_raw: Raw) -> None:
    dev_raw["service"]["allowedSourceCidrs"] = []
    dev_raw["service"]["tlsCertificateArn"] = (
        "arn:aws:acm:us-west-2:123456789012:certificate/0a1b2c3d-0000-4000-8000-000000000000"
    )
    assert parse_stack_config(dev_raw).service is not None


def test_raising_min_size_of_an_autoscaled_pool_needs_no_desired_size_edit(dev_raw: Raw) -> None:
    """EKS needs min <= desired <= max on the live group; an autoscaled pool's configured
    desiredSize is only its size at creation (`ignore_changes` on it), so the config takes
    minSize 3 over desiredSize 1 and gives EKS the clamped 3 when the group is created."""
    dev_raw["nodePools"]["cpu"].update(minSize=3)
    pool = parse_stack_config(dev_raw).node_pools["cpu"]
    assert pool.autoscaled and pool.desired_size == 1
    assert pool.initial_desired_size == 3
    dev_raw["nodePools"]["cpu"].update(minSize=0, desiredSize=9, maxSize=4)
    assert parse_stack_config(dev_raw).node_pools["cpu"].initial_desired_size == 4


def test_day0_ways_in_that_are_accepted(dev_raw: Raw, prod_raw: Raw) -> None:
    # Prod ships a public endpoint allow-listed to the runners; private access is always on.
    prod = parse_stack_config(prod_raw).cluster
    assert prod.endpoint_public_access and prod.public_access_cidrs
    assert "0.0.0.0/0" not in prod.public_access_cidrs
    # A network outside the VPC (a VPN routed to it) is a way in.
    _private("172.16.0.0/12")(dev_raw)
    assert parse_stack_config(dev_raw).cluster.api_access_cidrs == ["172.16.0.0/12"]
    # Only the VPC itself: accepted with the explicit two-stage acknowledgment.
    _private("10.20.0.0/16", deployFromInsideVpc=True)(dev_raw)
    assert parse_stack_config(dev_raw).cluster.deploy_from_inside_vpc
    # The creator as the only admin is accepted.
    dev_raw["cluster"].update(adminPrincipalArns=[], bootstrapCreatorAdmin=True)
    assert parse_stack_config(dev_raw).cluster.bootstrap_creator_admin


# Instance types EC2 and EKS accept that a hand-written catalog once refused
# (medium sizes, 8xlarge and larger, metal, current Graviton).
ACCEPTED_INSTANCE_TYPES: list[tuple[str, dict[str, Any]]] = [
    ("medium x86", {"instanceTypes": ["t3.medium", "t3a.medium"]}),
    ("medium Graviton", {"instanceTypes": ["m7g.medium"], "architecture": "arm64"}),
    ("8xlarge", {"instanceTypes": ["c7i.8xlarge", "c6i.8xlarge"]}),
    ("48xlarge", {"instanceTypes": ["m7i.48xlarge"]}),
    ("metal", {"instanceTypes": ["m7i.metal-24xl"]}),
    ("Graviton 4", {"instanceTypes": ["c8g.4xlarge", "c7g.4xlarge"], "architecture": "arm64"}),
    ("r8g 16xlarge", {"instanceTypes": ["r8g.16xlarge"], "architecture": "arm64"}),
    (
        "Graviton GPU",
        {"instanceTypes": ["g5g.xlarge"], "architecture": "arm64", "accelerator": "nvidia"},
    ),
    ("H200", {"instanceTypes": ["p5en.48xlarge"], "accelerator": "nvidia"}),
]


@pytest.mark.parametrize(
    ("case", "pool"), ACCEPTED_INSTANCE_TYPES, ids=[c[0] for c in ACCEPTED_INSTANCE_TYPES]
)
def test_accepted_instance_types(dev_raw: Raw, case: str, pool: dict[str, Any]) -> None:
    dev_raw["nodePools"]["cpu"].update(pool)
    if pool.get("accelerator") == "nvidia":
        dev_raw.pop("service", None)
    config = parse_stack_config(dev_raw)
    assert config.node_pools["cpu"].instance_types == pool["instanceTypes"]


# Values Kubernetes and AWS accept, which must not be refused.
ACCEPTED: list[tuple[str, Callable[[Raw], None]]] = [
    # HPA averageUtilization is a percent of the request; >100 is legal (autoscaling/v2).
    ("HPA target above 100%", _set("service.targetCpuUtilization", 150)),
    ("HPA target 1%", _set("service.targetCpuUtilization", 1)),
    # A label value (63 chars, [-A-Za-z0-9_.], alphanumeric ends), a URL segment, MODEL_NAME.
    ("model name with underscore", _set("service.modelName", "iris_v2")),
    ("model name with capitals and dots", _set("service.modelName", "Iris.V2")),
    ("model name of 63 characters", _set("service.modelName", "m" * 63)),
    # us-east-1 has six AZs; the subnet plan has six slots.
    ("four AZs", _set("network.azCount", 4)),
    ("six AZs", _set("network.azCount", 6)),
]


@pytest.mark.parametrize(("case", "mutate"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_accepted(dev_raw: Raw, case: str, mutate: Callable[[Raw], None]) -> None:
    mutate(dev_raw)
    parse_stack_config(dev_raw)
