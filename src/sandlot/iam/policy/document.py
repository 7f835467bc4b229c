"""Parsing and validating IAM policy documents into immutable compiled objects.

`compile_policy` is the entry point; it caches by (document text, kind, id), so a policy
that has not changed is compiled once, and a new version is simply a new text.
Malformed documents raise `MalformedPolicyError` with the message IAM answers with
(``MalformedPolicyDocument``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal as TypingLiteral

from sandlot.iam.policy.conditions import Condition, ConditionSyntaxError, parse_conditions
from sandlot.iam.policy.patterns import (
    Lookup,
    Template,
    arn_regex,
    arn_source,
    compile_regex,
    glob_source,
    has_wildcards,
    parse_template,
    plain_text,
)
from sandlot.iam.policy.principals import Principals, PrincipalSyntaxError, parse_principals

PolicyKind = TypingLiteral["identity", "resource", "trust", "key"]  # key: a KMS key policy
VERSIONS = ("2012-10-17", "2008-10-17")
_STATEMENT_KEYS = frozenset(
    ("Sid", "Effect", "Action", "NotAction", "Resource", "NotResource")
    + ("Principal", "NotPrincipal", "Condition")
)
_SID = re.compile(r"^[0-9A-Za-z]*$")
_VENDOR = re.compile(r"^[A-Za-z0-9*?_-]+$")

SYNTAX = "Syntax errors in policy."


class MalformedPolicyError(ValueError):
    """A document IAM would refuse with ``MalformedPolicyDocument``; str() is AWS's message."""


# --- Action -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActionMatcher:
    """A compiled Action list: exact names, whole services (``s3:*``), other globs."""

    everything: bool
    exact: frozenset[str]  # lower-cased "service:action"
    services: frozenset[str]  # lower-cased services granted whole
    regex: re.Pattern[str] | None
    vendors: frozenset[str] | None  # services it can match; None: any (a wildcard vendor)

    def matches(self, action: str, service: str) -> bool:
        """``action`` and ``service`` lower-cased (action names are case-insensitive)."""
        return (
            self.everything
            or action in self.exact
            or service in self.services
            or (self.regex is not None and self.regex.match(action) is not None)
        )


def _compile_actions(raw: object) -> ActionMatcher:
    items = _string_list(raw)
    exact, services, globs, vendors = set(), set(), [], set()
    everything = False
    for item in items:
        if item == "*":
            everything = True
            continue
        if ":" not in item:
            raise MalformedPolicyError(
                "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
            )
        vendor, name = item.split(":", 1)
        if ":" in name:
            raise MalformedPolicyError("Actions/Condition can contain only one colon.")
        if not vendor or not _VENDOR.match(vendor):
            raise MalformedPolicyError(f"Vendor {vendor} is not valid")
        lowered = item.lower()
        vendors.add(vendor.lower())
        if name == "*" and "*" not in vendor and "?" not in vendor:
            services.add(vendor.lower())
        elif "*" in item or "?" in item:
            globs.append(glob_source((lowered,)))
        else:
            exact.add(lowered)
    regex = compile_regex("|".join(f"(?:{g})" for g in globs)) if globs else None
    wild_vendor = everything or any("*" in v or "?" in v for v in vendors)
    return ActionMatcher(
        everything,
        frozenset(exact),
        frozenset(services),
        regex,
        None if wild_vendor else frozenset(vendors),
    )


# --- Resource ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResourceMatcher:
    """A compiled Resource list. Static patterns are one regex; variable ones resolve."""

    everything: bool
    exact: frozenset[str]
    regex: re.Pattern[str] | None
    templates: tuple[Template, ...]  # patterns holding policy variables

    def matches(self, resource: str, lookup: Lookup) -> bool:
        if self.everything or resource in self.exact:
            return True
        if self.regex is not None and self.regex.match(resource) is not None:
            return True
        for template in self.templates:
            parts = template.resolve(lookup)
            if parts is not None and arn_regex(parts).match(resource):
                return True
        return False


