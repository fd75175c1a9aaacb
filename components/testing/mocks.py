"""`PlatformMocks`: records every registration and answers with AWS-shaped outputs."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.settings import SETTINGS

from components.testing._aws import (
    ACCOUNT_ID,
    ARN_FORMATS,
    ID_PREFIX,
    LOAD_BALANCER_LOOKUPS,
    partition_of,
    stable_hex,
)
from components.testing._moto import MotoBacking
from components.testing.records import Registration, UnknownStackReferenceError

__all__ = ["PlatformMocks"]

STACK_TYPE = "pulumi:pulumi:Stack"
STACK_REFERENCE_TYPE = "pulumi:pulumi:StackReference"


def _ints(value: Any) -> Any:
    """The wire format carries every number as a double; give ints back as ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


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
        self._moto = MotoBacking(region) if moto else None

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
        physical = inputs.get("name") or f"{args.name}-{stable_hex(key, length=7)}"
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
        if token in LOAD_BALANCER_LOOKUPS:
            # The load balancer controller's resources, found by its tags: the suffixes are
            # hashed from the tags so two runs agree.
            tags = dict(args.args.get("tags") or {})
            digest = stable_hex(json.dumps(tags, sort_keys=True))
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
                "value": f"ami-0{stable_hex(name)}",
                "type": "String",
                "arn": f"arn:{self.partition}:ssm:{self.region}:{self.account_id}:parameter{name}",
                "id": name,
                "version": 1,
                "insecureValue": f"ami-0{stable_hex(name)}",
            }
        return {}

    @property
    def partition(self) -> str:
        """The region's partition, as `aws.get_partition` answers there."""
        return partition_of(self.region)[0]

    @property
    def dns_suffix(self) -> str:
        return partition_of(self.region)[1]

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
        prefix = ID_PREFIX.get(typ)
        if prefix is not None:
            return prefix + stable_hex(key, length=16)
        if typ == "aws:kms/key:Key":
            return self._uuid(key)
        if typ in ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"):
            return str(inputs.get("bucket") or physical)
        return str(physical)

    @staticmethod
    def _uuid(key: str) -> str:
        h = stable_hex(key, length=32)
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
        arn = ARN_FORMATS.get(typ)
        if arn is not None:
            service, resource, global_ = arn
            cluster = str(inputs.get("clusterName", "cluster"))
            part = resource.format(
                name=physical
                if typ != "aws:eks/addon:Addon"
                else inputs.get("addonName", physical),
                id=resource_id,
                uuid=self._uuid(key),
                hex=stable_hex(key, length=32).upper(),
                region=self.region,
                suffix=self.dns_suffix,
                cluster=cluster,
            )
            region = "" if global_ else self.region
            account = "" if service == "s3" else self.account_id
            out["arn"] = f"arn:{self.partition}:{service}:{region}:{account}:{part}"
        if "name" not in inputs and typ.startswith("aws:") and typ not in ID_PREFIX:
            out["name"] = physical
        if typ == "aws:ec2/vpc:Vpc":
            out.update(
                defaultSecurityGroupId="sg-0" + stable_hex(key, "sg", length=16),
                mainRouteTableId="rtb-0" + stable_hex(key, "rtb", length=16),
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
            out.update(uniqueId="AROA" + stable_hex(key, length=17).upper())
        elif typ == "aws:kms/key:Key":
            out.update(keyId=resource_id)
        elif typ == "aws:eks/nodeGroup:NodeGroup":
            out.update(
                nodeGroupName=inputs.get("nodeGroupName") or physical,
                status="ACTIVE",
                resources=[
                    {"autoscalingGroups": [{"name": f"eks-{physical}-{stable_hex(key, length=8)}"}]}
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
                contextHash=stable_hex(key, "context", length=64),
            )
        return out

    def _eks_cluster_outputs(
        self, logical: str, key: str, inputs: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """What `pulumi_eks.Cluster` (a remote component) would return from a real deployment."""
        cluster_name = str(
            (inputs or {}).get("name") or f"{logical}-eksCluster-{stable_hex(key, length=7)}"
        )
        credentials = (inputs or {}).get("providerCredentialOpts") or {}
        oidc_id = stable_hex(key, "oidc", length=32).upper()
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
            "clusterSecurityGroupId": "sg-0" + stable_hex(key, "cluster-sg", length=16),
            "nodeSecurityGroupId": "sg-0" + stable_hex(key, "node-sg", length=16),
            "oidcProviderArn": (
                f"arn:{self.partition}:iam::{self.account_id}:oidc-provider/{issuer}"
            ),
            "oidcProviderUrl": f"https://{issuer}",
            "oidcIssuer": issuer,
        }
