"""Request conformance: what botocore sends, sandlot's parser reads back unchanged.

For every operation of the services below, hypothesis generates valid inputs from the
model, botocore's own client-side serializer turns them into an HTTP request exactly as
it would travel (botocore's URL encoding, form encoding, host prefix, Content-Length),
and sandlot's RequestParser must find the same operation and the same params, correctly
typed. Where the wire cannot carry a distinction (botocore drops empty query lists, the
HTTP layer adds Content-Length, ...), the expected value is normalised, each time with
the reason next to it.

Run with ``-rA`` (or look at the end of the run) for the per-service pass counts.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.model import OperationModel, Shape
from botocore.serialize import create_serializer
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sandlot.protocol._parse_values import query_pairs
from sandlot.protocol.errors import ServiceError
from sandlot.protocol.http import HttpRequest
from sandlot.protocol.models import service_model
from sandlot.protocol.parser import RequestParser
from sandlot.protocol.routes import RouteTable
from tests.model_strategies import value_for

SERVICES = [
    "lambda",
    "s3",
    "sqs",
    "sns",
    "dynamodb",
    "dynamodbstreams",
    "kinesis",
    "iam",
    "sts",
    "logs",
    "cloudwatch",
    "events",
    "scheduler",
    "stepfunctions",
    "cloudformation",
    "apigateway",
    "apigatewayv2",
    "secretsmanager",
    "ssm",
    "cognito-idp",
    "firehose",
    "pipes",
]
# (service, protocol): every service in its default protocol, plus the other protocols
# a multi-protocol service must accept.
CASES = [(name, None) for name in SERVICES] + [("cloudwatch", "query")]

# Raise it for a deeper (slower) run: SANDLOT_CONFORMANCE_EXAMPLES=200 pytest ...
EXAMPLES_PER_OPERATION = int(os.environ.get("SANDLOT_CONFORMANCE_EXAMPLES", "8"))
ENDPOINT = "http://sandlot.test:4566"

# Operations not checked at all, with the reason. Keep this empty unless the wire
# really cannot carry the operation.
SKIPS: dict[tuple[str, str], str] = {}

# Operations whose requests are byte-for-byte those of another operation: the parser
# can only ever answer with one of them. Each entry is (service, op) -> the op it
# parses as when the request carries nothing that tells them apart.
WIRE_ALIASES: dict[tuple[str, str], str] = {
    # Deprecated S3 operations sharing method, path and ?subresource with their
    # successors; S3 itself serves only one API there.
    ("s3", "GetBucketLifecycle"): "GetBucketLifecycleConfiguration",
    ("s3", "PutBucketLifecycle"): "PutBucketLifecycleConfiguration",
    ("s3", "GetBucketNotification"): "GetBucketNotificationConfiguration",
    ("s3", "PutBucketNotification"): "PutBucketNotificationConfiguration",
    # GET / on the S3 Express control endpoint; on one endpoint it is ListBuckets
    # unless it sends max-directory-buckets.
    ("s3", "ListDirectoryBuckets"): "ListBuckets",
}

# Headers the HTTP layer (not the params) sets, which some models bind to members.
_TRANSPORT_HEADERS = ("content-length", "content-type")

RESULTS: dict[str, tuple[int, int, int, int]] = {}


@pytest.fixture(scope="module", autouse=True)
def _report(request: pytest.FixtureRequest):
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not RESULTS:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line("request conformance (passed / aliased / skipped / operations):")
        for case, (passed, aliased, skipped, total) in RESULTS.items():
            reporter.write_line(f"  {case:<22} {passed:>4} / {aliased} / {skipped} / {total}")


@pytest.mark.parametrize(
    ("service", "protocol"), CASES, ids=[f"{s}-{p}" if p else s for s, p in CASES]
)
def test_requests_roundtrip(service: str, protocol: str | None) -> None:
    model = service_model(service)
    protocol = protocol or model.resolved_protocol
    parser = RequestParser(model)
    serializer = create_serializer(protocol, include_validation=False)
    passed = aliased = skipped = 0
    failures: dict[str, str] = {}
    for name in model.operation_names:
        if (service, name) in SKIPS:
            skipped += 1
            continue
        operation = model.operation_model(name)
        alias = WIRE_ALIASES.get((service, name))
        try:
            _check_operation(parser, serializer, operation, protocol, alias)
        except Exception as exc:  # report every failing operation, not just the first
            failures[name] = f"{type(exc).__name__}: {exc}"[:2000]
            continue
        if alias:
            aliased += 1
        else:
            passed += 1
    case = f"{service}-{protocol}" if protocol != model.resolved_protocol else service
    RESULTS[case] = (passed, aliased, skipped, len(model.operation_names))
    print(f"{case}: {passed} passed, {aliased} aliased, {skipped} skipped")
    assert not failures, "\n\n".join(f"{name}: {error}" for name, error in failures.items())


def _check_operation(
    parser: RequestParser,
    serializer: Any,
    operation: OperationModel,
    protocol: str,
    alias: str | None,
) -> None:
    shape = operation.input_shape
    inputs = value_for(shape) if shape is not None else st.just({})

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(inputs)
    def roundtrip(params: dict[str, Any]) -> None:
        serialized = serializer.serialize_to_request(params, operation)
        request = _http_request(serialized)
        if protocol == "rest-xml":
            # XML 1.0 cannot carry U+FFFE/U+FFFF, which the text strategy may produce.
            assume(not any(ch in request.body for ch in ("\ufffe".encode(), "\uffff".encode())))
        lost: list[str] = []
        expected = _expected(params, shape, operation, protocol, lost)
        if lost:
            # A required member the wire cannot carry (an empty flattened list, an
            # empty query-protocol map...): the request is invalid as sent, and AWS
            # answers it as a missing member too.
            with pytest.raises(ServiceError) as error:
                parser.parse(request)
            assert error.value.code in _MISSING_CODES[protocol], (lost, error.value)
            return
        if alias:
            _check_alias(parser, request, operation.name, alias)
            return
        parsed = parser.parse(request)
        assert parsed.operation.name == operation.name
        assert parsed.protocol == protocol
        _assert_typed(parsed.params, shape)
        actual = _drop_transport_headers(parsed.params, params, shape, request)
        assert _canonical(actual) == _canonical(expected)

    roundtrip()


def _check_alias(parser: RequestParser, request: HttpRequest, name: str, alias: str) -> None:
    """A wire alias parses as itself, as its twin, or is rejected by the twin's schema."""
    try:
        parsed = parser.parse(request)
    except ServiceError as error:
        # A deprecated operation's body follows an older schema than its successor's.
        assert error.status == 400, error
        return
    assert parsed.operation.name in (name, alias)
    _assert_typed(parsed.params, parsed.operation.input_shape)


