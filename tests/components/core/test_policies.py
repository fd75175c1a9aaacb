"""Each policy rule fails on a resource that breaks it and passes on a compliant one.

The compliant resources below use the input shapes our components send (wire names from
the installed SDKs); each test breaks one field and expects exactly that rule to fire.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from components.core import iam
from components.core.constants import CONTROL_PLANE_LOG_TYPES
from components.core.policies import (
    CHECKED_TYPES,
    RULES,
    STACK_RULES,
    UNKNOWN,
    PolicyContext,
    Resource,
    check_resource,
    check_stack,
    evaluate,
)

NODE_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)
TLS_ONLY = json.dumps(iam.deny_insecure_transport("arn:aws:s3:::b"))

RESTRICTED_CONTAINER: dict[str, Any] = {
    "name": "server",
    "image": "123456789012.dkr.ecr.us-west-2.amazonaws.com/iris:0.1.0",
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "capabilities": {"drop": ["ALL"]},
    },
    "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "512Mi"}},
    "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": 8080}},
    "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": 8080}},
}

COMPLIANT: dict[str, dict[str, Any]] = {
    "aws:cloudwatch/metricAlarm:MetricAlarm": {
        "alarmActions": ["arn:aws:sns:us-west-2:123456789012:alarms"],
        "metricName": "UnHealthyHostCount",
    },
    "aws:cloudwatch/logGroup:LogGroup": {
        "retentionInDays": 30,
        "kmsKeyId": "arn:aws:kms:us-west-2:123456789012:key/k",
    },
    "aws:sns/topic:Topic": {"kmsMasterKeyId": "arn:aws:kms:us-west-2:123456789012:key/k"},
    "aws:eks/nodeGroup:NodeGroup": {
        "launchTemplate": {"id": "lt-0123", "version": "1"},
        "scalingConfig": {"minSize": 1, "desiredSize": 1, "maxSize": 3},
    },
    "aws:ec2/launchTemplate:LaunchTemplate": {
        "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1},
        "blockDeviceMappings": [
            {"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "volumeType": "gp3"}}
        ],
        "networkInterfaces": [{"associatePublicIpAddress": "false"}],
    },
    "eks:index:Cluster": {
        "version": "1.35",
        "skipDefaultNodeGroup": True,
        "endpointPrivateAccess": True,
        "endpointPublicAccess": False,
        "encryptionConfigKeyArn": "arn:aws:kms:us-west-2:123456789012:key/k",
        "enabledClusterLogTypes": list(CONTROL_PLANE_LOG_TYPES),
    },
    "aws:eks/cluster:Cluster": {
        "vpcConfig": {"endpointPublicAccess": False, "subnetIds": ["s"]},
        "encryptionConfig": {"provider": {"keyArn": "arn:k"}, "resources": ["secrets"]},
        "enabledClusterLogTypes": list(CONTROL_PLANE_LOG_TYPES),
    },
    "aws:ec2/subnet:Subnet": {"cidrBlock": "10.0.0.0/24", "mapPublicIpOnLaunch": False},
    "aws:ebs/volume:Volume": {"size": 10, "encrypted": True},
    "aws:iam/role:Role": {"assumeRolePolicy": NODE_TRUST},
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": {
        "role": "node-role",
        "policyArn": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    },
    "aws:iam/rolePolicy:RolePolicy": {
        "role": "flow-logs",
        "policy": json.dumps(
            {
                "Statement": [
                    {"Effect": "Allow", "Action": ["logs:PutLogEvents"], "Resource": ["arn:lg"]}
                ]
            }
        ),
    },
    "aws:ec2/securityGroup:SecurityGroup": {
        "ingress": [
            {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["10.0.0.0/16"]}
        ]
    },
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": {
        "ipProtocol": "tcp",
        "fromPort": 443,
        "toPort": 443,
        "cidrIpv4": "10.0.0.0/16",
    },
    "aws:ec2/securityGroupRule:SecurityGroupRule": {
        "type": "ingress",
        "protocol": "tcp",
        "fromPort": 8080,
        "toPort": 8080,
        "cidrBlocks": ["10.0.0.0/16"],
    },
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": {
        "bucket": "b",
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    },
    "aws:s3/bucketPolicy:BucketPolicy": {"bucket": "b", "policy": TLS_ONLY},
    "aws:s3/bucket:Bucket": {"bucket": "b"},
    "aws:ecr/repository:Repository": {
        "imageTagMutability": "IMMUTABLE",
        "imageScanningConfiguration": {"scanOnPush": True},
    },
    "kubernetes:apps/v1:Deployment": {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "iris", "namespace": "models"},
        "spec": {
            "template": {
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [RESTRICTED_CONTAINER],
                }
            }
        },
    },
}


def resource(type_: str, **changes: Any) -> Resource:
    """The compliant resource of `type_` with dotted-path `changes` (None deletes)."""
    inputs = copy.deepcopy(COMPLIANT[type_])
    for path, value in changes.items():
        parts = path.split("__")
        target: Any = inputs
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        last = parts[-1]
        if value is None:
            del target[last]
        else:
            target[last] = value
    return Resource(type=type_, name="it", inputs=inputs)


def rules_fired(res: Resource, *, production: bool = False) -> set[str]:
    return {v.rule for v in check_resource(res, PolicyContext(production=production))}


@pytest.mark.parametrize("type_", sorted(COMPLIANT))
def test_compliant_resources_pass_every_rule(type_: str) -> None:
    assert check_resource(resource(type_), PolicyContext(production=True)) == []


BREAKS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "imdsv2-required",
        "aws:ec2/launchTemplate:LaunchTemplate",
        {"metadataOptions__httpTokens": "optional"},
    ),
    (
        "imdsv2-required",
        "aws:ec2/launchTemplate:LaunchTemplate",
        {"metadataOptions__httpTokens": None},
    ),
    (
        "imds-hop-limit-1",
        "aws:ec2/launchTemplate:LaunchTemplate",
        {"metadataOptions__httpPutResponseHopLimit": 2},
    ),
    (
        "ebs-encrypted",
        "aws:ec2/launchTemplate:LaunchTemplate",
        {"blockDeviceMappings__0__ebs__encrypted": "false"},
    ),
    ("ebs-encrypted", "aws:ec2/launchTemplate:LaunchTemplate", {"blockDeviceMappings": None}),
    ("ebs-encrypted", "aws:ebs/volume:Volume", {"encrypted": None}),
    ("eks-secrets-envelope-encryption", "eks:index:Cluster", {"encryptionConfigKeyArn": None}),
    (
        "eks-secrets-envelope-encryption",
        "aws:eks/cluster:Cluster",
        {"encryptionConfig__resources": ["configmaps"]},
    ),
    ("eks-control-plane-logs", "eks:index:Cluster", {"enabledClusterLogTypes": ["api", "audit"]}),
    ("eks-control-plane-logs", "eks:index:Cluster", {"enabledClusterLogTypes": None}),
    ("eks-control-plane-logs", "aws:eks/cluster:Cluster", {"enabledClusterLogTypes": ["api"]}),
    ("eks-public-endpoint-cidrs", "eks:index:Cluster", {"endpointPublicAccess": True}),
    (
        "eks-public-endpoint-cidrs",
        "eks:index:Cluster",
        {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]},
    ),
    (
        "eks-public-endpoint-cidrs",
        "aws:eks/cluster:Cluster",
        {"vpcConfig__endpointPublicAccess": None},
    ),
    (
        "nodes-no-public-ip",
        "aws:ec2/launchTemplate:LaunchTemplate",
        {"networkInterfaces__0__associatePublicIpAddress": "true"},
    ),
    ("nodes-no-public-ip", "aws:ec2/subnet:Subnet", {"mapPublicIpOnLaunch": True}),
    ("nodes-no-public-ip", "eks:index:Cluster", {"nodeAssociatePublicIpAddress": True}),
    (
        "iam-least-privilege",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
    ),
    (
        "iam-least-privilege",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        {"policyArn": "arn:aws:iam::aws:policy/AmazonS3FullAccess"},
    ),
    (
        "iam-least-privilege",
        "aws:iam/rolePolicy:RolePolicy",
        {
            "policy": json.dumps(
                {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
            )
        },
    ),
    (
        "iam-least-privilege",
        "aws:iam/rolePolicy:RolePolicy",
        {
            "policy": json.dumps(
                {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
            )
        },
    ),
    (
        "iam-least-privilege",
        "aws:iam/role:Role",
        {"managedPolicyArns": ["arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"]},
    ),
    (
        "sg-no-open-ingress",
        "aws:ec2/securityGroup:SecurityGroup",
        {"ingress__0__cidrBlocks": ["0.0.0.0/0"]},
    ),
    (
        "sg-no-open-ingress",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        {"cidrIpv4": "0.0.0.0/0", "fromPort": 22, "toPort": 22},
    ),
    (
        "sg-no-open-ingress",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        {"cidrIpv4": None, "cidrIpv6": "::/0"},
    ),
    (
        "sg-no-open-ingress",
        "aws:ec2/securityGroupRule:SecurityGroupRule",
        {"cidrBlocks": ["0.0.0.0/0"]},
    ),
    (
        "s3-public-access-blocked",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        {"restrictPublicBuckets": False},
    ),
    (
        "s3-public-access-blocked",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        {"blockPublicAcls": None},
    ),
    ("s3-public-access-blocked", "aws:s3/bucket:Bucket", {"acl": "public-read"}),
    ("s3-tls-only", "aws:s3/bucketPolicy:BucketPolicy", {"policy": json.dumps({"Statement": []})}),
    ("ecr-immutable-tags", "aws:ecr/repository:Repository", {"imageTagMutability": "MUTABLE"}),
    ("ecr-immutable-tags", "aws:ecr/repository:Repository", {"imageTagMutability": None}),
    ("ecr-scan-on-push", "aws:ecr/repository:Repository", {"imageScanningConfiguration": None}),
    (
        "ecr-scan-on-push",
        "aws:ecr/repository:Repository",
        {"imageScanningConfiguration__scanOnPush": False},
    ),
]
DEP = "kubernetes:apps/v1:Deployment"
_POD = "spec__template__spec__"
_C = _POD + "containers__0__"
_SC = _C + "securityContext__"
NG = "aws:eks/nodeGroup:NodeGroup"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
TOPIC = "aws:sns/topic:Topic"
BREAKS += [
    ("ebs-encrypted", LT, {"blockDeviceMappings__0__deviceName": "/dev/xvdb"}),
    ("eks-nodegroup-launch-template", NG, {"launchTemplate": None}),
    ("eks-nodegroup-launch-template", NG, {"diskSize": 20}),
    ("eks-nodegroup-launch-template", NG, {"remoteAccess": {"ec2SshKey": "k"}}),
    ("k8s-restricted-security-context", DEP, {_SC + "allowPrivilegeEscalation": True}),
    ("k8s-restricted-security-context", DEP, {_SC + "readOnlyRootFilesystem": None}),
    ("k8s-restricted-security-context", DEP, {_SC + "capabilities": None}),
    ("k8s-restricted-security-context", DEP, {_SC + "runAsNonRoot": False}),
    ("k8s-restricted-security-context", DEP, {_SC + "privileged": True}),
    ("k8s-restricted-security-context", DEP, {_POD + "securityContext__seccompProfile": None}),
    ("k8s-restricted-security-context", DEP, {_POD + "hostNetwork": True}),
    ("k8s-resource-requests", DEP, {_C + "resources__requests__memory": None}),
    ("k8s-resource-requests", DEP, {_C + "resources": None}),
    ("k8s-probes", DEP, {_C + "readinessProbe": None}),
    ("k8s-probes", DEP, {_C + "livenessProbe": None}),
    ("k8s-no-latest-image", DEP, {_C + "image": "repo/iris:latest"}),
    ("k8s-no-latest-image", DEP, {_C + "image": "localhost:5000/iris"}),
    ("alarm-has-action", ALARM, {"alarmActions": []}),
    ("alarm-has-action", ALARM, {"actionsEnabled": False}),
    ("log-group-retention", LOG_GROUP, {"retentionInDays": 0}),
    ("log-group-retention", LOG_GROUP, {"retentionInDays": None}),
    ("log-group-encrypted", LOG_GROUP, {"kmsKeyId": None}),
    ("sns-topic-encrypted", TOPIC, {"kmsMasterKeyId": None}),
]


@pytest.mark.parametrize(("rule", "type_", "changes"), BREAKS)
def test_each_rule_fails_on_a_resource_that_breaks_it(
    rule: str, type_: str, changes: dict[str, Any]
) -> None:
    violations = check_resource(resource(type_, **changes), PolicyContext())
    assert {v.rule for v in violations} == {rule}
    # The message names the resource and the broken field.
    for v in violations:
        assert "'it'" in v.message and type_ in v.message
        assert v.field.split(".")[-1].split("[")[0] in v.message


def test_every_rule_is_exercised_by_a_break() -> None:
    broken = {rule for rule, _, _ in BREAKS} | {"eks-prod-endpoint-private"}
    assert broken == {r.id for r in RULES}


def test_prod_endpoint_rule_fires_only_in_production() -> None:
    public = resource(
        "eks:index:Cluster",
        endpointPublicAccess=True,
        endpointPrivateAccess=False,
        publicAccessCidrs=["203.0.113.0/24"],
    )
    assert rules_fired(public) == set()
    assert rules_fired(public, production=True) == {"eks-prod-endpoint-private"}
    # Absent means public: both SDKs default the endpoint to public.
    default = resource(
        "eks:index:Cluster",
        endpointPublicAccess=None,
        endpointPrivateAccess=None,
        publicAccessCidrs=["203.0.113.0/24"],
    )
    assert rules_fired(default, production=True) == {"eks-prod-endpoint-private"}
    private = resource("aws:eks/cluster:Cluster")
    assert rules_fired(private, production=True) == set()


def test_prod_may_keep_a_public_endpoint_only_allow_listed_with_private_access_on() -> None:
    """Prod's day-0 way in is a public endpoint allow-listed to the
    deploy runners, with private access on so that nodes use the private endpoint."""
    listed = resource(
        "eks:index:Cluster",
        endpointPublicAccess=True,
        endpointPrivateAccess=True,
        publicAccessCidrs=["198.51.100.0/24"],
    )
    assert rules_fired(listed, production=True) == set()
    no_private = resource(
        "eks:index:Cluster",
        endpointPublicAccess=True,
        endpointPrivateAccess=False,
        publicAccessCidrs=["198.51.100.0/24"],
    )
    violations = check_resource(no_private, PolicyContext(production=True))
    assert [v.field for v in violations] == ["endpointPrivateAccess"]
    open_to_all = resource(
        "eks:index:Cluster",
        endpointPublicAccess=True,
        endpointPrivateAccess=True,
        publicAccessCidrs=["0.0.0.0/0"],
    )
    assert "eks-prod-endpoint-private" in rules_fired(open_to_all, production=True)
    child = resource(
        "aws:eks/cluster:Cluster",
        vpcConfig={
            "endpointPublicAccess": True,
            "endpointPrivateAccess": True,
            "publicAccessCidrs": ["198.51.100.0/24"],
            "subnetIds": ["s"],
        },
    )
    assert rules_fired(child, production=True) == set()
    child_no_private = resource(
        "aws:eks/cluster:Cluster",
        vpcConfig={
            "endpointPublicAccess": True,
            "publicAccessCidrs": ["198.51.100.0/24"],
            "subnetIds": ["s"],
        },
    )
    violations = check_resource(child_no_private, PolicyContext(production=True))
    assert [v.field for v in violations] == ["vpcConfig.endpointPrivateAccess"]


def test_a_load_balancer_may_open_80_and_443_but_nothing_else() -> None:
    tag = {"mlops:purpose": "load-balancer"}
    https = resource(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", cidrIpv4="0.0.0.0/0", tags=tag
    )
    assert rules_fired(https) == set()
    untagged = resource(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", cidrIpv4="0.0.0.0/0"
    )
    assert rules_fired(untagged) == {"sg-no-open-ingress"}
    ssh = resource(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        cidrIpv4="0.0.0.0/0",
        fromPort=22,
        toPort=22,
        tags=tag,
    )
    assert rules_fired(ssh) == {"sg-no-open-ingress"}


def test_unknown_values_are_never_reported() -> None:
    unknown = resource(
        "aws:ec2/launchTemplate:LaunchTemplate",
        metadataOptions={"httpTokens": UNKNOWN, "httpPutResponseHopLimit": UNKNOWN},
        blockDeviceMappings=UNKNOWN,
    )
    assert check_resource(unknown) == []
    image = resource("kubernetes:apps/v1:Deployment", **{_C + "image": UNKNOWN})
    assert check_resource(image) == []


def test_a_digest_pins_an_image_even_without_a_tag() -> None:
    pinned = resource(
        "kubernetes:apps/v1:Deployment", **{_C + "image": "repo/iris@sha256:" + "a" * 64}
    )
    assert check_resource(pinned) == []


# --------------------------------------------------------------------------- stack rules


def _node_role_stack(policy: str) -> list[Resource]:
    role = Resource(
        "aws:iam/role:Role",
        "pool-node",
        {"assumeRolePolicy": NODE_TRUST},
        parent="urn:pool",
        outputs={"name": "pool-node-1234567", "id": "pool-node-1234567"},
    )
    attach = Resource(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "pool-node-extra",
        {"role": "pool-node-1234567", "policyArn": f"arn:aws:iam::aws:policy/{policy}"},
        parent="urn:pool",
    )
    return [role, attach]


def test_node_role_carries_only_the_node_policies() -> None:
    assert check_stack(_node_role_stack("AmazonEKSWorkerNodePolicy")) == []
    violations = check_stack(_node_role_stack("AmazonEKS_CNI_Policy"))
    assert [(v.rule, v.resource_name) for v in violations] == [
        ("iam-least-privilege", "pool-node-extra")
    ]
    assert "AmazonEKS_CNI_Policy" in violations[0].message


def test_an_irsa_role_may_carry_the_cni_policy() -> None:
    role, attach = _node_role_stack("AmazonEKS_CNI_Policy")
    irsa_trust = json.dumps(
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/x"},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                }
            ]
        }
    )
    irsa = Resource(role.type, role.name, {"assumeRolePolicy": irsa_trust}, parent=role.parent)
    irsa = Resource(irsa.type, irsa.name, irsa.inputs, parent=irsa.parent, outputs=role.outputs)
    assert check_stack([irsa, attach]) == []


def test_an_unknown_role_reference_matches_within_the_same_component() -> None:
    role, attach = _node_role_stack("AmazonEKS_CNI_Policy")
    pending = Resource(
        attach.type, attach.name, {**attach.inputs, "role": UNKNOWN}, parent="urn:pool"
    )
    assert len(check_stack([role, pending])) == 1
    elsewhere = Resource(pending.type, pending.name, pending.inputs, parent="urn:other")
    assert check_stack([role, elsewhere]) == []


def test_every_bucket_needs_a_public_access_block_and_a_tls_policy() -> None:
    bucket = Resource(
        "aws:s3/bucket:Bucket", "models", {}, outputs={"id": "models-1", "bucket": "models-1"}
    )
    block = Resource(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "models",
        {
            **COMPLIANT["aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"],
            "bucket": "models-1",
        },
    )
    policy = Resource(
        "aws:s3/bucketPolicy:BucketPolicy", "models", {"bucket": "models-1", "policy": TLS_ONLY}
    )
    assert check_stack([bucket, block, policy]) == []
    assert {v.rule for v in check_stack([bucket, policy])} == {"s3-public-access-blocked"}
    assert {v.rule for v in check_stack([bucket, block])} == {"s3-tls-only"}
    other = Resource(policy.type, policy.name, {**policy.inputs, "bucket": "someone-else"})
    assert {v.rule for v in check_stack([bucket, block, other])} == {"s3-tls-only"}


def test_every_stack_rule_has_a_failing_case_above() -> None:
    assert {r.id for r in STACK_RULES} == {
        "iam-least-privilege",
        "s3-public-access-blocked",
        "s3-tls-only",
    }


def test_evaluate_sorts_violations_counts_checked_types_and_splits_severity() -> None:
    resources = [
        resource(
            "aws:ec2/launchTemplate:LaunchTemplate", metadataOptions__httpPutResponseHopLimit=2
        ),
        resource("aws:ecr/repository:Repository", imageTagMutability="MUTABLE"),
        Resource("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16"}),
    ]
    report = evaluate(resources)
    assert [v.rule for v in report.violations] == ["ecr-immutable-tags", "imds-hop-limit-1"]
    assert [v.rule for v in report.mandatory] == ["ecr-immutable-tags"]
    assert [v.rule for v in report.advisory] == ["imds-hop-limit-1"]
    assert not report.passed
    assert report.checked == {
        "aws:ec2/launchTemplate:LaunchTemplate": 1,
        "aws:ecr/repository:Repository": 1,
    }
    assert "aws:ec2/vpc:Vpc" not in CHECKED_TYPES
    assert evaluate(resources[2:]).passed


# --------------------------------------------------------------------------- our stacks


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_our_stacks_pass_every_mandatory_rule(stack: str) -> None:
    """Every resource the stack registers goes through every rule; none may fail.

    Today the stacks hold the Network; as the cluster, pools, store and service land,
    their resources are checked here too (the assertion on `checked` grows with them).
    """
    from components.config import parse_stack_config
    from components.offline.preview import policy_resources
    from tests.components.conftest import shared_run
    from tests.conftest import raw_stack_config

    run = shared_run(stack)
    production = parse_stack_config(raw_stack_config(stack)).environment == "prod"
    report = evaluate(policy_resources(run), PolicyContext(production=production))
    assert report.mandatory == (), "\n".join(str(v) for v in report.mandatory)
    present = {r.type for r in run.resources} & CHECKED_TYPES
    assert present, "no resource of a checked type: the rules saw nothing"
    assert set(report.checked) == present
    assert report.checked["aws:ec2/subnet:Subnet"] == len(run.by_type("aws:ec2/subnet:Subnet"))


def test_tls_only_accepts_bool_if_exists_and_a_boolean_false() -> None:
    for condition in (
        {"BoolIfExists": {"aws:SecureTransport": "false"}},
        {"Bool": {"aws:SecureTransport": False}},
    ):
        statement: dict[str, Any] = {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": "*",
            "Condition": condition,
        }
        policy = resource(
            "aws:s3/bucketPolicy:BucketPolicy", policy=json.dumps({"Statement": [statement]})
        )
        assert check_resource(policy) == []
    allow: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    policy = resource("aws:s3/bucketPolicy:BucketPolicy", policy=json.dumps({"Statement": [allow]}))
    assert rules_fired(policy) == {"s3-tls-only"}
    for partial in (
        {"Principal": {"AWS": "arn:aws:iam::123456789012:role/r"}},  # one principal only
        {"Resource": ["arn:aws:s3:::b/*"]},  # objects, not the bucket
    ):
        statement = {**allow, "Effect": "Deny", **partial}
        document = json.dumps({"Statement": [statement]})
        policy = resource("aws:s3/bucketPolicy:BucketPolicy", policy=document)
        assert rules_fired(policy) == {"s3-tls-only"}, partial


def _k8s_type(obj: dict[str, Any]) -> str:
    """The Pulumi type token of a Kubernetes object (`apps/v1` + `Deployment`)."""
    api = str(obj["apiVersion"])
    group, version = api.split("/") if "/" in api else ("core", api)
    return f"kubernetes:{group}/{version}:{obj['kind']}"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_rendered_workload_passes_the_kubernetes_rules(stack: str) -> None:
    """The objects ModelService creates, from the same renderer, before any cluster exists."""
    from components.config import parse_stack_config
    from components.core.manifests import stack_manifests
    from tests.conftest import raw_stack_config

    objects = stack_manifests(parse_stack_config(raw_stack_config(stack)), region="us-west-2")
    resources = [
        Resource(type=_k8s_type(o), name=str(o["metadata"]["name"]), inputs=o) for o in objects
    ]
    report = evaluate(resources, PolicyContext(production=stack == "prod"))
    assert report.violations == (), "\n".join(str(v) for v in report.violations)
    assert report.checked == {"kubernetes:apps/v1:Deployment": 1}


def test_the_bundled_load_balancer_controller_policy_is_not_a_wildcard() -> None:
    from importlib import resources

    document = json.loads(
        (
            resources.files("components.core.data") / "aws_load_balancer_controller_iam_policy.json"
        ).read_text()
    )
    policy = Resource("aws:iam/policy:Policy", "lbc", {"policy": json.dumps(document["policy"])})
    assert check_resource(policy) == []
    wildcard = {
        "Statement": [{"Effect": "Allow", "Action": "elasticloadbalancing:*", "Resource": "*"}]
    }
    assert rules_fired(
        Resource("aws:iam/policy:Policy", "x", {"policy": json.dumps(wildcard)})
    ) == {"iam-least-privilege"}


def test_a_remote_eks_component_with_no_visible_props_is_not_flagged() -> None:
    """In a real preview pulumi-eks's component arrives with empty props; its child is checked."""
    from components.core.policies.eks import EKS_CLUSTER

    empty = Resource(type=EKS_CLUSTER, name="cluster", inputs={})
    assert check_resource(empty, PolicyContext(production=True)) == []
    public = Resource(type=EKS_CLUSTER, name="cluster", inputs={"endpointPublicAccess": True})
    ids = {v.rule for v in check_resource(public, PolicyContext(production=True))}
    assert "eks-prod-endpoint-private" in ids


def test_wildcards_in_disguise_and_partly_mutable_tags_are_caught() -> None:
    from components.core.policies.iam import _allows_wildcard

    not_action = {"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}
    service_star = {
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::*"}]
    }
    scoped = {
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]
    }
    assert _allows_wildcard(not_action) and _allows_wildcard(service_star)
    assert not _allows_wildcard(scoped)
    excluded = resource(
        "aws:ecr/repository:Repository", imageTagMutability="IMMUTABLE_WITH_EXCLUSION"
    )
    assert rules_fired(excluded) == {"ecr-immutable-tags"}


def test_every_rule_declared_in_a_service_module_is_registered_once() -> None:
    """A rule declared on its check but left out of RULES/STACK_RULES would never run."""
    import importlib
    import pkgutil

    import components.core.policies as package
    from components.core.policies import Rule, StackRule

    declared: list[Rule | StackRule] = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        declared.extend(
            value for value in vars(module).values() if isinstance(value, Rule | StackRule)
        )
    registered = [*RULES, *STACK_RULES]
    assert len(declared) == len(registered) == len({id(r) for r in registered})
    assert {id(r) for r in declared} == {id(r) for r in registered}
