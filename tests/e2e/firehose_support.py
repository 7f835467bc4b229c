"""Helpers for e2e tests that deliver through Firehose to S3: a delivery role, an S3
destination, waiting for objects."""

from __future__ import annotations

import json
import time

from tests.e2e.functions import unique
from tests.e2e.roles import ensure_role, trust_policy


def firehose_role(iam) -> str:
    name = unique("firehose-role")
    trust = trust_policy({"Service": "firehose.amazonaws.com"}, {"Service": "lambda.amazonaws.com"})
    arn = ensure_role(iam, name, trust=trust)
    policy = {"Effect": "Allow", "Action": ["s3:*", "kinesis:*", "lambda:*"], "Resource": "*"}
    iam.put_role_policy(
        RoleName=name,
        PolicyName="deliver",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [policy]}),
    )
    return arn


def objects(s3, bucket: str, count: int = 1, prefix: str = "", timeout: float = 20) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        keys = [
            o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        ]
        if len(keys) >= count:
            return sorted(keys)
        time.sleep(0.1)
    raise AssertionError(f"{count} objects never appeared under {prefix!r} in {bucket}")


def destination(bucket: str, role: str, **extra) -> dict:
    return {
        "RoleARN": role,
        "BucketARN": f"arn:aws:s3:::{bucket}",
        "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 1},
        **extra,
    }
