"""``sandlot iam explain`` and ``sandlot iam suggest``: ask the running server.

Both read the decision log through sandlot's admin endpoints (gateway/admin.py), so
they work whatever the server's data dir (``--data-dir``, ``--ephemeral``); the server
is found at ``--endpoint``, else ``$AWS_ENDPOINT_URL``, else http://localhost:4566. In
secure mode only the account root may ask: configure its keys (root-credentials.json)
as for any AWS tool.

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
from typing import TextIO
from urllib.parse import quote

from sandlot.cli import clients
from sandlot.cli.logs import parse_duration

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
        clients.add_connection_arguments(command)


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    if args.iam_command == "explain":
        path, query = f"/_sandlot/iam/explain/{quote(args.request_id, safe='')}", None
    else:
        path, query = "/_sandlot/iam/suggest", {"role": args.role}
        if args.since:
            query["since"] = f"{time.time() - args.since:.3f}"
        if args.account:
            query["account"] = args.account
    body = clients.admin_fetch(args, path, query)
    if args.iam_command == "explain":
        explain(body, out)
    else:
        json.dump(body["policy"], out, indent=2)
        print(file=out)
    return 0


def explain(document: dict, out: TextIO) -> None:
    """Print an ``explain`` answer (``{"request_id", "decisions"}``) for a person."""
    records = document["decisions"]
    first = records[0]
    print(f"request {document['request_id']}: {first['service']} {first['operation']}", file=out)
    print(f"  at        {_when(first['time'])}", file=out)
    print(f"  principal {first['principal_arn']}", file=out)
    if first["role_arn"]:
        print(f"  role      {first['role_arn']}", file=out)
    for record in records:
        _explain_one(record, out)


def _explain_one(record: dict, out: TextIO) -> None:
    allowed = record["outcome"] == "ALLOW"
    print("", file=out)
    print(f"{record['action']} on {record['resource']}: {_OUTCOMES[record['outcome']]}", file=out)
    if not allowed:
        print(f"  {record['reason']}", file=out)
        if not record["enforced"]:
            print("  (not enforced: the server ran with --iam soft)", file=out)
    print("  policies evaluated:", file=out)
    listed = False
    for kind, ids in record["policies"].items():
        for policy_id in ids:
            print(f"    {kind}: {policy_id}", file=out)
            listed = True
    if not listed:
        print("    none", file=out)
    statements = record["statements"]
    if allowed:
        print("  decided by:", file=out)
        for entry in statements:
            print(f"    {entry['statement']}", file=out)
        if not statements:
            print("    the account root's own authority", file=out)
        return
    deciding = [e for e in statements if e["applied"]]
    if deciding:
        print("  decided by:", file=out)
        for entry in deciding:
            print(f"    {entry['statement']}", file=out)
    print(f"  statements about {record['action'].split(':')[0]} actions:", file=out)
    for entry in statements:
        verdict = "applies" if entry["applied"] else f"does not apply ({entry['ruled_out_by']})"
        print(f"    {entry['statement']}: {verdict}", file=out)
    if not statements:
        print("    none", file=out)


def _when(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
