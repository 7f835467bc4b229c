"""SSM Parameter Store end to end with boto3 and the AWS CLI: parameter types,
versions and labels, hierarchies, SecureString through KMS, tags, and IAM."""

from __future__ import annotations

import base64

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import aws, make_client
from tests.e2e.functions import unique
from tests.e2e.roles import role_client
from tests.e2e.server import SandlotServer


def error_of(call, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    return (
        response["Error"]["Code"],
        response["Error"].get("Message", ""),
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def ssm_client(server, iam, service: str, identity_policy: dict):
    return role_client(server.endpoint, iam, service, identity_policy, "ssm-user")[1]


def allow(*actions: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
    }


def test_put_get_versions_and_overwrite(client):
    ssm = client("ssm")
    name = f"/{unique('app')}/db/url"
    out = ssm.put_parameter(Name=name, Value="v1", Type="String", Description="db")
    assert out == {"Version": 1, "Tier": "Standard", "ResponseMetadata": out["ResponseMetadata"]}
    code, message, status = error_of(ssm.put_parameter, Name=name, Value="v2", Type="String")
    assert (code, status) == ("ParameterAlreadyExists", 400)
    assert "set the overwrite option" in message
    assert ssm.put_parameter(Name=name, Value="v2", Overwrite=True)["Version"] == 2
    got = ssm.get_parameter(Name=name)["Parameter"]
    assert got["Value"] == "v2" and got["Version"] == 2 and got["Type"] == "String"
    assert got["ARN"] == f"arn:aws:ssm:us-east-1:000000000000:parameter{name}"
    assert got["DataType"] == "text" and "Selector" not in got
    by_arn = ssm.get_parameter(Name=got["ARN"])["Parameter"]
    assert by_arn["Name"] == name and by_arn["Value"] == "v2"
    assert ssm.get_parameter(Name=got["ARN"] + ":1")["Parameter"]["Value"] == "v1"
    first = ssm.get_parameter(Name=f"{name}:1")["Parameter"]
    assert first["Value"] == "v1" and first["Selector"] == ":1"
    code, message, _ = error_of(ssm.get_parameter, Name=f"{name}:9")
    assert code == "ParameterVersionNotFound" and "version 9" in message
    assert error_of(ssm.get_parameter, Name=f"{name}-missing")[0] == "ParameterNotFound"
    history = ssm.get_parameter_history(Name=name)["Parameters"]
    assert [h["Value"] for h in history] == ["v1", "v2"]
    assert history[1]["Description"] == "db"  # kept across versions
    described = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])[
        "Parameters"
    ]
    assert [d["Name"] for d in described] == [name] and described[0]["Version"] == 2


def test_string_list_get_parameters_and_delete(client):
    ssm = client("ssm")
    base = unique("flat")
    ssm.put_parameter(Name=base, Value="a,b,c", Type="StringList")
    out = ssm.get_parameters(Names=[base, f"{base}-nope"])
    assert [p["Value"] for p in out["Parameters"]] == ["a,b,c"]
    assert out["Parameters"][0]["Type"] == "StringList"
    assert out["InvalidParameters"] == [f"{base}-nope"]
    deleted = ssm.delete_parameters(Names=[base, f"{base}-nope"])
    assert deleted["DeletedParameters"] == [base]
    assert deleted["InvalidParameters"] == [f"{base}-nope"]
    assert error_of(ssm.delete_parameter, Name=base)[0] == "ParameterNotFound"


