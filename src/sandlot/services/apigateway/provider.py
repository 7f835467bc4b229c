"""API Gateway REST APIs (``apigateway``), first step: ``CreateRestApi``,
``ImportRestApi`` and ``PutRestApi`` from OpenAPI 3 / Swagger 2 with ``x-amazon-apigateway-integration``
(``aws_proxy``: Lambda proxy integrations, as SAM's ``Api`` writes them), reading
APIs and resources, deployments and stages, and the data plane for Lambda proxy
methods. Everything else of the REST API control plane (resources and methods one by
one, models, validators, authorizers, API keys, usage plans, domain names…) answers
501, and other integration types are import warnings, never a fake success.

Data plane (``gateway/dataplane.py``): ``…/<stage>/<path>``; an unknown stage is 403
``{"message":"Forbidden"}``, a path or method no resource has is 403
``{"message":"Missing Authentication Token"}``, as AWS answers. A Lambda proxy method
invokes through ``Platform.call("lambda", "Invoke")`` as ``apigateway.amazonaws.com``
with ``aws:SourceArn`` ``arn:aws:execute-api:<region>:<account>:<api>/<stage>/<METHOD>/<resource path>``;
a denied invoke is 500, a function error or a malformed answer 502, both
``{"message": "Internal server error"}``.
"""

from __future__ import annotations

import json
import logging
import secrets
import string
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError, constraints
from sandlot.protocol.dataplane import DataPlaneRequest, DataPlaneResponse, json_response
from sandlot.protocol.models import service_model
from sandlot.services import http_events
from sandlot.services import http_routes as routing
from sandlot.services.apigateway.domains import RestDomainOperations
from sandlot.services.apigateway.schema import APIS, ITEMS, MIGRATIONS
from sandlot.services.openapi import parse_definition
from sandlot.services.provider import Provider, RequestContext

log = logging.getLogger("sandlot.apigateway")
urls_log = logging.getLogger("sandlot.urls")  # printed on the console (gateway/server.py)

Doc = dict[str, Any]
_ID_ALPHABET = string.ascii_lowercase + string.digits
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
_ANY = "x-amazon-apigateway-any-method"
_LAMBDA_URI = ":lambda:path/2015-03-31/functions/"


def _id(length: int = 10) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def bad_request(message: str) -> ServiceError:
    return ServiceError("BadRequestException", message, 400)


def not_found(message: str) -> ServiceError:
    return ServiceError("NotFoundException", message, 404)


def _public(doc: Doc) -> Doc:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def _message(status: int, text: str) -> DataPlaneResponse:
    return json_response(status, {"message": text})


@dataclass
class _Stage:
    doc: Doc
    routes: list[routing.Route]  # (METHOD /path) → (resource, method)


@dataclass
class _Api:
    account: str
    region: str
    binary_types: list[str]
    stages: dict[str, _Stage]


