"""The CrossGuard pack maps CrossGuard's arguments onto our rules (no PolicyPack built here:
constructing one starts the analyzer server and blocks)."""

from __future__ import annotations

from typing import Any

import yaml
from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from components.core.policies import RULES, STACK_RULES, UNKNOWN
from policy.pack import context_for, plain, policies, resource_validation, stack_validation
from tests.conftest import ROOT

LT = "aws:ec2/launchTemplate:LaunchTemplate"


def _opts() -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        additional_secret_outputs=[],
        custom_timeouts=None,  # type: ignore[arg-type]
    )


def _args(type_: str, props: dict[str, Any], stack: str = "dev") -> ResourceValidationArgs:
    urn = f"urn:pulumi:{stack}::mlops-platform::{type_}::it"
    return ResourceValidationArgs(
        resource_type=type_,
        props=unknown_checking_proxy(props),
        urn=urn,
        name="it",
        opts=_opts(),
        provider=None,
    )


def _rule(rule_id: str) -> Any:
    return next(r for r in RULES if r.id == rule_id)


def _run(rule_id: str, args: ResourceValidationArgs) -> list[tuple[str, str | None]]:
    reported: list[tuple[str, str | None]] = []

    def report(message: str, urn: str | None = None) -> None:
        reported.append((message, urn))

    resource_validation(_rule(rule_id))(args, report)
    return reported


def test_a_violation_is_reported_with_the_resource_and_field() -> None:
    args = _args(LT, {"metadataOptions": {"httpTokens": "optional", "httpPutResponseHopLimit": 1}})
    reported = _run("imdsv2-required", args)
    assert len(reported) == 1
    assert "metadataOptions.httpTokens" in reported[0][0] and "'it'" in reported[0][0]
    compliant = _args(LT, {"metadataOptions": {"httpTokens": "required"}})
    assert _run("imdsv2-required", compliant) == []


def test_unknown_values_from_a_real_preview_are_not_errors() -> None:
    props = {"metadataOptions": {"httpTokens": UNKNOWN_STRING_VALUE}, "tags": ["a"]}
    assert plain(unknown_checking_proxy(props)) == {
        "metadataOptions": {"httpTokens": UNKNOWN},
        "tags": ["a"],
    }
    assert _run("imdsv2-required", _args(LT, props)) == []


def test_production_comes_from_the_stack_name_or_the_policy_config() -> None:
    cluster = {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]}
    assert _run("eks-prod-endpoint-private", _args("eks:index:Cluster", cluster, "dev")) == []
    assert len(_run("eks-prod-endpoint-private", _args("eks:index:Cluster", cluster, "prod"))) == 1
    assert context_for("urn:pulumi:eu-prod::p::t::n", {}).production
    assert not context_for("urn:pulumi:prod::p::t::n", {"production": False}).production


def test_stack_policies_report_against_the_offending_resource() -> None:
    node_trust = (
        '{"Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},'
        '"Action":"sts:AssumeRole"}]}'
    )

    def res(type_: str, name: str, props: dict[str, Any]) -> PolicyResource:
        return PolicyResource(
            resource_type=type_,
            props=unknown_checking_proxy(props),
            urn=f"urn:pulumi:dev::p::{type_}::{name}",
            name=name,
            opts=_opts(),
            provider=None,
            parent=None,
            dependencies=[],
            property_dependencies={},
        )

    resources = [
        res("aws:iam/role:Role", "node", {"assumeRolePolicy": node_trust, "name": "node-1"}),
        res(
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            "node-cni",
            {"role": "node-1", "policyArn": "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"},
        ),
    ]
    reported: list[tuple[str, str | None]] = []

    def report(message: str, urn: str | None = None) -> None:
        reported.append((message, urn))

    rule = next(r for r in STACK_RULES if r.id == "iam-least-privilege")
    stack_validation(rule)(StackValidationArgs(resources=resources), report)
    assert len(reported) == 1
    assert reported[0][1] == resources[1].urn
    assert "AmazonEKS_CNI_Policy" in reported[0][0]


def test_one_policy_per_rule_with_its_enforcement_level() -> None:
    built = policies()
    names = [p.name for p in built]
    assert len(names) == len(set(names)) == len(RULES) + len(STACK_RULES)
    by_name = {p.name: p for p in built}
    for rule in RULES:
        policy = by_name[rule.id]
        assert isinstance(policy, ResourceValidationPolicy)
        expected = (
            EnforcementLevel.MANDATORY
            if rule.severity == "mandatory"
            else EnforcementLevel.ADVISORY
        )
        assert policy.enforcement_level == expected
        assert policy.config_schema is not None
        assert policy.config_schema.properties == {"production": {"type": "boolean"}}
    for stack_rule in STACK_RULES:
        assert isinstance(by_name[f"{stack_rule.id}-stack"], StackValidationPolicy)


def test_the_pack_is_a_python_crossguard_pack_over_our_policies() -> None:
    manifest = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"]["name"] == "python"
    main = (ROOT / "policy" / "__main__.py").read_text()
    assert "PolicyPack(" in main and "policies()" in main
    assert "pulumi-policy" in (ROOT / "policy" / "requirements.txt").read_text()
