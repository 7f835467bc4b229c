"""The mappings that matter most, with the exact actions, ARNs and context AWS uses."""

from __future__ import annotations

import json

import pytest

from sandlot import derived
from sandlot.iam.actions import Authorization, authorizations, index

A, R = "000000000000", "us-east-1"
FN = f"arn:aws:lambda:{R}:{A}:function"
LAYER = f"arn:aws:lambda:{R}:{A}:layer"
LOGS = f"arn:aws:logs:{R}:{A}:log-group"
ROLE = f"arn:aws:iam::{A}:role/service/fn-role"
OTHER = "111122223333"


def _auth(action, *resources, **context):
    return Authorization(
        action, tuple(resources), {k.replace("_", ":", 1): v for k, v in context.items()}
    )


PASS_TO_LAMBDA = "lambda.amazonaws.com"

CASES = [
    # Lambda: Invoke is authorized as InvokeFunction on the qualified ARN.
    ("lambda", "Invoke", {"FunctionName": "f"}, [_auth("lambda:InvokeFunction", f"{FN}:f")]),
    (
        "lambda",
        "Invoke",
        {"FunctionName": "f", "Qualifier": "prod"},
        [_auth("lambda:InvokeFunction", f"{FN}:f:prod")],
    ),
    ("lambda", "Invoke", {"FunctionName": "f:7"}, [_auth("lambda:InvokeFunction", f"{FN}:f:7")]),
    # Cross-account by ARN: the function's account and region, not the caller's.
    (
        "lambda",
        "Invoke",
        {"FunctionName": f"arn:aws:lambda:eu-west-1:{OTHER}:function:g"},
        [_auth("lambda:InvokeFunction", f"arn:aws:lambda:eu-west-1:{OTHER}:function:g")],
    ),
    (
        "lambda",
        "Invoke",
        {"FunctionName": f"{OTHER}:function:g:live"},
        [_auth("lambda:InvokeFunction", f"arn:aws:lambda:{R}:{OTHER}:function:g:live")],
    ),
    (
        "lambda",
        "InvokeWithResponseStream",
        {"FunctionName": "f"},
        [_auth("lambda:InvokeFunction", f"{FN}:f")],
    ),
    (
        "lambda",
        "GetFunctionConfiguration",
        {"FunctionName": "f"},
        [_auth("lambda:GetFunctionConfiguration", f"{FN}:f")],
    ),
    (
        "lambda",
        "ListVersionsByFunction",
        {"FunctionName": "f"},
        [_auth("lambda:ListVersionsByFunction", f"{FN}:f")],
    ),
    ("lambda", "ListFunctions", {}, [_auth("lambda:ListFunctions", "*")]),
    (
        "lambda",
        "PublishLayerVersion",
        {"LayerName": "deps", "Content": {"ZipFile": b""}},
        [_auth("lambda:PublishLayerVersion", f"{LAYER}:deps")],
    ),
    (
        "lambda",
        "GetLayerVersionByArn",
        {"Arn": f"{LAYER}:deps:2"},
        [_auth("lambda:GetLayerVersion", f"{LAYER}:deps:2")],
    ),
    (
        "lambda",
        "CreateFunction",
        {"FunctionName": "f", "Role": ROLE, "Layers": [f"{LAYER}:deps:2"], "Tags": {"team": "a"}},
        [
            _auth(
                "lambda:CreateFunction",
                f"{FN}:f",
                lambda_Layer=[f"{LAYER}:deps:2"],
                **{"aws:RequestTag/team": "a", "aws:TagKeys": ["team"]},
            ),
            _auth(
                "iam:PassRole",
                ROLE,
                iam_PassedToService=PASS_TO_LAMBDA,
                iam_AssociatedResourceArn=f"{FN}:f",
            ),
            _auth("lambda:GetLayerVersion", f"{LAYER}:deps:2"),
        ],
    ),
    (
        "lambda",
        "UpdateFunctionConfiguration",
        {"FunctionName": "f", "Layers": [f"{LAYER}:a:1", f"{LAYER}:b:4"]},
        [
            _auth(
                "lambda:UpdateFunctionConfiguration",
                f"{FN}:f",
                lambda_Layer=[f"{LAYER}:a:1", f"{LAYER}:b:4"],
            ),
            _auth("lambda:GetLayerVersion", f"{LAYER}:a:1"),
            _auth("lambda:GetLayerVersion", f"{LAYER}:b:4"),
        ],
    ),
    (
        "lambda",
        "UpdateFunctionConfiguration",
        {"FunctionName": "f", "Role": ROLE},
        [
            _auth("lambda:UpdateFunctionConfiguration", f"{FN}:f"),
            _auth(
                "iam:PassRole",
                ROLE,
                iam_PassedToService=PASS_TO_LAMBDA,
                iam_AssociatedResourceArn=f"{FN}:f",
            ),
        ],
    ),
    # A role ARN in user data (environment variables) is not a role being passed.
    (
        "lambda",
        "CreateFunction",
        {"FunctionName": "f", "Environment": {"Variables": {"R": ROLE}}},
        [_auth("lambda:CreateFunction", f"{FN}:f")],
    ),
    (
        "lambda",
        "AddPermission",
        {"FunctionName": "f", "Principal": "s3.amazonaws.com", "SourceArn": f"{FN}:x"},
        [_auth("lambda:AddPermission", f"{FN}:f", lambda_Principal="s3.amazonaws.com")],
    ),
    (
        "lambda",
        "CreateEventSourceMapping",
        {"FunctionName": "f", "EventSourceArn": f"arn:aws:sqs:{R}:{A}:q"},
        [_auth("lambda:CreateEventSourceMapping", "*", lambda_FunctionArn=f"{FN}:f")],
    ),
    (
        "lambda",
        "TagResource",
        {"Resource": f"{FN}:f", "Tags": {"k": "v"}},
        [_auth("lambda:TagResource", f"{FN}:f", **{"aws:RequestTag/k": "v", "aws:TagKeys": ["k"]})],
    ),
    # Logs: log-group ARNs, and log-stream ARNs for stream-level actions.
    (
        "logs",
        "CreateLogGroup",
        {"logGroupName": "/aws/lambda/f"},
        [_auth("logs:CreateLogGroup", f"{LOGS}:/aws/lambda/f")],
    ),
    (
        "logs",
        "CreateLogStream",
        {"logGroupName": "/aws/lambda/f", "logStreamName": "2024/01/01/[$LATEST]abc"},
        [_auth("logs:CreateLogStream", f"{LOGS}:/aws/lambda/f:log-stream:2024/01/01/[$LATEST]abc")],
    ),
    (
        "logs",
        "PutLogEvents",
        {"logGroupName": "g", "logStreamName": "s", "logEvents": []},
        [_auth("logs:PutLogEvents", f"{LOGS}:g:log-stream:s")],
    ),
    (
        "logs",
        "GetLogEvents",
        {"logGroupIdentifier": f"arn:aws:logs:{R}:{OTHER}:log-group:g:*", "logStreamName": "s"},
        [_auth("logs:GetLogEvents", f"arn:aws:logs:{R}:{OTHER}:log-group:g:log-stream:s")],
    ),
    (
        "logs",
        "FilterLogEvents",
        {"logGroupName": "g"},
        [_auth("logs:FilterLogEvents", f"{LOGS}:g")],
    ),
    ("logs", "DescribeLogGroups", {}, [_auth("logs:DescribeLogGroups", "*")]),
    (
        "logs",
        "DescribeLogStreams",
        {"logGroupName": "g"},
        [_auth("logs:DescribeLogStreams", f"{LOGS}:g")],
    ),
    (
        "logs",
        "StartQuery",
        {"logGroupNames": ["a", "b"], "queryString": "x", "startTime": 0, "endTime": 1},
        [_auth("logs:StartQuery", f"{LOGS}:a", f"{LOGS}:b")],
    ),
    # IAM is global; paths are part of the ARN.
    (
        "iam",
        "CreateUser",
        {"UserName": "bob", "Path": "/eng/"},
        [_auth("iam:CreateUser", f"arn:aws:iam::{A}:user/eng/bob")],
    ),
    ("iam", "GetRole", {"RoleName": "r"}, [_auth("iam:GetRole", f"arn:aws:iam::{A}:role/r")]),
    (
        "iam",
        "AttachRolePolicy",
        {"RoleName": "r", "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        [
            _auth(
                "iam:AttachRolePolicy",
                f"arn:aws:iam::{A}:role/r",
                iam_PolicyARN="arn:aws:iam::aws:policy/AdministratorAccess",
            )
        ],
    ),
    (
        "iam",
        "GetPolicyVersion",
        {"PolicyArn": f"arn:aws:iam::{A}:policy/p", "VersionId": "v1"},
        [_auth("iam:GetPolicyVersion", f"arn:aws:iam::{A}:policy/p")],
    ),
    ("iam", "ListRoles", {}, [_auth("iam:ListRoles", "*")]),
    # STS
    (
        "sts",
        "AssumeRole",
        {"RoleArn": ROLE, "RoleSessionName": "s"},
        [_auth("sts:AssumeRole", ROLE, sts_RoleSessionName="s")],
    ),
    (
        "sts",
        "AssumeRole",
        {
            "RoleArn": ROLE,
            "RoleSessionName": "s",
            "Tags": [{"Key": "p", "Value": "x"}],
            "SourceIdentity": "me",
        },
        [
            _auth(
                "sts:AssumeRole",
                ROLE,
                sts_RoleSessionName="s",
                sts_SourceIdentity="me",
                **{"aws:RequestTag/p": "x", "aws:TagKeys": ["p"]},
            ),
            _auth("sts:TagSession", ROLE, **{"aws:RequestTag/p": "x", "aws:TagKeys": ["p"]}),
            _auth("sts:SetSourceIdentity", ROLE, sts_SourceIdentity="me"),
        ],
    ),
    ("sts", "GetCallerIdentity", {}, []),
    ("sts", "GetSessionToken", {}, []),
    # S3: objects by bucket/key, listings on the bucket with their condition keys.
    (
        "s3",
        "GetObject",
        {"Bucket": "b", "Key": "dir/k.txt"},
        [_auth("s3:GetObject", "arn:aws:s3:::b/dir/k.txt")],
    ),
    (
        "s3",
        "HeadObject",
        {"Bucket": "b", "Key": "k", "VersionId": "v1"},
        [_auth("s3:GetObjectVersion", "arn:aws:s3:::b/k", s3_versionid="v1")],
    ),
    (
        "s3",
        "ListObjectsV2",
        {"Bucket": "b", "Prefix": "logs/", "Delimiter": "/", "MaxKeys": 10},
        [
            _auth(
                "s3:ListBucket",
                "arn:aws:s3:::b",
                **{"s3:prefix": "logs/", "s3:delimiter": "/", "s3:max-keys": "10"},
            )
        ],
    ),
    ("s3", "ListBuckets", {}, [_auth("s3:ListAllMyBuckets", "*")]),
    ("s3", "UploadPart", {"Bucket": "b", "Key": "k"}, [_auth("s3:PutObject", "arn:aws:s3:::b/k")]),
    (
        "s3",
        "CopyObject",
        {"Bucket": "b", "Key": "k", "CopySource": "/src/a%20b?versionId=v9"},
        [
            _auth(
                "s3:PutObject",
                "arn:aws:s3:::b/k",
                **{"s3:x-amz-copy-source": "/src/a%20b?versionId=v9"},
            ),
            _auth("s3:GetObjectVersion", "arn:aws:s3:::src/a b"),
        ],
    ),
    (
        "s3",
        "DeleteObjects",
        {"Bucket": "b", "Delete": {"Objects": [{"Key": "x"}, {"Key": "y"}]}},
        [_auth("s3:DeleteObject", "arn:aws:s3:::b/x", "arn:aws:s3:::b/y")],
    ),
    (
        "s3",
        "DeleteObject",
        {"Bucket": "b", "Key": "k", "IfMatch": '"e"'},
        [_auth("s3:DeleteObject", "arn:aws:s3:::b/k"), _auth("s3:GetObject", "arn:aws:s3:::b/k")],
    ),
    (
        "s3",
        "PutBucketNotificationConfiguration",
        {"Bucket": "b"},
        [_auth("s3:PutBucketNotification", "arn:aws:s3:::b")],
    ),
]


