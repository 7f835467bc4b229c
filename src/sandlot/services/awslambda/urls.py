"""Function URLs: their configuration (Create/Get/Update/Delete/ListFunctionUrlConfig(s))
and their data plane, ``<urlId>.lambda-url.<region>.localhost:<port>`` (recognised by
``gateway/dataplane.py``).

A request is authorized as AWS does: AuthType NONE still needs the function's resource
policy to allow ``lambda:InvokeFunctionUrl`` to ``*`` (with
``lambda:FunctionUrlAuthType`` NONE), AuthType AWS_IAM needs a SigV4 signature whose
principal IAM allows ``lambda:InvokeFunctionUrl``; otherwise 403 ``{"Message":
"Forbidden"}``. The function gets the payload format 2.0 event (``http_events``) and its
answer is mapped back the same way. A URL's CORS configuration answers preflights
without invoking the function and adds its headers to every answer.

InvokeMode ``RESPONSE_STREAM`` invokes as ``InvokeWithResponseStream`` does and sends
the function's stream chunked as it is written. A stream of content type
``application/vnd.awslambda.http-integration-response`` (Node's
``awslambda.HttpResponseStream.from``) begins with a JSON prelude, ``statusCode``,
``headers`` and ``cookies``, ended by 8 NUL bytes: that sets the status and headers, and
what follows is the body; any other stream is the body, with its content type. A
function that answers buffered (no streaming) is passed through as its payload. A
function failing before its head is complete gets 502; after, the body just ends.
"""

from __future__ import annotations

import json
import logging
import secrets
import string
import time
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from sandlot.iam.policy import Caller, Request, compile_policy, evaluate
from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError
from sandlot.protocol.dataplane import DataPlaneRequest, DataPlaneResponse, json_response
from sandlot.services import http_events
from sandlot.services.awslambda.arns import LATEST, VERSION_NUMBER, function_arn, timestamp
from sandlot.services.awslambda.base import LambdaBase, page, validated
from sandlot.services.awslambda.invoke import StreamingInvocation
from sandlot.services.awslambda.schema import FUNCTION_URLS
from sandlot.services.awslambda.validation import conflict, not_found
from sandlot.services.provider import RequestContext

log = logging.getLogger("sandlot.lambda")
urls_log = logging.getLogger("sandlot.urls")  # printed on the console (gateway/server.py)

_ID_ALPHABET = string.ascii_lowercase + string.digits
_ACTION = "lambda:InvokeFunctionUrl"
_NO_CONFIG = "The resource you requested does not exist."
# A streamed answer of this content type starts with its HTTP head: JSON, then 8 NULs.
HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response"
_PRELUDE_END = b"\0" * 8


def _forbidden() -> DataPlaneResponse:
    return json_response(403, {"Message": "Forbidden"})


