"""What every part of the KMS provider shares: its state, finding keys the way KMS
accepts them named (key id, key ARN, alias name, alias ARN), key states, errors, and
the key policy (plus grants) the authorizer evaluates as the key's resource policy."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from sandlot.iam.authorizer import ResourcePolicy
from sandlot.protocol import ServiceError, constraints
from sandlot.protocol.models import service_model
from sandlot.services.kms.material import blob_key, generate
from sandlot.services.kms.schema import ALIASES, GRANTS, KEYS, MATERIALS, MIGRATIONS, USAGE
from sandlot.services.provider import Provider, RequestContext
from sandlot.store.master_key import MasterKey

Row = dict[str, Any]
DAY_S = 86400.0
DEFAULT_ROTATION_DAYS = 365


# Operations a principal of another account may use a key for, when its key policy
# allows (AWS's "Allowing users in other accounts to use a KMS key").
CROSS_ACCOUNT = frozenset(
    {
        "CreateGrant", "Decrypt", "DeriveSharedSecret", "DescribeKey", "Encrypt",
        "GenerateDataKey", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext",
        "GenerateDataKeyWithoutPlaintext", "GenerateMac", "GetKeyRotationStatus",
        "GetPublicKey", "ListGrants", "ReEncrypt", "RetireGrant", "RevokeGrant", "Sign",
        "Verify", "VerifyMac",
    }
)  # fmt: skip


def validation(message: str) -> ServiceError:
    return ServiceError("ValidationException", message)


def not_found(message: str) -> ServiceError:
    return ServiceError("NotFoundException", message)


def invalid_arn(message: str) -> ServiceError:
    return ServiceError("InvalidArnException", message)


def invalid_state(message: str) -> ServiceError:
    return ServiceError("KMSInvalidStateException", message)


def unsupported(message: str) -> ServiceError:
    return ServiceError("UnsupportedOperationException", message)


def key_arn(row: Row) -> str:
    return f"arn:aws:kms:{row['region']}:{row['account_id']}:key/{row['key_id']}"


def alias_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:kms:{region}:{account}:{name}"


# AWS managed keys sandlot creates on first use: alias/aws/<service>, for the services
# that encrypt with them.
MANAGED_SERVICES = frozenset(
    {"s3", "lambda", "ssm", "secretsmanager", "sqs", "sns", "dynamodb", "logs", "kinesis",
     "firehose", "ebs", "rds", "ecr", "elasticfilesystem", "backup", "glue", "events"}
)  # fmt: skip


def managed_policy(account: str, region: str, service: str) -> str:
    """An AWS managed key's policy, as AWS writes it: use through the service only, by
    principals of the account; key metadata readable by the account directly."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Id": f"auto-{service}-2",
            "Statement": [
                {
                    "Sid": f"Allow access through {service} for all principals in the "
                    f"account that are authorized to use {service}",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": [
                        "kms:Encrypt",
                        "kms:Decrypt",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:DescribeKey",
                    ],  # fmt: skip
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {
                            "kms:CallerAccount": account,
                            "kms:ViaService": f"{service}.{region}.amazonaws.com",
                        }
                    },
                },
                {
                    "Sid": "Allow direct access to key metadata to the account",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
                    "Resource": "*",
                },
            ],
        },
        indent=2,
    )