class RestApiProvider(RestDomainOperations, Provider):  # domains.py: custom domain names
    service = "apigateway"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        platform.store.migrate("apigateway", MIGRATIONS)
        self.store = platform.store
        self.generation = 0  # bumped by every write: compiled APIs are valid for one value
        self._compiled: dict[str, tuple[int, _Api | None]] = {}

    def validate(self, ctx: RequestContext, params: dict) -> None:
        """The model's constraints answer BadRequestException, as API Gateway does."""
        shape = service_model(self.service).operation_model(ctx.operation).input_shape
        found = constraints.violations(shape, params) if shape is not None else []
        if found:
            raise bad_request(constraints.summary(found))

    # == APIs ==============================================================================

    def create_rest_api(self, ctx: RequestContext, params: dict) -> dict:
        doc = self._new_api(ctx, params["name"], params)
        return _public(doc)

    def import_rest_api(self, ctx: RequestContext, params: dict) -> dict:
        document, plan, warnings = _read_definition(params)
        info = document.get("info") or {}
        fields = {
            "description": info.get("description"),
            "version": str(info["version"]) if info.get("version") is not None else None,
            "binaryMediaTypes": document.get("x-amazon-apigateway-binary-media-types"),
        }
        doc = self._new_api(ctx, str(info.get("title") or "imported"), fields)
        self._build_resources(doc["id"], doc["rootResourceId"], plan)
        output = _public(doc)
        if warnings:
            output["warnings"] = warnings
        return output

    def put_rest_api(self, ctx: RequestContext, params: dict) -> dict:
        """A definition into an existing API: ``overwrite`` (the default) replaces its
        resources, ``merge`` adds the definition's methods to them."""
        api_id = params["restApiId"]
        doc = self._api(ctx, api_id)
        document, plan, warnings = _read_definition(params)
        existing = self._items(api_id, "resource")
        with self.store.transaction():
            if (params.get("mode") or "overwrite") == "overwrite":
                self.store.delete_where(ITEMS, {"api_id": api_id, "kind": "resource"})
                existing = []
                info = document.get("info") or {}
                if info.get("title"):
                    doc["name"] = str(info["title"])
                self._put_api(ctx, doc)
            self._build_resources(api_id, doc["rootResourceId"], plan, existing)
        output = _public(doc)
        if warnings:
            output["warnings"] = warnings
        return output

    def _put_api(self, ctx: RequestContext, doc: Doc) -> None:
        self.store.put(
            APIS,
            {"api_id": doc["id"], "account": ctx.account_id, "region": ctx.region,
             "doc": json.dumps(doc)},
        )  # fmt: skip
        self.generation += 1

    def _new_api(self, ctx: RequestContext, name: str, params: dict) -> Doc:
        doc: Doc = {
            "id": _id(),
            "name": name,
            "createdDate": time.time(),
            "apiKeySource": "HEADER",
            "endpointConfiguration": params.get("endpointConfiguration") or {"types": ["EDGE"]},
            "disableExecuteApiEndpoint": False,
            "rootResourceId": _id(10),
            "tags": params.get("tags") or {},
        }
        for name_ in ("description", "version", "binaryMediaTypes"):
            if params.get(name_):
                doc[name_] = params[name_]
        self._put_api(ctx, doc)
        self._save(doc["id"], "resource", doc["rootResourceId"],
                   {"id": doc["rootResourceId"], "path": "/"})  # fmt: skip
        return doc

    def _build_resources(
        self, api_id: str, root: str, plan: list[tuple[str, str, Doc]], existing: list[Doc] = ()
    ) -> None:
        """Resources for every path prefix (reusing ``existing`` ones), with the planned
        methods on them."""
        by_path: dict[str, Doc] = {"/": {"id": root, "path": "/"}}
        by_path.update((r["path"], r) for r in existing)
        for path, method, spec in plan:
            parent = by_path["/"]
            parts = [p for p in path.split("/") if p]
            for index, part in enumerate(parts):
                current = "/" + "/".join(parts[: index + 1])
                if current not in by_path:
                    by_path[current] = {
                        "id": _id(6),
                        "parentId": parent["id"],
                        "pathPart": part,
                        "path": current,
                    }
                parent = by_path[current]
            parent.setdefault("resourceMethods", {})[method] = spec
        for resource in by_path.values():
            self._save(api_id, "resource", resource["id"], resource)

    def get_rest_api(self, ctx: RequestContext, params: dict) -> dict:
        return _public(self._api(ctx, params["restApiId"]))

    def get_rest_apis(self, ctx: RequestContext, params: dict) -> dict:
        rows = self.store.select(APIS, {"account": ctx.account_id, "region": ctx.region})
        docs = sorted((json.loads(r["doc"]) for r in rows), key=lambda d: d["createdDate"])
        return {"items": [_public(d) for d in docs]}

    def delete_rest_api(self, ctx: RequestContext, params: dict) -> dict:
        api_id = params["restApiId"]
        self._api(ctx, api_id)
        with self.store.transaction():
            self.store.delete_where(ITEMS, {"api_id": api_id})
            self.store.delete(APIS, api_id)
        self.generation += 1
        return {}

    def get_resources(self, ctx: RequestContext, params: dict) -> dict:
        self._api(ctx, params["restApiId"])
        return {"items": [_public(r) for r in self._items(params["restApiId"], "resource")]}

    # == deployments and stages ============================================================

    def create_deployment(self, ctx: RequestContext, params: dict) -> dict:
        api_id = params["restApiId"]
        self._api(ctx, api_id)
        resources = self._items(api_id, "resource")
        if not any(r.get("resourceMethods") for r in resources):
            raise bad_request("The REST API doesn't contain any methods")
        deployment: Doc = {"id": _id(6), "createdDate": time.time(), "_snapshot": resources}
        if params.get("description"):
            deployment["description"] = params["description"]
        self._save(api_id, "deployment", deployment["id"], deployment)
        if params.get("stageName"):
            stage = self._item(api_id, "stage", params["stageName"])
            if stage is None:
                self._create_stage(api_id, params["stageName"], deployment["id"], params)
            else:
                stage.update(deploymentId=deployment["id"], lastUpdatedDate=time.time())
                self._save(api_id, "stage", stage["stageName"], stage)
        return _public(deployment)

    def get_deployments(self, ctx: RequestContext, params: dict) -> dict:
        self._api(ctx, params["restApiId"])
        return {"items": [_public(d) for d in self._items(params["restApiId"], "deployment")]}

    def create_stage(self, ctx: RequestContext, params: dict) -> dict:
        api_id = params["restApiId"]
        self._api(ctx, api_id)
        if self._item(api_id, "deployment", params["deploymentId"]) is None:
            raise not_found("Invalid Deployment identifier specified")
        if self._item(api_id, "stage", params["stageName"]) is not None:
            raise ServiceError("ConflictException", "Stage already exists", 409)
        return self._create_stage(api_id, params["stageName"], params["deploymentId"], params)

    def _create_stage(self, api_id: str, name: str, deployment_id: str, params: dict) -> Doc:
        now = time.time()
        stage: Doc = {
            "stageName": name,
            "deploymentId": deployment_id,
            "cacheClusterEnabled": False,
            "cacheClusterStatus": "NOT_AVAILABLE",
            "methodSettings": {},
            "tracingEnabled": False,
            "createdDate": now,
            "lastUpdatedDate": now,
        }
        if params.get("variables"):
            stage["variables"] = params["variables"]
        description = params.get("stageDescription") or params.get("description")
        if description:
            stage["description"] = description
        self._save(api_id, "stage", name, stage)
        urls_log.info("REST API %s stage %s: %s", api_id, name, self.stage_url(api_id, name))
        return stage

    def get_stage(self, ctx: RequestContext, params: dict) -> dict:
        self._api(ctx, params["restApiId"])
        stage = self._item(params["restApiId"], "stage", params["stageName"])
        if stage is None:
            raise not_found("Invalid Stage identifier specified")
        return stage

    def get_stages(self, ctx: RequestContext, params: dict) -> dict:
        self._api(ctx, params["restApiId"])
        return {"item": self._items(params["restApiId"], "stage")}

    def delete_stage(self, ctx: RequestContext, params: dict) -> dict:
        self.get_stage(ctx, params)
        self.store.delete(ITEMS, params["restApiId"], "stage", params["stageName"])
        self.generation += 1
        return {}

    def stage_url(self, api_id: str, stage: str) -> str:
        port = urlsplit(self.platform.endpoint_url).port
        suffix = f":{port}" if port else ""
        return f"http://{api_id}.execute-api.localhost.localstack.cloud{suffix}/{stage}/"

    # == data plane ========================================================================

    def serves(self, api_id: str) -> bool:
        """Whether ``api_id`` is a REST API (the gateway asks before the HTTP APIs)."""
        return self._compile(api_id) is not None

    async def data_plane(self, request: DataPlaneRequest) -> DataPlaneResponse:
        api = self._compile(request.target)
        stage_name, _, rest = request.path.lstrip("/").partition("/")
        if api is None or stage_name not in api.stages:
            return _message(403, "Forbidden")
        stage = api.stages[stage_name]
        path = "/" + rest
        selected = routing.select(stage.routes, request.method, path)
        if selected is None:
            return _message(403, "Missing Authentication Token")
        route, path_parameters = selected
        resource, method = route.value  # type: ignore[misc]
        integration = method.get("methodIntegration") or {}
        function = _function_of(integration)
        if integration.get("type") != "AWS_PROXY" or function is None:
            return _message(500, "Internal server error")
        request_id = str(uuid.uuid4())
        event = http_events.event_v1(
            request,
            resource=resource["path"],
            path=path,
            stage=stage_name,
            api_id=request.target,
            account=api.account,
            request_id=request_id,
            domain_name=request.host.rsplit(":", 1)[0] if request.host else "",
            path_parameters=path_parameters or None,
            stage_variables=stage.doc.get("variables") or None,
            rest=(resource["id"], request.path, api.binary_types),
        )
        source_arn = (
            f"arn:aws:execute-api:{api.region}:{api.account}:{request.target}/{stage_name}/"
            f"{request.method if route.method == 'ANY' else route.method}{resource['path']}"
        )
        try:
            result = await self.platform.call(
                "lambda",
                "Invoke",
                {"FunctionName": function, "Payload": json.dumps(event).encode()},
                principal=Principal.service("apigateway.amazonaws.com", api.account),
                region=api.region,
                request_id=request_id,
                context={"aws:SourceArn": source_arn, "aws:SourceAccount": api.account},
            )
        except ServiceError as error:
            log.warning(
                "REST API %s: Execution failed due to configuration error: %s",
                request.target,
                "Invalid permissions on Lambda function" if error.status == 403 else error,
            )
            return _message(500, "Internal server error")
        mapped = None
        if not result.get("FunctionError"):
            mapped = http_events.response_v1(result.get("Payload") or b"")
        if mapped is None:
            return _message(502, "Internal server error")
        mapped.headers.append(("x-amzn-RequestId", request_id))
        return mapped

    def _compile(self, api_id: str) -> _Api | None:
        found = self._compiled.get(api_id)
        if found is not None and found[0] == self.generation:
            return found[1]
        if found is not None or len(self._compiled) > 1024:
            self._compiled.clear()
        row = self.store.get(APIS, api_id)
        api = None
        if row is not None:
            doc = json.loads(row["doc"])
            stages = {}
            for stage in self._items(api_id, "stage"):
                deployment = self._item(api_id, "deployment", stage["deploymentId"])
                routes = []
                for resource in (deployment or {}).get("_snapshot", []):
                    for verb, method in (resource.get("resourceMethods") or {}).items():
                        routes.append((f"{verb} {resource['path']}", (resource, method)))
                stages[stage["stageName"]] = _Stage(stage, routing.compile_routes(routes))
            api = _Api(row["account"], row["region"], doc.get("binaryMediaTypes") or [], stages)
        self._compiled[api_id] = (self.generation, api)
        return api

    # == storage ===========================================================================

    def _api(self, ctx: RequestContext, api_id: str) -> Doc:
        row = self.store.get(APIS, api_id)
        if row is None or (row["account"], row["region"]) != (ctx.account_id, ctx.region):
            raise not_found("Invalid API identifier specified")
        return json.loads(row["doc"])

    def _items(self, api_id: str, kind: str) -> list[Doc]:
        rows = self.store.select(ITEMS, {"api_id": api_id, "kind": kind}, order_by=("created",))
        return [json.loads(r["doc"]) for r in rows]

    def _item(self, api_id: str, kind: str, item_id: str) -> Doc | None:
        row = self.store.get(ITEMS, api_id, kind, item_id)
        return json.loads(row["doc"]) if row is not None else None

    def _save(self, api_id: str, kind: str, item_id: str, doc: Doc) -> None:
        old = self.store.get(ITEMS, api_id, kind, item_id)
        self.store.put(
            ITEMS,
            {"api_id": api_id, "kind": kind, "item_id": item_id,
             "created": old["created"] if old else time.time(), "doc": json.dumps(doc)},
        )  # fmt: skip
        self.generation += 1


