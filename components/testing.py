"""The mocks kit: unit-test a Pulumi program or component offline, with realistic outputs.

Public API, for this repo's tests and for the stacks that import our components::

    from components.testing import PlatformMocks, run_stack

    run = run_stack("dev", project_dir=".")            # a whole stack program
    vpcs = run.by_type("aws:ec2/vpc:Vpc")
    assert vpcs[0].inputs["enableDnsHostnames"] is True

or, around a single component, with `PlatformMocks().install(...)` (or
`pulumi.runtime.set_mocks`) and `@pulumi_test`, the kit's typed `@pulumi.runtime.test`
(see `tests/components/test_model_store.py`).

A program that reads another stack (`pulumi.StackReference`) gets that stack's outputs
from `PlatformMocks(stack_references={"org/project/stack": outputs})`, for instance the
outputs of the platform's own offline run (`run_stack("dev", project_dir=...).outputs`);
see `examples/second-model/`. A reference the kit was not given fails the run, naming it.

`PlatformMocks` records every registration (type, name, inputs, parent URN, custom or
component), answers with outputs in AWS's formats (ids like `vpc-0…`, ARNs with a fixed
account and the stack's region, AZ names, SSM AMI parameters, the outputs of
`pulumi_eks.Cluster`, the digest a `pulumi_docker_build.Image` push answers), and,
with `moto=True`, also creates VPCs, subnets, route tables,
security groups, launch templates and IAM roles and policies in moto, so AWS's own
rules (overlapping CIDRs, malformed policy documents) fail the test with AWS's text.
Ids and physical names are derived from the URN, so two runs give identical results.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import runpy
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.core.stackfile import read_stack_file

__all__ = [
    "ACCOUNT_ID",
    "PlatformMocks",
    "Registration",
    "StackRun",
    "UnknownStackReferenceError",
    "load_stack_config_file",
    "pulumi_test",
    "reveal_secrets",
    "run_program",
    "run_stack",
]

ACCOUNT_ID = "123456789012"
STACK_TYPE = "pulumi:pulumi:Stack"
STACK_REFERENCE_TYPE = "pulumi:pulumi:StackReference"

_P = ParamSpec("_P")


class UnknownStackReferenceError(LookupError):
    """The program read a stack the kit was given no outputs for."""


@dataclass(frozen=True)
class Registration:
    """One resource the program registered, as the engine would have seen it."""

    type: str
    name: str
    urn: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    id: str | None
    dependencies: tuple[str, ...] = ()
    provider: str | None = None
    ignore_changes: tuple[str, ...] = ()
    """Property paths the engine is told to ignore, as sent on the wire (camelCase)."""
    transforms: int = 0
    """How many resource transforms the registration carries (they run in the engine)."""
    protect: bool = False
    """`protect=True`: the engine refuses to delete or replace it."""
    retain_on_delete: bool = False
    """`retain_on_delete=True`: deleting it from the stack leaves it in the cloud."""
    read: bool = False
    """Read, not created: a `StackReference` or a resource's `.get(...)`."""

    @property
    def is_component(self) -> bool:
        return not self.custom


@dataclass
class StackRun:
    """What one run of a stack program registered and exported."""

    stack: str
    project: str
    resources: list[Registration]
    outputs: dict[str, Any]
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def by_type(self, type_: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Registration:
        found = [r for r in self.by_type(type_) if name is None or r.name == name]
        if len(found) != 1:
            raise LookupError(f"expected one {type_} named {name!r}, found {len(found)}")
        return found[0]

    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.resources}

    def children(self, parent: Registration) -> list[Registration]:
        return [r for r in self.resources if r.parent == parent.urn]

    def ancestors(self, resource: Registration) -> list[Registration]:
        """The parent chain of a resource, nearest first, up to (not including) the stack."""
        index = self.by_urn()
        chain = []
        parent = resource.parent
        while parent and parent in index:
            chain.append(index[parent])
            parent = index[parent].parent
        return chain


