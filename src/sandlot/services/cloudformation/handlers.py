"""What a resource type is to the engine: one class per ``AWS::X::Y`` living with its
service (``services/<name>/resources.py``), doing create/update/delete through
``Platform.call`` as the stack's principal, and returning the Ref and Fn::GetAtt values
AWS returns. ``RESOURCE_TYPES`` is the registry (type → class, imported lazily)."""

from __future__ import annotations

import importlib
import json
import random
import string
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError
from sandlot.protocol.http import FileBody

if TYPE_CHECKING:
    from sandlot.platform import Platform

RESOURCE_TYPES: dict[str, str] = {
    "AWS::CloudFormation::Stack": "sandlot.services.cloudformation.resources:NestedStack",
    "AWS::IAM::Role": "sandlot.services.iam.resources:Role",
    "AWS::IAM::Policy": "sandlot.services.iam.resources:Policy",
    "AWS::IAM::ManagedPolicy": "sandlot.services.iam.resources:ManagedPolicy",
    "AWS::IAM::ServiceLinkedRole": "sandlot.services.iam.resources:ServiceLinkedRole",
    "AWS::IAM::User": "sandlot.services.iam.resources:User",
    "AWS::IAM::AccessKey": "sandlot.services.iam.resources:AccessKey",
    "AWS::IAM::OIDCProvider": "sandlot.services.iam.resources:OIDCProvider",
    "AWS::SecretsManager::Secret": "sandlot.services.secretsmanager.resources:Secret",
    "AWS::Lambda::Function": "sandlot.services.awslambda.resources:Function",
    "AWS::Lambda::EventSourceMapping": "sandlot.services.awslambda.resources:EventSourceMapping",
    "AWS::Lambda::Permission": "sandlot.services.awslambda.resources:Permission",
    "AWS::Lambda::Version": "sandlot.services.awslambda.resources:Version",
    "AWS::Lambda::Alias": "sandlot.services.awslambda.resources:Alias",
    "AWS::Lambda::LayerVersion": "sandlot.services.awslambda.resources:LayerVersion",
    "AWS::Lambda::LayerVersionPermission": "sandlot.services.awslambda.resources:LayerVersionPermission",
    "AWS::Lambda::CodeSigningConfig": "sandlot.services.awslambda.resources:CodeSigningConfig",
    "AWS::Lambda::Url": "sandlot.services.awslambda.resources:Url",
    "AWS::ApiGateway::RestApi": "sandlot.services.apigateway.stack_resources:RestApi",
    "AWS::ApiGateway::Resource": "sandlot.services.apigateway.stack_resources:Resource",
    "AWS::ApiGateway::Method": "sandlot.services.apigateway.stack_resources:Method",
    "AWS::ApiGateway::Deployment": "sandlot.services.apigateway.stack_resources:Deployment",
    "AWS::ApiGateway::Stage": "sandlot.services.apigateway.stack_resources:Stage",
    "AWS::ApiGateway::Authorizer": "sandlot.services.apigateway.stack_resources:Authorizer",
    "AWS::ApiGateway::ApiKey": "sandlot.services.apigateway.stack_resources:ApiKey",
    "AWS::ApiGateway::UsagePlan": "sandlot.services.apigateway.stack_resources:UsagePlan",
    "AWS::ApiGateway::UsagePlanKey": "sandlot.services.apigateway.stack_resources:UsagePlanKey",
    "AWS::ApiGateway::Model": "sandlot.services.apigateway.stack_resources:Model",
    "AWS::ApiGateway::RequestValidator": "sandlot.services.apigateway.stack_resources:RequestValidator",
    "AWS::ApiGateway::GatewayResponse": "sandlot.services.apigateway.stack_resources:GatewayResponse",
    "AWS::ApiGatewayV2::Api": "sandlot.services.apigatewayv2.stack_apis:Api",
    "AWS::ApiGatewayV2::Stage": "sandlot.services.apigatewayv2.stack_apis:Stage",
    "AWS::ApiGatewayV2::Integration": "sandlot.services.apigatewayv2.stack_apis:Integration",
    "AWS::ApiGatewayV2::Route": "sandlot.services.apigatewayv2.stack_apis:Route",
    "AWS::ApiGatewayV2::Authorizer": "sandlot.services.apigatewayv2.stack_apis:Authorizer",
    "AWS::ApiGatewayV2::RouteResponse": "sandlot.services.apigatewayv2.stack_apis:RouteResponse",
    "AWS::ApiGatewayV2::Deployment": "sandlot.services.apigatewayv2.stack_apis:Deployment",
    "AWS::S3::Bucket": "sandlot.services.s3.resources:Bucket",
    "AWS::S3::BucketPolicy": "sandlot.services.s3.resources:BucketPolicy",
    "AWS::SQS::Queue": "sandlot.services.sqs.resources:Queue",
    "AWS::SQS::QueuePolicy": "sandlot.services.sqs.resources:QueuePolicy",
    "AWS::SNS::Topic": "sandlot.services.sns.resources:Topic",
    "AWS::SNS::Subscription": "sandlot.services.sns.resources:Subscription",
    "AWS::SNS::TopicPolicy": "sandlot.services.sns.resources:TopicPolicy",
    "AWS::Lambda::EventInvokeConfig": "sandlot.services.awslambda.resources:EventInvokeConfig",
    "AWS::SSM::Parameter": "sandlot.services.ssm.resources:Parameter",
    "AWS::CloudWatch::Alarm": "sandlot.services.cloudwatch.resources:Alarm",
    "AWS::CloudWatch::CompositeAlarm": "sandlot.services.cloudwatch.resources:CompositeAlarm",
    "AWS::Logs::LogGroup": "sandlot.services.logs.resources:LogGroup",
    "AWS::ApiGatewayV2::DomainName": "sandlot.services.apigatewayv2.stack_resources:DomainName",
    "AWS::ApiGatewayV2::ApiMapping": "sandlot.services.apigatewayv2.stack_resources:ApiMapping",
    "AWS::StepFunctions::StateMachine": "sandlot.services.stepfunctions.resources:StateMachine",
    "AWS::StepFunctions::Activity": "sandlot.services.stepfunctions.resources:Activity",
    "AWS::StepFunctions::StateMachineVersion": "sandlot.services.stepfunctions.resources:StateMachineVersion",
    "AWS::StepFunctions::StateMachineAlias": "sandlot.services.stepfunctions.resources:StateMachineAlias",
    "AWS::Events::EventBus": "sandlot.services.events.resources:EventBus",
    "AWS::Events::Rule": "sandlot.services.events.resources:Rule",
    "AWS::Events::EventBusPolicy": "sandlot.services.events.resources:EventBusPolicy",
    "AWS::Events::Connection": "sandlot.services.events.resources:Connection",
    "AWS::Events::ApiDestination": "sandlot.services.events.resources:ApiDestination",
    "AWS::Events::Archive": "sandlot.services.events.resources:Archive",
    "AWS::Scheduler::Schedule": "sandlot.services.scheduler.resources:Schedule",
    "AWS::Scheduler::ScheduleGroup": "sandlot.services.scheduler.resources:ScheduleGroup",
    "AWS::Pipes::Pipe": "sandlot.services.pipes.resources:Pipe",
    "AWS::CDK::Metadata": "sandlot.services.cloudformation.resources:CdkMetadata",
    "AWS::ECR::Repository": "sandlot.services.ecr.resources:Repository",
    "AWS::Cognito::UserPool": "sandlot.services.cognitoidp.resources:UserPool",
    "AWS::Cognito::UserPoolClient": "sandlot.services.cognitoidp.resources:UserPoolClient",
    "AWS::Cognito::UserPoolGroup": "sandlot.services.cognitoidp.resources:UserPoolGroup",
    "AWS::CloudFormation::Macro": "sandlot.services.cloudformation.macros:Macro",
    "AWS::CloudFormation::CustomResource": "sandlot.services.cloudformation.custom:CustomResource",
    "AWS::CloudFormation::WaitConditionHandle": "sandlot.services.cloudformation.custom:WaitConditionHandle",
    "AWS::CloudFormation::WaitCondition": "sandlot.services.cloudformation.custom:WaitCondition",
    "AWS::Kinesis::Stream": "sandlot.services.kinesis.resources:Stream",
    "AWS::Kinesis::StreamConsumer": "sandlot.services.kinesis.resources:StreamConsumer",
    "AWS::KinesisFirehose::DeliveryStream": "sandlot.services.firehose.resources:DeliveryStream",
    "AWS::DynamoDB::Table": "sandlot.services.dynamodb.resources:Table",
}
CUSTOM_PREFIX = "Custom::"  # Custom::<Name>: a custom resource named by its author


