"""How EventBridge Pipes requests map to actions, pipe ARNs and the role they pass."""

from __future__ import annotations

from sandlot.iam.actions import authorizations

ACCOUNT, REGION = "111122223333", "us-east-1"
PIPE = f"arn:aws:pipes:{REGION}:{ACCOUNT}:pipe/p"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/r"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"


def test_create_names_the_pipe_and_passes_its_role() -> None:
    params = {"Name": "p", "RoleArn": ROLE, "Source": QUEUE, "Target": QUEUE, "Tags": {"t": "a"}}
    create, pass_role = authorizations("pipes", "CreatePipe", params, ACCOUNT, REGION)
    assert (create.action, create.resources) == ("pipes:CreatePipe", (PIPE,))
    assert create.context["aws:RequestTag/t"] == "a"
    assert (pass_role.action, pass_role.resources) == ("iam:PassRole", (ROLE,))
    assert pass_role.context["iam:PassedToService"] == "pipes.amazonaws.com"


def test_operations_by_name_and_tags_by_arn() -> None:
    for operation in ("DescribePipe", "StartPipe", "StopPipe", "DeletePipe"):
        (auth,) = authorizations("pipes", operation, {"Name": "p"}, ACCOUNT, REGION)
        assert (auth.action, auth.resources) == (f"pipes:{operation}", (PIPE,))
    (auth,) = authorizations("pipes", "ListTagsForResource", {"resourceArn": PIPE}, ACCOUNT, REGION)
    assert auth.resources == (PIPE,)
    (auth,) = authorizations("pipes", "ListPipes", {}, ACCOUNT, REGION)
    assert auth.resources == ("*",)
