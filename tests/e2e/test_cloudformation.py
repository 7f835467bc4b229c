"""CloudFormation end to end with boto3: a stack of a role, a function, a queue and the
event source mapping between them creates, updates in place and by replacement, rolls
back on a failing resource, and deletes; template errors answer AWS's messages."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import make_client
from tests.e2e.stacks import physical_ids, settled, stack_events

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Description: role, function, queue and mapping
Parameters:
  Env:
    Type: String
    AllowedValues: [dev, prod]
    Default: dev
  Retention:
    Type: Number
    Default: 345600
Mappings:
  Sizes:
    dev: {Memory: 128}
    prod: {Memory: 256}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
      MessageRetentionPeriod: !Ref Retention
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - {Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}
      ManagedPolicyArns:
        - arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Role: !GetAtt Role.Arn
      MemorySize: !FindInMap [Sizes, !Ref Env, Memory]
      Environment:
        Variables:
          QUEUE: !Ref Queue
          MODE: !If [IsProd, production, !Ref "AWS::NoValue"]
      Code:
        ZipFile: |
          import os
          def handler(event, context):
              return {"queue": os.environ["QUEUE"], "mode": os.environ.get("MODE", "none")}
  Mapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      FunctionName: !Ref Fn
      EventSourceArn: !GetAtt Queue.Arn
      BatchSize: 5
  ProdOnly:
    Type: AWS::SSM::Parameter
    Condition: IsProd
    Properties:
      Type: String
      Value: !Sub "${AWS::StackName}-${Env}"
Outputs:
  QueueUrl:
    Value: !Ref Queue
    Export: {Name: !Sub "${AWS::StackName}-queue"}
  FunctionArn:
    Value: !GetAtt Fn.Arn
"""

DONE = ("COMPLETE", "FAILED")


@pytest.fixture(scope="module")
def cfn(server):
    return make_client(server.endpoint, "cloudformation")


