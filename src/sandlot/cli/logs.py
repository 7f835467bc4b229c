"""``sandlot logs <function>``: a Lambda function's log lines from CloudWatch Logs.

Reads the function's log group (its ``LoggingConfig.LogGroup``, by default
``/aws/lambda/<name>``) through the HTTP API with a
botocore client and ``FilterLogEvents`` — the same path any AWS tool takes — and
prints ``timestamp stream message`` lines; ``--follow`` keeps polling until Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Iterator
from typing import TextIO

from botocore.exceptions import BotoCoreError, ClientError

from sandlot.cli import clients

POLL_INTERVAL_S = 1.0
_DURATION = re.compile(r"(\d+)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_FUNCTION_ARN = re.compile(r"arn:aws[\w-]*:lambda:([\w-]+):\d{12}:function:([^:]+)(?::.+)?")
# Lines worth red: Lambda's and the runtimes' error formats, tracebacks, timeouts.
_ERROR = re.compile(
    r"\[ERROR\]|\tERROR\t|Traceback \(most recent call last\)|Task timed out after"
    r"|\"errorType\"|Status: (?:error|timeout)"
)
_PLATFORM = ("START RequestId:", "END RequestId:", "REPORT RequestId:", "INIT_START", "INIT_REPORT")
_RED, _DIM, _CYAN, _RESET = "\033[31m", "\033[2m", "\033[36m", "\033[0m"


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The ``logs`` subcommand of ``sandlot``."""
    parser = commands.add_parser(
        "logs", help="print a Lambda function's log lines (log group /aws/lambda/<name>)"
    )
    parser.add_argument("function_name", help="function name or ARN")
    parser.add_argument(
        "--follow", "-f", action="store_true", help="keep printing new lines until Ctrl-C"
    )
    parser.add_argument(
        "--since",
        default="10m",
        type=parse_duration,
        help="how far back to start, e.g. 30s, 10m, 2h, 1d (default 10m)",
    )
    parser.add_argument("--filter", dest="filter_pattern", help="a CloudWatch Logs filter pattern")
    clients.add_connection_arguments(parser)


def parse_duration(text: str) -> float:
    """Seconds in ``30s``, ``10m``, ``2h``, ``1d``, ``1w`` or combinations (``1h30m``)."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (try 30s, 10m, 2h, 1d)")
    return float(sum(int(n) * _UNIT_SECONDS[u] for n, u in parts))


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Print the function's log lines; returns the exit status."""
    name, arn_region = _function_name(args.function_name)
    client = clients.api_client("logs", clients.endpoint(args), clients.region(args, arn_region))
    group = _log_group(args, name, arn_region)
    start_ms = int((time.time() - args.since) * 1000)
    printer = _Printer(out, colour=out.isatty() and "NO_COLOR" not in os.environ)
    try:
        if args.follow:
            _follow(client, group, start_ms, args.filter_pattern, printer)
        else:
            for event in _events(client, group, start_ms, args.filter_pattern):
                printer.event(event)
    except (KeyboardInterrupt, BrokenPipeError):  # Ctrl-C, or a reader like `head` left
        return 0
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ResourceNotFoundException":
            print(f"sandlot: no logs yet: log group {group} does not exist", file=sys.stderr)
        else:
            print(f"sandlot: {error.get('Code')}: {error.get('Message')}", file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        print(f"sandlot: {exc}", file=sys.stderr)
        return 1
    return 0


def _follow(client, group: str, start_ms: int, pattern: str | None, printer: _Printer) -> None:
    """Poll every second from the newest timestamp printed; events are told apart by id
    so that ones sharing that timestamp are printed once."""
    cursor = start_ms
    printed: set[str] = set()  # ids of printed events with timestamp == cursor
    waiting = False
    while True:
        try:
            for event in _events(client, group, cursor, pattern):
                if event["eventId"] in printed:
                    continue
                printer.event(event)
                if event["timestamp"] > cursor:
                    cursor, printed = event["timestamp"], set()
                printed.add(event["eventId"])
        except ClientError as exc:
            # The group appears at the function's first invocation: wait for it.
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            if not waiting:
                print(f"sandlot: waiting for log group {group} ...", file=sys.stderr)
                waiting = True
        printer.flush()
        time.sleep(POLL_INTERVAL_S)


def _events(client, group: str, start_ms: int, pattern: str | None) -> Iterator[dict]:
    """Every matching event from ``start_ms`` on, following ``nextToken``."""
    params: dict = {"logGroupName": group, "startTime": start_ms}
    if pattern:
        params["filterPattern"] = pattern
    while True:
        page = client.filter_log_events(**params)
        yield from page.get("events", [])
        token = page.get("nextToken")
        if not token:
            return
        params["nextToken"] = token


class _Printer:
    """``timestamp stream message`` lines, coloured on a terminal."""

    def __init__(self, out: TextIO, *, colour: bool) -> None:
        self.out = out
        self.colour = colour

    def event(self, event: dict) -> None:
        message = as_lines(event["message"].rstrip("\n"))
        stamp = _iso(event["timestamp"])
        stream = event.get("logStreamName", "")
        if self.colour:
            stamp, stream = f"{_CYAN}{stamp}{_RESET}", f"{_DIM}{stream}{_RESET}"
            message = self._paint(message)
        self.out.write(f"{stamp} {stream} {message}\n")

    def _paint(self, message: str) -> str:
        if _ERROR.search(message):
            return f"{_RED}{message}{_RESET}"
        if message.startswith(_PLATFORM):
            return f"{_DIM}{message}{_RESET}"
        return message

    def flush(self) -> None:
        self.out.flush()


def as_lines(text: str) -> str:
    """``text`` with Lambda's inner line breaks ("\\r": one log event per multi-line
    message, a traceback say) as newlines, so a terminal shows every line."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _iso(timestamp_ms: int) -> str:
    seconds, millis = divmod(timestamp_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _function_name(text: str) -> tuple[str, str | None]:
    """(name, region from an ARN or None) of a function name or ARN."""
    match = _FUNCTION_ARN.fullmatch(text)
    return (match.group(2), match.group(1)) if match else (text, None)


def _log_group(args: argparse.Namespace, name: str, arn_region: str | None) -> str:
    """The function's log group (LoggingConfig.LogGroup); the default one if the
    function cannot be read (deleted, or not visible to these credentials)."""
    region = clients.region(args, arn_region)
    lam = clients.api_client("lambda", clients.endpoint(args), region)
    try:
        config = lam.get_function_configuration(FunctionName=args.function_name)
    except (ClientError, BotoCoreError):
        return f"/aws/lambda/{name}"
    return config.get("LoggingConfig", {}).get("LogGroup") or f"/aws/lambda/{name}"