class FunctionUrlOperations(LambdaBase):
    # -- configuration --------------------------------------------------------------------

    @validated
    def create_function_url_config(self, ctx: RequestContext, params: dict) -> dict:
        name, qualifier = self._url_target(ctx, params)
        arn = function_arn(ctx.region, ctx.account_id, name, qualifier or None)
        if self._url_row(ctx.account_id, ctx.region, name, qualifier) is not None:
            raise conflict(
                f"Failed to create function url config for [functionArn = {arn}]. "
                "Error message:  FunctionUrlConfig exists for this Lambda function"
            )
        now = timestamp(time.time())
        row = {
            "account": ctx.account_id,
            "region": ctx.region,
            "function": name,
            "qualifier": qualifier,
            "url_id": "".join(secrets.choice(_ID_ALPHABET) for _ in range(32)),
            "auth_type": params["AuthType"],
            "cors": json.dumps(params.get("Cors") or {}),
            "invoke_mode": params.get("InvokeMode") or "BUFFERED",
            "created": now,
            "modified": now,
        }
        self.store.put(FUNCTION_URLS, row)
        urls_log.info("function URL of %s: %s", arn, self.function_url(row))
        output = self._url_output(row)
        output.pop("LastModifiedTime")
        return output

    @validated
    def get_function_url_config(self, ctx: RequestContext, params: dict) -> dict:
        name, qualifier = self._url_target(ctx, params)
        return self._url_output(self._existing_url(ctx, name, qualifier))

    @validated
    def update_function_url_config(self, ctx: RequestContext, params: dict) -> dict:
        name, qualifier = self._url_target(ctx, params)
        row = self._existing_url(ctx, name, qualifier)
        if "AuthType" in params:
            row["auth_type"] = params["AuthType"]
        if "Cors" in params:
            row["cors"] = json.dumps(params["Cors"] or {})
        if "InvokeMode" in params:
            row["invoke_mode"] = params["InvokeMode"]
        row["modified"] = timestamp(time.time())
        self.store.put(FUNCTION_URLS, row)
        return self._url_output(row)

    @validated
    def delete_function_url_config(self, ctx: RequestContext, params: dict) -> dict:
        name, qualifier = self._url_target(ctx, params)
        self._existing_url(ctx, name, qualifier)
        self.store.delete(FUNCTION_URLS, ctx.account_id, ctx.region, name, qualifier)
        return {}

    @validated
    def list_function_url_configs(self, ctx: RequestContext, params: dict) -> dict:
        name, _ = self.locate(ctx, params["FunctionName"], allow_qualifier=False)
        self.function(ctx.account_id, ctx.region, name)
        rows = self.store.select(
            FUNCTION_URLS,
            {"account": ctx.account_id, "region": ctx.region, "function": name},
            order_by=("qualifier",),
        )
        items, marker = page(rows, params, key=lambda row: row["qualifier"])
        output: dict = {"FunctionUrlConfigs": [self._url_output(r) for r in items]}
        if marker:
            output["NextMarker"] = marker
        return output

    def function_url(self, row: dict) -> str:
        port = urlsplit(self.platform.endpoint_url).port
        suffix = f":{port}" if port else ""
        return f"http://{row['url_id']}.lambda-url.{row['region']}.localhost{suffix}/"

    def delete_function_urls(self, account: str, region: str, name: str) -> None:
        """Forget a deleted function's URLs."""
        self.store.delete_where(
            FUNCTION_URLS, {"account": account, "region": region, "function": name}
        )

    def _url_target(self, ctx: RequestContext, params: dict) -> tuple[str, str]:
        """(function, alias or "") a URL operation names; URLs point at the function or an
        alias, never at a published version."""
        name, qualifier = self.locate(ctx, params["FunctionName"], params.get("Qualifier"))
        self.function(ctx.account_id, ctx.region, name)
        if qualifier in (None, LATEST):
            return name, ""
        if VERSION_NUMBER.match(qualifier):
            raise ServiceError(
                "ValidationException",
                f"1 validation error detected: Value '{qualifier}' at 'qualifier' failed to "
                "satisfy constraint: Member must satisfy regular expression pattern: "
                r"((?!^\d+$)^[0-9a-zA-Z-_]+$)",
                400,
            )
        self.alias_row(ctx.account_id, ctx.region, name, qualifier)
        return name, qualifier

    def _url_row(self, account: str, region: str, name: str, qualifier: str) -> dict | None:
        return self.store.get(FUNCTION_URLS, account, region, name, qualifier)

    def _existing_url(self, ctx: RequestContext, name: str, qualifier: str) -> dict:
        row = self._url_row(ctx.account_id, ctx.region, name, qualifier)
        if row is None:
            raise not_found(_NO_CONFIG)
        return row

    def _url_output(self, row: dict) -> dict:
        output = {
            "FunctionUrl": self.function_url(row),
            "FunctionArn": function_arn(
                row["region"], row["account"], row["function"], row["qualifier"] or None
            ),
            "AuthType": row["auth_type"],
            "CreationTime": row["created"],
            "LastModifiedTime": row["modified"],
            "InvokeMode": row["invoke_mode"],
        }
        cors = json.loads(row["cors"])
        if cors:
            output["Cors"] = cors
        return output

    # -- data plane -----------------------------------------------------------------------

    async def data_plane(self, request: DataPlaneRequest) -> DataPlaneResponse:
        """One request to a function URL (``gateway/dataplane.py``)."""
        rows = self.store.select(FUNCTION_URLS, {"url_id": request.target}, limit=1)
        if not rows or rows[0]["region"] != request.region:
            return json_response(404, {"Message": None})
        row = rows[0]
        cors = json.loads(row["cors"])
        origin = request.header("origin")
        if (
            cors
            and request.method == "OPTIONS"
            and origin
            and request.header("access-control-request-method")
        ):
            return DataPlaneResponse(200, http_events.cors_preflight(cors, origin))
        arn = function_arn(row["region"], row["account"], row["function"], row["qualifier"] or None)
        authorizer = None
        if row["auth_type"] == "AWS_IAM":
            principal = request.principal
            if principal is None or not self.platform.authorizer.permits(
                principal,
                "lambda",
                "InvokeFunctionUrl",
                {"FunctionName": arn},
                row["region"],
                context={"lambda:FunctionUrlAuthType": "AWS_IAM"},
            ):
                return _forbidden()
            authorizer = {"iam": _iam_identity(principal)}
        elif not self._public_url_allowed(arn, row["account"], row["region"]):
            return _forbidden()
        request_id = str(uuid.uuid4())
        event = http_events.event_v2(
            request,
            route_key="$default",
            raw_path=request.path,
            stage="$default",
            api_id=row["url_id"],
            account=row["account"],
            request_id=request_id,
            domain_name=request.host.rsplit(":", 1)[0],
            authorizer=authorizer,
        )
        if row["invoke_mode"] == "RESPONSE_STREAM":
            response = await self._streamed(row, arn, json.dumps(event).encode(), request_id)
            response.headers.append(("x-amzn-RequestId", request_id))
            return http_events.with_cors(cors, origin, response)
        try:
            result = await self.platform.call(
                "lambda",
                "Invoke",
                {"FunctionName": arn, "Payload": json.dumps(event).encode()},
                principal=Principal.root(row["account"]),
                region=row["region"],
                request_id=request_id,
                record_decisions=False,
            )
        except ServiceError as error:
            log.warning("function URL of %s: invoke failed: %s", arn, error)
            return http_events.with_cors(cors, origin, _server_error(error.status))
        response = None
        if not result.get("FunctionError"):
            response = http_events.response_v2(result.get("Payload") or b"")
        if response is None:
            response = _server_error(502)
        response.headers.append(("x-amzn-RequestId", request_id))
        return http_events.with_cors(cors, origin, response)

    async def _streamed(
        self, row: dict, arn: str, payload: bytes, request_id: str
    ) -> DataPlaneResponse:
        """A RESPONSE_STREAM URL's answer: its head once the function has written it,
        the rest of the body streamed."""
        account, region = row["account"], row["region"]
        ctx = RequestContext(
            request_id, account, region, Principal.root(account), "lambda",
            "InvokeWithResponseStream", None,
        )  # fmt: skip
        try:
            spec, _ = self.resolve_for_invoke(account, region, arn, None)  # type: ignore[attr-defined]
            call: StreamingInvocation = await self.start_streaming(  # type: ignore[attr-defined]
                ctx, spec, row["qualifier"] or None, payload, None
            )
        except ServiceError as error:
            log.warning("function URL of %s: invoke failed: %s", arn, error)
            return _server_error(error.status)
        try:
            head = await _head(call)
        except BaseException:
            call.cancel()
            raise
        if head is None:
            call.cancel()
            return _server_error(502)
        status, headers, start = head
        return DataPlaneResponse(status, headers, stream=_body(start, call))

    def _public_url_allowed(self, arn: str, account: str, region: str) -> bool:
        """AuthType NONE: the function's policy must allow anyone to invoke the URL."""
        mode = self.platform.authorizer.mode
        if mode == "off":
            return True
        owned = self.resource_policy(arn)  # type: ignore[attr-defined]
        allowed = False
        if owned is not None and owned.document is not None:
            decision = evaluate(
                Request(
                    Caller("anonymous"),
                    _ACTION,
                    arn,
                    {"lambda:FunctionUrlAuthType": "NONE", "aws:RequestedRegion": region},
                    resource_policy=compile_policy(owned.document, "resource", arn),
                    resource_account=account,
                )
            )
            allowed = decision.allowed
        if not allowed and mode == "soft":
            log.warning("iam soft mode, allowed anyway: public function URL of %s", arn)
            return True
        return allowed


