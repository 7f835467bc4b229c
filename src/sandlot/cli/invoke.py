"""``sandlot invoke <function>``: invoke a Lambda function and print its result and log tail."""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import TextIO

from botocore.exceptions import BotoCoreError, ClientError

from sandlot.cli import clients
from sandlot.cli.logs import as_lines


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The ``invoke`` subcommand of ``sandlot``."""
    parser = commands.add_parser("invoke", help="invoke a Lambda function")
    parser.add_argument("function_name", help="function name or ARN")
    parser.add_argument(
        "--payload", default="{}", help="the event: JSON text, or @file to read it from a file"
    )
    parser.add_argument(
        "--async", dest="asynchronous", action="store_true",
        help="queue an Event invocation instead of waiting for the result",
    )  # fmt: skip
    parser.add_argument("--qualifier", help="a version or alias")
    clients.add_connection_arguments(parser)


def read_payload(text: str) -> bytes:
    """The payload bytes of ``--payload`` (``@path`` reads a file); must be JSON."""
    data = Path(text[1:]).read_bytes() if text.startswith("@") else text.encode()
    json.loads(data)  # refuse what Lambda would refuse, before sending
    return data


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Invoke; print the payload to ``out`` and the log tail to ``err``. Exit status 1
    when the function failed, 2 when the call did."""
    try:
        payload = read_payload(args.payload)
    except (OSError, ValueError) as error:
        print(f"sandlot invoke: bad --payload: {error}", file=err)
        return 2
    lam = clients.api_client("lambda", clients.endpoint(args), clients.region(args), 905)
    params = {"FunctionName": args.function_name, "Payload": payload}
    if args.qualifier:
        params["Qualifier"] = args.qualifier
    if args.asynchronous:
        params["InvocationType"] = "Event"
    else:
        params["LogType"] = "Tail"
    try:
        response = lam.invoke(**params)
    except (ClientError, BotoCoreError) as error:
        print(f"sandlot invoke: {error}", file=err)
        return 2
    if args.asynchronous:
        request_id = response["ResponseMetadata"]["RequestId"]
        print(f"queued (status {response['StatusCode']}), request id {request_id}", file=out)
        return 0
    if "LogResult" in response:
        err.write(as_lines(base64.b64decode(response["LogResult"]).decode("utf-8", "replace")))
    body = response["Payload"].read().decode("utf-8", "replace")
    print(_pretty(body), file=out)
    return 1 if response.get("FunctionError") else 0


def _pretty(body: str) -> str:
    try:
        return json.dumps(json.loads(body), indent=2)
    except ValueError:
        return body
