"""Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies. A key has one policy,
named ``default``; the authorizer evaluates it as the key's resource policy
(``KmsBase.resource_policy``), and IAM policies count only where it delegates to the
account (the default policy's ``arn:aws:iam::<account>:root`` statement)."""

from __future__ import annotations

from sandlot.iam.policy import MalformedPolicyError, compile_policy
from sandlot.protocol import ServiceError
from sandlot.services.kms.base import KmsBase, unsupported
from sandlot.services.provider import RequestContext

POLICY_NAME = "default"


def check_policy(document: str) -> None:
    """MalformedPolicyDocumentException unless ``document`` is a valid key policy."""
    try:
        compile_policy(document, "key", "key policy")
    except MalformedPolicyError as error:
        raise ServiceError("MalformedPolicyDocumentException", str(error)) from None


def _check_name(name: str | None) -> None:
    if name is not None and name != POLICY_NAME:
        raise ServiceError("NotFoundException", "No such policy exists")


class PolicyOperations(KmsBase):
    def get_key_policy(self, ctx: RequestContext, params: dict) -> dict:
        row = self.find_key(ctx.account_id, ctx.region, params["KeyId"])
        _check_name(params.get("PolicyName"))
        return {"Policy": row["policy"], "PolicyName": POLICY_NAME}

    def put_key_policy(self, ctx: RequestContext, params: dict) -> dict:
        row = self.find_key(ctx.account_id, ctx.region, params["KeyId"])
        _check_name(params.get("PolicyName"))
        if row["manager"] == "AWS":
            raise unsupported("You cannot change the key policy of an AWS managed key.")
        self.not_pending_deletion(row)
        check_policy(params["Policy"])
        row["policy"] = params["Policy"]
        self.save(row)
        return {}

    def list_key_policies(self, ctx: RequestContext, params: dict) -> dict:
        self.find_key(ctx.account_id, ctx.region, params["KeyId"])
        return {"PolicyNames": [POLICY_NAME], "Truncated": False}
