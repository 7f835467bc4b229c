"""IAM roles for end-to-end tests: created for real, with trust policies, as in AWS."""

from __future__ import annotations

import json

from botocore.exceptions import ClientError


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
