"""Provisioned concurrency in the Lambda provider: checks, durable rows, engine wishes."""

from __future__ import annotations

import asyncio
import time

import pytest

from sandlot.protocol import ServiceError
from sandlot.services.awslambda.provisioned import owner_key, split
from tests.unit.awslambda.support import ACCOUNT, REGION, Lambda, create


@pytest.fixture
def lam(tmp_path):
    client = Lambda(tmp_path)
    yield client
    client.loop.run_until_complete(client.platform.stop())
    client.close()


def error(call, *args, **kwargs) -> ServiceError:
    with pytest.raises(ServiceError) as raised:
        call(*args, **kwargs)
    return raised.value


def published(lam: Lambda, name: str = "fn") -> str:
    create(lam, name)
    lam.settle()
    return lam("PublishVersion", FunctionName=name)["Version"]


def wait_ready(lam: Lambda, name: str, qualifier: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        config = lam("GetProvisionedConcurrencyConfig", FunctionName=name, Qualifier=qualifier)
        if config["Status"] != "IN_PROGRESS":
            return config
        lam.loop.run_until_complete(asyncio.sleep(0.05))
    raise AssertionError("still IN_PROGRESS")


def test_split_follows_the_alias_weights():
    assert split(4, "1", {}) == [("1", 4)]
    assert split(5, "1", {"2": 0.2}) == [("1", 4), ("2", 1)]
    assert split(2, "1", {"2": 0.5}) == [("1", 1), ("2", 1)]
    assert split(1, "1", {"2": 0.1}) == [("1", 1)]  # nothing rounds to the canary
    assert split(1, "1", {"2": 0.9}) == [("2", 1)]


def test_latest_and_missing_targets(lam):
    version = published(lam)
    put = error(
        lam, "PutProvisionedConcurrencyConfig", FunctionName="fn", Qualifier="$LATEST",
        ProvisionedConcurrentExecutions=1,
    )  # fmt: skip
    assert (put.code, put.status) == ("InvalidParameterValueException", 400)
    assert "unpublished function versions" in put.message
    get = error(lam, "GetProvisionedConcurrencyConfig", FunctionName="fn", Qualifier="$LATEST")
    assert get.message == "The function resource provided must be an alias or a published version."
    missing = error(lam, "GetProvisionedConcurrencyConfig", FunctionName="fn", Qualifier=version)
    assert (missing.code, missing.status) == ("ProvisionedConcurrencyConfigNotFoundException", 404)
    # Deleting what is not there is fine; deleting on a version that is not there is not.
    assert lam("DeleteProvisionedConcurrencyConfig", FunctionName="fn", Qualifier=version) == {}
    gone = error(lam, "DeleteProvisionedConcurrencyConfig", FunctionName="fn", Qualifier="9")
    assert (gone.code, gone.status) == ("ResourceNotFoundException", 404)
    # Nothing was provisioned, so the engine was never asked for anything.
    assert lam.platform._engine is None or lam.platform._engine.environment_count == 0


def test_configuration_is_durable_and_resumes_at_start(tmp_path):
    first = Lambda(tmp_path)
    version = published(first)
    put = first(
        "PutProvisionedConcurrencyConfig", FunctionName="fn", Qualifier=version,
        ProvisionedConcurrentExecutions=1,
    )  # fmt: skip
    assert (put["Status"], put["AllocatedProvisionedConcurrentExecutions"]) == ("IN_PROGRESS", 0)
    assert wait_ready(first, "fn", version)["Status"] == "READY"
    first.loop.run_until_complete(first.platform.stop())
    first.close()

    second = Lambda(tmp_path)
    try:
        config = second("GetProvisionedConcurrencyConfig", FunctionName="fn", Qualifier=version)
        assert config["RequestedProvisionedConcurrentExecutions"] == 1
        assert config["LastModified"] == put["LastModified"]
        assert config["Status"] == "IN_PROGRESS"  # not provisioned until the platform starts
        second.loop.run_until_complete(second.provider.start())
        config = wait_ready(second, "fn", version)
        assert (config["Status"], config["AllocatedProvisionedConcurrentExecutions"]) == (
            "READY",
            1,
        )
        owner = owner_key(ACCOUNT, REGION, "fn", version)
        assert second.platform.engine.provisioned(owner).allocated == 1
        # Deleting the version deletes its configuration and releases its environment.
        second("DeleteFunction", FunctionName="fn", Qualifier=version)
        assert second.platform.engine.provisioned(owner) is None
        assert second("ListProvisionedConcurrencyConfigs", FunctionName="fn") == {
            "ProvisionedConcurrencyConfigs": []
        }
    finally:
        second.loop.run_until_complete(second.platform.stop())
        second.close()


def test_list_pages(lam):
    first = published(lam)
    lam("UpdateFunctionConfiguration", FunctionName="fn", Description="2")
    lam.settle()
    second = lam("PublishVersion", FunctionName="fn")["Version"]
    lam("CreateAlias", FunctionName="fn", Name="a", FunctionVersion=first)
    lam("CreateAlias", FunctionName="fn", Name="b", FunctionVersion=second)
    for alias in ("a", "b"):
        lam(
            "PutProvisionedConcurrencyConfig", FunctionName="fn", Qualifier=alias,
            ProvisionedConcurrentExecutions=1,
        )  # fmt: skip
    other = published(lam, "other")  # another function's configuration is not listed
    lam(
        "PutProvisionedConcurrencyConfig", FunctionName="other", Qualifier=other,
        ProvisionedConcurrentExecutions=1,
    )  # fmt: skip
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn"
    listed = lam("ListProvisionedConcurrencyConfigs", FunctionName="fn", MaxItems=1)
    assert [c["FunctionArn"] for c in listed["ProvisionedConcurrencyConfigs"]] == [f"{arn}:a"]
    rest = lam("ListProvisionedConcurrencyConfigs", FunctionName="fn", Marker=listed["NextMarker"])
    assert [c["FunctionArn"] for c in rest["ProvisionedConcurrencyConfigs"]] == [f"{arn}:b"]
    assert "NextMarker" not in rest
