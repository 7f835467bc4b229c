"""Access keys of IAM users (and of the account root), issued through the platform's
CredentialStore so that they authenticate at the gateway with signature checks."""

from __future__ import annotations

from sandlot.iam.credentials import DELETED, Credential
from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError
from sandlot.services.iam.base import IamBase, checked, limit_exceeded, no_such_entity, timestamp
from sandlot.services.provider import RequestContext

KEYS_PER_USER = 2


def _metadata(credential: Credential, user_name: str | None) -> dict:
    out = {
        "AccessKeyId": credential.access_key_id,
        "Status": credential.status,
        "CreateDate": timestamp(credential.created_at),
    }
    if user_name is not None:
        out["UserName"] = user_name
    return out


class AccessKeys(IamBase):
    """CreateAccessKey, ListAccessKeys, UpdateAccessKey, DeleteAccessKey, last use."""

    def _owner(self, ctx: RequestContext, params: dict) -> tuple[Principal, str | None]:
        """The principal whose keys a call is about, and its user name (None for a root).

        Without ``UserName`` the call is about the caller's own keys, as in AWS.
        """
        account = ctx.account_id
        if "UserName" in params:
            row = self.entity(account, "user", params["UserName"])
            return Principal(account, row["arn"], row["entity_id"], "user"), row["name"]
        caller = ctx.principal
        if caller.is_root:
            return Principal.root(account), None
        if caller.kind == "user":
            return Principal(account, caller.arn, caller.user_id, "user"), caller.arn.rsplit(
                "/", 1
            )[1]
        raise ServiceError(
            "ValidationError", "Must specify userName when calling with non-User credentials"
        )

    def _key(self, ctx: RequestContext, params: dict) -> tuple[Credential, str | None]:
        owner, user_name = self._owner(ctx, params)
        key_id = params["AccessKeyId"]
        for credential in self.platform.credentials.list_for(owner.account_id, owner.arn):
            if credential.access_key_id == key_id:
                return credential, user_name
        who = f"user name {user_name}" if user_name else "the root user"
        raise no_such_entity(f"The Access Key with id {key_id} cannot be found for {who}.")

    @checked
    def create_access_key(self, ctx: RequestContext, params: dict) -> dict:
        owner, user_name = self._owner(ctx, params)
        credentials = self.platform.credentials
        with self.store.transaction():
            if len(credentials.list_for(owner.account_id, owner.arn)) >= KEYS_PER_USER:
                raise limit_exceeded(f"Cannot exceed quota for AccessKeysPerUser: {KEYS_PER_USER}")
            credential = credentials.issue_long_term(owner)
        out = _metadata(credential, user_name)
        out["SecretAccessKey"] = credential.secret_access_key
        return {"AccessKey": out}

    @checked
    def list_access_keys(self, ctx: RequestContext, params: dict) -> dict:
        owner, user_name = self._owner(ctx, params)
        keys = self.platform.credentials.list_for(owner.account_id, owner.arn)
        return {"AccessKeyMetadata": [_metadata(k, user_name) for k in keys], "IsTruncated": False}

    @checked
    def update_access_key(self, ctx: RequestContext, params: dict) -> dict:
        credential, _ = self._key(ctx, params)
        self.platform.credentials.set_status(credential.access_key_id, params["Status"])
        return {}

    @checked
    def delete_access_key(self, ctx: RequestContext, params: dict) -> dict:
        credential, _ = self._key(ctx, params)
        self.platform.credentials.delete(credential.access_key_id)
        return {}

    @checked
    def get_access_key_last_used(self, ctx: RequestContext, params: dict) -> dict:
        credential = self.platform.credentials.lookup(params["AccessKeyId"])
        if (
            credential is None
            or credential.status == DELETED
            or credential.principal.account_id != ctx.account_id
        ):
            raise ServiceError("AccessDenied", "The access key was not found in this account.", 403)
        out: dict = {
            # Last use is not recorded (it would cost a write on the gateway's hot path),
            # so every key answers what AWS answers for a key never used.
            "AccessKeyLastUsed": {"ServiceName": "N/A", "Region": "N/A"},
        }
        if credential.principal.kind == "user":
            out["UserName"] = credential.principal.arn.rsplit("/", 1)[1]
        return out
