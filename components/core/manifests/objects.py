"""The service's Kubernetes objects, each built from the spec, and `render`, which lists
them in apply order. They reference each other by name, label and port, so they stay
together in one module."""

from __future__ import annotations

import json
from typing import Any

from components.core.config import ModelServiceConfig
from components.core.manifests.spec import (
    ALB_SCHEME,
    CACHE_DIR,
    ENV_PREFIX,
    GRPC_HEALTH_SERVICE,
    GRPC_SERVICE,
    LIVE_PATH,
    METRICS_PATH,
    PORT,
    READY_PATH,
    RUN_AS_USER,
    Manifest,
    ServiceSpec,
    grace_period_seconds,
    is_autoscaled,
    model_version,
    object_labels,
    object_meta,
    selector_labels,
    startup_budget_seconds,
)
from components.core.release import MODEL_SHA256_ANNOTATION

__all__ = ["deregistration_delay_seconds", "render"]


def _namespace(spec: ServiceSpec) -> Manifest:
    version = "v" + ".".join(spec.kubernetes_version.split(".")[:2])
    psa = {}
    for mode in ("enforce", "audit", "warn"):
        psa[f"pod-security.kubernetes.io/{mode}"] = "restricted"
        # Pinned to the cluster's version: a control-plane upgrade never tightens the
        # policy under running pods without a reviewed change here.
        psa[f"pod-security.kubernetes.io/{mode}-version"] = version
    labels = {"app.kubernetes.io/part-of": spec.part_of, **psa}
    if spec.service.exposure != "cluster-ip":
        # The controller adds a readiness gate: a new pod counts as ready only once the
        # load balancer reports it healthy, so a rollout never outruns the targets.
        labels["elbv2.k8s.aws/pod-readiness-gate-inject"] = "enabled"
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": spec.service.namespace, "labels": labels},
    }


def _service_account(spec: ServiceSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": object_meta(
            spec, spec.service.name, annotations={"eks.amazonaws.com/role-arn": spec.role_arn}
        ),
        # The server never calls the Kubernetes API. IRSA does not need this token:
        # the EKS webhook projects its own, audience sts.amazonaws.com.
        "automountServiceAccountToken": False,
    }