# ------------------------------------------------------------------------ request


def _http_request(serialized: dict[str, Any]) -> HttpRequest:
    """The request botocore would put on the wire, as the gateway hands it over."""
    prepare_request_dict(serialized, endpoint_url=ENDPOINT)
    prepared = create_request_object(serialized).prepare()
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif not isinstance(body, bytes):
        body = body.read()
    headers = {
        name.lower(): value.decode() if isinstance(value, bytes) else value
        for name, value in prepared.headers.items()
    }
    headers["host"] = url.netloc
    return HttpRequest(prepared.method, url.path, url.query, headers, body)


# ---------------------------------------------------------------------- expected


_MISSING_CODES = {
    "json": {"ValidationException"},
    "rest-json": {"ValidationException"},
    "query": {"MissingParameter"},
    "rest-xml": {"MalformedXML", "InvalidRequest", "MissingRequestBodyError"},
}


def _expected(
    params: dict[str, Any],
    shape: Shape | None,
    operation: OperationModel,
    protocol: str,
    lost: list[str],
) -> dict[str, Any]:
    """``params`` as the wire can carry them; names required members it cannot in ``lost``."""
    if shape is None:
        return {}
    if protocol == "query":
        value = _query_expected(params, shape, lost)
        return {} if value is _DROP else value
    if protocol in ("rest-json", "rest-xml"):
        return _rest_expected(params, shape, operation, protocol, lost)
    return params


_DROP = object()


