"""The policy rules: resource type + inputs in, violations out. Plain data, no Pulumi.

One module, used twice: the offline plan (`components/offline/preview.py`) runs the rules
over the resources the mocks kit recorded, and the CrossGuard pack (`policy/`) runs them
over what `pulumi preview` sends. Inputs use the engine's camelCase wire names
(`metadataOptions.httpTokens`), as both of those see them.

Two kinds of rule:

- a `Rule` looks at one resource (`check_resource`);
- a `StackRule` looks at the whole stack (`check_stack`), for facts that span resources:
  an S3 bucket without a public access block, a node role with an extra policy attached.

A value that is not known yet (an output of a resource still to be created, during a
real preview) arrives as `UNKNOWN`; rules never report on what they cannot see.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "CHECKED_TYPES",
    "NODE_ROLE_POLICIES",
    "RULES",
    "STACK_RULES",
    "UNKNOWN",
    "PolicyContext",
    "PolicyReport",
    "Resource",
    "Rule",
    "StackRule",
    "Violation",
    "check_resource",
    "check_stack",
    "evaluate",
]

Severity = Literal["mandatory", "advisory"]


class _Unknown:
    """A value the engine does not know yet (during a real preview)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


@dataclass(frozen=True)
class Resource:
    """One resource as the rules see it: type token, logical name, wire-name inputs.

    `outputs` (when known) and `parent` only serve the stack rules, to tell which
    resource another one refers to.
    """

    type: str
    name: str
    inputs: Mapping[str, Any]
    urn: str = ""
    parent: str | None = None
    outputs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PolicyContext:
    """What a rule may need beyond the resource: whether the stack is production."""

    production: bool = False


@dataclass(frozen=True)
class Violation:
    rule: str
    severity: Severity
    resource_type: str
    resource_name: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"[{self.severity}] {self.rule}: {self.message}"


Finding = tuple[str, str]
"""(field path, what is wrong with it)."""

ResourceCheck = Callable[[Resource, PolicyContext], Iterable[Finding]]
StackCheck = Callable[[Sequence[Resource], PolicyContext], Iterable[tuple[Resource, Finding]]]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    description: str
    types: frozenset[str]
    check: ResourceCheck


@dataclass(frozen=True)
class StackRule:
    id: str
    severity: Severity
    description: str
    types: frozenset[str]
    check: StackCheck


# --------------------------------------------------------------------------- helpers


def _known(value: Any) -> bool:
    return value is not UNKNOWN


def _get(data: Any, *path: str | int) -> Any:
    """`data[path...]`, None where a part is missing, UNKNOWN where a part is unknown."""
    for part in path:
        if data is UNKNOWN:
            return UNKNOWN
        if isinstance(part, int):
            if not isinstance(data, list) or part >= len(data):
                return None
            data = data[part]
        else:
            if not isinstance(data, Mapping):
                return None
            data = data.get(part)
    return data


def _true(value: Any) -> bool:
    """pulumi_aws carries some booleans as strings (`encrypted: "true"`)."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.lower() == "false")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _json(value: Any) -> Any:
    """An IAM-style document given as a JSON string or already as a dict."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _statements(document: Any) -> list[dict[str, Any]]:
    statements = document.get("Statement") if isinstance(document, Mapping) else None
    if isinstance(statements, Mapping):
        return [dict(statements)]
    return [dict(s) for s in _list(statements) if isinstance(s, Mapping)]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in _list(value) if isinstance(v, str)]


def _open_cidr(cidr: str) -> bool:
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return False


def _tags(resource: Resource) -> Mapping[str, Any]:
    tags = resource.inputs.get("tags")
    return tags if isinstance(tags, Mapping) else {}


# --------------------------------------------------------------------------- EC2 nodes

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
ROOT_DEVICES = frozenset({"/dev/xvda", "/dev/sda1"})
"""Root device names of the EKS AMIs (AL2023 and Bottlerocket: /dev/xvda)."""
EBS_VOLUME = "aws:ebs/volume:Volume"
EC2_INSTANCE = "aws:ec2/instance:Instance"
SUBNET = "aws:ec2/subnet:Subnet"
EKS_CLUSTER = "eks:index:Cluster"
AWS_EKS_CLUSTER = "aws:eks/cluster:Cluster"


