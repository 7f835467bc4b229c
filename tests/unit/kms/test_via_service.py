"""A service calling KMS for a principal (S3 SSE-KMS, Secrets Manager…) passes
``kms:ViaService`` through ``Platform.call``; key policies can require it."""

from __future__ import annotations

import asyncio
import json

import pytest

from sandlot.config import Settings
from sandlot.iam.principal import Principal, assumed_role
from sandlot.platform import Platform
from sandlot.protocol import ServiceError

ACCOUNT, REGION = "000000000000", "us-east-1"
ROOT = Principal.root(ACCOUNT)
ROLE = f"arn:aws:iam::{ACCOUNT}:role/app"


def test_a_key_policy_can_require_the_calling_service(tmp_path):
    platform = Platform(Settings(iam="enforce"), tmp_path)

    def call(service, operation, params, principal=ROOT, context=None):
        return asyncio.run(
            platform.call(service, operation, params, principal=principal, region=REGION,
                          context=context)
        )  # fmt: skip

    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}]}  # fmt: skip
    role = call(
        "iam", "CreateRole", {"RoleName": "app", "AssumeRolePolicyDocument": json.dumps(trust)}
    )
    session = assumed_role(ROLE, "s", role["Role"]["RoleId"])
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
             "Action": "kms:*", "Resource": "*",
             "Condition": {"StringEquals": {"aws:PrincipalType": "Account"}}},
            {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:Encrypt",
             "Resource": "*",
             "Condition": {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}}},
        ],
    }  # fmt: skip
    key = call("kms", "CreateKey", {"Policy": json.dumps(policy)})["KeyMetadata"]["Arn"]
    params = {"KeyId": key, "Plaintext": b"x"}
    with pytest.raises(ServiceError) as denied:
        call("kms", "Encrypt", params, principal=session)
    assert denied.value.code == "AccessDeniedException"
    via_s3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    assert call("kms", "Encrypt", params, principal=session, context=via_s3)["KeyId"] == key
    # The AWS managed key of S3 serves the account's principals through S3 only.
    managed = {"KeyId": "alias/aws/s3", "Plaintext": b"y"}
    with pytest.raises(ServiceError) as direct:
        call("kms", "Encrypt", managed, principal=session)
    assert direct.value.code == "AccessDeniedException"
    blob = call("kms", "Encrypt", managed, principal=session, context=via_s3)["CiphertextBlob"]
    plain = call("kms", "Decrypt", {"CiphertextBlob": blob}, principal=session, context=via_s3)
    assert plain["Plaintext"] == b"y"
    platform.close()
