"""The Lambda provider without a server: states, invoke resolution, packages, restarts."""

from __future__ import annotations

import collections
import json

import pytest

from sandlot.protocol import ServiceError
from sandlot.services.awslambda.aliases import choose_version
from sandlot.services.awslambda.validation import ZIPPED_MAX
from tests.unit.awslambda.support import ACCOUNT, REGION, ROLE, Lambda, create, zip_of


@pytest.fixture
def lam(tmp_path):
    client = Lambda(tmp_path)
    yield client
    client.close()


def error(call, *args, **kwargs) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_pending_then_active_and_invoke_spec(lam):
    created = create(lam, "f", Environment={"Variables": {"AB": "1"}}, MemorySize=256)
    assert created["State"] == "Pending" and created["StateReasonCode"] == "Creating"
    conflict = error(lam.provider.resolve_for_invoke, ACCOUNT, REGION, "f", None)
    assert conflict.code == "ResourceConflictException" and conflict.status == 409
    assert conflict.message.endswith("The function is currently in the following state: Pending")
    busy = error(lam, "UpdateFunctionConfiguration", FunctionName="f", Timeout=9)
    assert (busy.code, busy.status) == ("ResourceConflictException", 409)
    assert busy.message.endswith("in the following state: Pending")

    lam.settle()
    config = lam("GetFunctionConfiguration", FunctionName="f")
    assert (config["State"], config["LastUpdateStatus"]) == ("Active", "Successful")
    spec, executed = lam.provider.resolve_for_invoke(
        ACCOUNT, REGION, f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f", None
    )
    assert executed == "$LATEST"
    assert spec.function_arn == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f"
    assert (spec.runtime, spec.handler, spec.memory_mb, spec.timeout_s) == (
        "python3.12",
        "app.handler",
        256,
        3,
    )
    assert spec.ephemeral_storage_mb == 512 and spec.environment == (("AB", "1"),)
    assert spec.role_arn == ROLE and spec.layer_dirs == () and spec.reserved_concurrency is None
    assert (spec.code_dir / "app.py").read_text().startswith("def handler")


def test_update_in_progress_runs_previous_configuration(lam):
    create(lam, "f")
    lam.settle()
    before, _ = lam.provider.resolve_for_invoke(ACCOUNT, REGION, "f", None)
    updated = lam("UpdateFunctionConfiguration", FunctionName="f", Timeout=30)
    assert updated["LastUpdateStatus"] == "InProgress" and updated["Timeout"] == 30
    during, _ = lam.provider.resolve_for_invoke(ACCOUNT, REGION, "f", None)
    assert during.timeout_s == 3 and during.digest == before.digest
    second = error(lam, "UpdateFunctionConfiguration", FunctionName="f", Timeout=40)
    assert second.code == "ResourceConflictException"
    assert "An update is in progress for resource" in second.message
    lam.settle()
    after, _ = lam.provider.resolve_for_invoke(ACCOUNT, REGION, "f", None)
    assert after.timeout_s == 30 and after.digest != before.digest


def test_alias_weights_route_invocations(lam):
    create(lam, "f")
    lam.settle()
    lam("PublishVersion", FunctionName="f")
    lam("UpdateFunctionConfiguration", FunctionName="f", Description="two")
    lam.settle()
    lam("PublishVersion", FunctionName="f")
    lam(
        "CreateAlias",
        FunctionName="f",
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}},
    )
    counts = collections.Counter(
        lam.provider.resolve_for_invoke(ACCOUNT, REGION, "f:live", None)[1] for _ in range(2000)
    )
    assert set(counts) == {"1", "2"}
    assert 0.2 < counts["2"] / 2000 < 0.3
    spec, version = lam.provider.resolve_for_invoke(ACCOUNT, REGION, "f", "2")
    assert version == "2" and spec.version == "2"
    missing = error(lam.provider.resolve_for_invoke, ACCOUNT, REGION, "f", "nope")
    assert missing.code == "ResourceNotFoundException"
    assert (
        missing.message == f"Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:f:nope"
    )


def test_choose_version_by_draw():
    assert choose_version("1", {"2": 0.3}, 0.0) == "2"
    assert choose_version("1", {"2": 0.3}, 0.29) == "2"
    assert choose_version("1", {"2": 0.3}, 0.3) == "1"
    assert choose_version("1", None, 0.5) == "1"


