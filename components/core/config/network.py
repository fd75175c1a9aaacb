"""`network`: the VPC's CIDR, AZs, subnet sizes, NAT and endpoints."""

from __future__ import annotations

import ipaddress
from typing import Literal, get_args

from pydantic import Field, field_validator, model_validator

from components.core.config._base import Cidr, ConfigModel, check_retention
from components.core.subnets import MAX_AZS, NatStrategy, SubnetPlanError, check_fits

__all__ = ["InterfaceEndpoint", "NetworkConfig"]

InterfaceEndpoint = Literal["ecr.api", "ecr.dkr", "sts", "logs", "ec2"]


class NetworkConfig(ConfigModel):
    """The VPC: its CIDR, AZs, subnets, NAT and endpoints."""

    vpc_cidr: Cidr
    az_count: int = 3
    availability_zones: list[str] | None = None
    """Explicit AZ names; when absent, the first `azCount` AZs the region offers."""
    allow_single_az: bool = False
    """A single AZ is refused unless this is true (dev only: no zone redundancy)."""
    nat_strategy: NatStrategy = "one-per-az"
    private_subnet_prefix: int | None = None
    """Prefix length of each private subnet; default: the VPC's prefix + 3."""
    public_subnet_prefix: int | None = None
    """Prefix length of each public subnet; default: the VPC's prefix + 5."""
    enable_interface_endpoints: bool = False
    interface_endpoints: list[InterfaceEndpoint] = Field(
        default_factory=lambda: list(get_args(InterfaceEndpoint))
    )
    enable_flow_logs: bool = False
    flow_log_retention_days: int = 30

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc_size(cls, value: str) -> str:
        prefix = ipaddress.IPv4Network(value).prefixlen
        if not 16 <= prefix <= 24:
            raise ValueError(f"VPC prefix must be /16 to /24 (AWS's limits), got /{prefix}")
        return value

    @field_validator("flow_log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        return check_retention(value)

    @field_validator("private_subnet_prefix", "public_subnet_prefix")
    @classmethod
    def _subnet_size(cls, value: int | None) -> int | None:
        # CreateSubnet: "The allowed block size is between a /16 netmask and /28 netmask."
        if value is not None and not 16 <= value <= 28:
            raise ValueError(f"AWS subnets are /16 to /28, got /{value}")
        return value

    @model_validator(mode="after")
    def _shape(self) -> NetworkConfig:
        low = 1 if self.allow_single_az else 2
        if not low <= self.az_count <= MAX_AZS:
            hint = "" if self.allow_single_az else " (1 only with allowSingleAz: true)"
            raise ValueError(
                f"azCount must be {low} to {MAX_AZS} (the subnet plan's slots){hint}, "
                f"got {self.az_count}"
            )
        if self.availability_zones is not None and len(self.availability_zones) != self.az_count:
            raise ValueError(
                f"availabilityZones lists {len(self.availability_zones)} AZs "
                f"{self.availability_zones} but azCount is {self.az_count}"
            )
        try:
            check_fits(self.vpc, self.private_prefix, self.public_prefix, self.az_count)
        except SubnetPlanError as exc:
            raise ValueError(f"subnets do not fit the VPC: {exc}") from None
        return self

    @property
    def vpc(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.vpc_cidr)

    @property
    def private_prefix(self) -> int:
        return self.private_subnet_prefix or self.vpc.prefixlen + 3

    @property
    def public_prefix(self) -> int:
        return self.public_subnet_prefix or self.vpc.prefixlen + 5
