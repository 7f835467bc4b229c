"""`sam sync` (the SAM CLI, unchanged) against sandlot, on one stack the module shares:
the infra sync (a change set in CloudFormation's Express mode), `--code` (the CLI calls
Lambda, API Gateway and Step Functions directly: UpdateFunctionCode, PublishLayerVersion
then UpdateFunctionConfiguration, PublishVersion/UpdateAlias, PutRestApi with a new
deployment and FlushStage(Authorizers)Cache, ReimportApi, UpdateStateMachine), `--watch`
as a subprocess, and the commands that read a deployed stack: `sam logs`, `sam list`,
`sam remote invoke`.

The functions run on this interpreter's Python version: `sam build` needs a
``python3.X`` of the runtime's version on PATH (this venv's is put first)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import cli_env, error_of, make_client
from tests.e2e.http_clients import invoke_url, send
from tests.e2e.stacks import physical_ids
from tests.e2e.tools import sam_cli

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
STACK = "synced"
TEMPLATE = f"""
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
      CompatibleRuntimes: [{RUNTIME}]
    Metadata:
      BuildMethod: {RUNTIME}
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: {RUNTIME}
      Handler: app.handler
      CodeUri: src/
      AutoPublishAlias: live
      Layers: [!Ref Shared]
  Web:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: {RUNTIME}
      Handler: index.handler
      InlineCode: "def handler(event, context):\\n    return {{'statusCode': 200, 'body': 'web'}}\\n"
      FunctionUrlConfig:
        AuthType: NONE
  Rest:
    Type: AWS::Serverless::Api
    Properties:
      StageName: dev
      DefinitionUri: rest.yaml
  Http:
    Type: AWS::Serverless::HttpApi
    Properties:
      DefinitionUri: http.yaml
  Machine:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: machine.json
      Policies: []
Outputs:
  HelloName:
    Value: !Ref Hello
"""
# A REST API answering from a mock integration (its text is the version).
REST = """
swagger: "2.0"
info: {title: synced-rest, version: "1"}
paths:
  /version:
    get:
      x-amazon-apigateway-integration:
        type: mock
        requestTemplates: {application/json: '{"statusCode": 200}'}
        responses: {default: {statusCode: "200", responseTemplates: {application/json: 'rest VERSION'}}}
      responses: {"200": {description: ok}}
"""
HTTP = """
openapi: "3.0.1"
info: {title: synced-http, version: "1"}
paths:
  /ROUTE:
    get:
      x-amazon-apigateway-integration:
        type: http_proxy
        httpMethod: GET
        uri: http://127.0.0.1:9/
        payloadFormatVersion: "1.0"
"""
CODE = """from shared import LAYER

def handler(event, context):
    print("event", event)
    return "VERSION " + LAYER
