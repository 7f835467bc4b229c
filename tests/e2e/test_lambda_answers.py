"""Lambda answers as AWS does, driven by boto3: validation before authorization, layer
version permissions (cross-account use) and code signing configurations."""

from __future__ import annotations

import json

from tests.e2e.conftest import error_of, make_client
from tests.e2e.functions import unique

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
