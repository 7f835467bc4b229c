"""Grants: CreateGrant, ListGrants, RevokeGrant, RetireGrant, ListRetirableGrants.

A grant allows its grantee the operations it lists on one key, under optional
encryption context constraints. The authorizer sees each grant as one more statement of
the key's resource policy (``KmsBase.resource_policy``), so a grant takes effect at once
(AWS's grant tokens cover its eventual consistency; here they are accepted and not
needed)."""

from __future__ import annotations

import json
import secrets

from sandlot.iam.policy.principals import PrincipalSyntaxError, parse_principals
from sandlot.protocol import ServiceError
from sandlot.services.kms.base import KmsBase, Row, key_arn, not_found, validation
from sandlot.services.kms.keys import paged
from sandlot.services.kms.schema import GRANTS
from sandlot.services.provider import RequestContext

# The operations a grant may allow for each key usage (AWS's grant operations).
_ALWAYS = {"CreateGrant", "RetireGrant", "DescribeKey"}
_BY_USAGE = {
    "ENCRYPT_DECRYPT": {
        "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "ReEncryptFrom",
        "ReEncryptTo", "GetPublicKey",
    },
    "SIGN_VERIFY": {"Sign", "Verify", "GetPublicKey"},
    "GENERATE_VERIFY_MAC": {"GenerateMac", "VerifyMac"},
    "KEY_AGREEMENT": {"DeriveSharedSecret", "GetPublicKey"},
}  # fmt: skip
_CRYPTO_WITH_CONTEXT = {
    "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "ReEncryptFrom",
    "ReEncryptTo", "CreateGrant", "RetireGrant", "DescribeKey",
}  # fmt: skip


def _check_principal(value: str, member: str) -> None:
    try:
        if value.endswith(".amazonaws.com"):
            parse_principals({"Service": value})
        else:
            parse_principals({"AWS": value})
    except PrincipalSyntaxError:
        raise validation(f"Invalid {member}: {value}") from None


def _entry(grant: Row, arn: str) -> dict:
    out = {
        "KeyId": arn,
        "GrantId": grant["grant_id"],
        "CreationDate": grant["created"],
        "GranteePrincipal": grant["grantee"],
        "IssuingAccount": grant["issuing_account"],
        "Operations": json.loads(grant["operations"]),
    }
    if grant["name"]:
        out["Name"] = grant["name"]
    if grant["retiring"]:
        out["RetiringPrincipal"] = grant["retiring"]
    if grant["constraints"]:
        out["Constraints"] = json.loads(grant["constraints"])
    return out


class GrantOperations(KmsBase):
    def create_grant(self, ctx: RequestContext, params: dict) -> dict:
        row = self.lookup(ctx, params["KeyId"])
        self.not_pending_deletion(row)
        operations = list(dict.fromkeys(params["Operations"]))
        allowed = _ALWAYS | _BY_USAGE.get(row["key_usage"], set())
        wrong = [op for op in operations if op not in allowed]
        if wrong:
            raise validation(
                f"Grant operations {', '.join(wrong)} are not valid for a KMS key with key "
                f"usage {row['key_usage']}."
            )
        constraints = params.get("Constraints") or None
        if constraints:
            if (
                row["key_spec"] != "SYMMETRIC_DEFAULT"
                or not set(operations) <= _CRYPTO_WITH_CONTEXT
            ):
                raise validation(
                    "Grant constraints are valid only for grants on symmetric encryption KMS "
                    "keys and operations that take an encryption context."
                )
            if (
                "EncryptionContextSubset" in constraints
                and "EncryptionContextEquals" in constraints
            ):
                raise validation(
                    "Specify either EncryptionContextSubset or EncryptionContextEquals, not both."
                )
        _check_principal(params["GranteePrincipal"], "GranteePrincipal")
        if params.get("RetiringPrincipal"):
            _check_principal(params["RetiringPrincipal"], "RetiringPrincipal")
        name = params.get("Name")
        if name:
            # Same name, same grant: CreateGrant is idempotent by name (AWS returns it again).
            for grant in self.store.select(GRANTS, {"key_id": row["key_id"], "name": name}):
                if (
                    grant["grantee"] == params["GranteePrincipal"]
                    and json.loads(grant["operations"]) == operations
                ):
                    return {"GrantToken": grant["token"], "GrantId": grant["grant_id"]}
        if params.get("DryRun"):
            raise ServiceError(
                "DryRunOperationException",
                "The request would have succeeded, but the DryRun option is set.",
            )
        grant = {
            "grant_id": secrets.token_hex(32),
            "key_id": row["key_id"],
            "name": name,
            "grantee": params["GranteePrincipal"],
            "retiring": params.get("RetiringPrincipal"),
            "issuing_account": f"arn:aws:iam::{ctx.account_id}:root",
            "operations": json.dumps(operations),
            "constraints": json.dumps(constraints) if constraints else None,
            "created": self.clock(),
            "token": secrets.token_urlsafe(96),
        }
        self.store.put(GRANTS, grant)
        self._forget(row["key_id"])
        return {"GrantToken": grant["token"], "GrantId": grant["grant_id"]}

    def list_grants(self, ctx: RequestContext, params: dict) -> dict:
        row = self.lookup(ctx, params["KeyId"])
        grants = self.store.select(GRANTS, {"key_id": row["key_id"]}, order_by=("grant_id",))
        if params.get("GrantId"):
            grants = [g for g in grants if g["grant_id"] == params["GrantId"]]
        if params.get("GranteePrincipal"):
            grants = [g for g in grants if g["grantee"] == params["GranteePrincipal"]]
        entries = [_entry(g, key_arn(row)) for g in grants]
        return paged("Grants", entries, params, lambda g: g["GrantId"])

    def list_retirable_grants(self, ctx: RequestContext, params: dict) -> dict:
        grants = self.store.select(
            GRANTS, {"retiring": params["RetiringPrincipal"]}, order_by=("grant_id",)
        )
        entries = []
        for grant in grants:
            row = self._live_key(grant["key_id"])
            if row is not None:
                entries.append(_entry(grant, key_arn(row)))
        return paged("Grants", entries, params, lambda g: g["GrantId"])

    def _grant(self, row: Row, grant_id: str) -> Row:
        grant = self.store.get(GRANTS, grant_id)
        if grant is None or grant["key_id"] != row["key_id"]:
            raise not_found(f"Grant ID {grant_id} not found")
        return grant

    def revoke_grant(self, ctx: RequestContext, params: dict) -> dict:
        row = self.lookup(ctx, params["KeyId"])
        self._grant(row, params["GrantId"])
        self.store.delete(GRANTS, params["GrantId"])
        self._forget(row["key_id"])
        return {}

    def retire_grant(self, ctx: RequestContext, params: dict) -> dict:
        token, grant_id = params.get("GrantToken"), params.get("GrantId")
        if token:
            found = self.store.select(GRANTS, {"token": token})
            if not found:
                raise ServiceError("InvalidGrantTokenException", "Invalid grant token")
            grant = found[0]
        elif grant_id and params.get("KeyId"):
            row = self.lookup(ctx, params["KeyId"])
            grant = self._grant(row, grant_id)
        else:
            raise validation("Either GrantToken or both KeyId and GrantId must be specified.")
        self.store.delete(GRANTS, grant["grant_id"])
        self._forget(grant["key_id"])
        return {}
