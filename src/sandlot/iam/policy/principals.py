"""The ``Principal``/``NotPrincipal`` element of resource-based and trust policies.

How a statement's principal matched matters to the evaluation, so matching answers a
strength rather than a yes/no (AWS's policy evaluation logic and Principal reference):

- ``DIRECT``: the caller itself is named (a user ARN, an assumed-role session ARN, a
  service, a federated provider) or everyone (``"*"``): a same-account Allow suffices;
- ``ROLE``: a role session matched by its role's ARN: the Allow is added to the role's
  identity permissions *before* the session, so session policies and the permissions
  boundary still limit it;
- ``ACCOUNT``: an account (``"123456789012"`` or ``arn:aws:iam::123456789012:root``): this
  delegates to the account, whose identity-based policies must still allow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

from sandlot.iam.policy.request import Caller


class PrincipalSyntaxError(ValueError):
    """A Principal element AWS would refuse; the message is AWS's."""


class Strength(IntEnum):
    NONE = 0
    ACCOUNT = 1
    ROLE = 2
    DIRECT = 3


_ACCOUNT = re.compile(r"^\d{12}$")
_ROOT = re.compile(r"^arn:aws[\w-]*:iam::(\d{12}):root$")
_IAM = re.compile(r"^arn:aws[\w-]*:iam::(\d{12}):(user|role)/[\w+=,.@/-]+$")
_STS = re.compile(r"^arn:aws[\w-]*:sts::(\d{12}):(assumed-role|federated-user)/[\w+=,.@/-]+$")
_UNIQUE_ID = re.compile(r"^(AIDA|AROA)[A-Z0-9]{8,}$")  # IAM shows unique ids of deleted ones


@dataclass(frozen=True, slots=True)
class Principals:
    """A compiled Principal element; ``everyone`` for ``"*"`` / ``{"AWS": "*"}``."""

    everyone: bool = False
    accounts: frozenset[str] = frozenset()
    arns: frozenset[str] = frozenset()  # users, roles, sessions, federated users
    unique_ids: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()
    federated: frozenset[str] = frozenset()
    canonical_users: frozenset[str] = frozenset()

    def match(self, caller: Caller) -> Strength:
        """How strongly this element names ``caller`` (NONE if it does not)."""
        if self.everyone:
            return Strength.DIRECT
        kind = caller.type
        if kind == "service":
            return Strength.DIRECT if caller.arn in self.services else Strength.NONE
        if kind == "anonymous":
            return Strength.NONE
        if caller.arn in self.arns or caller.user_id.split(":")[0] in self.unique_ids:
            # A session's unique id is "AROA…:session": naming the id names the role.
            if kind == "assumed-role" and caller.arn not in self.arns:
                return Strength.ROLE
            return Strength.DIRECT
        if caller.federated_provider and caller.federated_provider in self.federated:
            return Strength.DIRECT
        if caller.role_arn and caller.role_arn in self.arns:
            return Strength.ROLE
        if caller.account in self.accounts:
            return Strength.ACCOUNT
        return Strength.NONE

    def excludes(self, caller: Caller) -> bool:
        """Whether a ``NotPrincipal`` naming these spares ``caller``.

        AWS checks the account, then the role, then the session (or the account, then
        the user): each must be listed, which is why its docs ask NotPrincipal to name the
        account ARN and the role ARN alongside the session.
        """
        if self.everyone:
            return True
        if caller.type == "service":
            return caller.arn in self.services
        if caller.type == "anonymous":
            return False
        layers = [caller.account in self.accounts]
        if caller.type != "root":
            layers.append(caller.arn in self.arns)
        if caller.role_arn:
            layers.append(caller.role_arn in self.arns)
        return all(layers)


def _strings(value: object, kind: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(i, str) for i in items):
        raise PrincipalSyntaxError(f'Invalid principal in policy: "{kind}":{value!r}')
    return items


def parse_principals(element: object) -> Principals:
    """Compile a ``Principal``/``NotPrincipal`` value."""
    if element == "*":
        return Principals(everyone=True)
    if not isinstance(element, dict) or not element:
        raise PrincipalSyntaxError("Invalid principal in policy")
    accounts, arns, ids, services, federated, canonical = set(), set(), set(), set(), set(), set()
    everyone = False
    for kind, value in element.items():
        items = _strings(value, kind)
        if kind == "AWS":
            for item in items:
                if item == "*":
                    everyone = True
                elif _ACCOUNT.match(item):
                    accounts.add(item)
                elif root := _ROOT.match(item):
                    accounts.add(root.group(1))
                elif _IAM.match(item) or _STS.match(item):
                    arns.add(item)
                elif _UNIQUE_ID.match(item):
                    ids.add(item)
                else:
                    raise PrincipalSyntaxError(f'Invalid principal in policy: "AWS":"{item}"')
        elif kind == "Service":
            services.update(items)
        elif kind == "Federated":
            federated.update(items)
        elif kind == "CanonicalUser":
            canonical.update(items)  # S3 legacy; sandlot has no canonical users to match
        else:
            raise PrincipalSyntaxError(f'Invalid principal in policy: "{kind}"')
    return Principals(
        everyone,
        frozenset(accounts),
        frozenset(arns),
        frozenset(ids),
        frozenset(services),
        frozenset(federated),
        frozenset(canonical),
    )