def _imdsv2(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    tokens = _get(resource.inputs, "metadataOptions", "httpTokens")
    if _known(tokens) and tokens != "required":
        yield (
            "metadataOptions.httpTokens",
            f"is {tokens!r}: IMDSv1 lets any SSRF read the node role's credentials; "
            "set it to 'required'",
        )


def _imds_hop_limit(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    hops = _get(resource.inputs, "metadataOptions", "httpPutResponseHopLimit")
    if hops is None:
        yield (
            "metadataOptions.httpPutResponseHopLimit",
            "is not set (the AMI's default may be 2, which lets pods reach the node role); set 1",
        )
    elif _known(hops) and hops != 1:
        yield (
            "metadataOptions.httpPutResponseHopLimit",
            f"is {hops}: pods can reach the node's instance metadata and role; set 1 "
            "(2 only with the pool's allowPodImdsAccess)",
        )


def _volumes_encrypted(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    inputs = resource.inputs
    if resource.type == LAUNCH_TEMPLATE:
        mappings = inputs.get("blockDeviceMappings")
        if mappings is None or mappings == []:
            yield (
                "blockDeviceMappings",
                "is empty: the root volume takes the AMI's default, unencrypted unless the "
                "account enforces EBS encryption; map the root device with ebs.encrypted",
            )
            return
        devices = [_get(m, "deviceName") for m in _list(mappings) if _get(m, "ebs") is not None]
        if devices and all(_known(d) for d in devices) and not set(devices) & ROOT_DEVICES:
            yield (
                "blockDeviceMappings",
                f"maps {devices} but no root device {sorted(ROOT_DEVICES)}: the root volume "
                "takes the AMI's default encryption",
            )
        for index, mapping in enumerate(_list(mappings)):
            ebs = _get(mapping, "ebs")
            if ebs is None:
                continue  # an instance-store or no-device mapping has no EBS volume
            encrypted = _get(ebs, "encrypted")
            if _known(encrypted) and not _true(encrypted):
                yield (f"blockDeviceMappings[{index}].ebs.encrypted", f"is {encrypted!r}")
    elif resource.type == EBS_VOLUME:
        encrypted = inputs.get("encrypted")
        if _known(encrypted) and not _true(encrypted):
            yield ("encrypted", f"is {encrypted!r}; EBS volumes must be encrypted")
    elif resource.type == EC2_INSTANCE:
        encrypted = _get(inputs, "rootBlockDevice", "encrypted")
        if _known(encrypted) and not _true(encrypted):
            yield ("rootBlockDevice.encrypted", f"is {encrypted!r}")
    elif resource.type == EKS_CLUSTER:
        # Only matters when pulumi_eks builds its default node group.
        encrypted = inputs.get("nodeRootVolumeEncrypted")
        if not _true(inputs.get("skipDefaultNodeGroup")) and _false(encrypted):
            yield ("nodeRootVolumeEncrypted", "is false")


def _no_public_ip(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    inputs = resource.inputs
    if resource.type == LAUNCH_TEMPLATE:
        for index, nic in enumerate(_list(inputs.get("networkInterfaces"))):
            value = _get(nic, "associatePublicIpAddress")
            if _true(value):
                yield (
                    f"networkInterfaces[{index}].associatePublicIpAddress",
                    "is true: nodes must live on private subnets without public addresses",
                )
    elif resource.type == EC2_INSTANCE:
        if _true(inputs.get("associatePublicIpAddress")):
            yield ("associatePublicIpAddress", "is true")
    elif resource.type == SUBNET:
        if _true(inputs.get("mapPublicIpOnLaunch")):
            yield (
                "mapPublicIpOnLaunch",
                "is true: every instance launched here gets a public address",
            )
    elif resource.type == EKS_CLUSTER and _true(inputs.get("nodeAssociatePublicIpAddress")):
        yield ("nodeAssociatePublicIpAddress", "is true")


# --------------------------------------------------------------------------- EKS control plane

#: The five control-plane log types EKS can send to CloudWatch.
CONTROL_PLANE_LOGS: tuple[str, ...] = (
    "api",
    "audit",
    "authenticator",
    "controllerManager",
    "scheduler",
)


def _envelope_encryption(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    if resource.type == EKS_CLUSTER:
        key = resource.inputs.get("encryptionConfigKeyArn")
        if key is None or key == "":
            yield (
                "encryptionConfigKeyArn",
                "is not set: Kubernetes secrets are stored without KMS envelope encryption",
            )
    else:
        configs = resource.inputs.get("encryptionConfig")
        if configs is None:
            yield ("encryptionConfig", "is not set: no KMS envelope encryption of secrets")
            return
        key = _get(configs, "provider", "keyArn")
        resources = _get(configs, "resources")
        if key is None or key == "":
            yield ("encryptionConfig.provider.keyArn", "is not set")
        if _known(resources) and "secrets" not in _strings(resources):
            yield ("encryptionConfig.resources", f"is {resources!r}; include 'secrets'")


def _control_plane_logs(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    logs = resource.inputs.get("enabledClusterLogTypes")
    if not _known(logs):
        return
    missing = [t for t in CONTROL_PLANE_LOGS if t not in _strings(logs)]
    if missing:
        yield (
            "enabledClusterLogTypes",
            f"lacks {missing}; enable all of {list(CONTROL_PLANE_LOGS)}",
        )


def _endpoint(resource: Resource) -> tuple[Any, Any, str]:
    """(public access, public CIDRs, field prefix); both SDKs default to a public endpoint."""
    if resource.type == EKS_CLUSTER:
        public = resource.inputs.get("endpointPublicAccess")
        return (True if public is None else public), resource.inputs.get("publicAccessCidrs"), ""
    vpc = resource.inputs.get("vpcConfig")
    public = _get(vpc, "endpointPublicAccess")
    return (True if public is None else public), _get(vpc, "publicAccessCidrs"), "vpcConfig."


def _prod_endpoint_private(resource: Resource, context: PolicyContext) -> Iterator[Finding]:
    if not context.production:
        return
    public, _, prefix = _endpoint(resource)
    if _known(public) and not _false(public):
        yield (
            f"{prefix}endpointPublicAccess",
            "is not false in a production stack: reach the API server privately "
            "(VPN, bastion, SSM) instead",
        )


def _public_endpoint_cidrs(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    public, cidrs, prefix = _endpoint(resource)
    if not _known(public) or _false(public) or not _known(cidrs):
        return
    listed = _strings(cidrs)
    if not listed:
        yield (
            f"{prefix}publicAccessCidrs",
            "is empty while the endpoint is public: EKS then allows 0.0.0.0/0",
        )
    for cidr in listed:
        if _open_cidr(cidr):
            yield (f"{prefix}publicAccessCidrs", f"contains {cidr}: the API server is open to all")


# --------------------------------------------------------------------------- IAM

ROLE = "aws:iam/role:Role"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_POLICY = "aws:iam/policy:Policy"

_AWS_POLICY = "arn:aws:iam::aws:policy/"

#: What a node role may carry: the worker and registry policies, and SSM when enabled.
#: The CNI policy belongs on the vpc-cni add-on's IRSA role, not on every node.
NODE_ROLE_POLICIES: frozenset[str] = frozenset(
    {
        "AmazonEKSWorkerNodePolicy",
        "AmazonEC2ContainerRegistryReadOnly",
        "AmazonEC2ContainerRegistryPullOnly",
        "AmazonSSMManagedInstanceCore",
    }
)

#: Managed policies no role of ours may carry.
_BROAD_POLICIES: frozenset[str] = frozenset(
    {"AdministratorAccess", "PowerUserAccess", "IAMFullAccess"}
)


def _policy_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _broad(arn: str) -> bool:
    name = _policy_name(arn)
    return name in _BROAD_POLICIES or name.endswith("FullAccess")


def _trusts_ec2(role: Resource) -> bool:
    trust = _json(role.inputs.get("assumeRolePolicy"))
    for statement in _statements(trust):
        principal = statement.get("Principal")
        services = _strings(_get(principal, "Service")) if isinstance(principal, Mapping) else []
        if "ec2.amazonaws.com" in services and statement.get("Effect", "Allow") == "Allow":
            return True
    return False


def _allows_wildcard(document: Any) -> bool:
    for statement in _statements(document):
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement:
            return True  # allows every action but a few: a wildcard in disguise
        actions = _strings(statement.get("Action"))
        resources = _strings(statement.get("Resource"))
        any_resource = any(r == "*" or r.endswith(":*") for r in resources)
        if "*" in actions or (any_resource and any(a.endswith(":*") for a in actions)):
            return True
    return False


def _role_least_privilege(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    inputs = resource.inputs
    if resource.type == ROLE_POLICY_ATTACHMENT:
        arn = inputs.get("policyArn")
        if isinstance(arn, str) and _broad(arn):
            yield ("policyArn", f"attaches {_policy_name(arn)}: grant only what the role needs")
    elif resource.type in (ROLE_POLICY, IAM_POLICY):
        if _allows_wildcard(_json(inputs.get("policy"))):
            yield ("policy", "allows a wildcard action ('*' or 'service:*' on '*')")
    elif resource.type == ROLE:
        for arn in _strings(inputs.get("managedPolicyArns")):
            if _broad(arn):
                yield ("managedPolicyArns", f"includes {_policy_name(arn)}")
            elif _trusts_ec2(resource) and _policy_name(arn) not in NODE_ROLE_POLICIES:
                yield (
                    "managedPolicyArns",
                    f"gives a node role {_policy_name(arn)}; a node role carries only "
                    f"{sorted(NODE_ROLE_POLICIES)}",
                )
        for index, inline in enumerate(_list(inputs.get("inlinePolicies"))):
            if _allows_wildcard(_json(_get(inline, "policy"))):
                yield (f"inlinePolicies[{index}].policy", "allows a wildcard action")


def _refers_to(value: Any, target: Resource, holder: Resource) -> bool:
    """Does `value` (an input of `holder`) name `target`? Unknown: same component."""
    if value is None or not _known(value):
        return holder.parent is not None and holder.parent == target.parent
    names = {
        v
        for source in (target.inputs, target.outputs)
        for key in ("id", "name", "bucket", "arn")
        if isinstance(v := source.get(key), str)
    }
    return value in names


def _node_role_attachments(
    resources: Sequence[Resource], _: PolicyContext
) -> Iterator[tuple[Resource, Finding]]:
    roles = [r for r in resources if r.type == ROLE and _trusts_ec2(r)]
    for role in roles:
        for other in resources:
            if other.type == ROLE_POLICY_ATTACHMENT and _refers_to(
                other.inputs.get("role"), role, other
            ):
                arn = other.inputs.get("policyArn")
                if isinstance(arn, str) and _policy_name(arn) not in NODE_ROLE_POLICIES:
                    yield (
                        other,
                        (
                            "policyArn",
                            f"attaches {_policy_name(arn)} to node role {role.name!r}; a node "
                            f"role carries only {sorted(NODE_ROLE_POLICIES)}",
                        ),
                    )
            elif other.type == ROLE_POLICY and _refers_to(other.inputs.get("role"), role, other):
                yield (
                    other,
                    (
                        "role",
                        f"puts an inline policy on node role {role.name!r}: give pods IRSA "
                        "roles instead of widening the node's",
                    ),
                )


# --------------------------------------------------------------------------- security groups

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"

#: Tag that marks a security group (or rule) as a load balancer's: 80/443 may be open.
LOAD_BALANCER_TAG = ("mlops:purpose", "load-balancer")


def _is_load_balancer(resource: Resource) -> bool:
    key, value = LOAD_BALANCER_TAG
    return _tags(resource).get(key) == value


def _open_ingress(
    resource: Resource, where: str, rule: Mapping[str, Any], cidr_keys: Sequence[str]
) -> Iterator[Finding]:
    for key in cidr_keys:
        for cidr in _strings(rule.get(key)):
            if not _open_cidr(cidr):
                continue
            ports = (rule.get("fromPort"), rule.get("toPort"))
            web = ports in ((80, 80), (443, 443)) and rule.get(
                "protocol", rule.get("ipProtocol")
            ) in ("tcp", "6")
            if web and _is_load_balancer(resource):
                continue
            hint = (
                "only a load balancer's 80/443 may be open to the internet "
                f"(tag it {LOAD_BALANCER_TAG[0]}={LOAD_BALANCER_TAG[1]})"
                if web
                else "open to the internet"
            )
            yield (f"{where}{key}", f"allows {cidr} on ports {ports[0]}-{ports[1]}: {hint}")


def _no_open_ingress(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    inputs = resource.inputs
    if resource.type == SECURITY_GROUP:
        for index, rule in enumerate(_list(inputs.get("ingress"))):
            if isinstance(rule, Mapping):
                yield from _open_ingress(
                    resource, f"ingress[{index}].", rule, ("cidrBlocks", "ipv6CidrBlocks")
                )
    elif resource.type == SG_RULE:
        if inputs.get("type") == "ingress":
            yield from _open_ingress(resource, "", inputs, ("cidrBlocks", "ipv6CidrBlocks"))
    elif resource.type == SG_INGRESS_RULE:
        yield from _open_ingress(resource, "", inputs, ("cidrIpv4", "cidrIpv6"))


# --------------------------------------------------------------------------- S3

BUCKET = "aws:s3/bucket:Bucket"
BUCKET_V2 = "aws:s3/bucketV2:BucketV2"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
_BUCKETS = (BUCKET, BUCKET_V2)
_BLOCK_FIELDS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)


def _public_access_blocked(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    if resource.type == PUBLIC_ACCESS_BLOCK:
        for key in _BLOCK_FIELDS:
            value = resource.inputs.get(key)
            if _known(value) and not _true(value):
                yield (key, f"is {value!r}; all four public access blocks must be true")
    else:
        acl = resource.inputs.get("acl")
        if isinstance(acl, str) and acl.startswith("public-"):
            yield ("acl", f"is {acl!r}")


def _denies_insecure_transport(document: Any) -> bool:
    for statement in _statements(document):
        if statement.get("Effect") != "Deny":
            continue
        actions = _strings(statement.get("Action"))
        if not ({"s3:*", "*"} & set(actions)):
            continue
        principal = statement.get("Principal")
        if principal not in ("*", {"AWS": "*"}):
            continue  # a deny for one principal leaves everyone else on plain HTTP
        resources = _strings(statement.get("Resource"))
        objects = any(r.endswith("/*") for r in resources)
        bucket = any(not r.endswith("*") for r in resources)
        if "*" not in resources and not (objects and bucket):
            continue  # must cover the bucket itself and its objects
        condition = statement.get("Condition")
        secure = _get(condition, "Bool", "aws:SecureTransport")
        if secure is None:
            secure = _get(condition, "BoolIfExists", "aws:SecureTransport")
        values = [str(v).lower() for v in ([secure] if not isinstance(secure, list) else secure)]
        if "false" in values:
            return True
    return False


def _tls_only(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    policy = resource.inputs.get("policy")
    if not _known(policy):
        return
    if not _denies_insecure_transport(_json(policy)):
        yield (
            "policy",
            "has no Deny of s3:* when aws:SecureTransport is false: plain-HTTP access is allowed",
        )


def _bucket_companions(
    companion: str, field_name: str, what: str
) -> Callable[[Sequence[Resource], PolicyContext], Iterator[tuple[Resource, Finding]]]:
    def check(
        resources: Sequence[Resource], _: PolicyContext
    ) -> Iterator[tuple[Resource, Finding]]:
        others = [r for r in resources if r.type == companion]
        for bucket in (r for r in resources if r.type in _BUCKETS):
            if not any(_refers_to(o.inputs.get("bucket"), bucket, o) for o in others):
                yield bucket, (field_name, f"the bucket has no {what}")

    return check


# --------------------------------------------------------------------------- ECR

ECR_REPOSITORY = "aws:ecr/repository:Repository"


def _ecr_immutable(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    mutability = resource.inputs.get("imageTagMutability")
    # IMMUTABLE_WITH_EXCLUSION lets tags matching its filters be overwritten: not immutable.
    if _known(mutability) and mutability != "IMMUTABLE":
        yield (
            "imageTagMutability",
            f"is {mutability or 'MUTABLE (the default)'}: a pushed tag could be replaced "
            "under running pods; set IMMUTABLE",
        )


def _ecr_scan(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    scan = _get(resource.inputs, "imageScanningConfiguration", "scanOnPush")
    if _known(scan) and not _true(scan):
        yield ("imageScanningConfiguration.scanOnPush", f"is {scan!r}; scan every pushed image")


# --------------------------------------------------------------------------- Kubernetes

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
JOB = "kubernetes:batch/v1:Job"
CRON_JOB = "kubernetes:batch/v1:CronJob"
POD = "kubernetes:core/v1:Pod"
LONG_RUNNING = frozenset({DEPLOYMENT, STATEFUL_SET, DAEMON_SET})
WORKLOADS = LONG_RUNNING | {JOB, CRON_JOB, POD}


def _pod_spec(resource: Resource) -> tuple[Any, str]:
    """The pod spec inside a workload and its field path."""
    if resource.type == POD:
        return _get(resource.inputs, "spec"), "spec"
    if resource.type == CRON_JOB:
        return (
            _get(resource.inputs, "spec", "jobTemplate", "spec", "template", "spec"),
            "spec.jobTemplate.spec.template.spec",
        )
    return _get(resource.inputs, "spec", "template", "spec"), "spec.template.spec"


def _containers(resource: Resource) -> Iterator[tuple[str, Mapping[str, Any], str]]:
    """(field path, container, kind) for every container and init container."""
    spec, path = _pod_spec(resource)
    for kind in ("initContainers", "containers"):
        for index, container in enumerate(_list(_get(spec, kind))):
            if isinstance(container, Mapping):
                yield f"{path}.{kind}[{index}]", container, kind


def _restricted(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    spec, path = _pod_spec(resource)
    if not isinstance(spec, Mapping):
        return
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if _true(spec.get(flag)):
            yield (f"{path}.{flag}", "is true")
    pod_sc = spec.get("securityContext") if isinstance(spec.get("securityContext"), Mapping) else {}
    for where, container, _kind in _containers(resource):
        raw = container.get("securityContext")
        sc: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        name = container.get("name", "?")
        ctx = f"{where}.securityContext"
        non_root = sc.get("runAsNonRoot", _get(pod_sc, "runAsNonRoot"))
        if _known(non_root) and not _true(non_root):
            yield (f"{ctx}.runAsNonRoot", f"container {name!r} may run as root; set true")
        user = sc.get("runAsUser", _get(pod_sc, "runAsUser"))
        if user == 0:
            yield (f"{ctx}.runAsUser", f"container {name!r} runs as UID 0")
        escalation = sc.get("allowPrivilegeEscalation")
        if _known(escalation) and not _false(escalation):
            yield (f"{ctx}.allowPrivilegeEscalation", f"container {name!r}: set false")
        if _true(sc.get("privileged")):
            yield (f"{ctx}.privileged", f"container {name!r} is privileged")
        read_only = sc.get("readOnlyRootFilesystem")
        if _known(read_only) and not _true(read_only):
            yield (f"{ctx}.readOnlyRootFilesystem", f"container {name!r}: set true")
        drop = _get(sc, "capabilities", "drop")
        if _known(drop) and "ALL" not in _strings(drop):
            yield (f"{ctx}.capabilities.drop", f"container {name!r}: drop ALL")
        added = [c for c in _strings(_get(sc, "capabilities", "add")) if c != "NET_BIND_SERVICE"]
        if added:
            yield (f"{ctx}.capabilities.add", f"container {name!r} adds {added}")
        seccomp = _get(sc, "seccompProfile", "type") or _get(pod_sc, "seccompProfile", "type")
        if _known(seccomp) and seccomp not in ("RuntimeDefault", "Localhost"):
            yield (
                f"{ctx}.seccompProfile.type",
                f"container {name!r} has seccomp {seccomp or 'unset'}; use RuntimeDefault",
            )


def _requests(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    for where, container, _kind in _containers(resource):
        requests = _get(container, "resources", "requests")
        if not _known(requests):
            continue
        missing = [k for k in ("cpu", "memory") if not _get(requests, k)]
        if missing:
            yield (
                f"{where}.resources.requests",
                f"container {container.get('name', '?')!r} has no {' or '.join(missing)} "
                "request: the scheduler and the autoscalers cannot size it",
            )


def _probes(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    for where, container, kind in _containers(resource):
        if kind != "containers":
            continue
        for probe in ("readinessProbe", "livenessProbe"):
            if not container.get(probe):
                yield (f"{where}.{probe}", f"container {container.get('name', '?')!r} has none")


def _latest(image: str) -> bool:
    if "@" in image:
        return False
    last = image.rsplit("/", 1)[-1]
    return ":" not in last or last.rsplit(":", 1)[1] == "latest"


def _no_latest(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    for where, container, _kind in _containers(resource):
        image = container.get("image")
        if isinstance(image, str) and _latest(image):
            yield (
                f"{where}.image",
                f"is {image!r}: 'latest' (or no tag) is mutable; pin a version tag or a digest",
            )


# --------------------------------------------------------------------------- the rules

_CLUSTERS = frozenset({EKS_CLUSTER, AWS_EKS_CLUSTER})
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


def _node_group_launch_template(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    """Without our launch template EKS uses its own: AMI-default metadata and root volume."""
    template = resource.inputs.get("launchTemplate")
    if template is None:
        yield (
            "launchTemplate",
            "is not set: EKS's default launch template leaves IMDSv2, the hop limit and "
            "root-volume encryption to the AMI's defaults",
        )
    if resource.inputs.get("diskSize") is not None:
        yield ("diskSize", "is set: size the root volume in the launch template instead")
    remote = resource.inputs.get("remoteAccess")
    if remote is not None and _known(remote) and not _get(remote, "sourceSecurityGroupIds"):
        yield (
            "remoteAccess",
            "has no sourceSecurityGroupIds: EKS then opens SSH (22) to 0.0.0.0/0",
        )


RULES: tuple[Rule, ...] = (
    Rule(
        "imdsv2-required",
        "mandatory",
        "Nodes require IMDSv2 session tokens.",
        frozenset({LAUNCH_TEMPLATE}),
        _imdsv2,
    ),
    Rule(
        "imds-hop-limit-1",
        "advisory",
        "Instance metadata hop limit 1, so pods cannot reach the node role "
        "(2 only with a pool's allowPodImdsAccess).",
        frozenset({LAUNCH_TEMPLATE}),
        _imds_hop_limit,
    ),
    Rule(
        "ebs-encrypted",
        "mandatory",
        "EBS volumes (node root volumes included) are encrypted.",
        frozenset({LAUNCH_TEMPLATE, EBS_VOLUME, EC2_INSTANCE, EKS_CLUSTER}),
        _volumes_encrypted,
    ),
    Rule(
        "eks-secrets-envelope-encryption",
        "mandatory",
        "EKS encrypts Kubernetes secrets with a KMS key.",
        _CLUSTERS,
        _envelope_encryption,
    ),
    Rule(
        "eks-control-plane-logs",
        "mandatory",
        "All five EKS control-plane log types go to CloudWatch.",
        _CLUSTERS,
        _control_plane_logs,
    ),
    Rule(
        "eks-prod-endpoint-private",
        "mandatory",
        "A production cluster's API endpoint is not public.",
        _CLUSTERS,
        _prod_endpoint_private,
    ),
    Rule(
        "eks-public-endpoint-cidrs",
        "mandatory",
        "A public API endpoint is restricted to listed CIDRs, never 0.0.0.0/0.",
        _CLUSTERS,
        _public_endpoint_cidrs,
    ),
    Rule(
        "nodes-no-public-ip",
        "mandatory",
        "Nodes get no public IP addresses.",
        frozenset({LAUNCH_TEMPLATE, EC2_INSTANCE, SUBNET, EKS_CLUSTER}),
        _no_public_ip,
    ),
    Rule(
        "iam-least-privilege",
        "mandatory",
        "No role carries administrator, *FullAccess or wildcard policies; node roles carry "
        "only the worker, registry and SSM policies.",
        frozenset({ROLE, ROLE_POLICY_ATTACHMENT, ROLE_POLICY, IAM_POLICY}),
        _role_least_privilege,
    ),
    Rule(
        "sg-no-open-ingress",
        "mandatory",
        "No security group ingress from 0.0.0.0/0 or ::/0, except a load balancer's 80/443.",
        frozenset({SECURITY_GROUP, SG_RULE, SG_INGRESS_RULE}),
        _no_open_ingress,
    ),
    Rule(
        "s3-public-access-blocked",
        "mandatory",
        "S3 buckets block all public access.",
        frozenset({PUBLIC_ACCESS_BLOCK, *_BUCKETS}),
        _public_access_blocked,
    ),
    Rule(
        "s3-tls-only",
        "mandatory",
        "S3 bucket policies deny requests without TLS.",
        frozenset({BUCKET_POLICY}),
        _tls_only,
    ),
    Rule(
        "ecr-immutable-tags",
        "mandatory",
        "ECR repositories have immutable tags.",
        frozenset({ECR_REPOSITORY}),
        _ecr_immutable,
    ),
    Rule(
        "ecr-scan-on-push",
        "mandatory",
        "ECR repositories scan images on push.",
        frozenset({ECR_REPOSITORY}),
        _ecr_scan,
    ),
    Rule(
        "k8s-restricted-security-context",
        "mandatory",
        "Workloads meet the 'restricted' Pod Security Standard and a read-only root filesystem.",
        WORKLOADS,
        _restricted,
    ),
    Rule(
        "eks-nodegroup-launch-template",
        "mandatory",
        "Managed node groups run on our launch template, with no open SSH.",
        frozenset({NODE_GROUP}),
        _node_group_launch_template,
    ),
    Rule(
        "k8s-resource-requests",
        "mandatory",
        "Every container requests CPU and memory.",
        WORKLOADS,
        _requests,
    ),
    Rule(
        "k8s-probes",
        "mandatory",
        "Long-running containers have readiness and liveness probes.",
        LONG_RUNNING,
        _probes,
    ),
    Rule(
        "k8s-no-latest-image",
        "mandatory",
        "Images are pinned by tag or digest, never 'latest'.",
        WORKLOADS,
        _no_latest,
    ),
)

STACK_RULES: tuple[StackRule, ...] = (
    StackRule(
        "iam-least-privilege",
        "mandatory",
        "Node roles carry only the worker, registry and SSM policies.",
        frozenset({ROLE, ROLE_POLICY_ATTACHMENT, ROLE_POLICY}),
        _node_role_attachments,
    ),
    StackRule(
        "s3-public-access-blocked",
        "mandatory",
        "Every S3 bucket has a public access block.",
        frozenset(_BUCKETS),
        _bucket_companions(PUBLIC_ACCESS_BLOCK, "bucketPublicAccessBlock", "public access block"),
    ),
    StackRule(
        "s3-tls-only",
        "mandatory",
        "Every S3 bucket has a bucket policy.",
        frozenset(_BUCKETS),
        _bucket_companions(BUCKET_POLICY, "bucketPolicy", "bucket policy denying non-TLS access"),
    ),
)


def _violation(rule: Rule | StackRule, resource: Resource, finding: Finding) -> Violation:
    path, problem = finding
    return Violation(
        rule=rule.id,
        severity=rule.severity,
        resource_type=resource.type,
        resource_name=resource.name,
        field=path,
        message=f"{resource.type} {resource.name!r}: {path} {problem}",
    )


def check_resource(
    resource: Resource,
    context: PolicyContext | None = None,
    rules: Sequence[Rule] = RULES,
) -> list[Violation]:
    """The violations of the per-resource rules by one resource."""
    ctx = context or PolicyContext()
    if resource.type == EKS_CLUSTER and not resource.inputs:
        # pulumi-eks's Cluster is a component written in Node.js, whose component props
        # never reach the analyzer in a real `pulumi preview`; its child
        # aws:eks/cluster:Cluster carries the same settings and is checked instead.
        return []
    return [
        _violation(rule, resource, finding)
        for rule in rules
        if resource.type in rule.types
        for finding in rule.check(resource, ctx)
    ]


def check_stack(
    resources: Sequence[Resource],
    context: PolicyContext | None = None,
    rules: Sequence[StackRule] = STACK_RULES,
) -> list[Violation]:
    """The violations of the stack rules (facts spanning resources) only."""
    ctx = context or PolicyContext()
    return [
        _violation(rule, resource, finding)
        for rule in rules
        for resource, finding in rule.check(resources, ctx)
    ]


@dataclass(frozen=True)
class PolicyReport:
    """All violations of a stack, and how many resources of each type a rule looked at."""

    violations: tuple[Violation, ...]
    checked: Mapping[str, int]
    """Resource type → number of resources of that type at least one rule applies to."""

    @property
    def mandatory(self) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if v.severity == "mandatory")

    @property
    def advisory(self) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if v.severity == "advisory")

    @property
    def passed(self) -> bool:
        return not self.mandatory


#: Every resource type some rule looks at.
CHECKED_TYPES: frozenset[str] = frozenset(
    {t for rule in RULES for t in rule.types} | {t for rule in STACK_RULES for t in rule.types}
)


def evaluate(resources: Sequence[Resource], context: PolicyContext | None = None) -> PolicyReport:
    """Run every rule over a whole stack; violations sorted by rule, type and name."""
    violations = [v for r in resources for v in check_resource(r, context)]
    violations.extend(check_stack(resources, context))
    violations.sort(key=lambda v: (v.rule, v.resource_type, v.resource_name, v.field, v.message))
    checked: dict[str, int] = {}
    for resource in resources:
        if resource.type in CHECKED_TYPES:
            checked[resource.type] = checked.get(resource.type, 0) + 1
    return PolicyReport(violations=tuple(violations), checked=dict(sorted(checked.items())))
