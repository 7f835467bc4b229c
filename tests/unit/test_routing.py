"""Finding the service of a request from the clues real clients send."""

from __future__ import annotations

import pytest

from sandlot.gateway.routing import ServiceRouter, build_index
from sandlot.protocol import HttpRequest
from sandlot.services import KNOWN_SERVICES

FORM = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}


@pytest.fixture(scope="module")
def router():
    # The route check stands in for the parser's route table: apigatewayv2 owns /v2/.
    return ServiceRouter(
        KNOWN_SERVICES, lambda service, r: service == "apigatewayv2" and r.path.startswith("/v2/")
    )


@pytest.mark.parametrize(
    ("request_", "signing_name", "service"),
    [
        (HttpRequest("POST", "/", "", FORM, b"Action=GetCallerIdentity"), "sts", "sts"),
        (HttpRequest("POST", "/", "", FORM, b"Action=GetCallerIdentity"), None, "sts"),
        (HttpRequest("POST", "/", "", FORM, b"Action=CreateTopic"), None, "sns"),
        (HttpRequest("POST", "/", "", FORM, b"Action=PutMetricData"), "monitoring", "cloudwatch"),
        (
            HttpRequest("POST", "/", "", {"x-amz-target": "DynamoDB_20120810.GetItem"}),
            "dynamodb",
            "dynamodb",
        ),
        (
            HttpRequest("POST", "/", "", {"x-amz-target": "DynamoDBStreams_20120810.GetRecords"}),
            "dynamodb",
            "dynamodbstreams",
        ),
        (HttpRequest("POST", "/", "", {"x-amz-target": "AmazonSQS.SendMessage"}), None, "sqs"),
        (HttpRequest("GET", "/2015-03-31/functions/"), None, "lambda"),
        (HttpRequest("GET", "/2015-03-31/functions/"), "lambda", "lambda"),
        (HttpRequest("GET", "/v2/apis"), "apigateway", "apigatewayv2"),
        (HttpRequest("GET", "/restapis"), "apigateway", "apigateway"),
        (HttpRequest("PUT", "/my-bucket/key"), "s3", "s3"),
        (HttpRequest("PUT", "/my-bucket/key"), None, "s3"),
        (HttpRequest("GET", "/", "", {"host": "sts.localhost:4566"}), None, "sts"),
    ],
)
def test_routes(router, request_, signing_name, service):
    assert router.find(request_, signing_name) == service


def test_unknown_signing_name_and_no_clue_finds_nothing(router):
    request = HttpRequest("POST", "/", "", {"x-amz-target": "Nope_1.Do"})
    assert router.find(request, "nosuchservice") is None


def test_index_covers_every_known_service():
    index = build_index(sorted(KNOWN_SERVICES))
    named = {s for names in index["by_signing_name"].values() for s in names}
    assert named == set(KNOWN_SERVICES)
