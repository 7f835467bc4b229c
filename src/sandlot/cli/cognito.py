"""``sandlot cognito codes [POOL_ID]``: the codes Cognito would have emailed or texted
(sign-up confirmation codes, password reset codes, generated temporary passwords),
read from the running server's admin endpoint ``/_sandlot/cognito/codes``
(gateway/admin.py). The server is found as for ``sandlot sns``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import TextIO

from sandlot.cli import clients


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("cognito", help="read what Cognito would have sent users")
    sub = parser.add_subparsers(dest="cognito_command", required=True)
    codes = sub.add_parser("codes", help="confirmation and reset codes, oldest first")
    codes.add_argument("pool", nargs="?", help="only this user pool's codes")
    codes.add_argument("--json", action="store_true", help="print the raw JSON records")
    clients.add_connection_arguments(codes)


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    query = {"pool": args.pool} if args.pool else None
    body = clients.admin_fetch(args, "/_sandlot/cognito/codes", query)
    if args.json:
        json.dump(body["codes"], out, indent=2)
        print(file=out)
        return 0
    for code in body["codes"]:
        when = dt.datetime.fromtimestamp(code["created"], dt.UTC).isoformat(timespec="seconds")
        print(f"{when} {code['pool_id']} {code['username']} {code['purpose']} "
              f"{code['code']} ({code['destination']})", file=out)  # fmt: skip
    return 0
