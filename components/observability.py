"""Observability: Container Insights, alarms to an encrypted SNS topic, a dashboard, a budget.

The decisions are the pure core's (`core/observability/`): which alarms, on which
documented metrics, with which thresholds and missing-data treatment, and the dashboard's
widgets. This component only turns them into resources. Dimension values that exist only
after the load balancer controller has created the load balancer (its ARN suffixes) come
from `aws.lb.get_load_balancer` / `get_target_group` invokes looked up by the tags the
controller puts on them; the invokes wait on the service's hostname, which pulumi-kubernetes
only reports once the Ingress (or Service) has its load balancer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components._irsa import irsa_role
from components.cluster import AddonTarget, managed_addon
from components.core import iam
from components.core.config import StackConfig
from components.core.observability import (
    CONTAINER_INSIGHTS_ADDON,
    CONTAINER_INSIGHTS_LOG_GROUPS,
    CONTAINER_INSIGHTS_NAMESPACE,
    CONTAINER_INSIGHTS_SERVICE_ACCOUNT,
    SERVER_METRICS_LOG_GROUP,
    AlarmSpec,
    LoadBalancerRefs,
    MetricRef,
    addon_configuration,
    alarm_specs,
    budget_limit,
    container_insights_enabled,
    dashboard_body,
    gpu_metrics_gaps,
    load_balancer_kind,
    server_metrics_enabled,
    untolerated_taints,
)
from components.core.tags import component_tags

__all__ = ["Observability", "ObservabilityArgs"]

_LB = "{load-balancer}"
_TG = "{target-group}"
_PLACEHOLDERS = LoadBalancerRefs(load_balancer=_LB, target_group=_TG)


@dataclass(frozen=True, kw_only=True)
class ObservabilityArgs:
    """Inputs of `Observability`."""

    config: StackConfig
    cluster_name: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    estimate_max: float | None = None
    """The cost estimate's monthly maximum (`core.cost.estimate(...).total[1]`); None: no
    budget."""
    service_hostname: pulumi.Input[str | None] | None = None
    """The service's load balancer hostname: the lookups of its ARN suffixes wait on it."""
    nat_gateway_ids: Sequence[pulumi.Input[str]] = ()
    """The stack's NAT gateways (`Network.nat_gateway_ids`): the dashboard's NAT bytes, the
    data-processing charge the estimate prices per GB."""
    pool_asg_names: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Pool name → its node group's Auto Scaling group (`NodePool.asg_name`): the
    dashboard's nodes per pool."""
    requires: Sequence[pulumi.Resource] = ()
    """Created first: the node pools, for the add-on's agents."""
    tags: Mapping[str, str] = field(default_factory=dict)


