"""What every config section shares: the model base, the error, CIDRs, log retention."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from components.core import catalog

__all__ = ["Cidr", "ConfigError", "ConfigModel", "check_retention"]


class ConfigError(ValueError):
    """The stack config is invalid; the message lists every bad key path and value."""


class ConfigModel(BaseModel):
    """A config section: camelCase keys in YAML, unknown keys refused, frozen."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
    )


def _network(value: str) -> str:
    """`value`, when it is an IPv4 CIDR block without host bits."""
    try:
        ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"not an IPv4 CIDR block: {exc}") from None
    return value


Cidr = Annotated[str, AfterValidator(_network)]


def check_retention(value: int) -> int:
    """`value`, when CloudWatch Logs accepts it as a retention in days."""
    if value not in catalog.LOG_RETENTION_DAYS:
        raise ValueError(
            f"CloudWatch Logs accepts only {list(catalog.LOG_RETENTION_DAYS)} days, got {value}"
        )
    return value
