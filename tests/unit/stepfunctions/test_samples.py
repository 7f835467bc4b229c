"""Definitions shaped like AWS's own samples parse without a diagnostic (no false refusals)."""

import json

import pytest

from sandlot.services.stepfunctions.asl import diagnostics, parse

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/queue"
TOPIC = "arn:aws:sns:us-east-1:123456789012:topic"

SAMPLES = {
    "callback with a task token": {
        "Comment": "Wait for a callback with the task token",
        "StartAt": "Start Task And Wait For Callback",
        "States": {
            "Start Task And Wait For Callback": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": QUEUE, "MessageBody": {
                    "MessageTitle": "Waiting for callback", "TaskToken.$": "$$.Task.Token"}},
                "Next": "Notify Success",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Notify Failure"}],
            },
            "Notify Success": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                               "Parameters": {"Message": "Succeeded", "TopicArn": TOPIC},
                               "End": True},
            "Notify Failure": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                               "Parameters": {"Message": "Failed", "TopicArn": TOPIC},
                               "End": True},
        },
    },
    "manual approval with an activity": {
        "StartAt": "ManualApproval",
        "TimeoutSeconds": 86400,
        "States": {
            "ManualApproval": {
                "Type": "Task",
                "Resource": "arn:aws:states:us-east-1:123456789012:activity:approve",
                "TimeoutSeconds": 3600, "HeartbeatSeconds": 60,
                "ResultPath": "$.approval",
                "Retry": [{"ErrorEquals": ["States.HeartbeatTimeout"], "MaxAttempts": 1}],
                "Catch": [{"ErrorEquals": ["States.Timeout", "States.TaskFailed"],
                           "ResultPath": "$.error", "Next": "Rejected"}],
                "Next": "Approved?",
            },
            "Approved?": {"Type": "Choice", "Choices": [
                {"Variable": "$.approval.decision", "StringEquals": "approve", "Next": "Done"}],
                "Default": "Rejected"},
            "Rejected": {"Type": "Fail", "Error": "Rejected", "CausePath": "$.approval.reason"},
            "Done": {"Type": "Succeed"},
        },
    },
    "legacy Map with Iterator and Parameters": {
        "StartAt": "Map",
        "States": {
            "Map": {
                "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
                "Parameters": {"index.$": "$$.Map.Item.Index", "item.$": "$$.Map.Item.Value",
                               "shared.$": "$.shared"},
                "Iterator": {"StartAt": "Work", "States": {"Work": {
                    "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:w",
                    "Retry": [{"ErrorEquals": ["Lambda.ServiceException", "Lambda.TooManyRequestsException"],
                               "IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2,
                               "JitterStrategy": "FULL", "MaxDelaySeconds": 30}],
                    "End": True}}},
                "ResultPath": "$.results", "End": True,
            }
        },
    },
    "distributed Map over a CSV in S3": {
        "StartAt": "Process",
        "States": {
            "Process": {
                "Type": "Map",
                "Label": "Process",
                "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                               "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW",
                                                "MaxItems": 100},
                               "Parameters": {"Bucket": "b", "Key.$": "$.key"}},
                "ItemBatcher": {"MaxItemsPerBatch": 10, "BatchInput": {"run.$": "$$.Execution.Name"}},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                    "StartAt": "Handle",
                    "States": {"Handle": {"Type": "Task",
                                          "Resource": "arn:aws:states:::lambda:invoke",
                                          "Parameters": {"FunctionName": "f", "Payload.$": "$"},
                                          "OutputPath": "$.Payload", "End": True}},
                },
                "ToleratedFailurePercentage": 5,
                "MaxConcurrency": 100,
                "End": True,
            }
        },
    },
    "JSONata with variables": {
        "QueryLanguage": "JSONata",
        "StartAt": "Get",
        "States": {
            "Get": {
                "Type": "Task", "Resource": "arn:aws:states:::dynamodb:getItem",
                "Arguments": {"TableName": "t", "Key": {"id": {"S": "{% $states.input.id %}"}}},
                "Assign": {"item": "{% $states.result.Item %}"},
                "Output": "{% $states.input %}",
                "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed",
                           "Output": {"why": "{% $states.errorOutput.Cause %}"}}],
                "TimeoutSeconds": "{% 30 %}",
                "Next": "Decide",
            },
            "Decide": {"Type": "Choice", "Choices": [
                {"Condition": "{% $exists($item.status) and $item.status.S = 'ok' %}",
                 "Next": "Wait", "Assign": {"ok": True}}], "Default": "Failed"},
            "Wait": {"Type": "Wait", "Seconds": "{% $count($states.input.items) %}", "Next": "Fan"},
            "Fan": {"Type": "Parallel", "Arguments": {"id": "{% $states.input.id %}"},
                    "Branches": [{"StartAt": "One", "States": {"One": {
                        "Type": "Pass", "Output": "{% $states.input.id %}", "End": True}}}],
                    "Output": "{% $states.result %}", "Next": "Done"},
            "Done": {"Type": "Succeed", "Output": {"ok": "{% $ok %}"}},
            "Failed": {"Type": "Fail", "Error": "NotOk", "Cause": "{% 'item ' & $states.input.id %}"},
        },
    },
    "JSONPath with intrinsics and variables": {
        "StartAt": "Prepare",
        "States": {
            "Prepare": {"Type": "Pass",
                        "Parameters": {"id.$": "States.UUID()",
                                       "parts.$": "States.StringSplit($.name, '-')",
                                       "hash.$": "States.Hash($.name, 'SHA-256')"},
                        "Assign": {"name.$": "$.name"}, "Next": "Wait"},
            "Wait": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "Check"},
            "Check": {"Type": "Choice", "Choices": [
                {"And": [{"Variable": "$name", "IsPresent": True},
                         {"Variable": "$.parts[0]", "StringMatches": "order*"}],
                 "Next": "Done"}], "Default": "Done"},
            "Done": {"Type": "Succeed", "OutputPath": "$.id"},
        },
    },
}  # fmt: skip


@pytest.mark.parametrize("name", list(SAMPLES))
def test_sample_is_valid(name):
    text = json.dumps(SAMPLES[name])
    assert diagnostics(text) == []
    parse(text)
