"""Whatever arrives, the parser answers with a ParsedRequest or a ServiceError, quickly.

Two kinds of input: requests assembled from random pieces (methods, paths built from
the model's own templates and junk, query strings, headers such as X-Amz-Target and
Content-Type, raw bodies), and valid botocore requests with a random part broken
(a JSON value swapped, a form field or header rewritten, body bytes flipped), which
reach the type checks deep inside documents.
"""

from __future__ import annotations

import copy
import json
import os
import re
import time
from functools import cache
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.serialize import create_serializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandlot.protocol.errors import ServiceError
from sandlot.protocol.http import HttpRequest
from sandlot.protocol.models import query_view, service_model, speaks_legacy_query
from sandlot.protocol.parser import ParsedRequest, RequestParser
from tests.model_strategies import value_for

SERVICES = ["sts", "sqs", "lambda", "s3", "dynamodb", "cloudwatch"]
# Generous: a parse takes microseconds; this only catches pathological blow-ups.
SLOW_SECONDS = 0.5
# Raise it for a deeper (slower) run: SANDLOT_FUZZ_EXAMPLES=2000 pytest ...
FUZZ = settings(
    max_examples=int(os.environ.get("SANDLOT_FUZZ_EXAMPLES", "150")),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@cache
def parser_for(service: str) -> RequestParser:
    return RequestParser(service_model(service))


def _timed_parse(service: str, request: HttpRequest) -> tuple[ParsedRequest | ServiceError, float]:
    started = time.perf_counter()
    try:
        result: ParsedRequest | ServiceError = parser_for(service).parse(copy.deepcopy(request))
    except ServiceError as error:
        # A 5xx here would be the parser's safety net catching a bug.
        assert error.status < 500 or error.code == "NotImplemented", repr(error)
        result = error
    return result, time.perf_counter() - started


def check(service: str, request: HttpRequest) -> ParsedRequest | ServiceError:
    """Parse ``request``; only a ParsedRequest or a client-side ServiceError may come out."""
    result, elapsed = _timed_parse(service, request)
    if elapsed >= SLOW_SECONDS:
        # A first use of an operation's shapes fills caches (or a GC pause lands here):
        # slow once. An input that makes the parser slow is slow every time.
        result, elapsed = _timed_parse(service, request)
    assert elapsed < SLOW_SECONDS, f"parse took {elapsed:.3f}s"
    if isinstance(result, ParsedRequest):
        assert isinstance(result.params, dict)
        # A service that still takes its legacy query protocol (SQS) parses those
        # requests with the query-era view of its model.
        legacy = result.protocol == "query" and speaks_legacy_query(service)
        expected = query_view(service) if legacy else parser_for(service).model
        assert result.operation.service_model is expected
    return result


# ---------------------------------------------------------------- random requests


@cache
def vocabulary(service: str) -> dict[str, list[str]]:
    """Words that steer random requests into the model's routes and members."""
    model = service_model(service)
    segments: set[str] = set()
    templates: set[str] = set()
    query_keys: set[str] = {"Action", "Version"}
    headers: set[str] = {"x-amz-target", "content-type", "smithy-protocol", "host"}
    for name in model.operation_names:
        operation = model.operation_model(name)
        path, _, literals = operation.http.get("requestUri", "/").partition("?")
        segments.update(s for s in path.split("/") if s and not s.startswith("{"))
        if model.resolved_protocol.startswith("rest"):
            templates.add(path)
        query_keys.update(part.partition("=")[0] for part in literals.split("&") if part)
        shape = operation.input_shape
        for member_name, member in shape.members.items() if shape else ():
            wire = member.serialization.get("name", member_name)
            location = member.serialization.get("location")
            if location == "querystring":
                query_keys.add(wire)
            elif location in ("header", "headers"):
                headers.add(wire.lower())
            else:
                query_keys.add(wire)
    prefix = model.metadata.get("targetPrefix", "")
    return {
        "segments": sorted(segments),
        "templates": sorted(templates),
        "query_keys": sorted(query_keys),
        "headers": sorted(headers),
        "targets": [f"{prefix}.{name}" for name in model.operation_names],
        "actions": list(model.operation_names),
    }


_JUNK = st.text(max_size=20)
_VALUES = st.one_of(
    _JUNK,
    st.sampled_from(["", "true", "1", "-1", "1.5", "2024-01-01T00:00:00Z", "AAAA", "ALL", "2"]),
    st.integers().map(str),
)
_CONTENT_TYPES = st.sampled_from(
    [
        "application/x-amz-json-1.0",
        "application/x-amz-json-1.1",
        "application/json",
        "application/x-www-form-urlencoded; charset=utf-8",
        "application/cbor",
        "application/xml",
        "text/plain",
        "",
    ]
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _JUNK,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_JUNK, children, max_size=3),
    max_leaves=10,
)