def default_policy(account: str) -> str:
    """AWS's default key policy: the account (its root) may do everything, which
    delegates the key's use to the account's IAM policies."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Id": "key-default-1",
            "Statement": [
                {
                    "Sid": "Enable IAM User Permissions",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        },
        indent=2,
    )


class KmsBase(Provider):
    """State and lookups; the operations live in the subclasses' mixins."""

    service = "kms"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        platform.store.migrate("kms", MIGRATIONS)
        self.store = platform.store
        self.master = MasterKey(platform.data_dir)
        self.clock: Callable[[], float] = time.time  # tests move time
        self._materials: dict[tuple[str, int], bytes] = {}  # opened material, per process
        self._private_keys: dict[tuple[str, int], Any] = {}  # loaded asymmetric keys
        # Write-through caches (this process is the data directory's only writer): key
        # rows, and each key's policy with its grants as the authorizer evaluates it.
        self._rows: dict[str, Row] = {}
        self._material_ids: dict[tuple[str, int], str] = {}
        self._usage: dict[str, Row] = {}  # the newest use per key, persisted at most 1/s
        self._policies: dict[str, ResourcePolicy] = {}

    # -- validation before authorization --------------------------------------------------

    def validate(self, ctx: RequestContext, params: dict) -> None:
        """The model's constraints (lengths, ranges, enums) answer ValidationException."""
        operation = service_model("kms").operation_model(ctx.operation)
        shape = operation.input_shape
        found = constraints.violations(shape, params) if shape is not None else []
        if found:
            raise validation(constraints.summary(found))

    # -- finding keys ---------------------------------------------------------------------

    def find_key(self, account: str, region: str, ref: str) -> Row:
        """The key ``ref`` names (key id, key ARN, alias name or alias ARN), as KMS
        resolves it for a caller in ``account``/``region``; NotFoundException if none."""
        if ref.startswith("arn:"):
            parts = ref.split(":", 5)
            if len(parts) != 6 or parts[2] != "kms" or not parts[5].startswith(("key/", "alias/")):
                raise invalid_arn(f"ARN {ref} is not a valid KMS key or alias ARN.")
            region, account, resource = parts[3], parts[4], parts[5]
            if resource.startswith("alias/"):
                return self._alias_key(account, region, resource)
            key_id = resource.removeprefix("key/")
            row = self._live_key(key_id)
            if row is None or row["account_id"] != account or row["region"] != region:
                raise not_found(f"Key '{ref}' does not exist")
            return row
        if ref.startswith("alias/"):
            return self._alias_key(account, region, ref)
        row = self._live_key(ref)
        if row is None or row["account_id"] != account or row["region"] != region:
            raise not_found(f"Key 'arn:aws:kms:{region}:{account}:key/{ref}' does not exist")
        return row

    def lookup(self, ctx: RequestContext, ref: str) -> Row:
        """The key a request names, for the caller; a key of another account only for
        the operations AWS allows across accounts (others answer NotFoundException)."""
        row = self.find_key(ctx.account_id, ctx.region, ref)
        if row["account_id"] != ctx.account_id and ctx.operation not in CROSS_ACCOUNT:
            raise not_found(f"Key '{key_arn(row)}' does not exist")
        return row

    def _alias_key(self, account: str, region: str, name: str) -> Row:
        alias = self.store.get(ALIASES, account, region, name)
        if alias is None and name.removeprefix("alias/aws/") in MANAGED_SERVICES:
            alias = self._managed_key(account, region, name)
        row = self._live_key(alias["key_id"]) if alias is not None else None
        if row is None:
            raise not_found(f"Alias {alias_arn(region, account, name)} is not found.")
        return row

    def _managed_key(self, account: str, region: str, name: str) -> Row:
        """An AWS managed key (``alias/aws/s3``…) is created on its first use, as AWS."""
        service = name.removeprefix("alias/aws/")
        with self.store.transaction():  # key, material and alias, or none of them
            row = self.new_key(
                account,
                region,
                description=f"Default key that protects my {service} data when no other key is defined",
                manager="AWS",
                policy=managed_policy(account, region, service),
            )
            row["rotation_enabled"] = 1  # AWS managed keys rotate every year
            row["next_rotation"] = row["created"] + DEFAULT_ROTATION_DAYS * DAY_S
            now = self.clock()
            alias = {"account_id": account, "region": region, "name": name,
                     "key_id": row["key_id"], "created": now, "updated": now}  # fmt: skip
            self.store.put(KEYS, row)
            self.store.put(ALIASES, alias)
        self._forget(row["key_id"])
        return alias

    def _live_key(self, key_id: str) -> Row | None:
        """The key row, after what time has done to it: a deletion whose waiting period
        is over happened (the key is gone), a due automatic rotation happened."""
        cached = self._rows.get(key_id)
        if cached is None:
            cached = self.store.get(KEYS, key_id)
            if cached is None:
                return None
            self._rows[key_id] = cached
        row = dict(cached)  # callers change their copy, then save() it
        now = self.clock()
        if row["state"] == "PendingDeletion" and row["deletion_date"] <= now:
            self.delete_key(key_id)
            return None
        if row["rotation_enabled"] and row["next_rotation"] and row["next_rotation"] <= now:
            self.rotate(row, "AUTOMATIC")
        if row["valid_to"] is not None and row["valid_to"] <= now:
            # Imported material expired: KMS deletes it and the key awaits new material.
            row["valid_to"] = row["expiration_model"] = None
            if row["state"] != "PendingDeletion":
                row["state"] = "PendingImport"
            with self.store.transaction():
                self.drop_materials(key_id)
                self.save(row)
        return row

    def key_arn_for(self, account: str, region: str, kind: str, ref: Any) -> str | None:
        """For the authorizer: the ARN of the key a request names, by ``kind``: "key"
        (a KeyId in any form), "ciphertext" (a symmetric blob) or "grant-token"; None
        if it names no key that exists."""
        try:
            if kind == "ciphertext":
                found = blob_key(ref)
                row = self._live_key(found[0]) if found else None
            elif kind == "grant-token":
                grants = self.store.select(GRANTS, {"token": ref})
                row = self._live_key(grants[0]["key_id"]) if grants else None
            else:
                row = self.find_key(account, region, ref)
        except ServiceError:
            return None
        return key_arn(row) if row is not None else None

    # -- key rows and material ------------------------------------------------------------

    def new_key(
        self,
        account: str,
        region: str,
        *,
        spec: str = "SYMMETRIC_DEFAULT",
        usage: str = "ENCRYPT_DECRYPT",
        description: str = "",
        policy: str | None = None,
        tags: list | None = None,
        multi_region: bool = False,
        manager: str = "CUSTOMER",
        material: bytes | None = None,
        origin: str = "AWS_KMS",
    ) -> Row:
        """A new key's row (not yet stored) with its first material (``material``, else
        generated now) stored; an EXTERNAL key waits for its material (PendingImport)."""
        key_id = str(uuid.uuid4())
        if multi_region:
            key_id = "mrk-" + uuid.uuid4().hex
        now = self.clock()
        if origin == "AWS_KMS":
            self.put_material(key_id, 1, material or generate(spec), None)
        return {
            "key_id": key_id,
            "account_id": account,
            "region": region,
            "created": now,
            "description": description,
            "key_spec": spec,
            "key_usage": usage,
            "state": "Enabled" if origin == "AWS_KMS" else "PendingImport",
            "deletion_date": None,
            "pending_window": None,
            "multi_region": int(multi_region),
            "manager": manager,
            "policy": policy or default_policy(account),
            "tags": json.dumps(tags or []),
            "rotation_enabled": 0,
            "rotation_period": None,
            "next_rotation": None,
            "current_version": 1,
            "origin": origin,
            "expiration_model": None,
            "valid_to": None,
        }

    def put_material(self, key_id: str, version: int, material: bytes, rotation: str | None):
        self.store.put(
            MATERIALS,
            {
                "key_id": key_id,
                "version": version,
                "sealed": self.master.seal(key_id, version, material),
                "created": self.clock(),
                "rotation_type": rotation,
            },
        )

    def drop_materials(self, key_id: str) -> None:
        for version in self.store.select(MATERIALS, {"key_id": key_id}):
            self.store.delete(MATERIALS, key_id, version["version"])
            self._materials.pop((key_id, version["version"]), None)
            self._private_keys.pop((key_id, version["version"]), None)
            self._material_ids.pop((key_id, version["version"]), None)

    def material(self, key_id: str, version: int) -> bytes | None:
        cached = self._materials.get((key_id, version))
        if cached is None:
            row = self.store.get(MATERIALS, key_id, version)
            if row is None:
                return None
            cached = self._materials[(key_id, version)] = self.master.open(
                key_id, version, row["sealed"]
            )
        return cached

    def used(self, row: Row, ctx: RequestContext) -> None:
        """Note a successful cryptographic operation with the key (GetKeyLastUsage)."""
        now = self.clock()
        key_id = row["key_id"]
        previous = self._usage.get(key_id)
        usage = {"key_id": key_id, "operation": ctx.operation, "ts": now,
                 "request_id": ctx.request_id, "written": previous["written"] if previous else 0.0}  # fmt: skip
        if now - usage["written"] >= 1.0:
            usage["written"] = now
            self.store.put(USAGE, {k: v for k, v in usage.items() if k != "written"})
        self._usage[key_id] = usage

    def last_usage(self, key_id: str) -> Row | None:
        return self._usage.get(key_id) or self.store.get(USAGE, key_id)

    def material_id(self, key_id: str, version: int) -> str | None:
        """KeyMaterialId: a SHA-256 of the sealed material (stable, reveals nothing);
        None while a key has no material (imported material pending)."""
        found = self._material_ids.get((key_id, version))
        if found is None:
            row = self.store.get(MATERIALS, key_id, version)
            if row is None:
                return None
            found = self._material_ids[(key_id, version)] = hashlib.sha256(
                row["sealed"]
            ).hexdigest()
        return found

    def rotate(self, row: Row, rotation_type: str) -> None:
        """New current material; earlier versions stay for Decrypt."""
        now = self.clock()
        version = row["current_version"] + 1
        row["current_version"] = version
        if row["rotation_enabled"]:
            row["next_rotation"] = now + (row["rotation_period"] or DEFAULT_ROTATION_DAYS) * DAY_S
        with self.store.transaction():
            self.put_material(row["key_id"], version, generate(row["key_spec"]), rotation_type)
            self.store.put(KEYS, row)
        self._forget(row["key_id"])

    def delete_key(self, key_id: str) -> None:
        """The end of a scheduled deletion: the key, its material, aliases and grants."""
        with self.store.transaction():
            self.drop_materials(key_id)
            for alias in self.store.select(ALIASES, {"key_id": key_id}):
                self.store.delete(ALIASES, alias["account_id"], alias["region"], alias["name"])
            for grant in self.store.select(GRANTS, {"key_id": key_id}):
                self.store.delete(GRANTS, grant["grant_id"])
            self.store.delete(USAGE, key_id)
            self.store.delete(KEYS, key_id)
        self._forget(key_id)
        self._usage.pop(key_id, None)

    def save(self, row: Row) -> None:
        self.store.put(KEYS, row)
        self._forget(row["key_id"])

    def _forget(self, key_id: str) -> None:
        """Drop the caches of a key whose row or grants changed."""
        self._rows.pop(key_id, None)
        self._policies.pop(key_id, None)

    # -- states ---------------------------------------------------------------------------

    def usable(self, row: Row) -> None:
        """Cryptographic operations need an Enabled key."""
        if row["state"] == "Disabled":
            raise ServiceError("DisabledException", f"{key_arn(row)} is disabled.")
        if row["state"] == "PendingDeletion":
            raise invalid_state(f"{key_arn(row)} is pending deletion.")
        if row["state"] == "PendingImport":
            raise invalid_state(f"{key_arn(row)} is pending import.")

    def usable_state(self, row: Row) -> None:
        """Enabling or disabling needs a key that is neither being deleted nor awaiting
        imported material."""
        self.not_pending_deletion(row)
        if row["state"] == "PendingImport":
            raise invalid_state(f"{key_arn(row)} is pending import.")

    def not_pending_deletion(self, row: Row) -> None:
        if row["state"] == "PendingDeletion":
            raise invalid_state(f"{key_arn(row)} is pending deletion.")

    # -- the key's resource policy for IAM -----------------------------------------------

    def resource_policy(self, arn: str) -> ResourcePolicy | None:
        """The key policy, with each grant as one more Allow statement for its grantee
        (a grant allows its operations like a key policy statement naming the grantee,
        under its encryption context constraints); None for aliases and unknown keys."""
        parts = arn.split(":", 5)
        if len(parts) != 6 or not parts[5].startswith("key/"):
            return None
        row = self._live_key(parts[5].removeprefix("key/"))
        if row is None or row["account_id"] != parts[4]:
            return None
        found = self._policies.get(row["key_id"])
        if found is None:
            found = self._policies[row["key_id"]] = self._policy_of(row)
        return found

    def _policy_of(self, row: Row) -> ResourcePolicy:
        document = json.loads(row["policy"])
        statements = document.get("Statement")
        if isinstance(statements, dict):
            statements = [statements]
        grants = self.store.select(GRANTS, {"key_id": row["key_id"]}, order_by=("created",))
        if grants:
            added = [s for grant in grants for s in _grant_statements(grant)]
            document["Statement"] = list(statements or []) + added
        tags = {t["TagKey"]: t["TagValue"] for t in json.loads(row["tags"])}
        return ResourcePolicy(json.dumps(document), row["account_id"], kind="key", tags=tags)


