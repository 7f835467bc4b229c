"""The REST APIs' data plane: ``…/<stage>/<path>`` (``gateway/dataplane.py``).

An unknown stage is 403 ``{"message":"Forbidden"}``, a path or method no resource has
403 ``{"message":"Missing Authentication Token"}``, as AWS answers. Then the method's
authorization (``CUSTOM``: a Lambda authorizer, ``authorization.py``;
``COGNITO_USER_POOLS``: ``user_pools.py``), then its
integration:

- ``AWS_PROXY`` invokes the function (its URI may name ``${stageVariables.x}``) through
  ``Platform.call("lambda", "Invoke")`` as ``apigateway.amazonaws.com`` with
  ``aws:SourceArn`` ``arn:aws:execute-api:<region>:<account>:<api>/<stage>/<METHOD>/<resource path>``;
  a denied invoke is 500, a function error or a malformed answer 502, both
  ``{"message": "Internal server error"}``;
- ``HTTP_PROXY`` forwards to the integration's URI (``services/http_proxy.py``) with its
  request parameter mappings; 504 ``Endpoint request timed out`` after its timeout;
- ``AWS`` (Lambda non-proxy, service actions), ``HTTP`` and ``MOCK`` run through
  Velocity mapping templates and integration responses (``integrations.py``).

Compiled APIs (a stage's deployment snapshot as routes) are cached until the
provider's next write.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qsl

from sandlot.iam.authorizer import ResourcePolicy
from sandlot.iam.policy import Outcome
from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError
from sandlot.protocol.dataplane import DataPlaneRequest, DataPlaneResponse, json_response
from sandlot.services import http_events, http_lambda, http_proxy
from sandlot.services import http_routes as routing
from sandlot.services.apigateway import integrations, models
from sandlot.services.apigateway.authorization import (
    Grant,
    LambdaAuthorizers,
    configuration_error,
)
from sandlot.services.apigateway.base import Doc, function_of, not_found
from sandlot.services.apigateway.keys import KeyOperations
from sandlot.services.apigateway.schema import APIS
from sandlot.services.apigateway.tracing import StageTrace, StageTracer
from sandlot.services.apigateway.user_pools import UserPoolAuthorizers

log = logging.getLogger("sandlot.apigateway")


# x-amzn-ErrorType of sandlot's own error answers → the gateway response type.
_GATEWAY_RESPONSE_TYPES = {
    "MissingAuthenticationTokenException": "MISSING_AUTHENTICATION_TOKEN",
    "UnauthorizedException": "UNAUTHORIZED",
    "AccessDeniedException": "ACCESS_DENIED",
    "AuthorizerConfigurationException": "AUTHORIZER_CONFIGURATION_ERROR",
    "ForbiddenException": "INVALID_API_KEY",
    "TooManyRequestsException": "THROTTLED",
    "LimitExceededException": "QUOTA_EXCEEDED",
    "BadRequestException": "BAD_REQUEST_BODY",  # or _PARAMETERS, by its message
    "UnsupportedMediaTypeException": "UNSUPPORTED_MEDIA_TYPE",
    "IntegrationTimeoutException": "INTEGRATION_TIMEOUT",
    "InternalServerErrorException": "API_CONFIGURATION_ERROR",
}
_ERROR_TYPES = {"BAD_REQUEST_PARAMETERS": "BadRequestException",
                "BAD_REQUEST_BODY": "BadRequestException",
                "API_CONFIGURATION_ERROR": "InternalServerErrorException"}  # fmt: skip


def _message(status: int, text: str) -> DataPlaneResponse:
    return json_response(status, {"message": text})


def _message_of(response: DataPlaneResponse) -> str:
    try:
        return str(json.loads(response.body).get("message"))
    except (ValueError, AttributeError):
        return response.body.decode("utf-8", "replace")


@dataclass
class _Stage:
    doc: Doc
    routes: list[routing.Route]  # (METHOD /path) → (resource, method)
    authorizers: dict[str, Doc]
    policy: str | None  # the API's resource policy (JSON) when the stage was deployed
    models: dict[str, Doc]  # by name
    validators: dict[str, Doc]  # by id
    gateway_responses: dict[str, Doc]  # by response type


@dataclass
class _Api:
    account: str
    region: str
    name: str  # AWS/ApiGateway's ApiName dimension
    binary_types: list[str]
    stages: dict[str, _Stage]
    key_source: str  # HEADER (x-api-key) or AUTHORIZER (the authorizer's usageIdentifierKey)


class DataPlaneOperations(KeyOperations):
    def __init__(self, platform) -> None:
        super().__init__(platform)
        self._compiled: dict[str, tuple[int, _Api | None]] = {}
        self.lambda_authorizers = LambdaAuthorizers(platform)
        self.user_pools = UserPoolAuthorizers(platform)
        self.stage_tracer = StageTracer(platform)

    def resource_policy(self, arn: str) -> ResourcePolicy | None:
        """The REST API's resource policy for ``execute-api`` ARNs (IAM asks): as the
        ARN's stage was deployed (a changed policy needs a deployment, as in AWS)."""
        api_id, _, rest = arn.split(":", 5)[-1].partition("/")
        api = self._compile(api_id)
        stage = api.stages.get(rest.split("/", 1)[0]) if api is not None else None
        if stage is None:
            return None
        return ResourcePolicy(stage.policy, api.account)

    async def test_invoke_method(self, ctx, params: dict) -> dict:
        """The method as it is now (not as deployed), without authorization or API key,
        on a ``test-invoke-stage`` with the given stage variables."""
        api_id = params["restApiId"]
        doc = self._api(ctx, api_id)
        resource = self._existing(ctx, api_id, "resource", params["resourceId"])
        verb = params["httpMethod"].upper()
        method = (resource.get("resourceMethods") or {}).get(verb)
        if method is None:
            raise not_found("Invalid Method identifier specified")
        target, _, query = (params.get("pathWithQueryString") or resource["path"]).partition("?")
        headers = [(k.lower(), str(v)) for k, v in (params.get("headers") or {}).items()]
        for name, values in (params.get("multiValueHeaders") or {}).items():
            headers.extend((name.lower(), str(v)) for v in values)
        name = "test-invoke-stage"
        request = DataPlaneRequest(
            api_id, "GET" if verb == "ANY" else verb, f"/{name}{target}", query, headers,
            (params.get("body") or "").encode(), "test-invoke-source-ip", True,
            f"{api_id}.execute-api.{ctx.region}.amazonaws.com", ctx.region,
        )  # fmt: skip
        extras = self.deployment_extras(api_id)
        stage = _Stage(
            {"stageName": name, "variables": params.get("stageVariables") or {}},
            routing.compile_routes([(f"{verb} {resource['path']}", (resource, method))]),
            {}, None, extras["_models"], extras["_validators"], {},
        )  # fmt: skip
        api = _Api(ctx.account_id, ctx.region, doc.get("name") or "",
                   doc.get("binaryMediaTypes") or [], {name: stage},
                   doc.get("apiKeySource") or "HEADER")  # fmt: skip
        request_id = str(uuid.uuid4())
        context = {"requestId": request_id, "stage": name, "apiId": api_id, "httpMethod": verb,
                   "path": request.path}  # fmt: skip
        started = time.monotonic()
        response = await self._serve(request, api, stage, name, target, context, authorize=False)
        latency = int((time.monotonic() - started) * 1000)
        multi: dict[str, list[str]] = {}
        for key, value in response.headers:
            multi.setdefault(key, []).append(value)
        body = response.body.decode("utf-8", "replace")
        log_text = (f"Execution log for request {request_id}\n"
                    f"Starting execution for request: {request_id}\n"
                    f"HTTP Method: {verb}, Resource Path: {target}\n"
                    f"Method response body after transformations: {body}\n"
                    f"Method completed with status: {response.status}\n")  # fmt: skip
        return {"status": response.status, "body": body,
                "headers": {k: v[-1] for k, v in multi.items()}, "multiValueHeaders": multi,
                "log": log_text, "latency": latency}  # fmt: skip

    def serves(self, api_id: str) -> bool:
        """Whether ``api_id`` is a REST API (the gateway asks before the HTTP APIs)."""
        return self._compile(api_id) is not None

    async def data_plane(self, request: DataPlaneRequest) -> DataPlaneResponse:
        api = self._compile(request.target)
        stage_name, _, rest = request.path.lstrip("/").partition("/")
        if api is None or stage_name not in api.stages:
            return _message(403, "Forbidden")
        stage = api.stages[stage_name]
        began = time.perf_counter()
        request_id = str(uuid.uuid4())
        context = {"requestId": request_id, "stage": stage_name, "apiId": request.target,
                   "httpMethod": request.method, "path": request.path}  # fmt: skip
        # X-Ray active tracing (tracing.py): the stage's segment, the integration's call.
        trace = self.stage_tracer.begin(request) if stage.doc.get("tracingEnabled") else None
        response = await self._serve(
            request, api, stage, stage_name, "/" + rest, context, trace=trace
        )
        error_type = next((v for k, v in response.headers if k.lower() == "x-amzn-errortype"), "")
        kind = _GATEWAY_RESPONSE_TYPES.get(error_type)
        if kind is not None and stage.gateway_responses:
            # The API's gateway responses customise sandlot's own error answers.
            message = _message_of(response)
            if error_type == "BadRequestException" and message != "Invalid request body":
                kind = "BAD_REQUEST_PARAMETERS"
            kept = [(k, v) for k, v in response.headers if k.lower() == "x-amzn-errortype"]
            response = models.gateway_response(
                kind, response.status, message, stage.gateway_responses, context,
                stage.doc.get("variables") or {},
            )  # fmt: skip
            response.headers.extend(kept)
        response.headers.append(("x-amzn-RequestId", request_id))
        if trace is not None:
            response.headers.append(("X-Amzn-Trace-Id", trace.header))
            self.stage_tracer.finish(
                trace, request, response, api_id=request.target, api_name=api.name,
                stage=stage_name, account=api.account, region=api.region, request_id=request_id,
            )  # fmt: skip
        self.platform.metrics.api_request(
            api.account, api.region, (("ApiName", api.name),), stage_name, response.status,
            (time.perf_counter() - began) * 1000, context.get("integrationLatency"),
            http_api=False,
        )  # fmt: skip
        return response

    async def _serve(
        self, request: DataPlaneRequest, api: _Api, stage: _Stage, stage_name: str, path: str,
        context: dict, *, authorize: bool = True, trace: StageTrace | None = None,
    ) -> DataPlaneResponse:  # fmt: skip
        """One request on a stage; ``authorize`` False (TestInvokeMethod) skips the
        method's authorization and API key, as AWS's test invocations do."""
        selected = routing.select(stage.routes, request.method, path)
        if selected is None:
            return json_response(403, {"message": "Missing Authentication Token"},
                                 [("x-amzn-ErrorType", "MissingAuthenticationTokenException")])  # fmt: skip
        route, path_parameters = selected
        resource, method = route.value  # type: ignore[misc]
        request_id = context["requestId"]
        context["resourcePath"] = resource["path"]
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
        prefix = f"arn:aws:execute-api:{api.region}:{api.account}:{request.target}/{stage_name}/"
        outcome = None
        if authorize:
            outcome = await self._authorize(
                api, stage, method, request, event, prefix + request.method + path, trace
            )
        if isinstance(outcome, DataPlaneResponse):
            return outcome
        if method.get("apiKeyRequired") and authorize:
            if api.key_source == "AUTHORIZER":
                key = outcome.usage_key if outcome is not None else None
            else:
                key = request.header("x-api-key")
            refused = await self.meter(api.account, api.region, request.target, stage_name, key)
            if refused is not None:
                return refused
            event["requestContext"]["identity"]["apiKey"] = key
            event["requestContext"]["identity"]["apiKeyId"] = self.key_id(
                api.account, api.region, key
            )
        invalid = models.validate(
            request, method, stage.validators.get(method.get("requestValidatorId") or ""),
            stage.models, path_parameters, dict(parse_qsl(request.query, keep_blank_values=True)),
        )  # fmt: skip
        if invalid is not None:
            kind, message, context["validationErrorString"] = invalid
            return json_response(400 if kind.startswith("BAD") else 500, {"message": message},
                                 [("x-amzn-ErrorType", _ERROR_TYPES[kind])])  # fmt: skip
        integration = method.get("methodIntegration") or {}
        kind = integration.get("type")
        began = time.perf_counter()
        if kind == "AWS_PROXY":
            verb = request.method if route.method == "ANY" else route.method
            response = await self._lambda_proxy(
                api, stage, integration, event, prefix + verb + resource["path"], request_id,
                trace,
            )  # fmt: skip
        elif kind == "HTTP_PROXY":
            response = await _http_proxy(
                integration, request, path_parameters, stage.doc.get("variables") or {}, trace
            )
        elif kind in ("AWS", "HTTP", "MOCK"):
            verb = request.method if route.method == "ANY" else route.method
            call = integrations.Call(
                request,
                _input_params(request, path_parameters),
                {**event["requestContext"], "httpMethod": request.method},
                stage.doc.get("variables") or {},
                api.account,
                api.region,
                prefix + verb + resource["path"],
                trace,
            )
            response = await integrations.run(self.platform, integration, call)
        else:
            log.warning("REST API %s: %s %s has no integration sandlot serves",
                        request.target, request.method, resource["path"])  # fmt: skip
            response = _message(500, "Internal server error")
        # $context.integrationLatency, and AWS/ApiGateway's IntegrationLatency.
        context["integrationLatency"] = round((time.perf_counter() - began) * 1000)
        return response

    async def _authorize(
        self,
        api: _Api,
        stage: _Stage,
        method: Doc,
        request: DataPlaneRequest,
        event: dict,
        method_arn: str,
        trace: StageTrace | None = None,
    ) -> DataPlaneResponse | Grant | None:
        """AWS's answer when the method's authorization refuses the request, else the
        Lambda authorizer's grant (the event then carries what it said) or None."""
        kind = method.get("authorizationType", "NONE")
        if kind == "AWS_IAM" or stage.policy:
            # With a Lambda authorizer only the policy's explicit Deny refuses; the
            # authorizer decides the rest (AWS's table for the two together).
            denied = self._iam(api, request, event, method_arn, signed=kind == "AWS_IAM",
                               explicit_only=kind == "CUSTOM")  # fmt: skip
            if denied is not None or kind == "AWS_IAM":
                return denied
        if kind == "NONE":
            return None
        if kind == "CUSTOM":
            authorizer = stage.authorizers.get(method.get("authorizerId", ""))
            if authorizer is None:
                return configuration_error()
            base = {k: v for k, v in event.items() if k not in ("body", "isBase64Encoded")}
            outcome = await self.lambda_authorizers.authorize(
                authorizer,
                request,
                api_id=request.target,
                stage=stage.doc["stageName"],
                account=api.account,
                region=api.region,
                method_arn=method_arn,
                base_event=base,
                stage_variables=stage.doc.get("variables") or {},
                trace=trace,
            )
            if not isinstance(outcome, Grant):
                return outcome
            event["requestContext"]["authorizer"] = outcome.request_context()
            return outcome
        if kind == "COGNITO_USER_POOLS":
            authorizer = stage.authorizers.get(method.get("authorizerId", ""))
            if authorizer is None:
                return configuration_error()
            found = await self.user_pools.authorize(authorizer, method, request)
            if isinstance(found, DataPlaneResponse):
                return found
            event["requestContext"]["authorizer"] = found
            return None
        log.warning("REST API %s: %s authorization is not served yet", request.target, kind)
        return _message(500, "Internal server error")

    def _iam(
        self,
        api: _Api,
        request: DataPlaneRequest,
        event: dict,
        method_arn: str,
        *,
        signed: bool,
        explicit_only: bool = False,
    ) -> DataPlaneResponse | None:
        """``execute-api:Invoke`` on the method ARN, evaluated by sandlot's IAM: for an
        ``AWS_IAM`` method, as the SigV4 signer (unsigned: 403 Missing Authentication
        Token); else, when the API has a resource policy, as an anonymous caller, who
        only that policy can allow (``explicit_only``: only its explicit Deny refuses)."""
        principal = request.principal if signed else Principal.anonymous(api.account)
        if principal is None:
            return json_response(403, {"message": "Missing Authentication Token"},
                                 [("x-amzn-ErrorType", "MissingAuthenticationTokenException")])  # fmt: skip
        context = event["requestContext"]
        decision = self.platform.authorizer.decide(
            principal,
            "execute-api:Invoke",
            method_arn,
            request_id=context["requestId"],
            region=api.region,
            context={"aws:SourceIp": request.source_ip, "aws:SecureTransport": request.secure},
        )
        if decision.outcome == Outcome.ALLOW or (
            explicit_only and decision.outcome != Outcome.EXPLICIT_DENY
        ):
            if signed:
                context["identity"].update(
                    accessKey=principal.access_key_id,
                    accountId=principal.account_id,
                    caller=principal.user_id,
                    user=principal.user_id,
                    userArn=principal.arn,
                )
            return None
        explicit = decision.outcome == Outcome.EXPLICIT_DENY
        kind_of_denial = " with an explicit deny" if explicit else ""
        return json_response(
            403,
            {"message": f"User: {principal.arn} is not authorized to perform: "
                        f"execute-api:Invoke on resource: {method_arn}{kind_of_denial}"},
            [("x-amzn-ErrorType", "AccessDeniedException")],
        )  # fmt: skip

    async def _lambda_proxy(
        self, api: _Api, stage: _Stage, integration: Doc, event: dict, source_arn: str,
        request_id: str, trace: StageTrace | None = None,
    ) -> DataPlaneResponse:  # fmt: skip
        variables = stage.doc.get("variables") or {}
        uri = integrations.STAGE_VARIABLE.sub(
            lambda m: variables.get(m[1], ""), integration.get("uri", "")
        )
        function = function_of(uri)
        if not function:
            log.warning(
                "REST API %s: no function in integration URI %s",
                event["requestContext"]["apiId"],
                uri,
            )
            return _message(500, "Internal server error")
        if trace is not None:
            # The function's segments join the trace under the stage's Lambda call.
            header = trace.call_lambda(function, api.region)
            http_events.set_header(event, "X-Amzn-Trace-Id", header)
        try:
            result = await http_lambda.invoke(
                self.platform, function, event, account=api.account, region=api.region,
                source_arn=source_arn, request_id=request_id,
            )  # fmt: skip
        except ServiceError as error:
            if trace is not None:
                trace.answered(error.status)
            log.warning(
                "REST API %s: Execution failed due to configuration error: %s",
                event["requestContext"]["apiId"],
                "Invalid permissions on Lambda function" if error.status == 403 else error,
            )
            return _message(500, "Internal server error")
        if trace is not None:
            trace.answered(200, len(result.get("Payload") or b""))
        mapped = None
        if not result.get("FunctionError"):
            mapped = http_events.response_v1(result.get("Payload") or b"")
        return mapped if mapped is not None else _message(502, "Internal server error")

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
                deployment = self._item(api_id, "deployment", stage["deploymentId"]) or {}
                routes = []
                for resource in deployment.get("_snapshot", []):
                    for verb, method in (resource.get("resourceMethods") or {}).items():
                        routes.append((f"{verb} {resource['path']}", (resource, method)))
                authorizers = {
                    a["id"]: {**a, "_fingerprint": json.dumps(a, sort_keys=True)}
                    for a in deployment.get("_authorizers", [])
                }
                stages[stage["stageName"]] = _Stage(
                    stage,
                    routing.compile_routes(routes),
                    authorizers,
                    deployment.get("_policy"),
                    deployment.get("_models") or {},
                    deployment.get("_validators") or {},
                    deployment.get("_gateway_responses") or {},
                )
            api = _Api(
                row["account"],
                row["region"],
                doc.get("name") or "",
                doc.get("binaryMediaTypes") or [],
                stages,
                doc.get("apiKeySource") or "HEADER",
            )
        self._compiled[api_id] = (self.generation, api)
        return api


