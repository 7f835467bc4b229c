"""The Lambda control plane end to end: boto3 and the AWS CLI against a real server."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import subprocess
import sys
import time
import uuid
import zipfile

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import cli_env, make_client
from tests.e2e.roles import ensure_role

ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambda-role"
ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}"


def zip_of(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


APP = zip_of({"app.py": "def handler(event, context):\n    return event\n"})


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def lam(server):
    return make_client(server.endpoint, "lambda")


def create(lam, name: str, code: bytes = APP, **params) -> dict:
    params.setdefault("Runtime", "python3.12")
    params.setdefault("Handler", "app.handler")
    params.setdefault("Role", ROLE)
    return lam.create_function(FunctionName=name, Code={"ZipFile": code}, **params)


def settled(lam, name: str, qualifier: str | None = None) -> dict:
    """The configuration once the function is Active and no update is running."""
    extra = {"Qualifier": qualifier} if qualifier else {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        config = lam.get_function_configuration(FunctionName=name, **extra)
        if config["State"] == "Active" and config.get("LastUpdateStatus") == "Successful":
            return config
        time.sleep(0.02)
    raise AssertionError(f"{name} did not settle: {config}")


def error_of(call, **params) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    response = caught.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def aws(endpoint: str, *args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "awscli", *args, "--output", "json"],
        env=cli_env(endpoint),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else {}


def test_create_get_list_delete(lam):
    name = unique("fn")
    created = create(lam, name, Description="first", Tags={"team": "core"})
    assert created["FunctionArn"] == f"{ARN}:function:{name}"
    assert created["State"] == "Pending"
    assert (created["StateReason"], created["StateReasonCode"]) == (
        "The function is being created.",
        "Creating",
    )
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(APP).digest()).decode()
    assert created["CodeSize"] == len(APP)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", created["LastModified"])
    assert uuid.UUID(created["RevisionId"])
    assert created["Version"] == "$LATEST"
    assert (created["MemorySize"], created["Timeout"]) == (128, 3)
    assert created["EphemeralStorage"] == {"Size": 512}
    assert created["Architectures"] == ["x86_64"] and created["PackageType"] == "Zip"
    assert created["TracingConfig"] == {"Mode": "PassThrough"}
    assert created["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}

    active = settled(lam, name)
    assert active["RevisionId"] != created["RevisionId"]  # the state change is a change
    got = lam.get_function(FunctionName=f"{ACCOUNT}:function:{name}")
    assert got["Configuration"]["State"] == "Active"
    assert set(got["Code"]) == {"RepositoryType", "Location"}  # test_lambda_fidelity.py
    assert got["Code"]["RepositoryType"] == "S3"
    assert got["Tags"] == {"team": "core"}
    by_arn = lam.get_function_configuration(FunctionName=f"{ARN}:function:{name}")
    assert by_arn["Description"] == "first"
    assert name in [f["FunctionName"] for f in lam.list_functions(MaxItems=1000)["Functions"]]

    assert error_of(create, lam=lam, name=name)[:2] == ("ResourceConflictException", 409)
    assert lam.delete_function(FunctionName=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    code, status, message = error_of(lam.get_function, FunctionName=name)
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert message == f"Function not found: {ARN}:function:{name}"


def test_updates_go_in_progress_then_successful(lam):
    name = unique("upd")
    create(lam, name)
    # (Conflicts while Pending/InProgress are covered by the unit tests: here the
    # activation usually wins the race against the next request.)
    revision = settled(lam, name)["RevisionId"]

    stale = error_of(
        lam.update_function_configuration, FunctionName=name, Timeout=10, RevisionId="nope"
    )
    assert stale[:2] == ("PreconditionFailedException", 412)
    updated = lam.update_function_configuration(
        FunctionName=name,
        RevisionId=revision,
        MemorySize=1024,
        Timeout=900,
        Environment={"Variables": {"STAGE": "test"}},
        EphemeralStorage={"Size": 2048},
        Handler="app.other",
    )
    assert updated["LastUpdateStatus"] == "InProgress"
    config = settled(lam, name)
    assert (config["MemorySize"], config["Timeout"], config["Handler"]) == (1024, 900, "app.other")
    assert config["Environment"] == {"Variables": {"STAGE": "test"}}
    assert config["EphemeralStorage"] == {"Size": 2048}

    new_code = zip_of({"app.py": "def handler(e, c):\n    return 2\n"})
    dry = lam.update_function_code(FunctionName=name, ZipFile=new_code, DryRun=True)
    assert dry["CodeSha256"] == base64.b64encode(hashlib.sha256(new_code).digest()).decode()
    assert settled(lam, name)["CodeSha256"] == config["CodeSha256"]  # nothing changed
    published = lam.update_function_code(FunctionName=name, ZipFile=new_code, Publish=True)
    assert published["Version"] == "1"
    assert published["FunctionArn"] == f"{ARN}:function:{name}:1"
    assert settled(lam, name, "1")["CodeSize"] == len(new_code)


def test_publish_versions_and_delete_them(lam):
    name = unique("ver")
    create(lam, name)
    settled(lam, name)
    first = lam.publish_version(FunctionName=name, Description="v1")
    assert (first["Version"], first["Description"], first["State"]) == ("1", "v1", "Active")
    # Nothing changed since: AWS answers with the same version.
    assert lam.publish_version(FunctionName=name)["Version"] == "1"
    wrong = error_of(lam.publish_version, FunctionName=name, CodeSha256="bm9wZQ==")
    assert wrong[0] == "InvalidParameterValueException"
    lam.update_function_configuration(FunctionName=name, Description="changed")
    settled(lam, name)
    assert lam.publish_version(FunctionName=name)["Version"] == "2"

    versions = lam.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
    assert versions[0]["FunctionArn"] == f"{ARN}:function:{name}:$LATEST"
    assert lam.get_function(FunctionName=name, Qualifier="1")["Configuration"]["Description"] == (
        "v1"
    )
    latest = error_of(lam.delete_function, FunctionName=name, Qualifier="$LATEST")
    assert latest[:2] == ("InvalidParameterValueException", 400)
    lam.delete_function(FunctionName=f"{name}:1")
    assert error_of(lam.get_function, FunctionName=name, Qualifier="1")[0] == (
        "ResourceNotFoundException"
    )
    lam.update_function_configuration(FunctionName=name, Description="three")
    settled(lam, name)
    assert lam.publish_version(FunctionName=name)["Version"] == "3"  # numbers never reused


def test_aliases_with_weighted_routing(lam):
    name = unique("alias")
    create(lam, name)
    settled(lam, name)
    lam.publish_version(FunctionName=name)
    lam.update_function_configuration(FunctionName=name, Description="2")
    settled(lam, name)
    lam.publish_version(FunctionName=name)

    alias = lam.create_alias(
        FunctionName=name,
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
    )
    assert alias["AliasArn"] == f"{ARN}:function:{name}:live"
    assert alias["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.1}}
    again = error_of(lam.create_alias, FunctionName=name, Name="live", FunctionVersion="1")
    assert again[:2] == ("ResourceConflictException", 409)
    for version, weights in (("$LATEST", {"2": 0.5}), ("1", {"1": 0.5}), ("1", {"9": 0.5})):
        code, _status, _message = error_of(
            lam.create_alias,
            FunctionName=name,
            Name="bad",
            FunctionVersion=version,
            RoutingConfig={"AdditionalVersionWeights": weights},
        )
        assert code in ("InvalidParameterValueException", "ResourceNotFoundException")
    weight = error_of(
        lam.create_alias,
        FunctionName=name,
        Name="bad",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 1.5}},
    )
    assert weight[0] == "ValidationException"

    stale = error_of(lam.update_alias, FunctionName=name, Name="live", RevisionId="x")
    assert stale[:2] == ("PreconditionFailedException", 412)
    moved = lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2", RoutingConfig={})
    assert moved["FunctionVersion"] == "2" and "RoutingConfig" not in moved
    by_alias = lam.get_function_configuration(FunctionName=name, Qualifier="live")
    assert (by_alias["Version"], by_alias["FunctionArn"]) == ("2", f"{ARN}:function:{name}:live")
    lam.create_alias(FunctionName=name, Name="old", FunctionVersion="1")
    names = [a["Name"] for a in lam.list_aliases(FunctionName=name)["Aliases"]]
    assert names == ["live", "old"]
    in_use = error_of(lam.delete_function, FunctionName=name, Qualifier="1")
    assert in_use[:2] == ("ResourceConflictException", 409)
    lam.delete_alias(FunctionName=name, Name="old")
    assert error_of(lam.get_alias, FunctionName=name, Name="old")[1] == 404


def test_layers(lam):
    layer = unique("deps")
    one = lam.publish_layer_version(
        LayerName=layer,
        Content={"ZipFile": zip_of({"python/dep.py": "X = 1\n"})},
        CompatibleRuntimes=["python3.12"],
        Description="deps",
    )
    assert one["LayerVersionArn"] == f"{ARN}:layer:{layer}:1"
    assert one["LayerArn"] == f"{ARN}:layer:{layer}" and one["Version"] == 1
    assert one["Content"]["CodeSize"] > 0 and one["CompatibleRuntimes"] == ["python3.12"]
    two = lam.publish_layer_version(
        LayerName=layer, Content={"ZipFile": zip_of({"python/dep.py": "X = 2\n"})}
    )
    assert two["Version"] == 2
    got = lam.get_layer_version_by_arn(Arn=one["LayerVersionArn"])
    assert got["Description"] == "deps"
    assert lam.get_layer_version(LayerName=layer, VersionNumber=2)["Version"] == 2
    listed = lam.list_layer_versions(LayerName=layer)["LayerVersions"]
    assert [v["Version"] for v in listed] == [2, 1]
    matching = lam.list_layers(CompatibleRuntime="python3.12")["Layers"]
    mine = [entry for entry in matching if entry["LayerName"] == layer]
    assert mine[0]["LatestMatchingVersion"]["Version"] == 1

    name = unique("with-layer")
    created = create(lam, name, Layers=[one["LayerVersionArn"]])
    assert created["Layers"] == [
        {"Arn": one["LayerVersionArn"], "CodeSize": one["Content"]["CodeSize"]}
    ]
    settled(lam, name)
    both = error_of(
        lam.update_function_configuration,
        FunctionName=name,
        Layers=[one["LayerVersionArn"], two["LayerVersionArn"]],
    )
    assert both[0] == "InvalidParameterValueException"
    six = error_of(
        lam.update_function_configuration, FunctionName=name, Layers=[one["LayerVersionArn"]] * 6
    )
    assert six[2] == "Cannot reference more than 5 layers."
    missing = f"{ARN}:layer:{layer}:9"
    assert error_of(create, lam=lam, name=unique("x"), Layers=[missing])[2] == (
        f"Layer version {missing} does not exist."
    )
    lam.delete_layer_version(LayerName=layer, VersionNumber=1)
    assert error_of(lam.get_layer_version, LayerName=layer, VersionNumber=1)[1] == 404
    assert settled(lam, name)["Layers"][0]["Arn"] == one["LayerVersionArn"]


def test_concurrency_and_account_settings(lam):
    name = unique("conc")
    create(lam, name)
    before = lam.get_account_settings()
    assert before["AccountLimit"]["CodeSizeZipped"] == 52428800
    assert before["AccountLimit"]["CodeSizeUnzipped"] == 262144000
    assert before["AccountUsage"]["FunctionCount"] >= 1
    assert (
        lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions") is None
    )
    assert (
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=50)[
            "ReservedConcurrentExecutions"
        ]
        == 50
    )
    assert lam.get_function(FunctionName=name)["Concurrency"] == {
        "ReservedConcurrentExecutions": 50
    }
    after = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    assert after == before["AccountLimit"]["UnreservedConcurrentExecutions"] - 50
    code, _status, message = error_of(
        lam.put_function_concurrency, FunctionName=name, ReservedConcurrentExecutions=1000
    )
    assert code == "InvalidParameterValueException"
    assert message.endswith("below its minimum value of [100].")
    lam.delete_function_concurrency(FunctionName=name)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=name)


def test_permissions_policy_document(lam):
    name = unique("perm")
    create(lam, name)
    # Activation gives the function a new RevisionId (as AWS does): let it finish first,
    # so the policy's revision is compared with a configuration that is not moving.
    settled(lam, name)
    added = lam.add_permission(
        FunctionName=name,
        StatementId="s3-invoke",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::my-bucket",
        SourceAccount=ACCOUNT,
    )
    statement = {
        "Sid": "s3-invoke",
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": f"{ARN}:function:{name}",
        "Condition": {
            "StringEquals": {"AWS:SourceAccount": ACCOUNT},
            "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::my-bucket"},
        },
    }
    assert json.loads(added["Statement"]) == statement
    lam.add_permission(
        FunctionName=name,
        StatementId="other-account",
        Action="lambda:GetFunction",
        Principal="111111111111",
    )
    policy = lam.get_policy(FunctionName=name)
    document = json.loads(policy["Policy"])
    assert (document["Version"], document["Id"]) == ("2012-10-17", "default")
    assert document["Statement"][0] == statement
    assert document["Statement"][1]["Principal"] == {"AWS": "arn:aws:iam::111111111111:root"}
    assert policy["RevisionId"] == lam.get_function_configuration(FunctionName=name)["RevisionId"]
    duplicate = error_of(
        lam.add_permission,
        FunctionName=name,
        StatementId="s3-invoke",
        Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com",
    )
    assert duplicate[:2] == ("ResourceConflictException", 409)
    latest = error_of(
        lam.add_permission,
        FunctionName=name,
        Qualifier="$LATEST",
        StatementId="x",
        Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com",
    )
    assert latest[2] == "We currently do not support adding policies for $LATEST."
    lam.remove_permission(FunctionName=name, StatementId="s3-invoke")
    lam.remove_permission(FunctionName=name, StatementId="other-account")
    gone = error_of(lam.get_policy, FunctionName=name)
    assert gone == ("ResourceNotFoundException", 404, "The resource you requested does not exist.")
    assert error_of(lam.remove_permission, FunctionName=name, StatementId="s3-invoke")[1] == 404


def test_tags(lam):
    name = unique("tags")
    arn = create(lam, name, Tags={"a": "1"})["FunctionArn"]
    lam.tag_resource(Resource=arn, Tags={"b": "2", "a": "updated"})
    assert lam.list_tags(Resource=arn)["Tags"] == {"a": "updated", "b": "2"}
    lam.untag_resource(Resource=arn, TagKeys=["a"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"b": "2"}
    code, _status, _message = error_of(lam.list_tags, Resource=f"{arn}:1")
    assert code == "InvalidParameterValueException"


def test_accounts_and_regions_are_isolated(server, lam):
    name = unique("iso")
    create(lam, name)
    other = make_client(server.endpoint, "lambda", key="111111111111")
    assert name not in [f["FunctionName"] for f in other.list_functions()["Functions"]]
    assert error_of(other.get_function, FunctionName=name)[1] == 404
    assert error_of(other.delete_function, FunctionName=name)[1] == 404
    role = ensure_role(
        make_client(server.endpoint, "iam", key="111111111111"),
        "lambda-role",
        account="111111111111",
    )
    create(other, name, Role=role)  # the same name is free in another account
    assert other.get_function(FunctionName=name)["Configuration"]["FunctionArn"] == (
        f"arn:aws:lambda:us-east-1:111111111111:function:{name}"
    )
    europe = make_client(server.endpoint, "lambda", region="eu-west-1")
    assert error_of(europe.get_function, FunctionName=name)[1] == 404
    assert lam.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name


def test_errors_in_aws_words(lam):
    name = unique("err")
    checks = [
        ({"code": b"not a zip"}, "InvalidParameterValueException", "Could not unzip uploaded file"),
        ({"MemorySize": 10241}, "ValidationException", "'MemorySize' value failed to satisfy"),
        ({"Timeout": 901}, "ValidationException", "less than or equal to 900"),
        ({"Runtime": "python3.7"}, "InvalidParameterValueException", "no longer supported"),
        (
            {"Environment": {"Variables": {"AWS_REGION": "x"}}},
            "InvalidParameterValueException",
            "reserved keys",
        ),
        (
            {"Environment": {"Variables": {"BIG": "x" * 5000}}},
            "InvalidParameterValueException",
            "exceeded the 4KB limit",
        ),
        ({"PackageType": "Image"}, "InvalidParameterValueException", "Please provide ImageUri"),
    ]
    for params, code, fragment in checks:
        found, status, message = error_of(create, lam=lam, name=name, **params)
        assert (found, status) == (code, 400) and fragment in message, (params, message)
    s3 = error_of(
        lam.create_function,
        FunctionName=name,
        Role=ROLE,
        Runtime="python3.12",
        Handler="app.handler",
        Code={"S3Bucket": "bucket", "S3Key": "key.zip"},
    )
    assert s3 == (
        "InvalidParameterValueException",
        400,
        "Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: "
        "The specified bucket does not exist",
    )
    assert error_of(
        lam.get_function, FunctionName="arn:aws:lambda:eu-west-1:000000000000:function:f"
    )[0] == ("InvalidParameterValueException")
    assert error_of(lam.list_functions, Marker="garbage!")[0] == "InvalidParameterValueException"


def test_pagination(server, lam):
    account = make_client(server.endpoint, "lambda", key="222222222222")
    iam = make_client(server.endpoint, "iam", key="222222222222")
    role = ensure_role(iam, "lambda-role", account="222222222222")
    names = sorted(unique(f"page{i}") for i in range(5))
    for name in names:
        create(account, name, Role=role)
    first = account.list_functions(MaxItems=2)
    assert [f["FunctionName"] for f in first["Functions"]] == names[:2]
    second = account.list_functions(MaxItems=2, Marker=first["NextMarker"])
    assert [f["FunctionName"] for f in second["Functions"]] == names[2:4]
    paginator = account.get_paginator("list_functions")
    listed = [
        f["FunctionName"]
        for p in paginator.paginate(PaginationConfig={"PageSize": 2})
        for f in p["Functions"]
    ]
    assert listed == names
    settled(account, names[0])
    account.publish_version(FunctionName=names[0])
    every = account.list_functions(FunctionVersion="ALL")["Functions"]
    assert [(f["FunctionName"], f["Version"]) for f in every][:2] == [
        (names[0], "$LATEST"),
        (names[0], "1"),
    ]
    assert account.get_account_settings()["AccountUsage"]["FunctionCount"] == 5


def test_aws_cli_create_and_wait_active(server, tmp_path):
    package = tmp_path / "function.zip"
    package.write_bytes(APP)
    name = unique("cli")
    created = aws(
        server.endpoint,
        "lambda",
        "create-function",
        "--function-name",
        name,
        "--runtime",
        "python3.12",
        "--handler",
        "app.handler",
        "--role",
        ROLE,
        "--zip-file",
        f"fileb://{package}",
    )
    assert created["State"] == "Pending"
    aws(server.endpoint, "lambda", "wait", "function-active-v2", "--function-name", name)
    got = aws(server.endpoint, "lambda", "get-function", "--function-name", name)
    assert got["Configuration"]["State"] == "Active"
