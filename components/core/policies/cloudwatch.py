"""CloudWatch and SNS: every alarm tells someone, logs expire and are encrypted, topics too."""

from __future__ import annotations

from collections.abc import Iterator

from components.core.policies._base import Finding, PolicyContext, Resource, _known, rule

__all__ = [
    "LOG_GROUP",
    "METRIC_ALARM",
    "SNS_TOPIC",
    "alarm_has_action",
    "log_group_encrypted",
    "log_group_retention",
    "topic_encrypted",
]

METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
SNS_TOPIC = "aws:sns/topic:Topic"


@rule(
    "alarm-has-action",
    "mandatory",
    types={METRIC_ALARM},
    description="Every CloudWatch alarm notifies someone when it fires.",
)
def alarm_has_action(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    actions = resource.inputs.get("alarmActions")
    if not _known(actions):
        return
    if not actions:
        yield ("alarmActions", "is empty: the alarm would fire and tell nobody")
    enabled = resource.inputs.get("actionsEnabled")
    if enabled is False:
        yield ("actionsEnabled", "is false: the alarm's actions never run")


@rule(
    "log-group-retention",
    "mandatory",
    types={LOG_GROUP},
    description="CloudWatch log groups expire their events (retentionInDays is set).",
)
def log_group_retention(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    retention = resource.inputs.get("retentionInDays")
    if _known(retention) and not retention:
        yield ("retentionInDays", f"is {retention!r}: the events are kept, and billed, forever")


@rule(
    "log-group-encrypted",
    "mandatory",
    types={LOG_GROUP},
    description="CloudWatch log groups are encrypted with a KMS key of the stack.",
)
def log_group_encrypted(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    key = resource.inputs.get("kmsKeyId")
    if _known(key) and not key:
        yield ("kmsKeyId", "is not set: the group uses CloudWatch Logs' own key only")


@rule(
    "sns-topic-encrypted",
    "mandatory",
    types={SNS_TOPIC},
    description="SNS topics are encrypted with a KMS key (kmsMasterKeyId).",
)
def topic_encrypted(resource: Resource, _: PolicyContext) -> Iterator[Finding]:
    key = resource.inputs.get("kmsMasterKeyId")
    if _known(key) and not key:
        yield ("kmsMasterKeyId", "is not set: messages are stored unencrypted")
