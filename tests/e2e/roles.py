"""IAM roles for end-to-end tests: created for real, with trust policies, as in AWS."""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from tests.e2e.conftest import make_client
from tests.e2e.functions import unique


def trust_policy(*principals: dict) -> str:
    """A trust policy letting each principal (``{"Service": ...}``, ``{"AWS": ...}``)
    assume the role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": p, "Action": "sts:AssumeRole"} for p in principals
            ],
        }
    )


def ensure_role(
    iam,
    name: str,
    *,
    path: str = "/",
    account: str = "000000000000",
    trust: str | None = None,
    managed: tuple[str, ...] = (),
) -> str:
    """The ARN of role ``name``, created if missing; by default Lambda and the account's
    own principals may assume it."""
    policy = trust or trust_policy({"Service": "lambda.amazonaws.com"}, {"AWS": account})
    try:
        arn = iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=policy)["Role"][
            "Arn"
        ]
    except ClientError as error:
        if error.response["Error"]["Code"] != "EntityAlreadyExists":
            raise
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    for policy_arn in managed:
        iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
    return arn


def role_client(
    endpoint: str, iam, service: str, identity_policy: str | dict | None = None, prefix="role"
):
    """(role ARN, a ``service`` client signed by a session of a new role of the default
    account whose inline policy is ``identity_policy``)."""
    name = unique(prefix)
    arn = ensure_role(iam, name)
    if identity_policy:
        document = (
            identity_policy if isinstance(identity_policy, str) else json.dumps(identity_policy)
        )
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=document)
    sts = make_client(endpoint, "sts")
    creds = sts.assume_role(RoleArn=arn, RoleSessionName=name)["Credentials"]
    session = (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    return arn, make_client(endpoint, service, *session)
