"""Observability under the mocks kit: what both stacks ask AWS for.

Mocks prove what the program asks for. What AWS does with it rests on:
- the add-on's agent runs as amazon-cloudwatch:cloudwatch-agent with
  CloudWatchAgentServerPolicy (EKS user guide, "Amazon CloudWatch Observability agent");
- CloudWatch and Budgets can publish to a KMS-encrypted topic only when the key policy
  lets them use the key (SNS developer guide, "Enable compatibility between event
  sources from AWS services and encrypted topics");
- the load balancer controller tags its ALB `ingress.k8s.aws/stack: <ns>/<ingress>` and
  `ingress.k8s.aws/resource: LoadBalancer`, and each target group
  `ingress.k8s.aws/resource: <ns>/<ingress>-<service>:<port>` (the tags public stacks
  look them up by); the lookups wait on the Ingress's hostname, which pulumi-kubernetes
  reports only once the load balancer exists.
"""

from __future__ import annotations

import json
from typing import Any

from components.core.cost import estimate, load_prices
from components.core.observability import documented_metrics
from components.core.stackfile import read_stack_file
from components.testing import StackRun, run_stack
from tests.conftest import ROOT

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def alarms(run: StackRun) -> dict[str, Any]:
    return {r.name.removeprefix("observability-"): r for r in run.by_type(ALARM)}


def test_both_stacks_alarm_to_an_encrypted_topic(stack: StackRun) -> None:
    topic = stack.one("aws:sns/topic:Topic", "observability-alarms")
    key = stack.one("aws:kms/key:Key", "observability-topic-key")
    assert topic.inputs["kmsMasterKeyId"] == key.outputs["arn"]
    statements = json.loads(key.inputs["policy"])["Statement"]
    publishers = next(s for s in statements if s["Sid"] == "AlarmAndBudgetPublishers")
    assert set(publishers["Principal"]["Service"]) == {
        "cloudwatch.amazonaws.com",
        "budgets.amazonaws.com",
    }
    assert "kms:GenerateDataKey*" in publishers["Action"]
    topic_policy = json.loads(stack.one("aws:sns/topicPolicy:TopicPolicy").inputs["policy"])[
        "Statement"
    ][0]
    assert topic_policy["Resource"] == topic.outputs["arn"]
    registered = alarms(stack)
    assert registered
    for alarm in registered.values():
        assert alarm.inputs["alarmActions"] == [topic.outputs["arn"]]
        assert f"stack {stack.stack}" in alarm.inputs["alarmDescription"]
        assert "Runbook: README 'When it breaks'" in alarm.inputs["alarmDescription"]
        assert alarm.inputs["treatMissingData"] in ("breaching", "notBreaching")


def test_load_balancer_alarms_use_the_suffixes_found_by_the_controllers_tags(
    prod: StackRun,
) -> None:
    lookups = [
        args for token, args in prod.calls if token == "aws:lb/getLoadBalancer:getLoadBalancer"
    ]
    assert lookups, "the load balancer is never looked up"
    tags = lookups[0]["tags"]
    assert tags["ingress.k8s.aws/stack"] == "models/iris"
    assert tags["ingress.k8s.aws/resource"] == "LoadBalancer"
    assert tags["elbv2.k8s.aws/cluster"] == read_stack_file(ROOT, "prod").platform().cluster.name
    registered = alarms(prod)
    latency = registered["p99-latency"]
    assert latency.inputs["namespace"] == "AWS/ApplicationELB"
    assert latency.inputs["extendedStatistic"] == "p99"
    assert latency.inputs["threshold"] == 0.5  # prod's slo.p99LatencyMs: 500
    assert latency.inputs["dimensions"]["LoadBalancer"].startswith("app/k8s-")
    unhealthy = registered["unhealthy-targets"]
    assert unhealthy.inputs["dimensions"]["TargetGroup"].startswith("targetgroup/k8s-")
    rate = registered["target-5xx-rate"]
    queries = {q["id"]: q for q in rate.inputs["metricQueries"]}
    assert queries["result"]["returnData"] is True
    assert queries["errors"]["metric"]["metricName"] == "HTTPCode_Target_5XX_Count"