def _read_definition(params: dict) -> tuple[dict, list[tuple[str, str, Doc]], list[str]]:
    """An import's definition, its plan and warnings; BadRequestException when it is
    not OpenAPI, or has warnings and ``failOnWarnings``."""
    try:
        document = parse_definition(bytes(params["body"]).decode("utf-8", "replace"))
    except ValueError as error:
        raise bad_request(str(error)) from None
    plan, warnings = _plan(document)
    if warnings and params.get("failOnWarnings"):
        raise bad_request("Warnings found during import:\n\t" + "\n\t".join(warnings))
    return document, plan, warnings


def _function_of(integration: Doc) -> str | None:
    uri = integration.get("uri") or ""
    if _LAMBDA_URI in uri:
        return uri.split("/functions/", 1)[1].removesuffix("/invocations")
    return None


def _plan(document: dict) -> tuple[list[tuple[str, str, Doc]], list[str]]:
    """(path, METHOD, method document) per operation of the definition, and warnings."""
    plan: list[tuple[str, str, Doc]] = []
    warnings: list[str] = []
    for path, item in (document.get("paths") or {}).items():
        if not isinstance(item, dict) or not str(path).startswith("/"):
            warnings.append(f"Path {path} ignored: not a resource path.")
            continue
        try:
            routing.parse_key(f"GET {path}")
        except ValueError as error:
            warnings.append(f"Path {path} ignored: {error}")
            continue
        for name, operation in item.items():
            if name in _METHODS:
                verb = name.upper()
            elif name == _ANY:
                verb = "ANY"
            else:
                continue
            method: Doc = {
                "httpMethod": verb,
                "authorizationType": "NONE",
                "apiKeyRequired": False,
            }
            extension = (operation or {}).get("x-amazon-apigateway-integration")
            kind = str((extension or {}).get("type", "")).lower()
            if kind == "aws_proxy" and _function_of(extension) is not None:
                method["methodIntegration"] = {
                    "type": "AWS_PROXY",
                    "httpMethod": "POST",
                    "uri": extension["uri"],
                    "passthroughBehavior": "WHEN_NO_MATCH",
                    "timeoutInMillis": int(extension.get("timeoutInMillis") or 29000),
                    "cacheNamespace": "",
                    "cacheKeyParameters": [],
                }
            else:
                warnings.append(
                    f"{verb} {path}: sandlot imports only aws_proxy integrations with Lambda "
                    "functions yet; the method has no integration."
                )
            plan.append((path, verb, method))
    return plan, warnings
