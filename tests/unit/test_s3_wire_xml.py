"""S3's XML as S3 writes it: root element names, namespace, error documents, FileBody."""

from __future__ import annotations

import io
from xml.etree import ElementTree

import pytest
from botocore.parsers import create_parser

from sandlot.protocol import FileBody, ServiceError
from sandlot.protocol._serial_compat import BARE_ROOT_MEMBER, ROOT_ELEMENTS
from sandlot.protocol.models import service_model
from sandlot.protocol.serializer import ResponseSerializer

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MODEL = service_model("s3")
SERIALIZER = ResponseSerializer(MODEL)


def body_document_operations() -> set[str]:
    """S3 operations whose output is an XML document of the output shape itself."""
    found = set()
    for name in MODEL.operation_names:
        shape = MODEL.operation_model(name).output_shape
        if shape is None or shape.serialization.get("payload"):
            continue
        if any(
            member.serialization.get("location") not in ("header", "headers", "statusCode")
            for member in shape.members.values()
        ):
            found.add(name)
    return found


def test_every_s3_document_output_has_its_root_name():
    documents = body_document_operations()
    bare = {op for service, op in BARE_ROOT_MEMBER if service == "s3"}
    named = {op for service, op in ROOT_ELEMENTS if service == "s3"}
    assert documents - bare == named


def botocore_parse(operation: str, response) -> dict:
    op = MODEL.operation_model(operation)
    return create_parser("rest-xml").parse(
        {
            "status_code": response.status,
            "headers": response.headers,
            "body": response.body,
        },
        op.output_shape,
    )


def root_of(body: bytes) -> str:
    return ElementTree.fromstring(body).tag


@pytest.mark.parametrize(
    ("operation", "result", "root"),
    [
        ("ListObjectsV2", {"Name": "b", "KeyCount": 0, "IsTruncated": False}, "ListBucketResult"),
        ("ListObjects", {"Name": "b", "IsTruncated": False}, "ListBucketResult"),
        ("ListBuckets", {"Buckets": [{"Name": "b"}]}, "ListAllMyBucketsResult"),
        ("ListObjectVersions", {"Name": "b"}, "ListVersionsResult"),
        (
            "CreateMultipartUpload",
            {"Bucket": "b", "UploadId": "u"},
            "InitiateMultipartUploadResult",
        ),
        (
            "CompleteMultipartUpload",
            {"Bucket": "b", "ETag": '"e"'},
            "CompleteMultipartUploadResult",
        ),
        ("DeleteObjects", {"Deleted": [{"Key": "k"}]}, "DeleteResult"),
        ("GetBucketVersioning", {"Status": "Enabled"}, "VersioningConfiguration"),
        ("GetBucketTagging", {"TagSet": [{"Key": "k", "Value": "v"}]}, "Tagging"),
        ("GetObjectTagging", {"TagSet": []}, "Tagging"),
        ("GetBucketCors", {"CORSRules": [{"AllowedMethods": ["GET"]}]}, "CORSConfiguration"),
        (
            "GetBucketNotificationConfiguration",
            {
                "LambdaFunctionConfigurations": [
                    {
                        "LambdaFunctionArn": "arn:aws:lambda:us-east-1:1:function:f",
                        "Events": ["s3:ObjectCreated:*"],
                    }
                ]
            },
            "NotificationConfiguration",
        ),
        ("ListParts", {"Bucket": "b", "UploadId": "u"}, "ListPartsResult"),
        ("ListMultipartUploads", {"Bucket": "b"}, "ListMultipartUploadsResult"),
        ("CopyObject", {"CopyObjectResult": {"ETag": '"e"'}}, "CopyObjectResult"),
        ("UploadPartCopy", {"CopyPartResult": {"ETag": '"e"'}}, "CopyPartResult"),
    ],
)
def test_documents_carry_s3s_root_and_namespace(operation, result, root):
    response = SERIALIZER.serialize(MODEL.operation_model(operation), result, "rid")
    assert root_of(response.body) == f"{{{NS}}}{root}"
    assert response.headers["x-amz-request-id"] == "rid"
    assert response.headers["x-amz-id-2"]
    parsed = botocore_parse(operation, response)
    for name, value in result.items():
        assert parsed[name] == value


def test_the_error_document_is_a_bare_error_that_botocore_reads():
    error = ServiceError(
        "NoSuchBucket",
        "The specified bucket does not exist",
        404,
        BucketName="photos",
        Resource="/photos",
    )
    response = SERIALIZER.serialize_error(error, None, "rid-1")
    root = ElementTree.fromstring(response.body)
    assert root.tag == "Error"
    assert [child.tag for child in root] == [
        "Code",
        "Message",
        "BucketName",
        "Resource",
        "RequestId",
        "HostId",
    ]
    parsed = create_parser("rest-xml").parse(
        {"status_code": 404, "headers": response.headers, "body": response.body}, None
    )
    assert parsed["Error"] == {
        "Code": "NoSuchBucket",
        "Message": "The specified bucket does not exist",
        "BucketName": "photos",
        "Resource": "/photos",
    }
    assert parsed["ResponseMetadata"]["RequestId"] == "rid-1"
    assert parsed["ResponseMetadata"]["HostId"] == response.headers["x-amz-id-2"]


def test_file_body_is_the_response_body_with_its_length():
    file = io.BytesIO(b"0123456789")
    result = {"Body": FileBody(file, 2, 5), "ContentLength": 5, "ContentRange": "bytes 2-6/10"}
    response = SERIALIZER.serialize(MODEL.operation_model("GetObject"), result, "rid")
    assert response.body is result["Body"]
    assert response.headers["Content-Length"] == "5"
    assert response.headers["Content-Range"] == "bytes 2-6/10"
    assert not file.closed
