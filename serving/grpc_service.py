"""The Open Inference Protocol over gRPC: `inference.GRPCInferenceService` and `grpc.health.v1`.

A `grpc.aio` server on the REST server's event loop, serving the same loaded model through the
same batcher: one model copy, one in-flight count, one drain. Requests are checked by the same
decoder as REST (`serving.tensors.decode_tensor`) and fail with the same messages, as gRPC
status codes: INVALID_ARGUMENT for a client's mistake, NOT_FOUND for another model,
RESOURCE_EXHAUSTED (with `google.rpc.RetryInfo`) past the in-flight limit, UNAVAILABLE while
loading or draining, DEADLINE_EXCEEDED past the server's or the client's deadline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NoReturn

import grpc
import numpy as np
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from serving.errors import at_inflight_limit, inference_failure, no_such_model, unavailable
from serving.proto import grpc_predict_v2_pb2 as pb
from serving.proto import grpc_predict_v2_pb2_grpc as pb_grpc
from serving.protocol import (
    EXTENSIONS,
    InferenceRequest,
    assemble_request,
    decode_requested_outputs,
)
from serving.state import ServerState
from serving.tensors import (
    TYPED_CONTENTS,
    MissingData,
    ProtocolError,
    RawData,
    TensorData,
    TensorSpec,
    TypedData,
    decode_tensor,
    raw_bytes,
)

__all__ = [
    "SERVICE_NAME",
    "Backend",
    "GrpcServer",
    "decode_grpc_request",
    "encode_grpc_response",
    "start_grpc",
]

log = logging.getLogger("serving")

SERVICE_NAME: Final = "inference.GRPCInferenceService"
"""The V2 service's full name: what a Kubernetes gRPC probe names to ask for its health."""

_HEALTH_POLL_SECONDS = 0.2
Array = Any

_CODES: Final[Mapping[int, grpc.StatusCode]] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    500: grpc.StatusCode.INTERNAL,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}
"""The REST status of a ProtocolError → the gRPC code it becomes."""


class Backend:
    """What the gRPC service needs from the server: the model state and the REST path's rules.

    The server passes the live objects; nothing here copies the model or its settings.
    """

    def __init__(self, state: ServerState, server_version: str) -> None:
        self.state = state
        settings = state.settings
        self.name: str = settings.model_name
        self.version: str = settings.model_version
        self.timeout_ms: int = settings.request_timeout_ms
        self.max_inflight: int = settings.max_inflight
        self.server_version = server_version
        self.count = state.metrics.count_grpc
        """Counts one finished ModelInfer by its gRPC code name and model label."""
        self.observe = state.metrics.grpc_latency.observe
        """Observes the latency of one successful ModelInfer."""

    def find_model(self, model: str, version: str) -> None:
        if model != self.name or (version and version != self.version):
            raise no_such_model(self.name, self.version, model, version)

    def unavailable(self) -> ProtocolError:
        return unavailable(self.state)


