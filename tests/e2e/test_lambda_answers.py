"""Lambda answers as AWS does, driven by boto3: validation before authorization, layer
version permissions (cross-account use) and code signing configurations."""

from __future__ import annotations

import json

from tests.e2e.conftest import error_of, make_client
from tests.e2e.functions import unique, wait_active, zip_of
from tests.e2e.roles import ensure_role

ACCOUNT = "000000000000"


def test_malformed_input_is_refused_before_authorization(server, client):
    """A user allowed nothing gets ValidationException for a malformed name (AWS checks
    the request before it authorizes it) and AccessDenied for a well-formed one."""
    iam = client("iam")
    name = unique("nobody")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    lam = make_client(server.endpoint, "lambda", key["AccessKeyId"], key["SecretAccessKey"])

    err = error_of(lam.get_function, FunctionName="not a valid name!")
    assert (err["Code"], err["HTTPStatusCode"]) == ("ValidationException", 400)
    assert err["Message"].startswith(
        "1 validation error detected: Value 'not a valid name!' at 'functionName' failed to "
        "satisfy constraint: Member must satisfy regular expression pattern: "
    )
    err = error_of(lam.create_function, FunctionName="f", Role="r", Code={"ZipFile": b"x"})
    assert err["Code"] == "ValidationException" and "at 'role'" in err["Message"]
    err = error_of(lam.get_function, FunctionName="well-formed")
    assert (err["Code"], err["HTTPStatusCode"]) == ("AccessDeniedException", 403)
    iam.put_user_policy(
        UserName=name,
        PolicyName="all",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}],
            }
        ),
    )
    err = error_of(lam.get_function, FunctionName="well-formed")
    assert err["Code"] == "ResourceNotFoundException"


OTHER = "111111111111"
HELPER = {"python/helper.py": "GREETING = 'from the shared layer'\n"}
USES_HELPER = {
    "app.py": "import helper\ndef handler(event, context):\n    return helper.GREETING\n"
}


def test_layer_version_permissions_and_cross_account_use(server):
    owner = make_client(server.endpoint, "lambda")
    # Dev mode: an unknown 12-digit access key is the root of that account.
    other = make_client(server.endpoint, "lambda", key=OTHER)
    other_iam = make_client(server.endpoint, "iam", key=OTHER)
    layer = unique("shared")
    published = owner.publish_layer_version(
        LayerName=layer, Content={"ZipFile": zip_of(HELPER)}, CompatibleRuntimes=["python3.12"]
    )
    version_arn, version = published["LayerVersionArn"], published["Version"]
    err = error_of(owner.get_layer_version_policy, LayerName=layer, VersionNumber=version)
    assert (err["Code"], err["Message"]) == (
        "ResourceNotFoundException",
        "No policy is associated with the given resource.",
    )

    role = ensure_role(other_iam, "layer-user", account=OTHER)
    function = {
        "Runtime": "python3.12",
        "Role": role,
        "Handler": "app.handler",
        "Code": {"ZipFile": zip_of(USES_HELPER)},
        "Layers": [version_arn],
    }
    # Not shared yet: the other account may neither read nor use it.
    err = error_of(other.get_layer_version_by_arn, Arn=version_arn)
    assert (err["Code"], err["HTTPStatusCode"]) == ("AccessDeniedException", 403)
    assert "lambda:GetLayerVersion" in err["Message"]
    err = error_of(other.create_function, FunctionName=unique("user"), **function)
    assert err["Code"] == "AccessDeniedException"

    added = owner.add_layer_version_permission(
        LayerName=layer,
        VersionNumber=version,
        StatementId="other-account",
        Action="lambda:GetLayerVersion",
        Principal=OTHER,
    )
    assert json.loads(added["Statement"]) == {
        "Sid": "other-account",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
        "Action": "lambda:GetLayerVersion",
        "Resource": version_arn,
    }
    err = error_of(
        owner.add_layer_version_permission,
        LayerName=layer,
        VersionNumber=version,
        StatementId="other-account",
        Action="lambda:GetLayerVersion",
        Principal="*",
    )
    assert err["Code"] == "ResourceConflictException"
    policy = owner.get_layer_version_policy(LayerName=layer, VersionNumber=version)
    assert policy["RevisionId"] == added["RevisionId"]
    assert json.loads(policy["Policy"])["Statement"] == [json.loads(added["Statement"])]

    # Shared: the other account reads it and runs a function on it.
    got = other.get_layer_version_by_arn(Arn=version_arn)
    assert got["LayerVersionArn"] == version_arn
    got = other.get_layer_version(LayerName=published["LayerArn"], VersionNumber=version)
    assert got["Version"] == version
    name = unique("user")
    other.create_function(FunctionName=name, **function)
    wait_active(other, name)
    answer = other.invoke(FunctionName=name)
    assert json.loads(answer["Payload"].read()) == "from the shared layer"

    err = error_of(
        owner.remove_layer_version_permission,
        LayerName=layer,
        VersionNumber=version,
        StatementId="other-account",
        RevisionId="stale",
    )
    assert err["Code"] == "PreconditionFailedException"
    owner.remove_layer_version_permission(
        LayerName=layer, VersionNumber=version, StatementId="other-account"
    )
    err = error_of(
        owner.remove_layer_version_permission,
        LayerName=layer,
        VersionNumber=version,
        StatementId="other-account",
    )
    assert err["Code"] == "ResourceNotFoundException"
    err = error_of(other.get_layer_version_by_arn, Arn=version_arn)
    assert err["Code"] == "AccessDeniedException"
    # The function made while it was shared keeps running (as in AWS).
    assert json.loads(other.invoke(FunctionName=name)["Payload"].read()) == (
        "from the shared layer"
    )
