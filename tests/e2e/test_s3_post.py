"""S3 POST Object end to end: boto3's generate_presigned_post (its default Signature
Version 2 form and the s3v4 one) posted as a browser posts a form, a multipart body
built here and sent with http.client; S3's answers, policy checks and notifications."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import time
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e.forms import multipart, post_form, s3_error
from tests.e2e.functions import create_function, unique
from tests.e2e.roles import ensure_role

ACCOUNT = "000000000000"
TAGGING = "<Tagging><TagSet><Tag><Key>team</Key><Value>web</Value></Tag></TagSet></Tagging>"


def _v4_client(server, key="test", secret="test", token=None):
    import boto3

    return boto3.session.Session().client(
        "s3",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(signature_version="s3v4", retries={"max_attempts": 1}),
    )


def test_default_presigned_post_uploads(client, bucket):
    """boto3's generate_presigned_post as is (Signature Version 2 fields): 204 by
    default, the object stored whole, ETag and Location in the answer."""
    s3 = client("s3")
    presigned = s3.generate_presigned_post(bucket, "docs/report.txt")
    assert "signature" in presigned["fields"]  # botocore's default form
    content = b"quarterly numbers\r\n--not-a-boundary\r\n" * 500
    status, headers, body = post_form(presigned["url"], presigned["fields"], content)
    assert (status, body) == (204, b"")
    assert headers["etag"] == f'"{hashlib.md5(content).hexdigest()}"'
    assert headers["location"].endswith(f"/{bucket}/docs/report.txt")
    got = s3.get_object(Bucket=bucket, Key="docs/report.txt")
    assert got["Body"].read() == content
    assert got["ETag"] == headers["etag"]


def test_s3v4_form_with_filename_status_201_and_fields(server, client, bucket):
    s3 = _v4_client(server)
    presigned = s3.generate_presigned_post(
        bucket,
        "uploads/${filename}",
        Fields={
            "success_action_status": "201",
            "Content-Type": "text/plain",
            "x-amz-meta-owner": "alice",
            "tagging": TAGGING,
        },
        Conditions=[
            {"success_action_status": "201"},
            ["starts-with", "$Content-Type", "text/"],
            {"x-amz-meta-owner": "alice"},
            {"tagging": TAGGING},
            ["content-length-range", 1, 1024],
        ],
    )
    assert presigned["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    status, headers, body = post_form(
        presigned["url"], presigned["fields"], b"hello", "C:\\tmp\\a b.txt"
    )
    assert status == 201
    root = ET.fromstring(body)
    assert root.tag == "PostResponse"
    assert root.findtext("Bucket") == bucket and root.findtext("Key") == "uploads/a b.txt"
    assert root.findtext("ETag") == f'"{hashlib.md5(b"hello").hexdigest()}"'
    assert root.findtext("Location").endswith(f"/{bucket}/uploads/a%20b.txt")
    head = client("s3").head_object(Bucket=bucket, Key="uploads/a b.txt")
    assert head["ContentType"] == "text/plain" and head["Metadata"] == {"owner": "alice"}
    tags = client("s3").get_object_tagging(Bucket=bucket, Key="uploads/a b.txt")["TagSet"]
    assert tags == [{"Key": "team", "Value": "web"}]


def test_redirect_after_upload(client, bucket):
    s3 = client("s3")
    target = "https://app.example/uploaded?from=form"
    presigned = s3.generate_presigned_post(
        bucket,
        "r.txt",
        Fields={"success_action_redirect": target},
        Conditions=[{"success_action_redirect": target}],
    )
    status, headers, _ = post_form(presigned["url"], presigned["fields"], b"x")
    assert status == 303
    location = urlsplit(headers["location"])
    assert location.netloc == "app.example" and location.path == "/uploaded"
    query = parse_qs(location.query)
    assert query["from"] == ["form"] and query["bucket"] == [bucket] and query["key"] == ["r.txt"]
    assert query["etag"] == [f'"{hashlib.md5(b"x").hexdigest()}"']


def test_policy_violations_are_refused_and_store_nothing(server, client, bucket):
    s3 = _v4_client(server)
    presigned = s3.generate_presigned_post(
        bucket,
        "fixed.txt",
        Conditions=[["content-length-range", 2, 10]],
    )
    url, fields = presigned["url"], presigned["fields"]

    def refused(form: dict, content: bytes = b"abc") -> tuple[int, str, str]:
        status, _, body = post_form(url, form, content)
        return (status, *s3_error(body))

    assert refused({**fields, "key": "other.txt"}) == (
        403,
        "AccessDenied",
        'Invalid according to Policy: Policy Condition failed: ["eq", "$key", "fixed.txt"]',
    )
    assert refused({**fields, "x-amz-meta-extra": "1"}) == (
        403,
        "AccessDenied",
        "Invalid according to Policy: Extra input fields: x-amz-meta-extra",
    )
    assert refused(fields, b"x" * 11)[:2] == (400, "EntityTooLarge")
    assert refused(fields, b"x")[:2] == (400, "EntityTooSmall")
    assert refused({k: v for k, v in fields.items() if k != "key"}) == (
        400,
        "InvalidArgument",
        "Bucket POST must contain a field named 'key'.  If it is specified, please check "
        "the order of the fields.",
    )
    expired = s3.generate_presigned_post(bucket, "fixed.txt", ExpiresIn=-60)["fields"]
    assert refused(expired) == (403, "AccessDenied", "Invalid according to Policy: Policy expired.")
    assert "Contents" not in client("s3").list_objects_v2(Bucket=bucket)
    assert post_form(url, fields, b"abc")[0] == 204  # the same form within the policy


def test_keys_sandlot_issued_verify_and_iam_decides(server, client, bucket):
    """A form signed with an IAM user's key is that user's request: without
    s3:PutObject it is AccessDenied; a wrong secret never verifies."""
    iam = client("iam")
    name = unique("uploader")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    user = _v4_client(server, key["AccessKeyId"], key["SecretAccessKey"])
    presigned = user.generate_presigned_post(bucket, "u.txt")
    status, _, body = post_form(presigned["url"], presigned["fields"], b"data")
    assert status == 403 and s3_error(body)[0] == "AccessDenied"
    assert f"user/{name} is not authorized to perform: s3:PutObject" in s3_error(body)[1]
    iam.put_user_policy(
        UserName=name,
        PolicyName="put",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "s3:PutObject",
                        "Resource": f"arn:aws:s3:::{bucket}/*",
                    }
                ],
            }
        ),
    )
    status, _, _ = post_form(presigned["url"], presigned["fields"], b"data")
    assert status == 204
    # The signature covers the policy: a policy changed after signing is refused.
    policy = json.loads(base64.b64decode(presigned["fields"]["policy"]))
    policy["expiration"] = "2099-01-01T00:00:00Z"
    changed = base64.b64encode(json.dumps(policy).encode()).decode()
    status, _, body = post_form(presigned["url"], {**presigned["fields"], "policy": changed}, b"d")
    assert (status, s3_error(body)[0]) == (403, "SignatureDoesNotMatch")
    forged = _v4_client(server, key["AccessKeyId"], "not-the-secret")
    presigned = forged.generate_presigned_post(bucket, "u2.txt")
    status, _, body = post_form(presigned["url"], presigned["fields"], b"data")
    assert (status, s3_error(body)[0]) == (403, "SignatureDoesNotMatch")


def test_an_untrusted_page_needs_a_form_signed_by_an_issued_key(server, client, bucket):
    """A form posted by a web page sandlot does not trust gets none of dev mode's
    ambient root: unsigned or signed with an invented key it is refused; signed by an
    IAM user's key (with s3:PutObject) it is that user's upload."""
    page = "http://attacker.example"
    s3 = client("s3")
    status, _, body = post_form(f"{server.endpoint}/{bucket}", {"key": "a.txt"}, b"x", origin=page)
    assert (status, s3_error(body)[0]) == (403, "AccessDenied")
    assert page in s3_error(body)[1]
    invented = _v4_client(server).generate_presigned_post(bucket, "b.txt")
    status, _, body = post_form(invented["url"], invented["fields"], b"x", origin=page)
    assert (status, s3_error(body)[0]) == (403, "AccessDenied")
    for key in ("a.txt", "b.txt"):
        with pytest.raises(ClientError):
            s3.head_object(Bucket=bucket, Key=key)
    iam = client("iam")
    name = unique("page-uploader")
    iam.create_user(UserName=name)
    iam.put_user_policy(
        UserName=name,
        PolicyName="put",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "s3:PutObject",
                        "Resource": f"arn:aws:s3:::{bucket}/*",
                    }
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName=name)["AccessKey"]
    issued = _v4_client(server, key["AccessKeyId"], key["SecretAccessKey"])
    presigned = issued.generate_presigned_post(bucket, "c.txt")
    status, _, _ = post_form(presigned["url"], presigned["fields"], b"page upload", origin=page)
    assert status == 204
    assert s3.get_object(Bucket=bucket, Key="c.txt")["Body"].read() == b"page upload"


RECORDER = """
import boto3, os