async def _head(call: StreamingInvocation) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """(status, headers, the body's first bytes) of a streamed answer, once known; None
    when the function failed, or wrote a malformed prelude, before its head was complete."""
    stream = call.stream
    buffered = bytearray()
    async for chunk in stream:
        buffered += chunk
        if stream.content_type != HTTP_INTEGRATION:
            return 200, [("Content-Type", stream.content_type or "")], bytes(buffered)
        end = buffered.find(_PRELUDE_END)
        if end >= 0:
            return _prelude(bytes(buffered[:end]), bytes(buffered[end + len(_PRELUDE_END) :]))
    result = await call.result
    if result.function_error is not None:
        return None
    if stream.streamed:  # an empty stream, or a prelude never ended
        if stream.content_type == HTTP_INTEGRATION:
            return None
        return 200, [("Content-Type", stream.content_type or "")], b""
    return 200, [("Content-Type", "application/json")], result.payload  # answered buffered


def _prelude(raw: bytes, start: bytes) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """The head ``HttpResponseStream.from`` wrote: statusCode, headers, cookies."""
    try:
        prelude = json.loads(raw or b"{}")
        status = int(prelude.get("statusCode") or 200)
        headers = [(str(k), str(v)) for k, v in (prelude.get("headers") or {}).items()]
        cookies = [str(cookie) for cookie in prelude.get("cookies") or []]
    except (ValueError, TypeError, AttributeError):
        return None
    if not 100 <= status <= 599:
        return None
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/octet-stream"))
    headers += [("Set-Cookie", cookie) for cookie in cookies]
    return status, headers, start


async def _body(start: bytes, call: StreamingInvocation) -> AsyncIterator[bytes]:
    """A streamed answer's body: what came with its head, then the rest as it comes;
    the invocation is cancelled if the client leaves."""
    try:
        if start:
            yield start
        async for chunk in call.stream:
            yield chunk
    finally:
        call.cancel()


def _server_error(status: int) -> DataPlaneResponse:
    return json_response(status, {"Message": "Internal Server Error"})


def _iam_identity(principal: Principal) -> dict:
    return {
        "accessKey": principal.access_key_id,
        "accountId": principal.account_id,
        "callerId": principal.user_id,
        "cognitoIdentity": None,
        "principalOrgId": None,
        "userArn": principal.arn,
        "userId": principal.user_id,
    }