def _compile_resources(raw: object, variables: bool) -> ResourceMatcher:
    exact, globs, dynamic = set(), [], []
    everything = False
    for item in _string_list(raw):
        if item == "*":
            everything = True
            continue
        if not item.startswith("arn:") or item.count(":") < 5 and "*" not in item:
            raise MalformedPolicyError(f'Resource {item} must be in ARN format or "*".')
        template = parse_template(item, variables)
        if template.has_variables:
            dynamic.append(template)
        elif has_wildcards(template.parts):
            globs.append(arn_source(template.parts))
        else:
            exact.add(plain_text(template.parts))  # escapes such as ${*} resolved
    regex = compile_regex("|".join(f"(?:{g})" for g in globs)) if globs else None
    return ResourceMatcher(everything, frozenset(exact), regex, tuple(dynamic))


# --- Statement and Policy ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Statement:
    """One compiled statement. ``index`` is its 0-based position in the document."""

    index: int
    sid: str | None
    effect: str  # "Allow" | "Deny"
    actions: ActionMatcher
    not_action: bool
    resources: ResourceMatcher | None  # None: no Resource element (trust policies)
    not_resource: bool
    principals: Principals | None
    not_principal: bool
    conditions: tuple[Condition, ...]

    @property
    def label(self) -> str:
        """How a trace names the statement: its Sid, else its position."""
        return self.sid if self.sid else f"#{self.index}"

    def applies_to(self, action: str, service: str, resource: str, lookup: Lookup) -> str | None:
        """None if the statement applies; else the element that ruled it out.

        The principal is checked by the caller (it decides how strongly it matched).
        """
        if self.actions.matches(action, service) == self.not_action:
            return "NotAction" if self.not_action else "Action"
        if self.resources is not None and (
            self.resources.matches(resource, lookup) == self.not_resource
        ):
            return "NotResource" if self.not_resource else "Resource"
        for condition in self.conditions:
            if not condition.holds(lookup):
                return f"Condition {condition.operator} {condition.key}"
        return None


@dataclass(frozen=True, slots=True)
class Policy:
    """A compiled policy document; ``policy_id`` names it in decisions and traces."""

    policy_id: str
    kind: PolicyKind
    version: str
    statements: tuple[Statement, ...]
    _by_service: Mapping[str, tuple[Statement, ...]] = field(repr=False, default_factory=dict)
    _any_service: tuple[Statement, ...] = field(repr=False, default=())

    def candidates(self, service: str) -> tuple[Statement, ...]:
        """The statements that can apply to an action of ``service`` (lower-cased).

        The index is the evaluation's fast path: of ten statements usually one or two
        name the service at hand.
        """
        return self._by_service.get(service, self._any_service)


def _string_list(raw: object) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(isinstance(i, str) for i in items):
        raise MalformedPolicyError(SYNTAX)
    return items