def test_prod_runs_container_insights_with_its_own_role_and_expiring_logs(
    prod: StackRun,
) -> None:
    addon = prod.one("aws:eks/addon:Addon", "observability-amazon-cloudwatch-observability")
    role = prod.one("aws:iam/role:Role", "observability-cloudwatch-agent")
    assert addon.inputs["addonName"] == "amazon-cloudwatch-observability"
    assert addon.inputs["addonVersion"] == "v6.2.0-eksbuild.1"
    assert addon.inputs["serviceAccountRoleArn"] == role.outputs["arn"]
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    subjects = [v for c in trust["Condition"].values() for k, v in c.items() if k.endswith(":sub")]
    assert subjects == ["system:serviceaccount:amazon-cloudwatch:cloudwatch-agent"]
    attachment = prod.one(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "observability-cloudwatch-agent"
    )
    assert attachment.inputs["policyArn"].endswith(":iam::aws:policy/CloudWatchAgentServerPolicy")
    groups = [
        r for r in prod.by_type("aws:cloudwatch/logGroup:LogGroup") if "observability" in r.name
    ]
    assert sorted(g.inputs["name"].rsplit("/", 1)[1] for g in groups) == [
        "application",
        "dataplane",
        "host",
        "performance",
        "server-metrics",  # the model server's EMF documents
    ]
    key = prod.one("aws:kms/key:Key", "observability-topic-key")
    for group in groups:
        assert group.inputs["retentionInDays"] == 30
        assert group.inputs["kmsKeyId"] == key.outputs["arn"]
        # The add-on must find its log groups already there, with their retention.
        assert group.urn in addon.dependencies


def test_dev_leaves_container_insights_off(dev: StackRun) -> None:
    assert not [r for r in dev.by_type("aws:eks/addon:Addon") if "cloudwatch" in r.name]
    assert set(alarms(dev)) == {"target-5xx-rate", "p99-latency", "unhealthy-targets"}


def test_the_dashboard_body_is_cloudwatch_json_over_documented_metrics(stack: StackRun) -> None:
    dashboard = stack.one("aws:cloudwatch/dashboard:Dashboard")
    body = json.loads(dashboard.inputs["dashboardBody"])
    documented = documented_metrics()
    assert body["widgets"]
    for widget in body["widgets"]:
        for row in widget["properties"]["metrics"]:
            if len(row) == 1:  # a SEARCH expression (checked in core's dashboard test)
                assert row[0]["expression"].startswith("SEARCH('{MLOps/Serving,"), row
                continue
            assert row[1] in documented[row[0]], row
    assert dashboard.inputs["dashboardName"] == f"mlops-platform-{stack.stack}"


