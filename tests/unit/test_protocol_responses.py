"""Conformance of sandlot's ResponseSerializer with botocore's own response parsers.

For every operation of the services below, hypothesis generates outputs from the model
(``tests.model_strategies``), sandlot serialises them and botocore parses them back the
way its client does; the result must equal what was generated. Each modelled error of
each operation is checked the same way: the parsed ``Error.Code``, message, HTTP status,
modelled members and the exception class botocore would raise.

The normalisations (what botocore legitimately drops or adds) are commented where they
are made. One test per service; it prints its pass counts (``pytest -rP`` shows them)
and fails with every failing operation listed. Operations that cannot be checked are
in ``SKIPS`` with the reason.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HeadersDict
from botocore.config import Config
from botocore.handlers import parse_get_bucket_location
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.parsers import create_parser
from botocore.response import StreamingBody
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandlot.protocol._serial_compat import LEGACY_QUERY_CODES
from sandlot.protocol._serial_values import header_name_ok
from sandlot.protocol._serial_xml import member_tag
from sandlot.protocol.errors import ServiceError
from sandlot.protocol.http import HttpResponse
from sandlot.protocol.models import service_model
from sandlot.protocol.serializer import ResponseSerializer
from tests.model_strategies import value_for

SERVICES = [
    *("lambda", "s3", "sqs", "sns", "dynamodb", "dynamodbstreams", "kinesis", "iam", "sts"),
    *("logs", "cloudwatch", "events", "scheduler", "stepfunctions", "cloudformation"),
    *("apigateway", "apigatewayv2", "secretsmanager", "ssm", "cognito-idp", "pipes"),
]
# (service, protocol): the model's own protocol, plus CloudWatch's legacy query protocol.
CASES = [(service, None) for service in SERVICES] + [("cloudwatch", "query")]

# Examples per operation; each example draws an output and a value for every error.
# SANDLOT_CONFORMANCE_EXAMPLES raises it for a deeper (slower) run.
EXAMPLES = int(os.environ.get("SANDLOT_CONFORMANCE_EXAMPLES", "5"))
REQUEST_ID = "c0ffee00-1234-4abc-8def-000000000001"

_EVENT_STREAM = "event-stream output: out of scope for the request/response serializer"
SKIPS: dict[tuple[str, str], str] = {
    (
        "lambda",
        "InvokeWithResponseStream",
    ): "event stream: end to end in tests/e2e/test_lambda_streaming.py",
    ("s3", "SelectObjectContent"): _EVENT_STREAM,
    ("kinesis", "SubscribeToShard"): "event stream: end to end in tests/e2e/test_kinesis.py",
    ("logs", "GetLogObject"): _EVENT_STREAM,
    ("logs", "StartLiveTail"): _EVENT_STREAM,
}

XML_PROTOCOLS = ("rest-xml", "query")
REST_PROTOCOLS = ("rest-json", "rest-xml")
# XML 1.0 cannot carry these; the serializer sends U+FFFD in their place.
_XML_INVALID = {
    c: "\ufffd"
    for c in [*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0xD800, 0xE000), 0xFFFE, 0xFFFF]
}


# --- what botocore's client does with a response ------------------------------------------


class _Raw:
    """The urllib3 response stand-in AWSResponse reads."""

    def __init__(self, body: bytes) -> None:
        self._body = io.BytesIO(body)

    def stream(self, *_: Any, **__: Any):
        yield self._body.read()

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        return self._body.read(*args)


def _http_response(body: bytes) -> AWSResponse:
    return AWSResponse("http://127.0.0.1:9/", 200, {}, _Raw(body))


# after-call handlers that replace the model-driven parse of an operation.
CLIENT_HOOKS = {
    ("s3", "GetBucketLocation"): lambda parsed, body: parse_get_bucket_location(
        parsed, _http_response(body)
    ),
}


def client_answering(service: str, operation: str, response: HttpResponse):
    """A real boto3 client whose every request gets ``response``."""
    client = boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    service_id = client.meta.service_model.service_id.hyphenize()

    def answer(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, response.status, response.headers, _Raw(response.body))

    client.meta.events.register(f"before-send.{service_id}.{operation}", answer)
    return client


def parse(
    protocol: str, operation: OperationModel, response: HttpResponse, shape: Shape | None
) -> dict[str, Any]:
    """Parse like botocore's endpoint: blob payloads of 2xx responses arrive as streams."""
    body: Any = response.body
    if response.status < 300 and operation.has_streaming_output:
        body = StreamingBody(io.BytesIO(response.body), len(response.body))
    raw = {
        "status_code": response.status,
        "headers": HeadersDict(response.headers),
        "body": body,
        "context": {"operation_name": operation.name},
    }
    return create_parser(protocol).parse(raw, shape)


