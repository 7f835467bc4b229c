"""``sandlot iam explain`` and ``sandlot iam suggest``: read the decision log.

Both read the server's data dir (the decision log lives in its database), so they work
while the server runs and after it stopped; point ``--data-dir`` (or
``SANDLOT_DATA_DIR``) where ``sandlot up`` keeps its state.

- ``explain REQUEST_ID``: why a request was allowed or denied — for each action and
  resource it needed, the decision, the policies evaluated and the statements that
  decided (for a denial, every statement looked at and what ruled it out).
- ``suggest --role NAME [--since 1h]``: the least-privilege policy that allows exactly
  the calls the role's sessions made (denied ones included): actions with the exact
  resource ARNs, actions sharing the same resources grouped into one statement.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import TextIO

from sandlot.cli.logs import parse_duration
from sandlot.config import Settings, default_data_dir
from sandlot.iam.decisions import DecisionLog, Record
from sandlot.store import Store

_OUTCOMES = {
    "ALLOW": "ALLOWED",
    "EXPLICIT_DENY": "DENIED (explicit deny)",
    "IMPLICIT_DENY": "DENIED (implicit deny)",
}


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The ``iam`` subcommand of ``sandlot``."""
    parser = commands.add_parser("iam", help="explain IAM decisions, suggest least privilege")
    sub = parser.add_subparsers(dest="iam_command", required=True)
    explain = sub.add_parser("explain", help="why a request was allowed or denied")
    explain.add_argument("request_id", help="the request id (x-amzn-RequestId, RequestId)")
    suggest = sub.add_parser(
        "suggest", help="the least-privilege policy for the calls a role's sessions made"
    )
    suggest.add_argument("--role", required=True, help="role name (or ARN)")
    suggest.add_argument(
        "--since", type=parse_duration, help="only calls this recent, e.g. 1h, 30m (default all)"
    )
    suggest.add_argument(
        "--account", help="the role's account (default: SANDLOT_DEFAULT_ACCOUNT, 000000000000)"
    )
    for command in (explain, suggest):
        command.add_argument(
            "--data-dir", type=Path, help="the server's data dir (default as for sandlot up)"
        )


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    settings = Settings.from_env(data_dir=args.data_dir)
    data_dir = settings.data_dir or default_data_dir()
    database = data_dir / "sandlot.db"
    if not database.exists():
        print(f"sandlot: no sandlot data in {data_dir} (use --data-dir)", file=sys.stderr)
        return 2
    store = Store(database)
    try:
        log = DecisionLog(store)
        if args.iam_command == "explain":
            return explain(log, args.request_id, out)
        since = time.time() - args.since if args.since else 0.0
        role = args.role
        if not role.startswith("arn:"):
            role = _role_arn(log, args.account or settings.default_account, role)
        return suggest(log, role, since, out)
    finally:
        store.close()


def explain(log: DecisionLog, request_id: str, out: TextIO) -> int:
    records = log.for_request(request_id)
    if not records:
        print(
            f"sandlot: no IAM decision recorded for request {request_id} (an account root "
            "acting in its own account is never evaluated; the log keeps the newest "
            "decisions only)",
            file=sys.stderr,
        )
        return 1
    first = records[0]
    print(f"request {request_id}: {first.service} {first.operation}", file=out)
    print(f"  at        {_when(first.time)}", file=out)
    print(f"  principal {first.principal_arn}", file=out)
    if first.role_arn:
        print(f"  role      {first.role_arn}", file=out)
    for record in records:
        _explain_one(record, out)
    return 0


def _explain_one(record: Record, out: TextIO) -> None:
    print("", file=out)
    print(f"{record.action} on {record.resource}: {_OUTCOMES[record.outcome]}", file=out)
    if not record.allowed:
        print(f"  {record.reason}", file=out)
        if not record.enforced:
            print("  (not enforced: the server ran with --iam soft)", file=out)
    print("  policies evaluated:", file=out)
    listed = False
    for kind, ids in record.policies.items():
        for policy_id in ids:
            print(f"    {kind}: {policy_id}", file=out)
            listed = True
    if not listed:
        print("    none", file=out)
    if record.allowed:
        print("  decided by:", file=out)
        for entry in record.statements:
            print(f"    {entry['statement']}", file=out)
        if not record.statements:
            print("    the account root's own authority", file=out)
        return
    deciding = [e for e in record.statements if e["applied"]]
    if deciding:
        print("  decided by:", file=out)
        for entry in deciding:
            print(f"    {entry['statement']}", file=out)
    print(f"  statements about {record.action.split(':')[0]} actions:", file=out)
    for entry in record.statements:
        verdict = "applies" if entry["applied"] else f"does not apply ({entry['ruled_out_by']})"
        print(f"    {entry['statement']}: {verdict}", file=out)
    if not record.statements:
        print("    none", file=out)


def suggest(log: DecisionLog, role_arn: str, since: float, out: TextIO) -> int:
    records = log.for_role(role_arn, since)
    if not records:
        print(f"sandlot: no calls recorded for sessions of {role_arn}", file=sys.stderr)
        return 1
    json.dump(least_privilege(records), out, indent=2)
    print(file=out)
    return 0


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


def _role_arn(log: DecisionLog, account: str, name: str) -> str:
    """The ARN of role ``name`` as its sessions were logged (roles may have a path)."""
    found = log.role_arns(account, name)
    return found[0] if found else f"arn:aws:iam::{account}:role/{name}"


def _when(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
