"""The AWS services sandlot serves: one folder each, one Provider class per service.

``PROVIDERS`` is sandlot's one registry: service name (botocore's) → the provider
class, imported lazily so start-up pays only for services that are used.
"""

from __future__ import annotations

import importlib

PROVIDERS: dict[str, str] = {
    "sts": "sandlot.services.sts.provider:StsProvider",
    "lambda": "sandlot.services.awslambda.provider:LambdaProvider",
    "logs": "sandlot.services.logs.provider:LogsProvider",
    "iam": "sandlot.services.iam.provider:IamProvider",
    "s3": "sandlot.services.s3.provider:S3Provider",
    "kms": "sandlot.services.kms.provider:KmsProvider",
    "sqs": "sandlot.services.sqs.provider:SqsProvider",
    "sns": "sandlot.services.sns.provider:SnsProvider",
    "secretsmanager": "sandlot.services.secretsmanager.provider:SecretsManagerProvider",
    "ssm": "sandlot.services.ssm.provider:SsmProvider",
    "dynamodb": "sandlot.services.dynamodb.provider:DynamoDBProvider",
    "apigatewayv2": "sandlot.services.apigatewayv2.provider:HttpApiProvider",
    "apigateway": "sandlot.services.apigateway.provider:RestApiProvider",
    "cloudformation": "sandlot.services.cloudformation.provider:CloudFormationProvider",
    "dynamodbstreams": "sandlot.services.dynamodbstreams.provider:DynamoDBStreamsProvider",
    "stepfunctions": "sandlot.services.stepfunctions.provider:StepFunctionsProvider",
    "events": "sandlot.services.events.provider:EventsProvider",
    "scheduler": "sandlot.services.scheduler.provider:SchedulerProvider",
    "pipes": "sandlot.services.pipes.provider:PipesProvider",
    "ecr": "sandlot.services.ecr.provider:EcrProvider",
    "kinesis": "sandlot.services.kinesis.provider:KinesisProvider",
    "firehose": "sandlot.services.firehose.provider:FirehoseProvider",
    "cognito-idp": "sandlot.services.cognitoidp.provider:CognitoIdpProvider",
    "cloudcontrol": "sandlot.services.cloudcontrol.provider:CloudControlProvider",
    "cloudwatch": "sandlot.services.cloudwatch.provider:CloudWatchProvider",
    "xray": "sandlot.services.xray.provider:XRayProvider",
}

# Services whose wire protocol sandlot knows (request routing and conformance tests
# cover them) even where no provider exists yet: calls to those answer 501.
KNOWN_SERVICES: tuple[str, ...] = (
    "lambda", "s3", "sqs", "sns", "dynamodb", "dynamodbstreams", "kinesis", "iam", "sts",
    "logs", "cloudwatch", "events", "scheduler", "stepfunctions", "cloudformation",
    "apigateway", "apigatewayv2", "secretsmanager", "ssm", "cognito-idp", "firehose", "pipes",
    "xray",
)  # fmt: skip


def provider_class(service: str) -> type | None:
    """The provider class for ``service``, or None when sandlot does not serve it yet."""
    target = PROVIDERS.get(service)
    if target is None:
        return None
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)
