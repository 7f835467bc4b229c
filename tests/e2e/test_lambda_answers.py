"""Lambda answers as AWS does, driven by boto3: validation before authorization, layer
version permissions (cross-account use) and code signing configurations."""

from __future__ import annotations

import json
import re
from unittest.mock import ANY

from tests.e2e.conftest import aws, error_of, make_client
from tests.e2e.functions import ROLE, create_function, unique, wait_active, zip_of
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


def test_other_services_validate_before_authorization_too(server, client):
    """The same order where the model's constraints have a service's own error code:
    CloudWatch Logs InvalidParameterException, IAM ValidationError."""
    iam = client("iam")
    name = unique("nobody")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    as_user = lambda service: make_client(  # noqa: E731
        server.endpoint, service, key["AccessKeyId"], key["SecretAccessKey"]
    )
    err = error_of(as_user("logs").create_log_group, logGroupName="bad name!")
    assert (err["Code"], err["HTTPStatusCode"]) == ("InvalidParameterException", 400)
    err = error_of(as_user("logs").create_log_group, logGroupName="good-name")
    assert err["Code"] == "AccessDeniedException"
    err = error_of(as_user("iam").create_user, UserName="bad name!")
    assert (err["Code"], err["HTTPStatusCode"]) == ("ValidationError", 400)
    err = error_of(as_user("iam").create_user, UserName="good-name")
    assert err["Code"] == "AccessDenied"


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


PROFILE = f"arn:aws:signer:us-east-1:{ACCOUNT}:/signing-profiles/release/a1b2c3d4e5"
APP = {"app.py": "def handler(event, context):\n    return 'ok'\n"}


def test_code_signing_configurations(client):
    lam = client("lambda")
    created = lam.create_code_signing_config(
        Description="release builds",
        AllowedPublishers={"SigningProfileVersionArns": [PROFILE]},
        Tags={"team": "platform"},
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    csc = created["CodeSigningConfig"]
    assert re.fullmatch(r"csc-[a-z0-9]{17}", csc["CodeSigningConfigId"])
    arn = csc["CodeSigningConfigArn"]
    assert (
        arn
        == f"arn:aws:lambda:us-east-1:{ACCOUNT}:code-signing-config:{csc['CodeSigningConfigId']}"
    )
    assert csc["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Warn"}  # the default
    assert csc["AllowedPublishers"] == {"SigningProfileVersionArns": [PROFILE]}
    assert csc["Description"] == "release builds" and csc["LastModified"]
    assert lam.get_code_signing_config(CodeSigningConfigArn=arn)["CodeSigningConfig"] == csc
    lam.tag_resource(Resource=arn, Tags={"stage": "prod"})
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "platform", "stage": "prod"}
    assert arn in [
        c["CodeSigningConfigArn"] for c in lam.list_code_signing_configs()["CodeSigningConfigs"]
    ]

    # Warn: unsigned code (all code here: there is no AWS Signer) deploys.
    name = unique("signed")
    create_function(lam, name, APP, CodeSigningConfigArn=arn)
    assert lam.get_function_code_signing_config(FunctionName=name) == {
        "CodeSigningConfigArn": arn,
        "FunctionName": name,
        "ResponseMetadata": ANY,
    }
    assert lam.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)["FunctionArns"] == [
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    ]
    lam.update_function_code(FunctionName=name, ZipFile=zip_of(APP))
    wait_active(lam, name)

    # Enforce: every new deployment is refused; what runs keeps running.
    updated = lam.update_code_signing_config(
        CodeSigningConfigArn=arn,
        CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Enforce"},
    )["CodeSigningConfig"]
    assert updated["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Enforce"}
    assert updated["Description"] == "release builds"
    err = error_of(lam.update_function_code, FunctionName=name, ZipFile=zip_of(APP))
    assert (err["Code"], err["HTTPStatusCode"]) == ("CodeVerificationFailedException", 400)
    assert err["Message"] == (
        "Lambda cannot deploy the function. The function or layer might be signed using a "
        "signature that the client is not configured to accept. Check the provided signature "
        f"for arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}."
    )
    other = unique("refused")
    err = error_of(lam.create_function, FunctionName=other, Runtime="python3.12", Role=ROLE,
                   Handler="app.handler", Code={"ZipFile": zip_of(APP)}, CodeSigningConfigArn=arn)  # fmt: skip
    assert err["Code"] == "CodeVerificationFailedException"
    assert error_of(lam.get_function, FunctionName=other)["Code"] == "ResourceNotFoundException"
    assert lam.invoke(FunctionName=name)["Payload"].read() == b'"ok"'

    # In use: not deletable; detached, deployments go through again.
    assert error_of(lam.delete_code_signing_config, CodeSigningConfigArn=arn)["Code"] == (
        "ResourceConflictException"
    )
    lam.delete_function_code_signing_config(FunctionName=name)
    assert lam.get_function_code_signing_config(FunctionName=name)["CodeSigningConfigArn"] == ""
    lam.update_function_code(FunctionName=name, ZipFile=zip_of(APP))
    lam.delete_code_signing_config(CodeSigningConfigArn=arn)
    err = error_of(lam.get_code_signing_config, CodeSigningConfigArn=arn)
    assert (err["Code"], err["HTTPStatusCode"]) == ("ResourceNotFoundException", 404)
    err = error_of(
        lam.put_function_code_signing_config, CodeSigningConfigArn=arn, FunctionName=name
    )
    assert err["Code"] == "CodeSigningConfigNotFoundException"
    err = error_of(lam.get_code_signing_config, CodeSigningConfigArn="arn:aws:lambda:us-east-1:1:x")
    assert err["Code"] == "ValidationException"


