"""IAM enforced on real requests: users, role sessions, function roles, resource
policies across accounts, and `sandlot iam explain` / `suggest` on what happened."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.roles import ensure_role, trust_policy

ACCOUNT = "000000000000"
OTHER = "111111111111"


def error_of(call, *args, **kwargs) -> dict:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return {**caught.value.response["Error"], **caught.value.response["ResponseMetadata"]}


def allow(action: str, resource: str = "*", effect: str = "Allow") -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": effect, "Action": action, "Resource": resource}],
        }
    )


def new_user(server, iam, name: str):
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return lambda service: make_client(
        server.endpoint, service, key["AccessKeyId"], key["SecretAccessKey"]
    ), key


def sandlot_cli(server, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sandlot.cli.main", *args, "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_user_is_denied_until_a_policy_allows_and_explicit_deny_wins(server, client):
    iam = client("iam")
    name = unique("dev")
    as_user, key = new_user(server, iam, name)
    denied = error_of(as_user("lambda").list_functions)
    assert (denied["Code"], denied["HTTPStatusCode"]) == ("AccessDeniedException", 403)
    assert denied["Message"] == (
        f"User: arn:aws:iam::{ACCOUNT}:user/{name} is not authorized to perform: "
        "lambda:ListFunctions because no identity-based policy allows the "
        "lambda:ListFunctions action"
    )
    iam.put_user_policy(UserName=name, PolicyName="read", PolicyDocument=allow("lambda:List*"))
    as_user("lambda").list_functions()
    iam.put_user_policy(
        UserName=name, PolicyName="deny", PolicyDocument=allow("lambda:ListFunctions", "*", "Deny")
    )
    denied = error_of(as_user("lambda").list_functions)
    assert denied["Message"].endswith("with an explicit deny in an identity-based policy")
    as_user("lambda").list_layers()  # still allowed by the first policy
    wrong = make_client(server.endpoint, "lambda", key["AccessKeyId"], "not-the-secret")
    assert error_of(wrong.list_functions)["Code"] == "InvalidSignatureException"


def test_create_function_needs_a_role_lambda_can_assume(client):
    iam, lam = client("iam"), client("lambda")
    untrusting = ensure_role(iam, unique("no-lambda"), trust=trust_policy({"AWS": ACCOUNT}))
    for role in (untrusting, f"arn:aws:iam::{ACCOUNT}:role/does-not-exist"):
        error = error_of(
            create_function, lam, unique("fn"), {"app.py": "def handler(e, c): return 1"}, role=role
        )
        assert error["Code"] == "InvalidParameterValueException"
        assert error["Message"] == "The role defined for the function cannot be assumed by Lambda."


def test_cross_account_invoke_needs_the_functions_policy(server, client):
    lam = client("lambda")
    name = unique("shared")
    arn = create_function(lam, name, {"app.py": "def handler(e, c):\n    return 'hi'\n"})[
        "FunctionArn"
    ]
    other = make_client(server.endpoint, "lambda", key=OTHER)
    denied = error_of(other.invoke, FunctionName=arn)
    assert denied["Code"] == "AccessDeniedException"
    assert denied["Message"] == (
        f"User: arn:aws:iam::{OTHER}:root is not authorized to perform: "
        f"lambda:InvokeFunction on resource: {arn} because no resource-based policy allows "
        "the lambda:InvokeFunction action"
    )
    lam.add_permission(
        FunctionName=name, StatementId="other", Action="lambda:InvokeFunction", Principal=OTHER
    )
    assert json.load(other.invoke(FunctionName=arn)["Payload"]) == "hi"
    # A user of the other account also needs its own identity policy.
    other_iam = make_client(server.endpoint, "iam", key=OTHER)
    caller = unique("caller")
    as_user, _ = new_user(server, other_iam, caller)
    denied = error_of(as_user("lambda").invoke, FunctionName=arn)
    assert "because no identity-based policy allows" in denied["Message"]
    other_iam.put_user_policy(
        UserName=caller,
        PolicyName="invoke",
        PolicyDocument=allow("lambda:InvokeFunction", arn),
    )
    assert json.load(as_user("lambda").invoke(FunctionName=arn)["Payload"]) == "hi"


CALLER = """
import boto3
from botocore.exceptions import ClientError

def handler(event, context):
    try:
        boto3.client("lambda").list_functions()
        return {"ok": True}
    except ClientError as error:
        return {
            "code": error.response["Error"]["Code"],
            "request_id": error.response["ResponseMetadata"]["RequestId"],
        }
"""


def test_function_role_is_enforced_and_explained(server, client):
    iam, lam = client("iam"), client("lambda")
    role_name = unique("fn-role")
    role = ensure_role(
        iam,
        role_name,
        managed=("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",),
    )
    name = unique("lister")
    create_function(lam, name, {"app.py": CALLER}, role=role)
    response = lam.invoke(FunctionName=name)
    assert response["StatusCode"] == 200
    result = json.load(response["Payload"])
    assert result["code"] == "AccessDeniedException"

    explained = sandlot_cli(server, "iam", "explain", result["request_id"])
    assert explained.returncode == 0, explained.stderr
    text = explained.stdout
    assert f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{name}" in text
    assert "lambda:ListFunctions on *: DENIED (implicit deny)" in text
    assert "AWSLambdaBasicExecutionRole" in text

    suggested = sandlot_cli(server, "iam", "suggest", "--role", role_name)
    assert suggested.returncode == 0, suggested.stderr
    assert json.loads(suggested.stdout) == {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "lambda:ListFunctions", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName=role_name, PolicyName="suggested", PolicyDocument=suggested.stdout)
    assert json.load(lam.invoke(FunctionName=name)["Payload"]) == {"ok": True}


def test_resource_tags_in_conditions(server, client):
    iam, lam = client("iam"), client("lambda")
    code = {"app.py": "def handler(e, c):\n    return 1\n"}
    blue, red = unique("blue"), unique("red")
    create_function(lam, blue, code, Tags={"team": "blue"})
    create_function(lam, red, code, Tags={"team": "red"})
    name = unique("tagged")
    as_user, _ = new_user(server, iam, name)
    iam.put_user_policy(
        UserName=name,
        PolicyName="blue-only",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "lambda:GetFunction",
                        "Resource": "*",
                        "Condition": {"StringEquals": {"aws:ResourceTag/team": "blue"}},
                    }
                ],
            }
        ),
    )
    assert as_user("lambda").get_function(FunctionName=blue)["Tags"] == {"team": "blue"}
    assert error_of(as_user("lambda").get_function, FunctionName=red)["Code"] == (
        "AccessDeniedException"
    )