def _query_expected(value: Any, shape: Shape, lost: list[str]) -> Any:
    """What the query protocol can carry: empty maps and structures send no field."""
    kind = shape.type_name
    if kind == "structure":
        out = {}
        for name, item in value.items():
            item = _query_expected(item, shape.members[name], lost)
            if item is not _DROP:
                out[name] = item
            elif name in shape.required_members:
                lost.append(name)
        return out if out else _DROP
    if kind == "list":
        if not value:
            return []  # sent as "Name=" and read back as an empty list
        items = [_query_expected(item, shape.member, lost) for item in value]
        items = [item for item in items if item is not _DROP]
        return items if items else _DROP
    if kind == "map":
        if not value:
            return _DROP
        out = {}
        for key, item in value.items():
            item = _query_expected(item, shape.value, lost)
            if item is not _DROP:
                out[key] = item
        return out  # the keys were sent, so the map is there even if values dropped
    return value


def _rest_expected(
    params: dict[str, Any],
    shape: Shape,
    operation: OperationModel,
    protocol: str,
    lost: list[str],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    literal_keys = {
        part.partition("=")[0] for part in operation.http["requestUri"].partition("?")[2].split("&")
    }
    named_query = {
        member.serialization.get("name", name)
        for name, member in shape.members.items()
        if member.serialization.get("location") == "querystring" and member.type_name != "map"
    }
    payload = shape.serialization.get("payload")
    for name, value in params.items():
        member = shape.members[name]
        location = member.serialization.get("location")
        if location in ("querystring", "header", "headers"):
            if location == "querystring" and member.type_name == "map":
                # botocore merges map entries into the query string, where the named
                # parameters and the path's ?literals win over same-named entries.
                value = {k: v for k, v in value.items() if k not in named_query | literal_keys}
            # botocore sends nothing for empty lists and maps in the query or headers.
            if member.type_name in ("list", "map") and not value:
                if name in shape.required_members:
                    lost.append(name)
                continue
        elif location is None and protocol == "rest-xml":
            value = _xml_expected(value, member, lost)
            if value is _DROP:
                if name in shape.required_members:
                    lost.append(name)
                continue
        out[name] = value
    if payload is not None:
        member = shape.members[payload]
        if member.type_name == "blob":
            out.setdefault(payload, b"")  # the body is the payload, even when empty
        elif member.type_name == "string":
            out.setdefault(payload, "")
        elif protocol == "rest-json":
            out.setdefault(payload, {})  # botocore sends "{}" for an absent structure
    return out


def _xml_expected(value: Any, shape: Shape, lost: list[str]) -> Any:
    """What rest-xml can carry: a flattened empty list or map leaves no element."""
    kind = shape.type_name
    if kind in ("list", "map") and not value and shape.serialization.get("flattened"):
        return _DROP
    if kind == "structure":
        out = {}
        for name, item in value.items():
            item = _xml_expected(item, shape.members[name], lost)
            if item is not _DROP:
                out[name] = item
            elif name in shape.required_members:
                lost.append(name)
        return out
    if kind == "list":
        return [_xml_expected(item, shape.member, lost) for item in value]
    if kind == "map":
        return {key: _xml_expected(item, shape.value, lost) for key, item in value.items()}
    return value


def _drop_transport_headers(
    parsed: dict[str, Any], params: dict[str, Any], shape: Shape | None, request: HttpRequest
) -> dict[str, Any]:
    """``parsed`` without members the HTTP layer filled (S3's ContentLength, ...)."""
    if shape is None:
        return parsed
    out = dict(parsed)
    for name, member in shape.members.items():
        header = member.serialization.get("name", "").lower()
        if (
            member.serialization.get("location") == "header"
            and header in _TRANSPORT_HEADERS
            and name not in params
            and name in out
        ):
            del out[name]
    return out


# ------------------------------------------------------------------- comparison


def _canonical(value: Any) -> Any:
    """A comparable form: datetimes as UTC epoch seconds, floats by value."""
    if isinstance(value, dt.datetime):
        return ("timestamp", int(value.timestamp()))
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return value


_SCALAR_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "long": int,
    "float": float,
    "double": float,
    "boolean": bool,
    "blob": bytes,
}


