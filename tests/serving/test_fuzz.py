"""Fuzzing the inference endpoint: no request body, however odd, gets a 5xx or a non-JSON error."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from serving.protocol import DATATYPES

INFER = "/v2/models/iris/infer"

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
dims = st.lists(st.integers(-1, 6) | st.just("4") | st.floats(0, 4), max_size=4)
numbers = st.integers(-(2**70), 2**70) | st.floats() | st.booleans() | st.text(max_size=3)
tensors = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["input", "other", ""]) | json_scalars,
        "shape": dims | json_values,
        "datatype": st.sampled_from([*DATATYPES, "FLOAT", ""]) | json_scalars,
        "data": st.lists(numbers, max_size=12)
        | st.lists(st.lists(numbers, max_size=5), max_size=4)
        | json_values,
    },
    optional={
        "parameters": st.dictionaries(st.text(max_size=20), json_scalars, max_size=2),
    },
)
requests = st.fixed_dictionaries(
    {"inputs": st.lists(tensors, max_size=3) | json_values},
    optional={
        "id": json_scalars,
        "outputs": st.lists(
            st.fixed_dictionaries({"name": st.sampled_from(["label", "probabilities", "x"])}),
            max_size=3,
        )
        | json_values,
        "parameters": json_values,
    },
)


def encode(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):  # integers past 64 bits, NaN kept as text
        return repr(value).encode()


def check(client: TestClient, body: bytes) -> None:
    response = client.post(INFER, content=body)
    assert response.status_code < 500, (body, response.content)
    document = orjson.loads(response.content)
    if response.status_code == 200:
        assert {output["name"] for output in document["outputs"]} <= {"label", "probabilities"}
    else:
        assert response.status_code == 400
        assert list(document) == ["error"] and document["error"]


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=requests)
def test_structured_requests_never_get_a_5xx(iris_client: TestClient, request: Any) -> None:
    check(iris_client, encode(request))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.binary(max_size=64) | json_values.map(encode))
def test_arbitrary_bodies_never_get_a_5xx(iris_client: TestClient, body: bytes) -> None:
    check(iris_client, body)