def test_function_members_as_aws_returns_them(client):
    """GetFunction's members for a zip function, as AWS's documented answers have them,
    and the reason AWS gives while an update is in progress."""
    lam = client("lambda")
    name = unique("members")
    create_function(lam, name, APP)
    got = lam.get_function(FunctionName=name)
    config = got["Configuration"]
    assert set(config) == {
        "FunctionName", "FunctionArn", "Runtime", "Role", "Handler", "CodeSize",
        "Description", "Timeout", "MemorySize", "LastModified", "CodeSha256", "Version",
        "TracingConfig", "RevisionId", "State", "LastUpdateStatus", "PackageType",
        "Architectures", "EphemeralStorage", "SnapStart", "RuntimeVersionConfig",
        "LoggingConfig",
    }  # fmt: skip
    assert config["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}
    assert config["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    assert config["EphemeralStorage"] == {"Size": 512}
    assert (config["Architectures"], config["PackageType"]) == (["x86_64"], "Zip")
    assert config["TracingConfig"] == {"Mode": "PassThrough"}
    assert config["RuntimeVersionConfig"]["RuntimeVersionArn"].startswith(
        "arn:aws:lambda:us-east-1::runtime:"
    )
    assert (config["State"], config["LastUpdateStatus"]) == ("Active", "Successful")
    assert got["Code"]["RepositoryType"] == "S3" and got["Code"]["Location"].startswith("http")

    updated = lam.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"AB": "1"}}
    )
    assert updated["Environment"] == {"Variables": {"AB": "1"}}
    assert (
        updated["LastUpdateStatus"],
        updated["LastUpdateStatusReason"],
        updated["LastUpdateStatusReasonCode"],
    ) == ("InProgress", "The function is being created.", "Creating")
    wait_active(lam, name)
    settled = lam.get_function_configuration(FunctionName=name)
    assert settled["LastUpdateStatus"] == "Successful"
    assert "LastUpdateStatusReason" not in settled and "LastUpdateStatusReasonCode" not in settled


def test_aws_cli_layer_permission_and_code_signing(server, client):
    lam = client("lambda")
    layer = unique("cli-layer")
    lam.publish_layer_version(LayerName=layer, Content={"ZipFile": zip_of(HELPER)})
    added = aws(server.endpoint, "lambda", "add-layer-version-permission", "--layer-name", layer,
                "--version-number", "1", "--statement-id", "everyone",
                "--action", "lambda:GetLayerVersion", "--principal", "*")  # fmt: skip
    assert json.loads(added["Statement"])["Principal"] == "*"
    policy = aws(server.endpoint, "lambda", "get-layer-version-policy", "--layer-name", layer,
                 "--version-number", "1")  # fmt: skip
    assert policy["RevisionId"] == added["RevisionId"]
    created = aws(server.endpoint, "lambda", "create-code-signing-config", "--allowed-publishers",
                  f"SigningProfileVersionArns={PROFILE}", "--code-signing-policies",
                  "UntrustedArtifactOnDeployment=Enforce")["CodeSigningConfig"]  # fmt: skip
    assert created["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Enforce"}
    listed = aws(server.endpoint, "lambda", "list-code-signing-configs")["CodeSigningConfigs"]
    assert created["CodeSigningConfigArn"] in [c["CodeSigningConfigArn"] for c in listed]
