"""Least privilege from the decision log: the policy a role's sessions needed.

``suggest`` turns the logged calls of a role's sessions (denied ones included) into a
policy allowing exactly those actions on those resource ARNs, actions sharing the same
resources grouped into one statement. Served by ``GET /_sandlot/iam/suggest``.
"""

from __future__ import annotations

from sandlot.iam.decisions import DecisionLog, Record


def role_arn(log: DecisionLog, account: str, role: str) -> str:
    """``role`` as an ARN: itself if one, else the ARN (any path) its sessions were
    logged under, else the path-less ARN in ``account``."""
    if role.startswith("arn:"):
        return role
    found = log.role_arns(account, role)
    return found[0] if found else f"arn:aws:iam::{account}:role/{role}"


def least_privilege(records: list[Record]) -> dict:
    """A policy allowing exactly the (action, resource) pairs of ``records``."""
    resources: dict[str, set[str]] = {}
    for record in records:
        resources.setdefault(record.action, set()).add(record.resource)
    grouped: dict[tuple[str, ...], list[str]] = {}
    for action, arns in resources.items():
        grouped.setdefault(tuple(sorted(arns)), []).append(action)
    statements = []
    for arns, actions in sorted(grouped.items(), key=lambda item: sorted(item[1])):
        statements.append(
            {
                "Effect": "Allow",
                "Action": _one_or_list(sorted(actions)),
                "Resource": _one_or_list(list(arns)),
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _one_or_list(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else values