def _env(spec: ServiceSpec) -> list[dict[str, Any]]:
    service, server = spec.service, spec.service.server
    values: dict[str, str] = {
        "MODEL_REPOSITORY": spec.model_uri,
        "MODEL_NAME": service.model_name,
    }
    version = model_version(service.model_prefix)
    if version is not None:
        values["MODEL_VERSION"] = version
    values.update(
        {
            "CACHE_DIR": CACHE_DIR,
            "WORKERS": str(server.workers),
            "INTRA_OP_THREADS": str(server.intra_op_threads),
            "BATCHING_ENABLED": "true" if server.max_batch_size > 1 else "false",
            "MAX_BATCH_SIZE": str(server.max_batch_size),
            "MAX_BATCH_DELAY_MS": f"{server.max_batch_delay_ms:g}",
            "MAX_INFLIGHT": str(server.max_inflight),
            "REQUEST_TIMEOUT_MS": str(server.request_timeout_ms),
            "DRAIN_TIMEOUT_SECONDS": str(server.drain_timeout_seconds),
            "LOG_LEVEL": server.log_level,
            # Explicit either way: the server's own default is on, and a port no Service or
            # NetworkPolicy admits would only be a listener nobody can reach.
            "GRPC_ENABLED": "true" if service.grpc.enabled else "false",
        }
    )
    if service.grpc.enabled:
        values["GRPC_PORT"] = str(service.grpc.port)
    env: list[dict[str, Any]] = [
        {"name": ENV_PREFIX + key, "value": value} for key, value in values.items()
    ]
    env.append({"name": "AWS_REGION", "value": spec.region})
    if spec.emf is not None:
        # The agent runs on the host network of every node: the pod's own node is where
        # its datagrams go, and `$(HOST_IP)` expands the variable defined just before.
        env.append({"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}})
        env += [
            {"name": ENV_PREFIX + "EMF_ENDPOINT", "value": f"udp://$(HOST_IP):{spec.emf.port}"},
            {"name": ENV_PREFIX + "EMF_NAMESPACE", "value": spec.emf.namespace},
            {"name": ENV_PREFIX + "EMF_LOG_GROUP", "value": spec.emf.log_group},
            {
                "name": ENV_PREFIX + "EMF_DIMENSIONS",
                "value": json.dumps(dict(spec.emf.dimensions), sort_keys=True),
            },
        ]
    return env


def _resources(service: ModelServiceConfig) -> dict[str, Any]:
    requests: dict[str, str] = {"cpu": service.cpu_request, "memory": service.memory_request}
    # Memory limit = request: the pod is never OOM-killed for memory it was promised,
    # and never overcommits a node. No CPU limit: CFS throttling adds tail latency
    # while idle cores sit unused (EKS best practices guide, "Reliability").
    limits: dict[str, str] = {"memory": service.memory_request}
    if service.gpus:
        requests["nvidia.com/gpu"] = str(service.gpus)
        limits["nvidia.com/gpu"] = str(service.gpus)
    return {"requests": requests, "limits": limits}


def _http_probe(path: str, *, period: int, failures: int, timeout: int = 2) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http", "scheme": "HTTP"},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": timeout,
    }


def _spread(service: ModelServiceConfig) -> list[dict[str, Any]]:
    selector = {"matchLabels": selector_labels(service)}
    common = {
        "maxSkew": 1,
        "labelSelector": selector,
        "matchLabelKeys": ["pod-template-hash"],
        # Nodes of a lost zone carry NoExecute/NoSchedule taints: ignoring them keeps
        # the skew computed over the zones that can take pods.
        "nodeTaintsPolicy": "Honor",
        "nodeAffinityPolicy": "Honor",
    }
    return [
        {
            **common,
            "topologyKey": "topology.kubernetes.io/zone",
            # Soft across zones: one managed node group spans the AZs, and
            # cluster-autoscaler cannot pick the zone of a new node, so a hard rule
            # could leave pods pending; the scheduler still spreads them when it can.
            "whenUnsatisfiable": "ScheduleAnyway",
        },
        {
            **common,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "DoNotSchedule",
        },
    ]


def _checkov_skips(spec: ServiceSpec) -> dict[str, str]:
    # checkov reads `checkov.io/skip<n>: <check id>=<reason>`; the reason must not
    # contain "=" (checkov splits on it).
    reasons = [
        "CKV_K8S_11=No CPU limit on purpose: CFS throttling adds latency while cores "
        "sit idle; the EKS best practices guide advises requests without CPU limits",
    ]
    if "@sha256:" not in spec.image:
        reasons.append(
            "CKV_K8S_43=Pinned by an immutable tag: the ECR repository refuses to "
            "overwrite a tag and the config refuses latest"
        )
    return {f"checkov.io/skip{i}": reason for i, reason in enumerate(reasons, start=1)}


def _deployment(spec: ServiceSpec) -> Manifest:
    service = spec.service
    period, failures = startup_budget_seconds(service)
    pod_annotations: dict[str, str] = {}
    if not service.service_monitor:
        pod_annotations = {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(PORT),
            "prometheus.io/path": METRICS_PATH,
        }
    if spec.model_sha256 is not None:
        pod_annotations[MODEL_SHA256_ANNOTATION] = spec.model_sha256
    container: dict[str, Any] = {
        "name": "server",
        "image": spec.image,
        # A digest cannot change; a tag is re-checked so a repository outside ECR's
        # immutable tags cannot serve a stale image from the node's cache.
        "imagePullPolicy": "IfNotPresent" if "@sha256:" in spec.image else "Always",
        "ports": _container_ports(service),
        "env": _env(spec),
        "resources": _resources(service),
        "startupProbe": _http_probe(READY_PATH, period=period, failures=failures),
        "readinessProbe": _http_probe(READY_PATH, period=5, failures=2),
        "livenessProbe": _http_probe(LIVE_PATH, period=10, failures=3),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "runAsGroup": RUN_AS_USER,
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 (an emptyDir, the pod's own)
            {"name": "model-cache", "mountPath": CACHE_DIR},
        ],
    }
    if service.pre_stop_seconds:
        # The endpoint controller and the load balancer need a moment to stop sending
        # traffic; the server keeps serving during this pause, then drains on SIGTERM.
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": service.pre_stop_seconds}}}
    pod_spec: dict[str, Any] = {
        "serviceAccountName": service.name,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": grace_period_seconds(service),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "runAsGroup": RUN_AS_USER,
            # Makes the IRSA token (projected 0600) readable by the non-root user.
            "fsGroup": RUN_AS_USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "nodeSelector": dict(spec.scheduling.node_selector),
        "topologySpreadConstraints": _spread(service),
        "containers": [container],
        "volumes": [
            {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
            {"name": "model-cache", "emptyDir": {}},
        ],
    }
    if spec.scheduling.tolerations:
        pod_spec["tolerations"] = [dict(t) for t in spec.scheduling.tolerations]
    deployment_spec: dict[str, Any] = {}
    if not is_autoscaled(service):
        # Only without an HPA: a `replicas` field would reset the HPA's count on every
        # `pulumi up`.
        deployment_spec["replicas"] = service.min_replicas
    deployment_spec.update(
        {
            "revisionHistoryLimit": 5,
            "progressDeadlineSeconds": max(600, period * failures + 120),
            "selector": {"matchLabels": selector_labels(service)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": object_labels(spec), "annotations": pod_annotations},
                "spec": pod_spec,
            },
        }
    )
    if not pod_annotations:
        del deployment_spec["template"]["metadata"]["annotations"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_meta(spec, service.name, annotations=_checkov_skips(spec)),
        "spec": deployment_spec,
    }


def _container_ports(service: ModelServiceConfig) -> list[dict[str, Any]]:
    ports: list[dict[str, Any]] = [{"name": "http", "containerPort": PORT, "protocol": "TCP"}]
    if service.grpc.enabled:
        ports.append({"name": "grpc", "containerPort": service.grpc.port, "protocol": "TCP"})
    return ports


def _grpc_port(service: ModelServiceConfig) -> dict[str, Any]:
    # appProtocol h2c: gRPC is HTTP/2 without TLS to the pod; service meshes and gateways read it.
    return {
        "name": "grpc",
        "port": service.grpc.port,
        "targetPort": "grpc",
        "protocol": "TCP",
        "appProtocol": "kubernetes.io/h2c",
    }


def _service(spec: ServiceSpec) -> Manifest:
    ports = [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    if spec.service.grpc.enabled:
        ports.append(_grpc_port(spec.service))
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(spec, spec.service.name),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(spec.service),
            "ports": ports,
        },
    }


def _alb_grpc_service(spec: ServiceSpec) -> Manifest:
    """The gRPC port alone, for the ALB: the controller takes a target group's protocol version
    and health check from its Service's annotations, which win over the Ingress's (AWS Load
    Balancer Controller docs, guide/ingress/annotations.md, "Location: Ingress,Service"). Its
    target group speaks gRPC to the pods and checks them with grpc.health.v1 (code 0: OK)."""
    prefix = "alb.ingress.kubernetes.io/"
    annotations = {
        prefix + "backend-protocol-version": "GRPC",
        prefix + "healthcheck-path": f"/{GRPC_HEALTH_SERVICE}/Check",
        prefix + "success-codes": "0",
        prefix + "target-group-attributes": _deregistration(spec.service),
    }
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(spec, f"{spec.service.name}-grpc", annotations=annotations),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(spec.service),
            "ports": [_grpc_port(spec.service)],
        },
    }


