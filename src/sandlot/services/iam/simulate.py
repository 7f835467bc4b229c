"""SimulatePrincipalPolicy: the evaluation engine answering "would this principal be
allowed?" over the identity policies IAM holds for a user, group or role."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache

from sandlot.iam.authorizer import ResourcePolicy
from sandlot.iam.policy import (
    Caller,
    MalformedPolicyError,
    Policy,
    Request,
    StatementRef,
    compile_policy,
    evaluate,
)
from sandlot.protocol import ServiceError
from sandlot.services.iam.base import IamBase, checked, invalid_input, page
from sandlot.services.iam.schema import ENTITIES
from sandlot.services.provider import RequestContext

_SOURCE_ARN = re.compile(
    r"^arn:aws:iam::(\d{12}):(user|group|role)(/(?:[\w+=,.@-]+/)*)([\w+=,.@-]+)$"
)
_DECISIONS = {"ALLOW": "allowed", "EXPLICIT_DENY": "explicitDeny", "IMPLICIT_DENY": "implicitDeny"}


@dataclass(frozen=True, slots=True)
class _Source:
    """Where a compiled policy came from, as MatchedStatements report it."""

    policy_id: str  # SourcePolicyId: the inline policy's name or the managed policy's ARN
    policy_type: str  # user | group | role | aws-managed | user-managed | none | resource
    document: str


def _context_value(entry: dict) -> object:
    values = entry.get("ContextKeyValues", [])
    if entry.get("ContextKeyType", "string").endswith("List"):
        return list(values)
    return values[0] if len(values) == 1 else list(values)


@dataclass(frozen=True, slots=True)
class Identity:
    """What enforcement needs of a user or role: its policies (id, document), its
    permissions boundary document, tags and unique id."""

    arn: str
    entity_id: str
    policies: tuple[tuple[str, str], ...]
    boundary: tuple[str, str] | None
    tags: dict[str, str]
    trust_policy: str | None = None
    max_session_duration: int | None = None


class Simulation(IamBase):
    """SimulatePrincipalPolicy over users, groups and roles, and identity look-ups for
    enforcement."""

    def entity_path(self, account: str, kind: str, name: str) -> str | None:
        """The path of an existing user, group or role (or None), for its ARN."""
        if kind not in ("user", "group", "role"):
            return None
        row = self.store.get(ENTITIES, account, kind, name.lower())
        return row["path"] if row is not None else None

    def role(self, arn: str) -> Identity | None:
        """The role ``arn`` names exactly (path included), or None."""
        match = _SOURCE_ARN.match(arn)
        if match is None or match.group(2) != "role":
            return None
        found = self.identity(match.group(1), "role", match.group(4))
        return found if found is not None and found.arn == arn else None

    def role_id(self, arn: str) -> str | None:
        """The unique id (AROA…) of the role ``arn`` names exactly, or None: one row,
        none of its policies (what a session of it needs, e.g. each of Lambda's calls
        with a function's role)."""
        match = _SOURCE_ARN.match(arn)
        if match is None or match.group(2) != "role":
            return None
        row = self.store.get(ENTITIES, match.group(1), "role", match.group(4).lower())
        return row["entity_id"] if row is not None and row["arn"] == arn else None

    def resource_policy(self, arn: str) -> ResourcePolicy | None:
        """A role's trust policy, which ``sts:AssumeRole`` on it is evaluated against."""
        found = self.role(arn)
        if found is None or not found.trust_policy:
            return None
        return ResourcePolicy(found.trust_policy, arn.split(":")[4], "trust", found.tags)

    def identity(self, account: str, kind: str, name: str) -> Identity | None:
        """The user or role ``name`` with the policies that apply to it, or None."""
        row = self.store.get(ENTITIES, account, kind, name.lower())
        if row is None:
            return None
        # Ids: a managed policy's ARN; "role:R:P" for inline policy P of role R.
        policies = tuple(
            (key, document) for document, _, key in self._identity_policies(account, kind, row)
        )
        boundary = None
        if arn := row.get("permissions_boundary"):
            boundary = (arn, self.policy_document(account, arn))  # type: ignore[attr-defined]
        return Identity(
            row["arn"],
            row["entity_id"],
            policies,
            boundary,
            {t["Key"]: t["Value"] for t in json.loads(row["tags"])},
            row.get("trust_policy"),
            row.get("max_session_duration"),
        )

    def _identity_policies(
        self, account: str, kind: str, row: dict
    ) -> list[tuple[str, _Source, str]]:
        """(document, source, key) of every identity policy applying to the entity."""
        found: list[tuple[str, _Source, str]] = []
        owners = [(kind, row)]
        if kind == "user":
            owners += [("group", g) for g in self.user_groups(account, row["name_key"])]  # type: ignore[attr-defined]
        for owner_kind, owner in owners:
            for inline in self.inline_policies(account, owner_kind, owner["name_key"]):  # type: ignore[attr-defined]
                source = _Source(inline["policy_name"], owner_kind, inline["document"])
                found.append(
                    (
                        inline["document"],
                        source,
                        f"{owner_kind}:{owner['name']}:{inline['policy_name']}",
                    )
                )
            for arn in self.attached_policies(account, owner_kind, owner["name_key"]):  # type: ignore[attr-defined]
                policy = self.policy_row(account, arn)  # type: ignore[attr-defined]
                managed = "aws-managed" if policy["account_id"] == "aws" else "user-managed"
                found.append((policy["document"], _Source(arn, managed, policy["document"]), arn))
        return found

    def _boundary(self, account: str, row: dict, params: dict, sources: dict) -> Policy | None:
        """The permissions boundary: the one given to the simulation, else the entity's."""
        if bounds := params.get("PermissionsBoundaryPolicyInputList"):
            key = "PermissionsBoundaryPolicyInputList.1"
            sources[key] = _Source(key, "none", bounds[0])
            return _compile(bounds[0], key)
        arn = row.get("permissions_boundary")
        if not arn:
            return None
        document = self.policy_document(account, arn)  # type: ignore[attr-defined]
        managed = "aws-managed" if ":aws:policy/" in arn else "user-managed"
        sources[f"boundary:{arn}"] = _Source(arn, managed, document)
        return compile_policy(document, "identity", f"boundary:{arn}")

    @checked
    def simulate_principal_policy(self, ctx: RequestContext, params: dict) -> dict:
        account = ctx.account_id
        source_arn = params["PolicySourceArn"]
        match = _SOURCE_ARN.match(source_arn)
        if match is None or match.group(1) != account:
            raise invalid_input(
                f"Invalid Entity Arn: {source_arn} does not clearly define entity type and name."
            )
        kind, name = match.group(2), match.group(4)
        row = self.entity(account, kind, name)
        sources: dict[str, _Source] = {}
        identity: list[Policy] = []
        for document, source, key in self._identity_policies(account, kind, row):
            sources[key] = source
            identity.append(compile_policy(document, "identity", key))
        for index, document in enumerate(params.get("PolicyInputList", [])):
            key = f"PolicyInputList.{index + 1}"
            identity.append(_compile(document, key))
            sources[key] = _Source(key, "none", document)
        boundary = self._boundary(account, row, params, sources)
        resource_policy = None
        if "ResourcePolicy" in params:
            resource_policy = _compile(params["ResourcePolicy"], "ResourcePolicy", "resource")
            sources["ResourcePolicy"] = _Source(
                "ResourcePolicy", "resource", params["ResourcePolicy"]
            )
        caller = _caller(account, kind, row)
        context = {e["ContextKeyName"]: _context_value(e) for e in params.get("ContextEntries", [])}
        results = []
        for action in params["ActionNames"]:
            for resource in params.get("ResourceArns", ["*"]):
                request = Request(
                    caller,
                    action,
                    resource,
                    context,
                    identity,
                    resource_policy=resource_policy,
                    permissions_boundary=boundary,
                    resource_account=params.get("ResourceOwner") if resource_policy else None,
                )
                decision = evaluate(request)
                matched = [_matched(sources, ref) for ref in decision.deciding]
                results.append(
                    {
                        "EvalActionName": action,
                        "EvalResourceName": resource,
                        "EvalDecision": _DECISIONS[decision.outcome.value],
                        "MatchedStatements": matched,
                        "MissingContextValues": [],
                    }
                )
        for i, result in enumerate(results):
            result["_key"] = f"{i:08d}"
        chosen, more = page(results, params, "_key")
        for result in chosen:
            del result["_key"]
        return {"EvaluationResults": chosen, **more}


def _matched(sources: dict[str, _Source], ref: StatementRef) -> dict:
    """One MatchedStatements entry: the policy and where the statement is in its text."""
    source = sources[ref.policy_id]
    out: dict = {"SourcePolicyId": source.policy_id, "SourcePolicyType": source.policy_type}
    spans = statement_spans(source.document)
    if ref.index < len(spans):
        (start_line, start_column), (end_line, end_column) = spans[ref.index]
        out["StartPosition"] = {"Line": start_line, "Column": start_column}
        out["EndPosition"] = {"Line": end_line, "Column": end_column}
    return out


@lru_cache(maxsize=1024)
def statement_spans(text: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(line, column) of the opening and closing brace of each statement of a (valid)
    policy document, 1-based, in document order."""
    offsets: list[tuple[int, int]] = []
    stack: list[tuple[str, int, bool]] = []  # (bracket, offset, is a statement)
    key = last = None
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            last, i = text[i + 1 : j], j + 1
            continue
        if ch == ":" and len(stack) == 1:
            key = last
        elif ch == "," and len(stack) == 1:
            key = None
        elif ch in "[{":
            single = len(stack) == 1 and ch == "{"
            listed = len(stack) == 2 and stack[-1][0] == "[" and ch == "{"
            stack.append((ch, i, key == "Statement" and (single or listed)))
        elif ch in "]}":
            _, start, is_statement = stack.pop()
            if is_statement:
                offsets.append((start, i))
        i += 1
    return [(_position(text, a), _position(text, b)) for a, b in offsets]


def _position(text: str, offset: int) -> tuple[int, int]:
    return text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)


def _compile(document: str, policy_id: str, kind: str = "identity") -> Policy:
    try:
        return compile_policy(document, kind, policy_id)  # type: ignore[arg-type]
    except MalformedPolicyError as error:
        raise ServiceError("MalformedPolicyDocument", str(error)) from None


def _caller(account: str, kind: str, row: dict) -> Caller:
    """The principal the simulation acts as: the user, a session of the role, or (for a
    group) a member user, as AWS simulates a group."""
    tags = {t["Key"]: t["Value"] for t in json.loads(row["tags"])}
    if kind == "role":
        return Caller(
            "assumed-role",
            account,
            f"arn:aws:sts::{account}:assumed-role/{row['name']}/SimulatedSession",
            f"{row['entity_id']}:SimulatedSession",
            role_arn=row["arn"],
            tags=tags,
        )
    return Caller("user", account, row["arn"], row["entity_id"], user_name=row["name"], tags=tags)
