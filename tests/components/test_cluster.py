"""Cluster under the mocks kit: the inputs we pass `pulumi_eks.Cluster` and what we build
around it (KMS key, log group, vpc-cni IRSA, networking add-ons, Kubernetes provider)."""

from __future__ import annotations

import contextvars
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components.cluster import (
    CONTROL_PLANE_LOG_TYPES,
    Cluster,
    ClusterArgs,
    creator_admin_transform,
    entry_key,
    kubeconfig_fields,
)
from components.testing import (
    PlatformMocks,
    Registration,
    StackRun,
    pulumi_test,
    reveal_secrets,
    run_stack,
)
from tests.conftest import raw_stack_config

ROOT = Path(__file__).resolve().parents[2]
EKS = "eks:index:Cluster"
ROLE = "aws:iam/role:Role"
ATTACH = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ADDON = "aws:eks/addon:Addon"


def trust_condition(role: Registration) -> dict[str, str]:
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    return dict(statement["Condition"]["StringEquals"])


def test_control_plane_inputs(stack: StackRun) -> None:
    config = raw_stack_config(stack.stack)["cluster"]
    cluster = stack.one(EKS)
    inputs = cluster.inputs
    assert inputs["name"] == config["name"]
    assert inputs["version"] == config["kubernetesVersion"]
    assert inputs["authenticationMode"] == "API"
    assert inputs["skipDefaultNodeGroup"] is True
    assert inputs["bootstrapSelfManagedAddons"] is False
    assert inputs["createOidcProvider"] is True
    assert inputs["endpointPrivateAccess"] is True
    assert inputs["enabledClusterLogTypes"] == list(CONTROL_PLANE_LOG_TYPES)
    assert len(set(inputs["enabledClusterLogTypes"])) == 5
    assert inputs["kubeProxyAddonOptions"]["enabled"] is False
    assert inputs["corednsAddonOptions"]["enabled"] is False
    assert set(inputs["privateSubnetIds"]) == set(stack.outputs["privateSubnetIds"].values())
    assert "publicSubnetIds" not in inputs
    # EKS defaults to EXTENDED: the cluster would drift into extended-support billing.
    assert inputs["upgradePolicy"] == {"supportType": "STANDARD"}


def test_admins_get_access_entries(stack: StackRun) -> None:
    admins = raw_stack_config(stack.stack)["cluster"]["adminPrincipalArns"]
    entries = stack.one(EKS).inputs["accessEntries"]
    assert sorted(e["principalArn"] for e in entries.values()) == sorted(admins)
    for entry in entries.values():
        (policy,) = entry["accessPolicies"].values()
        assert policy["policyArn"].endswith("/AmazonEKSClusterAdminPolicy")
        assert policy["accessScope"] == {"type": "cluster"}


def test_both_endpoints_public_but_allow_listed_with_private_access_on(
    dev: StackRun, prod: StackRun
) -> None:
    """Prod's first `pulumi up` runs from outside the VPC: the public
    endpoint admits only the listed runner CIDRs, the nodes use the private endpoint."""
    dev_inputs = dev.one(EKS).inputs
    assert dev_inputs["endpointPublicAccess"] is True
    assert dev_inputs["publicAccessCidrs"] == ["203.0.113.0/24"]
    prod_inputs = prod.one(EKS).inputs
    assert prod_inputs["endpointPublicAccess"] is True
    assert (
        prod_inputs["publicAccessCidrs"] == raw_stack_config("prod")["cluster"]["publicAccessCidrs"]
    )
    assert "0.0.0.0/0" not in prod_inputs["publicAccessCidrs"]
    assert prod_inputs["endpointPrivateAccess"] is True


