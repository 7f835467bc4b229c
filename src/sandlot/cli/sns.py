"""``sandlot sns messages [ADDRESS]``: what SNS would have sent to email, email-json
and SMS endpoints (there is nowhere to send them from a local machine), read from the
running server's admin endpoint ``/_sandlot/sns/messages`` (gateway/admin.py). The
server is found as for ``sandlot iam``: ``--endpoint``, ``$AWS_ENDPOINT_URL``, else
http://localhost:4566."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import TextIO

from sandlot.cli import clients


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("sns", help="read what SNS sent to email and SMS endpoints")
    sub = parser.add_subparsers(dest="sns_command", required=True)
    messages = sub.add_parser(
        "messages", help="messages for email, email-json and SMS endpoints, oldest first"
    )
    messages.add_argument("address", nargs="?", help="only this email address or phone number")
    messages.add_argument("--json", action="store_true", help="print the raw JSON records")
    clients.add_connection_arguments(messages)


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    query = {"endpoint": args.address} if args.address else None
    body = clients.admin_fetch(args, "/_sandlot/sns/messages", query)
    if args.json:
        json.dump(body["messages"], out, indent=2)
        print(file=out)
        return 0
    for message in body["messages"]:
        when = dt.datetime.fromtimestamp(message["time"], dt.UTC).isoformat(timespec="seconds")
        subject = f" [{message['subject']}]" if message.get("subject") else ""
        print(
            f"{when} {message['protocol']} {message['endpoint']} {message['kind']}{subject}",
            file=out,
        )
        for line in message["message"].splitlines():
            print(f"    {line}", file=out)
    return 0