def test_create_update_replace_and_delete(cfn, client) -> None:
    stack_id = cfn.create_stack(
        StackName="app", TemplateBody=TEMPLATE, Capabilities=["CAPABILITY_IAM"]
    )["StackId"]
    assert stack_id.startswith("arn:aws:cloudformation:us-east-1:000000000000:stack/app/")
    stack = settled(cfn, "app")
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack_events(cfn, "app")
    outputs = {o["OutputKey"]: o for o in stack["Outputs"]}
    ids = physical_ids(cfn, "app")
    assert set(ids) == {"Queue", "Role", "Fn", "Mapping"}  # ProdOnly's condition is false
    assert outputs["QueueUrl"]["OutputValue"] == ids["Queue"]
    assert outputs["QueueUrl"]["ExportName"] == "app-queue"
    assert ids["Fn"].startswith("app-Fn-") and ids["Role"].startswith("app-Role-")
    # The resources are real: the function runs with the queue in its environment.
    lam = client("lambda")
    config = lam.get_function_configuration(FunctionName=ids["Fn"])
    assert config["MemorySize"] == 128 and config["Role"].endswith("/" + ids["Role"])
    assert config["Environment"]["Variables"] == {"QUEUE": ids["Queue"]}
    result = json.loads(lam.invoke(FunctionName=ids["Fn"])["Payload"].read())
    assert result == {"queue": ids["Queue"], "mode": "none"}
    assert lam.get_event_source_mapping(UUID=ids["Mapping"])["BatchSize"] == 5
    log = stack_events(cfn, "app")
    assert log[0] == ("app", "CREATE_IN_PROGRESS", "User Initiated")
    assert log[-1] == ("app", "CREATE_COMPLETE", "")
    order = [name for name, status, _ in log if status == "CREATE_COMPLETE"]
    assert order.index("Role") < order.index("Fn") < order.index("Mapping")
    assert order.index("Queue") < order.index("Mapping")
    exports = [e for e in cfn.list_exports()["Exports"] if e["Name"] == "app-queue"]
    assert exports == [{"ExportingStackId": stack_id, "Name": "app-queue", "Value": ids["Queue"]}]

    # In place: prod changes the memory, the environment and adds the conditional parameter.
    cfn.update_stack(
        StackName="app", UsePreviousTemplate=True, Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": "Env", "ParameterValue": "prod"},
                    {"ParameterKey": "Retention", "UsePreviousValue": True}],
    )  # fmt: skip
    stack = settled(cfn, "app")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", stack_events(cfn, "app")
    after = physical_ids(cfn, "app")
    assert {k: after[k] for k in ids} == ids  # nothing replaced
    assert client("ssm").get_parameter(Name=after["ProdOnly"])["Parameter"]["Value"] == "app-prod"
    config = lam.get_function_configuration(FunctionName=ids["Fn"])
    assert (
        config["MemorySize"] == 256 and config["Environment"]["Variables"]["MODE"] == "production"
    )
    with pytest.raises(ClientError) as raised:
        cfn.update_stack(StackName="app", UsePreviousTemplate=True, Capabilities=["CAPABILITY_IAM"],
                         Parameters=[{"ParameterKey": "Env", "UsePreviousValue": True},
                                     {"ParameterKey": "Retention", "UsePreviousValue": True}])  # fmt: skip
    assert raised.value.response["Error"]["Message"] == "No updates are to be performed."

    # Replacement: a queue name is create-only (AWS's schema), so a new queue is made,
    # the mapping (whose EventSourceArn is create-only too) follows, the old queue goes.
    renamed = TEMPLATE.replace(
        "VisibilityTimeout: 60", "VisibilityTimeout: 60\n      QueueName: app-renamed"
    )
    cfn.update_stack(StackName="app", TemplateBody=renamed, Capabilities=["CAPABILITY_IAM"],
                     Parameters=[{"ParameterKey": "Env", "ParameterValue": "prod"}])  # fmt: skip
    stack = settled(cfn, "app")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", stack_events(cfn, "app")
    replaced = physical_ids(cfn, "app")
    assert replaced["Queue"].endswith("/app-renamed") and replaced["Mapping"] != ids["Mapping"]
    assert replaced["Fn"] == ids["Fn"]
    sqs = client("sqs")
    with pytest.raises(ClientError):
        sqs.get_queue_attributes(QueueUrl=ids["Queue"])
    log = stack_events(cfn, "app")
    cleanup = log.index(("app", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", ""))
    assert log[-1] == ("app", "UPDATE_COMPLETE", "")
    # The old queue and mapping go only once the stack has moved to the new ones.
    assert {e[0] for e in log[cleanup:] if e[1] == "DELETE_COMPLETE"} == {"Queue", "Mapping"}

    cfn.delete_stack(StackName="app")
    gone = settled(cfn, stack_id)
    assert gone["StackStatus"] == "DELETE_COMPLETE"
    with pytest.raises(ClientError) as raised:
        cfn.describe_stacks(StackName="app")
    assert raised.value.response["Error"]["Message"] == "Stack with id app does not exist"
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=ids["Fn"])
    with pytest.raises(ClientError):
        client("iam").get_role(RoleName=ids["Role"])


FAILING = """
Resources:
  Good:
    Type: AWS::SQS::Queue
  Param:
    Type: AWS::SSM::Parameter
    Properties: {Type: String, Value: !GetAtt Good.QueueName}
  Bad:
    Type: AWS::SQS::Queue
    DependsOn: Param
    Properties:
      QueueName: not-fifo
      FifoQueue: true
"""


def test_a_failing_resource_rolls_back_leaving_nothing(cfn, client) -> None:
    cfn.create_stack(StackName="broken", TemplateBody=FAILING)
    stack = settled(cfn, "broken")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    log = stack_events(cfn, "broken")
    failed = [e for e in log if e[1] == "CREATE_FAILED"]
    assert [e[0] for e in failed] == ["Bad"] and "fifo" in failed[0][2].lower()
    assert ("broken", "ROLLBACK_IN_PROGRESS",
            "The following resource(s) failed to create: [Bad]. Rollback requested by user.") in log  # fmt: skip
    assert log[-1] == ("broken", "ROLLBACK_COMPLETE", "")
    deleted = [e[0] for e in log if e[1] == "DELETE_COMPLETE"]
    assert deleted.index("Param") < deleted.index("Good")  # dependents first
    assert not any("broken-Good" in url for url in client("sqs").list_queues().get("QueueUrls", []))
    assert cfn.list_stack_resources(StackName="broken")["StackResourceSummaries"] == []
    cfn.delete_stack(StackName="broken")
    assert settled(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"


def test_an_unserved_type_fails_naming_it(cfn) -> None:
    body = json.dumps({"Resources": {"T": {"Type": "AWS::RDS::DBInstance", "Properties": {}}}})
    cfn.create_stack(StackName="unserved", TemplateBody=body)
    assert settled(cfn, "unserved")["StackStatus"] == "ROLLBACK_COMPLETE"
    failed = [e for e in stack_events(cfn, "unserved") if e[1] == "CREATE_FAILED"]
    assert failed == [
        ("T", "CREATE_FAILED", "Resource type AWS::RDS::DBInstance is not supported by sandlot")
    ]


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ("Resources:\n  A:\n    Type: AWS::SQS::Queue\n    Properties: {QueueName: !Ref Nope}\n",
         "ValidationError",
         "Template format error: Unresolved resource dependencies [Nope] in the Resources block of the template"),
        ("Resources:\n  A: {Type: AWS::SQS::Queue, DependsOn: B}\n  B: {Type: AWS::SQS::Queue, DependsOn: A}\n",
         "ValidationError", "Circular dependency between resources: [A, B]"),
        ("Resources:\n  A: {Type: AWS::Nope::Thing}\n",
         "ValidationError", "Template format error: Unrecognized resource types: [AWS::Nope::Thing]"),
        ("Resources:\n  A: {Type: AWS::SQS::Queue}\n  B: {Type: AWS::SQS::Queue, Properties: {X: !GetAtt A.Nope}}\n",
         "ValidationError", "Template error: resource A does not support attribute type Nope in Fn::GetAtt"),
        ("Parameters:\n  P: {Type: String}\nResources:\n  A: {Type: AWS::SQS::Queue}\n",
         "ValidationError", "Parameters: [P] must have values"),
        ("Resources:\n  R:\n    Type: AWS::IAM::Role\n    Properties: {AssumeRolePolicyDocument: {}}\n",
         "InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_IAM]"),
        ("Resources:\n  R:\n    Type: AWS::IAM::Role\n    Properties: {RoleName: r, AssumeRolePolicyDocument: {}}\n",
         "InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_NAMED_IAM]"),
    ],
)  # fmt: skip
def test_template_errors(cfn, body, code, message) -> None:
    with pytest.raises(ClientError) as raised:
        cfn.create_stack(StackName="invalid", TemplateBody=body)
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["Error"]["Message"] == message