def _statement(raw: object, index: int, kind: PolicyKind, variables: bool) -> Statement:
    if not isinstance(raw, dict) or not set(raw) <= _STATEMENT_KEYS:
        raise MalformedPolicyError(SYNTAX)
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise MalformedPolicyError(SYNTAX)
    if sid and kind == "identity" and not _SID.match(sid):
        raise MalformedPolicyError(
            "Statement IDs (SID) must be alpha-numeric. "
            "Check that your input satisfies the regular expression [0-9A-Za-z]*"
        )
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise MalformedPolicyError(SYNTAX)
    if "Action" in raw and "NotAction" in raw:
        raise MalformedPolicyError(SYNTAX)
    if "Action" not in raw and "NotAction" not in raw:
        raise MalformedPolicyError("Policy statement must contain actions.")
    if "Resource" in raw and "NotResource" in raw or "Principal" in raw and "NotPrincipal" in raw:
        raise MalformedPolicyError(SYNTAX)
    has_principal = "Principal" in raw or "NotPrincipal" in raw
    has_resource = "Resource" in raw or "NotResource" in raw
    if kind == "identity":
        if has_principal:
            raise MalformedPolicyError("Policy document should not specify a principal.")
        if not has_resource:
            raise MalformedPolicyError("Policy statement must contain resources.")
    else:
        if not has_principal:
            raise MalformedPolicyError("Missing required field Principal")
        if kind == "trust" and has_resource:
            raise MalformedPolicyError("Has prohibited field Resource")
        if kind in ("resource", "key") and not has_resource:
            raise MalformedPolicyError("Policy statement must contain resources.")
    not_action = "NotAction" in raw
    not_resource = "NotResource" in raw
    not_principal = "NotPrincipal" in raw
    try:
        principals = None
        if has_principal:
            principals = parse_principals(raw["NotPrincipal" if not_principal else "Principal"])
        conditions = parse_conditions(raw["Condition"], variables) if "Condition" in raw else ()
    except (PrincipalSyntaxError, ConditionSyntaxError) as error:
        raise MalformedPolicyError(str(error)) from None
    return Statement(
        index,
        sid,
        effect,
        _compile_actions(raw["NotAction" if not_action else "Action"]),
        not_action,
        _compile_resources(raw["NotResource" if not_resource else "Resource"], variables)
        if has_resource
        else None,
        not_resource,
        principals,
        not_principal,
        conditions,
    )


def _index(statements: tuple[Statement, ...]) -> tuple[dict, tuple[Statement, ...]]:
    """Group statements by the services their Action can name (NotAction: any service)."""
    prefixes = [None if s.not_action else s.actions.vendors for s in statements]
    wild = tuple(s for s, p in zip(statements, prefixes, strict=True) if p is None)
    named = {svc for p in prefixes if p for svc in p}
    by_service = {
        svc: tuple(s for s, p in zip(statements, prefixes, strict=True) if p is None or svc in p)
        for svc in named
    }
    return by_service, wild


def parse_policy(document: str | Mapping, kind: PolicyKind, policy_id: str = "") -> Policy:
    """Parse and validate a policy (JSON text or decoded dict); no caching."""
    if isinstance(document, str):
        try:
            data = json.loads(document)
        except ValueError:
            raise MalformedPolicyError(SYNTAX) from None
    else:
        data = document
    if not isinstance(data, dict) or not set(data) <= {"Version", "Id", "Statement"}:
        raise MalformedPolicyError(SYNTAX)
    version = data.get("Version", "2008-10-17")
    if version not in VERSIONS:
        raise MalformedPolicyError("The policy failed legacy parsing")
    raw_statements = data.get("Statement")
    if isinstance(raw_statements, dict):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list) or not raw_statements:
        raise MalformedPolicyError(SYNTAX)
    variables = version == "2012-10-17"  # policy variables arrived with that version
    statements = tuple(_statement(raw, i, kind, variables) for i, raw in enumerate(raw_statements))
    sids = [s.sid for s in statements if s.sid]
    if len(sids) != len(set(sids)):
        raise MalformedPolicyError("Statement IDs (SID) in a single policy must be unique.")
    by_service, wild = _index(statements)
    return Policy(policy_id, kind, version, statements, by_service, wild)


@lru_cache(maxsize=4096)
def _cached(text: str, kind: PolicyKind, policy_id: str) -> Policy:
    return parse_policy(text, kind, policy_id)


def compile_policy(document: str | Mapping, kind: PolicyKind, policy_id: str = "") -> Policy:
    """A compiled policy, from the cache when the same document was compiled before.

    Invalidation is by content: changing a policy (a new version, a put) gives a new
    text and so a new entry; unused ones age out of the LRU.
    """
    text = document if isinstance(document, str) else json.dumps(document, sort_keys=True)
    return _cached(text, kind, policy_id)
