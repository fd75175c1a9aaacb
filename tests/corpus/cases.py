"""Realistic deploy-time mistakes and valid variations, each a small patch over dev or prod.

Every mistake says what a real `pulumi up` (or the running platform) would do with it,
and what the refusal must name: the key path or the bad value. Each is written from
what AWS, EKS or Kubernetes reject or what breaks at run time, family by family:

- aws: AWS's limits on names and values (tags, cluster names, subnets, gp3, ACM, AZs);
- k8s: Kubernetes' rules (labels, taints, Service names, namespaces, quantities);
- cross: what one key means for another (AZs, NAT, controllers, allocatable, replicas);
- versions: Helm charts, AMI releases, add-ons for the Kubernetes version;
- account: the account the stack deploys into (preflight under moto);
- messages: syntax and shape errors (file and line, key path and value).

`account` mutates a ready moto account (`tests/components/offline/moto_account.py`)
before preflight runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID

from tests.components.offline.moto_account import SESSION, Account

DELETE = object()
"""A patch value that removes the key."""

REGION = "us-west-2"
CERT_OTHER_REGION = f"arn:aws:acm:us-east-1:{DEFAULT_ACCOUNT_ID}:certificate/0a1b2c3d-aaaa-bbbb"
OTHER_ACCOUNT = "210987654321"


@dataclass(frozen=True)
class Case:
    id: str
    family: str
    base: str
    patch: dict[str, Any]
    names: str
    """What the refusal must contain: the key path or the bad value."""
    deploy: str
    """What a real deploy would do with it (for mistakes), or why it is valid."""
    stack: str | None = None
    """The stack name (default: the base's)."""
    account: Callable[[Account], Any] | None = None
    yaml_text: str | None = None
    """Replace the stack file with this text (syntax mistakes)."""
    model_bucket: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def _long(n: int) -> str:
    return "x" * n


def _many_tags(n: int) -> dict[str, str]:
    return {f"team-{i}": "ml" for i in range(n)}


# --------------------------------------------------------------------------- account knobs


def _log_group(account: Account) -> None:
    name = account.config.cluster.name
    SESSION.client("logs").create_log_group(logGroupName=f"/aws/eks/{name}/cluster")


def _cluster_exists(account: Account) -> None:
    eks = SESSION.client("eks")
    iam = SESSION.client("iam")
    role = iam.create_role(
        RoleName="old-cluster", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"})
    )["Role"]["Arn"]
    eks.create_cluster(
        name=account.config.cluster.name,
        roleArn=role,
        resourcesVpcConfig={"subnetIds": []},
    )


def _eips_in_use(count: int) -> Callable[[Account], None]:
    def apply(account: Account) -> None:
        ec2 = SESSION.client("ec2")
        for _ in range(count):
            ec2.allocate_address(Domain="vpc")

    return apply


def _vpcs_in_use(count: int) -> Callable[[Account], None]:
    def apply(account: Account) -> None:
        ec2 = SESSION.client("ec2")
        for index in range(count):
            ec2.create_vpc(CidrBlock=f"10.{100 + index}.0.0/16")

    return apply


def _quota(code: str, value: float) -> Callable[[Account], None]:
    def apply(account: Account) -> None:
        account.quotas[code] = value

    return apply


def _charts(key: str, versions: list[str]) -> Callable[[Account], None]:
    def apply(account: Account) -> None:
        account.charts[key] = versions

    return apply


def _addons(addon: str, versions: list[str]) -> Callable[[Account], None]:
    def apply(account: Account) -> None:
        account.eks.versions[addon] = versions

    return apply


def _pending_certificate(account: Account) -> None:
    arn = SESSION.client("acm").request_certificate(DomainName="models.example.com")[
        "CertificateArn"
    ]
    account.extra["certificate"] = arn


def _issued_certificate(account: Account) -> None:
    from tests.corpus.certs import self_signed

    cert, key = self_signed("models.example.com")
    arn = SESSION.client("acm").import_certificate(Certificate=cert, PrivateKey=key)[
        "CertificateArn"
    ]
    account.extra["certificate"] = arn


def _foreign_repository(account: Account) -> None:
    """An image in another account's ECR whose policy does not let this account pull."""


# --------------------------------------------------------------------------- the mistakes

DEV_CERT = (
    f"arn:aws:acm:{REGION}:{DEFAULT_ACCOUNT_ID}:certificate/11111111-2222-3333-4444-555555555555"
)

MISTAKES: list[Case] = [
    # ---------------------------------------------------------------- aws
    Case(
        "tag-aws-prefix",
        "aws",
        "dev",
        {"tags.aws:owner": "me"},
        "tags.aws:owner",
        "CreateVpc fails: TagPolicyViolation, aws: is reserved",
    ),
    Case(
        "tag-aws-prefix-upper",
        "aws",
        "dev",
        {"tags.AWS:team": "ml"},
        "tags.AWS:team",
        "CreateVpc fails: the aws: prefix is reserved in any case",
    ),
    Case(
        "tag-key-too-long",
        "aws",
        "dev",
        {f"tags.{_long(129)}": "v"},
        _long(129),
        "CreateVpc fails: tag keys are at most 128 characters",
    ),
    Case(
        "tag-value-too-long",
        "aws",
        "dev",
        {"tags.owner": _long(257)},
        "tags.owner",
        "CreateVpc fails: tag values are at most 256 characters",
    ),
    Case(
        "tag-value-hash",
        "aws",
        "dev",
        {"tags.team": "ml#1"},
        "tags.team",
        "IAM CreateRole fails: '#' is outside IAM's tag character set",
    ),
    Case(
        "tag-key-star",
        "aws",
        "dev",
        {"tags.cost*center": "x"},
        "cost*center",
        "IAM CreateRole fails on the node role: '*' not allowed in tag keys",
    ),
    Case(
        "tag-value-comma",
        "aws",
        "dev",
        {"tags.owners": "alice,bob"},
        "tags.owners",
        "IAM CreateRole fails: ',' not in the tag value character set",
    ),
    Case(
        "too-many-tags",
        "aws",
        "dev",
        {"tags": _many_tags(45)},
        "tags",
        "subnets carry 45 + 6 tags: CreateSubnet fails with TagLimitExceeded",
    ),
    Case(
        "cluster-name-dash-first",
        "aws",
        "dev",
        {"cluster.name": "-ml-dev"},
        "-ml-dev",
        "CreateCluster fails: the name must start with a letter or digit",
    ),
    Case(
        "cluster-name-dot",
        "aws",
        "dev",
        {"cluster.name": "ml.dev"},
        "ml.dev",
        "CreateCluster fails: '.' is not allowed in a cluster name",
    ),
    Case(
        "cluster-name-too-long",
        "aws",
        "dev",
        {"cluster.name": "m" * 101},
        "cluster.name",
        "CreateCluster fails: names are at most 100 characters",
    ),
    Case(
        "cluster-name-space",
        "aws",
        "dev",
        {"cluster.name": "ml dev"},
        "ml dev",
        "CreateCluster fails: spaces are not allowed",
    ),
    Case(
        "private-subnet-29",
        "aws",
        "dev",
        {"network.privateSubnetPrefix": 29},
        "network.privateSubnetPrefix",
        "CreateSubnet fails: subnets are /16 to /28",
    ),
    Case(
        "public-subnet-30",
        "aws",
        "dev",
        {"network.publicSubnetPrefix": 30},
        "network.publicSubnetPrefix",
        "CreateSubnet fails: subnets are /16 to /28",
    ),
    Case(
        "private-subnet-too-small-for-pods",
        "aws",
        "prod",
        {"network.privateSubnetPrefix": 26},
        "network.privateSubnetPrefix",
        "at max size the pools' nodes exhaust the /26 subnets: pods stuck ContainerCreating",
    ),
    Case(
        "small-vpc-for-pods",
        "aws",
        "dev",
        {"network.vpcCidr": "10.20.0.0/24", "nodePools.cpu.maxSize": 10},
        "network.privateSubnetPrefix",
        "/27 private subnets (27 addresses) cannot hold 5 nodes × 30 addresses each",
    ),
    Case(
        "gp3-iops-per-gib",
        "aws",
        "dev",
        {"nodePools.cpu.rootVolume.iops": 16000},
        "nodePools.cpu.rootVolume.iops",
        "CreateLaunchTemplate accepted, instance launch fails: 16000 IOPS need 32 GiB",
    ),
    Case(
        "gp3-iops-per-gib-sized",
        "aws",
        "prod",
        {"nodePools.cpu.rootVolume": {"sizeGib": 20, "iops": 12000}},
        "nodePools.cpu.rootVolume.iops",
        "gp3 allows 500 IOPS per GiB: 10000 on 20 GiB",
    ),
    Case(
        "gp3-throughput-per-iops",
        "aws",
        "dev",
        {"nodePools.cpu.rootVolume.throughputMibps": 1000},
        "nodePools.cpu.rootVolume.throughputMibps",
        "instance launch fails: 1000 MiB/s needs 4000 IOPS (0.25 MiB/s per IOPS)",
    ),
    Case(
        "gp3-throughput-per-iops-gpu",
        "aws",
        "prod",
        {"nodePools.gpu.rootVolume": {"iops": 3000, "throughputMibps": 800}},
        "nodePools.gpu.rootVolume.throughputMibps",
        "800 MiB/s needs 3200 IOPS",
    ),
    Case(
        "acm-other-region",
        "aws",
        "dev",
        {"service.tlsCertificateArn": CERT_OTHER_REGION},
        "service.tlsCertificateArn",
        "the load balancer controller cannot attach a us-east-1 certificate to a us-west-2 ALB",
    ),
    Case(
        "azs-other-region",
        "aws",
        "dev",
        {"network.availabilityZones": ["us-east-1a", "us-east-1b"]},
        "network.availabilityZones",
        "CreateSubnet fails: us-east-1a is not in us-west-2",
    ),
    Case(
        "azs-as-ids",
        "aws",
        "dev",
        {"network.availabilityZones": ["usw2-az1", "usw2-az2"]},
        "usw2-az1",
        "CreateSubnet fails: AvailabilityZone takes names, not AZ IDs",
    ),
    Case(
        "azs-repeated",
        "aws",
        "dev",
        {"network.availabilityZones": ["us-west-2a", "us-west-2a"]},
        "network.availabilityZones",
        "EKS needs subnets in two distinct AZs",
    ),
    Case(
        "root-volume-too-small",
        "aws",
        "dev",
        {"nodePools.cpu.rootVolume.sizeGib": 10},
        "nodePools.cpu.rootVolume.sizeGib",
        "instance launch fails: the volume is smaller than the AMI's 20 GiB snapshot",
    ),
    Case(
        "log-retention-45",
        "aws",
        "dev",
        {"cluster.logRetentionDays": 45},
        "cluster.logRetentionDays",
        "PutRetentionPolicy fails: 45 is not an allowed value",
    ),
    Case(
        "admin-arn-short-account",
        "aws",
        "dev",
        {"cluster.adminPrincipalArns": ["arn:aws:iam::12345:role/admin"]},
        "cluster.adminPrincipalArns",
        "CreateAccessEntry fails: invalid principal ARN",
    ),
    # ---------------------------------------------------------------- k8s
    Case(
        "label-node-role",
        "k8s",
        "dev",
        {"nodePools.cpu.labels.node-role.kubernetes.io/inference": "true"},
        "node-role.kubernetes.io/inference",
        "kubelet refuses --node-labels in kubernetes.io: nodes never join, the group fails",
    ),
    Case(
        "label-kubernetes-io",
        "k8s",
        "dev",
        {"nodePools.cpu.labels.kubernetes.io/role": "inference"},
        "kubernetes.io/role",
        "kubelet refuses the label: node group creation fails after ~20 minutes",
    ),
    Case(
        "label-k8s-io",
        "k8s",
        "dev",
        {"nodePools.cpu.labels.k8s.io/team": "ml"},
        "k8s.io/team",
        "kubelet refuses labels in the k8s.io namespace",
    ),
    Case(
        "label-key-space",
        "k8s",
        "dev",
        {"nodePools.cpu.labels.team name": "ml"},
        "team name",
        "CreateNodegroup succeeds, kubelet refuses the invalid label key",
    ),
    Case(
        "label-value-space",
        "k8s",
        "dev",
        {"nodePools.cpu.labels.team": "ml team"},
        "ml team",
        "kubelet refuses the label value: nodes never register",
    ),
    Case(
        "label-value-too-long",
        "k8s",
        "dev",
        {"nodePools.cpu.labels.team": _long(64)},
        "nodePools.cpu.labels.team",
        "CreateNodegroup fails: label values are at most 63",
    ),
    Case(
        "label-value-empty",
        "k8s",
        "dev",
        {"nodePools.cpu.labels.dedicated": ""},
        "nodePools.cpu.labels.dedicated",
        "CreateNodegroup fails: labelValue min length 1",
    ),
    Case(
        "label-prefix-uppercase",
        "k8s",
        "dev",
        {"nodePools.cpu.labels.MLOps.dev/role": "x"},
        "MLOps.dev/role",
        "kubelet refuses: the prefix must be a lowercase DNS subdomain",
    ),
    Case(
        "label-value-dash-first",
        "k8s",
        "dev",
        {"nodePools.cpu.labels.tier": "-gold"},
        "-gold",
        "kubelet refuses: values start with a letter or digit",
    ),
    Case(
        "taint-key-space",
        "k8s",
        "prod",
        {"nodePools.gpu.taints": [{"key": "gpu only", "effect": "NoSchedule"}]},
        "nodePools.gpu.taints[0].key",
        "CreateNodegroup fails: invalid taint key",
    ),
    Case(
        "taint-value-slash",
        "k8s",
        "prod",
        {"nodePools.gpu.taints": [{"key": "gpu", "value": "a/b", "effect": "NoSchedule"}]},
        "nodePools.gpu.taints[0].value",
        "kubelet refuses the taint value",
    ),
    Case(
        "taint-duplicate",
        "k8s",
        "prod",
        {
            "nodePools.gpu.taints": [
                {"key": "gpu", "value": "a", "effect": "NoSchedule"},
                {"key": "gpu", "value": "b", "effect": "NoSchedule"},
            ]
        },
        "nodePools.gpu.taints[1]",
        "Kubernetes refuses two taints with one key and effect",
    ),
    Case(
        "service-name-digit-first",
        "k8s",
        "dev",
        {"service.name": "1iris"},
        "service.name",
        "the Service create fails: DNS-1035 names start with a letter",
    ),
    Case(
        "service-name-uppercase",
        "k8s",
        "dev",
        {"service.name": "Iris"},
        "service.name",
        "every Kubernetes object named after it is refused",
    ),
    Case(
        "namespace-kube-system",
        "k8s",
        "dev",
        {"service.namespace": "kube-system"},
        "service.namespace",
        "Namespace create fails AlreadyExists; destroy would delete it",
    ),
    Case(
        "namespace-default",
        "k8s",
        "dev",
        {"service.namespace": "default"},
        "service.namespace",
        "Namespace create fails: 'default' already exists",
    ),
    Case(
        "namespace-kube-public",
        "k8s",
        "prod",
        {"service.namespace": "kube-public"},
        "service.namespace",
        "Namespace create fails: 'kube-public' already exists",
    ),
    Case(
        "cpu-500-cores",
        "k8s",
        "dev",
        {"service.cpuRequest": "500"},
        "service.cpuRequest",
        "500 cores: every pod Pending forever, the rollout times out",
    ),
    Case(
        "cpu-in-bytes",
        "k8s",
        "dev",
        {"service.cpuRequest": "2Gi"},
        "service.cpuRequest",
        "2Gi cores: pods Pending forever",
    ),
    Case(
        "memory-512-bytes",
        "k8s",
        "dev",
        {"service.memoryRequest": "512"},
        "service.memoryRequest",
        "a 512-byte memory limit: the container is OOM-killed at start",
    ),
    Case(
        "memory-millibytes",
        "k8s",
        "dev",
        {"service.memoryRequest": "512m"},
        "service.memoryRequest",
        "0.512 bytes: container creation fails",
    ),
    Case(
        "memory-lowercase-g",
        "k8s",
        "dev",
        {"service.memoryRequest": "1g"},
        "1g",
        "the Deployment is refused: 'g' is not a quantity suffix",
    ),
    Case(
        "cpu-words",
        "k8s",
        "dev",
        {"service.cpuRequest": "half"},
        "half",
        "the Deployment is refused: not a quantity",
    ),
    Case(
        "cpu-zero",
        "k8s",
        "dev",
        {"service.cpuRequest": "0"},
        "service.cpuRequest",
        "the HPA reports 'missing request for cpu' and never scales",
    ),
    Case(
        "cpu-whole-node",
        "k8s",
        "dev",
        {"service.cpuRequest": "2"},
        "service.cpuRequest",
        "2 cores on a 2-vCPU node (1.93 allocatable): pods Pending forever",
    ),
    Case(
        "cpu-4-on-large",
        "k8s",
        "dev",
        {"service.cpuRequest": "4"},
        "service.cpuRequest",
        "4 cores on c7i.large: pods Pending forever",
    ),
    Case(
        "memory-larger-than-node",
        "k8s",
        "dev",
        {"service.memoryRequest": "8Gi"},
        "service.memoryRequest",
        "8Gi on a 4 GiB node: pods Pending forever",
    ),
    Case(
        "memory-whole-node",
        "k8s",
        "dev",
        {"service.memoryRequest": "4Gi"},
        "service.memoryRequest",
        "4Gi on a 4 GiB node: less after kube-reserved, Pending",
    ),
    # ---------------------------------------------------------------- cross
    Case(
        "single-az",
        "cross",
        "dev",
        {"network.azCount": 1, "network.allowSingleAz": True},
        "network.azCount",
        "CreateCluster fails: subnets must be in at least two AZs",
    ),
    Case(
        "no-nat-no-endpoints",
        "cross",
        "dev",
        {"network.natStrategy": "none"},
        "network.natStrategy",
        "nodes cannot pull from ECR: the node group never becomes ready",
    ),
    Case(
        "no-nat-public-charts",
        "cross",
        "prod",
        {"network.natStrategy": "none"},
        "cluster.clusterAutoscaler",
        "cluster-autoscaler's image on registry.k8s.io is unreachable: the Helm release times out",
    ),
    Case(
        "no-nat-missing-sts",
        "cross",
        "prod",
        {
            "network.natStrategy": "none",
            "network.interfaceEndpoints": ["ecr.api", "ecr.dkr", "logs", "ec2"],
        },
        "network.natStrategy",
        "IRSA cannot reach STS: the model server cannot read S3",
    ),
    Case(
        "no-nat-dockerhub",
        "cross",
        "dev",
        {
            "network.natStrategy": "none",
            "network.enableInterfaceEndpoints": True,
            "cluster.clusterAutoscaler.enabled": False,
            "service.exposure": "cluster-ip",
            "service.allowedSourceCidrs": DELETE,
            "service.image.repository": "docker.io/acme/iris",
            "service.image.tag": DELETE,
            "service.image.digest": "sha256:" + "c" * 64,
        },
        "service.image.repository",
        "ImagePullBackOff: docker.io is unreachable",
    ),
    Case(
        "alb-without-controller",
        "cross",
        "dev",
        {"cluster.awsLoadBalancerController.enabled": False},
        "cluster.awsLoadBalancerController",
        "the Ingress is never reconciled: no ALB, pulumi-kubernetes waits and times out",
    ),
    Case(
        "nlb-without-controller",
        "cross",
        "prod",
        {"cluster.awsLoadBalancerController.enabled": False, "service.exposure": "nlb-internal"},
        "cluster.awsLoadBalancerController",
        "the NLB Service stays pending",
    ),
    Case(
        "gpu-without-device-plugin",
        "cross",
        "prod",
        {"cluster.nvidiaDevicePlugin.enabled": False},
        "nodePools.gpu",
        "GPU nodes never advertise nvidia.com/gpu: GPU pods Pending forever",
    ),
    Case(
        "min-zero-without-autoscaler",
        "cross",
        "prod",
        {"cluster.clusterAutoscaler.enabled": False},
        "nodePools.gpu.minSize",
        "the GPU pool stays at zero nodes forever",
    ),
    Case(
        "open-allow-list",
        "cross",
        "dev",
        {"service.allowedSourceCidrs": ["0.0.0.0/0"]},
        "service.allowedSourceCidrs",
        "plain HTTP to the whole internet, counted as allow-listed",
    ),
    Case(
        "open-allow-list-among-others",
        "cross",
        "dev",
        {"service.allowedSourceCidrs": ["203.0.113.0/24", "0.0.0.0/0"]},
        "0.0.0.0/0",
        "one open entry opens it to everyone",
    ),
    Case(
        "env-dev-on-prod-stack",
        "cross",
        "prod",
        {"environment": "dev"},
        "environment",
        "the policy pack judges stack prod as production, the config says dev",
    ),
    Case(
        "env-prod-on-dev-stack",
        "cross",
        "dev",
        {"environment": "prod"},
        "environment",
        "the production policies would not run on stack dev",
    ),
    Case(
        "env-staging-on-prod-suffix",
        "cross",
        "prod",
        {"environment": "staging"},
        "environment",
        "stack eu-prod is production for the policy pack",
        stack="eu-prod",
    ),
    Case(
        "env-prod-on-prod2",
        "cross",
        "prod",
        {},
        "environment",
        "stack prod2 is not production for the policy pack",
        stack="prod2",
    ),
    Case(
        "replicas-beyond-pool",
        "cross",
        "dev",
        {"service.maxReplicas": 20},
        "service.maxReplicas",
        "the HPA scales to 20; only 12 pods fit 4 nodes: 8 Pending",
    ),
    Case(
        "replicas-beyond-pool-prod",
        "cross",
        "prod",
        {"service.maxReplicas": 40, "service.cpuRequest": "2"},
        "service.maxReplicas",
        "one 2-core pod per 4-vCPU node: 12 nodes hold 12 of 40",
    ),
    Case(
        "gpu-replicas-beyond-pool",
        "cross",
        "prod",
        {"service.nodePool": "gpu", "service.gpus": 1},
        "service.maxReplicas",
        "12 replicas of one GPU each on at most 4 single-GPU nodes",
    ),
    Case(
        "controller-version-without-policy",
        "cross",
        "dev",
        {"cluster.awsLoadBalancerController.version": "1.15.0"},
        "cluster.awsLoadBalancerController.version",
        "refused mid-program after the VPC and cluster were created",
    ),
    Case(
        "fixed-pool-empty",
        "cross",
        "dev",
        {
            "nodePools.cpu.autoscaled": False,
            "nodePools.cpu.minSize": 0,
            "nodePools.cpu.desiredSize": 0,
        },
        "nodePools.cpu.desiredSize",
        "the service's pods stay Pending on a pool with no nodes",
    ),
    Case(
        "tls-on-nlb",
        "cross",
        "dev",
        {
            "service.exposure": "nlb-internal",
            "service.allowedSourceCidrs": DELETE,
            "service.tlsCertificateArn": DEV_CERT,
        },
        "tlsCertificateArn",
        "the certificate is silently unused",
    ),
    Case(
        "public-api-open",
        "cross",
        "dev",
        {"cluster.publicAccessCidrs": ["0.0.0.0/0"]},
        "publicAccessCidrs",
        "the API server open to the internet",
    ),
    Case(
        "gpus-on-cpu-pool",
        "cross",
        "dev",
        {"service.gpus": 1},
        "service.gpus",
        "pods request nvidia.com/gpu on CPU nodes: Pending forever",
    ),
    Case(
        "mixed-sizes-autoscaled",
        "cross",
        "dev",
        {"nodePools.cpu.instanceTypes": ["c7i.large", "c7i.xlarge"]},
        "c7i.xlarge",
        "cluster-autoscaler mis-sizes the group",
    ),
    Case(
        "gpu-pool-cpu-type",
        "cross",
        "prod",
        {"nodePools.gpu.instanceTypes": ["c7i.xlarge"]},
        "c7i.xlarge",
        "the NVIDIA AMI on a CPU instance: GPU pods Pending",
    ),
    Case(
        "arm-type-x86-pool",
        "cross",
        "dev",
        {"nodePools.cpu.instanceTypes": ["c7g.large"]},
        "c7g.large",
        "CreateNodegroup fails: the AMI type's architecture differs",
    ),
    # ---------------------------------------------------------------- versions
    Case(
        "k8s-extended-support",
        "versions",
        "dev",
        {"cluster.kubernetesVersion": "1.31"},
        "cluster.kubernetesVersion",
        "CreateCluster fails or bills extended support",
    ),
    Case(
        "release-for-other-k8s",
        "versions",
        "dev",
        {"nodePools.cpu.releaseVersion": "1.34.2-20260827"},
        "nodePools.cpu.releaseVersion",
        "CreateNodegroup fails: release is for another Kubernetes version",
    ),
    Case(
        "release-wrong-patch",
        "versions",
        "dev",
        {"nodePools.cpu.releaseVersion": "1.35.3-20260827"},
        "nodePools.cpu.releaseVersion",
        "CreateNodegroup fails: releaseVersion 1.35.3-20260827 does not exist",
    ),
    Case(
        "release-never-published",
        "versions",
        "prod",
        {"nodePools.gpu.releaseVersion": "1.35.7-20260101"},
        "1.35.7-20260101",
        "CreateNodegroup fails: no AMI of that date",
    ),
    Case(
        "autoscaler-chart-missing",
        "versions",
        "dev",
        {"cluster.clusterAutoscaler.version": "9.99.0"},
        "cluster.clusterAutoscaler.version",
        "helm install fails: chart version not found, after the cluster exists",
    ),
    Case(
        "device-plugin-chart-missing",
        "versions",
        "prod",
        {"cluster.nvidiaDevicePlugin.version": "0.99.1"},
        "cluster.nvidiaDevicePlugin.version",
        "helm install fails after the node groups exist",
    ),
    Case(
        "addon-old-coredns",
        "versions",
        "dev",
        {"cluster.addons.coredns": "v1.11.1-eksbuild.1"},
        "v1.11.1-eksbuild.1",
        "CreateAddon fails: version not supported for Kubernetes 1.35",
    ),
    Case(
        "addon-no-eksbuild",
        "versions",
        "prod",
        {"cluster.addons.vpcCni": "v1.22.4"},
        "v1.22.4",
        "CreateAddon fails: no such add-on version",
    ),
    Case(
        "k8s-bump-without-addons",
        "versions",
        "dev",
        {
            "cluster.kubernetesVersion": "1.36",
            "nodePools.system.releaseVersion": "1.36.1-20260827",
            "nodePools.cpu.releaseVersion": "1.36.1-20260827",
        },
        "1.35",
        "add-ons pinned for 1.35 are not offered for 1.36",
        account=lambda account: account.eks.versions.update({a: [] for a in account.eks.versions}),
    ),
    Case(
        "kube-proxy-other-minor",
        "versions",
        "dev",
        {"cluster.addons.kubeProxy": "v1.34.6-eksbuild.2"},
        "cluster.addons.kubeProxy",
        "CreateAddon fails: kube-proxy 1.34 is not offered for a 1.35 cluster",
    ),
    Case(
        "image-repository-url",
        "messages",
        "dev",
        {"service.image.repository": "https://123456789012.dkr.ecr.us-west-2.amazonaws.com/iris"},
        "https://123456789012.dkr.ecr.us-west-2.amazonaws.com/iris",
        "InvalidImageName: the pods never start",
    ),
    Case(
        "image-repository-with-tag",
        "messages",
        "dev",
        {"service.image.repository": "123456789012.dkr.ecr.us-west-2.amazonaws.com/iris:0.1.0"},
        "123456789012.dkr.ecr.us-west-2.amazonaws.com/iris:0.1.0",
        "the image reference gets two tags: InvalidImageName",
    ),
    # ---------------------------------------------------------------- account
    Case(
        "leftover-log-group",
        "account",
        "dev",
        {},
        "/aws/eks/ml-dev/cluster",
        "CreateLogGroup fails: ResourceAlreadyExistsException",
        account=_log_group,
    ),
    Case(
        "cluster-exists",
        "account",
        "dev",
        {},
        "cluster.name",
        "CreateCluster fails: ResourceInUseException",
        account=_cluster_exists,
    ),
    Case(
        "eips-exhausted",
        "account",
        "prod",
        {},
        "network.natStrategy",
        "AllocateAddress fails for the third NAT gateway: AddressLimitExceeded",
        account=_eips_in_use(3),
    ),
    Case(
        "vpcs-exhausted",
        "account",
        "dev",
        {},
        "L-F678F1CE",
        "CreateVpc fails: VpcLimitExceeded",
        account=_vpcs_in_use(4),
    ),
    Case(
        "image-digest-not-pushed",
        "account",
        "dev",
        {
            "service.image.tag": DELETE,
            "service.image.repository": f"{DEFAULT_ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/iris",
            "service.image.digest": "sha256:" + "b" * 64,
        },
        "sha256:" + "b" * 64,
        "ImagePullBackOff: no such digest in the repository",
    ),
    Case(
        "cross-account-image",
        "account",
        "dev",
        {
            "service.image.tag": DELETE,
            "service.image.repository": f"{OTHER_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/iris",
            "service.image.digest": "sha256:" + "c" * 64,
        },
        f"{OTHER_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/iris",
        "nodes get 403 pulling from another account's repository",
    ),
    Case(
        "certificate-pending",
        "account",
        "dev",
        {"service.tlsCertificateArn": "@certificate"},
        "service.tlsCertificateArn",
        "CreateListener fails: the certificate is not issued",
        account=_pending_certificate,
    ),
    Case(
        "certificate-missing",
        "account",
        "dev",
        {"service.tlsCertificateArn": DEV_CERT},
        "service.tlsCertificateArn",
        "CreateListener fails: CertificateNotFound",
    ),
    Case(
        "spot-quota",
        "account",
        "dev",
        {},
        "nodePools.cpu.maxSize",
        "the spot pool cannot grow past the vCPU quota",
        account=_quota("L-34B43A08", 4.0),
    ),
    Case(
        "gpu-quota",
        "account",
        "prod",
        {},
        "nodePools.gpu.maxSize",
        "G instances cannot launch: VcpuLimitExceeded",
        account=_quota("L-DB2E81BA", 0.0),
    ),
    Case(
        "model-missing",
        "account",
        "dev",
        {"service.modelPrefix": "iris/2"},
        "iris/2",
        "the server cannot load the model: CrashLoopBackOff",
    ),
    Case(
        "type-not-in-az",
        "account",
        "prod",
        {"network.availabilityZones": ["us-west-2a", "us-west-2b", "us-west-2d"]},
        "g5.xlarge",
        "CreateNodegroup fails: g5.xlarge is not offered in us-west-2d",
    ),
    Case(
        "az-not-in-region",
        "account",
        "dev",
        {"network.availabilityZones": ["us-west-2a", "us-west-2z"]},
        "us-west-2z",
        "CreateSubnet fails: no such AZ",
    ),
    # ---------------------------------------------------------------- messages
    Case(
        "yaml-tab",
        "messages",
        "dev",
        {},
        "Pulumi.dev.yaml:",
        "a 50-line traceback",
        yaml_text="config:\n  mlops-platform:platform:\n\tenvironment: dev\n",
    ),
    Case(
        "yaml-unclosed-list",
        "messages",
        "dev",
        {},
        "Pulumi.dev.yaml:",
        "a parser traceback",
        yaml_text="config:\n  mlops-platform:platform:\n    tags: [a, b\n    network: {}\n",
    ),
    Case(
        "typo-key",
        "messages",
        "dev",
        {"service.cpuRequests": "500m"},
        "service.cpuRequests",
        "silently ignored: the default request is deployed",
    ),
    Case(
        "wrong-type",
        "messages",
        "dev",
        {"service.minReplicas": "two"},
        "service.minReplicas",
        "a traceback from deep in the program",
    ),
    Case(
        "no-image-ref",
        "messages",
        "dev",
        {"service.image.tag": DELETE},
        "service.image",
        "the Deployment has no image",
    ),
    Case(
        "unknown-pool",
        "messages",
        "dev",
        {"service.nodePool": "gpu"},
        "service.nodePool",
        "pods select a label no node has: Pending",
    ),
    Case(
        "environment-typo",
        "messages",
        "dev",
        {"environment": "production"},
        "environment",
        "rejected later by the cost and policy code",
    ),
    Case(
        "nat-typo",
        "messages",
        "dev",
        {"network.natStrategy": "per-az"},
        "network.natStrategy",
        "a KeyError in the network component",
    ),
]


VALID: list[Case] = [
    Case(
        "image-elsewhere",
        "valid",
        "dev",
        {
            "service.image.repository": "ghcr.io/acme/iris-server",
            "service.image.tag": DELETE,
            "service.image.digest": "sha256:" + "c" * 64,
        },
        "",
        "a public registry through the NAT gateway",
    ),
    Case(
        "image-registry-port",
        "valid",
        "dev",
        {
            "service.image.repository": "registry.example.com:5000/ml/iris",
            "service.image.tag": DELETE,
            "service.image.digest": "sha256:" + "c" * 64,
        },
        "",
        "a registry host with a port",
    ),
    Case("dev", "valid", "dev", {}, "", "the shipped dev stack"),
    Case("prod", "valid", "prod", {}, "", "the shipped prod stack"),
    Case("tags-44", "valid", "dev", {"tags": _many_tags(44)}, "", "44 + 6 = 50 tags"),
    Case(
        "tags-unicode",
        "valid",
        "dev",
        {"tags.équipe": "données ML", "tags.path": "a/b:c=d+e@f"},
        "",
        "letters of any script, spaces and _ . : / = + - @",
    ),
    Case(
        "tag-value-aws-word",
        "valid",
        "dev",
        {"tags.note": "runs on aws"},
        "",
        "only a leading aws: on the key is reserved",
    ),
    Case(
        "label-node-kubernetes-io",
        "valid",
        "dev",
        {"nodePools.cpu.labels.node.kubernetes.io/lifecycle": "spot"},
        "",
        "node.kubernetes.io/* is allowed to the kubelet",
    ),
    Case(
        "label-own-prefix",
        "valid",
        "dev",
        {"nodePools.cpu.labels.example.com/team": "ml-platform_v1.2"},
        "",
        "any DNS prefix, a value of letters, digits, - _ .",
    ),
    Case(
        "taint-nvidia",
        "valid",
        "prod",
        {
            "nodePools.gpu.taints": [
                {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
            ]
        },
        "",
        "the usual GPU taint (same key, different effects is fine too)",
    ),
    Case("cpu-decimal", "valid", "dev", {"service.cpuRequest": "0.25"}, "", "0.25 cores"),
    Case("cpu-1500m", "valid", "prod", {"service.cpuRequest": "1500m"}, "", "1.5 cores"),
    Case("cpu-exponent", "valid", "prod", {"service.cpuRequest": "1e0"}, "", "one core"),
    Case("memory-decimal-gi", "valid", "prod", {"service.memoryRequest": "1.5Gi"}, "", "1.5Gi"),
    Case("memory-decimal-si", "valid", "prod", {"service.memoryRequest": "2G"}, "", "2 GB"),
    Case("memory-exponent", "valid", "prod", {"service.memoryRequest": "1e9"}, "", "1e9 bytes"),
    Case(
        "public-https",
        "valid",
        "dev",
        {"service.tlsCertificateArn": "@certificate", "service.allowedSourceCidrs": ["0.0.0.0/0"]},
        "",
        "public HTTPS for everyone is a choice, not a mistake",
        account=_issued_certificate,
    ),
    Case(
        "two-named-azs",
        "valid",
        "dev",
        {"network.availabilityZones": ["us-west-2a", "us-west-2c"]},
        "",
        "explicit AZs",
    ),
    Case(
        "subnet-sizes",
        "valid",
        "dev",
        {"network.privateSubnetPrefix": 20, "network.publicSubnetPrefix": 24},
        "",
        "/20 private, /24 public in a /16",
    ),
    Case(
        "gp3-tuned",
        "valid",
        "dev",
        {"nodePools.cpu.rootVolume": {"sizeGib": 20, "iops": 6000, "throughputMibps": 500}},
        "",
        "6000 ≤ 500 × 20 IOPS, 500 ≤ 0.25 × 6000 MiB/s",
    ),
    Case(
        "gp3-max",
        "valid",
        "prod",
        {"nodePools.cpu.rootVolume": {"sizeGib": 32, "iops": 16000, "throughputMibps": 1000}},
        "",
        "16000 IOPS on 32 GiB, 1000 MiB/s",
    ),
    Case(
        "staging-stack",
        "valid",
        "dev",
        {"environment": "staging"},
        "",
        "staging is not production",
        stack="staging",
    ),
    Case("prod-eu-stack", "valid", "prod", {}, "", "prod-* is production", stack="prod-eu"),
    Case("eu-prod-stack", "valid", "prod", {}, "", "*-prod is production", stack="eu-prod"),
    Case(
        "no-nat-private",
        "valid",
        "prod",
        {
            "network.natStrategy": "none",
            "cluster.clusterAutoscaler.enabled": False,
            "nodePools.gpu": DELETE,
            "service.exposure": "cluster-ip",
        },
        "",
        "no NAT: every image from the region's ECR through the endpoints",
    ),
    Case(
        "cluster-name-underscore",
        "valid",
        "dev",
        {"cluster.name": "ML_Dev-2"},
        "",
        "letters, digits, - and _",
    ),
    Case("service-name-dashes", "valid", "dev", {"service.name": "iris-v2"}, "", "DNS-1035"),
    Case(
        "cluster-ip",
        "valid",
        "dev",
        {"service.exposure": "cluster-ip", "service.allowedSourceCidrs": DELETE},
        "",
        "in-cluster only: no controller needed",
    ),
    Case(
        "cluster-ip-without-controller",
        "valid",
        "dev",
        {
            "service.exposure": "cluster-ip",
            "service.allowedSourceCidrs": DELETE,
            "cluster.awsLoadBalancerController.enabled": False,
        },
        "",
        "no load balancer, no controller",
    ),
    Case(
        "gpu-service",
        "valid",
        "prod",
        {"service.nodePool": "gpu", "service.gpus": 1, "service.maxReplicas": 4},
        "",
        "one GPU per pod, four single-GPU nodes",
    ),
    Case(
        "replicas-at-capacity",
        "valid",
        "dev",
        {"service.maxReplicas": 12},
        "",
        "3 pods of 500m per 2-vCPU node × 4 nodes",
    ),
    Case(
        "cpu-2-on-xlarge",
        "valid",
        "prod",
        {"service.cpuRequest": "2"},
        "",
        "2 cores on a 4-vCPU node",
    ),
    Case(
        "namespace-own",
        "valid",
        "prod",
        {"service.namespace": "inference"},
        "",
        "a namespace of its own",
    ),
]