def parse_error(protocol: str, operation: OperationModel, response: HttpResponse) -> dict:
    """botocore's error path: generic parse, then the modelled shape's members on top."""
    parsed = parse(protocol, operation, response, operation.output_shape)
    code = parsed.get("Error", {}).get("Code")
    error_shape = operation.service_model.shape_for_error_code(code)
    if error_shape is not None:
        parsed.update(parse(protocol, operation, response, error_shape))
    return parsed


def exception_code(service: str, parsed: dict) -> str:
    """The code botocore's client maps to an exception class.

    For SQS, the ``after-call.sqs.*`` handler prefers ``QueryErrorCode`` (the shape
    name from ``__type``) because the SQS model lacks the legacy codes.
    """
    error = parsed["Error"]
    if service == "sqs" and error.get("QueryErrorCode"):
        return error["QueryErrorCode"]
    return error["Code"]


# --- what the generated value should look like after the round trip -----------------------


def _expected(shape: Shape, value: Any, protocol: str, top: bool = False) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if shape.is_document_type:
            return value
        return _expected_structure(shape, value, protocol, top)
    if kind == "list":
        return [_expected(shape.member, item, protocol) for item in value]
    if kind == "map":
        return {
            _expected(shape.key, key, protocol): _expected(shape.value, item, protocol)
            for key, item in value.items()
        }
    if kind == "string" and protocol in XML_PROTOCOLS and isinstance(value, str):
        # Characters XML 1.0 cannot carry are replaced (see _serial_values).
        return value.translate(_XML_INVALID)
    return value


def _expected_structure(shape: Shape, value: dict, protocol: str, top: bool) -> dict:
    expected = {}
    rest = top and protocol in REST_PROTOCOLS
    for name, member in shape.members.items():
        item = value.get(name)
        location = member.serialization.get("location")
        if rest and location == "headers":
            # botocore always returns a dict for a prefixed-headers member; keys that
            # cannot be part of a header name are dropped by the serializer.
            prefix = member.serialization.get("name", "")
            entries = (item or {}).items()
            expected[name] = {k: v for k, v in entries if header_name_ok(prefix + k)}
            continue
        if item is None:
            continue
        if rest and location == "header":
            if member.type_name == "list" and not item:
                continue  # an empty list sends no header at all
            expected[name] = item  # header values are ASCII by construction
            continue
        flattened = member.serialization.get("flattened")
        if protocol in XML_PROTOCOLS and flattened and not item:
            continue  # an empty flattened list or map writes no element to find
        expected[name] = _expected(member, item, protocol)
    payload = shape.serialization.get("payload") if rest else None
    if payload is not None and payload not in expected:
        # botocore reads an absent payload as an empty body: b"", "" or {}.
        kind = shape.members[payload].type_name
        expected[payload] = {"blob": b"", "string": ""}.get(kind, {})
    return expected


def _read_streams(parsed: dict) -> dict:
    return {k: v.read() if isinstance(v, StreamingBody) else v for k, v in parsed.items()}


# --- the checks ---------------------------------------------------------------------------


