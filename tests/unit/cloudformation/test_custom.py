"""A custom resource provider's answer, judged as CloudFormation judges it; the
properties it is sent, stringified as CloudFormation sends them."""

from __future__ import annotations

import json

import pytest

from sandlot.services.cloudformation.callbacks import PATH_PREFIX, Callbacks
from sandlot.services.cloudformation.custom import (
    CustomResourceFailed,
    _as_strings,
    _outcome,
)
from sandlot.services.cloudformation.handlers import ResourceFailed, resource_type

REQUEST = {"RequestId": "r-1"}


def test_success_gives_physical_id_ref_and_data() -> None:
    answer = {"Status": "SUCCESS", "PhysicalResourceId": "p-1", "Data": {"A": "1"}}
    outcome = _outcome(json.dumps(answer), REQUEST, None)
    assert (outcome.physical_id, outcome.ref, outcome.attributes) == ("p-1", "p-1", {"A": "1"})


def test_delete_may_omit_the_physical_id() -> None:
    assert _outcome('{"Status": "SUCCESS"}', REQUEST, "old").physical_id == "old"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "Invalid response object: the response is not a JSON object (RequestId: r-1)"),
        ('{"Status": "MAYBE", "PhysicalResourceId": "p"}',
         "Invalid response object: Status must be SUCCESS or FAILED (RequestId: r-1)"),
        ('{"Status": "SUCCESS"}', "Invalid PhysicalResourceId (RequestId: r-1)"),
        (json.dumps({"Status": "SUCCESS", "PhysicalResourceId": "p", "Data": {"x": "y" * 5000}}),
         "Response object is too long. (RequestId: r-1)"),
    ],
)  # fmt: skip
def test_invalid_answers_fail_the_resource(body: str, reason: str) -> None:
    with pytest.raises(ResourceFailed) as caught:
        _outcome(body, REQUEST, None)
    assert str(caught.value) == reason


def test_failed_answer_names_its_reason_and_physical_id() -> None:
    answer = {"Status": "FAILED", "Reason": "boom", "PhysicalResourceId": "half-made"}
    with pytest.raises(CustomResourceFailed) as caught:
        _outcome(json.dumps(answer), REQUEST, None)
    assert str(caught.value) == (
        "Received response status [FAILED] from custom resource. Message returned: boom "
        "(RequestId: r-1)"
    )
    assert caught.value.physical_id == "half-made"


def test_properties_arrive_as_strings() -> None:
    given = {"N": 5, "F": 1.5, "B": True, "L": [1, False, {"x": 2}], "S": "s", "Z": None}
    assert _as_strings(given) == {
        "N": "5", "F": "1.5", "B": "true", "L": ["1", "false", {"x": "2"}], "S": "s", "Z": None,
    }  # fmt: skip


def test_custom_types_share_one_handler_named_after_them() -> None:
    handler = resource_type("Custom::Thing")
    assert handler is not None and handler.type_name == "Custom::Thing"
    assert resource_type("AWS::CloudFormation::CustomResource").type_name == (
        "AWS::CloudFormation::CustomResource"
    )
    assert handler.resumable and handler.delete_after_failed_create


def test_token_of_a_callback_url() -> None:
    url = f"http://127.0.0.1:4566{PATH_PREFIX}abc_-1"
    assert Callbacks.token_of(url) == "abc_-1"
    assert Callbacks.token_of("https://example.com/other") is None