def handler(event, context):
    for record in event["Records"]:
        key = record["s3"]["object"]["key"]
        boto3.client("s3").put_object(
            Bucket=os.environ["TARGET"], Key="events/" + key, Body=record["eventName"]
        )
"""


def test_post_upload_notifies_object_created_post(client):
    s3, lam, iam = client("s3"), client("lambda"), client("iam")
    uploads, events = f"forms-{uuid.uuid4().hex[:8]}", f"events-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=uploads)
    s3.create_bucket(Bucket=events)
    role_name = unique("recorder")
    role = ensure_role(
        iam,
        role_name,
        managed=("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",),
    )
    iam.put_role_policy(
        RoleName=role_name,
        PolicyName="write",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "s3:PutObject",
                        "Resource": f"arn:aws:s3:::{events}/*",
                    }
                ],
            }
        ),
    )
    name = unique("recorder")
    arn = create_function(
        lam, name, {"app.py": RECORDER}, role=role, Environment={"Variables": {"TARGET": events}}
    )["FunctionArn"]
    lam.add_permission(
        FunctionName=name,
        StatementId="s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn=f"arn:aws:s3:::{uploads}",
        SourceAccount=ACCOUNT,
    )
    s3.put_bucket_notification_configuration(
        Bucket=uploads,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:Post"]}
            ]
        },
    )
    s3.put_object(Bucket=uploads, Key="by-put.txt", Body=b"not notified")
    presigned = s3.generate_presigned_post(uploads, "by-form.txt")
    assert post_form(presigned["url"], presigned["fields"], b"form")[0] == 204
    deadline = time.monotonic() + 30
    while True:
        try:
            got = s3.get_object(Bucket=events, Key="events/by-form.txt")["Body"].read()
            break
        except ClientError as error:
            if error.response["Error"]["Code"] != "NoSuchKey" or time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert got == b"ObjectCreated:Post"
    listed = s3.list_objects_v2(Bucket=events).get("Contents", [])
    assert [o["Key"] for o in listed] == ["events/by-form.txt"]


def test_a_post_that_is_not_a_form_is_refused_as_s3_does(server, bucket):
    parts = urlsplit(server.endpoint)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("POST", f"/{bucket}", b"key=x", {"Content-Type": "text/plain"})
        response = connection.getresponse()
        status, body = response.status, response.read()
    finally:
        connection.close()
    assert status == 412
    assert s3_error(body)[0] == "PreconditionFailed"
    assert ET.fromstring(body).findtext("Condition") == (
        "Bucket POST must be of the enclosure-type multipart/form-data"
    )


def test_a_large_file_streams_through(server, client, bucket):
    """Megabytes go to the blob store in pieces, with the size bound checked on the way."""
    s3 = _v4_client(server)
    content = bytes(range(256)) * (6 * 4096)  # 6 MiB
    presigned = s3.generate_presigned_post(
        bucket, "big.bin", Conditions=[["content-length-range", 0, 8 * 1024 * 1024]]
    )
    status, headers, _ = post_form(presigned["url"], presigned["fields"], content)
    assert status == 204
    got = client("s3").get_object(Bucket=bucket, Key="big.bin")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(content).digest()
    small = s3.generate_presigned_post(
        bucket, "big2.bin", Conditions=[["content-length-range", 0, 3 * 1024 * 1024]]
    )
    status, _, body = post_form(small["url"], small["fields"], content)
    assert (status, s3_error(body)[0]) == (400, "EntityTooLarge")


def test_a_role_session_signs_forms_with_its_token(server, client, bucket):
    """Session credentials sign a form with their token as a field (botocore adds it
    and its condition); a form without the right token is refused."""
    iam, sts = client("iam"), client("sts")
    role = ensure_role(iam, unique("form-signer"))
    iam.put_role_policy(
        RoleName=role.rsplit("/", 1)[-1],
        PolicyName="put",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "s3:PutObject",
                        "Resource": f"arn:aws:s3:::{bucket}/*",
                    }
                ],
            }
        ),
    )
    creds = sts.assume_role(RoleArn=role, RoleSessionName="browser")["Credentials"]
    session = client(
        "s3",
        key=creds["AccessKeyId"],
        secret=creds["SecretAccessKey"],
        token=creds["SessionToken"],
    )
    presigned = session.generate_presigned_post(bucket, "from-session.txt")
    assert presigned["fields"]["x-amz-security-token"] == creds["SessionToken"]
    assert post_form(presigned["url"], presigned["fields"], b"ok")[0] == 204
    without = {k: v for k, v in presigned["fields"].items() if k != "x-amz-security-token"}
    status, _, body = post_form(presigned["url"], without, b"ok")
    assert (status, s3_error(body)[0]) == (403, "InvalidAccessKeyId")


def test_virtual_hosted_form_upload(server, client, bucket):
    s3 = client("s3")
    presigned = s3.generate_presigned_post(bucket, "vh.txt")
    body, content_type = multipart(presigned["fields"], b"virtual")
    parts = urlsplit(server.endpoint)
    host = f"{bucket}.s3.localhost:{parts.port}"
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("POST", "/", body, {"Content-Type": content_type, "Host": host})
        response = connection.getresponse()
        status, location = response.status, response.getheader("Location")
        response.read()
    finally:
        connection.close()
    assert (status, location) == (204, f"http://{host}/vh.txt")
    assert s3.get_object(Bucket=bucket, Key="vh.txt")["Body"].read() == b"virtual"