def _partition_of(region: str) -> tuple[str, str]:
    """(partition, DNS suffix) of a region: aws-cn for `cn-*`, aws-us-gov for `us-gov-*`."""
    if region.startswith("cn-"):
        return "aws-cn", "amazonaws.com.cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov", "amazonaws.com"
    return "aws", "amazonaws.com"


#: How the SDK marks a secret value in a registration's inputs (pulumi/runtime/rpc.py).
_SECRET_SIG = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")


def reveal_secrets(value: Any) -> Any:
    """`value` with every secret wrapper the SDK put around recorded inputs removed.

    Registrations keep secrets wrapped (`{<sig>: <secret sig>, "value": ...}`) so the
    preview can mask them; a test that asserts on a secret's content unwraps it here.
    """
    if isinstance(value, dict):
        if value.get(_SECRET_SIG[0]) == _SECRET_SIG[1] and "value" in value:
            return reveal_secrets(value["value"])
        return {k: reveal_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal_secrets(v) for v in value]
    return value


_LOAD_BALANCER_LOOKUPS = (
    "aws:lb/getLoadBalancer:getLoadBalancer",
    "aws:lb/getTargetGroup:getTargetGroup",
)


def _stable_hex(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:length]


def _ints(value: Any) -> Any:
    """The wire format carries every number as a double; give ints back as ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


# Prefixes of EC2-style ids, by resource type.
_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc-0",
    "aws:ec2/subnet:Subnet": "subnet-0",
    "aws:ec2/internetGateway:InternetGateway": "igw-0",
    "aws:ec2/natGateway:NatGateway": "nat-0",
    "aws:ec2/eip:Eip": "eipalloc-0",
    "aws:ec2/routeTable:RouteTable": "rtb-0",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc-0",
    "aws:ec2/route:Route": "r-rtb-0",
    "aws:ec2/securityGroup:SecurityGroup": "sg-0",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce-0",
    "aws:ec2/flowLog:FlowLog": "fl-0",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt-0",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr-0",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "sgr-0",
}

# Resource types whose ARN service and resource part we know, for realistic `arn` outputs.
_ARN = {
    "aws:iam/role:Role": ("iam", "role/{name}", True),
    "aws:iam/policy:Policy": ("iam", "policy/{name}", True),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": (
        "iam",
        "oidc-provider/oidc.eks.{region}.{suffix}/id/{hex}",
        True,
    ),
    "aws:kms/key:Key": ("kms", "key/{uuid}", False),
    "aws:cloudwatch/logGroup:LogGroup": ("logs", "log-group:{name}", False),
    "aws:s3/bucket:Bucket": ("s3", "{name}", True),
    "aws:s3/bucketV2:BucketV2": ("s3", "{name}", True),
    "aws:ecr/repository:Repository": ("ecr", "repository/{name}", False),
    "aws:eks/nodeGroup:NodeGroup": ("eks", "nodegroup/{cluster}/{name}/{uuid}", False),
    "aws:eks/addon:Addon": ("eks", "addon/{cluster}/{name}/{uuid}", False),
    "aws:eks/accessEntry:AccessEntry": ("eks", "access-entry/{cluster}/{uuid}", False),
    "aws:ec2/vpc:Vpc": ("ec2", "vpc/{id}", False),
    "aws:ec2/subnet:Subnet": ("ec2", "subnet/{id}", False),
    "aws:ec2/securityGroup:SecurityGroup": ("ec2", "security-group/{id}", False),
    "aws:ec2/launchTemplate:LaunchTemplate": ("ec2", "launch-template/{id}", False),
    "aws:sns/topic:Topic": ("sns", "{name}", False),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("cloudwatch", "alarm:{name}", False),
    "aws:cloudwatch/dashboard:Dashboard": ("cloudwatch", "dashboard/{name}", True),
    "aws:budgets/budget:Budget": ("budgets", "budget/{name}", True),
}


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, plus a record of each registration's parent and inputs."""

    def __init__(self, mocks: PlatformMocks) -> None:
        super().__init__(mocks)
        self._kit = mocks

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != STACK_TYPE:
            urn = response.urn
            registered = self.resources.get(urn)
            self._kit._record(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=urn,
                    parent=request.parent or None,
                    custom=bool(request.custom),
                    inputs=_ints(rpc.deserialize_properties(request.object)),
                    outputs=dict(registered.state) if registered else {},
                    id=registered.id if registered else None,
                    dependencies=tuple(request.dependencies),
                    provider=request.provider or None,
                    ignore_changes=tuple(request.ignoreChanges),
                    transforms=len(request.transforms),
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                )
            )
        return response

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().ReadResource(request)  # type: ignore[no-untyped-call]
        registered = self.resources.get(response.urn)
        self._kit._record(
            Registration(
                type=request.type,
                name=request.name,
                urn=response.urn,
                parent=request.parent or None,
                custom=True,
                inputs=_ints(rpc.deserialize_properties(request.properties)),
                outputs=dict(registered.state) if registered else {},
                id=request.id,
                dependencies=tuple(request.dependencies),
                provider=request.provider or None,
                read=True,
            )
        )
        return response