def deregistration_delay_seconds(service: ModelServiceConfig) -> int:
    """How long the load balancer lets in-flight requests finish on a leaving pod.

    New requests stop at once; the pod keeps answering through preStop and its drain,
    so in-flight ones may take that long, and no longer.
    """
    return service.pre_stop_seconds + service.server.drain_timeout_seconds


def _deregistration(service: ModelServiceConfig) -> str:
    return f"deregistration_delay.timeout_seconds={deregistration_delay_seconds(service)}"


def _ingress(spec: ServiceSpec) -> Manifest:
    service = spec.service
    prefix = "alb.ingress.kubernetes.io/"
    annotations = {
        prefix + "scheme": ALB_SCHEME[service.exposure],
        # Pods are targets (VPC CNI IPs): no NodePort hop, and readiness gates apply.
        prefix + "target-type": "ip",
        prefix + "listen-ports": '[{"HTTP": 80}]',
    }
    if service.tls_certificate_arn is not None:
        annotations.update(
            {
                prefix + "listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]',
                prefix + "certificate-arn": service.tls_certificate_arn,
                prefix + "ssl-policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
                prefix + "ssl-redirect": "443",
            }
        )
    if service.allowed_source_cidrs:
        annotations[prefix + "inbound-cidrs"] = ",".join(service.allowed_source_cidrs)
    annotations.update(
        {
            prefix + "healthcheck-path": READY_PATH,
            prefix + "healthcheck-port": "traffic-port",
            prefix + "success-codes": "200",
            prefix + "healthcheck-interval-seconds": "10",
            prefix + "healthy-threshold-count": "2",
            prefix + "unhealthy-threshold-count": "2",
            prefix + "target-group-attributes": _deregistration(service),
        }
    )
    paths: list[dict[str, Any]] = []
    if service.grpc.enabled:
        # gRPC calls are POSTs to /<package.Service>/<Method>: these prefixes go to the gRPC
        # target group, listed first so that "/" does not take them.
        paths += [
            {
                "path": f"/{name}",
                "pathType": "Prefix",
                "backend": {"service": {"name": f"{service.name}-grpc", "port": {"name": "grpc"}}},
            }
            for name in (GRPC_SERVICE, GRPC_HEALTH_SERVICE)
        ]
    paths.append(
        {
            "path": "/",
            "pathType": "Prefix",
            "backend": {"service": {"name": service.name, "port": {"name": "http"}}},
        }
    )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": object_meta(spec, spec.service.name, annotations=annotations),
        "spec": {"ingressClassName": "alb", "rules": [{"http": {"paths": paths}}]},
    }