def decode_grpc_request(
    request: pb.ModelInferRequest, inputs: Mapping[str, TensorSpec], outputs: Sequence[str]
) -> tuple[InferenceRequest, bool]:
    """Check a ModelInferRequest with the REST path's rules; returns it decoded, and whether
    the answer's values go in `raw_output_contents` (raw inputs, or a `binary_data` request)."""
    # Per request: every read of a protobuf field builds a Python object, so each is read once,
    # and the optional parts (contents, outputs, parameters) only when the request has them.
    tensors_in = request.inputs
    if not tensors_in:
        raise ProtocolError(400, "'inputs' must be a non-empty list of tensors")
    raw = request.raw_input_contents
    if raw and len(raw) != len(tensors_in):
        raise ProtocolError(
            400,
            f"'raw_input_contents' has {len(raw)} entries for {len(tensors_in)} inputs; "
            "send every input's values raw, or none",
        )
    tensors: list[tuple[str, Array]] = []
    for index, tensor in enumerate(tensors_in):
        name = tensor.name
        fields = (
            {field.name: values for field, values in tensor.contents.ListFields()}
            if tensor.HasField("contents")
            else None
        )
        data: TensorData
        if raw:
            data = (
                MissingData(f"input '{name}': values in both 'contents' and 'raw_input_contents'")
                if fields
                else RawData(raw[index])
            )
        elif fields:
            data = TypedData(fields)
        else:
            data = MissingData(
                f"input '{name}': no values; send them in 'contents' or 'raw_input_contents'"
            )
        # `shape[:]` is the repeated field as a list, as decode_tensor wants it.
        tensors.append(decode_tensor(index, name, tensor.shape[:], tensor.datatype, data, inputs))
    requested = request.outputs
    wanted = (
        [
            {"name": output.name, "parameters": _parameters(output.parameters)}
            for output in requested
        ]
        if requested
        else None
    )
    binary_output = (
        _parameters(request.parameters).get("binary_data_output") if request.parameters else None
    )
    if binary_output is not None and type(binary_output) is not bool:
        raise ProtocolError(400, "parameters.binary_data_output must be a boolean")
    names, raw_outputs = decode_requested_outputs(wanted, outputs, binary_output)
    decoded = assemble_request(request.id or None, tensors, inputs, names, raw_outputs)
    return decoded, bool(raw) or bool(raw_outputs)


