"""`sandlot logs` pieces that need no server: durations, names and line formatting."""

from __future__ import annotations

import argparse
import io

import pytest

from sandlot.cli.logs import _function_name, _Printer, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1h30m", 5400)]
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "m", "10x", "10m junk"])
def test_parse_duration_rejects_nonsense(text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def test_function_name_from_arn():
    assert _function_name("fn") == ("fn", None)
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:fn:live"
    assert _function_name(arn) == ("fn", "eu-west-1")


def _line(message: str, colour: bool) -> str:
    out = io.StringIO()
    _Printer(out, colour=colour).event(
        {"timestamp": 1_700_000_000_123, "logStreamName": "s", "message": message}
    )
    return out.getvalue()


def test_plain_lines():
    assert _line("hello\n", False) == "2023-11-14T22:13:20.123Z s hello\n"
    assert _line("Traceback\rline 2\n", False).endswith("Traceback\nline 2\n")


def test_colours_on_a_terminal():
    assert "\033[2mSTART RequestId: 1" in _line("START RequestId: 1 Version: $LATEST\n", True)
    assert "\033[2mREPORT RequestId: 1" in _line("REPORT RequestId: 1\tDuration: 1 ms\n", True)
    assert "\033[31m[ERROR]" in _line("[ERROR]\t2023-11-14T22:13:20Z\tid\tboom\n", True)
    assert "\033[31m" in _line("2023-11-14T22:13:20Z id Task timed out after 3.00 seconds\n", True)
    plain = _line("just a line\n", True)
    assert "just a line\n" in plain and "\033[31m" not in plain
