"""What every part of the Secrets Manager provider shares: its state, finding a secret
the ways AWS accepts it named (name, full ARN, partial ARN), errors, the envelope
encryption of values through KMS, and the secret's resource policy for the authorizer."""

from __future__ import annotations

import json
import os
import secrets as random
import string
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sandlot.iam.authorizer import ResourcePolicy
from sandlot.protocol import ServiceError, constraints
from sandlot.protocol.models import service_model
from sandlot.services.provider import Provider, RequestContext
from sandlot.services.secretsmanager.schema import MIGRATIONS, ROTATIONS, SECRETS, VERSIONS

Row = dict[str, Any]
DAY_S = 86400.0
MANAGED_KEY = "alias/aws/secretsmanager"
CURRENT, PREVIOUS, PENDING = "AWSCURRENT", "AWSPREVIOUS", "AWSPENDING"
MAX_DEPRECATED = 100  # unlabeled versions AWS keeps; older ones are removed
_NAME_CHARS = frozenset(string.ascii_letters + string.digits + "/_+=.@-!")
MARKED_FOR_DELETION = (
    "You can't perform this operation on the secret because it was marked for deletion."
)


def invalid_parameter(message: str) -> ServiceError:
    return ServiceError("InvalidParameterException", message)


def invalid_request(message: str) -> ServiceError:
    return ServiceError("InvalidRequestException", message)


def not_found(message: str = "Secrets Manager can't find the specified secret.") -> ServiceError:
    return ServiceError("ResourceNotFoundException", message)


def check_name(name: str) -> None:
    if not name or not set(name) <= _NAME_CHARS:
        raise invalid_parameter(
            "Invalid name. Must be a valid name containing alphanumeric characters, "
            "or any of the following: -/_+=.@!"
        )


def stages_of(version: Row) -> list[str]:
    return json.loads(version["stages"])