def check_output(
    serializer: ResponseSerializer, operation: OperationModel, result: dict[str, Any]
) -> None:
    protocol = serializer.protocol
    shape = operation.output_shape
    response = serializer.serialize(operation, result, REQUEST_ID)
    assert response.status < 300, response
    parsed = parse(protocol, operation, response, shape)
    hook = CLIENT_HOOKS.get((serializer.model.service_name, operation.name))
    if hook is not None:
        hook(parsed, response.body)
    metadata = parsed.pop("ResponseMetadata")
    assert metadata["RequestId"] == REQUEST_ID
    if shape is None:
        assert parsed == {}
        return
    expected = _expected(shape, result, protocol, top=True)
    for name, member in _bound_members(shape, protocol):
        if member.serialization.get("location") == "statusCode":
            expected.setdefault(name, response.status)  # botocore always reads the status
        elif member.serialization.get("name", "").lower() == "content-type":
            # A body always goes with a Content-Type; without the member, a default one.
            expected.setdefault(name, response.headers.get("Content-Type"))
            if expected[name] is None:
                del expected[name]
    if hook is not None:
        for name in parsed:
            expected.setdefault(name, None)  # the hook sets the member, None if absent
    actual = _read_streams(parsed)
    if protocol in XML_PROTOCOLS:
        expected, actual = _unambiguous(shape, expected), _unambiguous(shape, actual)
    assert actual == expected, response.body[:2000]


def _bound_members(shape: Shape, protocol: str) -> list[tuple[str, Shape]]:
    """Members bound to the status line or a header (rest protocols)."""
    if protocol not in REST_PROTOCOLS:
        return []
    located = ("statusCode", "header")
    return [(n, m) for n, m in shape.members.items() if m.serialization.get("location") in located]


