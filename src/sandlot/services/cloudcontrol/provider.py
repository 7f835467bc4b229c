"""AWS Cloud Control API, as far as it reads: ``GetResource`` for the resource types
whose CloudFormation class can read a resource back (``ResourceType.read``; today
``AWS::Lambda::Url``, which ``sam list endpoints`` asks for every function). It goes
through the same resource classes as CloudFormation, as on AWS (one resource provider
per type serves both), and runs as the caller, so the caller needs the handler's own
permissions (``lambda:GetFunctionUrlConfig``) beside ``cloudformation:GetResource``.
The other operations answer 501.
"""

from __future__ import annotations

import json
import uuid

from sandlot.protocol import ServiceError
from sandlot.services.cloudformation import schemas
from sandlot.services.cloudformation.handlers import ResourceContext, resource_type
from sandlot.services.provider import Provider, RequestContext


class CloudControlProvider(Provider):
    service = "cloudcontrol"

    async def get_resource(self, ctx: RequestContext, params: dict) -> dict:
        type_name, identifier = params["TypeName"], params["Identifier"]
        if schemas.schema(type_name) is None:
            raise ServiceError("TypeNotFoundException", f"The type '{type_name}' cannot be found.")
        handler = resource_type(type_name)
        if handler is None or handler.read is None:
            raise ServiceError(
                "UnsupportedActionException",
                f"Resource type {type_name} does not support READ action",
            )
        resource = ResourceContext(self.platform, ctx.principal, ctx.region, stack_name="",
                                   stack_id="", logical_id="", stack_tags=[])  # fmt: skip
        found = await handler.read(resource, identifier)
        if found is None:
            raise ServiceError(
                "ResourceNotFoundException",
                f"{type_name} Handler returned status FAILED: Resource of type '{type_name}' "
                f"with identifier '{identifier}' was not found. (HandlerErrorCode: NotFound, "
                f"RequestToken: {uuid.uuid4()})",
            )
        return {
            "TypeName": type_name,
            "ResourceDescription": {"Identifier": identifier, "Properties": json.dumps(found)},
        }
