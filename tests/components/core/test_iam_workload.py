"""Workload documents of core/iam.py: IRSA trust pinned to one account, reads to one prefix."""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest

from components.core import iam

BUCKET = "arn:aws:s3:::models-bucket"
KEY = "arn:aws:kms:us-west-2:123456789012:key/1234"
ISSUER = "https://oidc.eks.us-west-2.amazonaws.com/id/ABCDEF"
PROVIDER = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABCDEF"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allowed(document: dict[str, Any], action: str, resource: str, **context: str) -> bool:
    """A small IAM evaluator for Allow statements: wildcards, StringLike/StringEquals."""
    for statement in document["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        if not any(fnmatch.fnmatchcase(action, a) for a in _list(statement["Action"])):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in _list(statement["Resource"])):
            continue
        conditions = statement.get("Condition", {})
        ok = True
        for operator, pairs in conditions.items():
            for key, values in pairs.items():
                actual = context.get(key)
                if actual is None:
                    ok = False
                elif operator == "StringLike":
                    ok &= any(fnmatch.fnmatchcase(actual, v) for v in _list(values))
                elif operator == "StringEquals":
                    ok &= actual in _list(values)
                else:
                    raise AssertionError(f"unexpected condition operator {operator}")
        if ok:
            return True
    return False


def test_the_evaluator_matches_like_iam() -> None:
    assert fnmatch.fnmatchcase(f"{BUCKET}/iris/1/model.onnx", f"{BUCKET}/iris/1/*")
    assert not fnmatch.fnmatchcase(f"{BUCKET}/iris/10/model.onnx", f"{BUCKET}/iris/1/*")


def test_model_reader_reads_only_the_model_prefix() -> None:
    policy = iam.model_reader(BUCKET, "iris/1/")
    assert allowed(policy, "s3:GetObject", f"{BUCKET}/iris/1/model.onnx")
    assert allowed(policy, "s3:GetObject", f"{BUCKET}/iris/1/sub/model.onnx.sha256")
    for key in ("iris/10/model.onnx", "iris/2/model.onnx", "other/model.onnx", "iris/1"):
        assert not allowed(policy, "s3:GetObject", f"{BUCKET}/{key}"), key
    for action in ("s3:PutObject", "s3:DeleteObject", "s3:GetObjectAcl", "s3:*", "kms:Decrypt"):
        assert not allowed(policy, action, f"{BUCKET}/iris/1/model.onnx"), action
    assert allowed(policy, "s3:ListBucket", BUCKET, **{"s3:prefix": "iris/1/"})
    assert not allowed(policy, "s3:ListBucket", BUCKET, **{"s3:prefix": "iris/"})
    assert not allowed(policy, "s3:ListBucket", BUCKET, **{"s3:prefix": "iris/10/"})
    assert not allowed(policy, "s3:ListBucket", BUCKET)  # no prefix: the whole bucket


def test_model_reader_decrypts_only_through_s3() -> None:
    policy = iam.model_reader(BUCKET, "iris/1", kms_key_arn=KEY, region="us-west-2")
    via_s3 = {"kms:ViaService": "s3.us-west-2.amazonaws.com"}
    assert allowed(policy, "kms:Decrypt", KEY, **via_s3)
    assert not allowed(policy, "kms:Decrypt", KEY)
    assert not allowed(policy, "kms:Encrypt", KEY, **via_s3)
    assert not allowed(policy, "kms:Decrypt", KEY + "-other", **via_s3)
    actions = {a for s in policy["Statement"] for a in _list(s["Action"])}
    assert actions == {"s3:GetObject", "s3:ListBucket", "kms:Decrypt"}


def test_irsa_trust_is_pinned_to_the_namespace_service_account_and_sts() -> None:
    trust = iam.irsa_trust(PROVIDER, ISSUER, namespace="models", service_account="iris")
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Federated": PROVIDER}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    host = "oidc.eks.us-west-2.amazonaws.com/id/ABCDEF"
    assert statement["Condition"] == {
        "StringEquals": {
            f"{host}:sub": "system:serviceaccount:models:iris",
            f"{host}:aud": "sts.amazonaws.com",
        }
    }
    # The issuer may come with or without its scheme: the condition keys are the same.
    assert iam.irsa_trust(PROVIDER, host, namespace="models", service_account="iris") == trust


def test_bucket_policy_denies_every_request_without_tls() -> None:
    (statement,) = iam.deny_insecure_transport(BUCKET)["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    assert statement["Action"] == "s3:*"
    assert statement["Resource"] == [BUCKET, f"{BUCKET}/*"]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_ecr_lifecycle_keeps_the_last_n_images() -> None:
    (rule,) = iam.ecr_keep_last(10)["rules"]
    assert rule["selection"] == {
        "tagStatus": "any",
        "countType": "imageCountMoreThan",
        "countNumber": 10,
    }
    assert rule["action"] == {"type": "expire"}
    with pytest.raises(ValueError, match="at least 1, got 0"):
        iam.ecr_keep_last(0)


def test_documents_serialise_stably() -> None:
    a = iam.to_json(iam.model_reader(BUCKET, "iris/1"))
    assert a == iam.to_json(iam.model_reader(BUCKET, "/iris/1/"))