def test_secrets_encrypted_with_our_rotating_key(stack: StackRun) -> None:
    key = stack.one("aws:kms/key:Key", "cluster-secrets")
    assert key.inputs["enableKeyRotation"] is True
    policy = json.loads(key.inputs["policy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert stack.one(EKS).inputs["encryptionConfigKeyArn"] == key.outputs["arn"]


def test_log_group_created_first_with_retention(stack: StackRun) -> None:
    config = raw_stack_config(stack.stack)["cluster"]
    group = stack.one("aws:cloudwatch/logGroup:LogGroup", "cluster-control-plane")
    assert group.inputs["name"] == f"/aws/eks/{config['name']}/cluster"
    assert group.inputs["retentionInDays"] == config["logRetentionDays"]
    assert group.urn in stack.one(EKS).dependencies


def test_control_plane_logs_encrypted_with_a_key_cloudwatch_logs_may_use(stack: StackRun) -> None:
    """CloudWatch Logs can only associate a customer key whose policy lets
    `logs.<region>.amazonaws.com` use it for this account's log groups (CloudWatch Logs user
    guide, "Encrypt log data in CloudWatch Logs using AWS KMS", step 2)."""
    group = stack.one("aws:cloudwatch/logGroup:LogGroup", "cluster-control-plane")
    key = stack.one("aws:kms/key:Key", "cluster-logs")
    assert group.inputs["kmsKeyId"] == key.outputs["arn"]
    assert key.inputs["enableKeyRotation"] is True
    statements = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
    stack_file = Path(__file__).resolve().parents[2] / f"Pulumi.{stack.stack}.yaml"
    region = yaml.safe_load(stack_file.read_text())["config"]["aws:region"]
    logs = statements["CloudWatchLogs"]
    assert logs["Principal"] == {"Service": f"logs.{region}.amazonaws.com"}
    assert logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"] == (
        f"arn:aws:logs:{region}:123456789012:*"
    )


def test_cni_policy_is_on_the_vpc_cni_irsa_role_only(stack: StackRun) -> None:
    cni = [
        a for a in stack.by_type(ATTACH) if a.inputs["policyArn"].endswith("AmazonEKS_CNI_Policy")
    ]
    assert len(cni) == 1
    role = stack.one(ROLE, "cluster-vpc-cni")
    assert cni[0].inputs["role"] == role.outputs["name"]
    condition = trust_condition(role)
    assert sorted(condition.values()) == [
        "sts.amazonaws.com",
        "system:serviceaccount:kube-system:aws-node",
    ]
    addon = stack.one(ADDON, "cluster-vpc-cni")
    assert addon.inputs["serviceAccountRoleArn"] == role.outputs["arn"]


def test_irsa_trust_pinned_to_service_account_and_sts_audience(stack: StackRun) -> None:
    issuer = stack.outputs["oidcProviderUrl"].removeprefix("https://")
    expected = {
        "cluster-vpc-cni": "kube-system:aws-node",
        "cluster-addons-ebs-csi": "kube-system:ebs-csi-controller-sa",
        "cluster-addons-autoscaler": "kube-system:cluster-autoscaler",
    }
    for role_name, service_account in expected.items():
        role = stack.one(ROLE, role_name)
        (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        assert statement["Principal"] == {"Federated": stack.outputs["oidcProviderArn"]}
        assert trust_condition(role) == {
            f"{issuer}:sub": f"system:serviceaccount:{service_account}",
            f"{issuer}:aud": "sts.amazonaws.com",
        }, role_name


def test_networking_addons_pinned_from_config_and_created_before_pools(stack: StackRun) -> None:
    versions = raw_stack_config(stack.stack)["cluster"]["addons"]
    expected = {
        "cluster-vpc-cni": ("vpc-cni", versions["vpcCni"]),
        "cluster-kube-proxy": ("kube-proxy", versions["kubeProxy"]),
        "cluster-eks-pod-identity-agent": ("eks-pod-identity-agent", versions["podIdentityAgent"]),
    }
    node_groups = {g.urn for g in stack.by_type("aws:eks/nodeGroup:NodeGroup")}
    for name, (addon_name, version) in expected.items():
        addon = stack.one(ADDON, name)
        assert addon.inputs["addonName"] == addon_name
        assert addon.inputs["addonVersion"] == version
        assert addon.inputs["clusterName"] == raw_stack_config(stack.stack)["cluster"]["name"]
        assert not node_groups & set(addon.dependencies), name


def test_exports_and_kubernetes_provider(stack: StackRun) -> None:
    name = raw_stack_config(stack.stack)["cluster"]["name"]
    assert stack.outputs["clusterName"] == name
    assert stack.outputs["clusterEndpoint"].startswith("https://")
    assert stack.outputs["oidcProviderArn"].startswith("arn:aws:iam::123456789012:oidc-provider/")
    assert kubeconfig_fields(stack.outputs["kubeconfig"]) == (
        name,
        stack.outputs["clusterEndpoint"],
    )
    (provider,) = stack.by_type("pulumi:providers:kubernetes")
    for release in stack.by_type("kubernetes:helm.sh/v3:Release"):
        assert release.provider is not None and release.provider.startswith(provider.urn)


def test_kubeconfig_fields_reads_pulumi_eks_kubeconfig() -> None:
    document = {
        "clusters": [{"cluster": {"server": "https://x.eks.amazonaws.com"}}],
        "users": [
            {
                "user": {
                    "exec": {
                        "args": ["--region", "r", "eks", "get-token", "--cluster-name", "ml-dev"]
                    }
                }
            }
        ],
    }
    assert kubeconfig_fields(json.dumps(document)) == ("ml-dev", "https://x.eks.amazonaws.com")


def test_whole_prod_stack_passes_moto_iam_validation() -> None:
    """Every role, policy and inline policy of prod is created in moto, which refuses
    malformed documents with AWS's MalformedPolicyDocument (see test_iam's control)."""
    mocks = PlatformMocks(moto=True)
    try:
        result = run_stack("prod", project_dir=ROOT, mocks=mocks)
        assert len(result.by_type(ROLE)) >= 7
        roles = mocks._moto.iam.list_roles()["Roles"]  # type: ignore[union-attr]
        assert len(roles) == len(result.by_type(ROLE))
    finally:
        mocks.close()


def test_creator_admin_off_by_default_through_a_transform(dev: StackRun) -> None:
    assert raw_stack_config("dev")["cluster"].get("bootstrapCreatorAdmin", False) is False
    assert dev.one(EKS).transforms == 1
    platform = raw_stack_config("dev")
    platform["cluster"]["bootstrapCreatorAdmin"] = True
    result = run_stack("dev", project_dir=ROOT, config={"platform": platform})
    assert result.one(EKS).transforms == 0


def test_creator_admin_transform_rewrites_only_the_eks_cluster() -> None:
    transform = creator_admin_transform(enabled=False)
    opts = pulumi.ResourceOptions()
    props: dict[str, Any] = {
        "name": "ml-dev",
        "accessConfig": {
            "authenticationMode": "API",
            "bootstrapClusterCreatorAdminPermissions": True,
        },
    }
    result = transform(
        pulumi.ResourceTransformArgs(True, "aws:eks/cluster:Cluster", "c", props, opts)
    )
    assert isinstance(result, pulumi.ResourceTransformResult)
    assert result.props["accessConfig"] == {
        "authenticationMode": "API",
        "bootstrapClusterCreatorAdminPermissions": False,
    }
    assert result.props["name"] == "ml-dev"
    assert props["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is True
    other = pulumi.ResourceTransformArgs(True, "aws:eks/addon:Addon", "a", {"x": 1}, opts)
    assert transform(other) is None


def test_cluster_alone_exports_a_secret_kubeconfig_and_its_provider_uses_it() -> None:
    """The component on its own, as another stack would use it."""
    mocks = PlatformMocks()

    def body() -> None:
        mocks.install(project="consumer", stack="unit")

        @pulumi_test
        def check() -> pulumi.Output[Any]:
            cluster = Cluster(
                "c",
                ClusterArgs(
                    cluster_name="unit",
                    kubernetes_version="1.35",
                    vpc_id="vpc-0123",
                    private_subnet_ids=["subnet-01", "subnet-02"],
                    vpc_cni_version="v1.22.4-eksbuild.3",
                    kube_proxy_version="v1.35.3-eksbuild.21",
                    pod_identity_agent_version="v1.3.10-eksbuild.3",
                ),
            )

            async def secret() -> bool:
                return await cluster.kubeconfig.is_secret()

            is_secret: pulumi.Output[bool] = pulumi.Output.from_input(secret())
            return pulumi.Output.all(is_secret, cluster.cluster_name).apply(
                lambda values: assert_secret_and_name(*values)
            )

        check()

    contextvars.Context().run(body)
    (eks,) = [r for r in mocks.registrations if r.type == EKS]
    assert eks.inputs["name"] == "unit"
    assert not eks.inputs.get("endpointPublicAccess")
    (provider,) = [r for r in mocks.registrations if r.type == "pulumi:providers:kubernetes"]
    assert provider.parent is not None and provider.parent.endswith("mlops:cluster:Cluster::c")


def assert_secret_and_name(is_secret: bool, name: str) -> None:
    assert is_secret
    assert name == "unit"


def test_vpc_cni_enforces_network_policies(dev: StackRun) -> None:
    import json as _json

    run = dev
    cni = next(a for a in run.by_type("aws:eks/addon:Addon") if a.inputs["addonName"] == "vpc-cni")
    assert _json.loads(cni.inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    # metrics-server's configuration only places it (test_cluster_addons.py).
    others = [
        a
        for a in run.by_type("aws:eks/addon:Addon")
        if a.inputs["addonName"] not in ("vpc-cni", "metrics-server")
    ]
    assert others and all("configurationValues" not in a.inputs for a in others)


def test_access_entry_keys_are_unique_for_a_role_and_a_user_of_one_name() -> None:
    role = "arn:aws:iam::123456789012:role/admin"
    user = "arn:aws:iam::123456789012:user/admin"
    other_account = "arn:aws:iam::210987654321:role/admin"
    keys = {entry_key(role), entry_key(user), entry_key(other_account)}
    assert len(keys) == 3
    assert all(key.startswith("admin-") for key in keys)
    assert entry_key(role) == entry_key(role)  # stable: a new key would replace the entry


def test_role_and_user_of_one_name_both_become_admins(dev_raw: dict[str, Any]) -> None:
    arns = ["arn:aws:iam::123456789012:role/admin", "arn:aws:iam::123456789012:user/admin"]
    dev_raw["cluster"]["adminPrincipalArns"] = arns
    result = run_stack("dev", project_dir=ROOT, config={"platform": dev_raw})
    entries = result.one(EKS).inputs["accessEntries"]
    assert sorted(e["principalArn"] for e in entries.values()) == arns


def test_private_endpoint_reachable_from_the_listed_networks_only(dev: StackRun) -> None:
    """The fully private mode (README, "A fully private API endpoint"): private only,
    the VPC listed, acknowledged with `deployFromInsideVpc`."""
    rule_type = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    platform = raw_stack_config("prod")
    cluster = platform["cluster"]
    cluster.pop("publicAccessCidrs")
    listed = [platform["network"]["vpcCidr"], "172.16.0.0/12"]
    cluster.update(endpointPublicAccess=False, apiAccessCidrs=listed, deployFromInsideVpc=True)
    prod = run_stack("prod", project_dir=ROOT, config={"platform": platform})
    eks = prod.one(EKS)
    assert eks.inputs["endpointPublicAccess"] is False
    rules = [r for r in prod.by_type(rule_type) if r.name.startswith("cluster-api-")]
    # Registrations reach the kit from the SDK's thread pool: their order is not the config's.
    assert sorted(r.inputs["cidrIpv4"] for r in rules) == sorted(listed)
    for rule in rules:
        assert rule.inputs["securityGroupId"] == eks.outputs["clusterSecurityGroupId"]
        assert (rule.inputs["ipProtocol"], rule.inputs["fromPort"], rule.inputs["toPort"]) == (
            "tcp",
            443,
            443,
        )
    assert not [r for r in dev.by_type(rule_type) if r.name.startswith("cluster-api-")]


def test_creator_admin_transform_on_the_child_pulumi_eks_4_creates() -> None:
    """The transform against the child exactly as pulumi-eks 4.x registers it.

    Shape read from pulumi-eks's source, nodejs/eks/cluster/cluster.ts, at a 2026-08
    snapshot of its main branch (the 4.x line; the 4.4.0 tag itself was not available to
    compare, and the installed Python SDK ships neither that source nor a schema for the
    child, so the shape is transcribed here). There `createCore` makes the `aws.eks.Cluster`
    named `<name>-eksCluster`, type `aws:eks/cluster:Cluster`, with `accessConfig:
    {authenticationMode, bootstrapClusterCreatorAdminPermissions: true}` whenever
    `authenticationMode` is set, and `ignoreChanges` on that flag.

    Limitation: under the mocks `pulumi_eks.Cluster` is a single remote component and its
    children are never registered, so no offline test can prove the engine hands this
    child to our transform; this pins what the transform does once it does. And since
    pulumi-eks ignores changes to the flag, it only matters when the cluster is created.
    """
    props: dict[str, Any] = {
        "name": "ml-dev",
        "roleArn": "arn:aws:iam::123456789012:role/cluster-eks-eksRole-role-0a1b2c3",
        "bootstrapSelfManagedAddons": False,
        "vpcConfig": {
            "subnetIds": ["subnet-01", "subnet-02"],
            "endpointPrivateAccess": True,
            "endpointPublicAccess": True,
            "publicAccessCidrs": ["203.0.113.0/24"],
        },
        "version": "1.35",
        "enabledClusterLogTypes": list(CONTROL_PLANE_LOG_TYPES),
        "tags": {"Name": "cluster-eks-eksCluster"},
        "encryptionConfig": {
            "provider": {"keyArn": "arn:aws:kms:us-west-2:123456789012:key/1111"},
            "resources": ["secrets"],
        },
        "accessConfig": {
            "authenticationMode": "API",
            "bootstrapClusterCreatorAdminPermissions": True,
        },
        "upgradePolicy": {"supportType": "STANDARD"},
    }
    opts = pulumi.ResourceOptions(
        ignore_changes=[
            "accessConfig.bootstrapClusterCreatorAdminPermissions",
            "bootstrapSelfManagedAddons",
        ]
    )
    child = pulumi.ResourceTransformArgs(
        True, "aws:eks/cluster:Cluster", "cluster-eks-eksCluster", props, opts
    )
    result = creator_admin_transform(enabled=False)(child)
    assert isinstance(result, pulumi.ResourceTransformResult)
    assert result.props["accessConfig"] == {
        "authenticationMode": "API",
        "bootstrapClusterCreatorAdminPermissions": False,
    }
    assert {k: v for k, v in result.props.items() if k != "accessConfig"} == {
        k: v for k, v in props.items() if k != "accessConfig"
    }
    assert result.opts is opts


def test_kubernetes_provider_authenticates_as_the_aws_provider() -> None:
    """`aws:profile` and `aws:assumeRoles` reach the kubeconfig.

    pulumi-eks renders `providerCredentialOpts` into `kubeconfig`/`kubeconfigJson`: the
    profile as `AWS_PROFILE` in the exec environment, the role as `--role-arn`
    (pulumi_eks/_inputs.py, KubeconfigOptionsArgs; pulumi_eks/cluster.py,
    `Cluster.get_kubeconfig`); our kit renders it the same way.
    """
    role = "arn:aws:iam::123456789012:role/deploy/ml-deployer"
    run = run_stack(
        "dev",
        project_dir=ROOT,
        config={"aws:profile": "ml-dev", "aws:assumeRoles": [{"roleArn": role}]},
    )
    assert run.one(EKS).inputs["providerCredentialOpts"] == {
        "profileName": "ml-dev",
        "roleArn": role,
    }
    (provider,) = run.by_type("pulumi:providers:kubernetes")
    kubeconfig = json.loads(reveal_secrets(provider.inputs["kubeconfig"]))
    exec_ = kubeconfig["users"][0]["user"]["exec"]
    assert exec_["args"][-2:] == ["--role-arn", role]
    assert exec_["env"] == [{"name": "AWS_PROFILE", "value": "ml-dev"}]
    # Without either, the default chain: nothing is passed.
    plain = run_stack("dev", project_dir=ROOT)
    assert "providerCredentialOpts" not in plain.one(EKS).inputs


def test_a_role_chain_the_kubeconfig_cannot_follow_is_refused() -> None:
    from components.config import ConfigError

    roles = [
        {"roleArn": "arn:aws:iam::123456789012:role/a"},
        {"roleArn": "arn:aws:iam::210987654321:role/b"},
    ]
    with pytest.raises(ConfigError, match="assumes one role") as info:
        run_stack("dev", project_dir=ROOT, config={"aws:assumeRoles": roles})
    assert "set aws:profile" in str(info.value)
    external = [{"roleArn": "arn:aws:iam::123456789012:role/a", "externalId": "x"}]
    with pytest.raises(ConfigError, match=r"\['externalId'\] cannot be passed"):
        run_stack("dev", project_dir=ROOT, config={"aws:assumeRoles": external})