class ResourceFailed(Exception):
    """A resource operation failed; the message is the event's status reason."""


@dataclass
class Outcome:
    """What a create or update left: the physical id, the Ref value, GetAtt values."""

    physical_id: str
    ref: Any
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class ResourceContext:
    """One resource of one stack operation, as its type's class sees it."""

    platform: Platform
    principal: Principal
    region: str
    stack_name: str
    stack_id: str
    logical_id: str
    stack_tags: list[dict]

    @property
    def account_id(self) -> str:
        return self.principal.account_id

    async def call(self, service: str, operation: str, params: dict) -> dict:
        """An AWS call as the stack's principal; an AWS error becomes the resource's
        failure reason in AWS's shape ("<message> (Service: X, Status Code: 400, ...)")."""
        try:
            return await self.platform.call(
                service, operation, params, principal=self.principal, region=self.region
            )
        except ServiceError as e:
            raise ResourceFailed(
                f"{e.message or e.code} (Service: {service}, Status Code: {e.status}, "
                f"Request ID: {self.stack_id.rsplit('/', 1)[-1]}) (HandlerErrorCode: "
                f"{_handler_code(e)})"
            ) from e

    async def s3_object(self, location: dict) -> bytes:
        """The bytes of an S3 object a template names (``Bucket``, ``Key``, optional
        ``Version``: a ``BodyS3Location``), read as the stack's principal."""
        params = {"Bucket": location["Bucket"], "Key": location["Key"]}
        if location.get("Version"):
            params["VersionId"] = location["Version"]
        body = (await self.call("s3", "GetObject", params))["Body"]
        if isinstance(body, FileBody):  # S3 streams large bodies from its blob file
            with body.file as f:
                f.seek(body.offset)
                return f.read(body.length)
        return bytes(body)

    def generated_name(self, max_length: int, suffix: str = "") -> str:
        """AWS's generated physical name: ``<stack>-<logical>-<RANDOM>`` cut to fit."""
        tail = "".join(random.choices(string.ascii_uppercase + string.digits, k=12))
        room = max_length - len(tail) - len(suffix) - 2
        stack, logical = self.stack_name, self.logical_id
        if len(stack) + len(logical) > room:
            stack = stack[: max(room // 2, room - len(logical))]
            logical = logical[: room - len(stack)]
        return f"{stack}-{logical}-{tail}{suffix}"

    def tags(self, properties: dict) -> list[dict]:
        """The stack's tags, then the resource's own. (AWS adds aws:cloudformation:*
        tags as the service; sandlot's services refuse the aws: prefix from any
        caller, so those are not written.)"""
        merged = {t["Key"]: t["Value"] for t in self.stack_tags}
        own = properties.get("Tags") or []
        if isinstance(own, dict):
            merged.update(own)
        else:
            merged.update({t["Key"]: t["Value"] for t in own})
        return [{"Key": k, "Value": str(v)} for k, v in merged.items()]


def _handler_code(error: ServiceError) -> str:
    if "NotFound" in error.code or "NoSuch" in error.code or "DoesNotExist" in error.code:
        return "NotFound"
    if "AlreadyExists" in error.code or "Conflict" in error.code:
        return "AlreadyExists"
    if error.code in ("AccessDenied", "AccessDeniedException"):
        return "AccessDenied"
    return "InvalidRequest" if error.status < 500 else "GeneralServiceException"


def not_found(error: ResourceFailed) -> bool:
    return "(HandlerErrorCode: NotFound)" in str(error)


def as_json(value: Any) -> str:
    """A policy document given as an object in the template, as the API wants it."""
    return value if isinstance(value, str) else json.dumps(value)


class ResourceType:
    """Base class of a resource type. ``name_property`` names the property that gives
    the physical name (generated as AWS does when absent, ``name_length`` at most)."""

    type_name: ClassVar[str]
    name_property: ClassVar[str | None] = None
    name_length: ClassVar[int] = 255
    # Fn::GetAtt names AWS documents beyond the schema's read-only properties.
    extra_attributes: ClassVar[frozenset[str]] = frozenset()
    # True when a create/update/delete a restart interrupted may simply be run again
    # (it finds its own durable state and waits on): the stack resumes instead of
    # rolling back.
    resumable: ClassVar[bool] = False
    # True when a create that failed may still have made something to delete (the
    # failure names a physical id): rollback sends the delete, as AWS does for custom
    # resources.
    delete_after_failed_create: ClassVar[bool] = False

    def planned_name(self, ctx: ResourceContext, properties: dict) -> str | None:
        """The physical name, chosen (and recorded) before create so that a crash
        mid-create leaves a name rollback can delete."""
        if self.name_property is None:
            return None
        return properties.get(self.name_property) or ctx.generated_name(self.name_length)

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        raise NotImplementedError

    async def update(
        self, ctx: ResourceContext, current: Outcome, properties: dict, previous: dict
    ) -> Outcome:
        raise NotImplementedError

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        raise NotImplementedError

    # A type that can read a resource back (its properties by primary identifier, None
    # when absent) overrides ``read``: Cloud Control's GetResource serves those types.
    read: ClassVar[Any] = None


def resource_type(type_name: str) -> ResourceType | None:
    custom = type_name.startswith(CUSTOM_PREFIX)
    target = RESOURCE_TYPES.get("AWS::CloudFormation::CustomResource" if custom else type_name)
    if target is None:
        return None
    module, _, name = target.partition(":")
    handler = getattr(importlib.import_module(module), name)()
    if custom:
        handler.type_name = type_name  # the provider's request names it
    return handler