async def _http_proxy(
    integration: Doc,
    request: DataPlaneRequest,
    path_parameters: dict[str, str],
    variables: dict[str, str],
    trace: StageTrace | None = None,
) -> DataPlaneResponse:
    """Forward to the integration's URI: stage variables substituted, its ``{name}``
    path variables filled as ``requestParameters`` map them
    (``integration.request.path.x`` ← ``method.request.path.y``; unmapped ones by the
    same name), header and query string mappings added; 504 ``Endpoint request timed
    out`` after ``timeoutInMillis``."""
    headers = [(k, v) for k, v in request.headers if k.lower() not in http_proxy.HOP_BY_HOP]
    uri, headers = integrations.endpoint(integration, request, path_parameters, variables, headers)
    method = str(integration.get("httpMethod") or "ANY")
    method = request.method if method == "ANY" else method
    if trace is not None:
        headers = integrations.traced_headers(headers, trace.call_http(uri, method))
    try:
        answer = await http_proxy.forward(
            uri, method, request, int(integration.get("timeoutInMillis") or 29000) / 1000, headers
        )
    except TimeoutError:
        if trace is not None:
            trace.answered(None)
        return _message(504, "Endpoint request timed out")
    except (OSError, http.client.HTTPException) as error:
        if trace is not None:
            trace.answered(None)
        log.warning("REST API: HTTP_PROXY to %s failed: %s", uri, error)
        return _message(500, "Internal server error")
    if trace is not None:
        trace.answered(answer.status, len(answer.body))
    return answer


def _input_params(request: DataPlaneRequest, path_parameters: dict[str, str]) -> dict:
    """``$input.params()``: the path, query string (last value) and header parameters."""
    return {
        "path": dict(path_parameters),
        "querystring": dict(parse_qsl(request.query, keep_blank_values=True)),
        "header": {k: v for k, v in request.headers},
    }