def _unambiguous(shape: Shape, value: Any) -> Any:
    """``value`` without members that share an XML element name with another member.

    S3's deprecated notification configurations model both ``Event`` and a flattened
    ``Events`` list as ``<Event>`` elements; botocore reads every such element into both
    members, so neither can round-trip and neither is compared.
    """
    kind = shape.type_name
    if kind == "list" and isinstance(value, list):
        return [_unambiguous(shape.member, item) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {key: _unambiguous(shape.value, item) for key, item in value.items()}
    if kind != "structure" or not isinstance(value, dict) or shape.is_document_type:
        return value
    tags: dict[str, list[str]] = {}
    for name, member in shape.members.items():
        tags.setdefault(member_tag(name, member), []).append(name)
    shared = {name for names in tags.values() if len(names) > 1 for name in names}
    return {
        name: _unambiguous(shape.members[name], item)
        for name, item in value.items()
        if name not in shared and name in shape.members
    }


def wire_code(model: ServiceModel, shape: Shape) -> str:
    """The Error.Code AWS sends: ``error.code`` trait, legacy query code, or shape name."""
    trait = shape.metadata.get("error") or {}
    legacy = LEGACY_QUERY_CODES.get(model.service_name, {})
    return trait.get("code") or legacy.get(shape.name) or shape.name


def _message_member(shape: Shape) -> str | None:
    return next((name for name in shape.members if name.lower() == "message"), None)


def check_error(
    serializer: ResponseSerializer,
    operation: OperationModel,
    shape: Shape,
    code: str,
    message: str,
    members: dict[str, Any],
) -> None:
    protocol = serializer.protocol
    model = serializer.model
    status = (shape.metadata.get("error") or {}).get("httpStatusCode", 400)
    fields = {k: v for k, v in members.items() if k != _message_member(shape)}
    error = ServiceError(code, message, status, **fields)
    response = serializer.serialize_error(error, operation, REQUEST_ID)
    assert response.status == status
    parsed = parse_error(protocol, operation, response)
    context = f"{shape.name} as {code!r}: {response.headers} {response.body[:2000]!r}"
    assert parsed["Error"]["Code"] == wire_code(model, shape), context
    assert parsed["Error"].get("Message", "") == _expected_text(message, protocol), context
    assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID, context
    # The exception class botocore raises. A code can belong to two shapes (CloudWatch's
    # DashboardNotFoundError and ResourceNotFound are both ResourceNotFound); botocore
    # then picks one, so the check is that the class is one of this code's.
    raised = model.shape_for_error_code(exception_code(model.service_name, parsed))
    assert raised is not None and wire_code(model, raised) == wire_code(model, shape), context
    readable = _readable_error_members(shape, fields, protocol)
    if readable:
        expected = _expected_structure(shape, readable, protocol, top=True)
        actual = {name: parsed.get(name) for name in expected}
        assert actual == expected, context


def _expected_text(text: str, protocol: str) -> str:
    return text.translate(_XML_INVALID) if protocol in XML_PROTOCOLS else text


def _readable_error_members(shape: Shape, fields: dict[str, Any], protocol: str) -> dict:
    """Members botocore can read back: in XML the envelope owns Code, Type, RequestId."""
    if protocol not in XML_PROTOCOLS:
        return fields
    envelope = {"Type", "Code", "Message", "RequestId", "HostId"}
    return {
        name: value
        for name, value in fields.items()
        if shape.members[name].serialization.get("name", name) not in envelope
    }


def _error_codes(model: ServiceModel, shape: Shape) -> list[str]:
    """The codes a provider may raise a modelled error by: shape name or wire code."""
    return sorted({shape.name, shape.error_code, wire_code(model, shape)})


def check_operation(serializer: ResponseSerializer, operation: OperationModel) -> None:
    """Hypothesis-driven round trips of the output and every modelled error."""
    model = serializer.model
    output = operation.output_shape
    outputs = value_for(output) if output is not None else st.just({})
    errors = [
        (shape, st.sampled_from(_error_codes(model, shape)), value_for(shape))
        for shape in operation.error_shapes
    ]
    message = st.text(max_size=20)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        check_output(serializer, operation, data.draw(outputs, label="result"))
        for shape, codes, members in errors:
            drawn = data.draw(st.tuples(codes, message, members), label=shape.name)
            check_error(serializer, operation, shape, *drawn)

    run()


@pytest.mark.parametrize(("service", "protocol"), CASES, ids=[f"{s}-{p or ''}" for s, p in CASES])
def test_responses_parse_back_in_botocore(service: str, protocol: str | None) -> None:
    model = service_model(service)
    serializer = ResponseSerializer(model, protocol)
    passed, skipped, failures = 0, [], {}
    for name in model.operation_names:
        if (service, name) in SKIPS:
            skipped.append(name)
            continue
        try:
            check_operation(serializer, model.operation_model(name))
        except Exception as exc:  # collect every failing operation, not just the first
            failures[name] = f"{type(exc).__name__}: {exc}"[:3000]
        else:
            passed += 1
    total = len(model.operation_names)
    print(f"{service} ({serializer.protocol}): {passed}/{total} passed, skipped {skipped}")
    assert not failures, "\n\n".join(f"{op}: {why}" for op, why in failures.items())


def test_skips_name_real_operations() -> None:
    for service, operation in SKIPS:
        assert operation in service_model(service).operation_names


# --- behaviour the generated round trips cannot reach -------------------------------------


def test_no_body_for_204_from_status_member() -> None:
    model = service_model("lambda")
    invoke = model.operation_model("Invoke")
    response = ResponseSerializer(model).serialize(
        invoke, {"StatusCode": 204, "Payload": b"ignored"}, REQUEST_ID
    )
    assert (response.status, response.body) == (204, b"")
    assert "Content-Type" not in response.headers


def test_get_bucket_location_is_a_bare_element() -> None:
    model = service_model("s3")
    operation = model.operation_model("GetBucketLocation")
    serializer = ResponseSerializer(model)
    body = serializer.serialize(operation, {"LocationConstraint": "eu-west-1"}, REQUEST_ID).body
    assert body.endswith(
        b'<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"eu-west-1</LocationConstraint>"
    )
    empty = serializer.serialize(operation, {}, REQUEST_ID).body  # us-east-1
    parsed = {}
    parse_get_bucket_location(parsed, _http_response(empty))
    assert parsed == {"LocationConstraint": None}


def test_timestamp_inputs_and_formats() -> None:
    """Aware, naive (UTC) and epoch inputs give the same text in each protocol's format."""
    when = dt.datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=dt.UTC)
    inputs = (when, when.replace(tzinfo=None), when.astimezone(dt.timezone(dt.timedelta(hours=2))))
    cases = [
        ("secretsmanager", "DescribeSecret", "LastChangedDate", b'"LastChangedDate":1714564800.25'),
        ("sts", "GetSessionToken", "Credentials", b"<Expiration>2024-05-01T12:00:00.250Z<"),
    ]
    for service, operation, member, wire in cases:
        model = service_model(service)
        serializer = ResponseSerializer(model)
        for value in (*inputs, when.timestamp()):
            result = {member: value}
            if member == "Credentials":
                result = {member: {"Expiration": value, "AccessKeyId": "AKIA"}}
            body = serializer.serialize(model.operation_model(operation), result, "r").body
            assert wire in body, (value, body)
    s3 = service_model("s3")
    for value in (*inputs, int(when.timestamp())):
        response = ResponseSerializer(s3).serialize(
            s3.operation_model("HeadObject"), {"LastModified": value}, "r"
        )
        assert response.headers["Last-Modified"] == "Wed, 01 May 2024 12:00:00 GMT"


def test_boto3_client_reads_stream_headers_and_bucket_location() -> None:
    s3 = service_model("s3")
    serializer = ResponseSerializer(s3)
    when = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    result = {"Body": b"data", "Metadata": {"owner": "me"}, "LastModified": when, "ETag": '"e"'}
    response = serializer.serialize(s3.operation_model("GetObject"), result, REQUEST_ID)
    got = client_answering("s3", "GetObject", response).get_object(Bucket="b", Key="k")
    assert got["Body"].read() == b"data"
    assert (got["Metadata"], got["LastModified"], got["ETag"]) == ({"owner": "me"}, when, '"e"')
    operation = s3.operation_model("GetBucketLocation")
    response = serializer.serialize(operation, {"LocationConstraint": "eu-west-1"}, REQUEST_ID)
    client = client_answering("s3", "GetBucketLocation", response)
    assert client.get_bucket_location(Bucket="b")["LocationConstraint"] == "eu-west-1"


def test_rest_json_event_stream_parses_back_in_boto3() -> None:
    """Lambda's InvokeWithResponseStream: status and headers from the members, then raw
    PayloadChunk payloads and a JSON InvokeComplete, as boto3 reads them."""
    model = service_model("lambda")
    operation = model.operation_model("InvokeWithResponseStream")

    async def events():
        yield {"PayloadChunk": {"Payload": b"\x00raw bytes\xff"}}
        yield {"PayloadChunk": {"Payload": b"more"}}
        yield {"InvokeComplete": {"ErrorCode": "TypeError", "ErrorDetails": "late"}}

    result = {
        "StatusCode": 200,
        "ExecutedVersion": "7",
        "ResponseStreamContentType": "application/vnd.amazon.eventstream",
        "EventStream": events(),
    }
    response = ResponseSerializer(model).serialize(operation, result, REQUEST_ID)

    async def collect(frames) -> bytes:
        return b"".join([frame async for frame in frames])

    body = asyncio.run(collect(response.body.frames))
    assert response.headers["X-Amz-Executed-Version"] == "7"
    assert response.headers["Content-Type"] == "application/vnd.amazon.eventstream"
    client = client_answering("lambda", operation.name, HttpResponse(200, response.headers, body))
    answer = client.invoke_with_response_stream(FunctionName="f")
    assert (answer["StatusCode"], answer["ExecutedVersion"]) == (200, "7")
    assert list(answer["EventStream"]) == [
        {"PayloadChunk": {"Payload": b"\x00raw bytes\xff"}},
        {"PayloadChunk": {"Payload": b"more"}},
        {"InvokeComplete": {"ErrorCode": "TypeError", "ErrorDetails": "late"}},
    ]
    dry = ResponseSerializer(model).serialize(operation, {"StatusCode": 204}, REQUEST_ID)
    assert (dry.status, dry.body) == (204, b"")
