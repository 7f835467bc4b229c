"""CloudFormation's AWS::IAM::User, AWS::IAM::AccessKey and AWS::SecretsManager::Secret
(what `sam pipeline bootstrap` makes for a pipeline user): created, updated in place,
and deleted with the stack."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import make_client
from tests.e2e.stacks import physical_ids, settled

READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def _template(status: str, inline: bool, secret: dict) -> str:
    user = {"Type": "AWS::IAM::User", "Properties": {"ManagedPolicyArns": [READ_ONLY]}}
    if inline:
        user["Properties"]["Policies"] = [{"PolicyName": "assume", "PolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}}]  # fmt: skip
    return json.dumps({"Resources": {
        "Person": user,
        "Key": {"Type": "AWS::IAM::AccessKey",
                "Properties": {"UserName": {"Ref": "Person"}, "Status": status}},
        "Vault": {"Type": "AWS::SecretsManager::Secret", "Properties": secret},
    }, "Outputs": {
        "Secret": {"Value": {"Fn::GetAtt": ["Key", "SecretAccessKey"]}},
        "UserArn": {"Value": {"Fn::GetAtt": ["Person", "Arn"]}},
    }})  # fmt: skip


GENERATED = {"GenerateSecretString": {"SecretStringTemplate": '{"user": "app"}',
                                      "GenerateStringKey": "password", "PasswordLength": 20,
                                      "ExcludePunctuation": True}}  # fmt: skip


def test_user_key_and_secret_lifecycle(server) -> None:
    cfn = make_client(server.endpoint, "cloudformation")
    iam = make_client(server.endpoint, "iam")
    secrets = make_client(server.endpoint, "secretsmanager")
    cfn.create_stack(StackName="people", TemplateBody=_template("Inactive", True, GENERATED),
                     Capabilities=["CAPABILITY_IAM"])  # fmt: skip
    stack = settled(cfn, "people")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    ids = physical_ids(cfn, "people")
    user = ids["Person"]
    assert user.startswith("people-Person-")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["UserArn"] == iam.get_user(UserName=user)["User"]["Arn"]
    keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(ids["Key"], "Inactive")]
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == ["assume"]
    attached = iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [READ_ONLY]
    value = json.loads(secrets.get_secret_value(SecretId=ids["Vault"])["SecretString"])
    assert value["user"] == "app" and len(value["password"]) == 20
    assert value["password"].isalnum()
    # The key's secret (GetAtt SecretAccessKey) is the key's: STS accepts it once Active.
    cfn.update_stack(StackName="people", Capabilities=["CAPABILITY_IAM"],
                     TemplateBody=_template("Active", False, {"SecretString": "plain"}))  # fmt: skip
    assert settled(cfn, "people")["StackStatus"] == "UPDATE_COMPLETE"
    assert physical_ids(cfn, "people") == ids  # all updated in place
    assert iam.list_access_keys(UserName=user)["AccessKeyMetadata"][0]["Status"] == "Active"
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == []
    assert secrets.get_secret_value(SecretId=ids["Vault"])["SecretString"] == "plain"
    sts = make_client(server.endpoint, "sts", key=ids["Key"], secret=outputs["Secret"])
    assert sts.get_caller_identity()["Arn"] == outputs["UserArn"]

    stack_id = stack["StackId"]
    cfn.delete_stack(StackName="people")
    assert settled(cfn, stack_id)["StackStatus"] == "DELETE_COMPLETE"
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=user)
    # The secret is scheduled for deletion (the default recovery window), as CloudFormation does.
    assert "DeletedDate" in secrets.describe_secret(SecretId=ids["Vault"])


def test_oidc_provider(server) -> None:
    """AWS::IAM::OIDCProvider (`sam pipeline bootstrap --permissions-provider oidc`
    makes one; that path also fetches the issuer's certificate, which this network
    cannot reach)."""
    cfn = make_client(server.endpoint, "cloudformation")
    iam = make_client(server.endpoint, "iam")

    def template(clients: list[str], thumbprint: str) -> str:
        return json.dumps({"Resources": {"Issuer": {"Type": "AWS::IAM::OIDCProvider", "Properties": {
            "Url": "https://token.ci.example.com", "ClientIdList": clients,
            "ThumbprintList": [thumbprint]}}}})  # fmt: skip

    cfn.create_stack(StackName="oidc", TemplateBody=template(["sts.amazonaws.com"], "a" * 40))
    stack = settled(cfn, "oidc")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    arn = physical_ids(cfn, "oidc")["Issuer"]
    assert arn == "arn:aws:iam::000000000000:oidc-provider/token.ci.example.com"
    cfn.update_stack(StackName="oidc", TemplateBody=template(["other"], "b" * 40))
    assert settled(cfn, "oidc")["StackStatus"] == "UPDATE_COMPLETE"
    found = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert (found["ClientIDList"], found["ThumbprintList"]) == (["other"], ["b" * 40])
    cfn.delete_stack(StackName="oidc")
    assert settled(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