class PlatformMocks(pulumi.runtime.Mocks):
    """Records every registration and answers with AWS-shaped outputs.

    `outputs` maps a type token to a function `(name, inputs) -> extra outputs`, for
    resource types of your own (it is consulted before the built-in table).
    `stack_references` maps a referenced stack's full name (`org/project/stack`, as the
    program passes it to `pulumi.StackReference`) to that stack's outputs, as
    `pulumi stack output --json` prints them; `secret_outputs` names the secret ones.
    """

    def __init__(
        self,
        *,
        region: str = "us-west-2",
        account_id: str = ACCOUNT_ID,
        az_count: int = 4,
        moto: bool = False,
        outputs: Mapping[str, Callable[[str, dict[str, Any]], dict[str, Any]]] | None = None,
        stack_references: Mapping[str, Mapping[str, Any]] | None = None,
        secret_outputs: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.region = region
        self.account_id = account_id
        self.azs = [f"{region}{letter}" for letter in "abcdef"[:az_count]]
        self.registrations: list[Registration] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._custom_outputs = dict(outputs or {})
        self.stack_references = {k: dict(v) for k, v in (stack_references or {}).items()}
        self._secret_outputs = {k: sorted(v) for k, v in (secret_outputs or {}).items()}
        self._lock = threading.Lock()
        self._moto = _MotoBacking(region) if moto else None

    def monitor(self) -> pulumi_mocks.MockMonitor:
        """The monitor to hand to `pulumi.runtime.set_mocks(..., monitor=...)`."""
        return _RecordingMonitor(self)

    def install(
        self,
        *,
        project: str,
        stack: str,
        preview: bool = False,
        root_directory: str | Path | None = None,
    ) -> None:
        """`pulumi.runtime.set_mocks` with this kit's recording monitor.

        `root_directory` is what `pulumi.get_root_directory()` answers (the folder of
        `Pulumi.yaml`, where the stack finds its model and build context); default: the
        current directory (the SDK's mocks would answer a placeholder string).
        """
        pulumi.runtime.set_mocks(
            self, project=project, stack=stack, preview=preview, monitor=self.monitor()
        )
        SETTINGS.root_directory = str(Path(root_directory or Path.cwd()).resolve())

    def close(self) -> None:
        if self._moto is not None:
            self._moto.stop()

    def _record(self, registration: Registration) -> None:
        with self._lock:
            self.registrations.append(registration)

    # ----------------------------------------------------------------- pulumi.runtime.Mocks

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        inputs = _ints(dict(args.inputs))
        if args.typ == STACK_REFERENCE_TYPE:
            return self._stack_reference(str(args.resource_id or inputs.get("name")))
        if not args.custom and args.typ != "eks:index:Cluster":
            return None, {}
        key = f"{args.typ}::{args.name}"
        physical = inputs.get("name") or f"{args.name}-{_stable_hex(key, length=7)}"
        resource_id = self._id(args.typ, key, physical, inputs)
        if self._moto is not None:
            resource_id = self._moto.create(args.typ, physical, inputs) or resource_id
        outputs: dict[str, Any] = {**inputs}
        outputs.update(self._outputs(args.typ, args.name, key, physical, resource_id, inputs))
        custom = self._custom_outputs.get(args.typ)
        if custom is not None:
            outputs.update(custom(args.name, inputs))
        return resource_id, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        with self._lock:
            self.calls.append((args.token, dict(args.args)))
        token = args.token
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            zone_ids = [f"usw2-az{i + 1}" for i in range(len(self.azs))]
            return {"names": self.azs, "zoneIds": zone_ids, "id": self.region, "state": "available"}
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": self.account_id,
                "arn": f"arn:{self.partition}:iam::{self.account_id}:user/offline",
                "userId": "AIDAOFFLINEUSER",
                "id": self.account_id,
            }
        if token in ("aws:index/getRegion:getRegion", "aws:index/region:getRegion"):
            return {
                "name": self.region,
                "region": self.region,
                "id": self.region,
                "endpoint": f"ec2.{self.region}.{self.dns_suffix}",
                "description": self.region,
            }
        if token == "aws:index/getPartition:getPartition":
            partition, dns_suffix = self.partition, self.dns_suffix
            return {
                "partition": partition,
                "dnsSuffix": dns_suffix,
                "id": partition,
                "reverseDnsPrefix": ".".join(reversed(dns_suffix.split("."))),
            }
        if token == "aws:ec2/getVpcEndpointService:getVpcEndpointService":
            return self._endpoint_service(dict(args.args))
        if token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            registry = str(args.args.get("registryId") or self.account_id)
            endpoint = f"https://{registry}.dkr.ecr.{self.region}.{self.dns_suffix}"
            return {
                "authorizationToken": "QVdTOm9mZmxpbmUtdG9rZW4=",
                "expiresAt": "2099-01-01T00:00:00Z",
                "id": self.region,
                "password": "offline-token",
                "proxyEndpoint": endpoint,
                "registryId": registry,
                "userName": "AWS",
            }
        if token in (
            "aws:lb/getLoadBalancer:getLoadBalancer",
            "aws:lb/getTargetGroup:getTargetGroup",
        ):
            # The load balancer controller's resources, found by its tags: the suffixes are
            # hashed from the tags so two runs agree.
            tags = dict(args.args.get("tags") or {})
            digest = _stable_hex(json.dumps(tags, sort_keys=True))
            balancer = token.endswith("getLoadBalancer")
            kind = "app" if "ingress.k8s.aws/stack" in tags else "net"
            suffix = (
                f"{kind}/k8s-{digest[:8]}/{digest[:16]}"
                if balancer
                else (f"targetgroup/k8s-{digest[:8]}/{digest[:16]}")
            )
            resource = "loadbalancer" if balancer else ""
            arn = (
                f"arn:aws:elasticloadbalancing:{self.region}:{self.account_id}:"
                f"{resource + '/' if resource else ''}{suffix}"
            )
            return {
                "arn": arn,
                "arnSuffix": suffix,
                "id": arn,
                "name": suffix.split("/")[1],
                "tags": tags,
            }
        if token == "aws:ssm/getParameter:getParameter":
            name = str(args.args.get("name", ""))
            return {
                "name": name,
                "value": f"ami-0{_stable_hex(name)}",
                "type": "String",
                "arn": f"arn:{self.partition}:ssm:{self.region}:{self.account_id}:parameter{name}",
                "id": name,
                "version": 1,
                "insecureValue": f"ami-0{_stable_hex(name)}",
            }
        return {}

    @property
    def partition(self) -> str:
        """The region's partition, as `aws.get_partition` answers there."""
        return _partition_of(self.region)[0]

    @property
    def dns_suffix(self) -> str:
        return _partition_of(self.region)[1]

    def _endpoint_service(self, args: dict[str, Any]) -> dict[str, Any]:
        """`aws.ec2.get_vpc_endpoint_service`: the one service among the asked names.

        China names most interface endpoint services `cn.com.amazonaws.<region>.<svc>`
        (`aws ec2 describe-vpc-endpoint-services` there; aws-cdk#16139) and its S3
        gateway `com.amazonaws.<region>.s3`; every other partition `com.amazonaws.…`.
        """
        kind = str(args.get("serviceType") or "Interface")
        names: list[str] = []
        for item in args.get("filters") or []:
            if item.get("name") == "service-name":
                names.extend(str(v) for v in item.get("values", []))
        if args.get("serviceName"):
            names.append(str(args["serviceName"]))
        if args.get("service"):
            names.append(f"com.amazonaws.{self.region}.{args['service']}")
        china_style = self.partition == "aws-cn" and kind == "Interface"
        found = [n for n in names if n.startswith("cn.com.amazonaws.") == china_style]
        if len(found) != 1:
            raise ValueError(f"no single VPC endpoint service among {names} ({kind})")
        return {
            "serviceName": found[0],
            "serviceType": kind,
            "id": found[0],
            "owner": "amazon",
            "service": found[0].rsplit(f"{self.region}.", 1)[-1],
            "acceptanceRequired": False,
            "availabilityZones": self.azs,
        }

    def _stack_reference(self, stack: str) -> tuple[str, dict[str, Any]]:
        """What the engine reads for a `StackReference`: the stack's name and outputs."""
        if stack not in self.stack_references:
            known = sorted(self.stack_references) or "none"
            raise UnknownStackReferenceError(
                f"the program reads stack {stack!r}, but the mocks were given no outputs for it "
                f"(PlatformMocks(stack_references=...); known: {known})"
            )
        return stack, {
            "name": stack,
            "outputs": self.stack_references[stack],
            "secretOutputNames": self._secret_outputs.get(stack, []),
        }

    # ----------------------------------------------------------------- outputs

    def _id(self, typ: str, key: str, physical: str, inputs: dict[str, Any]) -> str:
        prefix = _ID_PREFIX.get(typ)
        if prefix is not None:
            return prefix + _stable_hex(key, length=16)
        if typ == "aws:kms/key:Key":
            return self._uuid(key)
        if typ in ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"):
            return str(inputs.get("bucket") or physical)
        return str(physical)

    @staticmethod
    def _uuid(key: str) -> str:
        h = _stable_hex(key, length=32)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def _outputs(
        self,
        typ: str,
        logical: str,
        key: str,
        physical: str,
        resource_id: str,
        inputs: dict[str, Any],
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"id": resource_id}
        arn = _ARN.get(typ)
        if arn is not None:
            service, resource, global_ = arn
            cluster = str(inputs.get("clusterName", "cluster"))
            part = resource.format(
                name=physical
                if typ != "aws:eks/addon:Addon"
                else inputs.get("addonName", physical),
                id=resource_id,
                uuid=self._uuid(key),
                hex=_stable_hex(key, length=32).upper(),
                region=self.region,
                suffix=self.dns_suffix,
                cluster=cluster,
            )
            region = "" if global_ else self.region
            account = "" if service == "s3" else self.account_id
            out["arn"] = f"arn:{self.partition}:{service}:{region}:{account}:{part}"
        if "name" not in inputs and typ.startswith("aws:") and typ not in _ID_PREFIX:
            out["name"] = physical
        if typ == "aws:ec2/vpc:Vpc":
            out.update(
                defaultSecurityGroupId="sg-0" + _stable_hex(key, "sg", length=16),
                mainRouteTableId="rtb-0" + _stable_hex(key, "rtb", length=16),
                ownerId=self.account_id,
            )
        elif typ == "aws:ec2/launchTemplate:LaunchTemplate":
            out.update(latestVersion=1, defaultVersion=1)
        elif typ in ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"):
            bucket = inputs.get("bucket") or physical
            out.update(
                bucket=bucket,
                bucketDomainName=f"{bucket}.s3.{self.dns_suffix}",
                bucketRegionalDomainName=f"{bucket}.s3.{self.region}.{self.dns_suffix}",
                region=self.region,
            )
        elif typ == "aws:ecr/repository:Repository":
            out.update(
                registryId=self.account_id,
                repositoryUrl=(
                    f"{self.account_id}.dkr.ecr.{self.region}.{self.dns_suffix}/{physical}"
                ),
            )
        elif typ == "aws:iam/role:Role":
            out.update(uniqueId="AROA" + _stable_hex(key, length=17).upper())
        elif typ == "aws:kms/key:Key":
            out.update(keyId=resource_id)
        elif typ == "aws:eks/nodeGroup:NodeGroup":
            out.update(
                nodeGroupName=inputs.get("nodeGroupName") or physical,
                status="ACTIVE",
                resources=[
                    {
                        "autoscalingGroups": [
                            {"name": f"eks-{physical}-{_stable_hex(key, length=8)}"}
                        ]
                    }
                ],
            )
        elif typ == "eks:index:Cluster":
            out.update(self._eks_cluster_outputs(logical, key, inputs))
        elif typ == "docker-build:index:Image":
            # What a push answers: the manifest's digest and `<first tag>@<digest>`.
            digest = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
            pushed = [str(t) for t in inputs.get("tags") or []]
            out.update(
                digest=digest,
                ref=f"{pushed[0]}@{digest}" if pushed and inputs.get("push") else "",
                contextHash=_stable_hex(key, "context", length=64),
            )
        return out

    def _eks_cluster_outputs(
        self, logical: str, key: str, inputs: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """What `pulumi_eks.Cluster` (a remote component) would return from a real deployment."""
        cluster_name = str(
            (inputs or {}).get("name") or f"{logical}-eksCluster-{_stable_hex(key, length=7)}"
        )
        credentials = (inputs or {}).get("providerCredentialOpts") or {}
        oidc_id = _stable_hex(key, "oidc", length=32).upper()
        issuer = f"oidc.eks.{self.region}.{self.dns_suffix}/id/{oidc_id}"
        endpoint = f"https://{oidc_id}.gr7.{self.region}.eks.{self.dns_suffix}"
        kubeconfig: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "kubernetes",
                    "cluster": {"server": endpoint, "certificate-authority-data": "TU9DSy1DQQ=="},
                }
            ],
            "contexts": [{"name": "aws", "context": {"cluster": "kubernetes", "user": "aws"}}],
            "current-context": "aws",
            "users": [
                {
                    "name": "aws",
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": [
                                "eks",
                                "get-token",
                                "--cluster-name",
                                cluster_name,
                                "--output",
                                "json",
                            ],
                        }
                    },
                }
            ],
        }
        # As pulumi-eks renders `providerCredentialOpts`: the role as `--role-arn`, the
        # profile as AWS_PROFILE in the exec environment (KubeconfigOptionsArgs docs).
        exec_ = kubeconfig["users"][0]["user"]["exec"]
        if credentials.get("roleArn"):
            exec_["args"] += ["--role-arn", credentials["roleArn"]]
        if credentials.get("profileName"):
            exec_["env"] = [{"name": "AWS_PROFILE", "value": credentials["profileName"]}]
        return {
            "clusterName": cluster_name,
            "endpoint": endpoint,
            "kubeconfig": kubeconfig,
            "kubeconfigJson": json.dumps(kubeconfig),
            "clusterSecurityGroupId": "sg-0" + _stable_hex(key, "cluster-sg", length=16),
            "nodeSecurityGroupId": "sg-0" + _stable_hex(key, "node-sg", length=16),
            "oidcProviderArn": (
                f"arn:{self.partition}:iam::{self.account_id}:oidc-provider/{issuer}"
            ),
            "oidcProviderUrl": f"https://{issuer}",
            "oidcIssuer": issuer,
        }