def test_validation_errors(client):
    ssm = client("ssm")
    root = f"/{unique('v')}"
    cases = [
        (dict(Name="aws-thing", Value="x", Type="String"), "ValidationException"),
        (dict(Name="/ssm/x", Value="x", Type="String"), "ValidationException"),
        (dict(Name="a/b", Value="x", Type="String"), "ValidationException"),
        (
            dict(Name=root + "/x" * 15, Value="x", Type="String"),
            "HierarchyLevelLimitExceededException",
        ),  # fmt: skip
        (dict(Name=root + "/big", Value="x" * 4097, Type="String"), "ValidationException"),
        (
            dict(Name=root + "/p", Value="abc", Type="String", AllowedPattern="^[0-9]+$"),
            "ParameterPatternMismatchException",
        ),  # fmt: skip
        (
            dict(Name=root + "/ami", Value="not-an-ami", Type="String", DataType="aws:ec2:image"),
            "ValidationException",
        ),  # fmt: skip
        (
            dict(Name=root + "/dt", Value="x", Type="String", DataType="Text"),
            "ValidationException",
        ),  # fmt: skip
    ]
    for kwargs, expected in cases:
        code, _, status = error_of(ssm.put_parameter, **kwargs)
        assert (code, status) == (expected, 400), kwargs
    # 8 KB fits the Advanced tier; an Advanced parameter never goes back to Standard.
    assert ssm.put_parameter(Name=root + "/big", Value="x" * 8000, Type="String",
                             Tier="Advanced")["Tier"] == "Advanced"  # fmt: skip
    code, message, _ = error_of(
        ssm.put_parameter, Name=root + "/big", Value="y", Tier="Standard", Overwrite=True
    )
    assert code == "ValidationException" and "downgrade" in message
    ssm.put_parameter(Name=root + "/ami", Value="ami-0123456789abcdef0", Type="String",
                      DataType="aws:ec2:image")  # fmt: skip
    code, message, _ = error_of(ssm.get_parameters_by_path, Path=root, MaxResults=11)
    assert code == "ValidationException" and "less than or equal to 10" in message
    code, message, _ = error_of(ssm.get_parameters_by_path, Path="no-slash")
    assert code == "ValidationException" and 'must begin with a forward slash "/"' in message
    code, message, _ = error_of(ssm.get_parameter, Name="app/db")
    assert code == "ValidationException" and message.startswith("Parameter name: can't be")
    code, message, _ = error_of(ssm.put_parameter, Name="aws-x", Value="x", Type="String")
    assert message == 'Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive).'
    # Spaces around a name are dropped, as AWS does.
    ssm.put_parameter(Name=f" {root}/trimmed ", Value="x", Type="String")
    assert ssm.get_parameter(Name=f"{root}/trimmed")["Parameter"]["Value"] == "x"


def test_labels_move_and_limit(client):
    ssm = client("ssm")
    name = f"/{unique('lab')}/x"
    for i in range(3):
        ssm.put_parameter(Name=name, Value=f"v{i + 1}", Type="String", Overwrite=i > 0)
    out = ssm.label_parameter_version(
        Name=name, ParameterVersion=1, Labels=["prod", "1bad", "awsx"]
    )
    assert out["InvalidLabels"] == ["1bad", "awsx"] and out["ParameterVersion"] == 1
    assert ssm.get_parameter(Name=f"{name}:prod")["Parameter"]["Value"] == "v1"
    code = error_of(ssm.label_parameter_version, Name=name, ParameterVersion=0, Labels=["x"])[0]
    assert code == "ParameterVersionNotFound"
    ssm.label_parameter_version(Name=name, Labels=["prod"])  # moves to the newest
    assert ssm.get_parameter(Name=f"{name}:prod")["Parameter"]["Value"] == "v3"
    history = ssm.get_parameter_history(Name=name)["Parameters"]
    assert [h["Labels"] for h in history] == [[], [], ["prod"]]
    ssm.label_parameter_version(Name=name, ParameterVersion=2, Labels=[f"l{i}" for i in range(6)])
    code, _, _ = error_of(
        ssm.label_parameter_version, Name=name, ParameterVersion=2,
        Labels=[f"m{i}" for i in range(5)],
    )  # fmt: skip
    assert code == "ParameterVersionLabelLimitExceeded"
    out = ssm.unlabel_parameter_version(Name=name, ParameterVersion=3, Labels=["prod", "nope"])
    assert out["RemovedLabels"] == ["prod"] and out["InvalidLabels"] == ["nope"]
    assert error_of(ssm.get_parameter, Name=f"{name}:prod")[0] == "ParameterVersionNotFound"


