"""`observability` and `cost`: alarms, dashboard, budget, Container Insights, and the
usage the monthly estimate assumes."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from components.core.config._base import ConfigModel, check_retention

__all__ = [
    "BudgetConfig",
    "ContainerInsightsConfig",
    "CostAssumptions",
    "ObservabilityConfig",
    "SloConfig",
]


class CostAssumptions(ConfigModel):
    """Usage the monthly estimate assumes; prices live in core/data/prices.json."""

    nat_data_gb_per_month: float = Field(default=100.0, ge=0)
    """GB through all NAT gateways together per month."""
    spot_discount: float = Field(default=0.65, ge=0, lt=1)
    """Fraction saved by spot against on-demand (AWS quotes up to 90%; 65% is typical)."""
    log_ingestion_gb_per_month: float = Field(default=5.0, ge=0)
    """Control-plane and flow logs sent to CloudWatch per month; stored for the retention."""
    load_balancer_lcu: float = Field(default=1.0, ge=0)
    """Average load balancer capacity units in use."""
    interface_endpoint_data_gb_per_month: float = Field(default=20.0, ge=0)
    """GB through all interface endpoints together per month (image pulls, API calls)."""
    model_store_gb: float = Field(default=5.0, ge=0)
    """Model artifacts kept in S3, all versions."""
    image_store_gb: float = Field(default=5.0, ge=0)
    """Server images kept in ECR."""
    container_insights_observations_per_node_millions: float = Field(default=20.0, ge=0)
    """Container Insights (enhanced) observations per node per month, in millions: the
    node's, its pods' and containers' metrics, once a minute. Check it against the bill."""
    container_log_gb_per_month: float = Field(default=10.0, ge=0)
    """The pods' logs (application, dataplane, host) Container Insights ships per month."""
    server_status_series: int = Field(default=4, ge=0)
    """Distinct (protocol, status) pairs the server reports in a month (200, 400, 503, ...):
    each is a custom metric of its own."""


_EMAIL = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"


class ContainerInsightsConfig(ConfigModel):
    """The `amazon-cloudwatch-observability` EKS add-on: node, pod and container metrics in
    the `ContainerInsights` namespace and the pods' logs in CloudWatch Logs."""

    enabled: bool | None = None
    """None: on in prod, off elsewhere."""
    version: str = Field(pattern=r"^v\d+\.\d+\.\d+-eksbuild\.\d+$")
    """The add-on version, pinned (`aws eks describe-addon-versions --addon-name
    amazon-cloudwatch-observability`)."""
    log_retention_days: int = 30
    """Retention of the add-on's log groups (`/aws/containerinsights/<cluster>/...`),
    which the stack creates first so they do not default to never expiring."""

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        return check_retention(value)


class SloConfig(ConfigModel):
    """The service level the alarms hold the load balancer to."""

    p99_latency_ms: int = Field(default=1000, ge=1, le=300_000)
    """p99 target response time, at the load balancer."""
    error_rate_percent: float = Field(default=1.0, gt=0, le=100)
    """Share of requests answered 5xx by the pods, over 5 minutes."""
    queue_wait_p99_ms: int = Field(default=250, ge=1, le=60_000)
    """p99 time a request waits in the server's batching queue (the server's own metric)."""
    overload_rate_percent: float = Field(default=1.0, gt=0, le=100)
    """Share of requests the server refuses as overloaded (503, gRPC UNAVAILABLE)."""


class BudgetConfig(ConfigModel):
    """A monthly AWS Budget from the cost estimate."""

    enabled: bool = True
    margin_percent: int = Field(default=20, ge=0, le=1000)
    """The limit is the estimate's maximum plus this margin."""
    limit_usd: float | None = Field(default=None, gt=0)
    """A fixed monthly limit instead of the estimate's (needed where the estimate has
    unpriced lines, e.g. a region without price data)."""


class ObservabilityConfig(ConfigModel):
    """Alarms, their SNS topic, a dashboard, a budget and Container Insights."""

    enabled: bool = True
    container_insights: ContainerInsightsConfig | None = None
    alarm_emails: list[Annotated[str, Field(pattern=_EMAIL)]] = Field(default_factory=list)
    """Email addresses subscribed to the alarm topic (each confirms once, by email)."""
    slo: SloConfig = Field(default_factory=SloConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