def test_stack_name_rules(cfn) -> None:
    with pytest.raises(ClientError) as raised:
        cfn.create_stack(
            StackName="bad_name", TemplateBody="Resources:\n  Q: {Type: AWS::SQS::Queue}\n"
        )
    assert raised.value.response["Error"]["Message"] == (
        "1 validation error detected: Value 'bad_name' at 'stackName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*"
    )


def test_validate_template_and_summary(cfn) -> None:
    summary = cfn.validate_template(TemplateBody=TEMPLATE)
    assert summary["Description"] == "role, function, queue and mapping"
    assert summary["Capabilities"] == ["CAPABILITY_IAM"]
    assert {p["ParameterKey"]: p.get("DefaultValue") for p in summary["Parameters"]} == {
        "Env": "dev", "Retention": "345600"}  # fmt: skip
    got = cfn.get_template_summary(TemplateBody=TEMPLATE)
    assert "AWS::Lambda::EventSourceMapping" in got["ResourceTypes"]


def test_termination_protection(cfn) -> None:
    cfn.create_stack(StackName="protected", TemplateBody="Resources:\n  Q: {Type: AWS::SQS::Queue}\n",
                     EnableTerminationProtection=True)  # fmt: skip
    assert settled(cfn, "protected")["StackStatus"] == "CREATE_COMPLETE"
    with pytest.raises(ClientError) as raised:
        cfn.delete_stack(StackName="protected")
    assert raised.value.response["Error"]["Message"] == (
        "Stack [protected] cannot be deleted while TerminationProtection is enabled"
    )
    cfn.update_termination_protection(StackName="protected", EnableTerminationProtection=False)
    cfn.delete_stack(StackName="protected")


QUEUE = """
Parameters:
  Vis: {Type: Number, Default: 30}
  Name: {Type: String, Default: ""}
Conditions:
  Named: !Not [!Equals [!Ref Name, ""]]
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: !Ref Vis
      QueueName: !If [Named, !Ref Name, !Ref "AWS::NoValue"]
Outputs:
  Url: {Value: !Ref Queue}
"""