@pytest.mark.parametrize(
    ("service", "operation", "params", "expected"),
    CASES,
    ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(CASES)],
)
def test_mapping(service, operation, params, expected) -> None:
    assert authorizations(service, operation, params, A, R) == expected


def test_iam_user_defaults_to_the_caller() -> None:
    caller = f"arn:aws:iam::{A}:user/eng/alice"
    assert authorizations("iam", "GetUser", {}, A, R, caller_arn=caller) == [
        _auth("iam:GetUser", caller)
    ]
    assert authorizations("iam", "ListAccessKeys", {}, A, R, caller_arn=caller) == [
        _auth("iam:ListAccessKeys", caller)
    ]


def test_iam_path_lookup() -> None:
    paths = {("role", "r"): "/service/"}
    auths = authorizations(
        "iam", "GetRole", {"RoleName": "r"}, A, R, iam_path=lambda k, n: paths.get((k, n))
    )
    assert auths == [_auth("iam:GetRole", f"arn:aws:iam::{A}:role/service/r")]


def test_index_is_cached_small_and_not_rebuilt(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(derived.platformdirs, "user_cache_dir", lambda *a, **k: str(tmp_path))
    index.load_index.cache_clear()
    try:
        first = index.load_index()
        (cached,) = tmp_path.glob("iam-actions-*.json")
        assert cached.stat().st_size < 1_000_000
        assert json.loads(cached.read_text()) == first
        index.load_index.cache_clear()
        monkeypatch.setattr(index, "build_index", lambda *a: pytest.fail("rebuilt"))
        assert index.load_index() == first
    finally:
        index.load_index.cache_clear()
