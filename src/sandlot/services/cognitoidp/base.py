"""What the Cognito user pools provider shares: its state, lookups, errors, password
storage and policy, and the pool's signing key and tokens.

Tokens are RS256 JWTs signed by the pool's own RSA key (kid published at
``<endpoint>/<poolId>/.well-known/jwks.json``) with AWS's claims and
``iss = https://cognito-idp.<region>.amazonaws.com/<poolId>`` exactly, so unchanged
verifiers and API Gateway authorizers accept them; sandlot's authorizers look the key
up here (``signing_jwks``) without any network fetch.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import string
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sandlot.protocol import ServiceError
from sandlot.services.cognitoidp.schema import (
    CLIENTS,
    GROUPS,
    MEMBERS,
    MIGRATIONS,
    POOLS,
    REFRESH,
    USERS,
)
from sandlot.services.provider import Provider, RequestContext
from sandlot.store.master_key import MasterKey

Row = dict[str, Any]
SCOPE = "aws.cognito.signin.user.admin"
# scrypt: a memory-hard KDF, ~50 ms a password on a laptop core.
_SCRYPT = {"n": 1 << 14, "r": 8, "p": 1}
_UNIT_S = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
DEFAULT_POLICY = {
    "MinimumLength": 8,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": True,
    "TemporaryPasswordValidityDays": 7,
}
_SYMBOLS = set("^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ")


def error(code: str, message: str) -> ServiceError:
    return ServiceError(code, message)


def not_authorized(message: str = "Incorrect username or password.") -> ServiceError:
    return error("NotAuthorizedException", message)


def invalid_parameter(message: str) -> ServiceError:
    return error("InvalidParameterException", message)


def pool_arn(row: Row) -> str:
    return f"arn:aws:cognito-idp:{row['region']}:{row['account_id']}:userpool/{row['id']}"


def issuer(region: str, pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return "scrypt${n}${r}${p}$".format(**_SCRYPT) + f"{salt.hex()}${digest.hex()}"


def password_matches(stored: str | None, password: str) -> bool:
    if not stored:
        return False
    _, n, r, p, salt, digest = stored.split("$")
    found = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                           p=int(p), dklen=32)  # fmt: skip
    return hmac.compare_digest(found.hex(), digest)


def check_policy(pool: Row, password: str) -> None:
    """AWS's InvalidPasswordException for a password the pool's policy refuses."""
    policy = {**DEFAULT_POLICY, **(pool["doc"].get("Policies", {}).get("PasswordPolicy") or {})}
    problems = [
        (len(password) < int(policy["MinimumLength"]), "Password not long enough"),
        (policy["RequireLowercase"] and not any(c.islower() for c in password),
         "Password must have lowercase characters"),
        (policy["RequireUppercase"] and not any(c.isupper() for c in password),
         "Password must have uppercase characters"),
        (policy["RequireNumbers"] and not any(c.isdigit() for c in password),
         "Password must have numeric characters"),
        (policy["RequireSymbols"] and not any(c in _SYMBOLS for c in password),
         "Password must have symbol characters"),
    ]  # fmt: skip
    for failed, message in problems:
        if failed:
            raise error("InvalidPasswordException",
                        f"Password did not conform with policy: {message}")  # fmt: skip


def secret_hash(username: str, client_id: str, client_secret: str) -> str:
    digest = hmac.new(client_secret.encode(), (username + client_id).encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def random_id(length: int, alphabet: str = string.ascii_lowercase + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def attributes_of(user: Row) -> dict[str, str]:
    return dict(user["doc"].get("Attributes") or {})


def attribute_list(user: Row) -> list[dict[str, str]]:
    return [{"Name": k, "Value": v} for k, v in attributes_of(user).items()]


def _load(row: Row | None) -> Row | None:
    if row is not None and isinstance(row.get("doc"), str):
        row = {**row, "doc": json.loads(row["doc"])}
    return row


class CognitoBase(Provider):
    """State, lookups and tokens; the operations live in ``provider.py``."""

    service = "cognito-idp"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        platform.store.migrate("cognito-idp", MIGRATIONS)
        self.store = platform.store
        self.master = MasterKey(platform.data_dir)
        self._keys: dict[str, tuple[str, rsa.RSAPrivateKey]] = {}
        self.clock = time.time

    # -- rows ---------------------------------------------------------------------------

    def pool(self, ctx: RequestContext | None, pool_id: str) -> Row:
        row = _load(self.store.get(POOLS, pool_id or ""))
        if row is None or (ctx is not None and row["account_id"] != ctx.account_id):
            raise error("ResourceNotFoundException", f"User pool {pool_id} does not exist.")
        return row

    def save_pool(self, row: Row) -> None:
        self.store.put(POOLS, {**row, "doc": json.dumps(row["doc"])})

    def client(self, pool: Row | None, client_id: str) -> Row:
        row = _load(self.store.get(CLIENTS, client_id or ""))
        if row is None or (pool is not None and row["pool_id"] != pool["id"]):
            raise error(
                "ResourceNotFoundException", f"User pool client {client_id} does not exist."
            )
        return row

    def save_client(self, row: Row) -> None:
        self.store.put(CLIENTS, {**row, "doc": json.dumps(row["doc"])})

    def find_user(self, pool: Row, name: str) -> Row | None:
        """The user ``name`` names: the username, the sub, or (with username or alias
        attributes) the email, phone number or preferred username — an alias only once
        verified, as AWS requires."""
        if not name:
            return None
        row = self.store.get(USERS, pool["id"], name)
        if row is None:
            found = self.store.select(USERS, {"pool_id": pool["id"], "sub": name}, limit=1)
            row = found[0] if found else None
        if row is not None:
            return _load(row)
        doc = pool["doc"]
        primary = doc.get("UsernameAttributes") or []
        aliases = doc.get("AliasAttributes") or []
        if not primary and not aliases:
            return None
        for user in self.store.select(USERS, {"pool_id": pool["id"]}):
            attrs = json.loads(user["doc"]).get("Attributes") or {}
            for key in (*primary, *aliases):
                verified = key in primary or key == "preferred_username"
                if attrs.get(key) == name and (verified or attrs.get(f"{key}_verified") == "true"):
                    return _load(user)
        return None

    def user(self, pool: Row, name: str) -> Row:
        row = self.find_user(pool, name)
        if row is None:
            raise error("UserNotFoundException", "User does not exist.")
        return row

    def save_user(self, row: Row) -> None:
        row["doc"]["UserLastModifiedDate"] = self.clock()
        self.store.put(USERS, {**row, "doc": json.dumps(row["doc"])})

    def group(self, pool: Row, name: str) -> Row:
        row = _load(self.store.get(GROUPS, pool["id"], name or ""))
        if row is None:
            raise error("ResourceNotFoundException", "Group not found.")
        return row

    def groups_of(self, pool: Row, username: str) -> list[Row]:
        names = [m["group_name"] for m in
                 self.store.select(MEMBERS, {"pool_id": pool["id"], "username": username})]  # fmt: skip
        groups = [self.group(pool, n) for n in names]
        return sorted(groups, key=lambda g: (g["doc"].get("Precedence", 1 << 31), g["name"]))

    # -- keys and tokens ----------------------------------------------------------------

    def new_signing_key(self, pool_id: str) -> tuple[str, bytes]:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
        return str(uuid.uuid4()), self.master.seal(f"cognito:{pool_id}", 1, der)

    def signing_key(self, pool: Row) -> tuple[str, rsa.RSAPrivateKey]:
        cached = self._keys.get(pool["id"])
        if cached is None or cached[0] != pool["kid"]:
            der = self.master.open(f"cognito:{pool['id']}", 1, pool["signing_key"])
            key = serialization.load_der_private_key(der, None)
            cached = self._keys[pool["id"]] = (pool["kid"], key)  # type: ignore[assignment]
        return cached

    def jwks(self, pool: Row) -> dict[str, Any]:
        kid, key = self.signing_key(pool)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        return {"keys": [{"alg": "RS256", "e": public["e"], "kid": kid, "kty": "RSA",
                          "n": public["n"], "use": "sig"}]}  # fmt: skip

    def signing_jwks(self, issuer_url: str) -> dict[str, jwt.PyJWK] | None:
        """For sandlot's authorizers: the keys of the pool behind a Cognito issuer URL,
        None when no pool of this server has that issuer."""
        prefix, _, pool_id = issuer_url.rpartition("/")
        row = _load(self.store.get(POOLS, pool_id))
        if row is None or issuer(row["region"], pool_id) != issuer_url:
            return None
        return {k["kid"]: jwt.PyJWK(k) for k in self.jwks(row)["keys"]}

    def validity(self, client: Row, kind: str) -> int:
        """A token kind's lifetime in seconds (the client's setting in its unit)."""
        doc = client["doc"]
        defaults = {"AccessToken": (60, "minutes"), "IdToken": (60, "minutes"),
                    "RefreshToken": (30, "days")}  # fmt: skip
        amount = doc.get(f"{kind}Validity") or defaults[kind][0]
        unit = (doc.get("TokenValidityUnits") or {}).get(kind) or defaults[kind][1]
        return int(amount) * _UNIT_S[unit]

    def sign(self, pool: Row, claims: dict[str, Any]) -> str:
        kid, key = self.signing_key(pool)
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})

    def decode_access(self, pool_hint: str | None, token: str) -> tuple[Row, Row, dict]:
        """(pool, user, claims) of a valid, unrevoked access token; AWS's
        NotAuthorizedException otherwise."""
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            pool_id = str(unverified.get("iss", "")).rpartition("/")[2]
            pool = self.pool(None, pool_id)
            kid, key = self.signing_key(pool)
            claims = jwt.decode(token, key.public_key(), algorithms=["RS256"],
                                issuer=issuer(pool["region"], pool_id))  # fmt: skip
        except jwt.ExpiredSignatureError:
            raise not_authorized("Access Token has expired") from None
        except (jwt.PyJWTError, ServiceError):
            raise not_authorized("Invalid Access Token") from None
        if claims.get("token_use") != "access":
            raise not_authorized("Invalid Access Token")
        user = self.find_user(pool, claims.get("username", ""))
        if user is None or user["sub"] != claims.get("sub"):
            raise error("UserNotFoundException", "User does not exist.")
        # An access token lives as long as the sign-in (refresh token) it came from.
        origin = self.store.select(REFRESH, {"origin_jti": claims.get("origin_jti", "")})
        if not origin or origin[0]["revoked"]:
            raise not_authorized("Access Token has been revoked")
        return pool, user, claims