def test_change_sets(cfn) -> None:
    created = cfn.create_change_set(StackName="cs", ChangeSetName="first", ChangeSetType="CREATE",
                                    TemplateBody=QUEUE)  # fmt: skip
    # A change set for a new stack leaves it in REVIEW_IN_PROGRESS.
    stack = cfn.describe_stacks(StackName="cs")["Stacks"][0]
    assert stack["StackStatus"] == "REVIEW_IN_PROGRESS"
    cfn.get_waiter("change_set_create_complete").wait(
        ChangeSetName=created["Id"], WaiterConfig={"Delay": 1}
    )
    described = cfn.describe_change_set(ChangeSetName="first", StackName="cs")
    assert described["ExecutionStatus"] == "AVAILABLE"
    assert described["Changes"] == [{"Type": "Resource", "ResourceChange": {
        "Action": "Add", "LogicalResourceId": "Queue", "ResourceType": "AWS::SQS::Queue",
        "Scope": [], "Details": []}}]  # fmt: skip
    assert [s["ChangeSetName"] for s in cfn.list_change_sets(StackName="cs")["Summaries"]] == [
        "first"
    ]
    cfn.execute_change_set(ChangeSetName=created["Id"])
    cfn.get_waiter("stack_create_complete").wait(StackName="cs", WaiterConfig={"Delay": 1})
    url = physical_ids(cfn, "cs")["Queue"]

    # The same template again: FAILED with the reason the SAM CLI matches.
    cfn.create_change_set(StackName="cs", ChangeSetName="same", TemplateBody=QUEUE)
    same = cfn.describe_change_set(ChangeSetName="same", StackName="cs")
    assert (same["Status"], same["ExecutionStatus"]) == ("FAILED", "UNAVAILABLE")
    assert same["StatusReason"] == (
        "The submitted information didn't contain changes. Submit different information to "
        "create a change set."
    )
    cfn.delete_change_set(ChangeSetName="same", StackName="cs")

    # In place (Replacement False) and replacement (True) as AWS's schema says.
    cfn.create_change_set(StackName="cs", ChangeSetName="vis", TemplateBody=QUEUE,
                          Parameters=[{"ParameterKey": "Vis", "ParameterValue": "45"}])  # fmt: skip
    [change] = cfn.describe_change_set(ChangeSetName="vis", StackName="cs")["Changes"]
    assert change["ResourceChange"] == {
        "Action": "Modify", "LogicalResourceId": "Queue", "PhysicalResourceId": url,
        "ResourceType": "AWS::SQS::Queue", "Replacement": "False", "Scope": ["Properties"],
        "Details": [{"Target": {"Attribute": "Properties", "Name": "VisibilityTimeout",
                                "RequiresRecreation": "Never"},
                     "Evaluation": "Static", "ChangeSource": "DirectModification"}],
    }  # fmt: skip
    cfn.create_change_set(StackName="cs", ChangeSetName="rename", TemplateBody=QUEUE,
                          Parameters=[{"ParameterKey": "Name", "ParameterValue": "cs-named"}])  # fmt: skip
    [change] = cfn.describe_change_set(ChangeSetName="rename", StackName="cs")["Changes"]
    assert change["ResourceChange"]["Replacement"] == "True"
    assert change["ResourceChange"]["Details"][0]["Target"] == {
        "Attribute": "Properties", "Name": "QueueName", "RequiresRecreation": "Always"}  # fmt: skip
    cfn.execute_change_set(ChangeSetName="rename", StackName="cs")
    cfn.get_waiter("stack_update_complete").wait(StackName="cs", WaiterConfig={"Delay": 1})
    assert physical_ids(cfn, "cs")["Queue"].endswith("/cs-named")
    # Executing one change set removes the stack's others.
    assert cfn.list_change_sets(StackName="cs")["Summaries"][0]["ChangeSetName"] == "rename"
    assert len(cfn.list_change_sets(StackName="cs")["Summaries"]) == 1
    assert json.loads(json.dumps(cfn.get_template(StackName="cs")["TemplateBody"])) == QUEUE