def _nlb_service(spec: ServiceSpec) -> Manifest:
    prefix = "service.beta.kubernetes.io/aws-load-balancer-"
    annotations = {
        prefix + "type": "external",
        prefix + "nlb-target-type": "ip",
        prefix + "scheme": "internal",
        prefix + "healthcheck-protocol": "HTTP",
        prefix + "healthcheck-path": READY_PATH,
        prefix + "healthcheck-port": "traffic-port",
        prefix + "target-group-attributes": _deregistration(spec.service),
    }
    ports = [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    if spec.service.grpc.enabled:
        # Passed through as TCP (TLS, if any, is the client's and the server's business); its
        # target group is health-checked over HTTP on the server's port: one process, one state.
        annotations[prefix + "healthcheck-port"] = str(PORT)
        grpc = _grpc_port(spec.service)
        del grpc["appProtocol"]  # an NLB listener is TCP
        ports.append(grpc)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(spec, f"{spec.service.name}-nlb", annotations=annotations),
        "spec": {
            "type": "LoadBalancer",
            # The AWS Load Balancer Controller's class: the in-tree controller ignores it.
            "loadBalancerClass": "service.k8s.aws/nlb",
            "selector": selector_labels(spec.service),
            "ports": ports,
        },
    }


def _hpa(spec: ServiceSpec) -> Manifest:
    service = spec.service
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": object_meta(spec, service.name),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": service.name},
            "minReplicas": service.min_replicas,
            "maxReplicas": service.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": service.target_cpu_utilization,
                        },
                    },
                }
            ],
            "behavior": {
                # Up at once: a burst should not wait; the larger of doubling or +4 pods.
                "scaleUp": {
                    "stabilizationWindowSeconds": 0,
                    "selectPolicy": "Max",
                    "policies": [
                        {"type": "Percent", "value": 100, "periodSeconds": 15},
                        {"type": "Pods", "value": 4, "periodSeconds": 15},
                    ],
                },
                # Down slowly: five minutes of lower load, then one pod a minute, so a
                # dip between bursts does not throw away loaded models.
                "scaleDown": {
                    "stabilizationWindowSeconds": 300,
                    "selectPolicy": "Min",
                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
                },
            },
        },
    }


