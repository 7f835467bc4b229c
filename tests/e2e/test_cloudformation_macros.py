"""CloudFormation macros: an ``AWS::CloudFormation::Macro`` backed by a Lambda function
(made by one stack), a template whose ``Transform`` names it (AWS's request and response
shapes), a macro that answers failure, a macro the account does not have, and the macro
gone with its stack."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import make_client
from tests.e2e.functions import ROLE
from tests.e2e.stacks import physical_ids, settled

# The macro adds an SSM parameter holding the Greeting parameter upper-cased, and
# records the request it got in the parameter's description.
MACRO_CODE = """
def handler(event, context):
    greeting = event["templateParameterValues"]["Greeting"]
    if event["params"]:  # Fn::Transform: the properties map it sits in, and its Parameters
        fragment = dict(event["fragment"], Value=event["params"]["Text"] + " " + greeting)
        return {"requestId": event["requestId"], "status": "success", "fragment": fragment}
    if greeting == "fail":
        return {"requestId": event["requestId"], "status": "failure",
                "errorMessage": "told to fail"}
    fragment = event["fragment"]
    seen = ",".join(sorted(k for k in event if k != "fragment"))
    fragment["Resources"]["Added"] = {"Type": "AWS::SSM::Parameter", "Properties": {
        "Type": "String", "Value": greeting.upper(),
        "Description": event["transformId"] + " " + seen + " transform-in-fragment="
                       + str("Transform" in fragment)}}
    return {"requestId": event["requestId"], "status": "SUCCESS", "fragment": fragment}