def test_hundred_versions_and_a_labelled_oldest(client):
    ssm = client("ssm")
    name = unique("many")
    ssm.put_parameter(Name=name, Value="0", Type="String")
    ssm.label_parameter_version(Name=name, ParameterVersion=1, Labels=["keep"])
    for i in range(1, 100):
        ssm.put_parameter(Name=name, Value=str(i), Overwrite=True)
    code, message, _ = error_of(ssm.put_parameter, Name=name, Value="x", Overwrite=True)
    assert code == "ParameterMaxVersionLimitExceeded" and "Version 1" in message
    ssm.unlabel_parameter_version(Name=name, ParameterVersion=1, Labels=["keep"])
    assert ssm.put_parameter(Name=name, Value="x", Overwrite=True)["Version"] == 101
    assert error_of(ssm.get_parameter, Name=f"{name}:1")[0] == "ParameterVersionNotFound"


def test_paths_recursion_filters_and_paging(client):
    ssm = client("ssm")
    root = f"/{unique('tree')}"
    for leaf in ("a", "b", "c/d", "c/e/f"):
        ssm.put_parameter(Name=f"{root}/{leaf}", Value=leaf, Type="String")
    ssm.put_parameter(Name=f"{root}/s", Value="secret", Type="SecureString")
    flat = ssm.get_parameters_by_path(Path=root)["Parameters"]
    assert sorted(p["Name"] for p in flat) == [f"{root}/{x}" for x in ("a", "b", "s")]
    pages, token = [], None
    while True:
        kwargs = {"NextToken": token} if token else {}
        page = ssm.get_parameters_by_path(Path=root, Recursive=True, MaxResults=2, **kwargs)
        pages.append([p["Name"] for p in page["Parameters"]])
        token = page.get("NextToken")
        if not token:
            break
    assert sum(pages, []) == sorted(f"{root}/{x}" for x in ("a", "b", "c/d", "c/e/f", "s"))
    assert all(len(p) <= 2 for p in pages)
    for bad in ("!!!", "bm90LWEtdG9rZW4"):
        code = error_of(ssm.get_parameters_by_path, Path=root, NextToken=bad)[0]
        assert code == "InvalidNextToken", bad
    secure = ssm.get_parameters_by_path(
        Path=root, ParameterFilters=[{"Key": "Type", "Values": ["SecureString"]}],
        WithDecryption=True,
    )["Parameters"]  # fmt: skip
    assert [(p["Name"], p["Value"]) for p in secure] == [(f"{root}/s", "secret")]
    described = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Path", "Option": "Recursive", "Values": [f"{root}/c"]}]
    )["Parameters"]
    assert [d["Name"] for d in described] == [f"{root}/c/d", f"{root}/c/e/f"]
    names, token = [], None
    while True:
        kwargs = {"NextToken": token} if token else {}
        page = ssm.describe_parameters(
            ParameterFilters=[{"Key": "Path", "Option": "Recursive", "Values": [root]}],
            MaxResults=2,
            **kwargs,
        )
        assert len(page["Parameters"]) <= 2
        names += [p["Name"] for p in page["Parameters"]]
        token = page.get("NextToken")
        if not token:
            break
    assert names == sorted(f"{root}/{x}" for x in ("a", "b", "c/d", "c/e/f", "s"))
    one_level = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Path", "Values": [f"{root}/c"]}]
    )["Parameters"]
    assert [d["Name"] for d in one_level] == [f"{root}/c/d"]
    begins = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": [f"{root}/c/"]}]
    )["Parameters"]
    assert [d["Name"] for d in begins] == [f"{root}/c/d", f"{root}/c/e/f"]
    bad = [
        (ssm.describe_parameters, {"ParameterFilters": [{"Key": "Label", "Values": ["x"]}]},
         "InvalidFilterKey"),
        (ssm.get_parameters_by_path,
         {"Path": root, "ParameterFilters": [{"Key": "Name", "Values": ["x"]}]},
         "InvalidFilterKey"),
        (ssm.describe_parameters,
         {"ParameterFilters": [{"Key": "Type", "Option": "Contains", "Values": ["String"]}]},
         "InvalidFilterOption"),
        (ssm.describe_parameters, {"ParameterFilters": [{"Key": "Path", "Values": ["rel"]}]},
         "InvalidFilterValue"),
    ]  # fmt: skip
    for call, kwargs, expected in bad:
        assert error_of(call, **kwargs)[0] == expected, kwargs