def test_activation_resumes_after_a_restart(tmp_path):
    first = Lambda(tmp_path)
    create(first, "f")  # Pending; stopped (as by a shutdown) before the activation ends
    first.close()
    second = Lambda(tmp_path)
    try:
        assert second("GetFunction", FunctionName="f")["Configuration"]["State"] == "Pending"
        second.settle()
        assert second("GetFunction", FunctionName="f")["Configuration"]["State"] == "Active"
    finally:
        second.close()


def test_a_package_failing_extraction_fails_the_function(lam):
    data = bytearray(zip_of({"app.py": "A" * 5000}))
    # Lie about the size: accepted at upload, caught while extracting.
    broken = bytes(data).replace((5000).to_bytes(4, "little"), (10).to_bytes(4, "little"))
    create(lam, "f", code=broken)
    lam.settle()
    config = lam("GetFunctionConfiguration", FunctionName="f")
    assert config["State"] == "Failed" and config["StateReasonCode"] == "InvalidZipFileException"
    failed = error(lam.provider.resolve_for_invoke, ACCOUNT, REGION, "f", None)
    assert failed.message.endswith("in the following state: Failed")


def test_packages_are_shared_and_collected(lam):
    create(lam, "a")
    create(lam, "b")  # the same zip: one blob, one directory
    lam.settle()
    code_root = lam.platform.data_dir / "code"
    dirs = [p for p in code_root.iterdir() if not p.name.startswith(".")]
    assert len(dirs) == 1
    blobs = [p for p in (lam.platform.data_dir / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 1
    lam("DeleteFunction", FunctionName="a")
    assert dirs[0].exists()
    lam("DeleteFunction", FunctionName="b")
    assert not dirs[0].exists()
    assert not [p for p in (lam.platform.data_dir / "blobs").rglob("*") if p.is_file()]


def test_a_package_in_use_outlives_its_rows(lam):
    """An environment still runs the old code: its directory goes with the last pool."""
    create(lam, "a")
    lam.settle()
    spec, _ = lam.provider.resolve_for_invoke(ACCOUNT, REGION, "a", None)
    leases = lam.platform.engine._leases
    leases.hold([spec.code_dir.absolute()])  # as a pool of that version does
    lam("DeleteFunction", FunctionName="a")
    assert spec.code_dir.exists()  # forgotten, but still serving
    create(lam, "b")  # the same package recorded again meanwhile: kept
    lam.settle()
    leases.release([spec.code_dir.absolute()])
    assert spec.code_dir.exists()
    leases.hold([spec.code_dir.absolute()])
    lam("DeleteFunction", FunctionName="b")
    assert spec.code_dir.exists()
    leases.release([spec.code_dir.absolute()])  # the last pool is gone: removed
    assert not spec.code_dir.exists()


def test_layers_are_extracted_in_order(lam):
    first = lam(
        "PublishLayerVersion", LayerName="one", Content={"ZipFile": zip_of({"python/a.py": "A"})}
    )
    second = lam(
        "PublishLayerVersion", LayerName="two", Content={"ZipFile": zip_of({"python/b.py": "B"})}
    )
    create(lam, "f", Layers=[second["LayerVersionArn"], first["LayerVersionArn"]])
    lam.settle()
    spec, _ = lam.provider.resolve_for_invoke(ACCOUNT, REGION, "f", None)
    assert [(d / "python").iterdir().__next__().name for d in spec.layer_dirs] == ["b.py", "a.py"]
    # Deleting a layer version leaves the functions using it working.
    lam("DeleteLayerVersion", LayerName="one", VersionNumber=1)
    again, _ = lam.provider.resolve_for_invoke(ACCOUNT, REGION, "f", None)
    assert again.layer_dirs[1].exists()


def test_reserved_concurrency_reaches_the_spec(lam):
    create(lam, "f")
    lam.settle()
    assert (
        lam.provider.resolve_for_invoke(ACCOUNT, REGION, "f", None)[0].reserved_concurrency is None
    )
    lam("PutFunctionConcurrency", FunctionName="f", ReservedConcurrentExecutions=3)
    spec, _ = lam.provider.resolve_for_invoke(ACCOUNT, REGION, "f", None)
    assert spec.reserved_concurrency == 3  # a write invalidates cached resolutions
    lam("DeleteFunction", FunctionName="f")
    gone = error(lam.provider.resolve_for_invoke, ACCOUNT, REGION, "f", None)
    assert gone.code == "ResourceNotFoundException"


def test_oversized_upload_and_unzipped_limit(lam):
    too_big = error(
        lambda: lam.loop.run_until_complete(
            lam.provider.packages.receive(b"x" * (ZIPPED_MAX + 1), "CreateFunction")
        )
    )
    assert (too_big.code, too_big.status) == ("RequestEntityTooLargeException", 413)
    assert too_big.message == (
        "Request must be smaller than 69905067 bytes for the CreateFunction operation"
    )
    data = zip_of({"big.bin": "x"})
    # Declare 300 MB in the central directory: refused from the declared sizes.
    huge = data.replace(
        (1).to_bytes(4, "little") * 2, (1).to_bytes(4, "little") + (300 << 20).to_bytes(4, "little")
    )
    refused = error(create, lam, "f", code=huge)
    assert refused.code == "InvalidParameterValueException"
    assert refused.message == "Unzipped size must be smaller than 262144000 bytes"


def test_function_and_layers_share_the_unzipped_limit(lam):
    def declaring(megabytes: int) -> bytes:
        data = zip_of({"big.bin": "x"})
        one = (1).to_bytes(4, "little")
        return data.replace(one * 2, one + (megabytes << 20).to_bytes(4, "little"))

    layer = lam("PublishLayerVersion", LayerName="big", Content={"ZipFile": declaring(200)})
    refused = error(create, lam, "f", code=declaring(60), Layers=[layer["LayerVersionArn"]])
    assert refused.message == "Unzipped size must be smaller than 262144000 bytes"
    create(lam, "f", code=declaring(40), Layers=[layer["LayerVersionArn"]])


def test_orphaned_extractions_are_swept_at_start(tmp_path):
    first = Lambda(tmp_path)
    (first.platform.data_dir / "code" / "deadbeef").mkdir()
    (first.platform.data_dir / "code" / ".tmp-deadbeef-1234").mkdir()
    first.close()
    second = Lambda(tmp_path)
    try:
        assert list((second.platform.data_dir / "code").iterdir()) == []
    finally:
        second.close()


def test_other_accounts_see_nothing(lam):
    create(lam, "f")
    lam.settle()
    other = "111111111111"
    assert lam("ListFunctions", account=other)["Functions"] == []
    assert error(lam, "GetFunction", account=other, FunctionName="f").status == 404
    denied = error(
        lam,
        "GetFunction",
        account=other,
        FunctionName=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f",
    )
    assert (denied.code, denied.status) == ("AccessDeniedException", 403)
    assert json.loads(json.dumps(lam("GetAccountSettings", account=other)))["AccountUsage"] == {
        "TotalCodeSize": 0,
        "FunctionCount": 0,
    }


def test_policies_per_version_and_alias(lam):
    create(lam, "f")
    lam.settle()
    lam("PublishVersion", FunctionName="f")
    lam("CreateAlias", FunctionName="f", Name="live", FunctionVersion="1")
    alias_revision = lam("GetAlias", FunctionName="f", Name="live")["RevisionId"]
    statement = lam(
        "AddPermission",
        FunctionName="f:live",
        StatementId="sns",
        Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com",
    )["Statement"]
    assert json.loads(statement)["Resource"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f:live"
    policy = lam("GetPolicy", FunctionName="f", Qualifier="live")
    assert policy["RevisionId"] == lam("GetAlias", FunctionName="f", Name="live")["RevisionId"]
    assert policy["RevisionId"] != alias_revision
    assert error(lam, "GetPolicy", FunctionName="f").code == "ResourceNotFoundException"
    assert error(lam, "GetPolicy", FunctionName="f", Qualifier="1").status == 404
    stale = error(
        lam,
        "AddPermission",
        FunctionName="f",
        Qualifier="1",
        StatementId="x",
        Action="lambda:InvokeFunction",
        Principal="*",
        RevisionId="stale",
    )
    assert stale.code == "PreconditionFailedException" and stale.status == 412
    lam("DeleteAlias", FunctionName="f", Name="live")
    lam("CreateAlias", FunctionName="f", Name="live", FunctionVersion="1")
    assert error(lam, "GetPolicy", FunctionName="f", Qualifier="live").status == 404
