"""CloudFormation custom resources and wait conditions end to end: a Lambda-backed
custom resource answering with AWS's own ``cfnresponse`` module (create, update, a
replacement, delete, Data through Fn::GetAtt), a FAILED answer rolling back (with
Delete sent), a provider that never answers timing out, an SNS-backed one answered
over raw HTTP and across a restart; a wait condition signalled by curl-like PUTs."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from tests.e2e.conftest import make_client
from tests.e2e.server import SandlotServer
from tests.e2e.stacks import settled

# The provider: records every request in SSM (/cr/<Logical>/<n>), answers with cfnresponse.
PROVIDER = """
import json
import boto3
import cfnresponse

def handler(event, context):
    ssm = boto3.client("ssm")
    props = event["ResourceProperties"]
    n = len(ssm.get_parameters_by_path(Path="/cr/" + event["LogicalResourceId"])["Parameters"])
    ssm.put_parameter(Name="/cr/%s/%d" % (event["LogicalResourceId"], n), Type="String",
                      Value=json.dumps({k: event.get(k) for k in (
                          "RequestType", "PhysicalResourceId", "ResourceType",
                          "ResourceProperties", "OldResourceProperties", "StackId")}))
    if event["RequestType"] != "Delete" and props.get("Fail") == "yes":
        cfnresponse.send(event, context, cfnresponse.FAILED, {}, "failed-" + props["Value"],
                         reason="boom")
        return
    physical = "echo-" + props.get("Generation", "1")
    cfnresponse.send(event, context, cfnresponse.SUCCESS,
                     {"Upper": props.get("Value", "").upper(), "Count": props.get("Count")},
                     event.get("PhysicalResourceId") if event["RequestType"] == "Delete" else physical)
