"""CloudFormation requests map to the stack's ARN (``stack/<name>/*`` for a name, as
AWS's policies write it) and to the service-role and template-URL condition keys."""

from __future__ import annotations

from sandlot.iam.actions import authorizations

ACCOUNT, REGION = "111122223333", "us-east-1"
STACK = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/app/5b1c9f40-0000-0000-0000-000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/deployer"


def only(operation: str, params: dict):
    [auth] = authorizations("cloudformation", operation, params, ACCOUNT, REGION)
    return auth


def test_a_stack_by_name_or_id() -> None:
    auth = only("CreateStack", {"StackName": "app", "RoleARN": ROLE,
                                "TemplateURL": "https://s3.amazonaws.com/b/t.yaml"})  # fmt: skip
    assert auth.action == "cloudformation:CreateStack"
    assert auth.resources == (f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/app/*",)
    assert auth.context["cloudformation:RoleArn"] == ROLE
    assert auth.context["cloudformation:TemplateUrl"] == "https://s3.amazonaws.com/b/t.yaml"
    assert only("DescribeStackEvents", {"StackName": STACK}).resources == (STACK,)


def test_change_sets_are_authorized_on_their_stack() -> None:
    auth = only("CreateChangeSet", {"StackName": "app", "ChangeSetName": "cs"})
    assert auth.resources == (f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/app/*",)
    assert auth.context["cloudformation:ChangeSetName"] == "cs"
    assert only("ListExports", {}).resources == ("*",)
    assert only("ValidateTemplate", {"TemplateBody": "{}"}).resources == ("*",)
