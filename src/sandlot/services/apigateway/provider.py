"""API Gateway REST APIs (``apigateway``): the provider class, APIs, deployments and stages.

The provider is assembled from one mixin per area over ``RestApiBase`` (``base.py``):
resources, methods, integrations and their responses (``resources.py``), authorizers
(``authorizers.py``; running them: ``authorization.py``), the data plane
(``dataplane.py``), API keys and usage plans (``keys.py``), GetExport (``export.py``),
custom domain names and base path mappings (``domains.py``); ``openapi.py`` plans
``ImportRestApi``/``PutRestApi``. Models, request validators and gateway responses
live in ``models.py``, non-proxy integrations and their Velocity templates in
``integrations.py``/``vtl.py``. What is not served yet answers 501, never a fake success.
"""

from __future__ import annotations

import json
import logging
import time

from sandlot.protocol import ServiceError
from sandlot.services.apigateway import patch
from sandlot.services.apigateway.authorizers import AuthorizerOperations
from sandlot.services.apigateway.base import Doc, bad_request, new_id, not_found, public
from sandlot.services.apigateway.dataplane import DataPlaneOperations
from sandlot.services.apigateway.domains import RestDomainOperations
from sandlot.services.apigateway.export import ExportOperations
from sandlot.services.apigateway.keys import KeyOperations
from sandlot.services.apigateway.models import ModelOperations, default_models
from sandlot.services.apigateway.openapi import Plan, read_definition
from sandlot.services.apigateway.resources import ResourceOperations
from sandlot.services.apigateway.schema import APIS, ITEMS
from sandlot.services.provider import RequestContext

log = logging.getLogger("sandlot.apigateway")
urls_log = logging.getLogger("sandlot.urls")  # printed on the console (gateway/server.py)

_API_PATCH = ("name", "description", "version", "binaryMediaTypes", "apiKeySource",
              "minimumCompressionSize", "disableExecuteApiEndpoint", "policy")  # fmt: skip
_STAGE_PATCH = ("description", "deploymentId", "variables", "tracingEnabled",
                "cacheClusterEnabled", "cacheClusterSize", "methodSettings")  # fmt: skip


# A stage's method setting patch path → the MethodSetting field, and its defaults.
_METHOD_SETTINGS = {
    "metrics/enabled": ("metricsEnabled", bool),
    "logging/loglevel": ("loggingLevel", str),
    "logging/dataTrace": ("dataTraceEnabled", bool),
    "throttling/burstLimit": ("throttlingBurstLimit", int),
    "throttling/rateLimit": ("throttlingRateLimit", float),
    "caching/enabled": ("cachingEnabled", bool),
    "caching/ttlInSeconds": ("cacheTtlInSeconds", int),
    "caching/dataEncrypted": ("cacheDataEncrypted", bool),
    "caching/requireAuthorizationForCacheControl": ("requireAuthorizationForCacheControl", bool),
    "caching/unauthorizedCacheControlHeaderStrategy": (
        "unauthorizedCacheControlHeaderStrategy", str),
}  # fmt: skip
_SETTING_DEFAULTS = {
    "metricsEnabled": False, "loggingLevel": "OFF", "dataTraceEnabled": False,
    "throttlingBurstLimit": 5000, "throttlingRateLimit": 10000.0, "cachingEnabled": False,
    "cacheTtlInSeconds": 300, "cacheDataEncrypted": False,
    "requireAuthorizationForCacheControl": True,
    "unauthorizedCacheControlHeaderStrategy": "SUCCEED_WITH_RESPONSE_HEADER",
}  # fmt: skip