"""
MACRO_STACK = {
    "Resources": {
        "Fn": {"Type": "AWS::Lambda::Function", "Properties": {
            "Runtime": "python3.12", "Handler": "index.handler", "Role": ROLE,
            "Code": {"ZipFile": MACRO_CODE}}},
        "Upper": {"Type": "AWS::CloudFormation::Macro", "Properties": {
            "Name": "Upper", "FunctionName": {"Fn::GetAtt": ["Fn", "Arn"]}}},
    }
}  # fmt: skip
USER = {
    "Transform": "Upper",
    "Parameters": {"Greeting": {"Type": "String"}},
    "Resources": {"Own": {"Type": "AWS::SQS::Queue"}},
}


def _validation_message(call) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    return caught.value.response["Error"]["Message"]


def test_a_macro_transforms_templates_until_its_stack_goes(server) -> None:
    cfn = make_client(server.endpoint, "cloudformation")
    cfn.create_stack(StackName="macro-def", TemplateBody=json.dumps(MACRO_STACK))
    assert settled(cfn, "macro-def")["StackStatus"] == "CREATE_COMPLETE"
    assert physical_ids(cfn, "macro-def")["Upper"] == "Upper"

    # Through a change set (no capability needed to review it).
    created = cfn.create_change_set(
        StackName="macro-user", ChangeSetName="first", ChangeSetType="CREATE",
        TemplateBody=json.dumps(USER),
        Parameters=[{"ParameterKey": "Greeting", "ParameterValue": "hello"}],
    )  # fmt: skip
    changes = cfn.describe_change_set(ChangeSetName=created["Id"])["Changes"]
    assert sorted(c["ResourceChange"]["LogicalResourceId"] for c in changes) == ["Added", "Own"]
    cfn.execute_change_set(ChangeSetName=created["Id"])
    assert settled(cfn, "macro-user")["StackStatus"] == "CREATE_COMPLETE"
    ssm = make_client(server.endpoint, "ssm")
    name = physical_ids(cfn, "macro-user")["Added"]
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "HELLO"
    described = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])[
        "Parameters"
    ][0]["Description"]
    assert described == (
        "000000000000::Upper accountId,params,region,requestId,templateParameterValues,"
        "transformId transform-in-fragment=False"
    )
    processed = cfn.get_template(StackName="macro-user", TemplateStage="Processed")
    assert "Added" in processed["TemplateBody"]["Resources"]
    original = cfn.get_template(StackName="macro-user", TemplateStage="Original")
    assert original["TemplateBody"]["Transform"] == "Upper"

    # A stack operation needs CAPABILITY_AUTO_EXPAND, as for any transform.
    with pytest.raises(ClientError) as caught:
        cfn.create_stack(StackName="macro-direct", TemplateBody=json.dumps(USER),
                         Parameters=[{"ParameterKey": "Greeting", "ParameterValue": "x"}])  # fmt: skip
    assert caught.value.response["Error"]["Code"] == "InsufficientCapabilitiesException"

    # The macro's failure is the operation's error.
    message = _validation_message(lambda: cfn.create_stack(
        StackName="macro-fails", TemplateBody=json.dumps(USER),
        Parameters=[{"ParameterKey": "Greeting", "ParameterValue": "fail"}],
        Capabilities=["CAPABILITY_AUTO_EXPAND"]))  # fmt: skip
    assert message == "Transform 000000000000::Upper failed with: told to fail"

    # Gone with its stack.
    stack_id = cfn.describe_stacks(StackName="macro-def")["Stacks"][0]["StackId"]
    cfn.delete_stack(StackName="macro-def")
    assert settled(cfn, stack_id)["StackStatus"] == "DELETE_COMPLETE"
    message = _validation_message(lambda: cfn.create_stack(
        StackName="macro-gone", TemplateBody=json.dumps(USER),
        Parameters=[{"ParameterKey": "Greeting", "ParameterValue": "x"}],
        Capabilities=["CAPABILITY_AUTO_EXPAND"]))  # fmt: skip
    assert message == "No transform named 000000000000::Upper found."


def test_a_macro_name_is_the_accounts_once(server) -> None:
    cfn = make_client(server.endpoint, "cloudformation")
    template = json.loads(json.dumps(MACRO_STACK))
    template["Resources"]["Upper"]["Properties"]["Name"] = "Twice"
    cfn.create_stack(StackName="twice-a", TemplateBody=json.dumps(template))
    assert settled(cfn, "twice-a")["StackStatus"] == "CREATE_COMPLETE"
    cfn.create_stack(StackName="twice-b", TemplateBody=json.dumps(template))
    assert settled(cfn, "twice-b")["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName="twice-b")["StackEvents"]
    reasons = [e.get("ResourceStatusReason", "") for e in events
               if e["LogicalResourceId"] == "Upper" and e["ResourceStatus"] == "CREATE_FAILED"]  # fmt: skip
    assert reasons and reasons[0].startswith(
        "Twice already exists in stack arn:aws:cloudformation:"
    )
    # The rollback of the second stack left the first one's macro alone.
    user = {**USER, "Transform": "Twice"}
    cfn.create_stack(StackName="twice-user", TemplateBody=json.dumps(user),
                     Parameters=[{"ParameterKey": "Greeting", "ParameterValue": "ok"}],
                     Capabilities=["CAPABILITY_AUTO_EXPAND"])  # fmt: skip
    assert settled(cfn, "twice-user")["StackStatus"] == "CREATE_COMPLETE"


def test_fn_transform_processes_the_map_it_sits_in(server) -> None:
    cfn = make_client(server.endpoint, "cloudformation")
    definition = json.loads(json.dumps(MACRO_STACK))
    definition["Resources"]["Upper"]["Properties"]["Name"] = "Filler"
    cfn.create_stack(StackName="snippet-def", TemplateBody=json.dumps(definition))
    assert settled(cfn, "snippet-def")["StackStatus"] == "CREATE_COMPLETE"
    user = {
        "Parameters": {"Greeting": {"Type": "String"}},
        "Resources": {"Filled": {"Type": "AWS::SSM::Parameter", "Properties": {
            "Type": "String",
            "Fn::Transform": {"Name": "Filler", "Parameters": {"Text": "filled by"}}}}},
    }  # fmt: skip
    cfn.create_stack(StackName="snippet-user", TemplateBody=json.dumps(user),
                     Parameters=[{"ParameterKey": "Greeting", "ParameterValue": "macro"}],
                     Capabilities=["CAPABILITY_AUTO_EXPAND"])  # fmt: skip
    assert settled(cfn, "snippet-user")["StackStatus"] == "CREATE_COMPLETE"
    name = physical_ids(cfn, "snippet-user")["Filled"]
    value = make_client(server.endpoint, "ssm").get_parameter(Name=name)["Parameter"]["Value"]
    assert value == "filled by macro"
    # Like a Transform section, Fn::Transform needs CAPABILITY_AUTO_EXPAND outside a
    # change set.
    with pytest.raises(ClientError) as caught:
        cfn.create_stack(StackName="snippet-direct", TemplateBody=json.dumps(user),
                         Parameters=[{"ParameterKey": "Greeting", "ParameterValue": "x"}])  # fmt: skip
    assert caught.value.response["Error"]["Code"] == "InsufficientCapabilitiesException"
