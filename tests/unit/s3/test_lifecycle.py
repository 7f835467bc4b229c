"""Lifecycle timing at AWS's real day length (an action is due at the midnight UTC after
the object's time plus the rule's days), and which bucket policies count as public."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from sandlot.services.s3.access import policy_is_public
from sandlot.services.s3.schema import BUCKETS


def _at(*args: int) -> float:
    return dt.datetime(*args, tzinfo=dt.UTC).timestamp()


@pytest.fixture
def provider(platform):
    return platform.provider("s3")


def test_expiration_rounds_up_to_the_next_midnight(s3, provider):
    provider.clock = lambda: _at(2020, 1, 1, 10, 30)
    s3("CreateBucket", {"Bucket": "bkt"})
    s3("PutObject", {"Bucket": "bkt", "Key": "k", "Body": b"x"})
    rule = {"ID": "r", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 1}}
    s3("PutBucketLifecycleConfiguration", {"Bucket": "bkt",
                                           "LifecycleConfiguration": {"Rules": [rule]}})  # fmt: skip
    head = s3("HeadObject", {"Bucket": "bkt", "Key": "k"})
    assert head["Expiration"] == 'expiry-date="Fri, 03 Jan 2020 00:00:00 GMT", rule-id="r"'
    bucket = provider.store.get(BUCKETS, "bkt")
    provider.apply_lifecycle(bucket, _at(2020, 1, 2, 23, 59, 59))
    assert provider.latest("bkt", "k") is not None
    provider.apply_lifecycle(bucket, _at(2020, 1, 3))
    assert provider.latest("bkt", "k") is None


def test_noncurrent_days_count_from_the_successor(s3, provider):
    """AWS's example: a version made noncurrent on 2 Jan 11:30 with NoncurrentDays 1 is
    removed at 4 Jan 00:00."""
    s3("CreateBucket", {"Bucket": "vbk"})
    s3("PutBucketVersioning", {"Bucket": "vbk", "VersioningConfiguration": {"Status": "Enabled"}})
    provider.clock = lambda: _at(2020, 1, 1, 10, 30)
    first = s3("PutObject", {"Bucket": "vbk", "Key": "k", "Body": b"1"})["VersionId"]
    provider.clock = lambda: _at(2020, 1, 2, 11, 30)
    s3("PutObject", {"Bucket": "vbk", "Key": "k", "Body": b"2"})
    rule = {"ID": "n", "Filter": {}, "Status": "Enabled",
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}  # fmt: skip
    s3("PutBucketLifecycleConfiguration", {"Bucket": "vbk",
                                           "LifecycleConfiguration": {"Rules": [rule]}})  # fmt: skip
    bucket = provider.store.get(BUCKETS, "vbk")
    provider.apply_lifecycle(bucket, _at(2020, 1, 3, 23, 0))
    assert provider.version("vbk", "k", first) is not None
    provider.apply_lifecycle(bucket, _at(2020, 1, 4))
    assert provider.version("vbk", "k", first) is None
    assert len(provider.versions_of("vbk", "k")) == 1


@pytest.mark.parametrize(
    ("statement", "public"),
    [
        ({"Effect": "Allow", "Principal": "*"}, True),
        ({"Effect": "Allow", "Principal": {"AWS": "*"}}, True),
        ({"Effect": "Deny", "Principal": "*"}, False),
        ({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}}, False),
        ({"Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"}}, False),
        ({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"}}, True),
        (
            {"Effect": "Allow", "Principal": "*",
             "Condition": {"StringEquals": {"aws:SourceAccount": "111122223333"}}},
            False,
        ),
        (
            {"Effect": "Allow", "Principal": "*",
             "Condition": {"StringLike": {"aws:SourceArn": "arn:aws:sns:*"}}},
            True,
        ),
        (
            {"Effect": "Allow", "Principal": "*",
             "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
            True,
        ),
    ],
)  # fmt: skip
def test_public_policies(statement, public):
    policy = {
        "Statement": [{**statement, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]
    }
    assert policy_is_public(json.dumps(policy)) is public
