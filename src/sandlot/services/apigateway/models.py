"""REST APIs' models (JSON Schema draft 4), request validators and gateway responses:
the control plane, and what the data plane does with them.

A deployment snapshots all three (``_models``, ``_validators``, ``_gateway_responses``),
as AWS needs a redeployment for changes to reach a stage.

- Request validation (a method's ``requestValidatorId``): ``validateRequestParameters``
  checks the method's required ``requestParameters`` (400 ``Missing required request
  parameters: [a, b]``), ``validateRequestBody`` the body against the model
  ``requestModels`` names for the request's Content-Type (else ``$default``): 400
  ``Invalid request body``, as AWS answers.
- Gateway responses customise sandlot's own error answers (``MISSING_AUTHENTICATION_TOKEN``,
  ``UNAUTHORIZED``, ``ACCESS_DENIED``, ``BAD_REQUEST_BODY`` …, falling back to
  ``DEFAULT_4XX``/``DEFAULT_5XX``): status code, ``'literal'`` header mappings and a
  Velocity template with ``$context.error.message``/``messageString``/``responseType``.
"""

from __future__ import annotations

import json
import logging
import re

import jsonschema

from sandlot.protocol.dataplane import DataPlaneRequest, DataPlaneResponse, json_response
from sandlot.services.apigateway import patch, vtl
from sandlot.services.apigateway.base import (
    Doc,
    RestApiBase,
    bad_request,
    conflict,
    new_id,
    not_found,
)
from sandlot.services.provider import RequestContext

log = logging.getLogger("sandlot.apigateway")

_MODEL_NAME = re.compile(r"^[A-Za-z0-9]+$")
_STATIC = re.compile(r"^'(.*)'$", re.S)
_DEFAULT_TEMPLATE = '{"message":$context.error.messageString}'

# AWS's gateway response types: default status (None: the DEFAULT_4XX/5XX family's).
GATEWAY_RESPONSES: dict[str, str | None] = {
    "DEFAULT_4XX": None, "DEFAULT_5XX": None,
    "ACCESS_DENIED": "403", "API_CONFIGURATION_ERROR": "500", "AUTHORIZER_FAILURE": "500",
    "AUTHORIZER_CONFIGURATION_ERROR": "500", "BAD_REQUEST_PARAMETERS": "400",
    "BAD_REQUEST_BODY": "400", "EXPIRED_TOKEN": "403", "INTEGRATION_FAILURE": "504",
    "INTEGRATION_TIMEOUT": "504", "INVALID_API_KEY": "403", "INVALID_SIGNATURE": "403",
    "MISSING_AUTHENTICATION_TOKEN": "403", "QUOTA_EXCEEDED": "429", "REQUEST_TOO_LARGE": "413",
    "RESOURCE_NOT_FOUND": "404", "THROTTLED": "429", "UNAUTHORIZED": "401",
    "UNSUPPORTED_MEDIA_TYPE": "415", "WAF_FILTERED": "403",
}  # fmt: skip


# The models every REST API starts with, as in AWS (templates may name them: `Empty`).
DEFAULT_MODELS = {
    "Empty": {"$schema": "http://json-schema.org/draft-04/schema#", "title": "Empty Schema",
              "type": "object"},
    "Error": {"$schema": "http://json-schema.org/draft-04/schema#", "title": "Error Schema",
              "type": "object", "properties": {"message": {"type": "string"}}},
}  # fmt: skip


def default_models() -> list[Doc]:
    return [{"id": new_id(6), "name": name, "contentType": "application/json",
             "description": f"This is a default {name.lower()} schema model",
             "schema": json.dumps(schema, indent=2)}
            for name, schema in DEFAULT_MODELS.items()]  # fmt: skip


# == control plane ===============================================================================