def test_the_dashboard_charts_the_bytes_of_every_nat_gateway(stack: StackRun) -> None:
    gateways = stack.by_type("aws:ec2/natGateway:NatGateway")
    assert gateways  # dev: single, prod: one per AZ
    body = json.loads(stack.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"])
    rows = [
        row
        for widget in body["widgets"]
        for row in widget["properties"]["metrics"]
        if row[0] == "AWS/NATGateway"
    ]
    assert sorted(row[3] for row in rows) == sorted(g.outputs["id"] for g in gateways)
    assert {row[1] for row in rows} == {"BytesOutToDestination"}


def test_the_dashboard_counts_the_nodes_of_every_pool(stack: StackRun) -> None:
    groups = {
        r.name.removeprefix("pool-").removesuffix("-ng"): r
        for r in stack.by_type("aws:eks/nodeGroup:NodeGroup")
    }
    assert len(groups) >= 2
    body = json.loads(stack.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"])
    (widget,) = [w for w in body["widgets"] if w["properties"]["title"] == "Nodes per pool"]
    rows = widget["properties"]["metrics"]
    assert {row[-1]["label"] for row in rows} == set(groups)
    asgs = {
        group.outputs["resources"][0]["autoscalingGroups"][0]["name"] for group in groups.values()
    }
    assert {row[3] for row in rows} == asgs
    assert {(row[0], row[1], row[2], row[-1]["stat"]) for row in rows} == {
        ("AWS/EC2", "CPUUtilization", "AutoScalingGroupName", "SampleCount")
    }


def test_the_budget_is_the_estimate_plus_margin_with_four_notifications(stack: StackRun) -> None:
    budget = stack.one("aws:budgets/budget:Budget")
    stack_file = read_stack_file(ROOT, stack.stack)
    config = stack_file.platform()
    high = estimate(config, load_prices(stack_file.region)).total[1]
    margin = config.observability.budget.margin_percent
    assert float(budget.inputs["limitAmount"]) >= high * (1 + margin / 100)
    assert float(budget.inputs["limitAmount"]) < high * (1 + margin / 100) + 1
    kinds = {(n["notificationType"], n["threshold"]) for n in budget.inputs["notifications"]}
    assert kinds == {
        ("ACTUAL", 80.0),
        ("ACTUAL", 100.0),
        ("FORECASTED", 80.0),
        ("FORECASTED", 100.0),
    }
    topic = stack.one("aws:sns/topic:Topic")
    for notification in budget.inputs["notifications"]:
        assert notification["subscriberSnsTopicArns"] == [topic.outputs["arn"]]
    assert budget.inputs["costFilters"] == [
        {"name": "TagKeyValue", "values": [f"user:mlops:stack${stack.stack}"]}
    ]


def test_an_nlb_exposure_alarms_on_the_nlb_namespace() -> None:
    raw = read_stack_file(ROOT, "prod").config["mlops-platform:platform"]
    platform = json.loads(raw)
    platform["service"]["exposure"] = "nlb-internal"
    run = run_stack("prod", project_dir=ROOT, config={"platform": platform})
    registered = alarms(run)
    assert registered["unhealthy-targets"].inputs["namespace"] == "AWS/NetworkELB"
    assert "p99-latency" not in registered
    lookups = [
        args for token, args in run.calls if token == "aws:lb/getLoadBalancer:getLoadBalancer"
    ]
    assert lookups[0]["tags"]["service.k8s.aws/stack"] == "models/iris-nlb"


def test_emails_subscribe_to_the_topic() -> None:
    raw = json.loads(read_stack_file(ROOT, "dev").config["mlops-platform:platform"])
    raw["observability"]["alarmEmails"] = ["oncall@example.com", "ml@example.com"]
    run = run_stack("dev", project_dir=ROOT, config={"platform": raw})
    subscriptions = run.by_type("aws:sns/topicSubscription:TopicSubscription")
    assert sorted(s.inputs["endpoint"] for s in subscriptions) == [
        "ml@example.com",
        "oncall@example.com",
    ]
    assert {s.inputs["protocol"] for s in subscriptions} == {"email"}


def test_the_readme_has_a_runbook_line_for_every_alarm(prod: StackRun) -> None:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## When it breaks") :]
    for key in alarms(prod):
        assert f"`{key}`" in section, key


def test_a_fixed_budget_limit_replaces_the_estimate() -> None:
    raw = json.loads(read_stack_file(ROOT, "dev").config["mlops-platform:platform"])
    raw["observability"]["budget"]["limitUsd"] = 750
    run = run_stack("dev", project_dir=ROOT, config={"platform": raw})
    budget = run.one("aws:budgets/budget:Budget")
    assert float(budget.inputs["limitAmount"]) == 750.0  # fixed: no margin on top


def test_a_region_without_any_price_warns_and_creates_no_budget() -> None:
    """cn-north-1 has no price data: the estimate cannot set a limit, so the program
    says so (a warning naming observability.budget.limitUsd) rather than fail."""
    raw = json.loads(read_stack_file(ROOT, "dev").config["mlops-platform:platform"])
    run = run_stack("dev", project_dir=ROOT, config={"platform": raw, "aws:region": "cn-north-1"})
    assert not run.by_type("aws:budgets/budget:Budget")
    assert run.by_type("aws:sns/topic:Topic")


def test_the_server_sends_its_metrics_where_the_agent_listens_under_the_alarms_dimensions(
    prod: StackRun,
) -> None:
    """The add-on gets an agent config with the EMF listener (`configurationValues`,
    `agent.config`: documented in the CloudWatch user guide, "Install the CloudWatch agent
    with the Amazon CloudWatch Observability EKS add-on"); the operator then opens UDP 25888
    on the agent's host network (amazon-cloudwatch-agent-operator ports.go). The model
    server sends to its node's IP on that port, with the very dimension values the alarms
    read, and its NetworkPolicy lets the datagrams out."""
    addon = prod.one("aws:eks/addon:Addon", "observability-amazon-cloudwatch-observability")
    sent = json.loads(addon.inputs["configurationValues"])
    collected = sent["agent"]["config"]["logs"]["metrics_collected"]
    assert collected["emf"] == {}
    assert collected["kubernetes"]["accelerated_compute_metrics"] is True  # prod has GPUs
    deployment = prod.one("kubernetes:apps/v1:Deployment")
    container = deployment.inputs["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["HOST_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP"
    assert env["SERVING_EMF_ENDPOINT"]["value"] == "udp://$(HOST_IP):25888"
    # Kubernetes expands $(HOST_IP) only from variables defined earlier in the list.
    names = [e["name"] for e in container["env"]]
    assert names.index("HOST_IP") < names.index("SERVING_EMF_ENDPOINT")
    dimensions = json.loads(env["SERVING_EMF_DIMENSIONS"]["value"])
    # The agent writes the documents to a group the stack made, with a retention and KMS.
    group = prod.one("aws:cloudwatch/logGroup:LogGroup", "observability-logs-server-metrics")
    assert env["SERVING_EMF_LOG_GROUP"]["value"] == group.inputs["name"]
    assert group.inputs["retentionInDays"] == 30 and group.inputs["kmsKeyId"]
    wait = alarms(prod)["queue-wait-p99"]
    assert wait.inputs["namespace"] == env["SERVING_EMF_NAMESPACE"]["value"] == "MLOps/Serving"
    assert wait.inputs["dimensions"] == dimensions
    assert wait.inputs["extendedStatistic"] == "p99"
    policy = next(
        r
        for r in prod.by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if r.name.endswith("-allow")
    )
    egress = policy.inputs["spec"]["egress"]
    assert any(rule["ports"] == [{"protocol": "UDP", "port": 25888}] for rule in egress)


def test_without_container_insights_the_server_sends_nothing(dev: StackRun) -> None:
    deployment = dev.one("kubernetes:apps/v1:Deployment")
    container = deployment.inputs["spec"]["template"]["spec"]["containers"][0]
    assert not [e for e in container["env"] if e["name"].startswith("SERVING_EMF")]


def test_one_dcgm_exporter_and_one_device_plugin_on_the_gpu_nodes(prod: StackRun) -> None:
    """The add-on brings its DCGM exporter (GPU metrics) but no NVIDIA device plugin
    (helm-charts Release 6.2.0 values.yaml: `dcgmExporter`, `neuronMonitor`, no device
    plugin); the platform brings the device plugin (Helm) and no DCGM exporter. So each
    runs once on a GPU node, and the agent reads the exporter (`accelerated_compute_metrics`)."""
    charts = {r.inputs["chart"] for r in prod.by_type("kubernetes:helm.sh/v3:Release")}
    assert "nvidia-device-plugin" in charts
    assert not [c for c in charts if "dcgm" in c]
    addon = prod.one("aws:eks/addon:Addon", "observability-amazon-cloudwatch-observability")
    sent = json.loads(addon.inputs["configurationValues"])
    assert "dcgmExporter" not in sent  # the add-on's exporter keeps its default: on
    kubernetes = sent["agent"]["config"]["logs"]["metrics_collected"]["kubernetes"]
    assert kubernetes["accelerated_compute_metrics"] is True
