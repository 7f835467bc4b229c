"""Enforcement: may this principal make this request? Asked for every request, external
(the gateway) or internal (`Platform.call`), before the provider runs.

An account's root is allowed everything in its own account without evaluation, as in
AWS, unless the resource's policy has a Deny statement (a bucket policy's explicit Deny
binds the owner's root too, except for the bucket-policy operations) or is a KMS key
policy (which must allow even the root); everything else — IAM users, role sessions, AWS services acting for an account,
roots reaching into another account, and anyone assuming a role (trust policies must
allow even the root) — is evaluated by `iam.policy.evaluate` over:

- the identity policies IAM holds for the user (its own, its groups') or the session's
  role, its permissions boundary and the session's policies;
- the resource policy of each resource the request touches, from the provider that owns
  it (``provider.resource_policy(arn)``: Lambda function policies, S3 bucket policies,
  role trust policies);
- the condition keys of the request (`iam.actions`) and the global keys sandlot knows.

Compiled identity policies are cached per principal and dropped when the account's IAM
data changes. Every evaluated decision is logged (`iam.decisions`).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sandlot.iam.actions import authorizations, only_own_resources
from sandlot.iam.decisions import DecisionLog
from sandlot.iam.policy import (
    Caller,
    Decision,
    Outcome,
    Policy,
    Request,
    compile_policy,
    evaluate,
)
from sandlot.protocol import ServiceError
from sandlot.protocol.models import service_model, unauthenticated_operations

if TYPE_CHECKING:
    from sandlot.iam.principal import Principal
    from sandlot.platform import Platform
    from sandlot.services.provider import RequestContext

log = logging.getLogger("sandlot.iam")

MODES = ("enforce", "soft", "off")

# Services whose resources can carry a resource policy (so a root may reach into another
# account, and trust policies bind even a root). A root's requests to other services
# are allowed without looking further.
_RESOURCE_POLICY_SERVICES = frozenset(
    {"lambda", "s3", "sqs", "sns", "sts", "kms", "secretsmanager", "events"}
)

_NO_TRUST = "because no resource-based policy allows the sts:AssumeRole action"

# Actions on a role that its trust policy must allow, whoever asks (even the root): taking
# the role, and tagging or naming the session while doing so.
_TRUST_ACTIONS = frozenset(
    {
        "sts:AssumeRole",
        "sts:AssumeRoleWithWebIdentity",
        "sts:AssumeRoleWithSAML",
        "sts:TagSession",
        "sts:SetSourceIdentity",
    }
)

# Actions creating the resource they name: no existing resource policy applies.
_CREATES = frozenset({"s3:CreateBucket"})

# A bucket policy's explicit Deny binds the bucket owner's root too, except for these:
# the root can always read, replace or delete the policy, so it cannot lock itself out.
_ROOT_NEVER_DENIED = frozenset(
    {"s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"}
)

# ARN service field → the provider that owns resources of that kind.
_OWNERS = {
    "lambda": "lambda",
    "s3": "s3",
    "iam": "iam",
    "kms": "kms",
    "sqs": "sqs",
    "sns": "sns",
    "secretsmanager": "secretsmanager",
    "ssm": "ssm",
    "execute-api": "apigateway",
    "events": "events",
    "logs": "logs",
}


@dataclass(frozen=True, slots=True)
class ResourcePolicy:
    """A resource's policy as its provider returns it (``document`` None: the resource
    exists but has no policy)."""

    document: str | None
    account: str  # the account owning the resource
    kind: str = "resource"  # or "trust" for a role's trust policy
    tags: Mapping[str, str] = field(default_factory=dict)  # aws:ResourceTag/<key>


@dataclass(frozen=True, slots=True)
class _Identity:
    caller: Caller
    policies: tuple[Policy, ...]
    boundary: Policy | None
    sessions: tuple[Policy, ...] | None
    policy_ids: dict[str, list[str]]


class Authorizer:
    """Evaluates requests for one platform; see the module docstring."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.mode = platform.settings.iam
        if self.mode not in MODES:
            raise ValueError(f"iam mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        self.decisions = DecisionLog(platform.store)
        self._identities: dict[tuple[str, str, str | None, str | None], _Identity] = {}

    def invalidate(self, account: str) -> None:
        """Forget compiled identities of ``account`` (its IAM data changed)."""
        for key in [k for k in self._identities if k[0] == account]:
            del self._identities[key]

    def check(
        self,
        ctx: RequestContext,
        params: dict[str, Any],
        *,
        context: dict[str, object] | None = None,
        record: bool = True,
    ) -> None:
        """Raise the service's AccessDenied error unless the request is allowed.

        ``context`` adds request condition keys (``aws:SourceIp``,
        ``aws:SecureTransport``, ``aws:SourceArn`` of a service's call…). ``record=False``
        keeps the decisions out of the decision log (sandlot's own work done as a
        principal, e.g. delivering a function's logs as its role, is not its code's).
        """
        if self.mode == "off":
            return
        principal = ctx.principal
        if principal.is_root and (
            ctx.service not in _RESOURCE_POLICY_SERVICES
            or only_own_resources(ctx.service, params, principal.account_id)
        ):
            return
        if principal.kind == "anonymous":
            # Only operations AWS serves without credentials get here (the gateway
            # decides); the credential is in the request and the provider checks it
            # against the trust policy (``federated_trust``).
            if not served_without_credentials(ctx.service, ctx.operation):
                raise access_denied(ctx.service, "Request is missing Authentication Token")
            return
        needed = authorizations(
            ctx.service,
            ctx.operation,
            params,
            ctx.account_id,
            ctx.region,
            caller_arn=principal.arn,
            iam_path=lambda kind, name: self._iam_path(ctx.account_id, kind, name),
            kms_key=lambda kind, ref: self._kms_key(ctx, kind, ref),
            secret_arn=lambda ref: self._secret_arn(ctx, ref),
            leading_keys=lambda p: self._leading_keys(ctx, p),
        )
        identity: _Identity | None = None
        seq = 0
        for auth in needed:
            for resource in auth.resources:
                # A root in its own account is allowed, unless a trust policy must allow it
                # (AssumeRole). S3 ARNs name no account: the bucket's owner is asked.
                root_here = principal.is_root and auth.action not in _TRUST_ACTIONS
                arn_account = _arn_account(resource)
                if root_here and arn_account == principal.account_id and not _is_kms_key(resource):
                    continue
                owned = self._resource_policy(resource, auth.action)
                owner = owned.account if owned is not None else arn_account
                if (
                    root_here
                    and owner in (None, principal.account_id)
                    and not _may_deny_root(owned, auth.action, resource)
                ):
                    continue
                if identity is None:
                    identity = self._identity(principal)
                keys: dict[str, object] = {"aws:RequestedRegion": ctx.region, **auth.context}
                if owner:  # the global key naming the resource owner's account
                    keys["aws:ResourceAccount"] = owner
                if context:
                    keys.update(context)
                if owned is not None:
                    keys.update((f"aws:ResourceTag/{k}", v) for k, v in owned.tags.items())
                decision = _decide(identity, auth.action, resource, keys, owned, owner)
                policy_ids = identity.policy_ids
                if owned is not None and owned.document is not None:
                    policy_ids = {**policy_ids, owned.kind: [resource]}
                if record:
                    self.decisions.record(
                        ctx.request_id,
                        seq,
                        account_id=ctx.account_id,
                        principal_arn=principal.arn,
                        role_arn=principal.source_arn if principal.kind == "assumed-role" else None,
                        service=ctx.service,
                        operation=ctx.operation,
                        action=auth.action,
                        resource=resource,
                        decision=decision,
                        enforced=self.mode == "enforce",
                        policies=policy_ids,
                    )
                seq += 1
                if decision.allowed:
                    continue
                message = denied_message(principal.arn, auth.action, resource, decision.reason)
                if self.mode == "soft":
                    log.warning(
                        "iam soft mode, allowed anyway: %s (request %s)", message, ctx.request_id
                    )
                    continue
                raise access_denied(ctx.service, message)

    def permits(
        self,
        principal: Principal,
        service: str,
        operation: str,
        params: dict[str, Any],
        region: str,
        context: dict[str, object] | None = None,
    ) -> bool:
        """Whether ``principal`` may make this request (e.g. S3 checking, when a
        notification is configured, that it may invoke the function)."""
        from sandlot.services.provider import RequestContext

        ctx = RequestContext(
            str(uuid.uuid4()), principal.account_id, region, principal, service, operation, None
        )
        try:
            self.check(ctx, params, context=context)
        except ServiceError:
            return False
        return True

    def decide(
        self,
        principal: Principal,
        action: str,
        resource: str,
        *,
        request_id: str,
        region: str,
        context: dict[str, object] | None = None,
    ) -> Decision:
        """A data plane's question, which is no AWS API call (``execute-api:Invoke`` on a
        method ARN): evaluated over the principal's policies and the resource's policy,
        and logged, as a request's are. Soft mode allows (and warns), off allows."""
        allowed = Decision(Outcome.ALLOW, (), "")
        if self.mode == "off":
            return allowed
        owned = self._resource_policy(resource, action)
        owner = owned.account if owned is not None else _arn_account(resource)
        if (
            principal.is_root
            and owner == principal.account_id
            and not _may_deny_root(owned, action, resource)
        ):
            return allowed
        if principal.kind == "anonymous":
            identity = _Identity(Caller("anonymous", arn="anonymous"), (), None, None, {})
        else:
            identity = self._identity(principal)
        keys: dict[str, object] = {"aws:RequestedRegion": region, **(context or {})}
        decision = _decide(identity, action, resource, keys, owned, owner)
        self.decisions.record(
            request_id,
            0,
            account_id=principal.account_id,
            principal_arn=principal.arn,
            role_arn=principal.source_arn if principal.kind == "assumed-role" else None,
            service=action.split(":", 1)[0],
            operation=action.split(":", 1)[1],
            action=action,
            resource=resource,
            decision=decision,
            enforced=self.mode == "enforce",
            policies=identity.policy_ids,
        )
        if not decision.allowed and self.mode == "soft":
            log.warning("iam soft mode, allowed anyway: %s (request %s)",
                        denied_message(principal.arn, action, resource, decision.reason),
                        request_id)  # fmt: skip
            return allowed
        return decision

    def can_assume(self, role_arn: str, service_principal: str, account: str) -> bool:
        """Whether ``service_principal`` (``lambda.amazonaws.com``) may assume the role."""
        if self.mode == "off":
            return True
        owned = self._resource_policy(role_arn, "sts:AssumeRole")
        identity = _Identity(Caller("service", arn=service_principal), (), None, None, {})
        keys: dict[str, object] = {"aws:SourceAccount": account}
        owner = owned.account if owned is not None else None
        return _decide(identity, "sts:AssumeRole", role_arn, keys, owned, owner).allowed

    def federated_trust(
        self,
        ctx: RequestContext,
        role_arn: str,
        provider_arn: str,
        keys: dict[str, object],
        *,
        tagging: bool = False,
        caller_type: str = "web-identity",
    ) -> Decision:
        """Whether the role's trust policy lets a user of identity provider
        ``provider_arn`` (an OIDC or SAML provider) take ``ctx.operation``'s action
        (``sts:AssumeRoleWithWebIdentity``…), and ``sts:TagSession`` when the token
        carries session tags (``tagging``), with its claims and tags as ``keys``. Only
        the trust policy decides: the caller has no identity policies. Each decision is
        logged as every decision is."""
        if self.mode == "off":
            return Decision(Outcome.ALLOW, (), "iam mode off")
        owned = self._resource_policy(role_arn, "sts:AssumeRole")  # the trust policy
        account = owned.account if owned is not None and owned.account else ctx.account_id
        caller = Caller(caller_type, account, provider_arn, federated_provider=provider_arn)
        identity = _Identity(caller, (), None, None, {})
        actions = [f"sts:{ctx.operation}"] + (["sts:TagSession"] if tagging else [])
        for seq, action in enumerate(actions):
            decision = _decide(identity, action, role_arn, keys, owned, account)
            self.decisions.record(
                ctx.request_id,
                seq,
                account_id=account,
                principal_arn=provider_arn,
                role_arn=None,
                service=ctx.service,
                operation=ctx.operation,
                action=action,
                resource=role_arn,
                decision=decision,
                enforced=self.mode == "enforce",
                policies={owned.kind: [role_arn]} if owned is not None and owned.document else {},
            )
            if not decision.allowed:
                if self.mode == "soft":
                    log.warning("iam soft mode, allowed anyway: %s %s", action, role_arn)
                    continue
                return decision
        return Decision(Outcome.ALLOW, (), "")

    # -- what the request is evaluated against ----------------------------------------

    def _resource_policy(self, resource: str, action: str) -> ResourcePolicy | None:
        parts = resource.split(":", 5)
        if len(parts) < 6 or parts[0] != "arn":
            return None
        owner = _OWNERS.get(parts[2])
        if owner is None or (owner == "iam" and action not in _TRUST_ACTIONS):
            return None
        if action in _CREATES:
            return None  # the resource does not exist yet (a taken name is the service's answer)
        provider = self.platform.provider(owner)
        lookup = getattr(provider, "resource_policy", None)
        return lookup(resource) if lookup is not None else None

    def _iam_path(self, account: str, kind: str, name: str) -> str | None:
        # An existing entity's ARN includes its path, which a request naming it omits.
        provider = self.platform.provider("iam")
        return provider.entity_path(account, kind, name) if provider is not None else None

    def _kms_key(self, ctx: RequestContext, kind: str, ref: object) -> str | None:
        # A KMS request names its key by alias, by a ciphertext or by a grant token;
        # AWS authorizes on the key's ARN, which only KMS knows.
        provider = self.platform.provider("kms")
        return provider.key_arn_for(ctx.account_id, ctx.region, kind, ref) if provider else None

    def _secret_arn(self, ctx: RequestContext, ref: str) -> str | None:
        # A secret named without its ARN's random suffix is authorized on its full ARN.
        provider = self.platform.provider("secretsmanager")
        return provider.secret_arn_for(ctx.account_id, ctx.region, ref) if provider else None

    def _leading_keys(self, ctx: RequestContext, params: dict) -> list[str]:
        # dynamodb:LeadingKeys: partition-key values, which only the table's schema tells.
        if ctx.service != "dynamodb":
            return []
        provider = self.platform.provider("dynamodb")
        return provider.leading_keys_for(ctx, params) if provider else []

    def _identity(self, principal: Principal) -> _Identity:
        key = (
            principal.account_id,
            principal.arn,
            principal.session_policy,
            principal.session_context,
        )
        found = self._identities.get(key)
        if found is None:
            found = self._identities[key] = self._load_identity(principal)
        return found

    def _load_identity(self, principal: Principal) -> _Identity:
        account = principal.account_id
        if principal.kind == "service":
            return _Identity(Caller("service", arn=principal.arn), (), None, None, {})
        if principal.kind == "root":
            caller = Caller("root", account, principal.arn, principal.user_id)
            return _Identity(caller, (), None, None, {})
        iam = self.platform.provider("iam")
        entity_arn = principal.source_arn if principal.kind == "assumed-role" else principal.arn
        kind = "role" if principal.kind == "assumed-role" else "user"
        name = (entity_arn or "").rsplit("/", 1)[-1]
        found = iam.identity(account, kind, name) if iam is not None else None
        if principal.kind == "assumed-role":
            caller = Caller(
                "assumed-role",
                account,
                principal.arn,
                principal.user_id,
                role_arn=entity_arn,
                tags=_principal_tags(found.tags if found else {}, principal.session_context),
                source_identity=json.loads(principal.session_context or "{}").get(
                    "source_identity"
                ),
            )
        else:
            caller = Caller(
                "user",
                account,
                principal.arn,
                principal.user_id,
                user_name=name,
                tags=found.tags if found else {},
            )
        if found is None or (found.arn != entity_arn):
            # The user or role is gone (or was recreated): it has no permissions.
            return _Identity(caller, (), None, None, {"identity": []})
        policies = tuple(compile_policy(doc, "identity", pid) for pid, doc in found.policies)
        ids = {"identity": [pid for pid, _ in found.policies]}
        boundary = None
        if found.boundary is not None:
            boundary = compile_policy(found.boundary[1], "identity", found.boundary[0])
            ids["boundary"] = [found.boundary[0]]
        sessions = None
        if principal.session_policy is not None:
            sessions, ids["session"] = self._session_policies(iam, account, principal)
        return _Identity(caller, policies, boundary, sessions, ids)

    def _session_policies(
        self, iam, account: str, principal: Principal
    ) -> tuple[tuple[Policy, ...], list[str]]:
        given = json.loads(principal.session_policy or "{}")
        found: list[tuple[str, str]] = []
        if given.get("Policy"):
            found.append(("session policy", given["Policy"]))
        for arn in given.get("PolicyArns", []):
            try:
                found.append((arn, iam.policy_document(account, arn)))
            except ServiceError:
                continue  # a deleted managed policy grants nothing
        return tuple(compile_policy(doc, "identity", pid) for pid, doc in found), [
            pid for pid, _ in found
        ]


def _principal_tags(role_tags: Mapping[str, str], session_context: str | None) -> dict[str, str]:
    """A session's principal tags: the role's, overridden by the session's own tags with
    the same key regardless of case, as AWS documents."""
    given = json.loads(session_context).get("tags", {}) if session_context else {}
    overridden = {key.lower() for key in given}
    return {**{k: v for k, v in role_tags.items() if k.lower() not in overridden}, **given}


def _decide(
    identity: _Identity,
    action: str,
    resource: str,
    keys: dict[str, object],
    owned: ResourcePolicy | None,
    owner: str | None = None,
) -> Decision:
    if (owned is None or owned.document is None) and action in _TRUST_ACTIONS:
        # No such role (or no trust policy): nobody may assume it; AWS says no more.
        return Decision(Outcome.IMPLICIT_DENY, (), _NO_TRUST.replace("sts:AssumeRole", action))
    request = Request(
        identity.caller,
        action,
        resource,
        keys,
        identity.policies,
        resource_policy=_compile_resource(owned, resource),
        session_policies=identity.sessions,
        permissions_boundary=identity.boundary,
        resource_account=owner,
    )
    decision = evaluate(request)
    return decision if decision.allowed else evaluate(request, trace=True)  # explain's why


def _may_deny_root(owned: ResourcePolicy | None, action: str, resource: str) -> bool:
    """Whether the resource's policy could deny its own account's root (it has a Deny
    statement): then the root is evaluated like anyone, and only a Deny stops it."""
    if owned is None or owned.document is None or action in _ROOT_NEVER_DENIED:
        return False
    if owned.kind == "key":
        return True  # a KMS key policy must allow even its own account's root
    policy = _compile_resource(owned, resource)  # cached by text: the decision reuses it
    return policy is not None and any(s.effect == "Deny" for s in policy.statements)


def _is_kms_key(resource: str) -> bool:
    """KMS keys are AWS's exception to the root's free pass: their key policy decides."""
    return resource.startswith("arn:aws:kms:") and ":key/" in resource


def _arn_account(resource: str) -> str | None:
    """The account an ARN names (None for "*" and S3's account-less ARNs)."""
    parts = resource.split(":", 5)
    return parts[4] or None if len(parts) == 6 else None


def _compile_resource(owned: ResourcePolicy | None, resource: str) -> Policy | None:
    if owned is None or owned.document is None:
        return None
    return compile_policy(owned.document, owned.kind, resource)  # type: ignore[arg-type]


def denied_message(caller_arn: str, action: str, resource: str, reason: str) -> str:
    """AWS's AccessDenied message form."""
    on = f" on resource: {resource}" if resource != "*" else ""
    return f"User: {caller_arn} is not authorized to perform: {action}{on} {reason}"


def served_without_credentials(service: str, operation: str) -> bool:
    """Whether AWS serves ``operation`` to unsigned requests (its model says
    ``authtype: none``: STS's AssumeRoleWithWebIdentity and …WithSAML, Cognito's
    sign-in operations), the request itself carrying the credential."""
    return operation in unauthenticated_operations(service)


def access_denied(service: str, message: str) -> ServiceError:
    """The service's own access-denied error: AccessDeniedException for JSON protocols,
    AccessDenied for XML and query ones and for JSON services that kept their query
    codes (SQS: clients read ``AccessDenied`` from ``x-amzn-query-error``); SNS names
    it ``AuthorizationError``."""
    if service == "sns":
        return ServiceError("AuthorizationError", message, 403)
    model = service_model(service)
    json_only = "awsQueryCompatible" not in model.metadata
    code = "AccessDenied"
    if json_only and model.resolved_protocol in ("json", "rest-json"):
        code = "AccessDeniedException"
    # DynamoDB answers every client error, AccessDeniedException included, with 400.
    status = 400 if service in _STATUS_400_DENIALS else 403
    return ServiceError(code, message, status)


_STATUS_400_DENIALS = frozenset({"dynamodb", "dynamodbstreams", "stepfunctions"})