class _MotoBacking:
    """Creates the EC2 and IAM resources in moto too, so AWS's validation runs offline."""

    def __init__(self, region: str) -> None:
        import boto3
        from moto import mock_aws

        self._mock = mock_aws()
        self._mock.start()
        self.ec2 = boto3.client(
            "ec2", region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        self.iam = boto3.client(
            "iam", region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        self._ids: dict[str, str] = {}

    def stop(self) -> None:
        self._mock.stop()

    def create(self, typ: str, physical: str, inputs: dict[str, Any]) -> str | None:
        """Create the resource in moto and return its id, or None for types not backed."""
        if typ == "aws:ec2/vpc:Vpc":
            return str(self.ec2.create_vpc(CidrBlock=inputs["cidrBlock"])["Vpc"]["VpcId"])
        if typ == "aws:ec2/subnet:Subnet":
            return self.ec2.create_subnet(
                VpcId=inputs["vpcId"],
                CidrBlock=inputs["cidrBlock"],
                AvailabilityZone=inputs["availabilityZone"],
            )["Subnet"]["SubnetId"]
        if typ == "aws:ec2/routeTable:RouteTable":
            return self.ec2.create_route_table(VpcId=inputs["vpcId"])["RouteTable"]["RouteTableId"]
        if typ == "aws:ec2/securityGroup:SecurityGroup":
            return self.ec2.create_security_group(
                GroupName=physical,
                Description=inputs.get("description", "Managed by Pulumi"),
                VpcId=inputs["vpcId"],
            )["GroupId"]
        if typ == "aws:ec2/launchTemplate:LaunchTemplate":
            data: dict[str, Any] = {}
            if "userData" in inputs:
                data["UserData"] = inputs["userData"]
            if "metadataOptions" in inputs:
                md = inputs["metadataOptions"]
                data["MetadataOptions"] = {
                    "HttpTokens": md.get("httpTokens", "optional"),
                    "HttpPutResponseHopLimit": md.get("httpPutResponseHopLimit", 1),
                }
            return self.ec2.create_launch_template(
                LaunchTemplateName=physical,
                LaunchTemplateData=data,  # type: ignore[arg-type]
            )["LaunchTemplate"]["LaunchTemplateId"]
        if typ == "aws:iam/role:Role":
            self.iam.create_role(
                RoleName=physical, AssumeRolePolicyDocument=inputs["assumeRolePolicy"]
            )
            # moto validates a trust policy on update only; re-applying it runs AWS's rules.
            self.iam.update_assume_role_policy(
                RoleName=physical, PolicyDocument=inputs["assumeRolePolicy"]
            )
            return physical
        if typ == "aws:iam/policy:Policy":
            return self.iam.create_policy(PolicyName=physical, PolicyDocument=inputs["policy"])[
                "Policy"
            ]["Arn"]
        if typ == "aws:iam/rolePolicy:RolePolicy":
            role = str(inputs["role"])
            self.iam.put_role_policy(
                RoleName=role, PolicyName=physical, PolicyDocument=inputs["policy"]
            )
            return f"{role}:{physical}"
        return None


# --------------------------------------------------------------------------- whole stacks


def load_stack_config_file(project_dir: Path, stack: str) -> tuple[str, dict[str, str]]:
    """The project name and `Pulumi.<stack>.yaml` config as the CLI would pass it."""
    stack_file = read_stack_file(project_dir, stack)
    return stack_file.project, stack_file.config


@contextmanager
def _argv(program: Path) -> Iterator[None]:
    saved = list(sys.argv), list(sys.path)
    sys.argv = [str(program)]
    sys.path.insert(0, str(program.parent))
    try:
        yield
    finally:
        sys.argv, sys.path[:] = saved[0], saved[1]


def run_program(
    program: Callable[[], object],
    *,
    project: str = "project",
    stack: str = "test",
    config: Mapping[str, Any] | None = None,
    mocks: PlatformMocks | None = None,
    preview: bool = False,
    root_directory: str | Path | None = None,
) -> StackRun:
    """Run `program` (a function that builds resources) under the mocks and record it.

    `config` keys are `"namespace:key"` or `"key"` (put in the project's namespace);
    non-string values are passed as JSON, as the CLI does for structured config.
    Exceptions from the program or from a mocked AWS call propagate unchanged. Each call
    runs in a fresh context, so several runs in one process do not see each other.
    """
    full_config: dict[str, str] = {}
    for key, value in (config or {}).items():
        full = key if ":" in key else f"{project}:{key}"
        full_config[full] = value if isinstance(value, str) else json.dumps(value)
    kit = mocks or PlatformMocks(region=full_config.get("aws:region", "us-west-2"))

    def run() -> StackRun:
        # As `pulumi.runtime.test` does: a failed earlier run must not leak its RPCs here.
        SETTINGS.rpc_manager.clear()
        SETTINGS.outputs.clear()
        kit.install(project=project, stack=stack, preview=preview, root_directory=root_directory)
        pulumi.runtime.set_all_config(full_config)
        root = pulumi.runtime.get_root_resource()

        def call() -> None:
            program()

        _sync_await(run_pulumi_func(call))
        exported = getattr(root, "outputs", {})
        outputs = _sync_await(pulumi.Output.from_input(exported).future()) if exported else {}
        return StackRun(
            stack=stack,
            project=project,
            resources=list(kit.registrations),
            outputs=dict(outputs or {}),
            calls=list(kit.calls),
        )

    # A fresh event loop per run: the SDK's synchronous awaits use the current loop, and
    # code that ran before (asyncio.run in another test, say) may have closed or unset it.
    loop = asyncio.new_event_loop()
    previous = asyncio.get_event_loop_policy().get_event_loop() if _has_loop() else None
    asyncio.set_event_loop(loop)
    try:
        return contextvars.Context().run(run)
    finally:
        asyncio.set_event_loop(previous)
        loop.close()
        if mocks is None:
            kit.close()


def pulumi_test(fn: Callable[_P, object]) -> Callable[_P, None]:
    """`@pulumi.runtime.test`, typed: `fn` runs under the installed mocks and whatever it
    returns (an `Output`, an awaitable) is awaited before the call returns.

    The SDK's decorator has no annotations, so under `mypy --strict` it would make every
    test it decorates untyped; this is the same decorator with its real signature.
    """
    decorate: Callable[[Callable[_P, object]], Callable[_P, None]] = pulumi.runtime.test
    return decorate(fn)


def _has_loop() -> bool:
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        return False
    return True


def run_stack(
    stack: str,
    *,
    project_dir: str | Path = ".",
    mocks: PlatformMocks | None = None,
    config: Mapping[str, Any] | None = None,
    program: str = "__main__.py",
    preview: bool = False,
) -> StackRun:
    """Run a stack's program file under the mocks, with its `Pulumi.<stack>.yaml` config.

    `config` overrides or adds keys, as in `run_program`.
    """
    root_dir = Path(project_dir).resolve()
    project, stack_config = load_stack_config_file(root_dir, stack)
    merged: dict[str, Any] = {**stack_config, **(config or {})}
    path = root_dir / program

    def main() -> None:
        with _argv(path):
            runpy.run_path(str(path), run_name="__main__")

    return run_program(
        main,
        project=project,
        stack=stack,
        config=merged,
        mocks=mocks,
        preview=preview,
        root_directory=root_dir,
    )