def _assert_typed(value: Any, shape: Shape | None, path: str = "params") -> None:
    """Every value has the Python type boto3 would take for its shape."""
    if shape is None:
        assert value == {}, path
        return
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), path
        if shape.is_document_type:
            return
        for name, item in value.items():
            assert name in shape.members, f"{path}.{name} is not a member"
            _assert_typed(item, shape.members[name], f"{path}.{name}")
    elif kind == "list":
        assert isinstance(value, list), path
        for index, item in enumerate(value):
            _assert_typed(item, shape.member, f"{path}[{index}]")
    elif kind == "map":
        assert isinstance(value, dict), path
        for key, item in value.items():
            _assert_typed(key, shape.key, f"{path} key")
            _assert_typed(item, shape.value, f"{path}[{key!r}]")
    elif kind == "timestamp":
        assert isinstance(value, dt.datetime), path
        assert value.utcoffset() == dt.timedelta(0), f"{path} is not aware UTC"
    elif shape.serialization.get("jsonvalue"):
        return  # a JSON value header decodes to any JSON value
    else:
        expected = _SCALAR_TYPES[kind]
        assert isinstance(value, expected), f"{path}: {type(value).__name__} for {kind}"
        assert not (expected is int and isinstance(value, bool)), path


# ------------------------------------------------------------------ edge cases
# Things random inputs rarely hit: how operations sharing a path are told apart,
# keys with odd slashes, and the leniencies real clients rely on.


def _parse(service: str, method: str, path: str, query: str = "", **kwargs: Any):
    headers = kwargs.pop("headers", {})
    body = kwargs.pop("body", b"")
    return RequestParser(service_model(service)).parse(
        HttpRequest(method, path, query, headers, body)
    )


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "operation"),
    [
        ("PUT", "/b/k", "", {}, "PutObject"),
        ("PUT", "/b/k", "", {"x-amz-copy-source": "s/k"}, "CopyObject"),
        ("PUT", "/b/k", "partNumber=1&uploadId=u", {}, "UploadPart"),
        ("PUT", "/b/k", "partNumber=1&uploadId=u", {"x-amz-copy-source": "s/k"}, "UploadPartCopy"),
        ("PUT", "/b/k", "tagging", {}, "PutObjectTagging"),
        ("GET", "/b/k", "uploadId=u", {}, "ListParts"),
        ("GET", "/b/k", "partNumber=1", {}, "GetObject"),
        ("DELETE", "/b/k", "uploadId=u", {}, "AbortMultipartUpload"),
        ("DELETE", "/b/k", "", {}, "DeleteObject"),
        ("GET", "/b", "list-type=2", {}, "ListObjectsV2"),
        ("GET", "/b", "list-type=1", {}, "ListObjects"),
        ("GET", "/b", "analytics", {}, "ListBucketAnalyticsConfigurations"),
        ("GET", "/b", "analytics&id=a", {}, "GetBucketAnalyticsConfiguration"),
        ("GET", "/b", "lifecycle", {}, "GetBucketLifecycleConfiguration"),
        ("POST", "/b/k", "select&select-type=2", {}, "SelectObjectContent"),
        ("GET", "/", "", {}, "ListBuckets"),
        ("GET", "/", "max-directory-buckets=5", {}, "ListDirectoryBuckets"),
        ("GET", "/", "x-id=ListDirectoryBuckets", {}, "ListDirectoryBuckets"),
        ("GET", "/b/k", "x-id=GetObject", {}, "GetObject"),
        ("HEAD", "/b", "", {}, "HeadBucket"),
        ("HEAD", "/b/k", "", {}, "HeadObject"),
    ],
)
def test_s3_operations_sharing_a_path(
    method: str, path: str, query: str, headers: dict[str, str], operation: str
) -> None:
    model = service_model("s3")
    table = RouteTable(model.operation_model(name) for name in model.operation_names)
    values: dict[str, list[str]] = {}
    for key, value in query_pairs(query):
        values.setdefault(key, []).append(value)
    found = table.match(method, path, values, headers)
    assert found is not None
    assert found.operation.name == operation


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/b/dir/", "dir/"),
        ("/b//a", "/a"),
        ("/b//", "/"),
        ("/b/a%2Fb%20c", "a/b c"),
        ("/b/a+b", "a+b"),
        ("/b/%E2%82%AC/..", "\u20ac/.."),
    ],
)
def test_s3_keys_keep_their_slashes(path: str, key: str) -> None:
    parsed = _parse("s3", "GET", path)
    assert (parsed.operation.name, parsed.params["Key"]) == ("GetObject", key)