def test_aws_cli_deploy(server, tmp_path) -> None:
    import subprocess

    from tests.e2e.conftest import cli_env

    (tmp_path / "queue.yaml").write_text(QUEUE)
    env = cli_env(server.endpoint)

    def aws(*args: str) -> str:
        done = subprocess.run(["aws", "cloudformation", *args], env=env, capture_output=True,
                              text=True, timeout=120, cwd=tmp_path)  # fmt: skip
        assert done.returncode in (0, 255) or "No changes" in done.stdout, done.stderr
        return done.stdout + done.stderr

    def next_second() -> None:
        # The CLI names change sets after the current second and earlier ones stay (as
        # in AWS): the next deploy must start in another second.
        started = int(time.time())
        while int(time.time()) == started:
            time.sleep(0.05)

    deploy = ("deploy", "--template-file", "queue.yaml", "--stack-name", "cli")
    assert "Successfully created/updated stack - cli" in aws(*deploy)
    next_second()
    assert "No changes to deploy. Stack cli is up to date" in aws(*deploy)
    next_second()
    assert "Successfully created/updated stack - cli" in aws(
        *deploy, "--parameter-overrides", "Vis=45"
    )
    aws("wait", "stack-update-complete", "--stack-name", "cli")
    aws("delete-stack", "--stack-name", "cli")
    aws("wait", "stack-delete-complete", "--stack-name", "cli")
    assert "does not exist" in aws("describe-stacks", "--stack-name", "cli")


MORE_TYPES = """
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration: {Status: Enabled}
      PublicAccessBlockConfiguration:
        {BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true}
      Tags: [{Key: team, Value: core}]
  BucketPolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Bucket
      PolicyDocument:
        Statement:
          - {Effect: Deny, Principal: "*", Action: "s3:*", Resource: !Sub "${Bucket.Arn}/*",
             Condition: {Bool: {"aws:SecureTransport": "false"}}}
  Queue:
    Type: AWS::SQS::Queue
  QueuePolicy:
    Type: AWS::SQS::QueuePolicy
    Properties:
      Queues: [!Ref Queue]
      PolicyDocument:
        Statement: [{Effect: Allow, Principal: {Service: s3.amazonaws.com}, Action: sqs:SendMessage, Resource: !GetAtt Queue.Arn}]
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}]
  Inline:
    Type: AWS::IAM::Policy
    Properties:
      PolicyName: read-bucket
      Roles: [!Ref Role]
      PolicyDocument:
        Statement: [{Effect: Allow, Action: s3:GetObject, Resource: !Sub "${Bucket.Arn}/*"}]
  Managed:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      Roles: [!Ref Role]
      PolicyDocument:
        Statement: [{Effect: Allow, Action: sqs:SendMessage, Resource: !GetAtt Queue.Arn}]
  Logs:
    Type: AWS::Logs::LogGroup
    Properties: {RetentionInDays: 7}
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Role: !GetAtt Role.Arn
      Code: {ZipFile: "def handler(e, c):\\n    return 'v1'\\n"}
  Version:
    Type: AWS::Lambda::Version
    Properties: {FunctionName: !Ref Fn}
  Alias:
    Type: AWS::Lambda::Alias
    Properties: {FunctionName: !Ref Fn, Name: live, FunctionVersion: !GetAtt Version.Version}
  Permission:
    Type: AWS::Lambda::Permission
    Properties:
      FunctionName: !Ref Alias
      Action: lambda:InvokeFunction
      Principal: s3.amazonaws.com
      SourceArn: !GetAtt Bucket.Arn
Outputs:
  Alias: {Value: !Ref Alias}
  Managed: {Value: !Ref Managed}
  LogArn: {Value: !GetAtt Logs.Arn}
"""


