"""REST API resources, their methods, integrations and responses, one by one.

A resource's document holds its methods (``resourceMethods``), each method its
integration (``methodIntegration``) and responses, as GetResource returns them with
``embed=methods``; a deployment snapshots them all. Integration types: ``AWS_PROXY``
(Lambda), ``HTTP_PROXY``, ``MOCK``, ``AWS`` and ``HTTP`` are served (``integrations.py``); a
mapping template that is not valid Velocity is refused by PutIntegration and
PutIntegrationResponse (BadRequestException), so none fails to parse at request time.
"""

from __future__ import annotations

import re

from sandlot.services.apigateway import integrations, patch
from sandlot.services.apigateway.base import (
    Doc,
    RestApiBase,
    bad_request,
    conflict,
    function_of,
    new_id,
    not_found,
)
from sandlot.services.provider import RequestContext

_PATH_PART = re.compile(r"^(?:[A-Za-z0-9._-]+|\{[A-Za-z0-9._-]+\+?\})$")
_VERBS = ("GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "ANY")
_INTEGRATION_TYPES = ("HTTP", "AWS", "MOCK", "HTTP_PROXY", "AWS_PROXY")
_AUTHORIZATION_TYPES = ("NONE", "AWS_IAM", "CUSTOM", "COGNITO_USER_POOLS")
_METHOD_FIELDS = ("authorizerId", "operationName", "requestParameters", "requestModels",
                  "requestValidatorId", "authorizationScopes")  # fmt: skip
_INTEGRATION_FIELDS = ("uri", "connectionType", "connectionId", "credentials",
                       "requestParameters", "requestTemplates", "contentHandling",
                       "cacheNamespace", "tlsConfig")  # fmt: skip


class ResourceOperations(RestApiBase):
    # == resources =========================================================================

    def create_resource(self, ctx: RequestContext, params: dict) -> dict:
        api_id, part = params["restApiId"], params["pathPart"]
        parent = self._existing(ctx, api_id, "resource", params["parentId"])
        if not _PATH_PART.match(part):
            raise bad_request(
                "Resource's path part only allow a-zA-Z0-9._- and curly braces at the "
                "beginning and the end and an optional plus sign before the closing brace."
            )
        if parent.get("pathPart", "").endswith("+}"):
            raise bad_request(
                f"Cannot create a child of a resource with a greedy path variable: "
                f"{parent['pathPart']}"
            )
        for sibling in self._children(api_id, parent["id"]):
            if sibling["pathPart"] == part:
                raise conflict(
                    f"Another resource with the same parent already has this name: {part}"
                )
            if sibling["pathPart"].startswith("{") and part.startswith("{"):
                raise bad_request(
                    f"A sibling ({sibling['pathPart']}) of this resource already has a "
                    "variable path part -- only one is allowed"
                )
        resource: Doc = {
            "id": new_id(6),
            "parentId": parent["id"],
            "pathPart": part,
            "path": parent["path"].rstrip("/") + "/" + part,
        }
        self._save(api_id, "resource", resource["id"], resource)
        return resource

    def get_resource(self, ctx: RequestContext, params: dict) -> dict:
        resource = self._existing(ctx, params["restApiId"], "resource", params["resourceId"])
        if "methods" not in (params.get("embed") or []):
            # Without embed=methods AWS lists the methods without their details.
            methods = resource.get("resourceMethods")
            if methods:
                resource["resourceMethods"] = {verb: {} for verb in methods}
        return resource

    def update_resource(self, ctx: RequestContext, params: dict) -> dict:
        """Renaming a resource (``/pathPart``) renames its descendants' paths too."""
        api_id = params["restApiId"]
        resource = self._existing(ctx, api_id, "resource", params["resourceId"])
        if "parentId" not in resource:
            raise bad_request("Root resource cannot be modified")
        before = resource["path"]
        patch.apply(resource, params.get("patchOperations") or [], ("pathPart",))
        if not _PATH_PART.match(str(resource["pathPart"])):
            raise bad_request("Invalid resource path part: " + str(resource["pathPart"]))
        after = before.rsplit("/", 1)[0] + "/" + resource["pathPart"]
        with self.store.transaction():
            for other in self._items(api_id, "resource"):
                if other["path"] == before or other["path"].startswith(before + "/"):
                    other["path"] = after + other["path"][len(before) :]
                    if other["id"] == resource["id"]:
                        other["pathPart"] = resource["pathPart"]
                    self._save(api_id, "resource", other["id"], other)
        return self._item(api_id, "resource", resource["id"]) or resource

    def delete_resource(self, ctx: RequestContext, params: dict) -> dict:
        """The resource and everything under it."""
        api_id = params["restApiId"]
        resource = self._existing(ctx, api_id, "resource", params["resourceId"])
        if "parentId" not in resource:
            raise bad_request("Cannot delete the root resource")
        with self.store.transaction():
            for other in self._items(api_id, "resource"):
                if other["path"] == resource["path"] or other["path"].startswith(
                    resource["path"] + "/"
                ):
                    self._delete(api_id, "resource", other["id"])
        return {}

    def _children(self, api_id: str, parent_id: str) -> list[Doc]:
        return [r for r in self._items(api_id, "resource") if r.get("parentId") == parent_id]

    # == methods ===========================================================================

    def put_method(self, ctx: RequestContext, params: dict) -> dict:
        api_id, verb = params["restApiId"], params["httpMethod"].upper()
        resource = self._existing(ctx, api_id, "resource", params["resourceId"])
        if verb not in _VERBS:
            raise bad_request("Invalid HttpMethod specified. Valid options are " + ",".join(_VERBS))
        if verb in (resource.get("resourceMethods") or {}):
            raise conflict("Method already exists for this resource")
        kind = params["authorizationType"]
        if kind not in _AUTHORIZATION_TYPES:
            raise bad_request(
                "Invalid authorization type specified. Valid options are "
                + ",".join(_AUTHORIZATION_TYPES)
            )
        method: Doc = {
            "httpMethod": verb,
            "authorizationType": kind,
            "apiKeyRequired": bool(params.get("apiKeyRequired")),
        }
        method.update((f, params[f]) for f in _METHOD_FIELDS if params.get(f) is not None)
        self._check_authorizer(api_id, method)
        resource.setdefault("resourceMethods", {})[verb] = method
        self._save(api_id, "resource", resource["id"], resource)
        return method

    def _check_authorizer(self, api_id: str, method: Doc) -> None:
        if method["authorizationType"] in ("CUSTOM", "COGNITO_USER_POOLS"):
            authorizer_id = method.get("authorizerId")
            if not authorizer_id:
                raise bad_request("Invalid authorizer ID specified. Setting the authorization "
                                  "type to CUSTOM or COGNITO_USER_POOLS requires a valid "
                                  "authorizer.")  # fmt: skip
            if self._item(api_id, "authorizer", authorizer_id) is None:
                raise bad_request("Invalid authorizer ID specified. Setting the authorization "
                                  "type to CUSTOM or COGNITO_USER_POOLS requires a valid "
                                  "authorizer.")  # fmt: skip
        else:
            method.pop("authorizerId", None)

    def get_method(self, ctx: RequestContext, params: dict) -> dict:
        _, method = self._method(ctx, params)
        return method

    def update_method(self, ctx: RequestContext, params: dict) -> dict:
        resource, method = self._method(ctx, params)
        patch.apply(
            method,
            params.get("patchOperations") or [],
            ("authorizationType", "authorizerId", "apiKeyRequired", "operationName",
             "requestValidatorId", "authorizationScopes", "requestParameters", "requestModels"),
            {"apiKeyRequired": bool, "authorizationScopes": list},
        )  # fmt: skip
        if method["authorizationType"] not in _AUTHORIZATION_TYPES:
            raise bad_request("Invalid authorization type specified")
        self._check_authorizer(params["restApiId"], method)
        self._save(params["restApiId"], "resource", resource["id"], resource)
        return method

    def delete_method(self, ctx: RequestContext, params: dict) -> dict:
        resource, method = self._method(ctx, params)
        del resource["resourceMethods"][method["httpMethod"]]
        if not resource["resourceMethods"]:
            del resource["resourceMethods"]
        self._save(params["restApiId"], "resource", resource["id"], resource)
        return {}

    def _method(self, ctx: RequestContext, params: dict) -> tuple[Doc, Doc]:
        """(resource, method): both documents as stored, to change and save."""
        resource = self._existing(ctx, params["restApiId"], "resource", params["resourceId"])
        method = (resource.get("resourceMethods") or {}).get(params["httpMethod"].upper())
        if method is None:
            raise not_found("Invalid Method identifier specified")
        return resource, method

    # == method responses ==================================================================

    def put_method_response(self, ctx: RequestContext, params: dict) -> dict:
        resource, method = self._method(ctx, params)
        response: Doc = {"statusCode": params["statusCode"]}
        for field in ("responseParameters", "responseModels"):
            if params.get(field) is not None:
                response[field] = params[field]
        method.setdefault("methodResponses", {})[params["statusCode"]] = response
        self._save(params["restApiId"], "resource", resource["id"], resource)
        return response

    def get_method_response(self, ctx: RequestContext, params: dict) -> dict:
        _, method = self._method(ctx, params)
        found = (method.get("methodResponses") or {}).get(params["statusCode"])
        if found is None:
            raise not_found("Invalid Response status code specified")
        return found

    def delete_method_response(self, ctx: RequestContext, params: dict) -> dict:
        resource, method = self._method(ctx, params)
        self.get_method_response(ctx, params)
        del method["methodResponses"][params["statusCode"]]
        self._save(params["restApiId"], "resource", resource["id"], resource)
        return {}

    # == integrations ======================================================================

    def put_integration(self, ctx: RequestContext, params: dict) -> dict:
        resource, method = self._method(ctx, params)
        kind = params["type"]
        if kind not in _INTEGRATION_TYPES:
            raise bad_request(
                "Invalid integration type specified. Valid options are "
                + ",".join(_INTEGRATION_TYPES)
            )
        verb = params.get("integrationHttpMethod")
        if kind != "MOCK" and not verb:
            raise bad_request("Enumeration value for HttpMethod must be non-empty")
        if kind != "MOCK" and not params.get("uri"):
            raise bad_request("Invalid integration URI specified")
        if kind == "AWS" and not params["uri"].startswith("arn:aws:apigateway:"):
            raise bad_request("AWS ARN for integration must contain path or action")
        _check_templates(params.get("requestTemplates"))
        if kind == "AWS_PROXY" and function_of(params["uri"]) is None:
            raise bad_request(
                "Integrations of type 'AWS_PROXY' currently only supports Lambda function "
                "and Firehose stream invocations."
            )
        integration: Doc = {
            "type": kind,
            "passthroughBehavior": params.get("passthroughBehavior") or "WHEN_NO_MATCH",
            "timeoutInMillis": int(params.get("timeoutInMillis") or 29000),
            "cacheNamespace": resource["id"],
            "cacheKeyParameters": params.get("cacheKeyParameters") or [],
        }
        if verb:
            integration["httpMethod"] = verb.upper()
        integration.update((f, params[f]) for f in _INTEGRATION_FIELDS if params.get(f) is not None)
        if not 50 <= integration["timeoutInMillis"] <= 29000:
            raise bad_request("Timeout should be between 50 ms and 29000 ms")
        method["methodIntegration"] = integration
        self._save(params["restApiId"], "resource", resource["id"], resource)
        return integration

    def get_integration(self, ctx: RequestContext, params: dict) -> dict:
        _, method = self._method(ctx, params)
        return _integration(method)

    def update_integration(self, ctx: RequestContext, params: dict) -> dict:
        resource, method = self._method(ctx, params)
        integration = _integration(method)
        patch.apply(
            integration,
            params.get("patchOperations") or [],
            ("uri", "httpMethod", "timeoutInMillis", "passthroughBehavior", "credentials",
             "requestParameters", "requestTemplates", "contentHandling", "cacheKeyParameters"),
            {"timeoutInMillis": int, "cacheKeyParameters": list},
        )  # fmt: skip
        _check_templates(integration.get("requestTemplates"))
        self._save(params["restApiId"], "resource", resource["id"], resource)
        return integration

    def delete_integration(self, ctx: RequestContext, params: dict) -> dict:
        resource, method = self._method(ctx, params)
        self.get_integration(ctx, params)
        del method["methodIntegration"]
        self._save(params["restApiId"], "resource", resource["id"], resource)
        return {}

    def put_integration_response(self, ctx: RequestContext, params: dict) -> dict:
        resource, method = self._method(ctx, params)
        integration = _integration(method)
        response: Doc = {"statusCode": params["statusCode"]}
        for field in ("selectionPattern", "responseParameters", "responseTemplates",
                      "contentHandling"):  # fmt: skip
            if params.get(field) is not None:
                response[field] = params[field]
        _check_templates(response.get("responseTemplates"))
        if response.get("selectionPattern"):
            try:
                re.compile(response["selectionPattern"])
            except re.error:
                raise bad_request("Invalid selection pattern specified") from None
        integration.setdefault("integrationResponses", {})[params["statusCode"]] = response
        self._save(params["restApiId"], "resource", resource["id"], resource)
        return response

    def get_integration_response(self, ctx: RequestContext, params: dict) -> dict:
        integration = self.get_integration(ctx, params)
        found = (integration.get("integrationResponses") or {}).get(params["statusCode"])
        if found is None:
            raise not_found("Invalid Response status code specified")
        return found

    def delete_integration_response(self, ctx: RequestContext, params: dict) -> dict:
        resource, method = self._method(ctx, params)
        self.get_integration_response(ctx, params)
        del method["methodIntegration"]["integrationResponses"][params["statusCode"]]
        self._save(params["restApiId"], "resource", resource["id"], resource)
        return {}


def _check_templates(templates: dict | None) -> None:
    """A template that does not parse is refused here, never at request time."""
    problem = integrations.check_templates(templates)
    if problem is not None:
        raise bad_request(problem)


def _integration(method: Doc) -> Doc:
    if "methodIntegration" not in method:
        raise not_found("Invalid Integration identifier specified")
    return method["methodIntegration"]