def _parameters(parameters: Mapping[str, pb.InferParameter]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, parameter in parameters.items():
        choice = parameter.WhichOneof("parameter_choice")
        values[key] = None if choice is None else getattr(parameter, choice)
    return values


def encode_grpc_response(
    model_name: str,
    model_version: str,
    request_id: str,
    outputs: Mapping[str, Array],
    specs: Mapping[str, TensorSpec],
    raw: bool,
) -> pb.ModelInferResponse:
    """The outputs as typed `contents`, or all in `raw_output_contents` when `raw` (or when an
    output's datatype, FP16, has no typed field: the protocol allows raw for all or none)."""
    response = pb.ModelInferResponse(
        model_name=model_name, model_version=model_version, id=request_id
    )
    raw = raw or any(specs[name].datatype not in TYPED_CONTENTS for name in outputs)
    for name, array in outputs.items():
        datatype = specs[name].datatype
        tensor = response.outputs.add(name=name, datatype=datatype, shape=array.shape)
        if raw:
            response.raw_output_contents.append(raw_bytes(array, datatype))
        elif datatype == "BYTES":
            tensor.contents.bytes_contents.extend(
                value if isinstance(value, bytes) else str(value).encode()
                for value in array.ravel().tolist()
            )
        else:
            getattr(tensor.contents, TYPED_CONTENTS[datatype]).extend(
                np.ascontiguousarray(array).ravel().tolist()
            )
    return response


class _InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    async def ServerLive(  # noqa: N802 - the protocol's method names
        self, request: pb.ServerLiveRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(  # noqa: N802
        self, request: pb.ServerReadyRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=bool(self._backend.state.ready))

    async def ModelReady(  # noqa: N802
        self, request: pb.ModelReadyRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ModelReadyResponse:
        try:
            self._backend.find_model(request.name, request.version)
        except ProtocolError as error:
            await _fail(context, error)
        return pb.ModelReadyResponse(ready=bool(self._backend.state.ready))

    async def ServerMetadata(  # noqa: N802
        self, request: pb.ServerMetadataRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(
            name="mlops-serving", version=self._backend.server_version, extensions=EXTENSIONS
        )

    async def ModelMetadata(  # noqa: N802
        self, request: pb.ModelMetadataRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ModelMetadataResponse:
        backend = self._backend
        try:
            backend.find_model(request.name, request.version)
            served = backend.state.served
            if served is None:
                raise backend.unavailable()
        except ProtocolError as error:
            await _fail(context, error)
        model = served.model
        return pb.ModelMetadataResponse(
            name=backend.name,
            versions=[backend.version],
            platform="onnxruntime_onnx",
            inputs=[_metadata(spec) for spec in model.inputs.values()],
            outputs=[_metadata(spec) for spec in model.outputs.values()],
        )

    async def ModelInfer(  # noqa: N802
        self, request: pb.ModelInferRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ModelInferResponse:
        backend = self._backend
        state = backend.state
        metrics = state.metrics
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        timeout = backend.timeout_ms / 1000
        remaining = context.time_remaining()
        if remaining is not None and remaining < timeout:
            timeout = remaining
        deadline = loop.time() + timeout
        admitted = False
        response: pb.ModelInferResponse | None = None
        error: ProtocolError
        try:
            model_name, model_version = request.model_name, request.model_version
            if model_name != backend.name or (model_version and model_version != backend.version):
                raise no_such_model(backend.name, backend.version, model_name, model_version)
            served = state.served
            if served is None or state.draining:
                raise backend.unavailable()
            if state.inflight >= backend.max_inflight:
                # 429 only inside this module: REST answers 503, gRPC RESOURCE_EXHAUSTED.
                raise at_inflight_limit(backend.max_inflight, 429)
            state.inflight += 1
            if metrics.counts_inflight:
                metrics.inflight.inc()
            admitted = True
            model = served.model
            decoded, raw = decode_grpc_request(request, model.inputs, model.output_names)
            outputs = await served.batcher.infer(
                decoded.inputs, deadline, alone=state.inflight == 1
            )
            if decoded.outputs is not None:
                outputs = {output: outputs[output] for output in decoded.outputs}
            response = encode_grpc_response(
                backend.name, backend.version, request.id, outputs, model.outputs, raw
            )
        except ProtocolError as caught:
            error = caught
        except Exception as caught:  # noqa: BLE001 - a fault of this request only: answer it
            error = inference_failure(caught, round(timeout * 1000))
        finally:
            if admitted:
                state.inflight -= 1
                if metrics.counts_inflight:
                    metrics.inflight.dec()
        elapsed = time.perf_counter() - started
        if response is not None:
            backend.count("OK", backend.name)
            backend.observe(elapsed)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("infer", extra=_fields(grpc.StatusCode.OK, elapsed, request.id))
            return response
        code = _code(error)
        backend.count(code.name, backend.name if error.status != 404 else "_unknown")
        fields = _fields(code, elapsed, request.id)
        fields["error"] = error.message
        log.warning("infer failed", extra=fields)
        await _fail(context, error)


def _fields(code: grpc.StatusCode, elapsed: float, request_id: str) -> dict[str, Any]:
    return {
        "path": f"/{SERVICE_NAME}/ModelInfer",
        "status": code.name,
        "duration_ms": round(elapsed * 1000, 3),
        "request_id": request_id or None,
    }


def _code(error: ProtocolError) -> grpc.StatusCode:
    if error.status == 429:
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    return _CODES.get(error.status, grpc.StatusCode.INTERNAL)


async def _fail(context: grpc.aio.ServicerContext[Any, Any], error: ProtocolError) -> NoReturn:
    """Abort the call with the error's gRPC code and the REST path's message; a retryable error
    carries `google.rpc.RetryInfo` (1 s) in the rich status, as gRPC's error model defines."""
    code = _code(error)
    trailers: tuple[tuple[str, str | bytes], ...] = ()
    if error.retry_after is not None:
        detail = error_details_pb2.RetryInfo(
            retry_delay=duration_pb2.Duration(seconds=error.retry_after)
        )
        status = status_pb2.Status(code=code.value[0], message=error.message)
        status.details.add().Pack(detail)
        trailers = (
            ("grpc-status-details-bin", status.SerializeToString()),
            ("retry-after", str(error.retry_after)),
        )
    await context.abort(code, error.message, trailers)


def _metadata(spec: TensorSpec) -> pb.ModelMetadataResponse.TensorMetadata:
    return pb.ModelMetadataResponse.TensorMetadata(
        name=spec.name, datatype=spec.datatype, shape=list(spec.shape)
    )


class _GenericOnly:
    """The server as the generated `add_*_to_server` functions see it: their methods reach it as
    generic handlers only, not also as registered methods.

    grpc.aio's server keeps one pending request task per registered method and waits on all of
    them (`asyncio.wait`, FIRST_COMPLETED) for every call it accepts: with our eight methods
    (six V2, two health) each call paid for a wait over nine tasks. The generic handlers hold
    the same methods, found by name in a dict.
    """

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        """Ignored: the same handlers came as a generic handler just before."""


@dataclass
class GrpcServer:
    """The started gRPC listener and the task that keeps its health statuses current."""

    server: grpc.aio.Server
    health: health.aio.HealthServicer
    port: int
    _watch: asyncio.Task[None]

    @classmethod
    async def start(cls, backend: Backend, host: str, port: int, max_message: int) -> GrpcServer:
        """Listen on `host:port` (port 0: any free port) on the running event loop.

        Raises RuntimeError naming the address when it cannot be bound.
        """
        server = grpc.aio.server(
            options=[
                # The REST body limit, for the same reason: a client cannot make us buffer more.
                ("grpc.max_receive_message_length", max_message),
                ("grpc.max_send_message_length", -1),
                # Workers share the port; a lone server must fail on a port in use, not share it.
                ("grpc.so_reuseport", 1 if backend.state.settings.workers > 1 else 0),
            ]
        )
        servicer = _InferenceServicer(backend)
        generic = _GenericOnly(server)
        # ModelInfer first: each call looks for its method in the generic handlers in order.
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, generic)
        checker = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(checker, generic)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            bound = server.add_insecure_port(address)
        except RuntimeError as error:
            raise RuntimeError(f"cannot listen for gRPC on {address}: {error}") from None
        # grpc_health starts with "" SERVING: say the truth before the first call can ask.
        current = await _sync_health(checker, backend, None)
        await server.start()
        watch = asyncio.create_task(_keep_health(checker, backend, current))
        return cls(server=server, health=checker, port=bound, _watch=watch)

    async def stop(self, grace: float) -> None:
        """Stop listening; calls still running get `grace` seconds (drain already waited)."""
        self._watch.cancel()
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


async def _sync_health(
    checker: health.aio.HealthServicer, backend: Backend, current: int | None
) -> int:
    """Mirror readiness into grpc.health.v1, for the server ("") and the V2 service: SERVING
    once the model is warm (every worker's), NOT_SERVING while loading or draining."""
    status: int = (
        health_pb2.HealthCheckResponse.SERVING
        if backend.state.ready
        else health_pb2.HealthCheckResponse.NOT_SERVING
    )
    if status != current:
        for service in ("", SERVICE_NAME):
            await checker.set(service, status)
    return status


async def _keep_health(checker: health.aio.HealthServicer, backend: Backend, current: int) -> None:
    while True:
        await asyncio.sleep(_HEALTH_POLL_SECONDS)
        current = await _sync_health(checker, backend, current)


async def start_grpc(
    state: ServerState, server_version: str, on_fatal: Callable[[str], None] | None = None
) -> GrpcServer | None:
    """Start the gRPC listener for the app's state when the settings ask for it.

    A port that cannot be bound is fatal, as a model that cannot load: the reason goes to
    readiness and `on_fatal` (the process exits), never a server silently without gRPC.
    """
    settings = state.settings
    if not settings.grpc_enabled:
        return None
    backend = Backend(state, server_version)
    try:
        return await GrpcServer.start(
            backend, settings.host, settings.grpc_port, settings.max_body_bytes
        )
    except RuntimeError as error:
        state.load_error = str(error)
        log.error(str(error))
        if on_fatal is not None:
            on_fatal(str(error))
        return None