def test_trailing_slash_of_a_bucket() -> None:
    parsed = _parse("s3", "GET", "/b/")
    assert (parsed.operation.name, parsed.params) == ("ListObjects", {"Bucket": "b"})


def test_greedy_label_in_the_middle_of_a_path() -> None:
    model = service_model("s3control")
    table = RouteTable(model.operation_model(name) for name in model.operation_names)
    found = table.match("GET", "/v20180820/mrap/instances/a/b/policy", {}, {})
    assert found is not None
    assert found.operation.name == "GetMultiRegionAccessPointPolicy"
    assert found.labels == {"name": "a/b"}
    found = table.match("GET", "/v20180820/mrap/instances/a/b", {}, {})
    assert found is not None
    assert (found.operation.name, found.labels) == ("GetMultiRegionAccessPoint", {"name": "a/b"})


def test_query_literal_with_a_value() -> None:
    path = "/2019-09-30/functions/f/provisioned-concurrency"
    assert _parse("lambda", "GET", path, "List=ALL").operation.name == (
        "ListProvisionedConcurrencyConfigs"
    )
    parsed = _parse("lambda", "GET", path, "Qualifier=1")
    assert (parsed.operation.name, parsed.params) == (
        "GetProvisionedConcurrencyConfig",
        {"FunctionName": "f", "Qualifier": "1"},
    )


def test_querystring_map_takes_the_unclaimed_parameters() -> None:
    parsed = _parse("apigateway", "PUT", "/restapis/a", "mode=merge&x=1&y=&x=2", body=b"{}")
    assert parsed.params["mode"] == "merge"
    assert parsed.params["parameters"] == {"x": "1", "y": ""}


def test_host_label_from_the_host_name() -> None:
    headers = {"host": "route-1.s3.example:4566", "x-amz-request-token": "t"}
    parsed = _parse("s3", "POST", "/WriteGetObjectResponse", headers=headers)
    assert parsed.params["RequestRoute"] == "route-1"


def test_header_lists_honour_quotes() -> None:
    from sandlot.protocol._parse_rest import split_header_list

    assert split_header_list('a, "b,c" ,"d\\"e",f') == ["a", "b,c", 'd"e', "f"]
    assert split_header_list("a,b") == ["a", "b"]


def test_timestamps_in_every_spelling() -> None:
    utc = dt.UTC
    body = b'{"StreamName": "s", "StreamCreationTimestamp": 1.5}'
    headers = {"x-amz-target": "Kinesis_20131202.ListShards"}
    parsed = _parse("kinesis", "POST", "/", headers=headers, body=body)
    assert parsed.params["StreamCreationTimestamp"] == dt.datetime(
        1970, 1, 1, 0, 0, 1, 500000, tzinfo=utc
    )
    for spelling in ("2024-01-02T03:04:05+02:00", "2024-01-02T01:04:05Z", "1704157445"):
        body = f'{{"StreamName": "s", "StreamCreationTimestamp": "{spelling}"}}'.encode()
        parsed = _parse("kinesis", "POST", "/", headers=headers, body=body)
        assert parsed.params["StreamCreationTimestamp"] == dt.datetime(
            2024, 1, 2, 1, 4, 5, tzinfo=utc
        )
    parsed = _parse(
        "s3", "GET", "/b/k", headers={"if-modified-since": "Tue, 02 Jan 2024 01:04:05 GMT"}
    )
    assert parsed.params["IfModifiedSince"] == dt.datetime(2024, 1, 2, 1, 4, 5, tzinfo=utc)


def test_query_lists_with_gaps_and_either_spelling() -> None:
    body = "Action=AssumeRole&RoleArn=r&RoleSessionName=s"
    body += "&PolicyArns.member.3.arn=c&PolicyArns.member.1.arn=a&TransitiveTagKeys.1=k"
    parsed = _parse("sts", "POST", "/", body=body.encode())
    assert parsed.params["PolicyArns"] == [{"arn": "a"}, {"arn": "c"}]
    assert parsed.params["TransitiveTagKeys"] == ["k"]
