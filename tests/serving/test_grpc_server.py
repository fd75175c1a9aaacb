"""The real process with gRPC: SIGTERM drains gRPC calls and REST requests alike, losing none."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from serving.proto import grpc_predict_v2_pb2 as pb
from serving.proto import grpc_predict_v2_pb2_grpc as pb_grpc
from tests.serving.conftest import ServerProcess, start_slow_server
from tests.serving.test_server import REQUEST, inflight

pytestmark = pytest.mark.slow


def slow_request(row: float) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="slow", id=str(row))
    request.inputs.add(name="input", datatype="FP32", shape=[1, 4])
    request.raw_input_contents.append(np.full((1, 4), row, "<f4").tobytes())
    return request


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_drains_grpc_calls_under_load_and_loses_none(
    server_process: Callable[[dict[str, str]], ServerProcess], tmp_path: Path, workers: int
) -> None:
    # One call after another on the inference thread: the drain lasts seconds, long enough to
    # see it from outside however loaded the machine is.
    server = start_slow_server(server_process, tmp_path, workers, SERVING_BATCHING_ENABLED="false")
    url = server.url + "/v2/models/slow/infer"
    calls, posts = 6, 2
    with (
        grpc.insecure_channel(server.grpc_target) as channel,
        ThreadPoolExecutor(calls + posts) as pool,
    ):
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        check = health_pb2.HealthCheckRequest(service="inference.GRPCInferenceService")
        # gRPC health mirrors readiness on a 0.2 s poll: wait for it, never race it.
        deadline = time.monotonic() + 20
        while health.Check(check).status != health_pb2.HealthCheckResponse.SERVING:
            assert time.monotonic() < deadline, "gRPC health never turned SERVING"
            time.sleep(0.05)
        futures = [pool.submit(stub.ModelInfer, slow_request(i), timeout=60) for i in range(calls)]
        rest = [pool.submit(httpx.post, url, content=REQUEST, timeout=60) for _ in range(posts)]
        deadline = time.monotonic() + 20
        while inflight(server) < calls + posts:
            assert time.monotonic() < deadline, "requests never got in flight"
            time.sleep(0.01)

        server.terminate()
        # Draining: gRPC health turns NOT_SERVING and new calls are turned away as UNAVAILABLE.
        deadline = time.monotonic() + 5
        while health.Check(check).status != health_pb2.HealthCheckResponse.NOT_SERVING:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with pytest.raises(grpc.RpcError) as late:
            stub.ModelInfer(slow_request(99), timeout=5)
        assert late.value.code() == grpc.StatusCode.UNAVAILABLE
        assert late.value.details() == "server is shutting down"

        responses = [future.result() for future in futures]
        assert [response.status_code for response in (f.result() for f in rest)] == [200] * posts
    assert [response.id for response in responses] == [str(i) for i in range(calls)]
    for i, response in enumerate(responses):
        assert np.frombuffer(response.raw_output_contents[0], "<f4").tolist() == [float(i)] * 4
    assert server.process.wait(timeout=30) == 0