def test_more_resource_types(cfn, client) -> None:
    cfn.create_stack(StackName="types", TemplateBody=MORE_TYPES, Capabilities=["CAPABILITY_IAM"])
    stack = settled(cfn, "types")
    assert stack["StackStatus"] == "CREATE_COMPLETE", [
        e for e in stack_events(cfn, "types") if "FAILED" in e[1]
    ]
    ids = physical_ids(cfn, "types")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    s3, iam, lam = client("s3"), client("iam"), client("lambda")
    assert s3.get_bucket_versioning(Bucket=ids["Bucket"])["Status"] == "Enabled"
    assert s3.get_bucket_tagging(Bucket=ids["Bucket"])["TagSet"] == [
        {"Key": "team", "Value": "core"}
    ]
    assert "aws:SecureTransport" in s3.get_bucket_policy(Bucket=ids["Bucket"])["Policy"]
    attributes = client("sqs").get_queue_attributes(
        QueueUrl=ids["Queue"], AttributeNames=["Policy"]
    )
    assert "s3.amazonaws.com" in attributes["Attributes"]["Policy"]
    assert iam.list_role_policies(RoleName=ids["Role"])["PolicyNames"] == ["read-bucket"]
    attached = iam.list_attached_role_policies(RoleName=ids["Role"])["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [outputs["Managed"]]
    alias = lam.get_alias(FunctionName=ids["Fn"], Name="live")
    assert alias["AliasArn"] == outputs["Alias"] and alias["FunctionVersion"] == "1"
    policy = json.loads(lam.get_policy(FunctionName=ids["Fn"], Qualifier="live")["Policy"])
    assert policy["Statement"][0]["Principal"] == {"Service": "s3.amazonaws.com"}
    assert outputs["LogArn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{ids['Logs']}:*"
    cfn.delete_stack(StackName="types")
    assert settled(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE", stack_events(
        cfn, stack["StackId"]
    )
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=ids["Bucket"])
    with pytest.raises(ClientError):
        iam.get_policy(PolicyArn=outputs["Managed"])


UPDATE_BASE = """
Resources:
  Kept:
    Type: AWS::SQS::Queue
    Properties: {VisibilityTimeout: 30}
  Renamed:
    Type: AWS::SQS::Queue
    Properties: {QueueName: upd-first}
"""

UPDATE_FAILING = """
Resources:
  Kept:
    Type: AWS::SQS::Queue
    Properties: {VisibilityTimeout: 90}
  Renamed:
    Type: AWS::SQS::Queue
    Properties: {QueueName: upd-second}
  Added:
    Type: AWS::SSM::Parameter
    Properties: {Type: String, Value: new}
  Bad:
    Type: AWS::SQS::Queue
    DependsOn: [Kept, Renamed, Added]
    Properties: {QueueName: upd-not-fifo, FifoQueue: true}
"""


def test_a_failing_update_rolls_back_to_the_previous_state(cfn, client) -> None:
    cfn.create_stack(StackName="upd", TemplateBody=UPDATE_BASE)
    assert settled(cfn, "upd")["StackStatus"] == "CREATE_COMPLETE"
    before = physical_ids(cfn, "upd")
    cfn.update_stack(StackName="upd", TemplateBody=UPDATE_FAILING)
    stack = settled(cfn, "upd")
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE", stack_events(cfn, "upd")
    log = stack_events(cfn, "upd")
    reason = "The following resource(s) failed to create: [Bad]. "
    assert ("upd", "UPDATE_ROLLBACK_IN_PROGRESS", reason) in log
    assert ("upd", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", "") in log
    # Back to before: the same physical resources, the old settings, nothing new left.
    assert physical_ids(cfn, "upd") == before
    sqs = client("sqs")
    kept = sqs.get_queue_attributes(QueueUrl=before["Kept"], AttributeNames=["VisibilityTimeout"])
    assert kept["Attributes"]["VisibilityTimeout"] == "30"
    urls = sqs.list_queues(QueueNamePrefix="upd-").get("QueueUrls", [])
    assert sorted(u.rsplit("/", 1)[1] for u in urls) == sorted(
        ["upd-first", before["Kept"].rsplit("/", 1)[1]]
    )
    assert not [
        p for p in client("ssm").describe_parameters()["Parameters"] if "upd-Added" in p["Name"]
    ]
    assert json.loads(json.dumps(cfn.get_template(StackName="upd")["TemplateBody"])) == UPDATE_BASE


SSM_TYPED = """
Parameters:
  Size:
    Type: AWS::SSM::Parameter::Value<String>
    Default: /config/visibility
  Secret:
    Type: String
    NoEcho: true
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties: {VisibilityTimeout: !Ref Size}
Outputs:
  Vis: {Value: !Ref Size}
"""


def test_ssm_parameter_types_no_echo_and_stack_tags(cfn, client) -> None:
    client("ssm").put_parameter(Name="/config/visibility", Value="75", Type="String")
    cfn.create_stack(StackName="typed", TemplateBody=SSM_TYPED, Tags=[{"Key": "owner", "Value": "team-a"}],
                     Parameters=[{"ParameterKey": "Secret", "ParameterValue": "hunter2"}])  # fmt: skip
    stack = settled(cfn, "typed")
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack_events(cfn, "typed")
    shown = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert shown["Secret"] == "****"
    assert stack["Outputs"][0]["OutputValue"] == "75"
    url = physical_ids(cfn, "typed")["Queue"]
    sqs = client("sqs")
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"] == {
        "VisibilityTimeout": "75"}  # fmt: skip
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"owner": "team-a"}  # stack tags propagate
    size = next(p for p in stack["Parameters"] if p["ParameterKey"] == "Size")
    assert (size["ParameterValue"], size["ResolvedValue"]) == ("/config/visibility", "75")
    # UsePreviousValue (as the CDK CLI updates) reuses the SSM name and resolves it again.
    client("ssm").put_parameter(
        Name="/config/visibility", Value="80", Type="String", Overwrite=True
    )
    cfn.update_stack(StackName="typed", TemplateBody=SSM_TYPED,
                     Parameters=[{"ParameterKey": "Size", "UsePreviousValue": True},
                                 {"ParameterKey": "Secret", "UsePreviousValue": True}])  # fmt: skip
    stack = settled(cfn, "typed")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", stack_events(cfn, "typed")
    assert stack["Outputs"][0]["OutputValue"] == "80"
    with pytest.raises(ClientError) as raised:
        cfn.create_stack(StackName="typed2", TemplateBody=SSM_TYPED.replace("/config/visibility", "/config/nope"),
                         Parameters=[{"ParameterKey": "Secret", "ParameterValue": "x"}])  # fmt: skip
    assert raised.value.response["Error"]["Message"] == (
        "Unable to fetch parameters [/config/nope] from parameter store for this account."
    )