class ModelOperations(RestApiBase):
    # -- models ---------------------------------------------------------------------------------

    def create_model(self, ctx: RequestContext, params: dict) -> dict:
        api_id, name = params["restApiId"], params["name"]
        self._api(ctx, api_id)
        if not _MODEL_NAME.match(name):
            raise bad_request("Model name must be non-empty and alphanumeric")
        if self._item(api_id, "model", name) is not None:
            raise conflict("Model name already exists for this REST API")
        model: Doc = {"id": new_id(6), "name": name, "contentType": params["contentType"]}
        for field in ("description", "schema"):
            if params.get(field) is not None:
                model[field] = params[field]
        _check_schema(model.get("schema"))
        self._save(api_id, "model", name, model)
        return model

    def get_model(self, ctx: RequestContext, params: dict) -> dict:
        return self._model(ctx, params)

    def get_models(self, ctx: RequestContext, params: dict) -> dict:
        self._api(ctx, params["restApiId"])
        return {"items": self._items(params["restApiId"], "model")}

    def update_model(self, ctx: RequestContext, params: dict) -> dict:
        model = self._model(ctx, params)
        patch.apply(model, params.get("patchOperations") or [], ("schema", "description"))
        _check_schema(model.get("schema"))
        self._save(params["restApiId"], "model", model["name"], model)
        return model

    def delete_model(self, ctx: RequestContext, params: dict) -> dict:
        model = self._model(ctx, params)
        for resource in self._items(params["restApiId"], "resource"):
            for method in (resource.get("resourceMethods") or {}).values():
                if model["name"] in (method.get("requestModels") or {}).values():
                    raise conflict(f"Cannot delete model '{model['name']}', is referenced in "
                                   f"method request: {resource['path']}/{method['httpMethod']}")  # fmt: skip
        self._delete(params["restApiId"], "model", model["name"])
        return {}

    def _model(self, ctx: RequestContext, params: dict) -> Doc:
        self._api(ctx, params["restApiId"])
        found = self._item(params["restApiId"], "model", params["modelName"])
        if found is None:
            raise not_found(f"Invalid model name specified: {params['modelName']}")
        return found

    # -- request validators ---------------------------------------------------------------------

    def create_request_validator(self, ctx: RequestContext, params: dict) -> dict:
        api_id = params["restApiId"]
        self._api(ctx, api_id)
        validator: Doc = {
            "id": new_id(6),
            "name": params.get("name") or "",
            "validateRequestBody": bool(params.get("validateRequestBody")),
            "validateRequestParameters": bool(params.get("validateRequestParameters")),
        }
        self._save(api_id, "validator", validator["id"], validator)
        return validator

    def get_request_validator(self, ctx: RequestContext, params: dict) -> dict:
        return self._validator(ctx, params)

    def get_request_validators(self, ctx: RequestContext, params: dict) -> dict:
        self._api(ctx, params["restApiId"])
        return {"items": self._items(params["restApiId"], "validator")}

    def update_request_validator(self, ctx: RequestContext, params: dict) -> dict:
        validator = self._validator(ctx, params)
        patch.apply(validator, params.get("patchOperations") or [],
                    ("name", "validateRequestBody", "validateRequestParameters"),
                    {"validateRequestBody": bool, "validateRequestParameters": bool})  # fmt: skip
        self._save(params["restApiId"], "validator", validator["id"], validator)
        return validator

    def delete_request_validator(self, ctx: RequestContext, params: dict) -> dict:
        validator = self._validator(ctx, params)
        self._delete(params["restApiId"], "validator", validator["id"])
        return {}

    def _validator(self, ctx: RequestContext, params: dict) -> Doc:
        self._api(ctx, params["restApiId"])
        found = self._item(params["restApiId"], "validator", params["requestValidatorId"])
        if found is None:
            raise not_found("Invalid Request Validator identifier specified")
        return found

    # -- gateway responses ----------------------------------------------------------------------

    def put_gateway_response(self, ctx: RequestContext, params: dict) -> dict:
        api_id, kind = params["restApiId"], params["responseType"]
        self._api(ctx, api_id)
        if kind not in GATEWAY_RESPONSES:
            raise bad_request(f"Invalid response type specified: {kind}")
        response: Doc = {"responseType": kind, "defaultResponse": False}
        for field in ("statusCode", "responseParameters", "responseTemplates"):
            if params.get(field) is not None:
                response[field] = params[field]
        for target, source in (response.get("responseParameters") or {}).items():
            if not target.startswith("gatewayresponse.header.") or not _STATIC.match(source):
                raise bad_request(f"Invalid mapping expression specified: {target}={source}")
        for content_type, template in (response.get("responseTemplates") or {}).items():
            problem = vtl.check(template or "")
            if problem is not None:
                raise bad_request(f"Invalid mapping template specified for {content_type}: "
                                  f"{problem}")  # fmt: skip
        self._save(api_id, "gatewayresponse", kind, response)
        return response

    def get_gateway_response(self, ctx: RequestContext, params: dict) -> dict:
        api_id, kind = params["restApiId"], params["responseType"]
        self._api(ctx, api_id)
        if kind not in GATEWAY_RESPONSES:
            raise bad_request(f"Invalid response type specified: {kind}")
        return self._item(api_id, "gatewayresponse", kind) or _default_response(kind)

    def get_gateway_responses(self, ctx: RequestContext, params: dict) -> dict:
        api_id = params["restApiId"]
        self._api(ctx, api_id)
        return {"items": [self._item(api_id, "gatewayresponse", kind) or _default_response(kind)
                          for kind in GATEWAY_RESPONSES]}  # fmt: skip

    def delete_gateway_response(self, ctx: RequestContext, params: dict) -> dict:
        api_id, kind = params["restApiId"], params["responseType"]
        self._api(ctx, api_id)
        if self._item(api_id, "gatewayresponse", kind) is None:
            raise not_found("Invalid gateway response type specified")
        self._delete(api_id, "gatewayresponse", kind)
        return {}

    def deployment_extras(self, api_id: str) -> Doc:
        """What a deployment snapshots of this module's items."""
        return {
            "_models": {m["name"]: m for m in self._items(api_id, "model")},
            "_validators": {v["id"]: v for v in self._items(api_id, "validator")},
            "_gateway_responses": {
                g["responseType"]: g for g in self._items(api_id, "gatewayresponse")
            },
        }


