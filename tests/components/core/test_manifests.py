"""The pure renderer: schema-valid objects, and the properties a schema cannot see."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from components.config import ConfigError, ModelServiceConfig, StackConfig, parse_stack_config
from components.core import manifests
from components.core.manifests import (
    CACHE_DIR,
    GRPC_HEALTH_SERVICE,
    GRPC_SERVICE,
    LIVE_PATH,
    READY_PATH,
    Manifest,
    grace_period_seconds,
    load_balancer_source_cidrs,
    render,
    spec_from_stack,
    stack_manifests,
    startup_budget_seconds,
    write_manifests,
)
from components.core.scheduling import pool_taints

ROOT = Path(__file__).resolve().parents[3]
STACKS = ("dev", "prod")
REGION = "us-west-2"


def raw_config(stack: str) -> dict[str, Any]:
    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    raw: dict[str, Any] = document["config"]["mlops-platform:platform"]
    return raw


def config(stack: str, **service: Any) -> StackConfig:
    raw = raw_config(stack)
    base = dict(raw["service"])
    if service.get("exposure", "alb-internet-facing") != "alb-internet-facing":
        base.pop("allowedSourceCidrs", None)  # only an internet-facing ALB takes it
    raw["service"] = {**base, **service}
    return parse_stack_config(raw)


def objects(stack: str = "dev", **service: Any) -> list[Manifest]:
    return stack_manifests(config(stack, **service), region=REGION)


def one(objs: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = [o for o in objs if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def kinds(objs: list[Manifest]) -> list[str]:
    return [o["kind"] for o in objs]


def container(objs: list[Manifest]) -> dict[str, Any]:
    containers = one(objs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# --------------------------------------------------------------------------- schemas

GRPC_CERT = "arn:aws:acm:us-west-2:123456789012:certificate/0a1b2c3d-0000-1111-2222-333344445555"

VARIANTS = [
    ("dev", {}),
    ("prod", {}),
    ("dev", {"exposure": "nlb-internal"}),
    ("dev", {"exposure": "cluster-ip", "minReplicas": 2, "maxReplicas": 2}),
    (
        "prod",
        # Four single-GPU nodes at most: maxReplicas 4 (more is refused by the config).
        {
            "nodePool": "gpu",
            "gpus": 1,
            "maxReplicas": 4,
            "image": {"digest": "sha256:" + "a" * 64},
        },
    ),
    ("prod", {"preStopSeconds": 0}),
    ("dev", {"exposure": "nlb-internal", "grpc": {"enabled": True}}),
    ("prod", {"grpc": {"enabled": True, "port": 9001}, "tlsCertificateArn": GRPC_CERT}),
    ("dev", {"exposure": "cluster-ip", "grpc": {"enabled": True}}),
    # An HPA target above 100% and a model name that is a label value, not a
    # DNS label; both must render to objects the API server accepts.
    ("dev", {"targetCpuUtilization": 250, "modelName": "iris_V2.1"}),
]


@pytest.mark.parametrize(("stack", "service"), VARIANTS)
def test_every_object_validates_strictly_against_the_stack_kubernetes_version(
    stack: str, service: dict[str, Any]
) -> None:
    cfg = config(stack, **service)
    version = cfg.cluster.kubernetes_version
    objs = stack_manifests(cfg, region=REGION)
    assert len(objs) >= 7
    for obj in objs:
        # A missing schema raises SchemaNotFoundError (the CLI's "warning"): a failure here.
        validated = kubernetes_validate.validate(obj, version, strict=True)
        assert validated == version, f"{obj['kind']} validated against {validated}, not {version}"


def test_strict_validation_refuses_an_unknown_field() -> None:
    deployment = one(objects(), "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFileSystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.35", strict=True)


def test_the_service_monitor_is_rendered_only_when_enabled() -> None:
    assert "ServiceMonitor" not in kinds(objects())
    objs = objects(serviceMonitor=True)
    monitor = one(objs, "ServiceMonitor")
    service = one(objs, "Service", "iris")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    # With a ServiceMonitor, the annotation-based scrape is off (it would scrape twice).
    template = one(objs, "Deployment")["spec"]["template"]["metadata"]
    assert "prometheus.io/scrape" not in template.get("annotations", {})
    for obj in objs:
        if obj["kind"] != "ServiceMonitor":  # a CRD: not in the upstream schema
            kubernetes_validate.validate(obj, "1.35", strict=True)


# --------------------------------------------------------------------------- semantics


@pytest.mark.parametrize("stack", STACKS)
def test_every_selector_matches_the_pod_labels(stack: str) -> None:
    objs = objects(stack)
    deployment = one(objs, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(deployment["spec"]["selector"]["matchLabels"], pod_labels)
    assert selects(one(objs, "Service", "iris")["spec"]["selector"], pod_labels)
    assert selects(one(objs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"], pod_labels)
    allow = one(objs, "NetworkPolicy", "iris-allow")
    assert selects(allow["spec"]["podSelector"]["matchLabels"], pod_labels)
    for constraint in deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]:
        assert selects(constraint["labelSelector"]["matchLabels"], pod_labels)
    hpa = one(objs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    ingress = one(objs, "Ingress")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    service = one(objs, "Service", backend["name"])
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    ports = {p["name"] for p in container(objs)["ports"]}
    assert service["spec"]["ports"][0]["targetPort"] in ports


def test_the_selector_does_not_carry_the_version() -> None:
    # A selector is immutable: a version in it would make every upgrade a replacement.
    selector = one(objects(), "Deployment")["spec"]["selector"]["matchLabels"]
    assert "app.kubernetes.io/version" not in selector
    labels = one(objects(), "Deployment")["spec"]["template"]["metadata"]["labels"]
    for key in ("name", "instance", "version", "component", "part-of", "managed-by"):
        assert f"app.kubernetes.io/{key}" in labels
    assert labels["app.kubernetes.io/version"] == "0.1.0"


services: st.SearchStrategy[dict[str, Any]] = st.builds(
    dict,
    modelLoadSecondsMax=st.integers(1, 3600),
    preStopSeconds=st.integers(0, 120),
    server=st.builds(dict, drainTimeoutSeconds=st.integers(1, 600)),
)


@settings(max_examples=40, deadline=None)
@given(services)
def test_grace_period_covers_prestop_and_drain_and_startup_covers_the_load(
    service: dict[str, Any],
) -> None:
    objs = objects(**service)
    pod = one(objs, "Deployment")["spec"]["template"]["spec"]
    server = pod["containers"][0]
    pre_stop = server.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    assert pre_stop == service["preStopSeconds"]
    drain = service["server"]["drainTimeoutSeconds"]
    assert pod["terminationGracePeriodSeconds"] > pre_stop + drain
    env = {e["name"]: e["value"] for e in server["env"]}
    assert env["SERVING_DRAIN_TIMEOUT_SECONDS"] == str(drain)
    startup = server["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= service["modelLoadSecondsMax"]
    assert startup["httpGet"]["path"] == READY_PATH
    assert one(objs, "Deployment")["spec"]["progressDeadlineSeconds"] > (
        startup["periodSeconds"] * startup["failureThreshold"]
    )


def test_budget_helpers_agree_with_the_rendered_objects() -> None:
    service = config("prod").service
    assert service is not None
    period, failures = startup_budget_seconds(service)
    assert period * failures >= service.model_load_seconds_max
    assert grace_period_seconds(service) > (
        service.pre_stop_seconds + service.server.drain_timeout_seconds
    )


def test_no_replicas_field_when_an_hpa_owns_the_count() -> None:
    objs = objects()
    assert "HorizontalPodAutoscaler" in kinds(objs)
    assert "replicas" not in one(objs, "Deployment")["spec"]
    fixed = objects(minReplicas=3, maxReplicas=3)
    assert "HorizontalPodAutoscaler" not in kinds(fixed)
    assert one(fixed, "Deployment")["spec"]["replicas"] == 3


def test_hpa_scales_up_at_once_and_down_slowly_within_the_configured_bounds() -> None:
    hpa = one(objects("prod"), "HorizontalPodAutoscaler")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 12)
    metric = hpa["metrics"][0]["resource"]
    assert metric["name"] == "cpu"
    assert metric["target"] == {"type": "Utilization", "averageUtilization": 70}
    assert hpa["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 0
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300


@pytest.mark.parametrize("min_replicas", [1, 2, 3, 5])
def test_the_pdb_allows_a_drain_at_the_minimum_replica_count(min_replicas: int) -> None:
    objs = objects(minReplicas=min_replicas, maxReplicas=max(min_replicas, 6))
    pdb = one(objs, "PodDisruptionBudget")["spec"]
    assert "minAvailable" not in pdb
    # The disruption controller: allowed = healthy - (expected - maxUnavailable).
    healthy = expected = min_replicas
    assert healthy - (expected - pdb["maxUnavailable"]) >= 1
    assert pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


@pytest.mark.parametrize(("pool", "gpus"), [("cpu", 0), ("gpu", 1)])
def test_tolerations_and_selector_match_the_target_pool(pool: str, gpus: int) -> None:
    cfg = config("prod", nodePool=pool, gpus=gpus, maxReplicas=4)
    pod = one(stack_manifests(cfg, region=REGION), "Deployment")["spec"]["template"]["spec"]
    taints = pool_taints(cfg.node_pools[pool])
    tolerations = pod.get("tolerations", [])
    for taint in taints:
        assert any(
            t["key"] == taint.key
            and t["effect"] == taint.effect
            and (t["operator"] == "Exists" or t["value"] == taint.value)
            for t in tolerations
        ), f"taint {taint} of pool {pool} is not tolerated"
    # Nothing tolerated that the pool does not taint: the pod stays off other pools' taints.
    assert len(tolerations) == len(taints)
    assert pod["nodeSelector"] == {"mlops.dev/pool": pool}


def test_gpu_pods_ask_for_their_gpus_and_cpu_pods_for_none() -> None:
    gpu = container(objects("prod", nodePool="gpu", gpus=1, maxReplicas=4))["resources"]
    assert gpu["limits"]["nvidia.com/gpu"] == "1"
    cpu = container(objects("prod"))["resources"]
    assert "nvidia.com/gpu" not in cpu["limits"]
    assert "nvidia.com/gpu" not in cpu["requests"]


def test_memory_limit_equals_request_and_there_is_no_cpu_limit() -> None:
    resources = container(objects("prod"))["resources"]
    assert resources["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert resources["limits"] == {"memory": "1Gi"}


def test_the_container_runs_restricted() -> None:
    objs = objects()
    pod = one(objs, "Deployment")["spec"]["template"]["spec"]
    ctx = container(objs)["securityContext"]
    assert ctx["runAsNonRoot"] is True
    assert isinstance(ctx["runAsUser"], int) and ctx["runAsUser"] > 10000
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    mounts = {m["mountPath"]: m["name"] for m in container(objs)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert set(mounts) == {"/tmp", CACHE_DIR}
    assert all("emptyDir" in volumes[name] for name in mounts.values())


def test_namespace_enforces_the_restricted_pod_security_standard() -> None:
    labels = one(objects(), "Namespace")["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.35"


def test_service_account_is_bound_to_the_role_without_an_api_token() -> None:
    objs = stack_manifests(config("dev"), region=REGION, role_arn="arn:aws:iam::1:role/r")
    account = one(objs, "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/r"
    }
    pod = one(objs, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]


def test_probes_hit_the_server_health_paths_on_its_port() -> None:
    server = container(objects())
    assert server["readinessProbe"]["httpGet"]["path"] == READY_PATH
    assert server["livenessProbe"]["httpGet"]["path"] == LIVE_PATH
    assert server["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert server[probe]["httpGet"]["port"] == "http"


def test_model_uri_and_server_settings_go_in_as_environment() -> None:
    cfg = config("dev")
    objs = stack_manifests(cfg, region=REGION, bucket="models-bucket")
    env = {e["name"]: e["value"] for e in container(objs)["env"]}
    assert env["SERVING_MODEL_REPOSITORY"] == "s3://models-bucket/iris/1"
    assert env["SERVING_MODEL_NAME"] == "iris"
    assert env["SERVING_MODEL_VERSION"] == "1"
    assert env["SERVING_CACHE_DIR"] == CACHE_DIR
    assert env["AWS_REGION"] == REGION
    expected = {
        "WORKERS",
        "INTRA_OP_THREADS",
        "BATCHING_ENABLED",
        "MAX_BATCH_SIZE",
        "MAX_BATCH_DELAY_MS",
        "MAX_INFLIGHT",
        "REQUEST_TIMEOUT_MS",
        "LOG_LEVEL",
    }
    assert {f"SERVING_{k}" for k in expected} <= set(env)
    assert env["SERVING_BATCHING_ENABLED"] == "true"


def test_image_is_pinned_by_tag_or_digest_never_latest() -> None:
    repository = "123456789012.dkr.ecr.us-west-2.amazonaws.com/ml-dev-models"
    tagged = container(objects())
    assert tagged["image"] == f"{repository}:0.1.0"
    assert tagged["imagePullPolicy"] == "Always"
    digest = "sha256:" + "b" * 64
    pinned = objects(image={"digest": digest})
    assert container(pinned)["image"] == f"{repository}@{digest}"
    assert container(pinned)["imagePullPolicy"] == "IfNotPresent"
    annotations = one(pinned, "Deployment")["metadata"]["annotations"]
    assert not any(v.startswith("CKV_K8S_43=") for v in annotations.values())
    # An existing image of another repository is pinned by digest.
    other = objects(image={"repository": "ghcr.io/acme/server", "tag": "1.2.3", "digest": digest})
    assert container(other)["image"] == f"ghcr.io/acme/server:1.2.3@{digest}"


def test_rolling_update_never_drops_below_the_current_count_and_spreads_pods() -> None:
    spec = one(objects(), "Deployment")["spec"]
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    keys = {c["topologyKey"] for c in spec["template"]["spec"]["topologySpreadConstraints"]}
    assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}


@pytest.mark.parametrize(
    ("exposure", "scheme"),
    [("alb-internet-facing", "internet-facing"), ("alb-internal", "internal")],
)
def test_alb_exposure_is_an_ingress_with_ip_targets(exposure: str, scheme: str) -> None:
    objs = objects(exposure=exposure)
    ingress = one(objs, "Ingress")
    annotations = ingress["metadata"]["annotations"]
    assert ingress["spec"]["ingressClassName"] == "alb"
    assert annotations["alb.ingress.kubernetes.io/scheme"] == scheme
    assert annotations["alb.ingress.kubernetes.io/target-type"] == "ip"
    assert annotations["alb.ingress.kubernetes.io/healthcheck-path"] == READY_PATH
    assert [s["spec"]["type"] for s in objs if s["kind"] == "Service"] == ["ClusterIP"]


def test_nlb_exposure_is_a_load_balancer_service() -> None:
    objs = objects(exposure="nlb-internal")
    assert "Ingress" not in kinds(objs)
    nlb = one(objs, "Service", "iris-nlb")
    prefix = "service.beta.kubernetes.io/aws-load-balancer-"
    annotations = nlb["metadata"]["annotations"]
    assert nlb["spec"]["type"] == "LoadBalancer"
    assert nlb["spec"]["loadBalancerClass"] == "service.k8s.aws/nlb"
    assert annotations[prefix + "scheme"] == "internal"
    assert annotations[prefix + "nlb-target-type"] == "ip"
    assert annotations[prefix + "healthcheck-path"] == READY_PATH
    assert one(objs, "Service", "iris")["spec"]["type"] == "ClusterIP"


def test_cluster_ip_exposure_has_no_load_balancer() -> None:
    objs = objects(exposure="cluster-ip")
    assert "Ingress" not in kinds(objs)
    assert [s["spec"]["type"] for s in objs if s["kind"] == "Service"] == ["ClusterIP"]


def test_network_policies_deny_by_default_then_allow_serving_scraping_dns_and_https() -> None:
    cfg = config("dev")
    objs = stack_manifests(cfg, region=REGION)
    deny = one(objs, "NetworkPolicy", "default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    allow = one(objs, "NetworkPolicy", "iris-allow")["spec"]
    sources = [peer for rule in allow["ingress"] for peer in rule["from"]]
    # Dev's internet-facing ALB: its public subnets only, not the VPC (every pod).
    ip_blocks = [peer["ipBlock"]["cidr"] for peer in sources if "ipBlock" in peer]
    assert ip_blocks == ["10.20.128.0/21", "10.20.136.0/21"]
    assert cfg.network.vpc_cidr not in ip_blocks
    assert all(rule["ports"] == [{"protocol": "TCP", "port": 8080}] for rule in allow["ingress"])
    assert any("namespaceSelector" in peer for peer in sources)  # the scraper
    egress_ports = {(p["protocol"], p["port"]) for rule in allow["egress"] for p in rule["ports"]}
    assert egress_ports == {("UDP", 53), ("TCP", 53), ("TCP", 443)}


def test_checkov_skips_carry_a_written_reason() -> None:
    annotations = one(objects(), "Deployment")["metadata"]["annotations"]
    skips = {k: v for k, v in annotations.items() if k.startswith("checkov.io/skip")}
    assert {v.split("=", 1)[0] for v in skips.values()} == {"CKV_K8S_11", "CKV_K8S_43"}
    for value in skips.values():
        check, reason = value.split("=")  # checkov splits on "=": exactly one allowed
        assert len(reason) > 40, f"{check} skipped without a real reason"


def test_a_stack_without_a_service_renders_nothing() -> None:
    raw = raw_config("dev")
    del raw["service"]
    assert stack_manifests(parse_stack_config(raw), region=REGION) == []
    with pytest.raises(ValueError, match="no `service` section"):
        spec_from_stack(
            parse_stack_config(raw), region=REGION, image_repository="r", bucket="b", role_arn="a"
        )


# --------------------------------------------------------------------------- YAML files


def test_write_manifests_writes_one_file_per_object_in_apply_order(tmp_path: Path) -> None:
    objs = objects()
    (tmp_path / "99-stale-object.yaml").write_text("kind: Stale\n")
    paths = write_manifests(objs, tmp_path)
    assert sorted(tmp_path.glob("*.yaml")) == paths
    assert paths[0].name == "00-namespace-models.yaml"
    assert [yaml.safe_load(p.read_text()) for p in paths] == objs
    assert all("&id" not in p.read_text() for p in paths)  # no YAML anchors
    first = [p.read_bytes() for p in paths]
    write_manifests(objects(), tmp_path)
    assert [p.read_bytes() for p in paths] == first  # same input, same bytes


def test_render_is_a_pure_function_of_the_spec() -> None:
    cfg = config("prod")
    spec = spec_from_stack(cfg, region=REGION, image_repository="r", bucket="b", role_arn="a")
    assert render(spec) == render(spec)
    assert isinstance(cfg.service, ModelServiceConfig)
    assert manifests.to_yaml(render(spec)).count("\n---\n") == len(render(spec)) - 1


def test_an_alb_with_a_certificate_serves_https_and_redirects_http() -> None:
    arn = "arn:aws:acm:us-west-2:123456789012:certificate/0a1b2c3d-0000-1111-2222-333344445555"
    annotations = one(objects(tlsCertificateArn=arn), "Ingress")["metadata"]["annotations"]
    prefix = "alb.ingress.kubernetes.io/"
    assert annotations[prefix + "certificate-arn"] == arn
    assert annotations[prefix + "listen-ports"] == '[{"HTTP": 80}, {"HTTPS": 443}]'
    assert annotations[prefix + "ssl-redirect"] == "443"
    assert annotations[prefix + "ssl-policy"].startswith("ELBSecurityPolicy-TLS13")
    plain = one(objects(), "Ingress")["metadata"]["annotations"]
    assert "alb.ingress.kubernetes.io/certificate-arn" not in plain


def test_an_internet_facing_alb_admits_only_the_allowed_sources() -> None:
    annotations = one(objects(), "Ingress")["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/inbound-cidrs"] == "203.0.113.0/24"
    cert = "arn:aws:acm:us-west-2:123456789012:certificate/abc"
    anyone = one(objects(allowedSourceCidrs=[], tlsCertificateArn=cert), "Ingress")["metadata"][
        "annotations"
    ]
    assert "alb.ingress.kubernetes.io/inbound-cidrs" not in anyone


@pytest.mark.parametrize(
    ("service", "message"),
    [
        (
            {
                "exposure": "nlb-internal",
                "allowedSourceCidrs": [],
                "tlsCertificateArn": "arn:aws:acm:us-west-2:123456789012:certificate/abc",
            },
            "tlsCertificateArn is set but exposure is 'nlb-internal'",
        ),
        (
            {"exposure": "alb-internal", "allowedSourceCidrs": ["10.0.0.0/8"]},
            "allowedSourceCidrs is set but exposure is 'alb-internal'",
        ),
        ({"tlsCertificateArn": "arn:aws:iam::123456789012:role/x"}, "tlsCertificateArn"),
    ],
)
def test_exposure_settings_that_cannot_apply_are_refused(
    service: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        config("dev", **service)


@pytest.mark.parametrize("exposure", ["alb-internet-facing", "alb-internal", "nlb-internal"])
def test_load_balancers_drain_a_leaving_pod_no_longer_than_it_answers(exposure: str) -> None:
    cfg = config("dev", exposure=exposure)
    objs = stack_manifests(cfg, region=REGION)
    assert cfg.service is not None
    balancer = (
        one(objs, "Ingress") if exposure.startswith("alb") else one(objs, "Service", "iris-nlb")
    )
    attributes = next(
        v
        for k, v in balancer["metadata"]["annotations"].items()
        if k.endswith("target-group-attributes")
    )
    delay = int(attributes.split("=")[1])
    assert delay == cfg.service.pre_stop_seconds + cfg.service.server.drain_timeout_seconds
    assert delay < grace_period_seconds(cfg.service)
    # Readiness gates: a new pod is ready only once the load balancer calls it healthy.
    labels = one(objs, "Namespace")["metadata"]["labels"]
    assert labels["elbv2.k8s.aws/pod-readiness-gate-inject"] == "enabled"


def test_without_a_load_balancer_there_is_no_readiness_gate() -> None:
    labels = one(objects(exposure="cluster-ip", allowedSourceCidrs=[]), "Namespace")["metadata"]
    assert "elbv2.k8s.aws/pod-readiness-gate-inject" not in labels["labels"]


@st.composite
def service_variants(draw: st.DrawFn) -> dict[str, Any]:
    gpu = draw(st.booleans())
    low = draw(st.integers(1, 4 if gpu else 6))
    exposure = draw(
        st.sampled_from(["alb-internet-facing", "alb-internal", "nlb-internal", "cluster-ip"])
    )
    grpc: dict[str, Any] = {}
    if draw(st.booleans()):
        grpc["grpc"] = {"enabled": True, "port": draw(st.sampled_from([8001, 9000, 50051]))}
        if exposure.startswith("alb-"):
            grpc["tlsCertificateArn"] = GRPC_CERT  # an ALB forwards gRPC on HTTPS only
    image = draw(
        st.one_of(
            st.builds(
                lambda t: {"tag": t}, st.from_regex(r"[0-9]\.[0-9]{1,2}\.[0-9]", fullmatch=True)
            ),
            st.builds(
                lambda h: {"digest": "sha256:" + h}, st.from_regex(r"[0-9a-f]{64}", fullmatch=True)
            ),
        )
    )
    return {
        "exposure": exposure,
        # An internet-facing ALB needs TLS or an allow-list (plain HTTP to all is refused).
        "allowedSourceCidrs": ["198.51.100.0/24"] if exposure == "alb-internet-facing" else [],
        "minReplicas": low,
        # Prod's GPU pool holds four one-GPU pods at its maxSize; the CPU pool twelve.
        "maxReplicas": min(low + draw(st.integers(0, 10)), 4 if gpu else 12),
        "nodePool": "gpu" if gpu else "cpu",
        # Prod's GPU nodes (g6.xlarge, g5.xlarge) have one GPU; more is refused.
        "gpus": 1 if gpu else 0,
        "image": image,
        "preStopSeconds": draw(st.integers(0, 60)),
        "modelLoadSecondsMax": draw(st.integers(1, 900)),
        **grpc,
    }


@settings(max_examples=15, deadline=None)
@given(service_variants())
def test_any_valid_service_renders_schema_valid_consistent_objects(service: dict[str, Any]) -> None:
    objs = objects("prod", **service)
    for obj in objs:
        kubernetes_validate.validate(obj, "1.35", strict=True)
    deployment = one(objs, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for obj in objs:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "models"
    assert selects(deployment["spec"]["selector"]["matchLabels"], pod_labels)
    autoscaled = service["maxReplicas"] > service["minReplicas"]
    assert ("HorizontalPodAutoscaler" in kinds(objs)) is autoscaled
    assert ("replicas" in deployment["spec"]) is not autoscaled
    assert container(objs)["image"].endswith(
        service["image"].get("tag") or service["image"].get("digest", "")
    )


def test_load_balancer_sources_are_its_subnets() -> None:
    public, private = ["10.0.128.0/21"], ["10.0.0.0/19"]
    sources = {
        exposure: load_balancer_source_cidrs(
            exposure, public_subnets=public, private_subnets=private
        )
        for exposure in ("alb-internet-facing", "alb-internal", "nlb-internal", "cluster-ip")
    }
    assert sources == {
        "alb-internet-facing": ("10.0.128.0/21",),
        # Internal LBs share the private subnets with every pod: see the docstring.
        "alb-internal": ("10.0.0.0/19",),
        "nlb-internal": ("10.0.0.0/19",),
        "cluster-ip": (),
    }


def test_internal_exposure_admits_the_private_subnets() -> None:
    objs = objects("prod", exposure="nlb-internal")
    allow = one(objs, "NetworkPolicy", "iris-allow")["spec"]
    ip_blocks = [
        p["ipBlock"]["cidr"] for r in allow["ingress"] for p in r["from"] if "ipBlock" in p
    ]
    assert ip_blocks == ["10.30.0.0/19", "10.30.32.0/19", "10.30.64.0/19"]


# --------------------------------------------------------------------------- gRPC


def test_without_grpc_the_server_is_told_so_and_no_port_is_opened() -> None:
    objs = objects()
    env = {e["name"]: e["value"] for e in container(objs)["env"]}
    assert env["SERVING_GRPC_ENABLED"] == "false" and "SERVING_GRPC_PORT" not in env
    assert [p["name"] for p in container(objs)["ports"]] == ["http"]
    assert all(len(o["spec"]["ports"]) == 1 for o in objs if o["kind"] == "Service")
    assert "iris-grpc" not in [o["metadata"]["name"] for o in objs]


def test_grpc_behind_an_nlb_is_passed_through_and_admitted() -> None:
    objs = objects(exposure="nlb-internal", grpc={"enabled": True})
    server = container(objs)
    env = {e["name"]: e["value"] for e in server["env"]}
    assert (env["SERVING_GRPC_ENABLED"], env["SERVING_GRPC_PORT"]) == ("true", "8001")
    assert {"name": "grpc", "containerPort": 8001, "protocol": "TCP"} in server["ports"]
    cluster = one(objs, "Service", "iris")["spec"]["ports"]
    assert cluster[1] == {
        "name": "grpc",
        "port": 8001,
        "targetPort": "grpc",
        "protocol": "TCP",
        "appProtocol": "kubernetes.io/h2c",
    }
    nlb = one(objs, "Service", "iris-nlb")
    assert {"name": "grpc", "port": 8001, "targetPort": "grpc", "protocol": "TCP"} in nlb["spec"][
        "ports"
    ]
    # gRPC's target group is health-checked over HTTP on the server's port, not on 8001.
    annotations = nlb["metadata"]["annotations"]
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-healthcheck-port"] == "8080"
    allow = one(objs, "NetworkPolicy", "iris-allow")["spec"]["ingress"]
    clients, scrapers = allow
    assert {"protocol": "TCP", "port": 8001} in clients["ports"]
    assert scrapers["ports"] == [{"protocol": "TCP", "port": 8080}]  # metrics only


def test_grpc_behind_an_alb_gets_its_own_grpc_target_group_on_https() -> None:
    objs = objects(grpc={"enabled": True, "port": 9001}, tlsCertificateArn=GRPC_CERT)
    grpc = one(objs, "Service", "iris-grpc")
    prefix = "alb.ingress.kubernetes.io/"
    annotations = grpc["metadata"]["annotations"]
    assert annotations[prefix + "backend-protocol-version"] == "GRPC"
    assert annotations[prefix + "healthcheck-path"] == f"/{GRPC_HEALTH_SERVICE}/Check"
    assert annotations[prefix + "success-codes"] == "0"
    assert [p["port"] for p in grpc["spec"]["ports"]] == [9001]
    ingress = one(objs, "Ingress")
    assert ingress["metadata"]["annotations"][prefix + "listen-ports"] == (
        '[{"HTTP": 80}, {"HTTPS": 443}]'
    )
    paths = ingress["spec"]["rules"][0]["http"]["paths"]
    routes = [(p["path"], p["backend"]["service"]["name"]) for p in paths]
    # The gRPC prefixes first: "/" would take every call otherwise.
    assert routes == [
        (f"/{GRPC_SERVICE}", "iris-grpc"),
        (f"/{GRPC_HEALTH_SERVICE}", "iris-grpc"),
        ("/", "iris"),
    ]
    allow = one(objs, "NetworkPolicy", "iris-allow")["spec"]["ingress"]
    assert {"protocol": "TCP", "port": 9001} in allow[0]["ports"]


@pytest.mark.parametrize(
    ("service", "message"),
    [
        (
            {"grpc": {"enabled": True}},
            "grpc.enabled with exposure 'alb-internet-facing' needs tlsCertificateArn",
        ),
        (
            {"exposure": "alb-internal", "grpc": {"enabled": True}},
            "grpc.enabled with exposure 'alb-internal' needs tlsCertificateArn",
        ),
        ({"grpc": {"enabled": True, "port": 8080}}, "port 8080 is the server's HTTP port"),
        ({"grpc": {"enabled": True, "port": 80}}, "port"),
        ({"grpc": {"enable": True}}, "enable"),
    ],
)
def test_grpc_settings_that_cannot_work_are_refused(service: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config("dev", **service)