FOR_EACH = """
Transform: AWS::LanguageExtensions
Parameters:
  Names: {Type: CommaDelimitedList, Default: "alpha,beta"}
Resources:
  Fn::ForEach::Params:
    - Name
    - !Ref Names
    - Param${Name}:
        Type: AWS::SSM::Parameter
        Properties: {Name: !Sub "/loop/${Name}", Type: String, Value: !Ref Name}
Outputs:
  Count: {Value: !Join ["", [!Select [0, !Ref Names], "-", !Join [",", !Ref Names]]]}
"""


def test_language_extensions_for_each(cfn, client) -> None:
    cfn.create_stack(
        StackName="loops", TemplateBody=FOR_EACH, Capabilities=["CAPABILITY_AUTO_EXPAND"]
    )
    stack = settled(cfn, "loops")
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack_events(cfn, "loops")
    assert set(physical_ids(cfn, "loops")) == {"Paramalpha", "Parambeta"}
    assert client("ssm").get_parameter(Name="/loop/beta")["Parameter"]["Value"] == "beta"


RETAINED = """
Parameters:
  Name: {Type: String, Default: keep-first}
Resources:
  Kept:
    Type: AWS::SQS::Queue
    DeletionPolicy: Retain
    UpdateReplacePolicy: Retain
    Properties: {QueueName: !Ref Name}
  Dropped:
    Type: AWS::SQS::Queue
    UpdateReplacePolicy: Delete
"""


