"""The decision: AWS's policy evaluation logic over a `Request`.

Order, as AWS documents it: an explicit Deny in any applicable policy (identity-based,
resource-based, permissions boundary, session) decides DENY. Otherwise:

- the account root is allowed in its own account (it has no identity policies);
- within one account an Allow from either the identity side or the resource policy
  suffices, where the identity side is identity ∩ permissions boundary ∩ session
  policies. A resource-policy Allow naming the caller directly (user ARN, session ARN,
  ``*``) stands on its own; one naming a session's role ARN joins the identity side
  (limited by boundary and session policies); one naming the account only delegates;
- across accounts both sides must allow: the caller's identity side and the resource
  policy (an account principal suffices there);
- an AWS service principal is allowed only by a resource policy naming it.

Everything else is an implicit deny.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sandlot.iam.policy.document import Policy
from sandlot.iam.policy.principals import Strength
from sandlot.iam.policy.request import Request


class Outcome(StrEnum):
    ALLOW = "ALLOW"
    EXPLICIT_DENY = "EXPLICIT_DENY"
    IMPLICIT_DENY = "IMPLICIT_DENY"


# How AWS's AccessDenied messages name each policy type.
_NAMES = {
    "identity": "identity-based policy",
    "resource": "resource-based policy",
    "session": "session policy",
    "boundary": "permissions boundary",
}


def _article(source: str) -> str:
    name = _NAMES[source]
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


@dataclass(frozen=True, slots=True)
class StatementRef:
    """A statement of one policy, as decisions and traces name it."""

    source: str  # identity | resource | session | boundary
    policy_id: str
    sid: str | None
    index: int
    effect: str

    def __str__(self) -> str:
        where = self.sid if self.sid else f"statement #{self.index}"
        return f"{_NAMES[self.source]} {self.policy_id or '(unnamed)'}: {where} ({self.effect})"


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """One statement looked at: whether it applied, else the element that ruled it out."""

    statement: StatementRef
    applied: bool
    ruled_out_by: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer. ``reason`` completes AWS's message: "User: … is not authorized to
    perform: s3:PutObject on resource: … <reason>"; it is empty for an ALLOW."""

    outcome: Outcome
    deciding: tuple[StatementRef, ...]
    reason: str
    trace: tuple[TraceEntry, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOW


_CLOCK_KEYS = frozenset(("aws:currenttime", "aws:epochtime"))


class _Context:
    """The request context, lower-cased and built only if a statement asks for it."""

    __slots__ = ("_request", "_keys")

    def __init__(self, request: Request) -> None:
        self._request = request
        self._keys: dict[str, object] | None = None

    def get(self, key: str) -> object:
        keys = self._keys
        if keys is None:
            keys = self._keys = self._build()
        value = keys.get(key)
        if value is None and key in _CLOCK_KEYS:
            now = time.time()  # only read the clock when a policy asks for the time
            keys["aws:epochtime"] = int(now)
            keys["aws:currenttime"] = datetime.fromtimestamp(now, UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
            value = keys[key]
        return value

    def _build(self) -> dict[str, object]:
        request = self._request
        keys: dict[str, object] = {
            "aws:principalisawsservice": request.caller.type == "service",
        }
        keys.update(request.caller.global_keys())
        keys.update((k.lower(), v) for k, v in request.context.items())
        return keys


class _Scan:
    """Matching statements of one policy set, split by effect."""

    __slots__ = ("allows", "denies")

    def __init__(self) -> None:
        self.allows: list[tuple[StatementRef, Strength]] = []
        self.denies: list[StatementRef] = []

    def strongest(self) -> Strength:
        return max((s for _, s in self.allows), default=Strength.NONE)


def _scan(
    policies: Sequence[Policy],
    source: str,
    request: Request,
    action: str,
    service: str,
    lookup,
    trace: list[TraceEntry] | None,
) -> _Scan:
    scan = _Scan()
    caller = request.caller
    for policy in policies:
        for statement in policy.candidates(service):
            strength = Strength.DIRECT
            ruled_out = None
            principals = statement.principals
            if principals is not None:
                if statement.not_principal:
                    # AWS: a NotPrincipal Deny always applies to a principal that has a
                    # permissions boundary, whatever it names.
                    spared = principals.excludes(caller) and not (
                        request.permissions_boundary is not None and statement.effect == "Deny"
                    )
                    if spared:
                        ruled_out = "NotPrincipal"
                else:
                    strength = principals.match(caller)
                    if strength is Strength.NONE:
                        ruled_out = "Principal"
            if ruled_out is None:
                ruled_out = statement.applies_to(action, service, request.resource, lookup)
            ref = None
            if ruled_out is None or trace is not None:
                ref = StatementRef(
                    source, policy.policy_id, statement.sid, statement.index, statement.effect
                )
            if trace is not None:
                trace.append(TraceEntry(ref, ruled_out is None, ruled_out or ""))
            if ruled_out is None:
                if statement.effect == "Deny":
                    scan.denies.append(ref)
                else:
                    scan.allows.append((ref, strength))
    return scan


_EMPTY = _Scan()


def evaluate(request: Request, *, trace: bool = False) -> Decision:
    """Decide ``request``. With ``trace`` the decision lists every statement looked at
    (statements of other services are skipped by the index and not listed)."""
    action = request.action.lower()
    service = action.split(":", 1)[0]
    lookup = _Context(request).get
    entries: list[TraceEntry] | None = [] if trace else None
    caller = request.caller

    def scan(policies: Sequence[Policy] | None, source: str) -> _Scan:
        if not policies:
            return _EMPTY
        return _scan(policies, source, request, action, service, lookup, entries)

    has_identity = caller.type not in ("root", "service", "anonymous")
    identity = scan(request.identity_policies if has_identity else (), "identity")
    boundary = scan(
        (request.permissions_boundary,) if has_identity and request.permissions_boundary else (),
        "boundary",
    )
    sessions = request.session_policies if has_identity else None
    session = scan(sessions, "session")
    resource = scan((request.resource_policy,) if request.resource_policy else (), "resource")

    def decide(outcome: Outcome, deciding, reason: str = "") -> Decision:
        return Decision(outcome, tuple(deciding), reason, tuple(entries or ()))

    for part, source in (
        (identity, "identity"),
        (resource, "resource"),
        (boundary, "boundary"),
        (session, "session"),
    ):
        if part.denies:
            return decide(
                Outcome.EXPLICIT_DENY, part.denies, f"with an explicit deny in {_article(source)}"
            )

    deciding, missing = _grant(request, identity, boundary, session, resource)
    if missing is not None:
        reason = f"because no {_NAMES[missing]} allows the {request.action} action"
        return decide(Outcome.IMPLICIT_DENY, (), reason)
    return decide(Outcome.ALLOW, deciding)


def _grant(
    request: Request, identity: _Scan, boundary: _Scan, session: _Scan, resource: _Scan
) -> tuple[list[StatementRef], str | None]:
    """With no explicit deny: the statements that allow, or the policy type whose missing
    Allow makes the implicit deny (named as AWS's AccessDenied messages name it)."""
    caller = request.caller
    resource_allows = [ref for ref, _ in resource.allows]
    policy = request.resource_policy
    if policy is not None and policy.kind in ("trust", "key") and not resource_allows:
        # Role trust policies and KMS key policies are AWS's exceptions: they must allow,
        # even in one account (a key policy naming the account delegates to IAM).
        return [], "resource"
    if caller.type in ("service", "anonymous"):
        # Services and anonymous callers have no identity: only a resource policy grants.
        return (resource_allows, None) if resource_allows else ([], "resource")
    if caller.type == "root":
        if not request.cross_account:
            return [], None
        # Root acts with its account's full authority; the other account must grant.
        return (resource_allows, None) if resource_allows else ([], "resource")

    # A resource-policy Allow naming a session's role joins the identity side (AWS adds it
    # to the role's permissions before the session policy limits them).
    base = [ref for ref, _ in identity.allows]
    if not base and not request.cross_account:
        base = [ref for ref, s in resource.allows if s is Strength.ROLE]
    boundary_ok = request.permissions_boundary is None or bool(boundary.allows)
    session_ok = request.session_policies is None or bool(session.allows)
    side = [*base, *(r for r, _ in boundary.allows), *(r for r, _ in session.allows)]
    missing = "identity" if not base else "boundary" if not boundary_ok else "session"
    identity_side = bool(base) and boundary_ok and session_ok

    if request.cross_account:
        if not identity_side:
            return [], missing
        return ([*side, *resource_allows], None) if resource_allows else ([], "resource")
    if resource.strongest() is Strength.DIRECT:
        # Naming the user or the session itself: not limited by boundary or session policy.
        return [ref for ref, s in resource.allows if s is Strength.DIRECT], None
    return (side, None) if identity_side else ([], missing)
