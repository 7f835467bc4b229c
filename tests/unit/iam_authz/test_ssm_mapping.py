"""How Parameter Store requests map to actions, parameter ARNs and condition keys."""

from __future__ import annotations

from sandlot.iam.actions import authorizations

ACCOUNT, REGION = "111122223333", "us-east-1"
ARN = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter"


def one(operation: str, **params):
    (auth,) = authorizations("ssm", operation, params, ACCOUNT, REGION)
    return auth


def test_names_become_parameter_arns_without_the_leading_slash_or_selector() -> None:
    assert one("GetParameter", Name="/app/db/url").resources == (f"{ARN}/app/db/url",)
    assert one("GetParameter", Name="/app/db/url:prod").resources == (f"{ARN}/app/db/url",)
    assert one("GetParameter", Name="flat:3").resources == (f"{ARN}/flat",)
    assert one("GetParameter", Name=f"{ARN}/app/x:2").resources == (f"{ARN}/app/x",)
    auth = one("GetParameters", Names=["/a", "b:1"])
    assert auth.action == "ssm:GetParameters" and auth.resources == (f"{ARN}/a", f"{ARN}/b")


def test_paths_tags_and_conditions() -> None:
    auth = one("GetParametersByPath", Path="/app/", Recursive=True)
    assert auth.resources == (f"{ARN}/app/",) and auth.context == {"ssm:Recursive": "true"}
    auth = one("PutParameter", Name="/p", Value="v", Overwrite=False,
               Tags=[{"Key": "team", "Value": "a"}])  # fmt: skip
    assert auth.context["ssm:Overwrite"] == "false"
    assert auth.context["aws:RequestTag/team"] == "a"
    auth = one("AddTagsToResource", ResourceType="Parameter", ResourceId="/p",
               Tags=[{"Key": "k", "Value": "v"}])  # fmt: skip
    assert auth.resources == (f"{ARN}/p",)
    assert one("DescribeParameters").resources == ("*",)