def test_deletion_and_update_replace_policies(cfn, client) -> None:
    cfn.create_stack(StackName="retain", TemplateBody=RETAINED)
    assert settled(cfn, "retain")["StackStatus"] == "CREATE_COMPLETE"
    first = physical_ids(cfn, "retain")
    cfn.update_stack(StackName="retain", TemplateBody=RETAINED,
                     Parameters=[{"ParameterKey": "Name", "ParameterValue": "keep-second"}])  # fmt: skip
    stack = settled(cfn, "retain")
    assert stack["StackStatus"] == "UPDATE_COMPLETE", stack_events(cfn, "retain")
    assert ("Kept", "DELETE_SKIPPED", "") in stack_events(cfn, "retain")  # the replaced queue stays
    second = physical_ids(cfn, "retain")
    cfn.delete_stack(StackName="retain")
    assert settled(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"
    sqs = client("sqs")
    for url in (first["Kept"], second["Kept"]):  # Retain: both queues outlive the stack
        assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    with pytest.raises(ClientError):
        sqs.get_queue_attributes(QueueUrl=second["Dropped"], AttributeNames=["QueueArn"])


CHILD = """
Parameters:
  Prefix: {Type: String}
Resources:
  Param:
    Type: AWS::SSM::Parameter
    Properties: {Name: !Sub "/${Prefix}/child", Type: String, Value: from-child}
Outputs:
  Name: {Value: !Ref Param}
"""

PARENT = """
Parameters:
  Url: {Type: String}
Resources:
  Child:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: !Ref Url
      Parameters: {Prefix: nested}
  UsesChild:
    Type: AWS::SSM::Parameter
    Properties: {Type: String, Value: !GetAtt Child.Outputs.Name}
"""


def test_nested_stack_from_a_template_url(server, cfn, client) -> None:
    s3 = client("s3")
    s3.create_bucket(Bucket="templates")
    s3.put_object(Bucket="templates", Key="child.yaml", Body=CHILD.encode())
    url = f"{server.endpoint}/templates/child.yaml"
    cfn.create_stack(
        StackName="parent",
        TemplateBody=PARENT,
        Parameters=[{"ParameterKey": "Url", "ParameterValue": url}],
    )
    stack = settled(cfn, "parent")
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack_events(cfn, "parent")
    ids = physical_ids(cfn, "parent")
    child = cfn.describe_stacks(StackName=ids["Child"])["Stacks"][0]
    assert child["StackStatus"] == "CREATE_COMPLETE" and child["StackName"].startswith(
        "parent-Child-"
    )
    ssm = client("ssm")
    assert ssm.get_parameter(Name=ids["UsesChild"])["Parameter"]["Value"] == "/nested/child"
    cfn.delete_stack(StackName="parent")
    assert settled(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"
    assert (
        cfn.describe_stacks(StackName=ids["Child"])["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    )
    with pytest.raises(ClientError):
        ssm.get_parameter(Name="/nested/child")


def test_a_stack_acts_as_its_caller(server, client) -> None:
    iam = client("iam")
    iam.create_user(UserName="deployer")
    key = iam.create_access_key(UserName="deployer")["AccessKey"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "cloudformation:*", "Resource": "*"}],
    }
    iam.put_user_policy(
        UserName="deployer", PolicyName="cfn-only", PolicyDocument=json.dumps(policy)
    )
    cfn = make_client(server.endpoint, "cloudformation", key["AccessKeyId"], key["SecretAccessKey"])
    cfn.create_stack(
        StackName="as-caller", TemplateBody="Resources:\n  Q: {Type: AWS::SQS::Queue}\n"
    )
    assert settled(cfn, "as-caller")["StackStatus"] == "ROLLBACK_COMPLETE"
    [(_, _, reason)] = [e for e in stack_events(cfn, "as-caller") if e[1] == "CREATE_FAILED"]
    assert "deployer is not authorized to perform: sqs:CreateQueue" in reason, reason
    assert "(HandlerErrorCode: AccessDenied)" in reason


def test_imports_hold_their_export(cfn) -> None:
    exporter = "Resources:\n  Q: {Type: AWS::SQS::Queue}\nOutputs:\n  U: {Value: !Ref Q, Export: {Name: shared-url}}\n"
    importer = "Resources:\n  P:\n    Type: AWS::SSM::Parameter\n    Properties: {Type: String, Value: !ImportValue shared-url}\n"
    cfn.create_stack(StackName="exporter", TemplateBody=exporter)
    assert settled(cfn, "exporter")["StackStatus"] == "CREATE_COMPLETE"
    cfn.create_stack(StackName="importer", TemplateBody=importer)
    assert settled(cfn, "importer")["StackStatus"] == "CREATE_COMPLETE"
    assert cfn.list_imports(ExportName="shared-url")["Imports"] == ["importer"]
    with pytest.raises(ClientError) as raised:
        cfn.delete_stack(StackName="exporter")
    assert (
        raised.value.response["Error"]["Message"]
        == "Export shared-url cannot be deleted as it is in use by importer"
    )
    importer_id = cfn.describe_stacks(StackName="importer")["Stacks"][0]["StackId"]
    cfn.delete_stack(StackName="importer")
    assert settled(cfn, importer_id)["StackStatus"] == "DELETE_COMPLETE"
    exporter_id = cfn.describe_stacks(StackName="exporter")["Stacks"][0]["StackId"]
    cfn.delete_stack(StackName="exporter")  # no importer left
    assert settled(cfn, exporter_id)["StackStatus"] == "DELETE_COMPLETE"