class SecretsBase(Provider):
    """State, lookups and encryption; the operations live in ``provider.py``."""

    service = "secretsmanager"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        platform.store.migrate("secretsmanager", MIGRATIONS)
        self.store = platform.store
        self.clock: Callable[[], float] = time.time  # tests move time

    def validate(self, ctx: RequestContext, params: dict) -> None:
        """The model's constraints (lengths, ranges) answer ValidationException."""
        shape = service_model("secretsmanager").operation_model(ctx.operation).input_shape
        found = constraints.violations(shape, params) if shape is not None else []
        if found:
            raise ServiceError("ValidationException", constraints.summary(found))

    # -- finding secrets --------------------------------------------------------------

    def find(self, account: str, region: str, ref: str) -> Row | None:
        """The secret ``ref`` names for a caller in ``account``/``region``: a full ARN
        (any account), a partial ARN (without the random suffix) or a name; None if no
        such secret exists (a secret whose recovery window ended is purged here)."""
        name = ref
        if ref.startswith("arn:"):
            parts = ref.split(":", 6)
            if len(parts) != 7 or parts[2] != "secretsmanager" or parts[5] != "secret":
                return None
            region, account, name = parts[3], parts[4], parts[6]
            row = self.store.get(SECRETS, ref)
            if row is not None:
                return self._alive(row)
        rows = self.store.select(SECRETS, {"account_id": account, "region": region, "name": name})
        if not rows and ref.startswith("arn:"):
            return None
        for row in rows:
            alive = self._alive(row)
            if alive is not None:
                return alive
        return None

    def _alive(self, row: Row) -> Row | None:
        if row["deletion_date"] is not None and row["deletion_date"] <= self.clock():
            self.purge(row["arn"])
            return None
        return row

    def purge(self, arn: str) -> None:
        with self.store.transaction():
            self.store.delete_where(VERSIONS, {"arn": arn})
            self.store.delete(ROTATIONS, arn)
            self.store.delete(SECRETS, arn)

    def secret(self, ctx: RequestContext, ref: str, *, deleted_ok: bool = False) -> Row:
        """The secret a request names; ResourceNotFoundException if there is none, and
        AWS's InvalidRequestException while it is scheduled for deletion."""
        row = self.find(ctx.account_id, ctx.region, ref)
        if row is None:
            raise not_found()
        if row["deleted"] is not None and not deleted_ok:
            raise invalid_request(MARKED_FOR_DELETION)
        return row

    def secret_arn_for(self, account: str, region: str, ref: str) -> str | None:
        """For the authorizer: the full ARN of the secret ``ref`` names, or None."""
        row = self.find(account, region, ref)
        return row["arn"] if row is not None else None

    def versions(self, arn: str) -> list[Row]:
        return self.store.select(VERSIONS, {"arn": arn}, order_by=("created",))

    def version_with(self, arn: str, stage: str) -> Row | None:
        return next((v for v in self.versions(arn) if stage in stages_of(v)), None)

    def save(self, row: Row) -> None:
        self.store.put(SECRETS, row)

    # -- values, sealed under a data key from KMS ---------------------------------------

    async def _kms(self, ctx: RequestContext, row: Row, operation: str, params: dict) -> dict:
        """A KMS call as the caller, through Secrets Manager (``kms:ViaService``); KMS's
        refusals answer as Secrets Manager does."""
        try:
            return await self.platform.call(
                "kms",
                operation,
                params,
                principal=ctx.principal,
                region=row["region"],
                request_id=ctx.request_id,
                context={"kms:ViaService": f"secretsmanager.{row['region']}.amazonaws.com"},
            )
        except ServiceError as error:
            if error.code in ("AccessDeniedException", "AccessDenied"):
                raise ServiceError(
                    "AccessDeniedException", "Access to KMS is not allowed", 400
                ) from None
            if operation == "Decrypt":
                raise ServiceError(
                    "DecryptionFailure",
                    "Secrets Manager can't decrypt the protected secret text using the "
                    f"provided KMS key. {error.message}".strip(),
                ) from None
            raise ServiceError(
                "EncryptionFailure",
                "Secrets Manager can't encrypt the protected secret text using the provided "
                f"KMS key. {error.message}".strip(),
            ) from None

    async def seal(
        self, ctx: RequestContext, row: Row, version_id: str, value: str | bytes, key: str
    ) -> Row:
        """The version's stored fields for ``value``, encrypted under ``key`` with the
        encryption context AWS uses (secret ARN and version id)."""
        out = await self._kms(
            ctx,
            row,
            "GenerateDataKey",
            {
                "KeyId": key,
                "KeySpec": "AES_256",
                "EncryptionContext": {"SecretARN": row["arn"], "SecretVersionId": version_id},
            },
        )
        kind = "binary" if isinstance(value, bytes) else "string"
        plain = value if isinstance(value, bytes) else value.encode()
        nonce = os.urandom(12)
        sealed = nonce + AESGCM(out["Plaintext"]).encrypt(nonce, plain, version_id.encode())
        return {
            "kind": kind,
            "kms_key_arn": out["KeyId"],
            "data_key": out["CiphertextBlob"],
            "sealed": sealed,
        }

    async def open(self, ctx: RequestContext, row: Row, version: Row) -> str | bytes:
        """The version's value: its data key decrypted by KMS (as the caller), then the
        value."""
        out = await self._kms(
            ctx,
            row,
            "Decrypt",
            {
                "CiphertextBlob": version["data_key"],
                "EncryptionContext": {
                    "SecretARN": row["arn"],
                    "SecretVersionId": version["version_id"],
                },
            },
        )
        sealed = version["sealed"]
        plain = AESGCM(out["Plaintext"]).decrypt(
            sealed[:12], sealed[12:], version["version_id"].encode()
        )
        return plain if version["kind"] == "binary" else plain.decode()

    # -- the secret's resource policy for IAM -------------------------------------------

    def resource_policy(self, arn: str) -> ResourcePolicy | None:
        """The secret's resource policy with its tags; None for an unknown secret."""
        row = self.store.get(SECRETS, arn)
        if row is None:
            return None
        tags = {t["Key"]: t.get("Value", "") for t in json.loads(row["tags"])}
        return ResourcePolicy(row["policy"], row["account_id"], tags=tags)


def new_arn(region: str, account: str, name: str) -> str:
    suffix = "".join(random.choice(string.ascii_letters + string.digits) for _ in range(6))
    return f"arn:aws:secretsmanager:{region}:{account}:secret:{name}-{suffix}"
