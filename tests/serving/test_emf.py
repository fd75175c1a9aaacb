"""The server's metrics as CloudWatch EMF documents, over a real UDP socket.

The documents are checked against the EMF specification's rules
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/
CloudWatch_Embedded_Metric_Format_Specification.html): `_aws.Timestamp` in epoch
milliseconds, every dimension and metric a root member, a metric's value a number or an
array of at most 100 numbers, at most 30 dimensions in a set.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from serving.emf import DIMENSIONS, METRICS, EmfPublisher, parse_endpoint, run_publisher
from serving.metrics import Metrics
from serving.settings import Settings
from tests.serving.conftest import IRIS, ServerProcess, iris_request

DIMS = {"ClusterName": "mlops-prod", "Namespace": "ml", "Service": "model"}


def check_emf(document: dict[str, Any]) -> None:
    meta = document["_aws"]
    assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 1_600_000_000_000
    for directive in meta["CloudWatchMetrics"]:
        assert 1 <= len(directive["Namespace"]) <= 255
        for dimension_set in directive["Dimensions"]:
            assert len(dimension_set) <= 30
            for name in dimension_set:
                assert isinstance(document[name], str) and document[name]
        for metric in directive["Metrics"]:
            value = document[metric["Name"]]
            assert metric["Unit"] in {"Count", "Seconds"}
            if isinstance(value, list):
                assert 1 <= len(value) <= 100
                assert all(isinstance(v, int | float) for v in value)
            else:
                assert isinstance(value, int | float)


@pytest.fixture
def receiver() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


def _publisher(metrics: Metrics, sock: socket.socket) -> EmfPublisher:
    port = sock.getsockname()[1]
    return EmfPublisher(
        metrics, endpoint=f"udp://127.0.0.1:{port}", dimensions=DIMS, clock=lambda: 1.7e9
    )


def _received(sock: socket.socket, count: int) -> list[dict[str, Any]]:
    return [json.loads(sock.recv(65536)) for _ in range(count)]


def test_counts_by_status_errors_and_overload_reach_the_agent(receiver: socket.socket) -> None:
    metrics = Metrics("model")
    metrics.read_inflight(lambda: 3.0)
    for status in [200] * 90 + [503] * 7 + [500] * 2 + [400]:
        metrics.count(status)
    metrics.count_grpc("OK", "model")
    metrics.count_grpc("RESOURCE_EXHAUSTED", "model")
    publisher = _publisher(metrics, receiver)
    sent = publisher.publish()
    documents = _received(receiver, sent)
    for document in documents:
        check_emf(document)
    totals = documents[0]
    assert totals["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [list(DIMENSIONS)]
    assert totals["_aws"]["Timestamp"] == 1_700_000_000_000
    assert {key: totals[key] for key in DIMENSIONS} == DIMS
    assert totals["Requests"] == 102
    assert totals["ServerErrors"] == 7 + 2 + 1
    assert totals["Overloaded"] == 7 + 1
    assert totals["InFlightRequests"] == 3.0
    by_status = {(d["Protocol"], d["Status"]): d["Requests"] for d in documents[1:]}
    assert by_status == {
        ("rest", "200"): 90,
        ("rest", "503"): 7,
        ("rest", "500"): 2,
        ("rest", "400"): 1,
        ("grpc", "OK"): 1,
        ("grpc", "RESOURCE_EXHAUSTED"): 1,
    }
    # The next minute reports only what happened since: nothing, but still a zero (alarms
    # then read 0 requests rather than missing data).
    metrics.count(200)
    again = publisher.documents()
    assert again[0]["Requests"] == 1
    assert [(d["Status"], d["Requests"]) for d in again[1:]] == [("200", 1)]


def test_latency_and_queue_wait_keep_their_percentiles(receiver: socket.socket) -> None:
    metrics = Metrics("model")
    # 990 fast requests and 10 slow ones: p99 sits at the slow ones' bucket.
    for _ in range(990):
        metrics.latency.observe(0.004)
        metrics.queue_wait.observe(0.0003)
    for _ in range(10):
        metrics.latency.observe(0.8)
        metrics.queue_wait.observe(0.2)
    publisher = _publisher(metrics, receiver)
    document = publisher.documents()[0]
    check_emf(document)
    latency, wait = sorted(document["RequestLatency"]), sorted(document["QueueWait"])
    assert len(latency) == 100
    # Values are bucket upper bounds: 0.004 -> 0.005, 0.8 -> 1.0.
    assert latency[49] == 0.005 and latency[-1] == 1.0
    assert latency.count(1.0) == 1  # 10 in 1000 is 1 in 100
    assert wait[49] == 0.0005 and wait[-1] == 0.5
    # No new observations: the distributions are left out, not sent empty.
    quiet = publisher.documents()[0]
    assert "RequestLatency" not in quiet and "QueueWait" not in quiet
    names = {m["Name"] for m in quiet["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert names == {"Requests", "ServerErrors", "Overloaded", "InFlightRequests"}
    assert names <= set(METRICS)


def test_a_rare_slow_bucket_is_kept_when_values_are_scaled_down() -> None:
    metrics = Metrics("model")
    for _ in range(100_000):
        metrics.latency.observe(0.001)
    metrics.latency.observe(10.0)  # past the largest bucket: reported as at least 5 s
    publisher = EmfPublisher(metrics, endpoint="udp://127.0.0.1:9", dimensions=DIMS)
    values = publisher.documents()[0]["RequestLatency"]
    assert len(values) <= 100
    assert max(values) == 5.0


def test_the_publisher_sends_on_its_interval_and_once_more_on_cancel(
    receiver: socket.socket,
) -> None:
    metrics = Metrics("model")
    publisher = _publisher(metrics, receiver)

    async def scenario() -> None:
        task = asyncio.create_task(run_publisher(publisher, interval=0.05))
        await asyncio.sleep(0.12)
        metrics.count(200)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    receiver.settimeout(0.5)
    documents: list[dict[str, Any]] = []
    while True:
        try:
            documents.append(json.loads(receiver.recv(65536)))
        except TimeoutError:
            break
    totals = [d for d in documents if "Status" not in d]
    assert len(totals) >= 3  # two intervals, then the final one on cancel
    assert totals[-1]["Requests"] == 1


def test_the_log_group_rides_in_the_metadata_for_the_agent() -> None:
    """The agent's CloudWatch Logs exporter sends a document to `_aws.LogGroupName`
    (opentelemetry-collector-contrib awscloudwatchlogsexporter, `emfMetadata`); without it
    the agent's default group, `emf/logs/default`, never expires."""
    metrics = Metrics("model")
    group = "/aws/containerinsights/ml/server-metrics"
    publisher = EmfPublisher(
        metrics, endpoint="udp://127.0.0.1:9", dimensions=DIMS, log_group=group
    )
    for document in publisher.documents():
        check_emf(document)
        assert document["_aws"]["LogGroupName"] == group
    bare = EmfPublisher(metrics, endpoint="udp://127.0.0.1:9", dimensions=DIMS)
    assert "LogGroupName" not in bare.documents()[0]["_aws"]


