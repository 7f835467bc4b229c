"""X-Ray active tracing of a REST API stage (``tracingEnabled``).

Each request through a traced stage continues the client's ``X-Amzn-Trace-Id`` (or
starts a trace), is sampled as X-Ray's emitting side decides (``xray/emit.py``) and,
when sampled, is recorded as AWS records it: a segment ``<api name>/<stage>`` of origin
``AWS::ApiGateway::Stage`` with the request and response, the ``aws:api_id`` and
``aws:api_stage`` annotations and an ``aws.api_gateway`` block, and a subsegment for
the integration's call (``Lambda``, or the AWS service's name, namespace ``aws``). The
integration gets the header with that subsegment as ``Parent``, so the function's (or
service's) segments join the trace under it. HTTP APIs have no X-Ray tracing in AWS,
so only REST stages trace.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sandlot.events import lineage
from sandlot.iam.principal import Principal
from sandlot.protocol.dataplane import DataPlaneRequest, DataPlaneResponse
from sandlot.services.xray.emit import Sampler, Uploader, fields, join, new_id


@dataclass(slots=True)
class StageTrace:
    """One request on a traced stage."""

    root: str
    parent: str | None  # the client's segment, from its header
    sampled: bool
    segment_id: str
    # The client header's other fields (Lambda's Lineage: loop detection) travel on.
    extra: list[tuple[str, str]] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    calls: list[dict] = field(default_factory=list)  # the integration's subsegments

    @property
    def header(self) -> str:
        """The trace header API Gateway answers the client with (and passes on when
        the request is not sampled)."""
        return join([("Root", self.root), ("Sampled", "1" if self.sampled else "0")])

    def call(self, name: str, aws: dict, url: str | None = None) -> str:
        """Open the subsegment of a call to ``name`` (an AWS service); the trace header
        the call carries, whose Parent is that subsegment."""
        sub = {"name": name, "namespace": "aws", "aws": aws}
        if url is not None:
            sub["http"] = {"request": {"url": url, "method": "POST"}}
        return self._open(sub)

    def call_http(self, url: str, method: str) -> str:
        """Open the subsegment of an HTTP integration's request (namespace ``remote``,
        named by the host, as X-Ray names downstream HTTP calls)."""
        host = urlsplit(url).hostname or url
        return self._open({"name": host, "namespace": "remote",
                           "http": {"request": {"url": url, "method": method}}})  # fmt: skip

    def _open(self, sub: dict) -> str:
        if not self.sampled:
            return join([("Root", self.root), ("Sampled", "0"), *self.extra])
        sub = {"id": new_id(), "start_time": time.time(), **sub}
        self.calls.append(sub)
        return join([("Root", self.root), ("Parent", sub["id"]), ("Sampled", "1"), *self.extra])

    def call_lambda(self, function: str, region: str) -> str:
        """Open the subsegment of a Lambda Invoke of ``function`` (an integration's or
        an authorizer's), as AWS names it; the header the invocation carries."""
        name = function.rsplit(":function:", 1)[-1].split(":", 1)[0]
        aws = {"function_name": name, "region": region, "operation": "Invoke",
               "resource_names": [name]}  # fmt: skip
        url = f"https://lambda.{region}.amazonaws.com/2015-03-31/functions/{function}/invocations"
        return self.call("Lambda", aws, url)

    def answered(self, status: int | None, length: int | None = None) -> None:
        """Close the last call's subsegment with the backend's status (None: it failed
        before answering)."""
        if not self.calls or "end_time" in self.calls[-1]:
            return
        sub = self.calls[-1]
        sub["end_time"] = time.time()
        if status is None:
            sub["fault"] = True
            return
        response: dict = {"status": status}
        if length is not None:
            response["content_length"] = length
        sub.setdefault("http", {})["response"] = response
        _flag(sub, status)


def _flag(doc: dict, status: int) -> None:
    """X-Ray's error (4xx), throttle (429) and fault (5xx) flags for an HTTP status."""
    if status == 429:
        doc["throttle"] = doc["error"] = True
    elif 400 <= status < 500:
        doc["error"] = True
    elif status >= 500:
        doc["fault"] = True


class StageTracer:
    def __init__(self, platform) -> None:
        self.platform = platform
        self.sampler = Sampler()
        self.uploader = Uploader(platform)

    def begin(self, request: DataPlaneRequest) -> StageTrace:
        upstream = request.header("x-amzn-trace-id")
        pairs = fields(upstream)
        values = dict(pairs)
        root = values.get("Root") or lineage.new_root()
        extra = [(k, v) for k, v in pairs if k not in ("Root", "Parent", "Sampled", "Self")]
        return StageTrace(
            root, values.get("Parent"), self.sampler.decide(upstream), new_id(), extra
        )

    def finish(
        self,
        trace: StageTrace,
        request: DataPlaneRequest,
        response: DataPlaneResponse,
        *,
        api_id: str,
        api_name: str,
        stage: str,
        account: str,
        region: str,
        request_id: str,
    ) -> None:
        """Record the stage's segment (in the background), when the request was sampled."""
        if not trace.sampled:
            return
        end = time.time()
        for call in trace.calls:
            call.setdefault("end_time", end)
        scheme = "https" if request.secure else "http"
        url = f"{scheme}://{request.host}{request.path}" + (
            f"?{request.query}" if request.query else ""
        )
        http_request = {"url": url, "method": request.method, "client_ip": request.source_ip}
        forwarded = request.header("x-forwarded-for")
        if forwarded:
            http_request["client_ip"] = forwarded.split(",")[0].strip()
            http_request["x_forwarded_for"] = True
        agent = request.header("user-agent")
        if agent:
            http_request["user_agent"] = agent
        segment = {
            "id": trace.segment_id, "trace_id": trace.root, "name": f"{api_name}/{stage}",
            "start_time": trace.started, "end_time": end,
            "origin": "AWS::ApiGateway::Stage",
            "resource_arn": f"arn:aws:apigateway:{region}::/restapis/{api_id}/stages/{stage}",
            "http": {"request": http_request,
                     "response": {"status": response.status,
                                  "content_length": len(response.body)}},
            "aws": {"xray": {"sampling_rule_name": "Default"},
                    "api_gateway": {"account_id": account, "rest_api_id": api_id,
                                    "stage": stage, "request_id": request_id}},
            "annotations": {"aws:api_id": api_id, "aws:api_stage": stage},
            "metadata": {"default": {"extended_request_id": request_id,
                                     "request_id": request_id}},
        }  # fmt: skip
        if trace.parent:
            segment["parent_id"] = trace.parent
        if trace.calls:
            segment["subsegments"] = trace.calls
        _flag(segment, response.status)
        # API Gateway records its segments itself, needing no permission of the
        # account's (a service principal is no IAM identity): as the account.
        self.uploader.add(("account", account), lambda: Principal.root(account), region, [segment])
