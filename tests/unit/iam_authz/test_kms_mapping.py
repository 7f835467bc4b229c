"""KMS requests map to the actions, key ARNs and condition keys AWS evaluates: keys named
by id, ARN, alias or ciphertext; ReEncrypt's two actions; grants' condition keys."""

from __future__ import annotations

from sandlot.iam.actions import authorizations

A, R = "000000000000", "us-east-1"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY = f"arn:aws:kms:{R}:{A}:key/{KEY_ID}"
OTHER_KEY = f"arn:aws:kms:{R}:{A}:key/0000abcd-12ab-34cd-56ef-1234567890ab"


def lookup(kind: str, ref):
    """What the KMS provider would answer: alias/app and our blob name KEY."""
    if kind == "key" and ref in ("alias/app", f"arn:aws:kms:{R}:{A}:alias/app"):
        return KEY
    if kind == "ciphertext" and ref == b"blob-of-key":
        return KEY
    if kind == "grant-token" and ref == "token":
        return KEY
    return None


def auths(operation: str, **params):
    return authorizations("kms", operation, params, A, R, kms_key=lookup)


def test_a_key_id_names_the_key_arn_with_the_encryption_context():
    [auth] = auths("Encrypt", KeyId=KEY_ID, Plaintext=b"x", EncryptionContext={"app": "a"})
    assert auth.action == "kms:Encrypt" and auth.resources == (KEY,)
    assert auth.context == {
        "kms:CallerAccount": A,
        "kms:EncryptionContext:app": "a",
        "kms:EncryptionContextKeys": ["app"],
    }


def test_an_alias_is_authorized_on_its_key_with_request_alias():
    [auth] = auths("Sign", KeyId="alias/app", Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    assert auth.resources == (KEY,)
    assert auth.context["kms:RequestAlias"] == "alias/app"
    assert auth.context["kms:SigningAlgorithm"] == "ECDSA_SHA_256"


def test_decrypt_is_authorized_on_the_key_the_ciphertext_names():
    [auth] = auths("Decrypt", CiphertextBlob=b"blob-of-key")
    assert (auth.action, auth.resources) == ("kms:Decrypt", (KEY,))


def test_re_encrypt_needs_from_and_to():
    source, dest = auths(
        "ReEncrypt", CiphertextBlob=b"blob-of-key", DestinationKeyId=OTHER_KEY,
        DestinationEncryptionContext={"d": "1"},
    )  # fmt: skip
    assert (source.action, source.resources) == ("kms:ReEncryptFrom", (KEY,))
    assert (dest.action, dest.resources) == ("kms:ReEncryptTo", (OTHER_KEY,))
    assert dest.context["kms:EncryptionContext:d"] == "1"
    assert source.context["kms:ReEncryptOnSameKey"] == "false"


def test_alias_operations_need_the_alias_and_the_key():
    [auth] = auths("CreateAlias", AliasName="alias/new", TargetKeyId=KEY_ID)
    assert set(auth.resources) == {f"arn:aws:kms:{R}:{A}:alias/new", KEY}
    [delete] = auths("DeleteAlias", AliasName="alias/app")
    assert set(delete.resources) == {f"arn:aws:kms:{R}:{A}:alias/app", KEY}


def test_create_key_and_grant_condition_keys():
    [create] = auths("CreateKey", KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY", MultiRegion=True)
    assert create.resources == ("*",)
    assert create.context["kms:KeySpec"] == "RSA_2048"
    assert create.context["kms:KeyUsage"] == "SIGN_VERIFY"
    assert create.context["kms:MultiRegion"] == "true"
    [grant] = auths(
        "CreateGrant", KeyId=KEY_ID, GranteePrincipal=f"arn:aws:iam::{A}:role/r",
        Operations=["Decrypt"], Constraints={"EncryptionContextEquals": {"app": "a"}},
    )  # fmt: skip
    assert grant.context["kms:GranteePrincipal"] == f"arn:aws:iam::{A}:role/r"
    assert grant.context["kms:GrantOperations"] == ["Decrypt"]
    assert grant.context["kms:GrantConstraintType"] == "EncryptionContextEquals"
    assert grant.context["kms:EncryptionContext:app"] == "a"
    [retire] = auths("RetireGrant", GrantToken="token")
    assert retire.resources == (KEY,)


def test_kms_tags_are_request_tags():
    [auth] = auths("TagResource", KeyId=KEY_ID, Tags=[{"TagKey": "team", "TagValue": "a"}])
    assert auth.context["aws:RequestTag/team"] == "a"
    assert auth.context["aws:TagKeys"] == ["team"]
