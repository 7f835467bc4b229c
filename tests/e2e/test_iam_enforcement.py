"""IAM enforced on real requests: users, role sessions, function roles, resource
policies across accounts, and `sandlot iam explain` / `suggest` on what happened."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

from tests.e2e.conftest import error_of, make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.roles import ensure_role, trust_policy

ACCOUNT = "000000000000"
OTHER = "111111111111"


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
        [sys.executable, "-m", "sandlot.cli.main", *args, "--endpoint", server.endpoint],
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


PUTTER = """
import json
import boto3
from botocore.exceptions import ClientError

def handler(event, context):
    s3 = boto3.client("s3")  # no credentials here: the role's, injected by sandlot
    try:
        s3.put_object(Bucket=event["bucket"], Key=event["key"], Body=b"report")
    except ClientError as error:
        print("denied, request id", error.response["ResponseMetadata"]["RequestId"])
        raise
    return "stored"
"""


def test_sandbox_account_scenario(server, client):
    iam, lam, s3 = client("iam"), client("lambda"), client("s3")
    bucket_a, bucket_b = unique("bucket-a"), unique("bucket-b")
    s3.create_bucket(Bucket=bucket_a)
    s3.create_bucket(Bucket=bucket_b)
    role_name = unique("reporter")
    role = ensure_role(
        iam,
        role_name,
        managed=("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",),
    )
    name = unique("reporter")
    create_function(lam, name, {"app.py": PUTTER}, role=role)

    def run(bucket: str) -> tuple[dict, str]:
        response = lam.invoke(
            FunctionName=name,
            LogType="Tail",
            Payload=json.dumps({"bucket": bucket, "key": "report.txt"}),
        )
        assert response["StatusCode"] == 200
        tail = base64.b64decode(response["LogResult"]).decode()
        return response, tail

    response, tail = run(bucket_a)
    assert response["FunctionError"] == "Unhandled"
    assert "AccessDenied" in tail
    assert (
        f"is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::{bucket_a}/report.txt"
        in tail
    )
    denied_request = tail.split("denied, request id ", 1)[1].split()[0]

    explained = sandlot_cli(server, "iam", "explain", denied_request)
    assert explained.returncode == 0, explained.stderr
    assert f"s3:PutObject on arn:aws:s3:::{bucket_a}/report.txt: DENIED (implicit deny)" in (
        explained.stdout
    )
    suggested = sandlot_cli(server, "iam", "suggest", "--role", role_name)
    assert json.loads(suggested.stdout)["Statement"] == [
        {
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{bucket_a}/report.txt",
        }
    ]

    iam.put_role_policy(
        RoleName=role_name,
        PolicyName="write-a",
        PolicyDocument=allow("s3:PutObject", f"arn:aws:s3:::{bucket_a}/*"),
    )
    response, _ = run(bucket_a)
    assert "FunctionError" not in response and json.load(response["Payload"]) == "stored"
    assert s3.get_object(Bucket=bucket_a, Key="report.txt")["Body"].read() == b"report"
    response, tail = run(bucket_b)
    assert response["FunctionError"] == "Unhandled" and "AccessDenied" in tail


def test_user_needs_a_policy_to_create_buckets(server, client):
    iam = client("iam")
    name = unique("builder")
    as_user, key = new_user(server, iam, name)
    bucket = unique("made-by-user")
    denied = error_of(as_user("s3").create_bucket, Bucket=bucket)
    assert (denied["Code"], denied["HTTPStatusCode"]) == ("AccessDenied", 403)
    assert denied["Message"] == (
        f"User: arn:aws:iam::{ACCOUNT}:user/{name} is not authorized to perform: "
        f"s3:CreateBucket on resource: arn:aws:s3:::{bucket} because no identity-based "
        "policy allows the s3:CreateBucket action"
    )
    iam.put_user_policy(
        UserName=name, PolicyName="buckets", PolicyDocument=allow("s3:CreateBucket")
    )
    as_user("s3").create_bucket(Bucket=bucket)
    # A streamed upload is refused before its body is stored.
    denied = error_of(as_user("s3").put_object, Bucket=bucket, Key="big", Body=b"x" * 8_000_000)
    assert denied["Code"] == "AccessDenied" and "s3:PutObject" in denied["Message"]
    assert list((server.data_dir / "blobs" / "tmp").iterdir()) == []
    wrong = make_client(server.endpoint, "s3", key["AccessKeyId"], "not-the-secret")
    assert error_of(wrong.list_buckets)["Code"] == "SignatureDoesNotMatch"


def test_read_only_role_and_bucket_policies(server, client):
    iam, s3, sts = client("iam"), client("s3"), client("sts")
    bucket = unique("shared-data")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    role_name = unique("reader")
    arn = ensure_role(iam, role_name, managed=("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",))
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="reader")["Credentials"]
    reader = make_client(
        server.endpoint,
        "s3",
        creds["AccessKeyId"],
        creds["SecretAccessKey"],
        creds["SessionToken"],
    )
    assert [o["Key"] for o in reader.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]
    assert reader.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    assert (
        error_of(reader.put_object, Bucket=bucket, Key="new", Body=b"x")["Code"] == "AccessDenied"
    )

    # A bucket policy naming a user grants on its own (same account), and its Deny wins.
    name = unique("guest")
    as_user, _ = new_user(server, iam, name)
    assert error_of(as_user("s3").get_object, Bucket=bucket, Key="k")["Code"] == "AccessDenied"
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": user_arn},
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{bucket}/*",
                    },
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{bucket}/secret/*",
                    },
                ],
            }
        ),
    )
    assert as_user("s3").get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    s3.put_object(Bucket=bucket, Key="secret/plan", Body=b"x")
    iam.put_user_policy(UserName=name, PolicyName="all", PolicyDocument=allow("s3:*"))
    denied = error_of(as_user("s3").get_object, Bucket=bucket, Key="secret/plan")
    assert denied["Message"].endswith("with an explicit deny in a resource-based policy")


def test_a_bucket_policy_deny_binds_the_owners_root_but_never_locks_it_out(client):
    """The root needs no policy in its own account, but a bucket policy's explicit Deny
    stops it too, as in AWS; the bucket-policy operations stay open to the root."""
    s3 = client("s3")
    bucket = unique("locked")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "NoReads",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": ["s3:GetObject", "s3:GetBucketPolicy", "s3:DeleteBucketPolicy"],
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                }
            ],
        }
    )
    s3.put_bucket_policy(Bucket=bucket, Policy=policy)
    denied = error_of(s3.get_object, Bucket=bucket, Key="k")
    assert (denied["Code"], denied["HTTPStatusCode"]) == ("AccessDenied", 403)
    assert denied["Message"] == (
        f"User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: s3:GetObject on "
        f"resource: arn:aws:s3:::{bucket}/k with an explicit deny in a resource-based policy"
    )
    s3.put_object(Bucket=bucket, Key="k2", Body=b"w")  # not denied: still no evaluation needed
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(policy)
    s3.delete_bucket_policy(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
