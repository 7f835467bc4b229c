"""The AWS CDK CLI, unchanged, against sandlot: ``cdk bootstrap`` of the stock
CDKToolkit template, then ``cdk deploy`` of a JavaScript app with a Lambda function (its
asset uploaded by the CLI through the file-publishing role) granted write access to an
``aws_dynamodb.Table``, an invoke that writes to the table, a code change
deployed, and ``cdk destroy``.

The CLI talks to sandlot's HTTPS endpoint, trusting sandlot's CA through
``AWS_CA_BUNDLE``: the stock template's staging bucket policy denies requests with
``aws:SecureTransport`` false, and its lifecycle rules (noncurrent versions, incomplete
uploads) are S3 lifecycle configuration sandlot executes.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import make_client
from tests.e2e.tools import cdk_modules

APP = """
const cdk = require('aws-cdk-lib');
const lambda = require('aws-cdk-lib/aws-lambda');
const dynamodb = require('aws-cdk-lib/aws-dynamodb');
const path = require('path');
const app = new cdk.App();
const stack = new cdk.Stack(app, 'HelloCdk', { env: { account: '000000000000', region: 'us-east-1' } });
const table = new dynamodb.Table(stack, 'Visits', {
  partitionKey: { name: 'name', type: dynamodb.AttributeType.STRING },
  billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
  removalPolicy: cdk.RemovalPolicy.DESTROY,
});
const fn = new lambda.Function(stack, 'Hello', {
  runtime: lambda.Runtime.PYTHON_3_12,
  handler: 'index.handler',
  code: lambda.Code.fromAsset(path.join(__dirname, 'handler')),
  environment: { TABLE: table.tableName },
});
table.grantReadWriteData(fn);
new cdk.CfnOutput(stack, 'FunctionName', { value: fn.functionName });
new cdk.CfnOutput(stack, 'TableName', { value: table.tableName });
"""
# Records each name it greets in the table the app grants it.
HANDLER = """import os, boto3
def handler(event, context):
    name = event.get("name", "world")
    boto3.resource("dynamodb").Table(os.environ["TABLE"]).put_item(Item={"name": name})
    return {"hello": name}
"""
TOOLKIT_BUCKET = "cdk-hnb659fds-assets-000000000000-us-east-1"


@pytest.fixture(scope="module")
def modules() -> Path:
    return cdk_modules()


def _cdk(modules: Path, server, cwd: Path, *args: str, timeout: float = 300):
    env = {
        **os.environ, "AWS_ENDPOINT_URL": server.https_endpoint,
        "AWS_CA_BUNDLE": server.ca_path, "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1", "CDK_DISABLE_CLI_TELEMETRY": "true",
        "NODE_PATH": str(modules),
    }  # fmt: skip
    command = [str(modules / ".bin" / "cdk"), *args, "--no-notices", "--no-color"]
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _wait(cfn, name: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS"):
            return stack
        time.sleep(0.1)
    raise AssertionError(f"{name} stuck in {stack['StackStatus']}")


def _https_s3(server):
    return boto3.session.Session().client(
        "s3", endpoint_url=server.https_endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test", verify=server.ca_path,
    )  # fmt: skip


def test_stock_bootstrap_over_https(server, modules, tmp_path) -> None:
    done = _cdk(modules, server, tmp_path, "bootstrap", "aws://000000000000/us-east-1")
    assert done.returncode == 0, done.stdout + done.stderr
    cfn = make_client(server.endpoint, "cloudformation")
    assert cfn.describe_stacks(StackName="CDKToolkit")["Stacks"][0]["StackStatus"] == (
        "CREATE_COMPLETE"
    )
    rules = _https_s3(server).get_bucket_lifecycle_configuration(Bucket=TOOLKIT_BUCKET)["Rules"]
    assert {"NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload"} <= {
        action for rule in rules for action in rule
    }
    # The staging bucket's policy refuses plain HTTP, as on AWS.
    with pytest.raises(ClientError) as caught:
        make_client(server.endpoint, "s3").list_objects_v2(Bucket=TOOLKIT_BUCKET)
    assert caught.value.response["Error"]["Code"] == "AccessDenied"


def test_bootstrap_deploy_invoke_destroy(server, modules, tmp_path) -> None:
    done = _cdk(modules, server, tmp_path, "bootstrap", "aws://000000000000/us-east-1")
    assert done.returncode == 0, done.stdout + done.stderr
    ecr = make_client(server.endpoint, "ecr")
    (repo,) = ecr.describe_repositories(
        repositoryNames=["cdk-hnb659fds-container-assets-000000000000-us-east-1"]
    )["repositories"]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    ssm = make_client(server.endpoint, "ssm")
    assert ssm.get_parameter(Name="/cdk-bootstrap/hnb659fds/version")["Parameter"]["Value"]
    # Bootstrapping again updates through a change set (the CLI first deletes a change set
    # of the name it will use, which succeeds whether or not it exists).
    again = _cdk(modules, server, tmp_path, "bootstrap", "aws://000000000000/us-east-1")
    assert again.returncode == 0, again.stdout + again.stderr

    app = tmp_path / "app"
    (app / "handler").mkdir(parents=True)
    (app / "app.js").write_text(APP)
    (app / "handler" / "index.py").write_text(HANDLER)
    (app / "cdk.json").write_text(json.dumps({"app": "node app.js"}))
    started = time.monotonic()
    deployed = _cdk(modules, server, app, "deploy", "--require-approval", "never")
    seconds = time.monotonic() - started
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    # docs/performance.md: the wall time, and the CLI's own split (synthesis, deployment).
    timings = [line.strip() for line in (deployed.stdout + deployed.stderr).splitlines()
               if "time:" in line]  # fmt: skip
    print(f"cdk deploy wall time: {seconds:.1f} s;", "; ".join(timings))
    cfn = make_client(server.endpoint, "cloudformation")
    stack = cfn.describe_stacks(StackName="HelloCdk")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    name, table = outputs["FunctionName"], outputs["TableName"]
    lam = make_client(server.endpoint, "lambda")
    answer = lam.invoke(FunctionName=name, Payload=b'{"name": "cdk"}')
    assert json.loads(answer["Payload"].read()) == {"hello": "cdk"}
    # The function wrote to the aws_dynamodb.Table through the grant CDK made.
    ddb = make_client(server.endpoint, "dynamodb")
    assert ddb.get_item(TableName=table, Key={"name": {"S": "cdk"}})["Item"] == {
        "name": {"S": "cdk"}
    }
    # The code came from the asset the CLI uploaded to the bootstrap bucket.
    assets = _https_s3(server).list_objects_v2(Bucket=TOOLKIT_BUCKET)
    assert any(o["Key"].endswith(".zip") for o in assets.get("Contents", []))

    # A code change: a new asset, the stack updated in place (its BootstrapVersion
    # parameter, an SSM-typed one, passed with UsePreviousValue).
    (app / "handler" / "index.py").write_text(HANDLER.replace('"hello"', '"hi"'))
    redeployed = _cdk(modules, server, app, "deploy", "--require-approval", "never")
    assert redeployed.returncode == 0, redeployed.stdout + redeployed.stderr
    assert (
        cfn.describe_stacks(StackName="HelloCdk")["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    )
    answer = lam.invoke(FunctionName=name, Payload=b'{"name": "cdk"}')
    assert json.loads(answer["Payload"].read()) == {"hi": "cdk"}

    destroyed = _cdk(modules, server, app, "destroy", "--force")
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert _wait(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"
    assert name not in [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    assert table not in ddb.list_tables()["TableNames"]  # RemovalPolicy.DESTROY