def test_no_agent_listening_does_not_raise() -> None:
    metrics = Metrics("model")
    metrics.count(200)
    # Port 9 (discard) on localhost: nothing listens; UDP sends still succeed or log.
    publisher = EmfPublisher(metrics, endpoint="udp://127.0.0.1:9", dimensions=DIMS)
    assert publisher.publish() >= 0
    publisher.close()


@pytest.mark.parametrize(
    "endpoint", ["tcp://127.0.0.1:25888", "udp://127.0.0.1", "udp://:25888", "127.0.0.1:25888"]
)
def test_a_bad_endpoint_is_refused_with_its_value(endpoint: str) -> None:
    with pytest.raises(ValueError, match="udp://<host>:<port>"):
        parse_endpoint(endpoint)


def test_settings_need_the_dimensions_with_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVING_MODEL_REPOSITORY", "/models")
    monkeypatch.setenv("SERVING_EMF_ENDPOINT", "udp://10.0.1.7:25888")
    with pytest.raises(ValidationError, match="SERVING_EMF_DIMENSIONS lacks"):
        Settings()
    monkeypatch.setenv("SERVING_EMF_DIMENSIONS", json.dumps(DIMS))
    settings = Settings()
    assert settings.emf_dimensions == DIMS
    monkeypatch.setenv("SERVING_EMF_ENDPOINT", "http://10.0.1.7:25888")
    with pytest.raises(ValidationError, match="emf_endpoint"):
        Settings()


def test_the_running_server_sends_what_it_served_on_shutdown(
    server_process: Callable[[dict[str, str]], ServerProcess], receiver: socket.socket
) -> None:
    """`python -m serving` with the settings the Deployment gives it: the last minute's
    documents go out when the server drains (SIGTERM), under the configured dimensions and
    log group, counting what it answered."""
    port = receiver.getsockname()[1]
    group = "/aws/containerinsights/ml/server-metrics"
    server = server_process(
        {
            "SERVING_MODEL_REPOSITORY": str(IRIS),
            "SERVING_MODEL_NAME": "iris",
            "SERVING_EMF_ENDPOINT": f"udp://127.0.0.1:{port}",
            "SERVING_EMF_LOG_GROUP": group,
            "SERVING_EMF_DIMENSIONS": json.dumps(DIMS),
        }
    )
    server.wait_ready()
    url = server.url + "/v2/models/iris/infer"
    for _ in range(5):
        assert httpx.post(url, json=iris_request(), timeout=10).status_code == 200
    assert httpx.post(url, json={"inputs": []}, timeout=10).status_code == 400
    exposition = httpx.get(server.url + "/metrics", timeout=10).text
    timed = sum(
        float(line.rsplit(" ", 1)[1])
        for line in exposition.splitlines()
        if line.startswith("serving_request_duration_seconds_count")
    )
    server.terminate()
    assert server.process.wait(timeout=30) == 0
    documents = []
    receiver.settimeout(2)
    while True:
        try:
            documents.append(json.loads(receiver.recv(65536)))
        except TimeoutError:
            break
    for document in documents:
        check_emf(document)
        assert document["_aws"]["LogGroupName"] == group
        assert {key: document[key] for key in DIMENSIONS} == DIMS
    totals = [d for d in documents if "Status" not in d]
    assert sum(d["Requests"] for d in totals) == 6
    # As many latency observations as `/metrics` counted (an answer refused before the
    # model runs is counted by status, not timed).
    assert timed >= 5
    assert sum(len(d.get("RequestLatency", [])) for d in totals) == timed
    by_status: dict[str, int] = {}
    for document in documents:
        if "Status" in document:
            by_status[document["Status"]] = (
                by_status.get(document["Status"], 0) + document["Requests"]
            )
    assert by_status == {"200": 5, "400": 1}
