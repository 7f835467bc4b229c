"""Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies. A key has one policy,
named ``default``; the authorizer evaluates it as the key's resource policy
(``KmsBase.resource_policy``), and IAM policies count only where it delegates to the
account (the default policy's ``arn:aws:iam::<account>:root`` statement)."""

from __future__ import annotations

from sandlot.iam.policy import Caller, MalformedPolicyError, compile_policy
from sandlot.iam.policy.principals import Strength
from sandlot.protocol import ServiceError
from sandlot.services.kms.base import KmsBase, unsupported
from sandlot.services.provider import RequestContext

POLICY_NAME = "default"
_LOCKOUT = "The new key policy will not allow you to update the key policy in the future."


def check_policy(document: str, ctx: RequestContext | None = None, bypass: bool = False) -> None:
    """MalformedPolicyDocumentException unless ``document`` is a valid key policy and,
    unless ``bypass`` (BypassPolicyLockoutSafetyCheck), lets the caller of ``ctx`` put
    the key policy again (AWS's lockout safety check: an Allow of kms:PutKeyPolicy
    naming the caller, its role or its account; conditions are not evaluated)."""
    try:
        policy = compile_policy(document, "key", "key policy")
    except MalformedPolicyError as error:
        raise ServiceError("MalformedPolicyDocumentException", str(error)) from None
    if ctx is None or bypass:
        return
    principal = ctx.principal
    kind = principal.kind
    caller = Caller(
        kind,
        principal.account_id,
        principal.arn,
        principal.user_id,
        role_arn=principal.source_arn if kind == "assumed-role" else None,
    )
    for statement in policy.candidates("kms"):
        if statement.effect != "Allow" or statement.principals is None:
            continue
        if statement.not_principal or statement.principals.match(caller) is Strength.NONE:
            continue
        if statement.actions.matches("kms:putkeypolicy", "kms") != statement.not_action:
            return
    raise ServiceError("MalformedPolicyDocumentException", _LOCKOUT)


def _check_name(name: str | None) -> None:
    if name is not None and name != POLICY_NAME:
        raise ServiceError("NotFoundException", "No such policy exists")


class PolicyOperations(KmsBase):
    def get_key_policy(self, ctx: RequestContext, params: dict) -> dict:
        row = self.lookup(ctx, params["KeyId"])
        _check_name(params.get("PolicyName"))
        return {"Policy": row["policy"], "PolicyName": POLICY_NAME}

    def put_key_policy(self, ctx: RequestContext, params: dict) -> dict:
        row = self.lookup(ctx, params["KeyId"])
        _check_name(params.get("PolicyName"))
        if row["manager"] == "AWS":
            raise unsupported("You cannot change the key policy of an AWS managed key.")
        self.not_pending_deletion(row)
        check_policy(params["Policy"], ctx, bool(params.get("BypassPolicyLockoutSafetyCheck")))
        row["policy"] = params["Policy"]
        self.save(row)
        return {}

    def list_key_policies(self, ctx: RequestContext, params: dict) -> dict:
        self.lookup(ctx, params["KeyId"])
        return {"PolicyNames": [POLICY_NAME], "Truncated": False}
