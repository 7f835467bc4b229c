"""Cognito in secure mode: the sign-in operations AWS serves unsigned work unsigned,
the admin ones need the account's keys, and a pool's signing key is sealed at rest."""

from __future__ import annotations

import sqlite3

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization

from tests.e2e.conftest import make_client, unsigned_client
from tests.e2e.server import SandlotServer


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    with SandlotServer(tmp_path_factory.mktemp("cognito-secure"), "--secure") as running:
        yield running


def test_unsigned_sign_in_signed_admin(secure):
    idp = make_client(secure.endpoint, "cognito-idp", *secure.root_keys())
    anon = unsigned_client(secure.endpoint, "cognito-idp")
    pool_id = idp.create_user_pool(PoolName="secure")["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(UserPoolId=pool_id, ClientName="c",
                                            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH",
                                                               "ALLOW_REFRESH_TOKEN_AUTH"])[
        "UserPoolClient"]["ClientId"]  # fmt: skip
    answer = anon.sign_up(ClientId=client_id, Username="gil", Password="Corr3ct-horse!")
    assert answer["UserConfirmed"] is False
    with pytest.raises(ClientError) as refused:
        anon.admin_confirm_sign_up(UserPoolId=pool_id, Username="gil")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    idp.admin_confirm_sign_up(UserPoolId=pool_id, Username="gil")
    tokens = anon.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                AuthParameters={"USERNAME": "gil", "PASSWORD": "Corr3ct-horse!"})  # fmt: skip
    assert (
        anon.get_user(AccessToken=tokens["AuthenticationResult"]["AccessToken"])["Username"]
        == "gil"
    )

    with sqlite3.connect(secure.data_dir / "sandlot.db") as db:
        sealed, password = db.execute(
            "SELECT p.signing_key, u.password FROM cognito_pools p JOIN cognito_users u "
            "ON u.pool_id = p.id WHERE p.id = ?", (pool_id,)).fetchone()  # fmt: skip
    with pytest.raises(ValueError):
        serialization.load_der_private_key(sealed, None)
    assert password.startswith("scrypt$") and "Corr3ct" not in password