def _principal(name: str) -> dict:
    return {"Service": name} if name.endswith(".amazonaws.com") else {"AWS": name}


def _grant_statements(grant: Row) -> list[dict]:
    """The grant as policy statements: its operations for the grantee, and RetireGrant
    for its retiring principal (who needs no other permission to retire it)."""
    statement: dict = {
        "Sid": f"grant-{grant['grant_id']}",
        "Effect": "Allow",
        "Principal": _principal(grant["grantee"]),
        "Action": [f"kms:{op}" for op in json.loads(grant["operations"])],
        "Resource": "*",
    }
    limits = json.loads(grant["constraints"]) if grant["constraints"] else {}
    subset = limits.get("EncryptionContextSubset")
    equals = limits.get("EncryptionContextEquals")
    pairs = equals if equals is not None else subset
    condition: dict = {}
    if pairs:
        condition["StringEquals"] = {f"kms:EncryptionContext:{k}": v for k, v in pairs.items()}
    if equals is not None:
        # Exactly these keys: none other may appear (and, when empty, none at all).
        condition["ForAllValues:StringEquals"] = {"kms:EncryptionContextKeys": list(equals)}
        if not equals:
            condition["Null"] = {"kms:EncryptionContextKeys": "true"}
    if condition:
        statement["Condition"] = condition
    statements = [statement]
    if grant["retiring"]:
        statements.append(
            {
                "Sid": f"grant-{grant['grant_id']}-retiring",
                "Effect": "Allow",
                "Principal": _principal(grant["retiring"]),
                "Action": "kms:RetireGrant",
                "Resource": "*",
            }
        )
    return statements
