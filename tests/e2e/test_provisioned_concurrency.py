"""Provisioned concurrency through the Lambda API: environments initialised ahead of
invocations (no cold start, no ``Init Duration``), its configuration's lifecycle and
errors, and its durability across a restart."""

from __future__ import annotations

import base64
import json
import time

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.server import SandlotServer

# INIT records when it ran; each invocation reports that, how many invocations this
# environment served, and how the environment was initialised.
STAMPED = {
    "app.py": """
import os, time

INIT_AT = time.time()
COUNT = 0

def handler(event, context):
    global COUNT
    COUNT += 1
    time.sleep(event.get("sleep", 0))
    return {"init_at": INIT_AT, "now": time.time(), "count": COUNT,
            "type": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]}
"""
}

BROKEN_INIT = {"app.py": "raise RuntimeError('no database')\n"}


def wait_status(lam, name: str, qualifier: str, timeout: float = 30) -> dict:
    """The configuration once it is no longer IN_PROGRESS."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        config = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
        if config["Status"] != "IN_PROGRESS":
            return config
        time.sleep(0.05)
    raise AssertionError(f"{name}:{qualifier} stayed IN_PROGRESS")


def invoke(lam, name: str, qualifier: str, payload: dict | None = None) -> tuple[dict, str]:
    """(response body, REPORT line) of an invocation with LogType=Tail."""
    response = lam.invoke(
        FunctionName=name,
        Qualifier=qualifier,
        Payload=json.dumps(payload or {}).encode(),
        LogType="Tail",
    )
    assert "FunctionError" not in response
    tail = base64.b64decode(response["LogResult"]).decode()
    report = [line for line in tail.splitlines() if line.startswith("REPORT")]
    assert len(report) == 1, tail
    return json.loads(response["Payload"].read()), report[0]


def assert_warm(body: dict, report: str) -> None:
    assert "Init Duration" not in report
    assert body["type"] == "provisioned-concurrency"
    assert body["init_at"] < body["now"] - 0.2  # INIT ran before the invocation arrived


@pytest.fixture
def lam(client):
    return client("lambda")


def published(lam, code=STAMPED) -> tuple[str, str]:
    name = unique("pc")
    create_function(lam, name, code)
    version = lam.publish_version(FunctionName=name)["Version"]
    return name, version


def test_version_provisioned_invokes_never_cold_start(lam):
    name, version = published(lam)
    put = lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=2
    )
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert put["RequestedProvisionedConcurrentExecutions"] == 2
    assert put["Status"] == "IN_PROGRESS"
    assert put["AllocatedProvisionedConcurrentExecutions"] == 0
    assert put["LastModified"]
    config = wait_status(lam, name, version)
    assert config["Status"] == "READY"
    assert config["AllocatedProvisionedConcurrentExecutions"] == 2
    assert config["AvailableProvisionedConcurrentExecutions"] == 2
    assert config["LastModified"] == put["LastModified"]
    time.sleep(0.3)
    for expected_count in (1, 2):
        body, report = invoke(lam, name, version)
        assert_warm(body, report)
        assert body["count"] == expected_count  # the same initialised environment again
    # $LATEST is not provisioned: its first invocation is a cold start.
    _body, report = invoke(lam, name, "$LATEST")
    assert "Init Duration" in report


def test_alias_provisioned_and_spillover_cold_starts(lam):
    name, version = published(lam)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1
    )
    assert wait_status(lam, name, "live")["Status"] == "READY"
    time.sleep(0.3)
    body, report = invoke(lam, name, "live")
    assert_warm(body, report)
    # Two at once: one on the provisioned environment, one on-demand (a cold start).
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        lams = [make_client(lam.meta.endpoint_url, "lambda") for _ in range(2)]
        results = list(pool.map(lambda c: invoke(c, name, "live", {"sleep": 0.5}), lams))
    kinds = sorted(body["type"] for body, _ in results)
    assert kinds == ["on-demand", "provisioned-concurrency"]
    for body, report in results:
        assert ("Init Duration" in report) == (body["type"] == "on-demand")

    listed = lam.list_provisioned_concurrency_configs(FunctionName=name)
    items = listed["ProvisionedConcurrencyConfigs"]
    assert [i["FunctionArn"] for i in items] == [
        f"arn:aws:lambda:us-east-1:000000000000:function:{name}:live"
    ]
    assert items[0]["Status"] == "READY"
    assert items[0]["RequestedProvisionedConcurrentExecutions"] == 1


def test_scaling_and_delete(lam):
    name, version = published(lam)
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1
    )
    assert wait_status(lam, name, version)["AllocatedProvisionedConcurrentExecutions"] == 1
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=3
    )
    config = wait_status(lam, name, version)
    assert (config["Status"], config["AllocatedProvisionedConcurrentExecutions"]) == ("READY", 3)
    deleted = lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier=version)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as error:
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=version)
    assert error.value.response["Error"]["Code"] == "ProvisionedConcurrencyConfigNotFoundException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert (
        lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
        == []
    )
    # Released: the next invocation of the version is a cold start again.
    _body, report = invoke(lam, name, version)
    assert "Init Duration" in report


def test_failed_init_fails_the_configuration(lam):
    name, version = published(lam, BROKEN_INIT)
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1
    )
    config = wait_status(lam, name, version)
    assert config["Status"] == "FAILED"
    assert config["StatusReason"] == "FUNCTION_ERROR_INIT_FAILURE"
    assert config["AllocatedProvisionedConcurrentExecutions"] == 0


def error_of(call, **params) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as error:
        call(**params)
    response = error.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def test_errors(lam):
    name, version = published(lam)
    put = lam.put_provisioned_concurrency_config
    assert error_of(
        put, FunctionName=name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1
    ) == (
        "InvalidParameterValueException",
        "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
        400,
    )
    lam.create_alias(FunctionName=name, Name="latest", FunctionVersion="$LATEST")
    code, message, status = error_of(
        put, FunctionName=name, Qualifier="latest", ProvisionedConcurrentExecutions=1
    )
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert error_of(
        lam.get_provisioned_concurrency_config, FunctionName=name, Qualifier="$LATEST"
    ) == (
        "InvalidParameterValueException",
        "The function resource provided must be an alias or a published version.",
        400,
    )
    for qualifier in ("42", "nosuchalias"):
        code, message, status = error_of(
            put, FunctionName=name, Qualifier=qualifier, ProvisionedConcurrentExecutions=1
        )
        assert (code, status) == ("ResourceNotFoundException", 404)
        assert (
            message
            == f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{name}:{qualifier}"
        )
    code, _message, status = error_of(
        put, FunctionName=unique("missing"), Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert (
        error_of(lam.list_provisioned_concurrency_configs, FunctionName=unique("missing"))[0]
        == "ResourceNotFoundException"
    )

    # A version is provisioned once: directly, or through an alias.
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    put(FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1)
    assert error_of(
        put, FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1
    ) == (
        "ResourceConflictException",
        "Version is pointed by a Provisioned Concurrency alias",
        409,
    )
    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    put(FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1)
    assert error_of(
        put, FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1
    ) == (
        "ResourceConflictException",
        "Alias can't be used for Provisioned Concurrency configuration on an already "
        "Provisioned version",
        409,
    )

    # Provisioned concurrency comes out of reserved concurrency…
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    assert error_of(
        put, FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=3
    ) == (
        "InvalidParameterValueException",
        "Requested Provisioned Concurrency should not be greater than the "
        "reservedConcurrentExecution for function",
        400,
    )
    lam.delete_function_concurrency(FunctionName=name)
    # …or out of the account's unreserved concurrency, which keeps 100.
    limit = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    assert error_of(
        put, FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=limit + 1
    ) == (
        "InvalidParameterValueException",
        "Specified ConcurrentExecutions for function is greater than account's unreserved "
        f"concurrency [{limit}].",
        400,
    )
    assert error_of(
        put, FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=limit - 50
    ) == (
        "InvalidParameterValueException",
        "Specified ConcurrentExecutions for function decreases account's "
        "UnreservedConcurrentExecution below its minimum value of [100].",
        400,
    )
    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier=version)


def test_deleting_the_alias_or_function_releases_the_configuration(lam):
    name, version = published(lam)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1
    )
    wait_status(lam, name, "live")
    lam.delete_alias(FunctionName=name, Name="live")
    assert (
        lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
        == []
    )
    _body, report = invoke(lam, name, version)
    assert "Init Duration" in report  # nothing provisioned for the version any more

    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1
    )
    wait_status(lam, name, version)
    lam.delete_function(FunctionName=name)
    create_function(lam, name, STAMPED)
    assert (
        lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
        == []
    )


def test_configurations_are_provisioned_again_after_a_restart(tmp_path):
    with SandlotServer(tmp_path) as server:
        lam = make_client(server.endpoint, "lambda")
        name, version = published(lam)
        lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
        lam.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=2
        )
        before = wait_status(lam, name, "live")
        assert before["Status"] == "READY"
    with SandlotServer(tmp_path) as server:
        lam = make_client(server.endpoint, "lambda")
        # Provisioned at start (reading the configuration does not provision it).
        config = wait_status(lam, name, "live")
        assert config["Status"] == "READY"
        assert config["AllocatedProvisionedConcurrentExecutions"] == 2
        assert config["LastModified"] == before["LastModified"]
        time.sleep(0.3)
        body, report = invoke(lam, name, "live")
        assert_warm(body, report)


def test_alias_update_moves_provisioned_concurrency_to_the_new_version(lam):
    name, first = published(lam)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=first)
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1
    )
    wait_status(lam, name, "live")
    lam.update_function_configuration(FunctionName=name, Description="v2")
    for _ in range(100):
        if lam.get_function_configuration(FunctionName=name)["LastUpdateStatus"] == "Successful":
            break
        time.sleep(0.05)
    second = lam.publish_version(FunctionName=name)["Version"]
    assert second != first
    lam.update_alias(FunctionName=name, Name="live", FunctionVersion=second)
    config = wait_status(lam, name, "live")
    assert (config["Status"], config["AllocatedProvisionedConcurrentExecutions"]) == ("READY", 1)
    time.sleep(0.3)
    response = lam.invoke(FunctionName=name, Qualifier="live", LogType="Tail")
    assert response["ExecutedVersion"] == second
    tail = base64.b64decode(response["LogResult"]).decode()
    assert "Init Duration" not in tail
    assert json.loads(response["Payload"].read())["type"] == "provisioned-concurrency"
    # The old version's environment was released: it cold-starts now.
    _body, report = invoke(lam, name, first)
    assert "Init Duration" in report


def test_weighted_alias_spreads_provisioned_concurrency(lam):
    name, first = published(lam)
    lam.update_function_configuration(FunctionName=name, Description="v2")
    for _ in range(100):
        if lam.get_function_configuration(FunctionName=name)["LastUpdateStatus"] == "Successful":
            break
        time.sleep(0.05)
    second = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(
        FunctionName=name,
        Name="canary",
        FunctionVersion=first,
        RoutingConfig={"AdditionalVersionWeights": {second: 0.5}},
    )
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="canary", ProvisionedConcurrentExecutions=2
    )
    config = wait_status(lam, name, "canary")
    assert (config["Status"], config["AllocatedProvisionedConcurrentExecutions"]) == ("READY", 2)
    time.sleep(0.3)
    seen = set()
    for _ in range(40):
        response = lam.invoke(FunctionName=name, Qualifier="canary", LogType="Tail")
        tail = base64.b64decode(response["LogResult"]).decode()
        assert "Init Duration" not in tail  # both versions have an initialised environment
        seen.add(response["ExecutedVersion"])
        if len(seen) == 2:
            break
    assert seen == {first, second}
