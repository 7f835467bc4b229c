"""KMS end to end with boto3 and the AWS CLI: real envelope encryption, asymmetric keys,
HMAC, aliases, rotation, scheduled deletion, key policies and grants enforced by IAM."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from tests.e2e.conftest import cli_env, error_of, make_client
from tests.e2e.functions import unique
from tests.e2e.roles import role_client
from tests.e2e.server import SandlotServer

ACCOUNT = "000000000000"
OTHER = "111111111111"


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def role_session(server, iam, identity_policy: str | None = None):
    """(role ARN, a KMS client of a session of a new role with ``identity_policy``)."""
    return role_client(server.endpoint, iam, "kms", identity_policy, prefix="kms-user")


def test_symmetric_round_trip_context_and_tampering(client):
    kms = client("kms")
    meta = kms.create_key(Description="app data")["KeyMetadata"]
    assert meta["KeySpec"] == "SYMMETRIC_DEFAULT" and meta["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert meta["KeyState"] == "Enabled" and meta["Enabled"] is True
    assert meta["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]
    assert meta["Arn"] == f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{meta['KeyId']}"
    assert meta["KeyManager"] == "CUSTOMER" and meta["Origin"] == "AWS_KMS"
    context = {"tenant": "a", "purpose": "test"}
    out = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"secret", EncryptionContext=context)
    assert out["KeyId"] == meta["Arn"] and out["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    blob = out["CiphertextBlob"]
    assert b"secret" not in blob
    # No KeyId needed; context order does not matter.
    back = kms.decrypt(CiphertextBlob=blob, EncryptionContext=dict(reversed(context.items())))
    assert back["Plaintext"] == b"secret" and back["KeyId"] == meta["Arn"]
    wrong = error_of(kms.decrypt, CiphertextBlob=blob, EncryptionContext={"tenant": "b"})
    assert (wrong["Code"], wrong["HTTPStatusCode"]) == ("InvalidCiphertextException", 400)
    assert error_of(kms.decrypt, CiphertextBlob=blob)["Code"] == "InvalidCiphertextException"
    for i in (0, 10, 50, len(blob) - 1):
        tampered = bytearray(blob)
        tampered[i] ^= 1
        found = error_of(kms.decrypt, CiphertextBlob=bytes(tampered), EncryptionContext=context)
        assert found["Code"] in ("InvalidCiphertextException",), (i, found)
    other = kms.create_key()["KeyMetadata"]
    incorrect = error_of(
        kms.decrypt, CiphertextBlob=blob, EncryptionContext=context, KeyId=other["KeyId"]
    )
    assert incorrect["Code"] == "IncorrectKeyException"
    usage = kms.get_key_last_usage(KeyId=meta["KeyId"])
    assert usage["KeyLastUsage"]["Operation"] == "Decrypt"
    assert usage["KeyCreationDate"] == usage["TrackingStartDate"] == meta["CreationDate"]
    kms.disable_key(KeyId=meta["Arn"])
    disabled = error_of(kms.encrypt, KeyId=meta["KeyId"], Plaintext=b"x")
    assert (disabled["Code"], disabled["Message"]) == (
        "DisabledException",
        f"{meta['Arn']} is disabled.",
    )
    assert error_of(kms.decrypt, CiphertextBlob=blob, EncryptionContext=context)["Code"] == (
        "DisabledException"
    )
    kms.enable_key(KeyId=meta["KeyId"])
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == b"secret"
    missing = error_of(kms.describe_key, KeyId="1234abcd-12ab-34cd-56ef-1234567890ab")
    assert (missing["Code"], missing["Message"]) == (
        "NotFoundException",
        f"Key 'arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab' "
        "does not exist",
    )
    too_long = error_of(kms.encrypt, KeyId=meta["KeyId"], Plaintext=b"x" * 4097)
    assert too_long["Code"] == "ValidationException"


def test_rotation_keeps_old_ciphertexts_readable(client):
    kms = client("kms")
    created = kms.create_key()["KeyMetadata"]
    key, first = created["KeyId"], created["CurrentKeyMaterialId"]
    assert len(first) == 64
    old = kms.encrypt(KeyId=key, Plaintext=b"before")["CiphertextBlob"]
    assert kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is False
    kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=90)
    status = kms.get_key_rotation_status(KeyId=key)
    assert status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 90
    assert kms.list_key_rotations(KeyId=key)["Rotations"] == []
    kms.rotate_key_on_demand(KeyId=key)
    rotations = kms.list_key_rotations(KeyId=key)["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["ON_DEMAND"]
    current = kms.describe_key(KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"]
    assert current != first
    assert (rotations[0]["KeyMaterialId"], rotations[0]["KeyMaterialState"]) == (current, "CURRENT")
    new = kms.encrypt(KeyId=key, Plaintext=b"after")["CiphertextBlob"]
    assert new[:41] != old[:41]  # a new material version in the header
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"before"
    assert kms.decrypt(CiphertextBlob=old)["KeyMaterialId"] == first
    assert kms.decrypt(CiphertextBlob=new)["Plaintext"] == b"after"
    kms.disable_key_rotation(KeyId=key)
    assert kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is False
    hmac_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    no = error_of(kms.enable_key_rotation, KeyId=hmac_key["KeyId"])
    assert no["Code"] == "UnsupportedOperationException"


def test_data_keys_re_encrypt_and_random(client):
    kms = client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    dest = kms.create_key()["KeyMetadata"]
    data = kms.generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext={"k": "v"})
    assert len(data["Plaintext"]) == 32
    assert (
        kms.decrypt(CiphertextBlob=data["CiphertextBlob"], EncryptionContext={"k": "v"})[
            "Plaintext"
        ]
        == data["Plaintext"]
    )
    assert len(kms.generate_data_key(KeyId=key, NumberOfBytes=64)["Plaintext"]) == 64
    without = kms.generate_data_key_without_plaintext(KeyId=key, KeySpec="AES_128")
    assert "Plaintext" not in without
    assert len(kms.decrypt(CiphertextBlob=without["CiphertextBlob"])["Plaintext"]) == 16
    both = error_of(kms.generate_data_key, KeyId=key, KeySpec="AES_256", NumberOfBytes=32)
    assert both["Code"] == "ValidationException"
    moved = kms.re_encrypt(
        CiphertextBlob=data["CiphertextBlob"],
        SourceEncryptionContext={"k": "v"},
        DestinationKeyId=dest["Arn"],
    )
    assert moved["KeyId"] == dest["Arn"] and moved["SourceKeyId"].endswith(key)
    assert kms.decrypt(CiphertextBlob=moved["CiphertextBlob"])["Plaintext"] == data["Plaintext"]
    pair = kms.generate_data_key_pair(KeyId=key, KeyPairSpec="ECC_NIST_P256")
    private = serialization.load_der_private_key(pair["PrivateKeyPlaintext"], None)
    public = serialization.load_der_public_key(pair["PublicKey"])
    assert private.public_key().public_numbers() == public.public_numbers()
    opened = kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"])["Plaintext"]
    assert opened == pair["PrivateKeyPlaintext"]
    bare = kms.generate_data_key_pair_without_plaintext(KeyId=key, KeyPairSpec="RSA_2048")
    assert "PrivateKeyPlaintext" not in bare
    private = serialization.load_der_private_key(
        kms.decrypt(CiphertextBlob=bare["PrivateKeyCiphertextBlob"])["Plaintext"], None
    )
    assert (
        private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == bare["PublicKey"]
    )
    assert len(kms.generate_random(NumberOfBytes=100)["Plaintext"]) == 100


def test_asymmetric_keys_sign_verify_encrypt_and_public_key(client):
    kms = client("kms")
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert "RSASSA_PSS_SHA_256" in rsa["SigningAlgorithms"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=rsa["KeyId"])["PublicKey"])
    for algorithm, pad in (
        ("RSASSA_PSS_SHA_256", padding.PSS(padding.MGF1(hashes.SHA256()), 32)),
        ("RSASSA_PKCS1_V1_5_SHA_256", padding.PKCS1v15()),
    ):
        sig = kms.sign(KeyId=rsa["KeyId"], Message=b"hello", SigningAlgorithm=algorithm)
        public.verify(sig["Signature"], b"hello", pad, hashes.SHA256())
        ok = kms.verify(
            KeyId=rsa["KeyId"],
            Message=b"hello",
            Signature=sig["Signature"],
            SigningAlgorithm=algorithm,
        )
        assert ok["SignatureValid"] is True
        bad = error_of(
            kms.verify, KeyId=rsa["KeyId"], Message=b"hellO", Signature=sig["Signature"],
            SigningAlgorithm=algorithm,
        )  # fmt: skip
        assert bad["Code"] == "KMSInvalidSignatureException"
    ecc = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"payload")
    sig = kms.sign(
        KeyId=ecc["KeyId"], Message=digest.finalize(), MessageType="DIGEST",
        SigningAlgorithm="ECDSA_SHA_256",
    )["Signature"]  # fmt: skip
    ecc_public = serialization.load_der_public_key(
        kms.get_public_key(KeyId=ecc["KeyId"])["PublicKey"]
    )
    ecc_public.verify(sig, b"payload", ec.ECDSA(hashes.SHA256()))
    short = error_of(
        kms.sign, KeyId=ecc["KeyId"], Message=b"abc", MessageType="DIGEST",
        SigningAlgorithm="ECDSA_SHA_256",
    )  # fmt: skip
    assert short["Code"] == "ValidationException"
    wrong = error_of(kms.sign, KeyId=ecc["KeyId"], Message=b"x", SigningAlgorithm="ECDSA_SHA_384")
    assert wrong["Code"] == "InvalidKeyUsageException"
    k1 = kms.create_key(KeySpec="ECC_SECG_P256K1", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert kms.sign(KeyId=k1["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    enc = kms.create_key(KeySpec="RSA_3072", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    enc_public = serialization.load_der_public_key(
        kms.get_public_key(KeyId=enc["KeyId"])["PublicKey"]
    )
    blob = enc_public.encrypt(
        b"to kms", padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    )
    out = kms.decrypt(
        KeyId=enc["KeyId"], CiphertextBlob=blob, EncryptionAlgorithm="RSAES_OAEP_SHA_256"
    )
    assert out["Plaintext"] == b"to kms"
    sym = kms.create_key()["KeyMetadata"]
    assert (
        error_of(kms.get_public_key, KeyId=sym["KeyId"])["Code"] == "UnsupportedOperationException"
    )
    assert (
        error_of(kms.sign, KeyId=sym["KeyId"], Message=b"x", SigningAlgorithm="ECDSA_SHA_256")[
            "Code"
        ]
        == "InvalidKeyUsageException"
    )
    combo = error_of(kms.create_key, KeySpec="ECC_NIST_P256", KeyUsage="ENCRYPT_DECRYPT")
    assert (combo["Code"], combo["Message"]) == (
        "ValidationException",
        "KeyUsage ENCRYPT_DECRYPT is not compatible with KeySpec ECC_NIST_P256",
    )


def test_hmac_keys(client):
    kms = client("kms")
    key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    assert key["MacAlgorithms"] == ["HMAC_SHA_256"]
    mac = kms.generate_mac(KeyId=key["KeyId"], Message=b"msg", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert len(mac) == 32
    ok = kms.verify_mac(KeyId=key["KeyId"], Message=b"msg", MacAlgorithm="HMAC_SHA_256", Mac=mac)
    assert ok["MacValid"] is True
    bad = error_of(
        kms.verify_mac, KeyId=key["KeyId"], Message=b"msh", MacAlgorithm="HMAC_SHA_256", Mac=mac
    )
    assert bad["Code"] == "KMSInvalidMacException"
    assert error_of(kms.create_key, KeySpec="HMAC_256", KeyUsage="ENCRYPT_DECRYPT")["Code"] == (
        "ValidationException"
    )


def test_aliases_and_aws_managed_keys(client):
    kms = client("kms")
    key = kms.create_key()["KeyMetadata"]
    name = f"alias/{unique('app')}"
    kms.create_alias(AliasName=name, TargetKeyId=key["KeyId"])
    taken = error_of(kms.create_alias, AliasName=name, TargetKeyId=key["KeyId"])
    assert (taken["Code"], taken["Message"]) == (
        "AlreadyExistsException",
        f"An alias with the name arn:aws:kms:us-east-1:{ACCOUNT}:{name} already exists",
    )
    reserved = error_of(kms.create_alias, AliasName="alias/aws/mine", TargetKeyId=key["KeyId"])
    assert reserved["Code"] == "NotAuthorizedException"
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == key["KeyId"]
    alias_arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:{name}"
    assert kms.describe_key(KeyId=alias_arn)["KeyMetadata"]["KeyId"] == key["KeyId"]
    blob = kms.encrypt(KeyId=name, Plaintext=b"via alias")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"via alias"
    listed = kms.list_aliases(KeyId=key["KeyId"])["Aliases"]
    assert [a["AliasName"] for a in listed] == [name] and listed[0]["AliasArn"] == alias_arn
    second = kms.create_key()["KeyMetadata"]
    kms.update_alias(AliasName=name, TargetKeyId=second["Arn"])
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == second["KeyId"]
    kms.delete_alias(AliasName=name)
    gone = error_of(kms.describe_key, KeyId=name)
    assert (gone["Code"], gone["Message"]) == (
        "NotFoundException",
        f"Alias {alias_arn} is not found.",
    )
    managed = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert managed["KeyManager"] == "AWS"
    assert kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["KeyId"] == managed["KeyId"]
    assert json.loads(kms.get_key_policy(KeyId=managed["KeyId"])["Policy"])["Id"] == "auto-s3-2"
    # Its policy allows use only through S3, and no management at all.
    for call, args in (
        (kms.encrypt, {"KeyId": "alias/aws/s3", "Plaintext": b"x"}),
        (kms.disable_key, {"KeyId": managed["KeyId"]}),
    ):
        assert error_of(call, **args)["Code"] == "AccessDeniedException"
    assert error_of(kms.describe_key, KeyId="alias/aws/nosuchservice")["Code"] == (
        "NotFoundException"
    )


def test_scheduled_deletion_and_states(client):
    kms = client("kms")
    key = kms.create_key()["KeyMetadata"]
    short = error_of(kms.schedule_key_deletion, KeyId=key["KeyId"], PendingWindowInDays=5)
    assert short["Code"] == "ValidationException"
    scheduled = kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert scheduled["KeyState"] == "PendingDeletion" and scheduled["PendingWindowInDays"] == 7
    meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion" and "DeletionDate" in meta
    pending = error_of(kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x")
    assert (pending["Code"], pending["Message"]) == (
        "KMSInvalidStateException",
        f"{key['Arn']} is pending deletion.",
    )
    kms.cancel_key_deletion(KeyId=key["KeyId"])
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"


def test_list_keys_pages_tags_description(client):
    kms = client("kms")
    made = {
        kms.create_key(Tags=[{"TagKey": "n", "TagValue": str(i)}])["KeyMetadata"]["KeyId"]
        for i in range(3)
    }
    seen, marker = [], None
    while True:
        page = kms.list_keys(Limit=2, **({"Marker": marker} if marker else {}))
        assert len(page["Keys"]) <= 2
        seen += [k["KeyId"] for k in page["Keys"]]
        if not page["Truncated"]:
            break
        marker = page["NextMarker"]
    assert made <= set(seen) and len(seen) == len(set(seen))
    key = sorted(made)[0]
    kms.tag_resource(KeyId=key, Tags=[{"TagKey": "team", "TagValue": "x"}])
    kms.untag_resource(KeyId=key, TagKeys=["n"])
    assert kms.list_resource_tags(KeyId=key)["Tags"] == [{"TagKey": "team", "TagValue": "x"}]
    kms.update_key_description(KeyId=key, Description="new")
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["Description"] == "new"
    assert kms.list_key_policies(KeyId=key)["PolicyNames"] == ["default"]
    default = json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    assert default["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert default["Statement"][0]["Action"] == "kms:*"
    bad = error_of(kms.put_key_policy, KeyId=key, PolicyName="default", Policy="{}")
    assert bad["Code"] == "MalformedPolicyDocumentException"


def test_iam_and_key_policies_decide(server, client):
    kms, iam = client("kms"), client("iam")
    key = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"p")["CiphertextBlob"]
    role, as_role = role_session(
        server, iam, policy({"Effect": "Allow", "Action": "kms:Encrypt", "Resource": key["Arn"]})
    )
    as_role.encrypt(KeyId=key["Arn"], Plaintext=b"ok")  # the default policy delegates to IAM
    denied = error_of(as_role.decrypt, CiphertextBlob=blob)
    assert (denied["Code"], denied["HTTPStatusCode"]) == ("AccessDeniedException", 403)
    assert f"kms:Decrypt on resource: {key['Arn']}" in denied["Message"]
    # A key policy that does not name the account: IAM policies no longer count.
    _, wide = role_session(
        server, iam, policy({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})
    )
    wide.encrypt(KeyId=key["Arn"], Plaintext=b"ok")
    strict = policy(
        {"Effect": "Allow", "Principal": {"AWS": role}, "Action": "kms:Decrypt", "Resource": "*"}
    )
    lockout = error_of(kms.put_key_policy, KeyId=key["KeyId"], PolicyName="default", Policy=strict)
    assert (lockout["Code"], lockout["Message"]) == (
        "MalformedPolicyDocumentException",
        "The new key policy will not allow you to update the key policy in the future.",
    )
    kms.put_key_policy(
        KeyId=key["KeyId"], PolicyName="default", Policy=strict, BypassPolicyLockoutSafetyCheck=True
    )
    locked = error_of(wide.encrypt, KeyId=key["Arn"], Plaintext=b"no")
    assert locked["Code"] == "AccessDeniedException"
    assert "no resource-based policy allows the kms:Encrypt action" in locked["Message"]
    # ...and the role the key policy names may decrypt without any IAM permission for it.
    assert as_role.decrypt(CiphertextBlob=blob)["Plaintext"] == b"p"
    # Not even the account's root may use or manage a key its policy does not allow.
    root = error_of(kms.encrypt, KeyId=key["Arn"], Plaintext=b"x")
    assert (root["Code"], root["Message"]) == (
        "AccessDeniedException",
        f"User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: kms:Encrypt on "
        f"resource: {key['Arn']} because no resource-based policy allows the kms:Encrypt "
        "action",
    )
    assert error_of(kms.put_key_policy, KeyId=key["KeyId"], Policy=strict)["Code"] == (
        "AccessDeniedException"
    )


def test_cross_account_use_needs_the_key_policy(server, client):
    kms = client("kms")
    key = kms.create_key()["KeyMetadata"]
    other = make_client(server.endpoint, "kms", key=OTHER)
    denied = error_of(other.encrypt, KeyId=key["Arn"], Plaintext=b"x")
    assert denied["Code"] == "AccessDeniedException"
    assert "because no resource-based policy allows the kms:Encrypt action" in denied["Message"]
    shared = json.loads(kms.get_key_policy(KeyId=key["KeyId"])["Policy"])
    shared["Statement"].append(
        {
            "Sid": "other",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DisableKey"],
            "Resource": "*",
        }
    )
    kms.put_key_policy(KeyId=key["KeyId"], Policy=json.dumps(shared))
    blob = other.encrypt(KeyId=key["Arn"], Plaintext=b"shared")["CiphertextBlob"]
    assert other.decrypt(CiphertextBlob=blob)["Plaintext"] == b"shared"
    # Managing a key stays with its own account, whatever the key policy says.
    managed = error_of(other.disable_key, KeyId=key["Arn"])
    assert (managed["Code"], managed["Message"]) == (
        "NotFoundException",
        f"Key '{key['Arn']}' does not exist",
    )
    # A key id alone names a key of the caller's own account.
    assert error_of(other.describe_key, KeyId=key["KeyId"])["Code"] == "NotFoundException"


def test_grants_allow_the_grantee(server, client):
    kms, iam = client("kms"), client("iam")
    key = kms.create_key()["KeyMetadata"]
    role, as_role = role_session(server, iam)
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"g", EncryptionContext={"app": "a"})[
        "CiphertextBlob"
    ]
    assert (
        error_of(as_role.decrypt, CiphertextBlob=blob, EncryptionContext={"app": "a"})["Code"]
        == "AccessDeniedException"
    )
    grant = kms.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=role,
        RetiringPrincipal=role,
        Operations=["Decrypt"],
        Constraints={"EncryptionContextSubset": {"app": "a"}},
        Name="reader",
    )
    out = as_role.decrypt(CiphertextBlob=blob, EncryptionContext={"app": "a"})
    assert out["Plaintext"] == b"g"
    other_blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"h", EncryptionContext={"app": "b"})[
        "CiphertextBlob"
    ]
    constrained = error_of(
        as_role.decrypt, CiphertextBlob=other_blob, EncryptionContext={"app": "b"}
    )
    assert constrained["Code"] == "AccessDeniedException"
    listed = kms.list_grants(KeyId=key["KeyId"])["Grants"]
    assert [(g["GrantId"], g["GranteePrincipal"], g["Operations"]) for g in listed] == [
        (grant["GrantId"], role, ["Decrypt"])
    ]
    assert listed[0]["Constraints"] == {"EncryptionContextSubset": {"app": "a"}}
    retirable = kms.list_retirable_grants(RetiringPrincipal=role)["Grants"]
    assert [g["GrantId"] for g in retirable] == [grant["GrantId"]]
    as_role.retire_grant(GrantToken=grant["GrantToken"])  # the retiring principal needs no IAM
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []
    assert (
        error_of(as_role.decrypt, CiphertextBlob=blob, EncryptionContext={"app": "a"})["Code"]
        == "AccessDeniedException"
    )
    again = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=role, Operations=["Decrypt"])
    kms.revoke_grant(KeyId=key["KeyId"], GrantId=again["GrantId"])
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []


def test_cli_encrypt_decrypt_round_trip(server, client, tmp_path):
    key = client("kms").create_key()["KeyMetadata"]["KeyId"]
    (tmp_path / "plain.txt").write_bytes(b"cli secret\n")

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "awscli", "kms", *args],
            env=cli_env(server.endpoint),
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    encoded = cli(
        "encrypt", "--key-id", key, "--plaintext", "fileb://plain.txt",
        "--output", "text", "--query", "CiphertextBlob",
    )  # fmt: skip
    (tmp_path / "blob.bin").write_bytes(base64.b64decode(encoded))
    decoded = cli(
        "decrypt", "--ciphertext-blob", "fileb://blob.bin",
        "--output", "text", "--query", "Plaintext",
    )  # fmt: skip
    assert base64.b64decode(decoded) == b"cli secret\n"


def test_key_material_is_sealed_at_rest(server, client):
    kms = client("kms")
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    # PKCS#8 of an EC key embeds its public point: stored in plaintext, it would show.
    point = public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    master = server.data_dir / "kms-master.key"
    assert stat.S_IMODE(os.stat(master).st_mode) == 0o600
    for name in ("sandlot.db", "sandlot.db-wal"):
        path = server.data_dir / name
        if path.exists():
            assert point not in path.read_bytes()


def test_malformed_requests_are_refused_before_authorization(server, client):
    # A caller without any KMS permission still learns that its request is malformed.
    _, as_role = role_session(server, client("iam"))
    bad = error_of(as_role.describe_key, KeyId="x" * 2049)
    assert bad["Code"] == "ValidationException"
    assert "at 'keyId' failed to satisfy constraint" in bad["Message"]


def test_grant_with_exact_encryption_context(server, client):
    kms, iam = client("kms"), client("iam")
    key = kms.create_key()["KeyMetadata"]
    role, as_role = role_session(server, iam)
    kms.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=role, Operations=["Encrypt"],
        Constraints={"EncryptionContextEquals": {"app": "a"}},
    )  # fmt: skip
    as_role.encrypt(KeyId=key["Arn"], Plaintext=b"x", EncryptionContext={"app": "a"})
    for context in ({"app": "a", "extra": "1"}, {}, {"app": "b"}):
        denied = error_of(
            as_role.encrypt, KeyId=key["Arn"], Plaintext=b"x", EncryptionContext=context
        )
        assert denied["Code"] == "AccessDeniedException", context


def test_ed25519_ml_dsa_and_key_agreement(client):
    kms = client("kms")
    ed = kms.create_key(KeySpec="ECC_NIST_EDWARDS25519", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert ed["SigningAlgorithms"] == ["ED25519_SHA_512", "ED25519_PH_SHA_512"]
    sig = kms.sign(KeyId=ed["KeyId"], Message=b"m", SigningAlgorithm="ED25519_SHA_512")
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=ed["KeyId"])["PublicKey"])
    public.verify(sig["Signature"], b"m")
    ml = kms.create_key(KeySpec="ML_DSA_65", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    sig = kms.sign(KeyId=ml["KeyId"], Message=b"pq", SigningAlgorithm="ML_DSA_SHAKE_256")
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=ml["KeyId"])["PublicKey"])
    public.verify(sig["Signature"], b"pq")
    assert kms.verify(
        KeyId=ml["KeyId"], Message=b"pq", Signature=sig["Signature"],
        SigningAlgorithm="ML_DSA_SHAKE_256",
    )["SignatureValid"]  # fmt: skip
    ecdh = kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]
    assert ecdh["KeyAgreementAlgorithms"] == ["ECDH"]
    mine = ec.generate_private_key(ec.SECP384R1())
    mine_public = mine.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    derived = kms.derive_shared_secret(
        KeyId=ecdh["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=mine_public
    )
    theirs = serialization.load_der_public_key(kms.get_public_key(KeyId=ecdh["KeyId"])["PublicKey"])
    assert derived["SharedSecret"] == mine.exchange(ec.ECDH(), theirs)
    other_curve = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    bad = error_of(
        kms.derive_shared_secret, KeyId=ecdh["KeyId"], KeyAgreementAlgorithm="ECDH",
        PublicKey=other_curve,
    )  # fmt: skip
    assert bad["Code"] == "ValidationException"
    sm2 = error_of(kms.create_key, KeySpec="SM2", KeyUsage="SIGN_VERIFY")
    assert sm2["Code"] == "UnsupportedOperationException"


def test_keys_live_in_their_region(client):
    kms, eu = client("kms"), client("kms", region="eu-west-1")
    key = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"r")["CiphertextBlob"]
    assert error_of(eu.decrypt, CiphertextBlob=blob)["Code"] == "InvalidCiphertextException"
    assert error_of(eu.describe_key, KeyId=key["KeyId"])["Code"] == "NotFoundException"
    assert key["KeyId"] not in [k["KeyId"] for k in eu.list_keys()["Keys"]]
    # RSA keys are generated off the event loop.
    rsa = eu.create_key(KeySpec="RSA_4096", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert rsa["Arn"].startswith("arn:aws:kms:eu-west-1:")


def test_keys_survive_a_crash(tmp_path):
    first = SandlotServer(tmp_path).start()
    try:
        kms = make_client(first.endpoint, "kms")
        key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
        sym = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName="alias/kept", TargetKeyId=sym)
        blob = kms.encrypt(KeyId="alias/kept", Plaintext=b"durable")["CiphertextBlob"]
        public = kms.get_public_key(KeyId=key["KeyId"])["PublicKey"]
    finally:
        first.kill()  # SIGKILL: no clean shutdown
    with SandlotServer(tmp_path) as second:
        kms = make_client(second.endpoint, "kms")
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"durable"
        assert kms.get_public_key(KeyId=key["KeyId"])["PublicKey"] == public
        assert kms.describe_key(KeyId="alias/kept")["KeyMetadata"]["KeyId"] == sym


def test_imported_key_material(client):
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

    kms = client("kms")
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    assert (key["Origin"], key["KeyState"], key["Enabled"]) == ("EXTERNAL", "PendingImport", False)
    pending = error_of(kms.encrypt, KeyId=key["KeyId"], Plaintext=b"x")
    assert (pending["Code"], pending["Message"]) == (
        "KMSInvalidStateException",
        f"{key['Arn']} is pending import.",
    )
    params = kms.get_parameters_for_import(
        KeyId=key["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    wrapping = serialization.load_der_public_key(params["PublicKey"])
    material = os.urandom(32)
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    imported = kms.import_key_material(
        KeyId=key["KeyId"], ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrapping.encrypt(material, oaep),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )  # fmt: skip
    assert imported["KeyId"] == key["Arn"] and len(imported["KeyMaterialId"]) == 64
    meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert meta["KeyState"] == "Enabled"
    assert meta["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"byok")["CiphertextBlob"]
    # Different material is refused; the same material again (RSA_AES_KEY_WRAP) is fine.
    other = kms.get_parameters_for_import(
        KeyId=key["KeyId"], WrappingAlgorithm="RSA_AES_KEY_WRAP_SHA_256", WrappingKeySpec="RSA_3072"
    )
    wrapper = serialization.load_der_public_key(other["PublicKey"])

    def wrap(data: bytes) -> bytes:
        aes = os.urandom(32)
        return wrapper.encrypt(aes, oaep) + aes_key_wrap_with_padding(aes, data)

    different = error_of(
        kms.import_key_material, KeyId=key["KeyId"], ImportToken=other["ImportToken"],
        EncryptedKeyMaterial=wrap(os.urandom(32)), ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )  # fmt: skip
    assert different["Code"] == "IncorrectKeyMaterialException"
    kms.import_key_material(
        KeyId=key["KeyId"], ImportToken=other["ImportToken"], EncryptedKeyMaterial=wrap(material),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )  # fmt: skip
    wrong_key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    stolen = error_of(
        kms.import_key_material, KeyId=wrong_key["KeyId"], ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrapping.encrypt(material, oaep),
    )  # fmt: skip
    assert stolen["Code"] == "InvalidImportTokenException"
    kms.delete_imported_key_material(KeyId=key["KeyId"])
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"
    assert error_of(kms.decrypt, CiphertextBlob=blob)["Code"] == "KMSInvalidStateException"
    native = kms.create_key()["KeyMetadata"]
    assert error_of(
        kms.get_parameters_for_import, KeyId=native["KeyId"],
        WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048",
    )["Code"] == "UnsupportedOperationException"  # fmt: skip
