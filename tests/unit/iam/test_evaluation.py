"""The evaluation table (cases.py) run through the engine, plus the engine's own contracts."""

from __future__ import annotations

import json

import pytest

from sandlot.iam.policy import (
    MalformedPolicyError,
    Outcome,
    Request,
    compile_policy,
    evaluate,
    parse_policy,
)
from tests.unit.iam.cases import CASES, MALFORMED
from tests.unit.iam.support import ALICE, CALLERS, doc


def _request(case: dict) -> Request:
    def compiled(documents, kind, name):
        return [compile_policy(d, kind, f"{name}{i}") for i, d in enumerate(documents)]

    session = case.get("session")
    boundary = case.get("boundary")
    resource_policy = case.get("resource_policy")
    if "trust" in case:
        resource_policy = compile_policy(case["trust"], "trust", "trust")
    elif resource_policy is not None:
        resource_policy = compile_policy(resource_policy, "resource", "resource")
    return Request(
        CALLERS[case["caller"]],
        case["action"],
        case["resource"],
        case.get("context", {}),
        identity_policies=compiled(case.get("identity", ()), "identity", "identity"),
        resource_policy=resource_policy,
        session_policies=None if session is None else compiled(session, "identity", "session"),
        permissions_boundary=compile_policy(boundary, "identity", "boundary") if boundary else None,
        resource_account=case.get("owner"),
    )


def test_table_is_large_and_unique():
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 100


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_evaluation_case(case):
    request = _request(case)
    decision = evaluate(request)
    assert decision.outcome == Outcome(case["expect"]), (case["rule"], decision)
    if "sid" in case:
        assert case["sid"] in [ref.sid for ref in decision.deciding], decision
    if "reason" in case:
        assert decision.reason == case["reason"]
    # The traced evaluation must reach the same decision.
    assert evaluate(request, trace=True).outcome == decision.outcome


@pytest.mark.parametrize(
    ("kind", "document", "message"),
    [(kind, document, message) for _, kind, document, message in MALFORMED],
    ids=[m[0] for m in MALFORMED],
)
def test_malformed(kind, document, message):
    with pytest.raises(MalformedPolicyError) as raised:
        parse_policy(document if isinstance(document, str) else json.dumps(document), kind)
    assert str(raised.value) == message


def test_valid_shapes():
    # Statement may be one object; Version defaults to 2008-10-17; trust policies need no
    # Resource; resource-policy Sids may hold spaces (only IAM restricts them).
    single = parse_policy({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}},
                          "identity")  # fmt: skip
    assert single.version == "2008-10-17" and len(single.statements) == 1
    trust = parse_policy(
        doc({"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"Service": "lambda.amazonaws.com"}}),
        "trust",
    )  # fmt: skip
    assert trust.statements[0].resources is None
    bucket = parse_policy(
        doc({"Sid": "Public read", "Effect": "Allow", "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::b/*", "Principal": "*"}),
        "resource",
    )  # fmt: skip
    assert bucket.statements[0].sid == "Public read"


def test_compiled_once_per_text():
    text = json.dumps(doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}))
    assert compile_policy(text, "identity", "p") is compile_policy(text, "identity", "p")
    changed = text.replace("s3:*", "sqs:*")
    assert compile_policy(changed, "identity", "p") is not compile_policy(text, "identity", "p")


def test_policies_are_immutable():
    policy = compile_policy(doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}), "identity")
    with pytest.raises(AttributeError):
        policy.statements = ()  # type: ignore[misc]


def test_trace_names_every_statement_looked_at():
    policy = compile_policy(
        doc(
            {"Sid": "Other", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"},
            {"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
            {"Sid": "Queues", "Effect": "Allow", "Action": "sqs:*", "Resource": "*"},
        ),
        "identity",
        "arn:aws:iam::111111111111:policy/P",
    )
    decision = evaluate(
        Request(ALICE, "s3:GetObject", "arn:aws:s3:::b/k", identity_policies=[policy]),
        trace=True,
    )
    assert decision.allowed
    assert [(t.statement.sid, t.applied, t.ruled_out_by) for t in decision.trace] == [
        ("Other", False, "Action"),
        ("Read", True, ""),
    ]  # the sqs statement is skipped by the service index
    assert str(decision.deciding[0]) == (
        "identity-based policy arn:aws:iam::111111111111:policy/P: Read (Allow)"
    )
    assert evaluate(Request(ALICE, "s3:GetObject", identity_policies=[policy])).trace == ()


def test_trace_reports_failed_condition():
    policy = compile_policy(
        doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*",
             "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}),
        "identity",
    )  # fmt: skip
    decision = evaluate(
        Request(ALICE, "s3:GetObject", context={"aws:SourceIp": "192.0.2.1"},
                identity_policies=[policy]),
        trace=True,
    )  # fmt: skip
    assert decision.outcome is Outcome.IMPLICIT_DENY
    assert decision.trace[0].ruled_out_by == "Condition IpAddress aws:sourceip"
    assert (
        str(decision.trace[0].statement) == "identity-based policy (unnamed): statement #0 (Allow)"
    )