"""

ROLE_AND_PROVIDER = {
    "Role": {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                 "Action": "sts:AssumeRole"}]},
            "ManagedPolicyArns": ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
            "Policies": [{"PolicyName": "ssm", "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["ssm:PutParameter", "ssm:GetParametersByPath"],
                 "Resource": "*"}]}}],
        },
    },
    "Provider": {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Runtime": "python3.12", "Handler": "index.handler", "Timeout": 30,
            "Role": {"Fn::GetAtt": ["Role", "Arn"]}, "Code": {"ZipFile": PROVIDER},
        },
    },
}  # fmt: skip


def _template(value: str, generation: str = "1", fail: str = "no", **extra) -> str:
    resources = {
        **ROLE_AND_PROVIDER,
        "Echo": {
            "Type": "Custom::Echo",
            "Properties": {
                "ServiceToken": {"Fn::GetAtt": ["Provider", "Arn"]},
                "Value": value, "Count": 5, "Generation": generation, "Fail": fail,
            },
        },
        "Uses": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {"Type": "String", "Value": {"Fn::GetAtt": ["Echo", "Upper"]}},
        },
        **extra,
    }  # fmt: skip
    outputs = {
        "Upper": {"Value": {"Fn::GetAtt": ["Echo", "Upper"]}},
        "Id": {"Value": {"Ref": "Echo"}},
    }
    return json.dumps({"Resources": resources, "Outputs": outputs})


def _outputs(stack: dict) -> dict:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def _requests(ssm, logical_id: str) -> list[dict]:
    found = ssm.get_parameters_by_path(Path=f"/cr/{logical_id}")["Parameters"]
    found.sort(key=lambda p: int(p["Name"].rsplit("/", 1)[1]))
    return [json.loads(p["Value"]) for p in found]


def _reasons(cfn, name: str, logical_id: str) -> dict:
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    return {e["ResourceStatus"]: e.get("ResourceStatusReason") for e in reversed(events)
            if e["LogicalResourceId"] == logical_id}  # fmt: skip


def _put(url: str, body: dict | bytes, endpoint: str | None = None) -> int:
    """A curl-like PUT (no signature, empty Content-Type, as cfn-response sends)."""
    if endpoint:  # the URL's host may be the functions' listener: the token is what counts
        url = endpoint + url[url.index("/_sandlot/") :]
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="PUT", headers={"Content-Type": ""})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as e:
        return e.code


def test_lambda_custom_resource_create_update_replace_delete(server) -> None:
    cfn = make_client(server.endpoint, "cloudformation")
    ssm = make_client(server.endpoint, "ssm")
    caps = ["CAPABILITY_IAM"]
    cfn.create_stack(StackName="custom", TemplateBody=_template("hello"), Capabilities=caps)
    stack = settled(cfn, "custom")
    assert stack["StackStatus"] == "CREATE_COMPLETE", _reasons(cfn, "custom", "Echo")
    assert _outputs(stack) == {"Upper": "HELLO", "Id": "echo-1"}
    (create,) = _requests(ssm, "Echo")
    assert create["RequestType"] == "Create" and create["ResourceType"] == "Custom::Echo"
    assert create["StackId"] == stack["StackId"] and create["PhysicalResourceId"] is None
    # Every scalar arrives as a string, as CloudFormation sends them.
    assert create["ResourceProperties"]["Count"] == "5"
    uses = cfn.describe_stack_resource(StackName="custom", LogicalResourceId="Uses")
    param = uses["StackResourceDetail"]["PhysicalResourceId"]
    assert ssm.get_parameter(Name=param)["Parameter"]["Value"] == "HELLO"

    cfn.update_stack(StackName="custom", TemplateBody=_template("again"), Capabilities=caps)
    stack = settled(cfn, "custom")
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert _outputs(stack)["Upper"] == "AGAIN"
    update = _requests(ssm, "Echo")[1]
    assert update["RequestType"] == "Update" and update["PhysicalResourceId"] == "echo-1"
    assert update["OldResourceProperties"]["Value"] == "hello"
    assert update["ResourceProperties"]["Value"] == "again"

    # A new physical id in the answer is a replacement: the old one gets a Delete.
    cfn.update_stack(
        StackName="custom", TemplateBody=_template("again", generation="2"), Capabilities=caps
    )
    stack = settled(cfn, "custom")
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert _outputs(stack)["Id"] == "echo-2"
    kinds = [(r["RequestType"], r["PhysicalResourceId"]) for r in _requests(ssm, "Echo")[2:]]
    assert kinds == [("Update", "echo-1"), ("Delete", "echo-1")]

    cfn.delete_stack(StackName="custom")
    assert settled(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"
    last = _requests(ssm, "Echo")[-1]
    assert (last["RequestType"], last["PhysicalResourceId"]) == ("Delete", "echo-2")
    assert last["ResourceProperties"]["Generation"] == "2"


def test_failed_answer_rolls_back_and_sends_delete(server) -> None:
    cfn = make_client(server.endpoint, "cloudformation")
    ssm = make_client(server.endpoint, "ssm")
    body = _template("x", fail="yes").replace('"Echo"', '"Broken"').replace("Echo.", "Broken.")
    cfn.create_stack(StackName="custom-fails", TemplateBody=body, Capabilities=["CAPABILITY_IAM"])
    stack = settled(cfn, "custom-fails")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    reasons = _reasons(cfn, "custom-fails", "Broken")
    assert reasons["CREATE_FAILED"].startswith(
        "Received response status [FAILED] from custom resource. Message returned: boom (RequestId: "
    ), reasons
    request_id = reasons["CREATE_FAILED"].rsplit(" ", 1)[1].rstrip(")")
    assert len(request_id) == 36
    assert _reasons(cfn, "custom-fails", "custom-fails")["ROLLBACK_IN_PROGRESS"] == (
        "The following resource(s) failed to create: [Broken]. Rollback requested by user."
    )
    kinds = [(r["RequestType"], r["PhysicalResourceId"]) for r in _requests(ssm, "Broken")]
    assert kinds == [("Create", None), ("Delete", "failed-x")]
    assert reasons["DELETE_COMPLETE"] is None


def test_no_answer_times_out_after_service_timeout(server) -> None:
    cfn = make_client(server.endpoint, "cloudformation")
    silent = {
        **ROLE_AND_PROVIDER["Provider"],
        "Properties": {**ROLE_AND_PROVIDER["Provider"]["Properties"],
                       "Code": {"ZipFile": "def handler(event, context):\n    return None\n"}},
    }  # fmt: skip
    template = {
        "Resources": {
            "Role": ROLE_AND_PROVIDER["Role"], "Silent": silent,
            "Mute": {"Type": "AWS::CloudFormation::CustomResource",
                     "Properties": {"ServiceToken": {"Fn::GetAtt": ["Silent", "Arn"]},
                                    "ServiceTimeout": 2}},
        }
    }  # fmt: skip
    started = time.monotonic()
    cfn.create_stack(
        StackName="custom-mute", TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"]
    )
    stack = settled(cfn, "custom-mute")
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    assert time.monotonic() - started >= 2
    reason = _reasons(cfn, "custom-mute", "Mute")["CREATE_FAILED"]
    assert reason.startswith(
        "CloudFormation did not receive a response from your Custom Resource. Please check your "
        "logs for requestId ["
    )
    assert reason.endswith(
        "If you are using the Python cfn-response module, you may need to update your Lambda "
        "function code so that CloudFormation can attach the updated version."
    )


def test_sns_backed_custom_resource_answered_over_http(server) -> None:
    cfn = make_client(server.endpoint, "cloudformation")
    sqs = make_client(server.endpoint, "sqs")
    sns = make_client(server.endpoint, "sns")
    topic, queue = _topic_to_queue(sns, sqs, "cr-requests")
    template = {
        "Resources": {"Thing": {"Type": "Custom::Thing",
                                "Properties": {"ServiceToken": topic, "Size": 3}}},
        "Outputs": {"Answer": {"Value": {"Fn::GetAtt": ["Thing", "Answer"]}}},
    }  # fmt: skip
    cfn.create_stack(StackName="custom-sns", TemplateBody=json.dumps(template))
    request = _receive(sqs, queue)
    assert request["RequestType"] == "Create" and request["ResourceProperties"]["Size"] == "3"
    assert request["ResourceType"] == "Custom::Thing"
    answer = {
        "Status": "SUCCESS", "PhysicalResourceId": "thing-1", "StackId": request["StackId"],
        "RequestId": request["RequestId"], "LogicalResourceId": "Thing", "Data": {"Answer": "42"},
    }  # fmt: skip
    assert _put(request["ResponseURL"], answer) == 200
    stack = settled(cfn, "custom-sns")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert _outputs(stack) == {"Answer": "42"}
    # The URL is spent once answered, as an expired presigned URL.
    assert _put(request["ResponseURL"], answer) == 403

    cfn.delete_stack(StackName="custom-sns")
    request = _receive(sqs, queue)
    assert (request["RequestType"], request["PhysicalResourceId"]) == ("Delete", "thing-1")
    assert _put(request["ResponseURL"], {**answer, "RequestId": request["RequestId"]}) == 200
    assert settled(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"


def _topic_to_queue(sns, sqs, name: str) -> tuple[str, str]:
    """A topic whose messages (the custom resource requests) land raw in a queue."""
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
         "Action": "sqs:SendMessage", "Resource": arn,
         "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]}  # fmt: skip
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"Policy": json.dumps(policy)})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                  Attributes={"RawMessageDelivery": "true"})  # fmt: skip
    return topic, queue


def _receive(sqs, queue: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
        if got:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=got[0]["ReceiptHandle"])
            return json.loads(got[0]["Body"])
    raise AssertionError("no custom resource request arrived")


WAIT = {
    "Resources": {
        "Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"},
        "Wait": {"Type": "AWS::CloudFormation::WaitCondition",
                 "Properties": {"Handle": {"Ref": "Handle"}, "Timeout": "60", "Count": 2}},
        "After": {"Type": "AWS::SSM::Parameter", "DependsOn": "Wait",
                  "Properties": {"Type": "String", "Value": {"Fn::GetAtt": ["Wait", "Data"]}}},
    },
    "Outputs": {"Data": {"Value": {"Fn::GetAtt": ["Wait", "Data"]}}},
}  # fmt: skip


def _handle_url(cfn, stack: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for r in cfn.describe_stack_resources(StackName=stack)["StackResources"]:
            if r["LogicalResourceId"] == "Handle" and r["ResourceStatus"] == "CREATE_COMPLETE":
                return r["PhysicalResourceId"]
        time.sleep(0.05)
    raise AssertionError("no handle")


def test_wait_condition_signalled_with_put(server) -> None:
    cfn = make_client(server.endpoint, "cloudformation")
    cfn.create_stack(StackName="waits", TemplateBody=json.dumps(WAIT))
    url = _handle_url(cfn, "waits")
    assert "/_sandlot/cloudformation/callback/" in url
    assert (
        _put(url, {"Status": "SUCCESS", "UniqueId": "one", "Data": "first", "Reason": "ok"}) == 200
    )
    time.sleep(0.3)  # the condition must still wait for the second signal
    assert (
        cfn.describe_stacks(StackName="waits")["Stacks"][0]["StackStatus"] == "CREATE_IN_PROGRESS"
    )
    # The same UniqueId again replaces its signal; it does not count twice.
    assert (
        _put(url, {"Status": "SUCCESS", "UniqueId": "one", "Data": "first!", "Reason": "ok"}) == 200
    )
    time.sleep(0.3)
    assert (
        cfn.describe_stacks(StackName="waits")["Stacks"][0]["StackStatus"] == "CREATE_IN_PROGRESS"
    )
    assert (
        _put(url, {"Status": "SUCCESS", "UniqueId": "two", "Data": "second", "Reason": "ok"}) == 200
    )
    stack = settled(cfn, "waits")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert json.loads(_outputs(stack)["Data"]) == {"one": "first!", "two": "second"}
    assert _put(url, b"not json") == 400
    cfn.delete_stack(StackName="waits")
    assert settled(cfn, stack["StackId"])["StackStatus"] == "DELETE_COMPLETE"
    assert _put(url, {"Status": "SUCCESS", "UniqueId": "x", "Data": "", "Reason": ""}) == 403


def test_wait_condition_failure_and_timeout(server) -> None:
    cfn = make_client(server.endpoint, "cloudformation")
    cfn.create_stack(StackName="wait-fails", TemplateBody=json.dumps(WAIT))
    url = _handle_url(cfn, "wait-fails")
    _put(
        url, {"Status": "FAILURE", "UniqueId": "i-1", "Data": "", "Reason": "Configuration Failed"}
    )
    assert settled(cfn, "wait-fails")["StackStatus"] == "ROLLBACK_COMPLETE"
    assert _reasons(cfn, "wait-fails", "Wait")["CREATE_FAILED"] == (
        "WaitCondition received failed message: 'Configuration Failed' for uniqueId: i-1"
    )
    quick = json.loads(json.dumps(WAIT))
    quick["Resources"]["Wait"]["Properties"].update({"Timeout": "1", "Count": 1})
    cfn.create_stack(StackName="wait-times-out", TemplateBody=json.dumps(quick))
    assert settled(cfn, "wait-times-out")["StackStatus"] == "ROLLBACK_COMPLETE"
    assert _reasons(cfn, "wait-times-out", "Wait")["CREATE_FAILED"] == (
        "WaitCondition timed out. Received 0 conditions when expecting 1"
    )


def test_custom_resource_waits_across_a_restart(tmp_path) -> None:
    server = SandlotServer(tmp_path, lambda_role=False).start()
    try:
        sqs = make_client(server.endpoint, "sqs")
        sns = make_client(server.endpoint, "sns")
        topic, queue = _topic_to_queue(sns, sqs, "cr-restart")
        cfn = make_client(server.endpoint, "cloudformation")
        template = {
            "Resources": {"Slow": {"Type": "Custom::Slow", "Properties": {"ServiceToken": topic}}},
            "Outputs": {"V": {"Value": {"Fn::GetAtt": ["Slow", "V"]}}},
        }  # fmt: skip
        cfn.create_stack(StackName="restarts", TemplateBody=json.dumps(template))
        request = _receive(sqs, queue)
    finally:
        server.kill()
    with SandlotServer(tmp_path, lambda_role=False) as restarted:
        cfn = make_client(restarted.endpoint, "cloudformation")
        # Recovery resumed the create (a rollback would end ROLLBACK_COMPLETE below).
        answer = {"Status": "SUCCESS", "PhysicalResourceId": "slow-1", "RequestId":
                  request["RequestId"], "StackId": request["StackId"],
                  "LogicalResourceId": "Slow", "Data": {"V": "after restart"}}  # fmt: skip
        assert _put(request["ResponseURL"], answer, restarted.endpoint) == 200
        stack = settled(cfn, "restarts")
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        assert _outputs(stack) == {"V": "after restart"}


def test_default_timeout_is_a_setting(tmp_path) -> None:
    """SANDLOT_CUSTOM_RESOURCE_TIMEOUT_SECONDS shortens the default ServiceTimeout
    (AWS's 3600 s) for a custom resource that names none."""
    env = {"SANDLOT_CUSTOM_RESOURCE_TIMEOUT_SECONDS": "1"}
    with SandlotServer(tmp_path, lambda_role=False, env=env) as quick:
        sns = make_client(quick.endpoint, "sns")
        topic = sns.create_topic(Name="nobody-answers")["TopicArn"]
        cfn = make_client(quick.endpoint, "cloudformation")
        template = {
            "Resources": {"Mute": {"Type": "Custom::Mute", "Properties": {"ServiceToken": topic}}}
        }
        started = time.monotonic()
        cfn.create_stack(StackName="mute", TemplateBody=json.dumps(template))
        assert settled(cfn, "mute", timeout=30)["StackStatus"] == "ROLLBACK_COMPLETE"
        assert 1 <= time.monotonic() - started < 20
        reason = _reasons(cfn, "mute", "Mute")["CREATE_FAILED"]
        assert reason.startswith(
            "CloudFormation did not receive a response from your Custom Resource."
        )
