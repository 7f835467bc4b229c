"""AWS managed policies that serverless applications attach, as data.

They exist in every account under their real ARNs (``arn:aws:iam::aws:policy/<path><name>``)
and cannot be changed. Documents follow AWS's published default versions for the
services sandlot serves; actions of services sandlot does not serve (Data Pipeline,
EC2 networking, KMS listings, console helpers) are left out, as they could never apply.
Each is reported with one version, ``v1`` (AWS's revised policies have later ids).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_LOG_WRITES = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
# The day AWS introduced managed policies; one CreateDate/UpdateDate for all of them
# (each real policy has its own dates, which sandlot does not track).
_CREATED = dt.datetime(2015, 2, 6, 18, 40, tzinfo=dt.UTC).timestamp()


@dataclass(frozen=True, slots=True)
class ManagedPolicy:
    """One AWS managed policy; ``document`` is its default version (``v1`` here)."""

    name: str
    path: str
    description: str
    document: str
    created_at: float = _CREATED

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::aws:policy{self.path}{self.name}"

    @property
    def policy_id(self) -> str:
        """A stable ``ANPA…`` id (21 characters) derived from the ARN."""
        digest = hashlib.sha256(self.arn.encode()).digest()
        return "ANPA" + "".join(_ALPHABET[b % 32] for b in digest[:17])


def _doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=4)


def _allow(actions: list[str] | str, resource: str | list[str] = "*", **extra) -> dict:
    return {"Effect": "Allow", "Action": actions, "Resource": resource, **extra}


# ReadOnlyAccess is AWS's read-only view of every service; this is the subset over the
# services sandlot serves or routes (their Get*/List*/Describe* families and the few
# read actions outside them), which is what can ever apply here.
_READ_ONLY_SERVICES = (
    "apigateway", "cloudformation", "cloudwatch", "cognito-idp", "dynamodb", "events",
    "iam", "kinesis", "lambda", "logs", "s3", "scheduler", "secretsmanager", "sns", "sqs",
    "ssm", "states", "sts", "xray",
)  # fmt: skip
_READ_ONLY_ACTIONS = sorted(
    f"{service}:{verb}*" for service in _READ_ONLY_SERVICES for verb in ("Describe", "Get", "List")
) + [
    "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan", "logs:FilterLogEvents",
    "logs:StartQuery", "logs:StopQuery", "logs:TestMetricFilter", "sqs:ReceiveMessage",
    "xray:BatchGetTraces",
]  # fmt: skip

_POLICIES = (
    ManagedPolicy(
        "AWSLambdaBasicExecutionRole",
        "/service-role/",
        "Provides write permissions to CloudWatch Logs.",
        _doc(_allow(_LOG_WRITES)),
    ),
    ManagedPolicy(
        "AWSLambdaSQSQueueExecutionRole",
        "/service-role/",
        "Provides receive message, delete message, and read attribute access to SQS "
        "queues, and write permissions to CloudWatch logs.",
        _doc(
            _allow(
                ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"] + _LOG_WRITES
            ),
        ),
    ),
    ManagedPolicy(
        "AWSLambdaDynamoDBExecutionRole",
        "/service-role/",
        "Provides list and read access to DynamoDB streams and write permissions to "
        "CloudWatch logs.",
        _doc(
            _allow(
                [
                    "dynamodb:DescribeStream",
                    "dynamodb:GetRecords",
                    "dynamodb:GetShardIterator",
                    "dynamodb:ListStreams",
                ]
                + _LOG_WRITES
            )
        ),
    ),
    ManagedPolicy(
        "AWSLambdaKinesisExecutionRole",
        "/service-role/",
        "Provides list and read access to Kinesis streams and write permissions to "
        "CloudWatch logs.",
        _doc(
            _allow(
                [
                    "kinesis:DescribeStream",
                    "kinesis:DescribeStreamSummary",
                    "kinesis:GetRecords",
                    "kinesis:GetShardIterator",
                    "kinesis:ListShards",
                    "kinesis:ListStreams",
                    "kinesis:SubscribeToShard",
                ]
                + _LOG_WRITES
            )
        ),
    ),
    ManagedPolicy(
        "AWSLambdaRole",
        "/service-role/",
        "Default policy for AWS Lambda service role.",
        _doc(_allow(["lambda:InvokeFunction"])),
    ),
    ManagedPolicy(
        "AmazonS3ReadOnlyAccess",
        "/",
        "Provides read only access to all buckets via the AWS Management Console.",
        _doc(
            _allow(
                [
                    "s3:Get*",
                    "s3:List*",
                    "s3:Describe*",
                    "s3-object-lambda:Get*",
                    "s3-object-lambda:List*",
                ]
            )
        ),
    ),
    ManagedPolicy(
        "AmazonS3FullAccess",
        "/",
        "Provides full access to all buckets via the AWS Management Console.",
        _doc(_allow(["s3:*", "s3-object-lambda:*"])),
    ),
    ManagedPolicy(
        "AmazonDynamoDBFullAccess",
        "/",
        "Provides full access to Amazon DynamoDB via the AWS Management Console.",
        _doc(
            _allow(
                [
                    "dynamodb:*",
                    "dax:*",
                    "application-autoscaling:DeleteScalingPolicy",
                    "application-autoscaling:DeregisterScalableTarget",
                    "application-autoscaling:DescribeScalableTargets",
                    "application-autoscaling:DescribeScalingActivities",
                    "application-autoscaling:DescribeScalingPolicies",
                    "application-autoscaling:PutScalingPolicy",
                    "application-autoscaling:RegisterScalableTarget",
                    "cloudwatch:DeleteAlarms",
                    "cloudwatch:DescribeAlarmHistory",
                    "cloudwatch:DescribeAlarms",
                    "cloudwatch:DescribeAlarmsForMetric",
                    "cloudwatch:GetMetricStatistics",
                    "cloudwatch:ListMetrics",
                    "cloudwatch:PutMetricAlarm",
                    "cloudwatch:GetMetricData",
                    "iam:GetRole",
                    "iam:ListRoles",
                    "kinesis:DescribeStream",
                    "kinesis:DescribeStreamSummary",
                    "kinesis:ListStreams",
                    "lambda:CreateEventSourceMapping",
                    "lambda:CreateFunction",
                    "lambda:DeleteEventSourceMapping",
                    "lambda:DeleteFunction",
                    "lambda:GetFunctionConfiguration",
                    "lambda:ListEventSourceMappings",
                    "lambda:ListFunctions",
                    "sns:CreateTopic",
                    "sns:DeleteTopic",
                    "sns:ListSubscriptions",
                    "sns:ListSubscriptionsByTopic",
                    "sns:ListTopics",
                    "sns:SetTopicAttributes",
                    "sns:Subscribe",
                    "sns:Unsubscribe",
                    "tag:GetResources",
                ]
            ),
            _allow(
                "iam:PassRole",
                Condition={
                    "StringLike": {
                        "iam:PassedToService": [
                            "application-autoscaling.amazonaws.com",
                            "dax.amazonaws.com",
                        ]
                    }
                },
            ),
        ),
    ),
    ManagedPolicy(
        "AmazonSQSFullAccess",
        "/",
        "Provides full access to Amazon SQS via the AWS Management Console.",
        _doc(_allow(["sqs:*"])),
    ),
    ManagedPolicy(
        "AmazonSNSFullAccess",
        "/",
        "Provides full access to Amazon SNS via the AWS Management Console.",
        _doc(_allow(["sns:*"])),
    ),
    ManagedPolicy(
        "AWSXrayWriteOnlyAccess",
        "/",
        "AWS X-Ray write only managed policy",
        _doc(
            _allow(
                [
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                    "xray:GetSamplingRules",
                    "xray:GetSamplingTargets",
                    "xray:GetSamplingStatisticSummaries",
                ]
            )
        ),
    ),
    ManagedPolicy(
        "AWSStepFunctionsFullAccess",
        "/",
        "An access policy for providing a user/role/etc access to the AWS StepFunctions "
        "API. For full access, in addition to this policy, a user MUST have iam:PassRole "
        "permission on at least one IAM role that can be assumed by the service.",
        _doc(_allow("states:*")),
    ),
    ManagedPolicy(
        "CloudWatchLogsFullAccess",
        "/",
        "Provides full access to CloudWatch Logs",
        _doc(_allow(["logs:*", "cloudwatch:GenerateQuery"])),
    ),
    ManagedPolicy(
        "AdministratorAccess",
        "/",
        "Provides full access to AWS services and resources.",
        _doc(_allow("*")),
    ),
    ManagedPolicy(
        "ReadOnlyAccess",
        "/",
        "Provides read-only access to AWS services and resources.",
        _doc(_allow(_READ_ONLY_ACTIONS)),
    ),
)

BY_ARN: dict[str, ManagedPolicy] = {p.arn: p for p in _POLICIES}
ALL: tuple[ManagedPolicy, ...] = tuple(sorted(_POLICIES, key=lambda p: p.name.lower()))
