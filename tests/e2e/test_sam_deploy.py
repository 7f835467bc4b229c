"""`sam deploy` and `sam delete` (the SAM CLI, unchanged) against sandlot's CloudFormation:
packaging to S3 (a bucket given with --s3-bucket; --resolve-s3's managed stack is created,
but its bucket policy refuses non-TLS uploads), the server-side SAM transform (the template goes by TemplateURL), an
update in place on a code change, "No changes to deploy", and deletion."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.e2e.conftest import cli_env, make_client
from tests.e2e.tools import sam_cli

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      CodeUri: src/
Outputs:
  HelloName:
    Value: !Ref Hello
"""


@pytest.fixture(scope="module")
def sam():
    return sam_cli()


def test_sam_deploy_update_no_changes_and_delete(server, sam, tmp_path) -> None:
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    (tmp_path / "src").mkdir()
    code = tmp_path / "src" / "app.py"
    code.write_text("def handler(event, context):\n    return 'hello v1'\n")
    env = cli_env(server.endpoint)
    env.update(SAM_CLI_TELEMETRY="0", HOME=str(tmp_path / "home"))
    os.makedirs(env["HOME"])

    def sam_run(*args: str) -> str:
        done = subprocess.run([str(sam), *args], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    make_client(server.endpoint, "s3").create_bucket(Bucket="sam-artifacts")
    deploy = ("deploy", "--stack-name", "samapp", "--s3-bucket", "sam-artifacts", "--capabilities", "CAPABILITY_IAM",
              "--no-confirm-changeset", "--region", "us-east-1")  # fmt: skip
    out = sam_run(*deploy)
    assert "Successfully created/updated stack - samapp in us-east-1" in out
    cfn, lam = (
        make_client(server.endpoint, "cloudformation"),
        make_client(server.endpoint, "lambda"),
    )
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in cfn.describe_stacks(StackName="samapp")["Stacks"][0]["Outputs"]
    }
    name = outputs["HelloName"]
    assert json.loads(lam.invoke(FunctionName=name)["Payload"].read()) == "hello v1"

    code.write_text("def handler(event, context):\n    return 'hello v2'\n")
    out = sam_run(*deploy)
    assert "Modify" in out and "Successfully created/updated stack" in out
    assert (
        json.loads(lam.invoke(FunctionName=name)["Payload"].read()) == "hello v2"
    )  # same function

    out = sam_run(*deploy, "--no-fail-on-empty-changeset")
    assert "No changes to deploy. Stack samapp is up to date" in out

    sam_run("delete", "--stack-name", "samapp", "--no-prompts", "--region", "us-east-1")
    assert not [s for s in cfn.list_stacks(StackStatusFilter=["CREATE_COMPLETE", "UPDATE_COMPLETE"])["StackSummaries"]
                if s["StackName"] == "samapp"]  # fmt: skip
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=name)


def test_sam_deploy_resolve_s3_managed_stack(server, sam, tmp_path) -> None:
    """--resolve-s3 creates SAM's managed stack (aws-sam-cli-managed-default: a versioned,
    SSE-KMS-encrypted bucket whose policy denies requests not made over TLS). sandlot
    over plain HTTP that policy refuses the upload, as AWS refuses an HTTP request
    (aws:SecureTransport false); over HTTPS (below) the deploy succeeds."""
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def handler(event, context):\n    return 'hi'\n")
    env = cli_env(server.endpoint)
    env.update(SAM_CLI_TELEMETRY="0", HOME=str(tmp_path / "home"))
    os.makedirs(env["HOME"])
    done = subprocess.run(
        [str(sam), "deploy", "--stack-name", "resolved", "--resolve-s3", "--capabilities",
         "CAPABILITY_IAM", "--no-confirm-changeset", "--region", "us-east-1"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert "explicit deny in a resource-based policy" in output, output
    cfn = make_client(server.endpoint, "cloudformation")
    managed = cfn.describe_stacks(StackName="aws-sam-cli-managed-default")["Stacks"][0]
    assert managed["StackStatus"] == "CREATE_COMPLETE"
    resources = cfn.describe_stack_resources(StackName="aws-sam-cli-managed-default")
    statuses = {r["LogicalResourceId"]: r["ResourceStatus"] for r in resources["StackResources"]}
    assert statuses == {
        "SamCliSourceBucket": "CREATE_COMPLETE",
        "SamCliSourceBucketBucketPolicy": "CREATE_COMPLETE",
    }


def test_sam_deploy_resolve_s3_over_https(server, sam, tmp_path) -> None:
    """The same --resolve-s3 deploy against sandlot's HTTPS endpoint with its CA in
    AWS_CA_BUNDLE: the managed bucket's TLS-only policy admits the upload."""
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def handler(event, context):\n    return 'tls'\n")
    env = cli_env(server.https_endpoint)
    env.update(SAM_CLI_TELEMETRY="0", HOME=str(tmp_path / "home"), AWS_CA_BUNDLE=server.ca_path)
    os.makedirs(env["HOME"])
    done = subprocess.run(
        [str(sam), "deploy", "--stack-name", "resolved-tls", "--resolve-s3", "--capabilities",
         "CAPABILITY_IAM", "--no-confirm-changeset", "--region", "us-east-1"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Successfully created/updated stack - resolved-tls in us-east-1" in output
    cfn = make_client(server.endpoint, "cloudformation")
    outputs = cfn.describe_stacks(StackName="resolved-tls")["Stacks"][0]["Outputs"]
    name = {o["OutputKey"]: o["OutputValue"] for o in outputs}["HelloName"]
    payload = make_client(server.endpoint, "lambda").invoke(FunctionName=name)["Payload"]
    assert json.loads(payload.read()) == "tls"