@st.composite
def random_requests(draw: st.DrawFn, service: str) -> HttpRequest:
    words = vocabulary(service)
    segment = _JUNK.map(quote) | _JUNK
    if words["segments"]:
        segment |= st.sampled_from(words["segments"])
    if words["templates"] and draw(st.booleans()):
        # A real template with its labels filled by junk (sometimes several segments).
        template = draw(st.sampled_from(words["templates"]))
        path = re.sub(
            r"\{[^}]*\}", lambda _: "/".join(draw(st.lists(segment, max_size=2))), template
        )
    else:
        path = "/" + "/".join(draw(st.lists(segment, max_size=6)))
    if draw(st.booleans()):
        path += "/"
    key = st.sampled_from(words["query_keys"]) | _JUNK
    pairs = draw(st.lists(st.tuples(key, _VALUES), max_size=6))
    if draw(st.booleans()):
        pairs.append(("Action", draw(st.sampled_from(words["actions"]) | _JUNK)))
    query = "&".join(
        draw(st.sampled_from([f"{quote(k)}={quote(v)}", quote(k), f"{k}={v}"])) for k, v in pairs
    )
    headers = draw(
        st.dictionaries(st.sampled_from(words["headers"]) | _JUNK.map(str.lower), _VALUES)
    )
    if draw(st.booleans()):
        headers["x-amz-target"] = draw(st.sampled_from(words["targets"]) | _JUNK)
    if draw(st.booleans()):
        headers["content-type"] = draw(_CONTENT_TYPES)
    body = draw(
        st.one_of(
            st.binary(max_size=200),
            _JSON.map(lambda value: json.dumps(value).encode()),
            st.just(query.encode()),
            st.sampled_from([b"<a><b>1</b></a>", b"<?xml version='1.0'?><x/>", b"{}", b""]),
        )
    )
    method = draw(
        st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"]) | _JUNK
    )
    return HttpRequest(method, path, query, headers, body)


@pytest.mark.parametrize("service", SERVICES)
def test_random_requests(service: str) -> None:
    @FUZZ
    @given(random_requests(service))
    def fuzz(request: HttpRequest) -> None:
        check(service, request)

    fuzz()


# --------------------------------------------------------------- broken requests


@st.composite
def broken_requests(draw: st.DrawFn, service: str) -> HttpRequest:
    """A valid botocore request for a random operation, then one part of it broken."""
    model = service_model(service)
    operation = model.operation_model(draw(st.sampled_from(model.operation_names)))
    shape = operation.input_shape
    params = draw(value_for(shape)) if shape is not None else {}
    serializer = create_serializer(model.resolved_protocol, include_validation=False)
    request = _as_http(serializer.serialize_to_request(params, operation))
    breaker = draw(st.sampled_from([_swap_json, _rewrite_field, _rewrite_header, _flip_bytes]))
    return breaker(draw, request)


def _as_http(serialized: dict[str, Any]) -> HttpRequest:
    prepare_request_dict(serialized, endpoint_url="http://sandlot.test")
    prepared = create_request_object(serialized).prepare()
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    body = body.encode() if isinstance(body, str) else body
    headers = {name.lower(): value for name, value in prepared.headers.items()}
    return HttpRequest(prepared.method, url.path, url.query, headers, body)


def _swap_json(draw: st.DrawFn, request: HttpRequest) -> HttpRequest:
    """Replace one value anywhere in a JSON body with a random JSON value."""
    try:
        document = json.loads(request.body)
    except ValueError:
        return _flip_bytes(draw, request)
    containers = _containers(document)
    if not containers:
        return _flip_bytes(draw, request)
    container = draw(st.sampled_from(containers))
    keys = list(container) if isinstance(container, dict) else list(range(len(container)))
    container[draw(st.sampled_from(keys))] = draw(_JSON)
    request.body = json.dumps(document).encode()
    return request


def _containers(document: Any) -> list[Any]:
    found = []
    if isinstance(document, dict | list) and document:
        found.append(document)
        for item in document.values() if isinstance(document, dict) else document:
            found.extend(_containers(item))
    return found


def _rewrite_field(draw: st.DrawFn, request: HttpRequest) -> HttpRequest:
    """Give one form or query-string field a random value (or a random name)."""
    source = request.body.decode("utf-8", "replace") if request.body else request.query
    fields = source.split("&") if source else []
    if not fields:
        return _rewrite_header(draw, request)
    # Action and Version come first; mostly break the fields after them.
    first = 2 if len(fields) > 2 and draw(st.integers(0, 4)) else 0
    index = draw(st.integers(first, len(fields) - 1))
    name, _, value = fields[index].partition("=")
    if draw(st.booleans()):
        fields[index] = f"{name}={quote(draw(_VALUES))}"
    else:
        fields[index] = f"{quote(draw(_JUNK))}.{draw(st.integers(0, 3))}={value}"
    rewritten = "&".join(fields)
    if request.body:
        request.body = rewritten.encode()
    else:
        request.query = rewritten
    return request


def _rewrite_header(draw: st.DrawFn, request: HttpRequest) -> HttpRequest:
    names = sorted(request.headers)
    if names:
        request.headers[draw(st.sampled_from(names))] = draw(_VALUES)
    return request


def _flip_bytes(draw: st.DrawFn, request: HttpRequest) -> HttpRequest:
    body = bytearray(request.body)
    for _ in range(draw(st.integers(1, 3))):
        if body and draw(st.booleans()):
            body[draw(st.integers(0, len(body) - 1))] = draw(st.integers(0, 255))
        else:
            body.insert(draw(st.integers(0, len(body))), draw(st.integers(0, 255)))
    request.body = bytes(body)
    return request


@pytest.mark.parametrize("service", SERVICES)
def test_broken_requests(service: str) -> None:
    @FUZZ
    @given(broken_requests(service))
    def fuzz(request: HttpRequest) -> None:
        check(service, request)

    fuzz()
