"""Builders for the evaluation table: callers, statements and policy documents."""

from __future__ import annotations

from sandlot.iam.policy import Caller

A = "111111111111"  # the caller's account
B = "222222222222"  # another account

ALICE = Caller(
    "user",
    A,
    f"arn:aws:iam::{A}:user/alice",
    "AIDAALICEALICEALICE",
    user_name="alice",
    tags={"team": "red", "CostCenter": "42"},
)
BOB_B = Caller("user", B, f"arn:aws:iam::{B}:user/bob", "AIDABOBBOBBOBBOB", user_name="bob")
ROLE_ARN = f"arn:aws:iam::{A}:role/app"
SESSION_ARN = f"arn:aws:sts::{A}:assumed-role/app/s1"
SESSION = Caller(
    "assumed-role",
    A,
    SESSION_ARN,
    "AROAAPPAPPAPPAPP:s1",
    role_arn=ROLE_ARN,
    tags={"team": "blue"},
    source_identity="carol",
)
SESSION_B = Caller(
    "assumed-role",
    B,
    f"arn:aws:sts::{B}:assumed-role/ext/s2",
    "AROAEXTEXTEXTEXT:s2",
    role_arn=f"arn:aws:iam::{B}:role/ext",
)
ROOT_A = Caller("root", A, f"arn:aws:iam::{A}:root", A)
ROOT_B = Caller("root", B, f"arn:aws:iam::{B}:root", B)
S3 = Caller("service", arn="s3.amazonaws.com")
LAMBDA = Caller("service", arn="lambda.amazonaws.com")
ANONYMOUS = Caller("anonymous")

CALLERS = {
    "alice": ALICE,
    "bob_b": BOB_B,
    "session": SESSION,
    "session_b": SESSION_B,
    "root_a": ROOT_A,
    "root_b": ROOT_B,
    "s3": S3,
    "lambda": LAMBDA,
    "anonymous": ANONYMOUS,
}


def allow(action, resource="*", **extra) -> dict:
    """An Allow statement; extra keys (Sid, Condition, Principal…) are added as given."""
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def doc(*statements: dict, version: str = "2012-10-17") -> dict:
    return {"Version": version, "Statement": list(statements)}