"""


class App:
    def __init__(self, root: Path, env: dict, sam: Path) -> None:
        self.root, self.env, self.sam = root, env, sam

    def write(self, version: str) -> None:
        """Every source at ``version``."""
        (self.root / "src" / "app.py").write_text(CODE.replace("VERSION", version))
        (self.root / "layer" / "shared.py").write_text(f"LAYER = 'layer {version}'\n")
        (self.root / "rest.yaml").write_text(REST.replace("VERSION", version))
        (self.root / "http.yaml").write_text(HTTP.replace("ROUTE", f"route-{version}"))
        machine = {
            "StartAt": "P",
            "States": {"P": {"Type": "Pass", "Result": version, "End": True}},
        }
        (self.root / "machine.json").write_text(json.dumps(machine))

    def sam_run(self, *args: str, stdin: str = "") -> str:
        done = subprocess.run([str(self.sam), *args], env=self.env, cwd=self.root, input=stdin,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([str(self.sam), *args], env=self.env, cwd=self.root,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)  # fmt: skip


SYNC = ("sync", "--stack-name", STACK, "--s3-bucket", "sync-artifacts", "--no-dependency-layer",
        "--region", "us-east-1")  # fmt: skip


@pytest.fixture(scope="module")
def app(server, tmp_path_factory) -> App:
    sam = sam_cli()
    root = tmp_path_factory.mktemp("samsync")
    (root / "src").mkdir()
    (root / "layer").mkdir()
    (root / "template.yaml").write_text(TEMPLATE)
    env = cli_env(server.endpoint)
    env.update(SAM_CLI_TELEMETRY="0", HOME=str(root / "home"),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}")  # fmt: skip
    os.makedirs(env["HOME"])
    make_client(server.endpoint, "s3").create_bucket(Bucket="sync-artifacts")
    synced = App(root, env, sam)
    synced.write("v1")
    # The first sync of a stack asks to confirm that sync is for development stacks.
    out = synced.sam_run(*SYNC, stdin="y\n")
    assert "Stack creation succeeded. Sync infra completed." in out, out
    return synced


def _name(server) -> str:
    cfn = make_client(server.endpoint, "cloudformation")
    outputs = cfn.describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"]
    return {o["OutputKey"]: o["OutputValue"] for o in outputs}["HelloName"]


def _invoke(server, target: str) -> str:
    answer = make_client(server.endpoint, "lambda").invoke(FunctionName=target)
    return json.loads(answer["Payload"].read())


def _live(server, app: App, version: str) -> dict[str, object]:
    """What each synced resource serves now."""
    ids = physical_ids(make_client(server.endpoint, "cloudformation"), STACK)
    rest = send(server.endpoint, "GET", invoke_url(server, ids["Rest"], "/dev/version"))
    routes = make_client(server.endpoint, "apigatewayv2").get_routes(ApiId=ids["Http"])
    sfn = make_client(server.endpoint, "stepfunctions")
    definition = json.loads(
        sfn.describe_state_machine(stateMachineArn=ids["Machine"])["definition"]
    )
    return {
        "latest": _invoke(server, _name(server)),
        "rest": rest.body.decode(),
        "routes": [r["RouteKey"] for r in routes["Items"]],
        "machine": definition["States"]["P"]["Result"],
    }


def test_infra_sync_creates_the_stack(server, app) -> None:
    cfn = make_client(server.endpoint, "cloudformation")
    assert cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    assert _live(server, app, "v1") == {
        "latest": "v1 layer v1", "rest": "rest v1", "routes": ["GET /route-v1"], "machine": "v1",
    }  # fmt: skip
    assert _invoke(server, _name(server) + ":live") == "v1 layer v1"
    # The layer came from the template (AWS::Lambda::LayerVersion, named by SAM).
    versions = make_client(server.endpoint, "lambda").list_layer_versions(LayerName="Shared")
    assert [v["Version"] for v in versions["LayerVersions"]] == [1]


def test_code_sync_updates_every_resource_without_cloudformation(server, app) -> None:
    cfn = make_client(server.endpoint, "cloudformation")
    events_before = len(cfn.describe_stack_events(StackName=STACK)["StackEvents"])
    app.write("v2")
    out = app.sam_run(*SYNC, "--code")
    for finished in ("Lambda Function Hello", "Layer Shared", "RestApi Rest", "HttpApi Http",
                     "StepFunctions Machine"):  # fmt: skip
        assert f"Finished syncing {finished}." in out, out
    assert _live(server, app, "v2") == {
        "latest": "v2 layer v2", "rest": "rest v2", "routes": ["GET /route-v2"], "machine": "v2",
    }  # fmt: skip
    # AutoPublishAlias: the code change published a version the alias points to.
    assert _invoke(server, _name(server) + ":live").startswith("v2 ")
    # The new layer version replaced the old one (SAM deletes the version it replaced).
    versions = make_client(server.endpoint, "lambda").list_layer_versions(LayerName="Shared")
    assert [v["Version"] for v in versions["LayerVersions"]] == [2]
    # No stack operation ran.
    assert len(cfn.describe_stack_events(StackName=STACK)["StackEvents"]) == events_before


def test_watch_syncs_a_saved_change(server, app) -> None:
    watch = app.popen(*SYNC, "--watch")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(watch.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not any("infra sync" in line.lower() and ("completed" in line or "Skipped" in line)
                      for line in lines):  # fmt: skip
            assert watch.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.2)
        # A save: watchdog sees the file change. (A save landing while the syncs the
        # watch queued at start are running can be merged into them and missed: save
        # again until it is live.)
        deadline = time.monotonic() + 60
        saved = 0.0
        while not _invoke(server, _name(server)).startswith("v3 "):
            assert watch.poll() is None and time.monotonic() < deadline, "".join(lines)
            if time.monotonic() - saved > 5:
                (app.root / "src" / "app.py").write_text(CODE.replace("VERSION", "v3"))
                saved = time.monotonic()
            time.sleep(0.2)
    finally:
        watch.terminate()
        watch.wait(30)
    assert "Finished syncing Lambda Function Hello." in "".join(lines)


def test_logs_of_a_stack_function_and_tail(server, app) -> None:
    marker = f"logged-{time.time_ns()}"
    name = _name(server)
    make_client(server.endpoint, "lambda").invoke(FunctionName=name, Payload=b"{}")
    out = app.sam_run("logs", "-n", "Hello", "--stack-name", STACK, "--region", "us-east-1")
    assert "REPORT RequestId" in out, out
    # --tail follows new lines (the CLI polls FilterLogEvents).
    tail = app.popen("logs", "-n", "Hello", "--stack-name", STACK, "--tail", "--region",
                     "us-east-1")  # fmt: skip
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(tail.stdout), daemon=True).start()
    try:
        lam = make_client(server.endpoint, "lambda")
        deadline = time.monotonic() + 60
        while not any(marker in line for line in lines):
            assert tail.poll() is None and time.monotonic() < deadline, "".join(lines)
            # The function prints its event: each round logs the marker again.
            lam.invoke(FunctionName=name, Payload=json.dumps({"marker": marker}).encode(),
                       LogType="None")  # fmt: skip
            time.sleep(1)
    finally:
        tail.terminate()
        tail.wait(10)


def test_list_and_remote_invoke(server, app) -> None:
    outputs = json.loads(app.sam_run("list", "stack-outputs", "--stack-name", STACK, "--output",
                                     "json", "--region", "us-east-1"))  # fmt: skip
    assert outputs == [{"OutputKey": "HelloName", "OutputValue": _name(server), "Description": ""}]
    resources = json.loads(app.sam_run("list", "resources", "--stack-name", STACK, "--output",
                                       "json", "--region", "us-east-1"))  # fmt: skip
    deployed = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
    assert deployed["Hello"] == _name(server)
    assert (
        deployed["Rest"]
        == physical_ids(make_client(server.endpoint, "cloudformation"), STACK)["Rest"]
    )
    out = app.sam_run("remote", "invoke", "Hello", "--stack-name", STACK, "--event",
                      '{"from": "remote invoke"}', "--region", "us-east-1")  # fmt: skip
    assert "layer v" in out and "REPORT RequestId" in out, out


def test_list_endpoints_reads_function_urls_through_cloud_control(server, app) -> None:
    """`sam list endpoints` asks Cloud Control's GetResource for each function's
    AWS::Lambda::Url (by the function's name: a URL on an alias shows "-", as on AWS);
    the API URLs it prints are AWS's form, which the CLI builds itself."""
    out = app.sam_run("list", "endpoints", "--stack-name", STACK, "--output", "json", "--region",
                      "us-east-1")  # fmt: skip
    endpoints = {e["LogicalResourceId"]: e["CloudEndpoint"] for e in json.loads(out)}
    lam = make_client(server.endpoint, "lambda")
    web = physical_ids(make_client(server.endpoint, "cloudformation"), STACK)["Web"]
    url = lam.get_function_url_config(FunctionName=web)["FunctionUrl"]
    assert endpoints["Web"] == url
    assert endpoints["Hello"] == "-"
    answer = send(server.endpoint, "GET", url)
    assert (answer.status, answer.body) == (200, b"web")
    ids = physical_ids(make_client(server.endpoint, "cloudformation"), STACK)
    assert any(ids["Rest"] in e for e in endpoints["Rest"])
    # Cloud Control itself: a missing URL, a type that cannot be read.
    cc = make_client(server.endpoint, "cloudcontrol")
    with pytest.raises(cc.exceptions.ResourceNotFoundException):
        cc.get_resource(TypeName="AWS::Lambda::Url", Identifier=_name(server))
    with pytest.raises(cc.exceptions.UnsupportedActionException):
        cc.get_resource(TypeName="AWS::S3::Bucket", Identifier="sync-artifacts")
    with pytest.raises(cc.exceptions.TypeNotFoundException):
        cc.get_resource(TypeName="AWS::No::Such", Identifier="x")


def test_pipeline_bootstrap_creates_its_stack(server, app, tmp_path) -> None:
    """`sam pipeline bootstrap` with an existing artifacts bucket (the non-interactive
    flags) creates the stage's stack: a pipeline IAM user whose access key lands in a
    Secrets Manager secret, and the pipeline and CloudFormation execution roles; the
    user's key assumes the pipeline execution role. (Without --bucket: the next test.)"""
    make_client(server.endpoint, "s3").create_bucket(Bucket="pipeline-artifacts")
    done = subprocess.run(
        [str(app.sam), "pipeline", "bootstrap", "--stage", "dev", "--no-interactive",
         "--no-confirm-changeset", "--bucket", "arn:aws:s3:::pipeline-artifacts",
         "--no-create-image-repository", "--region", "us-east-1"],
        env=app.env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Successfully created!" in done.stdout
    cfn = make_client(server.endpoint, "cloudformation")
    name = "aws-sam-cli-managed-dev-pipeline-resources"
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    config = (tmp_path / ".aws-sam" / "pipeline" / "pipelineconfig.toml").read_text()
    ids = physical_ids(cfn, name)
    iam = make_client(server.endpoint, "iam")
    user = iam.get_user(UserName=ids["PipelineUser"])["User"]["Arn"]
    assert f'"{user}"' in config
    for logical in ("PipelineExecutionRole", "CloudFormationExecutionRole"):
        assert f'"{iam.get_role(RoleName=ids[logical])["Role"]["Arn"]}"' in config
    # The secret holds the user's key, which the pipeline uses to assume its role.
    secret = make_client(server.endpoint, "secretsmanager").get_secret_value(
        SecretId=ids["PipelineUserSecretKey"]
    )
    keys = json.loads(secret["SecretString"])
    assert keys["aws_access_key_id"] == ids["PipelineUserAccessKey"]
    sts = make_client(server.endpoint, "sts", key=keys["aws_access_key_id"],
                      secret=keys["aws_secret_access_key"])  # fmt: skip
    assert sts.get_caller_identity()["Arn"] == user
    role = iam.get_role(RoleName=ids["PipelineExecutionRole"])["Role"]["Arn"]
    assumed = sts.assume_role(RoleArn=role, RoleSessionName="pipeline")["AssumedRoleUser"]
    assert assumed["Arn"].startswith(
        role.replace(":iam:", ":sts:").replace(":role/", ":assumed-role/")
    )


def test_pipeline_bootstrap_creates_its_buckets(server, app, tmp_path) -> None:
    """`sam pipeline bootstrap` without --bucket creates the artifacts bucket and its
    access-logging bucket too: the latter is ObjectWriter with the LogDeliveryWrite ACL,
    which S3 then answers."""
    done = subprocess.run(
        [str(app.sam), "pipeline", "bootstrap", "--stage", "prod", "--no-interactive",
         "--no-confirm-changeset", "--no-create-image-repository", "--region", "us-east-1"],
        env=app.env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    cfn = make_client(server.endpoint, "cloudformation")
    name = "aws-sam-cli-managed-prod-pipeline-resources"
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    ids = physical_ids(cfn, name)
    s3 = make_client(server.endpoint, "s3")
    config = (tmp_path / ".aws-sam" / "pipeline" / "pipelineconfig.toml").read_text()
    assert f'artifacts_bucket = "{ids["ArtifactsBucket"]}"' in config
    logs = ids["ArtifactsLoggingBucket"]
    # Its policy denies everything over plain HTTP (aws:SecureTransport false), as here;
    # the owner's root may always remove a bucket policy.
    assert error_of(s3.get_bucket_acl, Bucket=logs)["Code"] == "AccessDenied"
    s3.delete_bucket_policy(Bucket=logs)
    rules = s3.get_bucket_ownership_controls(Bucket=logs)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "ObjectWriter"}]
    grants = s3.get_bucket_acl(Bucket=logs)["Grants"]
    log_delivery = "http://acs.amazonaws.com/groups/s3/LogDelivery"
    assert {(g["Grantee"].get("URI"), g["Permission"]) for g in grants} >= {
        (log_delivery, "WRITE"), (log_delivery, "READ_ACP")
    }  # fmt: skip
