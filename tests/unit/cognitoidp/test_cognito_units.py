"""Cognito's pieces on their own: the SRP server against pycognito's client arithmetic,
password storage and policy, and codes that expire (the provider's clock moved)."""

from __future__ import annotations

import asyncio
import datetime as dt
import types

import pytest
from pycognito import aws_srp

from sandlot.protocol import ServiceError
from sandlot.services.cognitoidp import srp
from sandlot.services.cognitoidp.base import check_policy, hash_password, password_matches
from sandlot.services.cognitoidp.provider import CognitoIdpProvider, _timestamp_ok
from sandlot.services.provider import RequestContext
from sandlot.store import Store

POOL_ID = "us-east-1_Example9"


def test_srp_server_and_pycognito_client_derive_the_same_key() -> None:
    salt, verifier = srp.verifier("Example9", "alice", "Pa55word!")
    client = aws_srp.AWSSRP("alice", "Pa55word!", POOL_ID, "client", client=object())
    b, big_b = srp.server_ephemeral(verifier)
    ours = srp.session_key(client.large_a_value, big_b, b, verifier)
    theirs = client.get_password_authentication_key("alice", "Pa55word!", big_b, salt)
    assert ours == theirs and len(ours) == 16
    wrong = client.get_password_authentication_key("alice", "Wrong!", big_b, salt)
    assert wrong != ours
    assert srp.session_key(0, big_b, b, verifier) is None  # A = 0 mod N is refused
    assert srp.session_key(srp.N, big_b, b, verifier) is None


def test_padding_matches_cognito_clients() -> None:
    for value in (1, 0x7F, 0x80, 0xFFF, 0x1234, srp.N):
        assert srp.pad(value) == aws_srp.pad_hex(value).lower()


def test_passwords_are_hashed_with_scrypt() -> None:
    stored = hash_password("Secret-1")
    assert stored.startswith("scrypt$16384$8$1$") and "Secret-1" not in stored
    assert password_matches(stored, "Secret-1") and not password_matches(stored, "Secret-2")
    assert hash_password("Secret-1") != stored  # salted
    assert not password_matches(None, "Secret-1")


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Sh0rt!", "Password not long enough"),
        ("NOLOWER1!", "Password must have lowercase characters"),
        ("noupper1!", "Password must have uppercase characters"),
        ("NoNumbers!", "Password must have numeric characters"),
        ("NoSymbols1", "Password must have symbol characters"),
    ],
)
def test_default_policy_messages(password: str, message: str) -> None:
    pool = {"doc": {"Policies": {"PasswordPolicy": {}}}}
    with pytest.raises(ServiceError) as caught:
        check_policy(pool, password)
    assert caught.value.code == "InvalidPasswordException"
    assert caught.value.message == f"Password did not conform with policy: {message}"
    check_policy(pool, "Fine-passw0rd")


def test_timestamp_window() -> None:
    now = 1_796_300_000.0
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    text = aws_srp.AWSSRP.get_cognito_formatted_timestamp(moment)
    assert _timestamp_ok(text, now) and _timestamp_ok(text, now + 299)
    assert not _timestamp_ok(text, now + 301) and not _timestamp_ok("yesterday", now)


def test_codes_expire(tmp_path) -> None:
    store = Store(tmp_path / "db")
    platform = types.SimpleNamespace(store=store, data_dir=tmp_path)
    provider = CognitoIdpProvider(platform)
    ctx = RequestContext("r", "000000000000", "us-east-1", None, "cognito-idp", "X", None)
    pool = provider.create_user_pool(ctx, {"PoolName": "p"})["UserPool"]
    client = provider.create_user_pool_client(ctx, {"UserPoolId": pool["Id"], "ClientName": "c"})
    client_id = client["UserPoolClient"]["ClientId"]
    params = {"ClientId": client_id, "Username": "u", "Password": "Fine-passw0rd",
              "UserAttributes": [{"Name": "email", "Value": "u@example.com"}]}  # fmt: skip
    asyncio.run(provider.sign_up(ctx, params))
    code = provider.codes(pool["Id"])[0]["code"]
    start = provider.clock()
    provider.clock = lambda: start + 86400 + 1
    with pytest.raises(ServiceError) as caught:
        asyncio.run(provider.confirm_sign_up(ctx, {"ClientId": client_id, "Username": "u",
                                                   "ConfirmationCode": code}))  # fmt: skip
    assert caught.value.code == "ExpiredCodeException"
    store.close()
