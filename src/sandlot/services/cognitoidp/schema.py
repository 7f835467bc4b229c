"""The Cognito user pools component's tables.

Pools, clients, users and groups keep their AWS-shaped description as JSON (``doc``);
what is looked up or secret has its own column. A pool's RSA signing key is sealed
under the data directory's master key; a user's password is kept only as a scrypt hash
and as an SRP verifier (for USER_SRP_AUTH); refresh tokens are opaque random strings
kept as their SHA-256 (AWS's are encrypted JWTs: opaque to clients either way).
"""

from __future__ import annotations

from sandlot.store import Migration, Table

POOLS = Table(
    "cognito_pools",
    columns={
        "id": "TEXT",
        "account_id": "TEXT",
        "region": "TEXT",
        "doc": "TEXT",  # the UserPoolType as DescribeUserPool answers it
        "kid": "TEXT",
        "signing_key": "BLOB",  # sealed PKCS#8 DER of the pool's RSA key
    },
    key=("id",),
    indexes=(("account_id", "region"),),
)

CLIENTS = Table(
    "cognito_clients",
    columns={"id": "TEXT", "pool_id": "TEXT", "doc": "TEXT"},
    key=("id",),
    indexes=(("pool_id",),),
)

USERS = Table(
    "cognito_users",
    columns={
        "pool_id": "TEXT",
        "username": "TEXT",
        "sub": "TEXT",
        "doc": "TEXT",  # status, enabled, attributes, dates
        "password": "TEXT",  # scrypt$n$r$p$salt$hash, NULL: none set
        "srp_salt": "TEXT",
        "srp_verifier": "TEXT",
        "temporary_expires": "REAL",  # a temporary password's end (AdminCreateUser)
    },
    key=("pool_id", "username"),
    indexes=(("pool_id", "sub"),),
)

GROUPS = Table(
    "cognito_groups",
    columns={"pool_id": "TEXT", "name": "TEXT", "doc": "TEXT"},
    key=("pool_id", "name"),
)

MEMBERS = Table(
    "cognito_members",
    columns={"pool_id": "TEXT", "username": "TEXT", "group_name": "TEXT"},
    key=("pool_id", "username", "group_name"),
)

REFRESH = Table(
    "cognito_refresh_tokens",
    columns={
        "digest": "TEXT",  # SHA-256 of the token
        "pool_id": "TEXT",
        "client_id": "TEXT",
        "username": "TEXT",
        "origin_jti": "TEXT",
        "auth_time": "INTEGER",
        "expires": "REAL",
        "revoked": "INTEGER",
    },
    key=("digest",),
    indexes=(("pool_id", "username"), ("origin_jti",)),
)

# Confirmation and password-reset codes: there is no email, so they are kept here for
# `sandlot cognito codes` (the admin endpoint /_sandlot/cognito/codes) to show.
CODES = Table(
    "cognito_codes",
    columns={
        "pool_id": "TEXT",
        "username": "TEXT",
        "purpose": "TEXT",  # SIGN_UP | FORGOT_PASSWORD
        "code": "TEXT",
        "destination": "TEXT",
        "created": "REAL",
        "expires": "REAL",
    },
    key=("pool_id", "username", "purpose"),
)

MIGRATIONS = [
    Migration(1, create=POOLS),
    Migration(2, create=CLIENTS),
    Migration(3, create=USERS),
    Migration(4, create=GROUPS),
    Migration(5, create=MEMBERS),
    Migration(6, create=REFRESH),
    Migration(7, create=CODES),
]
