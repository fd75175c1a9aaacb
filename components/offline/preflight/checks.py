"""`Preflight`, every check in order, and `run_checks` with boto3 clients."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from components.core.config import StackConfig
from components.offline.preflight.base import (
    ASSUMED_ROLE,
    Check,
    error_text,
    principal_of,
)
from components.offline.preflight.capacity import CapacityChecks
from components.offline.preflight.releases import ReleaseChecks

__all__ = ["Preflight", "run_checks"]


class Preflight(CapacityChecks, ReleaseChecks):
    """The checks over one stack config, with clients from `client(service_name)`."""

    def credentials(self) -> Check:
        identity = self.client("sts").get_caller_identity()
        self.account = str(identity["Account"])
        return Check("credentials", "pass", f"account {identity['Account']} as {identity['Arn']}")

    def deployer_access(self) -> Check:
        """The deployer gets exactly one access entry.

        Listed in `adminPrincipalArns` with `bootstrapCreatorAdmin: true`, pulumi-eks
        creates a second access entry for the same principal and EKS refuses it
        (ResourceInUseException, pulumi/pulumi-eks#2373). Neither listed nor creator
        admin, everything up to the first Kubernetes object is created, then every Helm
        release and object fails Unauthorized (no access entry maps the caller).
        """
        label = "deployer access"
        cluster = self.config.cluster
        caller = str(self.client("sts").get_caller_identity()["Arn"])
        match = ASSUMED_ROLE.match(caller)
        principal = caller
        resolved = ""
        if self.deployer_role_arn is not None:
            # The AWS provider assumes this role: EKS sees it, not the caller.
            principal, resolved = self.deployer_role_arn, " (the stack's aws:assumeRoles)"
        elif match is not None:
            name = match.group(3)
            try:
                role = self.client("iam").get_role(RoleName=name)["Role"]
            except Exception as exc:  # noqa: BLE001 (reported, and matched by name below)
                listed = [a for a in cluster.admin_principal_arns if a.rsplit("/", 1)[-1] == name]
                if len(listed) != 1:
                    return Check(
                        label,
                        "fail",
                        f"cannot resolve {caller} to its role ({error_text(exc)}): allow "
                        f"iam:GetRole on role {name}, or check by hand that its role ARN "
                        "is listed in cluster.adminPrincipalArns exactly once",
                    )
                principal = listed[0]
                resolved = f" (role {name} matched by name; iam:GetRole denied)"
            else:
                principal = principal_of(caller, str(role.get("Path", "/")))
            resolved = resolved or f" (session {caller})"
        listed_here = principal in cluster.admin_principal_arns
        if listed_here and cluster.bootstrap_creator_admin:
            return Check(
                label,
                "fail",
                f"{principal}{resolved} is in cluster.adminPrincipalArns and "
                "bootstrapCreatorAdmin is true: pulumi-eks would create a second access "
                "entry for it and EKS refuses it (ResourceInUseException, "
                "pulumi/pulumi-eks#2373). Fix: set cluster.bootstrapCreatorAdmin: false "
                "(the listed entry already makes it admin)",
            )
        if not listed_here and not cluster.bootstrap_creator_admin:
            return Check(
                label,
                "fail",
                f"{principal}{resolved} runs `pulumi up` but is not in "
                "cluster.adminPrincipalArns and bootstrapCreatorAdmin is false: the "
                "cluster and node groups would be created, then every Kubernetes object "
                f"fail Unauthorized. Fix: add {principal} to cluster.adminPrincipalArns "
                "(or deploy as one of the listed roles)",
            )
        how = "listed in adminPrincipalArns" if listed_here else "bootstrapCreatorAdmin"
        return Check(label, "pass", f"{principal}{resolved} becomes cluster admin ({how})")

    def run(self) -> list[Check]:
        try:
            checks = [self.credentials()]
        except Exception as exc:  # noqa: BLE001
            return [
                Check("credentials", "fail", error_text(exc)),
                Check("everything else", "skipped", "no working AWS credentials"),
            ]
        steps: list[tuple[str, Callable[[], Check | list[Check]]]] = [
            ("availability zones", self.availability_zones),
            ("instance types", self.instance_types),
            ("vCPU quotas", self.vcpu_quotas),
            ("Kubernetes version", self.kubernetes_version),
            ("node AMIs", self.node_amis),
            ("add-on versions", self.addon_versions),
            ("node group sizes", self.node_group_sizes),
            ("model object", self.model_object),
            ("image", self.image),
            ("account quotas", self.account_quotas),
            ("leftovers", self.leftovers),
            ("Helm charts", self.charts),
            ("TLS certificate", self.certificate),
            ("image pull", self.image_pull),
            ("deployer access", self.deployer_access),
        ]
        for name, step in steps:
            try:
                result = step()
            except Exception as exc:  # noqa: BLE001 (one broken call must not hide the rest)
                result = Check(name, "fail", error_text(exc))
            checks.extend(result if isinstance(result, list) else [result])
        return checks


def run_checks(
    config: StackConfig,
    region: str,
    *,
    session: Any = None,
    clients: Mapping[str, Any] | None = None,
    model_bucket: str | None = None,
    stack: str | None = None,
    project: str | None = None,
    fetch: Callable[[str], bytes] | None = None,
    chart_repositories: Mapping[str, str] | None = None,
    deployer_role_arn: str | None = None,
) -> list[Check]:
    """All checks; `clients` overrides the boto3 client of a service (tests stub one)."""
    overrides = dict(clients or {})
    if session is None:
        import boto3

        session = boto3.session.Session(region_name=region)

    def client(service: str) -> Any:
        if service not in overrides:
            overrides[service] = session.client(service, region_name=region)
        return overrides[service]

    return Preflight(
        config,
        region,
        client,
        model_bucket=model_bucket,
        stack=stack,
        project=project,
        fetch=fetch,
        chart_repositories=chart_repositories,
        deployer_role_arn=deployer_role_arn,
    ).run()
