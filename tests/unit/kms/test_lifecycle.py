"""What time does to keys (a scheduled deletion happens, an automatic rotation happens)
and what lies on disk (sealed material, the master key), on the provider itself."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import stat

import pytest
from cryptography.exceptions import InvalidTag

from sandlot.config import Settings
from sandlot.iam.principal import Principal
from sandlot.platform import Platform
from sandlot.protocol import ServiceError
from sandlot.services.kms.material import blob_key
from sandlot.services.kms.schema import MATERIALS
from sandlot.store.master_key import MASTER_KEY_FILE, MasterKey

ROOT = Principal.root("000000000000")
DAY = 86400.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def kms(tmp_path):
    platform = Platform(Settings(iam="off"), tmp_path)
    clock = Clock()
    platform.provider("kms").clock = clock

    def call(operation: str, **params):
        return asyncio.run(
            platform.call("kms", operation, params, principal=ROOT, region="us-east-1")
        )

    call.clock = clock
    call.platform = platform
    yield call
    platform.close()


def code(excinfo) -> str:
    return excinfo.value.code


def test_a_scheduled_deletion_happens_when_its_window_ends(kms):
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("CreateAlias", AliasName="alias/doomed", TargetKeyId=key)
    blob = kms("Encrypt", KeyId=key, Plaintext=b"x")["CiphertextBlob"]
    kms("ScheduleKeyDeletion", KeyId=key, PendingWindowInDays=7)
    kms.clock.now += 7 * DAY - 1
    assert kms("DescribeKey", KeyId=key)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    kms.clock.now += 2
    with pytest.raises(ServiceError) as gone:
        kms("DescribeKey", KeyId=key)
    assert code(gone) == "NotFoundException"
    assert key not in [k["KeyId"] for k in kms("ListKeys")["Keys"]]
    assert kms("ListAliases")["Aliases"] == []
    with pytest.raises(ServiceError) as unreadable:
        kms("Decrypt", CiphertextBlob=blob)
    assert code(unreadable) == "InvalidCiphertextException"
    assert kms.platform.store.select(MATERIALS, {"key_id": key}) == []


def test_automatic_rotation_happens_when_due_and_old_ciphertexts_decrypt(kms):
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    old = kms("Encrypt", KeyId=key, Plaintext=b"old")["CiphertextBlob"]
    kms("EnableKeyRotation", KeyId=key, RotationPeriodInDays=90)
    kms.clock.now += 90 * DAY + 1
    new = kms("Encrypt", KeyId=key, Plaintext=b"new")["CiphertextBlob"]
    assert blob_key(old) == (key, 1) and blob_key(new) == (key, 2)
    rotations = kms("ListKeyRotations", KeyId=key)["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["AUTOMATIC"]
    assert kms("Decrypt", CiphertextBlob=old)["Plaintext"] == b"old"
    status = kms("GetKeyRotationStatus", KeyId=key)
    assert status["NextRotationDate"] == pytest.approx(kms.clock.now + 90 * DAY)


def test_material_is_sealed_under_a_0600_master_key(kms, tmp_path):
    key = kms("CreateKey", KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    mac = kms("GenerateMac", KeyId=key["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    path = tmp_path / MASTER_KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    row = kms.platform.store.get(MATERIALS, key["KeyId"], 1)
    material = MasterKey(tmp_path).open(key["KeyId"], 1, row["sealed"])
    assert len(material) == 32 and material not in row["sealed"]
    assert hmac.new(material, b"m", hashlib.sha256).digest() == mac
    # Sealed material names its key and version: moved to another row, it does not open.
    with pytest.raises(InvalidTag):
        MasterKey(tmp_path).open(key["KeyId"], 2, row["sealed"])
    # Another data directory's master key cannot open it.
    (tmp_path / "other").mkdir()
    with pytest.raises(InvalidTag):
        MasterKey(tmp_path / "other").open(key["KeyId"], 1, row["sealed"])


def test_a_restarted_platform_decrypts_with_the_same_master_key(tmp_path):
    first = Platform(Settings(iam="off"), tmp_path)
    call = first.call
    key = asyncio.run(call("kms", "CreateKey", {}, principal=ROOT, region="us-east-1"))
    blob = asyncio.run(
        call("kms", "Encrypt", {"KeyId": key["KeyMetadata"]["KeyId"], "Plaintext": b"kept"},
             principal=ROOT, region="us-east-1")
    )["CiphertextBlob"]  # fmt: skip
    first.close()
    second = Platform(Settings(iam="off"), tmp_path)
    out = asyncio.run(
        second.call("kms", "Decrypt", {"CiphertextBlob": blob}, principal=ROOT, region="us-east-1")
    )
    assert out["Plaintext"] == b"kept"
    second.close()


def test_imported_material_expires_at_valid_to(kms):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    key = kms("CreateKey", Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = kms(
        "GetParametersForImport", KeyId=key, WrappingAlgorithm="RSAES_OAEP_SHA_1",
        WrappingKeySpec="RSA_2048",
    )  # fmt: skip
    public = serialization.load_der_public_key(params["PublicKey"])
    oaep = padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)
    kms(
        "ImportKeyMaterial", KeyId=key, ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=public.encrypt(bytes(range(32)), oaep),
        ValidTo=kms.clock.now + DAY,
    )  # fmt: skip
    meta = kms("DescribeKey", KeyId=key)["KeyMetadata"]
    assert (meta["KeyState"], meta["ExpirationModel"]) == ("Enabled", "KEY_MATERIAL_EXPIRES")
    kms("Encrypt", KeyId=key, Plaintext=b"x")
    kms.clock.now += DAY
    assert kms("DescribeKey", KeyId=key)["KeyMetadata"]["KeyState"] == "PendingImport"
    assert kms.platform.store.select(MATERIALS, {"key_id": key}) == []
    # An import token is good for 24 hours.
    kms.clock.now += DAY
    with pytest.raises(ServiceError) as expired:
        kms(
            "ImportKeyMaterial", KeyId=key, ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=public.encrypt(bytes(range(32)), oaep),
        )  # fmt: skip
    assert code(expired) == "ExpiredImportTokenException"
