"""The input of an evaluation: who calls, what they do, on what, and which policies apply."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandlot.iam.policy.document import Policy

# aws:PrincipalType values, as AWS's global condition key reference lists them.
_PRINCIPAL_TYPES = {
    "root": "Account",
    "user": "User",
    "assumed-role": "AssumedRole",
    "federated-user": "FederatedUser",
    "web-identity": "WebIdentityUser",
    "saml": "SAMLUser",
    "service": "Service",
    "anonymous": "Anonymous",
}


@dataclass(frozen=True, slots=True)
class Caller:
    """The principal a request acts as, as the evaluation needs it.

    ``type`` is ``root``, ``user``, ``assumed-role``, ``federated-user``, ``service``,
    ``web-identity`` or ``saml`` (a user of an OIDC or SAML provider assuming a role) or
    ``anonymous``. For a role session ``arn`` is the session ARN
    (``arn:aws:sts::A:assumed-role/R/S``) and ``role_arn`` the role's
    (``arn:aws:iam::A:role/path/R``). For a service ``arn`` is its name
    (``s3.amazonaws.com``). ``federated_provider`` is what a ``Federated`` principal
    names (an OIDC/SAML provider or ``cognito-identity.amazonaws.com``).
    """

    type: str
    account: str = ""
    arn: str = ""
    user_id: str = ""
    user_name: str | None = None
    role_arn: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    source_identity: str | None = None
    federated_provider: str | None = None

    @property
    def principal_arn(self) -> str:
        """``aws:PrincipalArn``: the role's ARN for a role session, else the caller's."""
        return self.role_arn or self.arn

    def global_keys(self) -> dict[str, object]:
        """The ``aws:*`` principal keys AWS puts in the request context (lower-cased)."""
        keys: dict[str, object] = {}
        if self.type in ("service", "anonymous"):
            if self.type == "service":
                keys["aws:principalservicename"] = self.arn
            return keys
        keys["aws:principalarn"] = self.principal_arn
        keys["aws:principalaccount"] = self.account
        keys["aws:principaltype"] = _PRINCIPAL_TYPES.get(self.type, self.type)
        keys["aws:userid"] = self.user_id
        if self.type == "user" and self.user_name:
            keys["aws:username"] = self.user_name  # only IAM users have aws:username
        if self.source_identity:
            keys["aws:sourceidentity"] = self.source_identity
        for key, value in self.tags.items():
            keys[f"aws:principaltag/{key.lower()}"] = value
        return keys


@dataclass(frozen=True, slots=True)
class Request:
    """One authorisation question: may ``caller`` do ``action`` on ``resource``?

    ``context`` holds the request's condition keys (``aws:SourceIp``, ``s3:prefix``…;
    names are case-insensitive; a list value is a multivalued key). Keys derived from the
    caller (``aws:username``, ``aws:PrincipalTag/k``…) are added unless given here.
    ``session_policies`` is None when the session was created without one; an empty
    sequence would allow nothing. ``resource_account`` is the account owning the
    resource (None: the caller's own, e.g. for actions on no resource).
    """

    caller: Caller
    action: str
    resource: str = "*"
    context: Mapping[str, object] = field(default_factory=dict)
    identity_policies: Sequence[Policy] = ()
    resource_policy: Policy | None = None
    session_policies: Sequence[Policy] | None = None
    permissions_boundary: Policy | None = None
    resource_account: str | None = None

    @property
    def cross_account(self) -> bool:
        return self.resource_account is not None and self.resource_account != self.caller.account
