"""Amazon Cognito user pools (``cognito-idp``): pools, app clients (with and without
secrets), users and groups, sign-up with confirmation codes, the sign-in flows
(USER_PASSWORD_AUTH, ADMIN_USER_PASSWORD_AUTH, USER_SRP_AUTH, REFRESH_TOKEN_AUTH) and
their challenges (NEW_PASSWORD_REQUIRED, PASSWORD_VERIFIER), RS256 tokens, GetUser,
GlobalSignOut, and the PreSignUp, PostConfirmation and PreTokenGeneration triggers.

There is no email or SMS: confirmation and reset codes are kept and shown by
``sandlot cognito codes`` (``/_sandlot/cognito/codes``). Challenge sessions live in
memory for AWS's three minutes (a restart ends sign-ins in progress, not sessions).
The JWKS and OpenID configuration are served as a data plane at
``<endpoint>/<poolId>/.well-known/{jwks.json,openid-configuration}``.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import uuid
from typing import Any

from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError
from sandlot.protocol.dataplane import DataPlaneRequest, DataPlaneResponse, json_response
from sandlot.services.cognitoidp import srp
from sandlot.services.cognitoidp.base import (
    SCOPE,
    CognitoBase,
    Row,
    attribute_list,
    attributes_of,
    check_policy,
    error,
    hash_password,
    invalid_parameter,
    issuer,
    not_authorized,
    password_matches,
    pool_arn,
    random_id,
    secret_hash,
)
from sandlot.services.cognitoidp.schema import (
    CLIENTS,
    CODES,
    GROUPS,
    MEMBERS,
    POOLS,
    REFRESH,
    USERS,
)
from sandlot.services.provider import RequestContext

SESSION_S = 180.0  # AWS's default AuthSessionValidity: 3 minutes
CODE_S = 86400.0  # sign-up codes last 24 hours
RESET_CODE_S = 3600.0  # password reset codes one hour
_FLOWS = {  # AuthFlow -> the ExplicitAuthFlows value that allows it
    "USER_PASSWORD_AUTH": "ALLOW_USER_PASSWORD_AUTH",
    "ADMIN_USER_PASSWORD_AUTH": "ALLOW_ADMIN_USER_PASSWORD_AUTH",
    "ADMIN_NO_SRP_AUTH": "ALLOW_ADMIN_USER_PASSWORD_AUTH",
    "USER_SRP_AUTH": "ALLOW_USER_SRP_AUTH",
    "REFRESH_TOKEN_AUTH": "ALLOW_REFRESH_TOKEN_AUTH",
    "REFRESH_TOKEN": "ALLOW_REFRESH_TOKEN_AUTH",
}
_LEGACY_FLOWS = {"ADMIN_NO_SRP_AUTH": "ALLOW_ADMIN_USER_PASSWORD_AUTH",
                 "USER_PASSWORD_AUTH": "ALLOW_USER_PASSWORD_AUTH",
                 "CUSTOM_AUTH_FLOW_ONLY": "ALLOW_CUSTOM_AUTH"}  # fmt: skip
_DEFAULT_FLOWS = ["ALLOW_USER_SRP_AUTH", "ALLOW_CUSTOM_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
_POOL_FIELDS = ("Policies", "LambdaConfig", "AutoVerifiedAttributes", "AliasAttributes",
                "UsernameAttributes", "SmsVerificationMessage", "EmailVerificationMessage",
                "EmailVerificationSubject", "VerificationMessageTemplate",
                "SmsAuthenticationMessage", "MfaConfiguration", "DeviceConfiguration",
                "EmailConfiguration", "SmsConfiguration", "AdminCreateUserConfig",
                "UserPoolAddOns", "UsernameConfiguration", "AccountRecoverySetting",
                "DeletionProtection", "UserAttributeUpdateSettings", "UserPoolTier")  # fmt: skip
_CLIENT_FIELDS = ("RefreshTokenValidity", "AccessTokenValidity", "IdTokenValidity",
                  "TokenValidityUnits", "ReadAttributes", "WriteAttributes",
                  "SupportedIdentityProviders", "CallbackURLs", "LogoutURLs",
                  "DefaultRedirectURI", "AllowedOAuthFlows", "AllowedOAuthScopes",
                  "AllowedOAuthFlowsUserPoolClient", "AnalyticsConfiguration",
                  "PreventUserExistenceErrors", "EnableTokenRevocation",
                  "EnablePropagateAdditionalUserContextData", "AuthSessionValidity")  # fmt: skip
_STANDARD = ("sub", "name", "given_name", "family_name", "middle_name", "nickname",
             "preferred_username", "profile", "picture", "website", "email",
             "email_verified", "gender", "birthdate", "zoneinfo", "locale", "phone_number",
             "phone_number_verified", "address", "updated_at")  # fmt: skip
_FILTER = re.compile(r'^\s*([\w:]+)\s*(=|\^=)\s*"([^"]*)"\s*$')
_TRIGGER_NAMES = {"PreSignUp": "PreSignUp", "PostConfirmation": "PostConfirmation",
                  "PreTokenGeneration": "PreTokenGeneration"}  # fmt: skip


_FIXED_POOL_FIELDS = ("Id", "Name", "Arn", "CreationDate", "SchemaAttributes",
                      "UsernameAttributes", "AliasAttributes", "UsernameConfiguration",
                      "UserPoolTags")  # fmt: skip


def _settings(params: dict, now: float) -> dict[str, Any]:
    """A pool's changeable settings from a Create or Update request, AWS's defaults for
    those not given."""
    doc: dict[str, Any] = {"Policies": {"PasswordPolicy": {}}, "LambdaConfig": {},
                           "MfaConfiguration": "OFF", "DeletionProtection": "INACTIVE",
                           "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": False,
                                                     "UnusedAccountValidityDays": 7},
                           "LastModifiedDate": now}  # fmt: skip
    doc.update((f, params[f]) for f in _POOL_FIELDS if params.get(f) is not None)
    policy = {"MinimumLength": 8, "RequireUppercase": True, "RequireLowercase": True,
              "RequireNumbers": True, "RequireSymbols": True,
              "TemporaryPasswordValidityDays": 7}  # fmt: skip
    doc["Policies"]["PasswordPolicy"] = {**policy, **doc["Policies"].get("PasswordPolicy", {})}
    return doc


def _schema() -> list[dict]:
    out = []
    for name in _STANDARD:
        kind = (
            "Boolean"
            if name.endswith("_verified")
            else "Number"
            if name == "updated_at"
            else "String"
        )
        out.append({"Name": name, "AttributeDataType": kind, "DeveloperOnlyAttribute": False,
                    "Mutable": name != "sub", "Required": name == "sub",
                    **({"StringAttributeConstraints": {"MinLength": "1" if name == "sub" else "0",
                                                       "MaxLength": "2048"}}
                       if kind == "String" else {})})  # fmt: skip
    return out


def _user_type(user: Row, *, admin: bool = False) -> dict[str, Any]:
    doc = user["doc"]
    out: dict[str, Any] = {"Username": user["username"],
                           ("UserAttributes" if admin else "Attributes"): attribute_list(user),
                           "UserCreateDate": doc["UserCreateDate"],
                           "UserLastModifiedDate": doc["UserLastModifiedDate"],
                           "Enabled": doc.get("Enabled", True), "UserStatus": doc["UserStatus"]}  # fmt: skip
    return out


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _timestamp_ok(text: str, now: float) -> bool:
    """A PASSWORD_VERIFIER TIMESTAMP ("Tue Dec 3 18:40:02 UTC 2026") within 5 minutes."""
    try:
        when = dt.datetime.strptime(text, "%a %b %d %H:%M:%S UTC %Y").replace(tzinfo=dt.UTC)
    except ValueError:
        return False
    return abs(when.timestamp() - now) <= 300


class CognitoIdpProvider(CognitoBase):
    """The cognito-idp operations sandlot serves; see the module docstring."""

    def __init__(self, platform) -> None:
        super().__init__(platform)
        # session token -> (challenge, pool id, client id, username, expires)
        self._sessions: dict[str, tuple[str, str, str, str, float]] = {}

    # -- pools --------------------------------------------------------------------------

    def create_user_pool(self, ctx: RequestContext, params: dict) -> dict:
        if params.get("UsernameAttributes") and params.get("AliasAttributes"):
            raise invalid_parameter("Only one of AliasAttributes and UsernameAttributes can "
                                    "be set in a User Pool")  # fmt: skip
        pool_id = f"{ctx.region}_{random_id(9, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789')}"
        now = self.clock()
        doc: dict[str, Any] = {"Id": pool_id, "Name": params["PoolName"],
                               "CreationDate": now, **_settings(params, now)}  # fmt: skip
        schema = _schema()
        for extra in params.get("Schema") or []:
            name = extra["Name"]
            found = next((s for s in schema if s["Name"] == name), None)
            if found is not None:
                found.update(extra)
            else:
                schema.append({"AttributeDataType": "String", "DeveloperOnlyAttribute": False,
                               "Mutable": True, "Required": False, **extra,
                               "Name": f"custom:{name}"})  # fmt: skip
        doc["SchemaAttributes"] = schema
        doc["UserPoolTags"] = params.get("UserPoolTags") or {}
        kid, sealed = self.new_signing_key(pool_id)
        row = {"id": pool_id, "account_id": ctx.account_id, "region": ctx.region, "doc": doc,
               "kid": kid, "signing_key": sealed}  # fmt: skip
        doc["Arn"] = pool_arn(row)
        self.save_pool(row)
        return {"UserPool": self._pool_type(row)}

    def _pool_type(self, row: Row) -> dict:
        count = self.store.count(USERS, {"pool_id": row["id"]})
        return {**row["doc"], "EstimatedNumberOfUsers": count}

    def describe_user_pool(self, ctx: RequestContext, params: dict) -> dict:
        return {"UserPool": self._pool_type(self.pool(ctx, params["UserPoolId"]))}

    def list_user_pools(self, ctx: RequestContext, params: dict) -> dict:
        rows = self.store.select(POOLS, {"account_id": ctx.account_id, "region": ctx.region},
                                 order_by=("id",))  # fmt: skip
        start = int(params.get("NextToken") or 0)
        limit = int(params.get("MaxResults") or 60)
        pools = []
        for row in rows[start : start + limit]:
            doc = json.loads(row["doc"])
            pools.append({k: doc[k] for k in ("Id", "Name", "LambdaConfig", "LastModifiedDate",
                                              "CreationDate") if k in doc})  # fmt: skip
        out: dict[str, Any] = {"UserPools": pools}
        if start + limit < len(rows):
            out["NextToken"] = str(start + limit)
        return out

    def update_user_pool(self, ctx: RequestContext, params: dict) -> dict:
        row = self.pool(ctx, params["UserPoolId"])
        # As AWS: a setting the update does not give returns to its default; what the
        # API cannot change (name, schema, username and alias attributes) stays.
        kept = {k: v for k, v in row["doc"].items() if k in _FIXED_POOL_FIELDS}
        row["doc"] = {**kept, **_settings(params, self.clock())}
        if params.get("UserPoolTags") is not None:
            row["doc"]["UserPoolTags"] = params["UserPoolTags"]
        self.save_pool(row)
        return {}

    def delete_user_pool(self, ctx: RequestContext, params: dict) -> dict:
        row = self.pool(ctx, params["UserPoolId"])
        if row["doc"].get("DeletionProtection") == "ACTIVE":
            raise invalid_parameter("The user pool cannot be deleted because deletion "
                                    "protection is activated.")  # fmt: skip
        with self.store.transaction():
            for table in (CLIENTS, USERS, GROUPS, MEMBERS, REFRESH, CODES):
                self.store.delete_where(table, {"pool_id": row["id"]})
            self.store.delete(POOLS, row["id"])
        return {}

    # -- app clients --------------------------------------------------------------------

    def create_user_pool_client(self, ctx: RequestContext, params: dict) -> dict:
        pool = self.pool(ctx, params["UserPoolId"])
        now = self.clock()
        doc: dict[str, Any] = {"UserPoolId": pool["id"], "ClientName": params["ClientName"],
                               "ClientId": random_id(26), "CreationDate": now,
                               "LastModifiedDate": now, "EnableTokenRevocation": True,
                               "AuthSessionValidity": 3, "AllowedOAuthFlowsUserPoolClient": False}  # fmt: skip
        doc.update((f, params[f]) for f in _CLIENT_FIELDS if params.get(f) is not None)
        doc["ExplicitAuthFlows"] = self._flows(params.get("ExplicitAuthFlows"))
        doc.setdefault("RefreshTokenValidity", 30)
        if params.get("GenerateSecret"):
            doc["ClientSecret"] = (
                base64.b32encode(secrets.token_bytes(32)).decode().lower().rstrip("=")[:51]
            )
        self.save_client({"id": doc["ClientId"], "pool_id": pool["id"], "doc": doc})
        return {"UserPoolClient": doc}

    @staticmethod
    def _flows(flows: list[str] | None) -> list[str]:
        if not flows:
            return list(_DEFAULT_FLOWS)
        if any(f.startswith("ALLOW_") for f in flows) and any(f in _LEGACY_FLOWS for f in flows):
            raise invalid_parameter("ExplicitAuthFlow combination of legacy and new values "
                                    "is not supported")  # fmt: skip
        return list(flows)

    def describe_user_pool_client(self, ctx: RequestContext, params: dict) -> dict:
        pool = self.pool(ctx, params["UserPoolId"])
        return {"UserPoolClient": self.client(pool, params["ClientId"])["doc"]}

    def list_user_pool_clients(self, ctx: RequestContext, params: dict) -> dict:
        pool = self.pool(ctx, params["UserPoolId"])
        rows = self.store.select(CLIENTS, {"pool_id": pool["id"]}, order_by=("id",))
        return {"UserPoolClients": [
            {k: json.loads(r["doc"])[k] for k in ("ClientId", "UserPoolId", "ClientName")}
            for r in rows]}  # fmt: skip

    def update_user_pool_client(self, ctx: RequestContext, params: dict) -> dict:
        pool = self.pool(ctx, params["UserPoolId"])
        row = self.client(pool, params["ClientId"])
        doc = row["doc"]
        keep = {k: doc[k] for k in ("UserPoolId", "ClientId", "ClientSecret", "CreationDate")
                if k in doc}  # fmt: skip
        # AWS's Update replaces the whole configuration: what is not given is reset.
        doc = {**keep, "ClientName": params.get("ClientName", doc["ClientName"]),
               "LastModifiedDate": self.clock(), "EnableTokenRevocation": True,
               "AuthSessionValidity": 3, "RefreshTokenValidity": 30}  # fmt: skip
        doc.update((f, params[f]) for f in _CLIENT_FIELDS if params.get(f) is not None)
        doc["ExplicitAuthFlows"] = self._flows(params.get("ExplicitAuthFlows"))
        self.save_client({**row, "doc": doc})
        return {"UserPoolClient": doc}

    def delete_user_pool_client(self, ctx: RequestContext, params: dict) -> dict:
        pool = self.pool(ctx, params["UserPoolId"])
        self.store.delete(CLIENTS, self.client(pool, params["ClientId"])["id"])
        return {}

    # -- users (admin) ------------------------------------------------------------------

    def _new_user(self, pool: Row, username: str, attributes: list[dict], status: str) -> Row:
        doc = pool["doc"]
        attrs = {a["Name"]: a.get("Value", "") for a in attributes or []}
        if doc.get("UsernameAttributes"):
            # The username is then an email or phone number, kept as that attribute; the
            # user's internal name is its sub.
            key = "email" if "@" in username else "phone_number"
            if key not in doc["UsernameAttributes"]:
                raise invalid_parameter("Username should be either an email or a phone number.")
            attrs[key] = username
            sub = str(uuid.uuid4())
            username = sub
        else:
            sub = str(uuid.uuid4())
        if self.find_user(pool, username) is not None or any(
            self.find_user(pool, attrs[k]) for k in ("email", "phone_number")
            if k in attrs and k in (doc.get("UsernameAttributes") or [])
        ):  # fmt: skip
            raise error("UsernameExistsException", "User account already exists")
        for name in attrs:
            if not name.startswith("custom:") and name not in _STANDARD:
                raise invalid_parameter(f"Attributes did not conform to the schema: {name}: "
                                        "Attribute does not exist in the schema.\n")  # fmt: skip
        attrs["sub"] = sub
        attrs = {"sub": sub, **attrs}
        now = self.clock()
        return {"pool_id": pool["id"], "username": username, "sub": sub,
                "doc": {"Attributes": attrs, "UserCreateDate": now, "UserLastModifiedDate": now,
                        "Enabled": True, "UserStatus": status},
                "password": None, "srp_salt": None, "srp_verifier": None,
                "temporary_expires": None}  # fmt: skip

    async def set_password(self, pool: Row, user: Row, password: str, *, temporary: bool) -> None:
        """Store a new password as its scrypt hash and SRP verifier (both slow by design:
        computed off the event loop)."""
        check_policy(pool, password)
        pool_name = pool["id"].split("_", 1)[1]

        def derive() -> tuple[str, int, int]:
            return hash_password(password), *srp.verifier(pool_name, user["username"], password)

        user["password"], salt, verifier = await asyncio.to_thread(derive)
        user["srp_salt"], user["srp_verifier"] = f"{salt:x}", f"{verifier:x}"
        days = pool["doc"]["Policies"]["PasswordPolicy"].get("TemporaryPasswordValidityDays", 7)
        user["temporary_expires"] = self.clock() + int(days) * 86400 if temporary else None
        user["doc"]["UserStatus"] = "FORCE_CHANGE_PASSWORD" if temporary else "CONFIRMED"

    async def admin_create_user(self, ctx: RequestContext, params: dict) -> dict:
        pool = self.pool(ctx, params["UserPoolId"])
        if params.get("MessageAction") == "RESEND":
            user = self.user(pool, params["Username"])
        else:
            user = self._new_user(pool, params["Username"], params.get("UserAttributes"),
                                  "FORCE_CHANGE_PASSWORD")  # fmt: skip
        password = params.get("TemporaryPassword")
        generated = password is None
        if generated:
            password = (secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") + secrets.choice("abcdefghijkmnpqrstuvwxyz")
                        + secrets.choice("23456789") + secrets.choice("^$*.!@#%&") + random_id(8))  # fmt: skip
        await self.set_password(pool, user, password, temporary=True)
        self.save_user(user)
        if generated and params.get("MessageAction") != "SUPPRESS":
            # AWS would send this in the invitation; there is no mail, so it is kept.
            self._keep_code(pool, user, "TEMPORARY_PASSWORD", password, CODE_S * 7)
        return {"User": _user_type(user)}

    async def admin_set_user_password(self, ctx: RequestContext, params: dict) -> dict:
        pool = self.pool(ctx, params["UserPoolId"])
        user = self.user(pool, params["Username"])
        await self.set_password(
            pool, user, params["Password"], temporary=not params.get("Permanent")
        )
        self.save_user(user)
        return {}

    def admin_get_user(self, ctx: RequestContext, params: dict) -> dict:
        pool = self.pool(ctx, params["UserPoolId"])
        return _user_type(self.user(pool, params["Username"]), admin=True)

    def admin_delete_user(self, ctx: RequestContext, params: dict) -> dict:
        pool = self.pool(ctx, params["UserPoolId"])
        user = self.user(pool, params["Username"])
        with self.store.transaction():
            for table in (MEMBERS, REFRESH, CODES):
                self.store.delete_where(
                    table, {"pool_id": pool["id"], "username": user["username"]}
                )
            self.store.delete(USERS, pool["id"], user["username"])
        return {}

    def admin_update_user_attributes(self, ctx: RequestContext, params: dict) -> dict:
        pool = self.pool(ctx, params["UserPoolId"])
        user = self.user(pool, params["Username"])
        for attribute in params.get("UserAttributes") or []:
            name = attribute["Name"]
            if name == "sub":
                raise invalid_parameter("Cannot modify the non-mutable attribute sub")
            user["doc"]["Attributes"][name] = attribute.get("Value", "")
        self.save_user(user)
        return {}

    def admin_confirm_sign_up(self, ctx: RequestContext, params: dict) -> dict:
        pool = self.pool(ctx, params["UserPoolId"])
        user = self.user(pool, params["Username"])
        if user["doc"]["UserStatus"] != "UNCONFIRMED":
            raise not_authorized(f"User cannot be confirmed. Current status is "
                                 f"{user['doc']['UserStatus']}")  # fmt: skip
        user["doc"]["UserStatus"] = "CONFIRMED"
        self.save_user(user)
        return {}

    def admin_disable_user(self, ctx: RequestContext, params: dict) -> dict:
        return self._enable(ctx, params, False)

    def admin_enable_user(self, ctx: RequestContext, params: dict) -> dict:
        return self._enable(ctx, params, True)

    def _enable(self, ctx: RequestContext, params: dict, enabled: bool) -> dict:
        pool = self.pool(ctx, params["UserPoolId"])
        user = self.user(pool, params["Username"])
        user["doc"]["Enabled"] = enabled
        self.save_user(user)
        return {}

    def list_users(self, ctx: RequestContext, params: dict) -> dict:
        pool = self.pool(ctx, params["UserPoolId"])
        users = [self.find_user(pool, r["username"]) for r in
                 self.store.select(USERS, {"pool_id": pool["id"]}, order_by=("username",))]  # fmt: skip
        text = params.get("Filter")
        if text:
            found = _FILTER.match(text)
            if found is None:
                raise invalid_parameter("Error while parsing filter.")
            name, operator, value = found.groups()

            def keep(user: Row) -> bool:  # noqa: E306
                if name == "username":
                    actual = user["username"]
                elif name in ("status", "cognito:user_status"):
                    actual = user["doc"]["UserStatus"]
                else:
                    actual = attributes_of(user).get(name)
                if actual is None:
                    return False
                return actual == value if operator == "=" else actual.startswith(value)

            users = [u for u in users if keep(u)]
        start = int(params.get("PaginationToken") or 0)
        limit = int(params.get("Limit") or 60)
        out: dict[str, Any] = {"Users": [_user_type(u) for u in users[start : start + limit]]}
        if start + limit < len(users):
            out["PaginationToken"] = str(start + limit)
        return out

    # -- groups -------------------------------------------------------------------------

    def create_group(self, ctx: RequestContext, params: dict) -> dict:
        pool = self.pool(ctx, params["UserPoolId"])
        now = self.clock()
        doc = {"GroupName": params["GroupName"], "UserPoolId": pool["id"],
               "CreationDate": now, "LastModifiedDate": now}  # fmt: skip
        doc.update((k, params[k]) for k in ("Description", "RoleArn", "Precedence") if k in params)
        row = {"pool_id": pool["id"], "name": params["GroupName"], "doc": json.dumps(doc)}
        if not self.store.put(GROUPS, row, replace=False):
            raise error("GroupExistsException", "A group with the name already exists.")
        return {"Group": doc}

    def get_group(self, ctx: RequestContext, params: dict) -> dict:
        pool = self.pool(ctx, params["UserPoolId"])
        return {"Group": self.group(pool, params["GroupName"])["doc"]}

    def update_group(self, ctx: RequestContext, params: dict) -> dict:
        pool = self.pool(ctx, params["UserPoolId"])
        group = self.group(pool, params["GroupName"])
        doc = group["doc"]
        doc.update((k, params[k]) for k in ("Description", "RoleArn", "Precedence") if k in params)
        doc["LastModifiedDate"] = self.clock()
        self.store.put(GROUPS, {**group, "doc": json.dumps(doc)})
        return {"Group": doc}

    def list_groups(self, ctx: RequestContext, params: dict) -> dict:
        pool = self.pool(ctx, params["UserPoolId"])
        rows = self.store.select(GROUPS, {"pool_id": pool["id"]}, order_by=("name",))
        return {"Groups": [json.loads(r["doc"]) for r in rows]}

    def delete_group(self, ctx: RequestContext, params: dict) -> dict:
        pool = self.pool(ctx, params["UserPoolId"])
        group = self.group(pool, params["GroupName"])
        with self.store.transaction():
            self.store.delete_where(MEMBERS, {"pool_id": pool["id"], "group_name": group["name"]})
            self.store.delete(GROUPS, pool["id"], group["name"])
        return {}

    def admin_add_user_to_group(self, ctx: RequestContext, params: dict) -> dict:
        pool = self.pool(ctx, params["UserPoolId"])
        group = self.group(pool, params["GroupName"])
        user = self.user(pool, params["Username"])
        self.store.put(MEMBERS, {"pool_id": pool["id"], "username": user["username"],
                                 "group_name": group["name"]})  # fmt: skip
        return {}

    def admin_remove_user_from_group(self, ctx: RequestContext, params: dict) -> dict:
        pool = self.pool(ctx, params["UserPoolId"])
        group = self.group(pool, params["GroupName"])
        user = self.user(pool, params["Username"])
        self.store.delete(MEMBERS, pool["id"], user["username"], group["name"])
        return {}

    def admin_list_groups_for_user(self, ctx: RequestContext, params: dict) -> dict:
        pool = self.pool(ctx, params["UserPoolId"])
        user = self.user(pool, params["Username"])
        return {"Groups": [g["doc"] for g in self.groups_of(pool, user["username"])]}

    def list_users_in_group(self, ctx: RequestContext, params: dict) -> dict:
        pool = self.pool(ctx, params["UserPoolId"])
        group = self.group(pool, params["GroupName"])
        names = [m["username"] for m in
                 self.store.select(MEMBERS, {"pool_id": pool["id"], "group_name": group["name"]})]  # fmt: skip
        return {"Users": [_user_type(self.user(pool, n)) for n in sorted(names)]}

    # -- sign-up and codes --------------------------------------------------------------

    def _app_client(self, params: dict, username: str | None) -> tuple[Row, Row]:
        """(pool, client) of an unauthenticated call; checks SECRET_HASH when the client
        has a secret."""
        try:
            client = self.client(None, params["ClientId"])
        except ServiceError:
            raise error("ResourceNotFoundException", "User pool client "
                        f"{params['ClientId']} does not exist.") from None  # fmt: skip
        pool = self.pool(None, client["pool_id"])
        secret = client["doc"].get("ClientSecret")
        if secret is not None:
            given = (
                params.get("SecretHash")
                or (params.get("AuthParameters") or {}).get("SECRET_HASH")
                or (params.get("ChallengeResponses") or {}).get("SECRET_HASH")
            )
            if not given:
                raise not_authorized(f"Client {client['id']} is configured with secret but "
                                     "SECRET_HASH was not received")  # fmt: skip
            if username is None or not any(hmac.compare_digest(given, secret_hash(n, client["id"], secret))
                                           for n in self._names(pool, username)):  # fmt: skip
                raise not_authorized(f"Unable to verify secret hash for client {client['id']}")
        return pool, client

    def _names(self, pool: Row, username: str) -> list[str]:
        """The names a SECRET_HASH may have been made with: as given, or the user's
        username or sub."""
        user = self.find_user(pool, username)
        return [username] + ([user["username"], user["sub"]] if user else [])

    def _keep_code(self, pool: Row, user: Row, purpose: str, code: str, ttl: float) -> dict:
        attrs = attributes_of(user)
        medium = "EMAIL" if "email" in attrs else "SMS"
        destination = attrs.get("email") or attrs.get("phone_number") or ""
        now = self.clock()
        self.store.put(CODES, {"pool_id": pool["id"], "username": user["username"],
                               "purpose": purpose, "code": code, "destination": destination,
                               "created": now, "expires": now + ttl})  # fmt: skip
        masked = destination[:1] + "***" + destination[destination.find("@"):] if "@" in destination \
            else "+*******" + destination[-4:]  # fmt: skip
        attribute = "email" if medium == "EMAIL" else "phone_number"
        return {"Destination": masked, "DeliveryMedium": medium, "AttributeName": attribute}

    def _check_code(self, pool: Row, user: Row, purpose: str, code: str) -> None:
        row = self.store.get(CODES, pool["id"], user["username"], purpose)
        if row is None or not hmac.compare_digest(row["code"], code or ""):
            raise error(
                "CodeMismatchException", "Invalid verification code provided, please try again."
            )
        if row["expires"] < self.clock():
            raise error(
                "ExpiredCodeException", "Invalid code provided, please request a code again."
            )
        self.store.delete(CODES, pool["id"], user["username"], purpose)

    async def sign_up(self, ctx: RequestContext, params: dict) -> dict:
        pool, client = self._app_client(params, params["Username"])
        if pool["doc"].get("AdminCreateUserConfig", {}).get("AllowAdminCreateUserOnly"):
            raise not_authorized("SignUp is not permitted for this user pool")
        user = self._new_user(pool, params["Username"], params.get("UserAttributes"), "UNCONFIRMED")
        await self.set_password(pool, user, params["Password"], temporary=False)
        user["doc"]["UserStatus"] = "UNCONFIRMED"
        answer = await self.trigger(pool, client, "PreSignUp", "PreSignUp_SignUp", user, {
            "userAttributes": attributes_of(user),
            "validationData": {a["Name"]: a["Value"] for a in params.get("ValidationData") or []},
            "clientMetadata": params.get("ClientMetadata") or {}},
            {"autoConfirmUser": False, "autoVerifyEmail": False, "autoVerifyPhone": False})  # fmt: skip
        confirmed = bool(answer.get("autoConfirmUser"))
        if answer.get("autoVerifyEmail") and "email" in attributes_of(user):
            user["doc"]["Attributes"]["email_verified"] = "true"
        if answer.get("autoVerifyPhone") and "phone_number" in attributes_of(user):
            user["doc"]["Attributes"]["phone_number_verified"] = "true"
        out: dict[str, Any] = {"UserConfirmed": confirmed, "UserSub": user["sub"]}
        if confirmed:
            user["doc"]["UserStatus"] = "CONFIRMED"
            self.save_user(user)
            await self._post_confirmation(pool, client, user, "PostConfirmation_ConfirmSignUp")
        else:
            self.save_user(user)
            out["CodeDeliveryDetails"] = self._keep_code(pool, user, "SIGN_UP", _code(), CODE_S)
        return out

    async def confirm_sign_up(self, ctx: RequestContext, params: dict) -> dict:
        pool, client = self._app_client(params, params["Username"])
        user = self.user(pool, params["Username"])
        if user["doc"]["UserStatus"] != "UNCONFIRMED":
            raise not_authorized(f"User cannot be confirmed. Current status is "
                                 f"{user['doc']['UserStatus']}")  # fmt: skip
        self._check_code(pool, user, "SIGN_UP", params["ConfirmationCode"])
        user["doc"]["UserStatus"] = "CONFIRMED"
        for attribute in pool["doc"].get("AutoVerifiedAttributes") or []:
            if attribute in attributes_of(user):
                user["doc"]["Attributes"][f"{attribute}_verified"] = "true"
        self.save_user(user)
        await self._post_confirmation(pool, client, user, "PostConfirmation_ConfirmSignUp")
        return {}

    def resend_confirmation_code(self, ctx: RequestContext, params: dict) -> dict:
        pool, _ = self._app_client(params, params["Username"])
        user = self.user(pool, params["Username"])
        if user["doc"]["UserStatus"] != "UNCONFIRMED":
            raise invalid_parameter("User is already confirmed.")
        return {"CodeDeliveryDetails": self._keep_code(pool, user, "SIGN_UP", _code(), CODE_S)}

    def forgot_password(self, ctx: RequestContext, params: dict) -> dict:
        pool, _ = self._app_client(params, params["Username"])
        user = self.user(pool, params["Username"])
        if user["doc"]["UserStatus"] == "FORCE_CHANGE_PASSWORD":
            raise not_authorized("User password cannot be reset in the current state.")
        attrs = attributes_of(user)
        if not (attrs.get("email") or attrs.get("phone_number")):
            raise invalid_parameter("Cannot reset password for the user as there is no "
                                    "registered/verified email or phone_number")  # fmt: skip
        details = self._keep_code(pool, user, "FORGOT_PASSWORD", _code(), RESET_CODE_S)
        return {"CodeDeliveryDetails": details}

    async def confirm_forgot_password(self, ctx: RequestContext, params: dict) -> dict:
        pool, client = self._app_client(params, params["Username"])
        user = self.user(pool, params["Username"])
        self._check_code(pool, user, "FORGOT_PASSWORD", params["ConfirmationCode"])
        await self.set_password(pool, user, params["Password"], temporary=False)
        self.save_user(user)
        return {}

    def codes(self, pool_id: str | None = None) -> list[dict]:
        """For `sandlot cognito codes`: the codes AWS would have sent, newest last."""
        where = {"pool_id": pool_id} if pool_id else None
        return [{k: r[k] for k in ("pool_id", "username", "purpose", "code", "destination",
                                   "created", "expires")}
                for r in self.store.select(CODES, where, order_by=("created",))]  # fmt: skip

    # -- sign-in ------------------------------------------------------------------------

    async def initiate_auth(self, ctx: RequestContext, params: dict) -> dict:
        return await self._initiate(params, admin=False)

    async def admin_initiate_auth(self, ctx: RequestContext, params: dict) -> dict:
        self.client(self.pool(ctx, params["UserPoolId"]), params["ClientId"])
        return await self._initiate(params, admin=True)

    async def _initiate(self, params: dict, *, admin: bool) -> dict:
        flow = params["AuthFlow"]
        auth = params.get("AuthParameters") or {}
        allowed = {"USER_PASSWORD_AUTH", "USER_SRP_AUTH", "REFRESH_TOKEN_AUTH", "REFRESH_TOKEN"}
        if admin:
            allowed |= {"ADMIN_USER_PASSWORD_AUTH", "ADMIN_NO_SRP_AUTH"}
        if flow not in allowed:
            if flow in _FLOWS:  # an admin flow through InitiateAuth
                raise invalid_parameter(f"Unsupported auth flow {flow} for this operation.")
            raise _not_served(f"The {flow} flow")
        refresh = flow in ("REFRESH_TOKEN_AUTH", "REFRESH_TOKEN")
        username = None if refresh else auth.get("USERNAME")
        if not refresh and not username:
            raise invalid_parameter("Missing required parameter USERNAME")
        pool, client = (
            self._app_client(params, username) if not refresh else self._refresh_client(params)
        )
        flows = client["doc"]["ExplicitAuthFlows"]
        if _FLOWS[flow] not in flows and not any(
            _LEGACY_FLOWS.get(f) == _FLOWS[flow] for f in flows
        ):
            raise invalid_parameter(f"{flow.removesuffix('_AUTH') if refresh else flow} flow not "
                                    "enabled for this client")  # fmt: skip
        if refresh:
            return await self._refresh(pool, client, auth.get("REFRESH_TOKEN") or "", params)
        user = self.find_user(pool, username)
        if user is None:
            if client["doc"].get("PreventUserExistenceErrors") == "ENABLED":
                raise not_authorized()
            raise error("UserNotFoundException", "User does not exist.")
        if flow == "USER_SRP_AUTH":
            return await self._srp_challenge(pool, client, user, auth)
        matches = await asyncio.to_thread(
            password_matches, user["password"], auth.get("PASSWORD") or ""
        )
        if not matches:
            raise not_authorized()
        return await self._signed_in(pool, client, user, params)

    async def _signed_in(self, pool: Row, client: Row, user: Row, params: dict) -> dict:
        """The password was right: a challenge, AWS's refusal, or tokens."""
        status = user["doc"]["UserStatus"]
        if not user["doc"].get("Enabled", True):
            raise not_authorized("User is disabled.")
        if status == "UNCONFIRMED":
            raise error("UserNotConfirmedException", "User is not confirmed.")
        if status == "FORCE_CHANGE_PASSWORD":
            if user["temporary_expires"] and user["temporary_expires"] < self.clock():
                raise not_authorized("Temporary password has expired and must be reset by an "
                                     "administrator.")  # fmt: skip
            attrs = {k: v for k, v in attributes_of(user).items() if k != "sub"}
            return {"ChallengeName": "NEW_PASSWORD_REQUIRED",
                    "Session": self._session("NEW_PASSWORD_REQUIRED", pool, client, user),
                    "ChallengeParameters": {"USER_ID_FOR_SRP": user["username"],
                                            "requiredAttributes": "[]",
                                            "userAttributes": json.dumps(attrs)}}  # fmt: skip
        if status == "RESET_REQUIRED":
            raise error("PasswordResetRequiredException", "Password reset required for the user")
        return {
            "ChallengeParameters": {},
            "AuthenticationResult": await self.issue(pool, client, user, params, new=True),
        }

    def _session(self, challenge: str, pool: Row, client: Row, user: Row) -> str:
        now = self.clock()
        self._sessions = {k: v for k, v in self._sessions.items() if v[4] > now}
        token = base64.urlsafe_b64encode(secrets.token_bytes(96)).decode()
        self._sessions[token] = (
            challenge,
            pool["id"],
            client["id"],
            user["username"],
            now + SESSION_S,
        )
        return token

    async def _srp_challenge(self, pool: Row, client: Row, user: Row, auth: dict) -> dict:
        try:
            big_a = int(auth.get("SRP_A") or "", 16)
        except ValueError:
            raise invalid_parameter("Missing required parameter SRP_A") from None
        if big_a % srp.N == 0:
            raise not_authorized()
        if user["srp_verifier"] is None:
            raise not_authorized()
        v = int(user["srp_verifier"], 16)
        b, big_b = await asyncio.to_thread(srp.server_ephemeral, v)
        state = json.dumps({"p": pool["id"], "c": client["id"], "u": user["username"],
                            "a": f"{big_a:x}", "b": f"{b:x}", "B": f"{big_b:x}",
                            "t": self.clock()}).encode()  # fmt: skip
        block = self.master.seal("cognito-srp", 1, state)
        return {"ChallengeName": "PASSWORD_VERIFIER",
                "ChallengeParameters": {"SALT": user["srp_salt"], "SRP_B": f"{big_b:x}",
                                        "USER_ID_FOR_SRP": user["username"],
                                        "USERNAME": user["username"],
                                        "SECRET_BLOCK": base64.b64encode(block).decode()}}  # fmt: skip

    async def respond_to_auth_challenge(self, ctx: RequestContext, params: dict) -> dict:
        return await self._respond(params)

    async def admin_respond_to_auth_challenge(self, ctx: RequestContext, params: dict) -> dict:
        self.client(self.pool(ctx, params["UserPoolId"]), params["ClientId"])
        return await self._respond(params)

    async def _respond(self, params: dict) -> dict:
        name = params["ChallengeName"]
        answers = params.get("ChallengeResponses") or {}
        pool, client = self._app_client(params, answers.get("USERNAME"))
        if name == "PASSWORD_VERIFIER":
            return await self._password_verifier(pool, client, answers, params)
        if name != "NEW_PASSWORD_REQUIRED":
            raise _not_served(f"The {name} challenge")
        session = self._sessions.pop(params.get("Session") or "", None)
        if session is None or session[4] < self.clock() or session[0] != name \
                or session[2] != client["id"]:  # fmt: skip
            raise not_authorized("Invalid session for the user, session is expired.")
        user = self.user(pool, session[3])
        if answers.get("USERNAME") and self.find_user(pool, answers["USERNAME"]) != user:
            raise not_authorized("Invalid session for the user.")
        if not answers.get("NEW_PASSWORD"):
            raise invalid_parameter("Missing required parameter NEW_PASSWORD")
        await self.set_password(pool, user, answers["NEW_PASSWORD"], temporary=False)
        for key, value in answers.items():
            if key.startswith("userAttributes."):
                user["doc"]["Attributes"][key.removeprefix("userAttributes.")] = value
        self.save_user(user)
        return await self._signed_in(pool, client, user, params)

    async def _password_verifier(self, pool: Row, client: Row, answers: dict, params: dict) -> dict:
        try:
            block = base64.b64decode(answers.get("PASSWORD_CLAIM_SECRET_BLOCK") or "")
            state = json.loads(self.master.open("cognito-srp", 1, block))
            signature = base64.b64decode(answers.get("PASSWORD_CLAIM_SIGNATURE") or "")
        except Exception:
            raise not_authorized() from None
        if state["c"] != client["id"] or state["t"] + SESSION_S < self.clock():
            raise not_authorized()
        user = self.user(pool, state["u"])
        timestamp = answers.get("TIMESTAMP") or ""
        if user["srp_verifier"] is None or not _timestamp_ok(timestamp, self.clock()):
            raise not_authorized()
        numbers = (int(state[k], 16) for k in ("a", "B", "b"))
        key = await asyncio.to_thread(srp.session_key, *numbers, int(user["srp_verifier"], 16))
        expected = srp.signature(key or b"", pool["id"].split("_", 1)[1], user["username"], block,
                                 timestamp) if key else b""  # fmt: skip
        if not key or not hmac.compare_digest(expected, signature):
            raise not_authorized()
        return await self._signed_in(pool, client, user, params)

    def _refresh_client(self, params: dict) -> tuple[Row, Row]:
        token = (params.get("AuthParameters") or {}).get("REFRESH_TOKEN") or ""
        row = self.store.get(REFRESH, _digest(token))
        username = row["username"] if row else None
        if username is None:
            client = self.client(None, params["ClientId"])
            if client["doc"].get("ClientSecret") is None:
                return self.pool(None, client["pool_id"]), client
            raise not_authorized("Invalid Refresh Token")
        return self._app_client(params, username)

    async def _refresh(self, pool: Row, client: Row, token: str, params: dict) -> dict:
        row = self.store.get(REFRESH, _digest(token))
        if row is None or row["client_id"] != client["id"]:
            raise not_authorized("Invalid Refresh Token")
        if row["revoked"]:
            raise not_authorized("Refresh Token has been revoked")
        if row["expires"] < self.clock():
            raise not_authorized("Refresh Token has expired")
        user = self.find_user(pool, row["username"])
        if user is None:
            raise not_authorized("Invalid Refresh Token")
        if not user["doc"].get("Enabled", True):
            raise not_authorized("User is disabled.")
        result = await self.issue(pool, client, user, params, new=False, origin=row)
        return {"ChallengeParameters": {}, "AuthenticationResult": result}

    async def issue(self, pool: Row, client: Row, user: Row, params: dict, *, new: bool,
                    origin: Row | None = None) -> dict:  # fmt: skip
        """ID and access tokens (and, for a new sign-in, a refresh token) with AWS's
        claims; the PreTokenGeneration trigger may change the ID token's claims."""
        now = int(self.clock())
        auth_time = origin["auth_time"] if origin else now
        origin_jti = origin["origin_jti"] if origin else str(uuid.uuid4())
        groups = [g["name"] for g in self.groups_of(pool, user["username"])]
        iss = issuer(pool["region"], pool["id"])
        event_id = str(uuid.uuid4())
        common = {"sub": user["sub"], "iss": iss, "origin_jti": origin_jti, "event_id": event_id,
                  "auth_time": auth_time, "iat": now}  # fmt: skip
        if groups:
            common["cognito:groups"] = groups
        id_claims: dict[str, Any] = {**common, "aud": client["id"], "token_use": "id",
                                     "cognito:username": user["username"],
                                     "exp": now + self.validity(client, "IdToken"),
                                     "jti": str(uuid.uuid4())}  # fmt: skip
        for name, value in attributes_of(user).items():
            if name == "sub":
                continue
            id_claims[name] = value == "true" if name.endswith("_verified") else value
        source = "TokenGeneration_Authentication" if new else "TokenGeneration_RefreshTokens"
        override = (await self.trigger(pool, client, "PreTokenGeneration", source, user, {
            "userAttributes": attributes_of(user),
            "groupConfiguration": {"groupsToOverride": groups, "iamRolesToOverride": [],
                                   "preferredRole": None},
            "clientMetadata": params.get("ClientMetadata") or {}},
            {"claimsOverrideDetails": None})).get("claimsOverrideDetails") or {}  # fmt: skip
        protected = {"sub", "iss", "aud", "token_use", "exp", "iat", "auth_time", "jti",
                     "origin_jti", "event_id", "cognito:username"}  # fmt: skip
        for name, value in (override.get("claimsToAddOrOverride") or {}).items():
            if name not in protected:
                id_claims[name] = value
        for name in override.get("claimsToSuppress") or []:
            if name not in protected:
                id_claims.pop(name, None)
        group_override = override.get("groupOverrideDetails") or {}
        if "groupsToOverride" in group_override:
            replaced = list(group_override.get("groupsToOverride") or [])
            for claims in (id_claims, common):
                claims.pop("cognito:groups", None)
                if replaced:
                    claims["cognito:groups"] = replaced
        access_claims = {**common, "client_id": client["id"], "token_use": "access",
                         "scope": SCOPE, "username": user["username"],
                         "exp": now + self.validity(client, "AccessToken"),
                         "jti": str(uuid.uuid4())}  # fmt: skip
        result: dict[str, Any] = {"AccessToken": self.sign(pool, access_claims),
                                  "ExpiresIn": self.validity(client, "AccessToken"),
                                  "TokenType": "Bearer", "IdToken": self.sign(pool, id_claims)}  # fmt: skip
        if new:
            refresh = base64.urlsafe_b64encode(secrets.token_bytes(48)).decode().rstrip("=")
            self.store.put(REFRESH, {"digest": _digest(refresh), "pool_id": pool["id"],
                                     "client_id": client["id"], "username": user["username"],
                                     "origin_jti": origin_jti, "auth_time": auth_time,
                                     "expires": now + self.validity(client, "RefreshToken"),
                                     "revoked": 0})  # fmt: skip
            result["RefreshToken"] = refresh
        return result

    # -- the signed-in user -------------------------------------------------------------

    def get_user(self, ctx: RequestContext, params: dict) -> dict:
        _, user, _ = self.decode_access(None, params["AccessToken"])
        return _user_type(user, admin=True)

    def global_sign_out(self, ctx: RequestContext, params: dict) -> dict:
        pool, user, _ = self.decode_access(None, params["AccessToken"])
        self._sign_out(pool, user)
        return {}

    def admin_user_global_sign_out(self, ctx: RequestContext, params: dict) -> dict:
        pool = self.pool(ctx, params["UserPoolId"])
        self._sign_out(pool, self.user(pool, params["Username"]))
        return {}

    def _sign_out(self, pool: Row, user: Row) -> None:
        for row in self.store.select(
            REFRESH, {"pool_id": pool["id"], "username": user["username"]}
        ):
            self.store.put(REFRESH, {**row, "revoked": 1})

    def revoke_token(self, ctx: RequestContext, params: dict) -> dict:
        row = self.store.get(REFRESH, _digest(params["Token"]))
        if row is None or row["client_id"] != params["ClientId"]:
            raise error("UnsupportedTokenTypeException", "Unsupported token type.")
        # A client with a secret proves it with the secret itself here, not SECRET_HASH.
        secret = self.client(None, row["client_id"])["doc"].get("ClientSecret")
        if secret is not None and not hmac.compare_digest(params.get("ClientSecret") or "", secret):
            raise not_authorized(f"Client {row['client_id']} is configured with secret but "
                                 "ClientSecret was not received or is wrong")  # fmt: skip
        self.store.put(REFRESH, {**row, "revoked": 1})
        return {}

    # -- triggers -----------------------------------------------------------------------

    async def trigger(self, pool: Row, client: Row, name: str, source: str, user: Row,
                      request: dict, response: dict) -> dict:  # fmt: skip
        """Run the pool's ``name`` trigger with AWS's event; its ``response`` (the
        defaults when the pool has no such trigger). A failure is AWS's
        UserLambdaValidationException."""
        function = (pool["doc"].get("LambdaConfig") or {}).get(name)
        if not function:
            return response
        event = {"version": "1", "triggerSource": source, "region": pool["region"],
                 "userPoolId": pool["id"], "userName": user["username"],
                 "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown",
                                   "clientId": client["id"]},
                 "request": request, "response": response}  # fmt: skip
        try:
            result = await self.platform.call(
                "lambda", "Invoke",
                {"FunctionName": function, "Payload": json.dumps(event).encode()},
                principal=Principal.service("cognito-idp.amazonaws.com", pool["account_id"]),
                region=pool["region"],
                context={"aws:SourceArn": pool_arn(pool), "aws:SourceAccount": pool["account_id"]},
            )  # fmt: skip
        except ServiceError as failure:
            raise error("UserLambdaValidationException",
                        f"{_TRIGGER_NAMES[name]} failed with error {failure.message}.") from None  # fmt: skip
        try:
            answer = json.loads(result.get("Payload") or b"null")
        except ValueError:
            answer = None
        if result.get("FunctionError"):
            message = answer.get("errorMessage") if isinstance(answer, dict) else str(answer)
            raise error("UserLambdaValidationException",
                        f"{_TRIGGER_NAMES[name]} failed with error {message}.")  # fmt: skip
        if not isinstance(answer, dict) or not isinstance(answer.get("response"), dict):
            raise error("InvalidLambdaResponseException",
                        "Unrecognizable lambda output")  # fmt: skip
        return {**response, **answer["response"]}

    async def _post_confirmation(self, pool: Row, client: Row, user: Row, source: str) -> None:
        await self.trigger(pool, client, "PostConfirmation", source, user,
                           {"userAttributes": {**attributes_of(user),
                                               "cognito:user_status": "CONFIRMED"}}, {})  # fmt: skip

    # -- the JWKS data plane ------------------------------------------------------------

    async def data_plane(self, request: DataPlaneRequest) -> DataPlaneResponse:
        pool_id, _, document = request.path.lstrip("/").partition("/")
        row = self.store.get(POOLS, pool_id)
        if row is None or request.method not in ("GET", "HEAD"):
            return json_response(404, {"message": "Not Found"})
        pool = self.pool(None, pool_id)
        if document == ".well-known/jwks.json":
            return json_response(200, self.jwks(pool))
        iss = issuer(pool["region"], pool_id)
        endpoint = f"{'https' if request.secure else 'http'}://{request.host}/{pool_id}"
        return json_response(200, {
            "issuer": iss, "jwks_uri": f"{endpoint}/.well-known/jwks.json",
            "authorization_endpoint": f"{iss}/oauth2/authorize",
            "token_endpoint": f"{iss}/oauth2/token", "userinfo_endpoint": f"{iss}/oauth2/userInfo",
            "response_types_supported": ["code", "token"],
            "scopes_supported": ["openid", "email", "phone", "profile"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]})  # fmt: skip


def _not_served(what: str) -> ServiceError:
    return ServiceError("NotImplemented", f"{what} is not implemented by sandlot yet.", 501,
                        sender_fault=False)  # fmt: skip


def _code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"
