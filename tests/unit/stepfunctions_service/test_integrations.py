"""Task resources, parameter and result mapping, error names, pagination and history
event members: the pure parts of the Step Functions service."""

from __future__ import annotations

import pytest

from sandlot.protocol import ServiceError
from sandlot.services.stepfunctions.integrations import (
    UnsupportedResource,
    error_name,
    from_model,
    input_shape,
    parse_resource,
    to_model,
)
from sandlot.services.stepfunctions.paging import page
from sandlot.services.stepfunctions.runtime import details_member
from sandlot.services.stepfunctions.tasks import _TOKEN, new_token


@pytest.mark.parametrize(
    ("resource", "kind", "service", "operation", "pattern", "type_name", "short"),
    [
        ("arn:aws:lambda:us-east-1:123456789012:function:f", "function", "lambda", "Invoke",
         "", "lambda", ""),
        ("arn:aws:states:::lambda:invoke", "optimized", "lambda", "Invoke", "", "lambda",
         "invoke"),
        ("arn:aws:states:::lambda:invoke.waitForTaskToken", "optimized", "lambda", "Invoke",
         "waitForTaskToken", "lambda", "invoke.waitForTaskToken"),
        ("arn:aws:states:::sqs:sendMessage", "optimized", "sqs", "SendMessage", "", "sqs",
         "sendMessage"),
        ("arn:aws:states:::states:startExecution.sync:2", "optimized", "stepfunctions",
         "StartExecution", "sync:2", "states", "startExecution.sync:2"),
        ("arn:aws:states:::events:putEvents", "optimized", "events", "PutEvents", "",
         "events", "putEvents"),
        ("arn:aws:states:::aws-sdk:s3:listObjectsV2", "sdk", "s3", "ListObjectsV2", "",
         "aws-sdk:s3", "listObjectsV2"),
        ("arn:aws:states:::aws-sdk:sfn:describeExecution", "sdk", "stepfunctions",
         "DescribeExecution", "", "aws-sdk:sfn", "describeExecution"),
        ("arn:aws:states:us-east-1:123456789012:activity:a", "activity", "", "", "", "", ""),
        ("arn:aws:states:::http:invoke", "http", "http", "invoke", "", "http", "invoke"),
    ],
)  # fmt: skip
def test_resources_are_parsed(resource, kind, service, operation, pattern, type_name, short):
    target = parse_resource(resource)
    assert (target.kind, target.service, target.operation, target.pattern) == (
        kind, service, operation, pattern)  # fmt: skip
    assert (target.type_name, target.short) == (type_name, short)


@pytest.mark.parametrize(
    "resource",
    [
        "arn:aws:states:::http:invoke.waitForTaskToken",  # the HTTP task is request-response
        "arn:aws:states:::sqs:sendMessage.sync",  # .sync exists only for some services
        "arn:aws:states:::aws-sdk:nosuchservice:doIt",
        "arn:aws:states:::aws-sdk:s3:noSuchOperation",
        "arn:aws:ecs:us-east-1:123456789012:cluster/c",
    ],
)
def test_unsupported_resources_are_refused(resource):
    with pytest.raises(UnsupportedResource):
        parse_resource(resource)


def test_error_names_follow_aws():
    assert error_name("s3", "NoSuchBucket", sdk=True) == "S3.NoSuchBucketException"
    assert error_name("secretsmanager", "ResourceNotFoundException", sdk=True) == (
        "SecretsManager.ResourceNotFoundException"
    )
    assert error_name("stepfunctions", "StateMachineDoesNotExist", sdk=False) == (
        "StepFunctions.StateMachineDoesNotExistException"
    )
    assert error_name("lambda", "AccessDeniedException", sdk=False) == (
        "Lambda.AccessDeniedException"
    )
    assert isinstance(ServiceError("X"), Exception)


def test_parameters_map_onto_the_model_and_results_back():
    shape = input_shape("stepfunctions", "StartExecution")
    params = to_model(shape, {"StateMachineArn": "arn", "Input": {"a": 1}, "Name": "n"})
    assert params == {"stateMachineArn": "arn", "input": '{"a":1}', "name": "n"}
    sqs = to_model(input_shape("sqs", "SendMessage"), {"QueueUrl": "u", "MessageBody": [1],
                                                       "DelaySeconds": "2"})  # fmt: skip
    assert sqs == {"QueueUrl": "u", "MessageBody": "[1]", "DelaySeconds": 2}
    lam = to_model(input_shape("lambda", "Invoke"), {"FunctionName": "f", "Payload": {"x": 1}})
    assert lam["Payload"] == b'{"x":1}'
    out = from_model({"executionArn": "a", "nested": [{"blob": b"hi"}]}, pascal=True)
    assert out == {"ExecutionArn": "a", "Nested": [{"Blob": "hi"}]}
    assert from_model({"Item": {"n": {"N": "5"}}}, pascal=False) == {"Item": {"n": {"N": "5"}}}


def test_pages_continue_after_the_last_item():
    rows = [{"k": i} for i in range(5)]
    first, token = page(rows, {"maxResults": 2}, key="k")
    assert first == rows[:2] and token
    second, token = page(rows, {"maxResults": 2, **token}, key="k")
    assert second == rows[2:4]
    rows.insert(0, {"k": -1})  # an item added before the position does not repeat one
    third, token = page(rows, {"maxResults": 2, **token}, key="k")
    assert third == [{"k": 4}] and token == {}
    with pytest.raises(ServiceError) as caught:
        page(rows, {"nextToken": "garbage!"}, key="k")
    assert caught.value.code == "InvalidToken"


def test_history_detail_members_and_tokens():
    assert details_member("TaskStateEntered") == "stateEnteredEventDetails"
    assert details_member("MapStateExited") == "stateExitedEventDetails"
    assert details_member("LambdaFunctionScheduled") == "lambdaFunctionScheduledEventDetails"
    assert details_member("ExecutionRedriven") == "executionRedrivenEventDetails"
    assert details_member("LambdaFunctionStarted") is None  # no details in AWS's model
    token = new_token()
    assert _TOKEN.match(token) and new_token() != token
