"""How DynamoDB requests map to actions, table and index ARNs and condition keys."""

from __future__ import annotations

from sandlot.iam.actions import authorizations

ACCOUNT, REGION = "111122223333", "us-east-1"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table"


def auths(operation: str, **params):
    return authorizations("dynamodb", operation, params, ACCOUNT, REGION)


def test_items_and_queries_name_their_table_or_index() -> None:
    (auth,) = auths("PutItem", TableName="t", Item={"pk": {"S": "a"}, "v": {"N": "1"}},
                    ReturnValues="ALL_OLD")  # fmt: skip
    assert auth.action == "dynamodb:PutItem" and auth.resources == (f"{TABLE}/t",)
    assert auth.context["dynamodb:Attributes"] == ["pk", "v"]
    assert auth.context["dynamodb:ReturnValues"] == "ALL_OLD"
    (auth,) = auths("Query", TableName="t", IndexName="by-x", Select="COUNT")
    assert auth.resources == (f"{TABLE}/t/index/by-x",)
    assert auth.context == {"dynamodb:Select": "COUNT"}
    (auth,) = auths("GetItem", TableName=f"{TABLE}/other", Key={})
    assert auth.resources == (f"{TABLE}/other",)


def test_batches_and_transactions_are_authorized_per_table_and_action() -> None:
    (auth,) = auths("BatchWriteItem", RequestItems={"a": [], "b": []})
    assert auth.action == "dynamodb:BatchWriteItem"
    assert auth.resources == (f"{TABLE}/a", f"{TABLE}/b")
    found = auths("TransactWriteItems", TransactItems=[
        {"Put": {"TableName": "a"}}, {"ConditionCheck": {"TableName": "b"}},
        {"Update": {"TableName": "a"}}])  # fmt: skip
    assert [(a.action, a.resources) for a in found] == [
        ("dynamodb:PutItem", (f"{TABLE}/a",)),
        ("dynamodb:ConditionCheckItem", (f"{TABLE}/b",)),
        ("dynamodb:UpdateItem", (f"{TABLE}/a",)),
    ]
    (auth,) = auths("ExecuteStatement", Statement='DELETE FROM "t" WHERE pk = ?')
    assert auth.action == "dynamodb:PartiQLDelete" and auth.resources == (f"{TABLE}/t",)


def test_leading_keys_come_from_the_service_lookup() -> None:
    seen = []

    def lookup(params):
        seen.append(params["TableName"])
        return ["alice"]

    (auth,) = authorizations("dynamodb", "GetItem", {"TableName": "t", "Key": {}}, ACCOUNT,
                             REGION, leading_keys=lookup)  # fmt: skip
    assert auth.context["dynamodb:LeadingKeys"] == ["alice"] and seen == ["t"]
    (auth,) = authorizations("dynamodb", "DescribeTable", {"TableName": "t"}, ACCOUNT, REGION,
                             leading_keys=lookup)  # fmt: skip
    assert "dynamodb:LeadingKeys" not in auth.context  # not a condition key of the action
