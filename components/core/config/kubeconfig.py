"""The kubeconfig's credentials, read from the AWS provider's own config keys."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from components.core.config._base import ConfigError

__all__ = ["KubeconfigAuth", "kubeconfig_auth"]


@dataclass(frozen=True)
class KubeconfigAuth:
    """How `aws eks get-token` in the kubeconfig authenticates: as the AWS provider does.

    pulumi-eks puts `profile` into the kubeconfig's exec environment (`AWS_PROFILE`) and
    `role_arn` into its arguments (`--role-arn`), per `KubeconfigOptionsArgs` in
    pulumi_eks/_inputs.py; None leaves the default credential chain.
    """

    profile: str | None = None
    role_arn: str | None = None


#: Keys of an `aws:assumeRoles` entry that `aws eks get-token --role-arn` can honour.
_GET_TOKEN_KEYS = frozenset({"roleArn", "sessionName", "duration"})


def kubeconfig_auth(profile: str | None, assume_roles: Any) -> KubeconfigAuth:
    """The kubeconfig's credentials from the stack's `aws:profile` and `aws:assumeRoles`.

    `assume_roles` is the decoded `aws:assumeRoles` value (pulumi-aws 7: a list of
    objects, camelCase keys, pulumi_aws/config/vars.py). `aws eks get-token` assumes one
    role with no external id, tags or policies, so a chain or such options are refused
    with the fix (an AWS CLI profile doing the same, named in `aws:profile`) rather than
    leaving the Kubernetes provider on other credentials than the AWS provider's.
    """
    if assume_roles is None or assume_roles == []:
        return KubeconfigAuth(profile=profile or None)
    roles = assume_roles if isinstance(assume_roles, list) else [assume_roles]
    fix = (
        "configure an AWS CLI profile that assumes the role(s) (role_arn, source_profile, "
        "external_id) and set aws:profile to it instead"
    )
    if len(roles) != 1 or not isinstance(roles[0], dict):
        raise ConfigError(
            f"aws:assumeRoles: the kubeconfig's `aws eks get-token` assumes one role, got "
            f"{assume_roles!r}; {fix}"
        )
    role = roles[0]
    extra = sorted(k for k, v in role.items() if k not in _GET_TOKEN_KEYS and v)
    if extra:
        raise ConfigError(
            f"aws:assumeRoles[0]: {extra} cannot be passed to `aws eks get-token`, so the "
            f"Kubernetes provider would authenticate differently from the AWS provider; {fix}"
        )
    arn = role.get("roleArn")
    if not isinstance(arn, str) or not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/", arn):
        raise ConfigError(f"aws:assumeRoles[0].roleArn: not an IAM role ARN (got {arn!r})")
    return KubeconfigAuth(profile=profile or None, role_arn=arn)