class RestApiProvider(
    RestDomainOperations,  # domains.py: custom domain names
    DataPlaneOperations,
    ResourceOperations,
    AuthorizerOperations,
    KeyOperations,
    ExportOperations,
    ModelOperations,
):
    # == APIs ==============================================================================

    def create_rest_api(self, ctx: RequestContext, params: dict) -> dict:
        doc = self._new_api(ctx, params["name"], params)
        return public(doc)

    def import_rest_api(self, ctx: RequestContext, params: dict) -> dict:
        plan = read_definition(params)
        info = plan.document.get("info") or {}
        fields = {
            "description": info.get("description"),
            "version": str(info["version"]) if info.get("version") is not None else None,
            "binaryMediaTypes": plan.document.get("x-amazon-apigateway-binary-media-types"),
            "apiKeySource": plan.document.get("x-amazon-apigateway-api-key-source"),
        }
        doc = self._new_api(ctx, str(info.get("title") or "imported"), fields)
        with self.store.transaction():
            self._apply_plan(doc, plan)
        output = public(doc)
        if plan.warnings:
            output["warnings"] = plan.warnings
        return output

    def put_rest_api(self, ctx: RequestContext, params: dict) -> dict:
        """A definition into an existing API: ``overwrite`` (the default) replaces its
        resources and authorizers, ``merge`` adds the definition's to them."""
        api_id = params["restApiId"]
        doc = self._api(ctx, api_id)
        overwrite = (params.get("mode") or "overwrite") == "overwrite"
        plan = read_definition(params, [] if overwrite else self._items(api_id, "authorizer"))
        with self.store.transaction():
            if overwrite:
                self.store.delete_where(ITEMS, {"api_id": api_id, "kind": "resource"})
                for kind in ("authorizer", "model", "validator", "gatewayresponse"):
                    self.store.delete_where(ITEMS, {"api_id": api_id, "kind": kind})
                info = plan.document.get("info") or {}
                if info.get("title"):
                    doc["name"] = str(info["title"])
                self._put_api(ctx, doc)
            self._apply_plan(doc, plan, [] if overwrite else self._items(api_id, "resource"))
        output = public(doc)
        if plan.warnings:
            output["warnings"] = plan.warnings
        return output

    def _apply_plan(self, doc: Doc, plan: Plan, existing: list[Doc] = ()) -> None:
        for authorizer in plan.authorizers.values():
            self.add_authorizer(doc["id"], authorizer)
        for model in plan.models.values():
            self._save(doc["id"], "model", model["name"], model)
        for validator in plan.validators.values():
            self._save(doc["id"], "validator", validator["id"], validator)
        for response in plan.gateway_responses.values():
            self._save(doc["id"], "gatewayresponse", response["responseType"], response)
        self._build_resources(doc["id"], doc["rootResourceId"], plan.methods, existing)

    def update_rest_api(self, ctx: RequestContext, params: dict) -> dict:
        doc = self._api(ctx, params["restApiId"])
        patch.apply(doc, params.get("patchOperations") or [], _API_PATCH,
                    {"disableExecuteApiEndpoint": bool, "minimumCompressionSize": int,
                     "binaryMediaTypes": list})  # fmt: skip
        self._put_api(ctx, doc)
        return public(doc)

    def _new_api(self, ctx: RequestContext, name: str, params: dict) -> Doc:
        doc: Doc = {
            "id": new_id(),
            "name": name,
            "createdDate": time.time(),
            "apiKeySource": "HEADER",  # or AUTHORIZER (the authorizer's usageIdentifierKey)
            "endpointConfiguration": params.get("endpointConfiguration") or {"types": ["EDGE"]},
            "disableExecuteApiEndpoint": False,
            "rootResourceId": new_id(10),
            "tags": params.get("tags") or {},
        }
        for name_ in ("description", "version", "binaryMediaTypes", "policy", "apiKeySource"):
            if params.get(name_):
                doc[name_] = params[name_]
        self._put_api(ctx, doc)
        self._save(doc["id"], "resource", doc["rootResourceId"],
                   {"id": doc["rootResourceId"], "path": "/"})  # fmt: skip
        for model in default_models():
            self._save(doc["id"], "model", model["name"], model)
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
                        "id": new_id(6),
                        "parentId": parent["id"],
                        "pathPart": part,
                        "path": current,
                    }
                parent = by_path[current]
            parent.setdefault("resourceMethods", {})[method] = spec
        for resource in by_path.values():
            self._save(api_id, "resource", resource["id"], resource)

    def get_rest_api(self, ctx: RequestContext, params: dict) -> dict:
        return public(self._api(ctx, params["restApiId"]))

    def get_rest_apis(self, ctx: RequestContext, params: dict) -> dict:
        rows = self.store.select(APIS, {"account": ctx.account_id, "region": ctx.region})
        docs = sorted((json.loads(r["doc"]) for r in rows), key=lambda d: d["createdDate"])
        return {"items": [public(d) for d in docs]}

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
        return {"items": [public(r) for r in self._items(params["restApiId"], "resource")]}

    # == deployments and stages ============================================================

    def create_deployment(self, ctx: RequestContext, params: dict) -> dict:
        """A deployment snapshots the resources (with methods and integrations) and the
        authorizers: later changes reach a stage only with a new deployment, as in AWS."""
        api_id = params["restApiId"]
        doc = self._api(ctx, api_id)
        resources = self._items(api_id, "resource")
        if not any(r.get("resourceMethods") for r in resources):
            raise bad_request("The REST API doesn't contain any methods")
        deployment: Doc = {
            "id": new_id(6),
            "createdDate": time.time(),
            "_snapshot": resources,
            "_authorizers": self._items(api_id, "authorizer"),
            "_policy": doc.get("policy"),
            **self.deployment_extras(api_id),
        }
        if params.get("description"):
            deployment["description"] = params["description"]
        self._save(api_id, "deployment", deployment["id"], deployment)
        if params.get("stageName"):
            stage = self._item(api_id, "stage", params["stageName"])
            if stage is None:
                self._create_stage(api_id, params["stageName"], deployment["id"], params)
            else:
                stage.update(deploymentId=deployment["id"], lastUpdatedDate=time.time())
                if params.get("variables"):
                    stage["variables"] = {**stage.get("variables", {}), **params["variables"]}
                self._save(api_id, "stage", stage["stageName"], stage)
        return public(deployment)

    def get_deployment(self, ctx: RequestContext, params: dict) -> dict:
        return public(
            self._existing(ctx, params["restApiId"], "deployment", params["deploymentId"])
        )

    def delete_deployment(self, ctx: RequestContext, params: dict) -> dict:
        api_id, deployment_id = params["restApiId"], params["deploymentId"]
        self._existing(ctx, api_id, "deployment", deployment_id)
        if any(s["deploymentId"] == deployment_id for s in self._items(api_id, "stage")):
            raise bad_request("Active stages pointing to this deployment must be moved or deleted")
        self._delete(api_id, "deployment", deployment_id)
        return {}

    def get_deployments(self, ctx: RequestContext, params: dict) -> dict:
        self._api(ctx, params["restApiId"])
        return {"items": [public(d) for d in self._items(params["restApiId"], "deployment")]}

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
            # X-Ray active tracing of the stage's requests (dataplane.py records them).
            "tracingEnabled": bool(params.get("tracingEnabled")),
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

    def update_stage(self, ctx: RequestContext, params: dict) -> dict:
        """Patch operations on a stage: ``/variables/<name>``, ``/deploymentId``,
        ``/description``, ``/tracingEnabled``, ``/<resource path>/<METHOD>/<setting>``
        method settings…"""
        api_id = params["restApiId"]
        stage = self.get_stage(ctx, params)
        operations = []
        for operation in params.get("patchOperations") or []:
            path = str(operation.get("path") or "")
            if path.count("/") >= 4 and not path.startswith("/variables/"):
                # /{resource path, ~1-escaped}/{METHOD}/{group}/{setting}: a method setting
                _, resource, verb, setting = path.split("/", 3)
                if setting not in _METHOD_SETTINGS:
                    raise bad_request(f"Invalid method setting path: {path}")
                name, kind = _METHOD_SETTINGS[setting]
                key = f"{resource.replace('~1', '/').lstrip('/')}/{verb}"
                settings = stage["methodSettings"].setdefault(key, dict(_SETTING_DEFAULTS))
                patch.apply(settings, [{**operation, "path": "/" + name}], (name,), {name: kind})
                continue
            operations.append(operation)
        patch.apply(stage, operations, _STAGE_PATCH,
                    {"tracingEnabled": bool, "cacheClusterEnabled": bool})  # fmt: skip
        if self._item(api_id, "deployment", stage["deploymentId"]) is None:
            raise bad_request("Invalid deployment id specified")
        stage["lastUpdatedDate"] = time.time()
        self._save(api_id, "stage", stage["stageName"], stage)
        return stage

    def flush_stage_cache(self, ctx: RequestContext, params: dict) -> dict:
        """Sandlot keeps no stage response cache (``cacheClusterStatus`` is
        NOT_AVAILABLE), so once the stage is found there is nothing cached to drop; AWS
        answers 202 for a stage without a cache cluster too (``sam sync`` flushes every
        stage it updates)."""
        self.get_stage(ctx, params)
        return {}

    def flush_stage_authorizers_cache(self, ctx: RequestContext, params: dict) -> dict:
        """Drop the stage's cached Lambda authorizer answers."""
        self.get_stage(ctx, params)
        self.lambda_authorizers.flush(params["restApiId"], params["stageName"])
        return {}

    def delete_stage(self, ctx: RequestContext, params: dict) -> dict:
        self.get_stage(ctx, params)
        self.store.delete(ITEMS, params["restApiId"], "stage", params["stageName"])
        self.generation += 1
        return {}
