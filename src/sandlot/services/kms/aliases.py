"""Aliases: friendly names for keys in one account and region. ``alias/aws/*`` is
reserved for AWS managed keys, which are created on first use (``KmsBase``)."""

from __future__ import annotations

from sandlot.protocol import ServiceError
from sandlot.services.kms.base import KmsBase, Row, alias_arn, key_arn, not_found, validation
from sandlot.services.kms.keys import paged
from sandlot.services.kms.schema import ALIASES
from sandlot.services.provider import RequestContext

_ALIAS_DOCS = "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"


def _check_name(name: str) -> None:
    if not name.startswith("alias/"):
        raise validation(f'Alias must start with the prefix "alias/". Please see {_ALIAS_DOCS}')
    if name.startswith("alias/aws/"):
        raise ServiceError("NotAuthorizedException", "Cannot create alias with prefix 'alias/aws/'")


class AliasOperations(KmsBase):
    def _target(self, ctx: RequestContext, ref: str) -> Row:
        """A customer managed key of the caller's account, named by id or key ARN."""
        if ref.startswith("alias/") or ":alias/" in ref:
            raise validation("Aliases must refer to keys. Do not specify an alias.")
        row = self.lookup(ctx, ref)
        if row["account_id"] != ctx.account_id:
            raise not_found(f"Key '{key_arn(row)}' does not exist")
        if row["manager"] == "AWS":
            raise ServiceError(
                "NotAuthorizedException", "Cannot associate an alias with an AWS managed key"
            )
        self.not_pending_deletion(row)
        return row

    def create_alias(self, ctx: RequestContext, params: dict) -> dict:
        name = params["AliasName"]
        _check_name(name)
        row = self._target(ctx, params["TargetKeyId"])
        now = self.clock()
        created = self.store.put(
            ALIASES,
            {
                "account_id": ctx.account_id,
                "region": ctx.region,
                "name": name,
                "key_id": row["key_id"],
                "created": now,
                "updated": now,
            },  # fmt: skip
            replace=False,
        )
        if not created:
            raise ServiceError(
                "AlreadyExistsException",
                f"An alias with the name {alias_arn(ctx.region, ctx.account_id, name)} "
                "already exists",
            )
        return {}

    def _alias(self, ctx: RequestContext, name: str) -> Row:
        alias = self.store.get(ALIASES, ctx.account_id, ctx.region, name)
        if alias is None:
            raise not_found(f"Alias {alias_arn(ctx.region, ctx.account_id, name)} is not found.")
        return alias

    def update_alias(self, ctx: RequestContext, params: dict) -> dict:
        name = params["AliasName"]
        _check_name(name)
        alias = self._alias(ctx, name)
        row = self._target(ctx, params["TargetKeyId"])
        current = self._live_key(alias["key_id"])
        if current is not None and (
            current["key_usage"] != row["key_usage"]
            or (current["key_spec"] == "SYMMETRIC_DEFAULT")
            != (row["key_spec"] == "SYMMETRIC_DEFAULT")
        ):
            raise validation(
                f"{alias_arn(ctx.region, ctx.account_id, name)} can only be associated with a "
                "KMS key of the same key type and key usage as its current key."
            )
        alias["key_id"] = row["key_id"]
        alias["updated"] = self.clock()
        self.store.put(ALIASES, alias)
        return {}

    def delete_alias(self, ctx: RequestContext, params: dict) -> dict:
        name = params["AliasName"]
        if name.startswith("alias/aws/"):
            raise ServiceError(
                "NotAuthorizedException", "Cannot delete alias with prefix 'alias/aws/'"
            )
        self._alias(ctx, name)
        self.store.delete(ALIASES, ctx.account_id, ctx.region, name)
        return {}

    def list_aliases(self, ctx: RequestContext, params: dict) -> dict:
        where = {"account_id": ctx.account_id, "region": ctx.region}
        if params.get("KeyId"):
            where["key_id"] = self.lookup(ctx, params["KeyId"])["key_id"]
        rows = self.store.select(ALIASES, where, order_by=("name",))
        aliases = [
            {
                "AliasName": a["name"],
                "AliasArn": alias_arn(ctx.region, ctx.account_id, a["name"]),
                "TargetKeyId": a["key_id"],
                "CreationDate": a["created"],
                "LastUpdatedDate": a["updated"],
            }
            for a in rows
            if self._live_key(a["key_id"]) is not None
        ]
        return paged("Aliases", aliases, params, lambda a: a["AliasName"])
