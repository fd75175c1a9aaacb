"""A new stack from `pulumi new`: the dev stack's shape with the four values a user must give.

`Pulumi.yaml`'s `template:` section makes `pulumi new <this repository>` ask for the AWS
region, the cluster's name, an admin role ARN and the CIDRs allowed to reach the API
endpoint and the load balancer. Template answers are plain strings in the new stack's
config (`<project>:clusterName`, ...), while the program reads one structured value
(`<project>:platform`). A stack without that value but with the template's keys gets the
project's `Pulumi.dev.yaml` platform value with the answers in place of its examples,
then the same validation as any stack; once it works, copy the structured value into the
stack file and tune it there.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
import yaml

from components.config import CONFIG_KEY, ConfigError, StackConfig, parse_stack_config

__all__ = ["TEMPLATE_KEYS", "from_template", "template_stack_config"]

#: The template's config keys (besides `aws:region`), in the project's namespace.
TEMPLATE_KEYS = ("clusterName", "adminRoleArn", "allowedCidrs")


def from_template(
    base: Mapping[str, Any], *, cluster_name: str, admin_role_arn: str, allowed_cidrs: list[str]
) -> dict[str, Any]:
    """`base` (a raw platform value) with the template's answers in place of its examples."""
    raw: dict[str, Any] = copy.deepcopy(dict(base))
    cluster = raw.setdefault("cluster", {})
    cluster["name"] = cluster_name
    cluster["adminPrincipalArns"] = [admin_role_arn]
    if cluster.get("endpointPublicAccess"):
        cluster["publicAccessCidrs"] = list(allowed_cidrs)
    service = raw.get("service")
    if service is not None and service.get("exposure") == "alb-internet-facing":
        service["allowedSourceCidrs"] = list(allowed_cidrs)
    return raw


def template_stack_config(
    project_dir: Path, config: pulumi.Config | None = None
) -> StackConfig | None:
    """The stack's config from the template's answers, or None when it has its own value."""
    config = config or pulumi.Config()
    if config.get_object(CONFIG_KEY) is not None or config.get("clusterName") is None:
        return None
    missing = [key for key in TEMPLATE_KEYS if not config.get(key)]
    if missing:
        raise ConfigError(
            "stack config from the template: missing "
            + ", ".join(repr(config.full_key(key)) for key in missing)
        )
    dev = project_dir / "Pulumi.dev.yaml"
    document = yaml.safe_load(dev.read_text()) or {}
    values = document.get("config") or {}
    base = next((v for k, v in values.items() if k.endswith(f":{CONFIG_KEY}")), None)
    if base is None:
        raise ConfigError(f"stack config from the template: no platform value in {dev}")
    cidrs = [c.strip() for c in str(config.get("allowedCidrs")).split(",") if c.strip()]
    raw = from_template(
        base,
        cluster_name=str(config.get("clusterName")),
        admin_role_arn=str(config.get("adminRoleArn")),
        allowed_cidrs=cidrs,
    )
    return parse_stack_config(raw, root=config.full_key(CONFIG_KEY))
