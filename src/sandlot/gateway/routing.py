"""Which service a request is for.

In order of trust: the SigV4 credential scope (the signing name), ``X-Amz-Target``,
the query protocol's ``Action``, the host name, then the path. Several services can
share a signing name (dynamodb and dynamodbstreams, apigateway and apigatewayv2); the
later clues then pick among those candidates.

S3 requests may also name their bucket in the host (virtual-hosted style,
``<bucket>.localhost:4566``, ``<bucket>.s3.localhost``, ``<bucket>.s3.<region>.localhost``);
``ServiceRouter.virtual_bucket`` finds it so the gateway can rewrite the request to
path style.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl

import botocore
import botocore.loaders
import botocore.model

from sandlot.derived import cached_json
from sandlot.protocol import HttpRequest

# Answers whether a REST service's route table knows this request (the parser's).
RouteCheck = Callable[[str, HttpRequest], bool]

# Virtual-hosted S3: ``<bucket>.s3.localhost``, ``<bucket>.s3.<region>.localhost`` (also
# S3's legacy dash form ``s3-<region>``), or ``<bucket>.localhost``.
_S3_HOST = re.compile(r"^(?P<bucket>.+?)\.s3(?:[.-][a-z0-9-]+)?\.localhost$")
_LOCALHOST = ".localhost"


class ServiceRouter:
    """Maps requests to service names among ``services``.

    The index it routes with is derived from the botocore models once per botocore
    version and kept in the user cache dir, so start-up loads no model: a service's
    model is loaded when its first request arrives.
    """

    def __init__(self, services: Iterable[str], route_check: RouteCheck) -> None:
        self._route_check = route_check
        index = load_index(sorted(services))
        self.by_signing_name: dict[str, list[str]] = index["by_signing_name"]
        self.by_target_prefix: dict[str, str] = index["by_target_prefix"]
        self.by_endpoint_prefix: dict[str, str] = index["by_endpoint_prefix"]
        self.query_actions: dict[str, set[str]] = {
            name: set(actions) for name, actions in index["query_actions"].items()
        }
        self.rest_by_segment: dict[str, list[str]] = index["rest_by_segment"]
        self.catch_all_rest: list[str] = index["catch_all_rest"]

    def find(self, request: HttpRequest, signing_name: str | None) -> str | None:
        """The service ``request`` is for, or None when nothing identifies one."""
        candidates = self.by_signing_name.get(signing_name, []) if signing_name else []
        if len(candidates) == 1:
            return candidates[0]
        if signing_name and not candidates:
            return None  # signed for a service sandlot does not know
        target = request.headers.get("x-amz-target")
        if target:
            service = self.by_target_prefix.get(target.rpartition(".")[0])
            if service and (not candidates or service in candidates):
                return service
        action = _query_action(request)
        if action:
            # A query-protocol request whose Action no candidate has names no service.
            return self._query_service(action, request, candidates)
        host_service = self.by_endpoint_prefix.get(request.headers.get("host", "").split(".")[0])
        if host_service and (not candidates or host_service in candidates):
            return host_service
        return self._rest_service(request, candidates)

    def virtual_bucket(self, request: HttpRequest, signing_name: str | None) -> str | None:
        """The bucket a virtual-hosted-style S3 request names in its host, or None.

        ``<bucket>.s3[.<region>].localhost`` is always S3; ``<bucket>.localhost`` is
        when signed for S3, or unsigned with a first label that is no service's endpoint
        prefix (``lambda.localhost`` stays Lambda's). IP addresses never are.
        """
        if signing_name is not None and signing_name != "s3":
            return None
        host = request.headers.get("host", "")
        if _LOCALHOST not in host:  # the common case: an IP address or plain localhost
            return None
        hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        hostname = hostname.lower().rstrip(".")
        if not hostname.endswith(_LOCALHOST) or _is_ip(hostname):
            return None
        found = _S3_HOST.match(hostname)
        if found is not None:
            return found["bucket"]
        bucket = hostname[: -len(_LOCALHOST)]
        if bucket == "s3" or bucket.startswith(("s3.", "s3-")):
            return None  # the S3 endpoint itself, path style
        if signing_name is None and bucket.split(".", 1)[0] in self.by_endpoint_prefix:
            return None
        return bucket

    def _query_service(
        self, action: str, request: HttpRequest, candidates: list[str]
    ) -> str | None:
        owners = [
            service
            for service, actions in self.query_actions.items()
            if action in actions and (not candidates or service in candidates)
        ]
        if len(owners) == 1:
            return owners[0]
        host_service = self.by_endpoint_prefix.get(request.headers.get("host", "").split(".")[0])
        if host_service in owners:
            return host_service
        return owners[0] if owners else None

    def _rest_service(self, request: HttpRequest, candidates: list[str]) -> str | None:
        segment = request.path.lstrip("/").split("/", 1)[0].split("?")[0]
        pool = [
            s for s in self.rest_by_segment.get(segment, []) if not candidates or s in candidates
        ]
        pool += [s for s in self.catch_all_rest if not candidates or s in candidates]
        if len(pool) == 1:
            return pool[0]
        for service in pool:
            if self._route_check(service, request):
                return service
        return pool[0] if pool else None


def _is_ip(hostname: str) -> bool:
    try:
        ipaddress.ip_address(hostname.strip("[]"))
    except ValueError:
        return False
    return True


def _query_action(request: HttpRequest) -> str | None:
    if request.query and "Action=" in request.query:
        return dict(parse_qsl(request.query)).get("Action")
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and content_type.startswith("application/x-www-form-urlencoded"):
        try:
            return dict(parse_qsl(request.body.decode())).get("Action")
        except UnicodeDecodeError:
            return None
    return None


def build_index(services: list[str]) -> dict:
    """The routing facts of ``services``, read from their botocore models."""
    index: dict = {
        "by_signing_name": defaultdict(list),
        "by_target_prefix": {},
        "by_endpoint_prefix": {},
        "query_actions": {},
        "rest_by_segment": defaultdict(list),
        "catch_all_rest": [],
    }
    for name in services:
        model = botocore.model.ServiceModel(
            botocore.loaders.create_loader().load_service_model(name, "service-2"), name
        )
        meta = model.metadata
        index["by_signing_name"][model.signing_name or meta["endpointPrefix"]].append(name)
        index["by_endpoint_prefix"].setdefault(meta["endpointPrefix"], name)
        protocols = meta.get("protocols") or [meta["protocol"]]
        if meta.get("targetPrefix"):
            index["by_target_prefix"][meta["targetPrefix"]] = name
        if "query" in protocols:
            index["query_actions"][name] = sorted(model.operation_names)
        if protocols[0].startswith("rest"):
            segments = {
                model.operation_model(op)
                .http.get("requestUri", "/")
                .split("?")[0]
                .strip("/")
                .split("/")[0]
                for op in model.operation_names
            }
            if any(s.startswith("{") for s in segments):
                index["catch_all_rest"].append(name)
            for segment in sorted(segments):
                if segment and not segment.startswith("{"):
                    index["rest_by_segment"][segment].append(name)
    return index


def load_index(services: list[str]) -> dict:
    """``build_index`` cached on disk per botocore version and service list."""
    key = hashlib.sha256(f"{botocore.__version__}:{','.join(services)}".encode()).hexdigest()
    return cached_json(f"routes-{key[:16]}.json", lambda: build_index(services))
