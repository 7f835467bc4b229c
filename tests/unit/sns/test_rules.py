"""SNS's pure rules: the signed canonical string, retry schedules, message attributes."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from sandlot.protocol import ServiceError
from sandlot.services.sns.deliver import http_policy, managed_policy
from sandlot.services.sns.publish import check_attributes, envelope_text
from sandlot.services.sns.signing import Signer, canonical_string
from sandlot.services.sns.urls import capability_account


def test_canonical_string_follows_aws_key_order_and_skips_absent_subject():
    notification = {
        "Type": "Notification",
        "MessageId": "id",
        "TopicArn": "arn:aws:sns:us-east-1:000000000000:t",
        "Message": "m",
        "Timestamp": "2026-01-01T00:00:00.000Z",
        "UnsubscribeURL": "not signed",
    }
    assert canonical_string(notification) == (
        b"Message\nm\nMessageId\nid\nTimestamp\n2026-01-01T00:00:00.000Z\n"
        b"TopicArn\narn:aws:sns:us-east-1:000000000000:t\nType\nNotification\n"
    )
    with_subject = canonical_string({**notification, "Subject": "s"})
    assert b"MessageId\nid\nSubject\ns\nTimestamp\n" in with_subject
    confirmation = {**notification, "Type": "SubscriptionConfirmation", "Token": "t",
                    "SubscribeURL": "u"}  # fmt: skip
    assert b"SubscribeURL\nu\nTimestamp\n" in canonical_string(confirmation)
    assert b"Token\nt\nTopicArn\n" in canonical_string(confirmation)


@pytest.mark.parametrize(("version", "digest"), [("1", hashes.SHA1()), ("2", hashes.SHA256())])
def test_signatures_verify_with_the_certificate_and_key_is_private(tmp_path, version, digest):
    signer = Signer(tmp_path)
    envelope = {"Type": "Notification", "MessageId": "1", "TopicArn": "a", "Message": "m",
                "Timestamp": "t"}  # fmt: skip
    signature = base64.b64decode(signer.sign(envelope, version))
    cert = x509.load_pem_x509_certificate(signer.certificate_pem)
    cert.public_key().verify(signature, canonical_string(envelope), padding.PKCS1v15(), digest)
    assert (tmp_path / "sns" / "signing-key.pem").stat().st_mode & 0o777 == 0o600
    # The same material after a restart (a second Signer on the same data dir).
    assert Signer(tmp_path).certificate_pem == signer.certificate_pem


def test_managed_policy_has_aws_phases():
    policy = managed_policy(1.0)
    delays = policy.delays_s
    assert delays[:4] == (0.0, 0.0, 1.0, 1.0)  # after 1 immediate try: 2 more, 2 at 1 s
    assert delays[4:] == (1, 2, 4, 8, 16, 20, 20, 20, 20, 20)  # the last wait repeats
    assert policy.delay(5000) == 20.0 and policy.max_attempts == 100_015
    assert policy.max_age_s == 23 * 24 * 3600
    assert managed_policy(0.01).delays_s[3] == pytest.approx(0.01)


def test_http_policy_phases_and_backoff():
    default = http_policy({"numRetries": 3, "minDelayTarget": 20, "maxDelayTarget": 20}, 1.0)
    assert default.max_attempts == 4 and default.delays_s == (20.0, 20.0, 20.0)
    phased = http_policy(
        {"numRetries": 6, "numNoDelayRetries": 1, "numMinDelayRetries": 1,
         "numMaxDelayRetries": 1, "minDelayTarget": 1, "maxDelayTarget": 10,
         "backoffFunction": "linear"},
        1.0,
    )  # fmt: skip
    assert phased.delays_s == (0.0, 1.0, 4.0, 7.0, 10.0, 10.0)
    exponential = http_policy(
        {"numRetries": 3, "minDelayTarget": 0, "maxDelayTarget": 7,
         "backoffFunction": "exponential"}, 1.0
    )  # fmt: skip
    assert exponential.delays_s == (1.0, 3.0, 7.0)
    assert not default.retry_transient


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"a": {"DataType": "Number", "StringValue": "x"}},
         "Could not cast message attribute 'a' value to number."),
        ({"a": {"DataType": "Date", "StringValue": "x"}},
         "The message attribute 'a' has an invalid message attribute type, the set of "
         "supported type prefixes is Binary, Number, and String."),
        ({"a": {"DataType": "String", "StringValue": ""}},
         "The message attribute 'a' must contain non-empty message attribute value for "
         "message attribute type 'String'."),
        ({f"a{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)},
         "Number of message attributes [11] exceeds the allowed maximum [10]."),
    ],
)  # fmt: skip
def test_bad_message_attributes(attributes, message):
    with pytest.raises(ServiceError) as error:
        check_attributes(attributes)
    assert error.value.code == "ParameterValueInvalid" and error.value.message == message


def test_attribute_size_counts_names_types_and_values():
    size = check_attributes(
        {"ab": {"DataType": "String", "StringValue": "xyz"},
         "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}}
    )  # fmt: skip
    assert size == (2 + 6 + 3) + (1 + 6 + 2)


def test_envelope_text_is_aws_layout_and_round_trips():
    envelope = {
        "Type": "Notification",
        "Message": 'a "quoted" line\nand é',
        "MessageAttributes": {"k": {"Type": "String", "Value": "v"}},
    }
    text = envelope_text(envelope)
    assert text == (
        '{\n  "Type" : "Notification",\n  "Message" : "a \\"quoted\\" line\\nand é",\n'
        '  "MessageAttributes" : {\n    "k" : {"Type":"String","Value":"v"}\n  }\n}\n'
    )
    assert json.loads(text) == envelope


def test_capability_urls_are_exactly_the_two_sns_gets():
    topic = "arn%3Aaws%3Asns%3Aus-east-1%3A111122223333%3At"
    sub = topic + "%3A0f9a4c2e"
    assert capability_account("GET", f"Action=ConfirmSubscription&TopicArn={topic}&Token=x") == (
        "111122223333"
    )
    assert capability_account("GET", f"Action=Unsubscribe&SubscriptionArn={sub}") == "111122223333"
    assert capability_account("GET", f"Action=ConfirmSubscription&TopicArn={topic}") is None
    assert capability_account("POST", f"Action=Unsubscribe&SubscriptionArn={sub}") is None
    assert capability_account("GET", f"Action=DeleteTopic&TopicArn={topic}") is None
    assert capability_account("GET", "Action=Unsubscribe&SubscriptionArn=arn:aws:sqs:x:1:q") is None
    assert capability_account("GET", "") is None
