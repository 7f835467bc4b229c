"""Lambda function code deployed from S3: CreateFunction and UpdateFunctionCode with
S3Bucket/S3Key/S3ObjectVersion, and Lambda's documented error for a missing object."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.e2e.functions import unique, wait_active, zip_of
from tests.e2e.roles import ensure_role


def _app(answer: str) -> bytes:
    return zip_of({"app.py": f"def handler(event, context):\n    return {answer!r}\n"})


def test_create_and_update_function_code_from_s3(client):
    s3, lam = client("s3"), client("lambda")
    role = ensure_role(client("iam"), "lambda-role")
    bucket = f"code-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="pkg/app.zip", Body=_app("one"))["VersionId"]
    s3.put_object(Bucket=bucket, Key="pkg/app.zip", Body=_app("two"))
    name = unique("from-s3")
    lam.create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
        Code={"S3Bucket": bucket, "S3Key": "pkg/app.zip", "S3ObjectVersion": v1},
    )  # fmt: skip
    wait_active(lam, name)
    assert json.loads(lam.invoke(FunctionName=name)["Payload"].read()) == "one"
    lam.update_function_code(FunctionName=name, S3Bucket=bucket, S3Key="pkg/app.zip")
    wait_active(lam, name)
    assert json.loads(lam.invoke(FunctionName=name)["Payload"].read()) == "two"


def test_missing_object_answers_lambdas_error(client):
    s3, lam = client("s3"), client("lambda")
    role = ensure_role(client("iam"), "lambda-role")
    bucket = f"code-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as excinfo:
        lam.create_function(
            FunctionName=unique("missing"), Runtime="python3.12", Role=role,
            Handler="app.handler", Code={"S3Bucket": bucket, "S3Key": "nope.zip"},
        )  # fmt: skip
    error = excinfo.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert error["Message"] == (
        "Error occurred while GetObject. S3 Error Code: NoSuchKey. "
        "S3 Error Message: The specified key does not exist."
    )
    with pytest.raises(ClientError) as excinfo:
        lam.create_function(
            FunctionName=unique("missing"), Runtime="python3.12", Role=role,
            Handler="app.handler", Code={"S3Bucket": f"{bucket}-gone", "S3Key": "x.zip"},
        )  # fmt: skip
    assert "S3 Error Code: NoSuchBucket" in excinfo.value.response["Error"]["Message"]