def _pdb(spec: ServiceSpec) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": object_meta(spec, spec.service.name),
        "spec": {
            # Never blocks a node drain (one pod at a time may go), and a crash-looping
            # pod can always be evicted rather than wedging the drain.
            "maxUnavailable": 1,
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
            "selector": {"matchLabels": selector_labels(spec.service)},
        },
    }


def _network_policies(spec: ServiceSpec) -> list[Manifest]:
    service = spec.service
    pods = {"matchLabels": selector_labels(service)}
    serving_port = [{"protocol": "TCP", "port": PORT}]
    client_ports = list(serving_port)
    if service.grpc.enabled:
        client_ports.append({"protocol": "TCP", "port": service.grpc.port})
    if service.exposure == "cluster-ip":
        # No load balancer: in-cluster clients in any namespace.
        sources: list[dict[str, Any]] = [{"namespaceSelector": {}}]
    else:
        sources = [{"ipBlock": {"cidr": cidr}} for cidr in spec.load_balancer_source_cidrs]
    scrapers = [
        {
            "namespaceSelector": {
                "matchLabels": {"kubernetes.io/metadata.name": spec.monitoring_namespace}
            }
        }
    ]
    deny = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": object_meta(spec, "default-deny"),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    allow: Manifest = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": object_meta(spec, f"{service.name}-allow"),
        "spec": {
            "podSelector": pods,
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {"from": sources, "ports": client_ports},
                {"from": scrapers, "ports": serving_port},
            ],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                            },
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                },
                # S3 (through the gateway endpoint, still public IPs) and STS for IRSA.
                {
                    "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                    "ports": [{"protocol": "TCP", "port": 443}],
                },
            ],
        },
    }
    if spec.emf is not None:
        allow["spec"]["egress"].append(
            {
                "to": [{"ipBlock": {"cidr": cidr}} for cidr in spec.emf.node_cidrs],
                "ports": [{"protocol": "UDP", "port": spec.emf.port}],
            }
        )
    return [deny, allow]


def _service_monitor(spec: ServiceSpec) -> Manifest:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": object_meta(spec, spec.service.name),
        "spec": {
            "selector": {"matchLabels": selector_labels(spec.service)},
            "endpoints": [{"port": "http", "path": METRICS_PATH, "interval": "30s"}],
        },
    }


def render(spec: ServiceSpec) -> list[Manifest]:
    """Every object of the service, in apply order (namespace first)."""
    service = spec.service
    objects = [_namespace(spec), _service_account(spec), *_network_policies(spec)]
    objects += [_deployment(spec), _service(spec)]
    if service.exposure in ALB_SCHEME:
        if service.grpc.enabled:
            objects.append(_alb_grpc_service(spec))
        objects.append(_ingress(spec))
    elif service.exposure == "nlb-internal":
        objects.append(_nlb_service(spec))
    if is_autoscaled(service):
        objects.append(_hpa(spec))
    objects.append(_pdb(spec))
    if service.service_monitor:
        objects.append(_service_monitor(spec))
    return objects