class Observability(pulumi.ComponentResource):
    """Container Insights, alarms, an encrypted alarm topic, a dashboard and a budget."""

    topic_arn: pulumi.Output[str]
    """The SNS topic every alarm and budget notification goes to."""
    dashboard_name: pulumi.Output[str]
    """The CloudWatch dashboard of the stack."""
    alarm_names: list[pulumi.Output[str]]
    """Every alarm's name."""

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:observability:Observability", name, None, opts)
        self._name = name
        self._args = args
        config = args.config
        child = pulumi.ResourceOptions(parent=self)
        stack = pulumi.get_stack()
        region = aws.get_region_output(opts=pulumi.InvokeOptions(parent=self)).region
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))

        key = aws.kms.Key(
            f"{name}-topic-key",
            description=f"alarm topic and log groups of stack {stack}",
            enable_key_rotation=True,
            deletion_window_in_days=7 if config.environment != "prod" else 30,
            policy=pulumi.Output.all(identity.account_id, identity.arn, region).apply(
                lambda values: iam.to_json(
                    iam.notification_key_policy(
                        values[0], region=values[2], partition=values[1].split(":")[1]
                    )
                )
            ),
            tags=self._tags("topic-key"),
            opts=child,
        )
        topic = aws.sns.Topic(
            f"{name}-alarms", kms_master_key_id=key.arn, tags=self._tags("alarms"), opts=child
        )
        aws.sns.TopicPolicy(
            f"{name}-alarms-policy",
            arn=topic.arn,
            policy=pulumi.Output.all(topic.arn, identity.account_id).apply(
                lambda values: iam.to_json(iam.notification_topic_policy(values[0], values[1]))
            ),
            opts=child,
        )
        for index, address in enumerate(config.observability.alarm_emails):
            aws.sns.TopicSubscription(
                f"{name}-email-{index}",
                topic=topic.arn,
                protocol="email",
                endpoint=address,
                opts=child,
            )
        self.topic_arn = topic.arn

        self._key = key
        if container_insights_enabled(config):
            self._container_insights()

        refs = self._load_balancer_refs()
        specs = alarm_specs(
            config, cluster_name="{cluster}", refs=_PLACEHOLDERS if refs is not None else None
        )
        self.alarm_names = [self._alarm(spec, topic.arn, refs).name for spec in specs]

        lb_values: list[Any] = [refs[0], refs[1]] if refs is not None else ["", ""]
        pools = sorted(args.pool_asg_names)
        nats = len(args.nat_gateway_ids)
        body = pulumi.Output.all(
            args.cluster_name,
            region,
            *lb_values,
            *args.nat_gateway_ids,
            *(args.pool_asg_names[pool] for pool in pools),
        ).apply(
            lambda values: json.dumps(
                dashboard_body(
                    config,
                    region=values[1],
                    cluster_name=values[0],
                    refs=LoadBalancerRefs(values[2], values[3]) if refs is not None else None,
                    nat_gateway_ids=values[4 : 4 + nats],
                    pool_asg_names=dict(zip(pools, values[4 + nats :], strict=True)),
                ),
                sort_keys=True,
            )
        )
        dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=f"{pulumi.get_project()}-{stack}",
            dashboard_body=body,
            opts=child,
        )
        self.dashboard_name = dashboard.dashboard_name

        budget = config.observability.budget
        if budget.enabled and args.estimate_max is not None:
            margin = 0 if budget.limit_usd is not None else budget.margin_percent
            limit = budget_limit(args.estimate_max, margin)
            notifications = [
                aws.budgets.BudgetNotificationArgs(
                    comparison_operator="GREATER_THAN",
                    notification_type=kind,
                    threshold=percent,
                    threshold_type="PERCENTAGE",
                    subscriber_sns_topic_arns=[topic.arn],
                )
                for kind in ("ACTUAL", "FORECASTED")
                for percent in (80.0, 100.0)
            ]
            aws.budgets.Budget(
                f"{name}-budget",
                budget_type="COST",
                time_unit="MONTHLY",
                limit_amount=f"{limit:.2f}",
                limit_unit="USD",
                # The stack's own tag, as a cost allocation tag (activate `mlops:stack` once
                # in the Billing console: AWS Budgets filters only on activated tags).
                cost_filters=[
                    aws.budgets.BudgetCostFilterArgs(
                        name="TagKeyValue", values=[f"user:mlops:stack${stack}"]
                    )
                ],
                notifications=notifications,
                tags=self._tags("budget"),
                opts=child,
            )
        self.register_outputs({"topicArn": self.topic_arn, "dashboardName": self.dashboard_name})

    def _tags(self, suffix: str) -> dict[str, str]:
        return component_tags(self._args.tags, "observability", name=f"{self._name}-{suffix}")

    def _container_insights(self) -> None:
        args = self._args
        insights = args.config.observability.container_insights
        assert insights is not None  # container_insights_enabled checked it
        child = pulumi.ResourceOptions(parent=self)
        for gap in untolerated_taints(args.config):
            pulumi.log.warn(f"the CloudWatch agent will not run on {gap}", resource=self)
        for gap in gpu_metrics_gaps(args.config):
            pulumi.log.warn(
                f"no GPU metrics on {gap}: the add-on's DCGM exporter does not list the type",
                resource=self,
            )
        # Created before the add-on, with a retention: the agent would create them never
        # to expire (CloudWatch user guide, "Container Insights log groups").
        groups = [
            aws.cloudwatch.LogGroup(
                f"{self._name}-logs-{kind}",
                name=pulumi.Output.concat("/aws/containerinsights/", args.cluster_name, f"/{kind}"),
                retention_in_days=insights.log_retention_days,
                kms_key_id=self._key.arn,
                tags=self._tags(f"logs-{kind}"),
                opts=child,
            )
            for kind in (
                *CONTAINER_INSIGHTS_LOG_GROUPS,
                *([SERVER_METRICS_LOG_GROUP] if server_metrics_enabled(args.config) else []),
            )
        ]
        partition = aws.get_partition_output(opts=pulumi.InvokeOptions(parent=self)).partition
        role = irsa_role(
            f"{self._name}-cloudwatch-agent",
            parent=self,
            oidc_provider_arn=args.oidc_provider_arn,
            oidc_issuer=args.oidc_issuer,
            namespace=CONTAINER_INSIGHTS_NAMESPACE,
            service_account=CONTAINER_INSIGHTS_SERVICE_ACCOUNT,
            description="CloudWatch agent of the amazon-cloudwatch-observability add-on",
            tags=self._tags("cloudwatch-agent"),
            policy_arn=pulumi.Output.concat(
                "arn:", partition, ":iam::aws:policy/CloudWatchAgentServerPolicy"
            ),
        )
        managed_addon(
            AddonTarget(
                parent=self,
                prefix=self._name,
                cluster_name=args.cluster_name,
                tags=self._tags,
                after=list(args.requires),
            ),
            CONTAINER_INSIGHTS_ADDON,
            insights.version,
            role_arn=role.role.arn,
            configuration=addon_configuration(args.config),
            depends_on=[role.grant, *groups],
        )

    def _load_balancer_refs(self) -> tuple[pulumi.Output[str], pulumi.Output[str]] | None:
        """The service's load balancer and target group ARN suffixes, looked up by the
        tags the AWS Load Balancer Controller puts on them once they exist."""
        args = self._args
        config = args.config
        kind = load_balancer_kind(config)
        service = config.service
        if kind is None or service is None or args.service_hostname is None:
            return None
        invoke = pulumi.InvokeOptions(parent=self)
        if kind == "alb":
            stack_tag, stack_value = "ingress.k8s.aws/stack", f"{service.namespace}/{service.name}"
            group = f"{service.namespace}/{service.name}-{service.name}:http"
        else:
            nlb = f"{service.name}-nlb"
            stack_tag, stack_value = "service.k8s.aws/stack", f"{service.namespace}/{nlb}"
            group = f"{service.namespace}/{nlb}:80"
        resource_tag = stack_tag.replace("/stack", "/resource")

        def tags(extra: Mapping[str, str]) -> Any:
            # Waiting on the hostname orders the lookup after the load balancer exists.
            return pulumi.Output.all(args.cluster_name, args.service_hostname).apply(
                lambda values: {"elbv2.k8s.aws/cluster": values[0], stack_tag: stack_value, **extra}
            )

        balancer = aws.lb.get_load_balancer_output(
            tags=tags({resource_tag: "LoadBalancer"}), opts=invoke
        )
        target_group = aws.lb.get_target_group_output(tags=tags({resource_tag: group}), opts=invoke)
        return balancer.arn_suffix, target_group.arn_suffix

    def _alarm(
        self,
        spec: AlarmSpec,
        topic_arn: pulumi.Output[str],
        refs: tuple[pulumi.Output[str], pulumi.Output[str]] | None,
    ) -> aws.cloudwatch.MetricAlarm:
        args = self._args
        stack = pulumi.get_stack()
        service = args.config.service

        def dimensions(ref: MetricRef) -> dict[str, pulumi.Input[str]]:
            resolved: dict[str, pulumi.Input[str]] = {}
            for key, value in ref.dimensions.items():
                if value == _LB and refs is not None:
                    resolved[key] = refs[0]
                elif value == _TG and refs is not None:
                    resolved[key] = refs[1]
                elif value == "{cluster}":
                    resolved[key] = args.cluster_name
                else:
                    resolved[key] = value
            return resolved

        common: dict[str, Any] = {
            "alarm_description": spec.description(stack, service.name if service else None),
            "comparison_operator": spec.comparison,
            "threshold": spec.threshold,
            "evaluation_periods": spec.evaluation_periods,
            "datapoints_to_alarm": spec.datapoints_to_alarm,
            "treat_missing_data": spec.missing_data,
            "alarm_actions": [topic_arn],
            "ok_actions": [topic_arn],
            "tags": self._tags(f"alarm-{spec.key}"),
        }
        if spec.metric is not None:
            metric = spec.metric
            stat: dict[str, Any] = (
                {"extended_statistic": metric.stat}
                if metric.stat.startswith("p")
                else {"statistic": metric.stat}
            )
            return aws.cloudwatch.MetricAlarm(
                f"{self._name}-{spec.key}",
                namespace=metric.namespace,
                metric_name=metric.name,
                dimensions=dimensions(metric),
                period=spec.period,
                **stat,
                **common,
                opts=pulumi.ResourceOptions(parent=self),
            )
        queries = [
            aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id=query_id,
                return_data=False,
                metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                    namespace=ref.namespace,
                    metric_name=ref.name,
                    dimensions=dimensions(ref),
                    period=spec.period,
                    stat=ref.stat,
                ),
            )
            for query_id, ref in spec.inputs.items()
        ]
        queries.append(
            aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id="result", expression=spec.expression, label=spec.title, return_data=True
            )
        )
        return aws.cloudwatch.MetricAlarm(
            f"{self._name}-{spec.key}",
            metric_queries=queries,
            **common,
            opts=pulumi.ResourceOptions(parent=self),
        )