def _default_response(kind: str) -> Doc:
    doc: Doc = {"responseType": kind, "defaultResponse": True, "responseParameters": {},
                "responseTemplates": {"application/json": _DEFAULT_TEMPLATE}}  # fmt: skip
    if GATEWAY_RESPONSES[kind]:
        doc["statusCode"] = GATEWAY_RESPONSES[kind]
    return doc


def _check_schema(schema: str | None) -> None:
    if schema is None:
        return
    try:
        jsonschema.Draft4Validator.check_schema(json.loads(schema))
    except (ValueError, jsonschema.SchemaError) as error:
        reason = getattr(error, "message", str(error))
        raise bad_request("Invalid model specified: Validation Result: warnings : [], "
                          f"errors : [Invalid model schema specified: {reason}]") from None  # fmt: skip


# == data plane =================================================================================


def validate(
    request: DataPlaneRequest,
    method: Doc,
    validator: Doc | None,
    models: dict[str, Doc],
    path_parameters: dict[str, str],
    query: dict[str, str],
) -> tuple[str, str, str] | None:
    """(gateway response type, message, validation detail for
    ``$context.error.validationErrorString``) when the method's request validator refuses
    the request, else None."""
    if validator is None:
        return None
    if validator.get("validateRequestParameters"):
        missing = []
        for name, required in (method.get("requestParameters") or {}).items():
            kind, _, key = name.removeprefix("method.request.").partition(".")
            if not required:
                continue
            present = (
                (kind == "header" and request.header(key) is not None)
                or (kind in ("querystring", "multivaluequerystring") and key in query)
                or (kind == "path" and key in path_parameters)
            )
            if not present:
                missing.append(key)
        if missing:
            message = f"Missing required request parameters: [{', '.join(missing)}]"
            return "BAD_REQUEST_PARAMETERS", message, message
    if validator.get("validateRequestBody"):
        content_type = (request.header("content-type") or "application/json").split(";")[0]
        wanted = method.get("requestModels") or {}
        name = wanted.get(content_type.strip().lower(), wanted.get("$default"))
        model = models.get(name) if name else None
        if model is not None and model.get("schema"):
            try:
                document = json.loads(request.body or b"null")
                jsonschema.Draft4Validator(json.loads(model["schema"])).validate(document)
            except ValueError as error:
                return "BAD_REQUEST_BODY", "Invalid request body", f"[{error}]"
            except jsonschema.ValidationError as error:
                return "BAD_REQUEST_BODY", "Invalid request body", f"[{error.message}]"
            except Exception as error:  # noqa: BLE001 - an unresolvable $ref and kin
                log.warning("REST API model %s cannot validate: %s", name, error)
                return "API_CONFIGURATION_ERROR", "Internal server error", ""
    return None


def gateway_response(
    kind: str,
    status: int,
    message: str,
    custom: dict[str, Doc],
    context: dict,
    stage_variables: dict[str, str],
) -> DataPlaneResponse:
    """Sandlot's own error answer ``kind``, as the API's gateway responses (deployed)
    customise it; the family's ``DEFAULT_4XX``/``DEFAULT_5XX`` apply when the type has
    none."""
    family = "DEFAULT_4XX" if status < 500 else "DEFAULT_5XX"
    chosen = custom.get(kind) or custom.get(family)
    if chosen is None:
        return json_response(status, {"message": message})
    status = int(chosen.get("statusCode") or status)
    headers = [(k.removeprefix("gatewayresponse.header."), _STATIC.match(v)[1])
               for k, v in (chosen.get("responseParameters") or {}).items()
               if _STATIC.match(v)]  # fmt: skip
    templates = chosen.get("responseTemplates") or {"application/json": _DEFAULT_TEMPLATE}
    content_type = "application/json" if "application/json" in templates else next(iter(templates))
    error = {"message": message, "messageString": json.dumps(message), "responseType": kind,
             "validationErrorString": context.get("validationErrorString", "")}  # fmt: skip
    try:
        body, _ = vtl.render(templates[content_type] or "", body="", params={},
                             context={**context, "error": error},
                             stage_variables=stage_variables)  # fmt: skip
    except vtl.TemplateError as problem:
        log.warning("REST API gateway response %s: %s", kind, problem)
        body = json.dumps({"message": message})
    return DataPlaneResponse(status, [("Content-Type", content_type), *headers], body.encode())