def test_tags(client):
    ssm = client("ssm")
    name = unique("tagged")
    ssm.put_parameter(Name=name, Value="x", Type="String", Tags=[{"Key": "team", "Value": "a"}])
    code, message, _ = error_of(
        ssm.put_parameter, Name=name, Value="y", Overwrite=True, Tags=[{"Key": "k", "Value": "v"}]
    )
    assert code == "ValidationException" and "tags and overwrite" in message
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=name,
                             Tags=[{"Key": "env", "Value": "dev"}])  # fmt: skip
    ssm.remove_tags_from_resource(ResourceType="Parameter", ResourceId=name, TagKeys=["team"])
    tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]
    assert tags == [{"Key": "env", "Value": "dev"}]
    code, _, _ = error_of(ssm.list_tags_for_resource, ResourceType="Parameter", ResourceId="nope-x")
    assert code == "InvalidResourceId"
    status = error_of(ssm.list_tags_for_resource, ResourceType="Document", ResourceId="d")[2]
    assert status == 501
    found = ssm.describe_parameters(ParameterFilters=[{"Key": "tag:env", "Values": ["dev"]}])
    assert name in [p["Name"] for p in found["Parameters"]]


def test_secure_string_round_trip_through_kms(server, client):
    ssm, kms = client("ssm"), client("kms")
    name = f"/{unique('sec')}/password"
    ssm.put_parameter(Name=name, Value="hunter2-plaintext", Type="SecureString")
    hidden = ssm.get_parameter(Name=name)["Parameter"]
    assert hidden["Type"] == "SecureString" and hidden["Value"] != "hunter2-plaintext"
    shown = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
    assert shown["Value"] == "hunter2-plaintext"
    # Under the AWS managed key alias/aws/ssm (created on first use), whose key policy
    # allows its use through SSM only: decrypting directly is refused.
    assert kms.describe_key(KeyId="alias/aws/ssm")["KeyMetadata"]["KeyManager"] == "AWS"
    code, message, _ = error_of(
        kms.decrypt,
        CiphertextBlob=base64.b64decode(hidden["Value"]),
        EncryptionContext={"PARAMETER_ARN": hidden["ARN"]},
    )
    assert code == "AccessDeniedException" and "kms:Decrypt" in message
    meta = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])
    assert meta["Parameters"][0]["KeyId"] == "alias/aws/ssm"
    for db in ("sandlot.db", "sandlot.db-wal"):
        path = server.data_dir / db
        if path.exists():
            assert b"hunter2-plaintext" not in path.read_bytes()
    # Advanced: up to 8 KB, past KMS Encrypt's 4 KB, through a data key (an envelope).
    big = "s" * 8000
    assert ssm.put_parameter(Name=name + "-big", Value=big, Type="SecureString",
                             Tier="Advanced")["Tier"] == "Advanced"  # fmt: skip
    stored = ssm.get_parameter(Name=name + "-big")["Parameter"]["Value"]
    assert big not in stored
    assert ssm.get_parameter(Name=name + "-big", WithDecryption=True)["Parameter"]["Value"] == big
    code, _, _ = error_of(ssm.put_parameter, Name=name + "2", Value="x", Type="SecureString",
                          KeyId="alias/does-not-exist")  # fmt: skip
    assert code == "InvalidKeyId"


