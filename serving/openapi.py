"""The OpenAPI description of the server's V2 REST API, served at `/v2/openapi.json`."""

from __future__ import annotations

from typing import Any

from serving.protocol import DATATYPES

__all__ = ["openapi_document"]


def _json(schema: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, **_json("Error")}


_BINARY = {
    "application/octet-stream": {
        "schema": {"type": "string", "contentMediaType": "application/octet-stream"},
    }
}
"""The binary tensor extension's body: the JSON, then the raw tensor values."""

_HEADER_LENGTH = {
    "description": "Binary tensor extension: the length of the JSON at the start of the body; "
    "the raw values of the inputs (or outputs) with `binary_data_size` follow it.",
    "schema": {"type": "integer", "minimum": 0},
}

_UNAVAILABLE = {
    "description": "Not ready, draining or overloaded; retry after `Retry-After` seconds.",
    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    **_json("Error"),
}
_TENSOR_DATA: dict[str, Any] = {
    "description": "Row-major values, flat or nested.",
    "type": "array",
    "items": {},
}


def openapi_document(version: str) -> dict[str, Any]:
    """OpenAPI 3.1 for the Open Inference Protocol V2 REST endpoints this server answers."""
    name = {"name": "model_name", "in": "path", "required": True, "schema": {"type": "string"}}
    model_version = {
        "name": "model_version",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    binary = {"name": "Inference-Header-Content-Length", "in": "header", **_HEADER_LENGTH}
    health = {
        "200": {"description": "True."},
        "503": _UNAVAILABLE,
    }
    metadata = {
        "200": {"description": "Model metadata.", **_json("ModelMetadata")},
        "404": _error("Unknown model or version."),
        "503": _UNAVAILABLE,
    }
    ready = {
        "200": {"description": "Ready."},
        "404": _error("Unknown model or version."),
        "503": _UNAVAILABLE,
    }
    json_request, json_response = _json("InferenceRequest"), _json("InferenceResponse")
    infer = {
        "requestBody": {
            "required": True,
            "content": {**json_request["content"], **_BINARY},
        },
        "responses": {
            "200": {
                "description": "Inference result; with the binary tensor extension, the JSON "
                "then the raw values of the outputs asked for with `binary_data`.",
                "headers": {"Inference-Header-Content-Length": _HEADER_LENGTH},
                "content": {**json_response["content"], **_BINARY},
            },
            "400": _error("Malformed JSON, bad shape, datatype or data, missing input."),
            "404": _error("Unknown model or version."),
            "413": _error("Body over the limit."),
            "503": _UNAVAILABLE,
            "504": _error("Deadline exceeded."),
        },
    }
    paths: dict[str, Any] = {
        "/v2/health/live": {"get": {"operationId": "live", "responses": health}},
        "/v2/health/ready": {"get": {"operationId": "ready", "responses": health}},
        "/v2": {
            "get": {
                "operationId": "serverMetadata",
                "responses": {
                    "200": {"description": "Server metadata.", **_json("ServerMetadata")}
                },
            }
        },
        "/v2/models/{model_name}": {
            "get": {"operationId": "modelMetadata", "parameters": [name], "responses": metadata}
        },
        "/v2/models/{model_name}/versions/{model_version}": {
            "get": {
                "operationId": "modelVersionMetadata",
                "parameters": [name, model_version],
                "responses": metadata,
            }
        },
        "/v2/models/{model_name}/ready": {
            "get": {"operationId": "modelReady", "parameters": [name], "responses": ready}
        },
        "/v2/models/{model_name}/versions/{model_version}/ready": {
            "get": {
                "operationId": "modelVersionReady",
                "parameters": [name, model_version],
                "responses": ready,
            }
        },
        "/v2/models/{model_name}/infer": {
            "post": {"operationId": "infer", "parameters": [name, binary], **infer}
        },
        "/v2/models/{model_name}/versions/{model_version}/infer": {
            "post": {
                "operationId": "versionInfer",
                "parameters": [name, model_version, binary],
                **infer,
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "responses": {
                    "200": {
                        "description": "Prometheus text format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }
    metadata_tensor: dict[str, Any] = {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {
            "name": {"type": "string"},
            "datatype": {"type": "string", "enum": list(DATATYPES)},
            "shape": {"type": "array", "items": {"type": "integer"}},
        },
    }
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"type": "string"}},
        },
        "ServerMetadata": {
            "type": "object",
            "required": ["name", "version", "extensions"],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "extensions": {"type": "array", "items": {"type": "string"}},
            },
        },
        "MetadataTensor": metadata_tensor,
        "ModelMetadata": {
            "type": "object",
            "required": ["name", "platform", "inputs", "outputs"],
            "properties": {
                "name": {"type": "string"},
                "versions": {"type": "array", "items": {"type": "string"}},
                "platform": {"type": "string"},
                "inputs": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/MetadataTensor"},
                },
                "outputs": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/MetadataTensor"},
                },
            },
        },
        "RequestInput": {
            "type": "object",
            "required": ["name", "shape", "datatype", "data"],
            "properties": {
                **metadata_tensor["properties"],
                "parameters": {"type": "object"},
                "data": _TENSOR_DATA,
            },
        },
        "RequestOutput": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}, "parameters": {"type": "object"}},
        },
        "InferenceRequest": {
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "id": {"type": "string"},
                "parameters": {"type": "object"},
                "inputs": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"$ref": "#/components/schemas/RequestInput"},
                },
                "outputs": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/RequestOutput"},
                },
            },
        },
        "ResponseOutput": {
            "type": "object",
            "required": ["name", "shape", "datatype", "data"],
            "properties": {**metadata_tensor["properties"], "data": _TENSOR_DATA},
        },
        "InferenceResponse": {
            "type": "object",
            "required": ["model_name", "outputs"],
            "properties": {
                "model_name": {"type": "string"},
                "model_version": {"type": "string"},
                "id": {"type": "string"},
                "outputs": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/ResponseOutput"},
                },
            },
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mlops-serving: Open Inference Protocol V2 (REST)",
            "version": version,
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }
