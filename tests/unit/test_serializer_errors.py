"""Error responses and hostile strings: what botocore (and boto3's client) make of them."""

from __future__ import annotations

import email.header
import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from botocore.awsrequest import HeadersDict
from botocore.exceptions import ClientError
from botocore.parsers import create_parser

from sandlot.protocol.errors import ServiceError, not_implemented
from sandlot.protocol.http import HttpResponse
from sandlot.protocol.models import service_model
from sandlot.protocol.serializer import ResponseSerializer
from tests.unit.test_protocol_responses import client_answering

REQUEST_ID = "d00dfeed-0000-4000-8000-000000000002"

# (service, protocol, an operation): one of each wire form an error can take.
PROTOCOL_CASES = [
    ("dynamodb", None, "GetItem"),  # json
    ("sqs", None, "GetQueueUrl"),  # json, awsQueryCompatible
    ("cloudwatch", None, "GetDashboard"),  # json, awsQueryCompatible, error.code traits
    ("cloudwatch", "query", "GetDashboard"),  # query
    ("sts", None, "GetCallerIdentity"),  # query
    ("lambda", None, "GetFunction"),  # rest-json
    ("s3", None, "GetObject"),  # rest-xml, S3's <Error>
    ("route53", None, "GetHostedZone"),  # rest-xml, <ErrorResponse>
]
IDS = [f"{service}-{protocol or 'default'}" for service, protocol, _ in PROTOCOL_CASES]

HOSTILE = [
    "<tag attr=\"x\" other='y'>&amp; & ]]> </tag>",
    "line\r\nbreak\rcarriage\ttab",
    "nul\x00 bell\x07 esc\x1b del\x7f",
    "lone surrogate \ud800 and \udfff",
    "non-characters \ufffe \uffff, replacement \ufffd",
    "emoji 🐍 and accents àéîõü, CJK 漢字",
    "",
]


def _xml_expected(text: str) -> str:
    """What an XML protocol delivers: characters XML 1.0 cannot carry become U+FFFD."""
    bad = [*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0xD800, 0xE000), 0xFFFE, 0xFFFF]
    return text.translate(dict.fromkeys(bad, "\ufffd"))


def _serializer(service: str, protocol: str | None) -> tuple[ResponseSerializer, Any]:
    model = service_model(service)
    return ResponseSerializer(model, protocol), model


def _parse_error(serializer: ResponseSerializer, operation: Any, response: HttpResponse) -> dict:
    """botocore's error parse, modelled members included (as its endpoint does)."""
    raw = {
        "status_code": response.status,
        "headers": HeadersDict(response.headers),
        "body": response.body,
        "context": {"operation_name": operation.name},
    }
    parser = create_parser(serializer.protocol)
    parsed = parser.parse(raw, operation.output_shape)
    shape = serializer.model.shape_for_error_code(parsed["Error"]["Code"])
    if shape is not None:
        parsed.update(parser.parse(raw, shape))
    return parsed


# --- unmodelled errors ------------------------------------------------------------------


@pytest.mark.parametrize(("service", "protocol", "operation"), PROTOCOL_CASES, ids=IDS)
def test_unknown_code_keeps_code_message_and_status(service, protocol, operation):
    serializer, model = _serializer(service, protocol)
    op = model.operation_model(operation)
    error = ServiceError("SandlotUnheardOf", "nobody modelled this", 418)
    # No operation: the gateway's answer when it could not tell which was called.
    response = serializer.serialize_error(error, None, REQUEST_ID)
    parsed = _parse_error(serializer, op, response)
    assert parsed["Error"]["Code"] == "SandlotUnheardOf"
    assert parsed["Error"]["Message"] == "nobody modelled this"
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == 418
    assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID


@pytest.mark.parametrize(("service", "protocol", "operation"), PROTOCOL_CASES, ids=IDS)
def test_not_implemented_is_a_501_receiver_fault(service, protocol, operation):
    serializer, model = _serializer(service, protocol)
    op = model.operation_model(operation)
    response = serializer.serialize_error(not_implemented(service, operation), op, REQUEST_ID)
    parsed = _parse_error(serializer, op, response)
    assert response.status == 501
    assert parsed["Error"]["Code"] == "NotImplemented"
    assert operation in parsed["Error"]["Message"]
    if serializer.protocol == "query" or "x-amzn-query-error" in response.headers:
        assert parsed["Error"]["Type"] == "Receiver"


def test_error_headers_are_added_verbatim():
    serializer, model = _serializer("lambda", None)
    error = ServiceError("TooManyRequestsException", "slow down", 429, headers={"Retry-After": "3"})
    response = serializer.serialize_error(error, model.operation_model("Invoke"), REQUEST_ID)
    assert response.headers["Retry-After"] == "3"


def test_model_sender_fault_wins_over_the_default():
    serializer, model = _serializer("iam", None)
    op = model.operation_model("GetUser")
    # ServiceFailureException is modelled as a Receiver fault; the provider left the default.
    response = serializer.serialize_error(ServiceError("ServiceFailure", "boom", 500), op, "r")
    assert b"<Type>Receiver</Type>" in response.body
    response = serializer.serialize_error(ServiceError("NoSuchEntity", "who?", 404), op, "r")
    assert b"<Type>Sender</Type>" in response.body


def test_unmodelled_s3_fields_become_error_elements():
    serializer, model = _serializer("s3", None)
    error = ServiceError("NoSuchKey", "gone", 404, Key="a/b.txt", **{"not an xml name": "x"})
    response = serializer.serialize_error(error, model.operation_model("GetObject"), REQUEST_ID)
    parsed = _parse_error(serializer, model.operation_model("GetObject"), response)
    assert parsed["Error"] == {"Code": "NoSuchKey", "Message": "gone", "Key": "a/b.txt"}
    assert parsed["ResponseMetadata"]["HostId"] == response.headers["x-amz-id-2"]


# --- hostile strings --------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
@pytest.mark.parametrize(("service", "protocol", "operation"), PROTOCOL_CASES, ids=IDS)
def test_hostile_error_messages_stay_well_formed(service, protocol, operation, text):
    serializer, model = _serializer(service, protocol)
    op = model.operation_model(operation)
    response = serializer.serialize_error(ServiceError("Hostile", text, 400), op, REQUEST_ID)
    decoded = response.body.decode("utf-8")  # strict: the body is valid UTF-8
    if serializer.protocol in ("json", "rest-json"):
        assert json.loads(decoded)["message"] == text
        expected = text
    else:
        ET.fromstring(response.body)  # well-formed XML 1.0
        expected = _xml_expected(text)
    assert _parse_error(serializer, op, response)["Error"].get("Message", "") == expected


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_in_xml_results(text):
    serializer, model = _serializer("sts", None)
    op = model.operation_model("GetCallerIdentity")
    response = serializer.serialize(op, {"Arn": text, "Account": "1", "UserId": text}, "r")
    ET.fromstring(response.body)
    parsed = create_parser("query").parse(
        {"status_code": 200, "headers": HeadersDict(response.headers), "body": response.body},
        op.output_shape,
    )
    assert parsed["Arn"] == parsed["UserId"] == _xml_expected(text)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_map_keys_and_attributes_in_rest_xml(text):
    serializer, model = _serializer("s3", None)
    op = model.operation_model("GetBucketAcl")
    grant = {"Grantee": {"Type": text, "ID": text}, "Permission": "READ"}
    response = serializer.serialize(op, {"Grants": [grant]}, "r")
    root = ET.fromstring(response.body)
    grantee = root.find(".//{*}Grantee")
    xsi_type = "{http://www.w3.org/2001/XMLSchema-instance}type"
    assert grantee.get(xsi_type) == _xml_expected(text)  # attributes keep tabs and newlines


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_header_values_cannot_split_the_response(text):
    serializer, model = _serializer("s3", None)
    op = model.operation_model("HeadObject")
    response = serializer.serialize(op, {"Metadata": {"note": text}, "ContentType": text}, "r")
    for value in response.headers.values():
        assert all(" " <= c <= "~" or c == "\t" for c in value), value
    for header in ("x-amz-meta-note", "Content-Type"):
        decoded = email.header.make_header(email.header.decode_header(response.headers[header]))
        assert str(decoded) == text.encode("utf-8", "replace").decode("utf-8")


def test_metadata_keys_that_are_not_header_names_are_dropped():
    serializer, model = _serializer("s3", None)
    metadata = {"ok": "1", "bad key": "2", "x\r\nSet-Cookie: a": "3"}
    response = serializer.serialize(
        model.operation_model("HeadObject"), {"Metadata": metadata}, "r"
    )
    assert [k for k in response.headers if k.startswith("x-amz-meta-")] == ["x-amz-meta-ok"]


def test_lone_surrogates_in_json_results_stay_valid_json():
    serializer, model = _serializer("sqs", None)
    op = model.operation_model("GetQueueUrl")
    body = serializer.serialize(op, {"QueueUrl": "q\ud800"}, "r").body
    assert json.loads(body.decode("ascii")) == {"QueueUrl": "q\ud800"}


# --- through boto3's client: exception classes and ClientError contents ---------------------


def _raise(service: str, operation: str, error: ServiceError, call: dict) -> ClientError:
    serializer, model = _serializer(service, None)
    response = serializer.serialize_error(error, model.operation_model(operation), REQUEST_ID)
    client = client_answering(service, operation, response)
    method = getattr(client, _snake(client, operation))
    with pytest.raises(ClientError) as raised:
        method(**call)
    return raised.value


def _snake(client: Any, operation: str) -> str:
    return {v: k for k, v in client.meta.method_to_api_mapping.items()}[operation]


def test_sqs_legacy_code_and_exception_class():
    error = _raise(
        "sqs",
        "GetQueueUrl",
        ServiceError("QueueDoesNotExist", "The specified queue does not exist.", 400),
        {"QueueName": "missing"},
    )
    assert type(error).__name__ == "QueueDoesNotExist"
    assert error.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert error.response["Error"]["Message"] == "The specified queue does not exist."


def test_sqs_error_raised_by_its_legacy_code_finds_its_shape():
    error = _raise(
        "sqs",
        "CreateQueue",
        ServiceError("QueueAlreadyExists", "exists", 400),
        {"QueueName": "q"},
    )
    assert type(error).__name__ == "QueueNameExists"


def test_dynamodb_modelled_member_reaches_the_client():
    item = {"pk": {"S": "1"}, "n": {"N": "2"}}
    error = _raise(
        "dynamodb",
        "PutItem",
        ServiceError("ConditionalCheckFailedException", "failed", 400, Item=item),
        {"TableName": "t", "Item": {"pk": {"S": "1"}}},
    )
    assert type(error).__name__ == "ConditionalCheckFailedException"
    assert error.response["Item"] == item


def test_s3_no_such_bucket_reaches_the_client():
    error = _raise(
        "s3",
        "GetObject",
        ServiceError("NoSuchBucket", "The specified bucket does not exist", 404, BucketName="b"),
        {"Bucket": "b", "Key": "k"},
    )
    assert type(error).__name__ == "NoSuchBucket"
    assert error.response["Error"]["BucketName"] == "b"
    assert error.response["ResponseMetadata"]["RequestId"] == REQUEST_ID


def test_rest_json_header_member_reaches_the_client():
    error = _raise(
        "apigateway",
        "GetRestApis",
        ServiceError("TooManyRequestsException", "slow down", 429, retryAfterSeconds="7"),
        {},
    )
    assert type(error).__name__ == "TooManyRequestsException"
    assert error.response["retryAfterSeconds"] == "7"
    assert error.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "7"


def test_query_error_with_trait_code_maps_to_its_class():
    error = _raise(
        "iam",
        "GetUser",
        ServiceError("NoSuchEntityException", "no user", 404),
        {"UserName": "u"},
    )
    assert type(error).__name__ == "NoSuchEntityException"
    assert error.response["Error"] == {
        "Type": "Sender",
        "Code": "NoSuchEntity",
        "Message": "no user",
    }


def test_not_implemented_through_the_client():
    error = _raise("lambda", "ListFunctions", not_implemented("lambda", "ListFunctions"), {})
    assert error.response["Error"]["Code"] == "NotImplemented"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 501