def test_iam_denies_get_parameter_and_kms_decrypt(server, client):
    ssm, kms = client("ssm"), client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    name = f"/{unique('iam')}/secret"
    ssm.put_parameter(Name=name, Value="s3cr3t", Type="SecureString", KeyId=key)
    # The value is KMS ciphertext under that key, bound to the parameter's ARN.
    stored = ssm.get_parameter(Name=name)["Parameter"]
    blob = base64.b64decode(stored["Value"])
    context = {"PARAMETER_ARN": stored["ARN"]}
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == b"s3cr3t"
    assert error_of(kms.decrypt, CiphertextBlob=blob)[0] == "InvalidCiphertextException"
    no_ssm = ssm_client(server, client("iam"), "ssm", allow("ssm:DescribeParameters"))
    code, message, _ = error_of(no_ssm.get_parameter, Name=name)
    assert code == "AccessDeniedException"
    assert "ssm:GetParameter" in message and f"parameter{name}" in message
    reader = ssm_client(server, client("iam"), "ssm", allow("ssm:GetParameter"))
    assert reader.get_parameter(Name=name)["Parameter"]["Value"] != "s3cr3t"
    code, message, _ = error_of(reader.get_parameter, Name=name, WithDecryption=True)
    assert code == "AccessDeniedException" and "kms:Decrypt" in message
    assert "(Service: AWSKMS;" in message and "Error Code: AccessDeniedException" in message
    full = ssm_client(server, client("iam"), "ssm", allow("ssm:GetParameter", "kms:Decrypt"))
    assert full.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "s3cr3t"
    # Writing needs kms:Encrypt (Standard) or kms:GenerateDataKey (Advanced) on the key.
    writer = ssm_client(server, client("iam"), "ssm", allow("ssm:PutParameter", "kms:Encrypt"))
    writer.put_parameter(Name=name + "-s", Value="v", Type="SecureString", KeyId=key)
    code, message, _ = error_of(writer.put_parameter, Name=name + "-a", Value="v",
                                Type="SecureString", KeyId=key, Tier="Advanced")  # fmt: skip
    assert code == "AccessDeniedException" and "kms:GenerateDataKey" in message


def test_resource_tags_in_conditions(server, client):
    ssm = client("ssm")
    tagged, other = unique("abac-a"), unique("abac-b")
    ssm.put_parameter(Name=tagged, Value="x", Type="String", Tags=[{"Key": "team", "Value": "a"}])
    ssm.put_parameter(Name=other, Value="y", Type="String")
    policy = allow("ssm:GetParameter")
    policy["Statement"][0]["Condition"] = {"StringEquals": {"aws:ResourceTag/team": "a"}}
    reader = ssm_client(server, client("iam"), "ssm", policy)
    assert reader.get_parameter(Name=tagged)["Parameter"]["Value"] == "x"
    assert error_of(reader.get_parameter, Name=other)[0] == "AccessDeniedException"


def test_unserved_operations_answer_501(client):
    ssm = client("ssm")
    assert error_of(ssm.list_documents)[2] == 501
    policies = '[{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2030-01-01"}}]'
    code, _, status = error_of(ssm.put_parameter, Name=unique("pol"), Value="x", Type="String",
                               Tier="Advanced", Policies=policies)  # fmt: skip
    assert (code, status) == ("NotImplemented", 501)


def test_cli_put_get_and_by_path(server):
    root = f"/{unique('cli')}"
    out = aws(server.endpoint, "ssm", "put-parameter", "--name", f"{root}/a",
              "--value", "one", "--type", "String")  # fmt: skip
    assert out["Version"] == 1
    aws(server.endpoint, "ssm", "put-parameter", "--name", f"{root}/b/c", "--value", "two",
        "--type", "SecureString")  # fmt: skip
    got = aws(server.endpoint, "ssm", "get-parameter", "--name", f"{root}/b/c",
              "--with-decryption")  # fmt: skip
    assert got["Parameter"]["Value"] == "two"
    listed = aws(server.endpoint, "ssm", "get-parameters-by-path", "--path", root,
                 "--recursive")  # fmt: skip
    assert sorted(p["Name"] for p in listed["Parameters"]) == [f"{root}/a", f"{root}/b/c"]


def test_parameters_survive_kill_9(tmp_path):
    server = SandlotServer(tmp_path).start()
    ssm = make_client(server.endpoint, "ssm")
    ssm.put_parameter(Name="/durable/plain", Value="one", Type="String")
    ssm.put_parameter(Name="/durable/plain", Value="two", Overwrite=True)
    ssm.label_parameter_version(Name="/durable/plain", ParameterVersion=1, Labels=["first"])
    ssm.put_parameter(Name="/durable/secret", Value="s3cr3t", Type="SecureString")
    server.kill()
    with SandlotServer(tmp_path) as restarted:
        ssm = make_client(restarted.endpoint, "ssm")
        assert ssm.get_parameter(Name="/durable/plain")["Parameter"]["Value"] == "two"
        assert ssm.get_parameter(Name="/durable/plain:first")["Parameter"]["Value"] == "one"
        secret = ssm.get_parameter(Name="/durable/secret", WithDecryption=True)["Parameter"]
        assert secret["Value"] == "s3cr3t"
