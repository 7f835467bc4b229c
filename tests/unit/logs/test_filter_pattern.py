"""Filter patterns, table-driven: (pattern, message, matches?)."""

from __future__ import annotations

import json

import pytest

from sandlot.services.logs.filter_pattern import FilterPatternError, compile_pattern, split_fields

# The JSON documents of AWS's filter pattern examples.
TRAIL = json.dumps(
    {
        "eventType": "UpdateTrail",
        "sourceIPAddress": "111.111.111.111",
        "arrayKey": ["value", "another value"],
        "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}],
        "SomeObject": None,
        "ThisFlag": True,
        "latency": 50.5,
        "count": 0,
    }
)
USERS = json.dumps(
    {
        "user": {"id": 1, "email": "John.Stiles@example.com"},
        "users": [{"id": 2, "email": "John.Doe@example.com"}, {"id": 3}],
        "actions": ["GET", "PUT", "DELETE"],
        "coordinates": [[0, 1, 2], [4, 5, 6], [7, 8, 9]],
    }
)
APACHE = '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534'

CASES = [
    # empty pattern
    ("", "anything", True),
    ("   ", "", True),
    # terms: all must occur, case-sensitive substrings
    ("ERROR", "[ERROR] A fatal exception has occurred", True),
    ("ERROR", "Exiting with ERRORCODE: -1", True),
    ("ERROR", "error: lower case", False),
    ("ERROR Exception", "[ERROR] Caught IllegalArgumentException", True),
    ("ERROR Exception", "[ERROR] all fine", False),
    ("Failed to process the request", "[WARN] Failed to process the request", True),
    ('"Failed to process"', "[WARN] Failed to process the request", True),
    ('"Failed to process"', "[WARN] Failed, to process", False),
    ('"user@example.com"', "login user@example.com", True),
    ('"say \\"hi\\""', 'they say "hi"', True),
    # exclusion
    ("ERROR -Exiting", "Exiting with ERRORCODE: -1", False),
    ("ERROR -Exiting", "[ERROR] A fatal exception", True),
    ('"ERROR" - "Exiting"', "Exiting with ERRORCODE", False),
    ("-DEBUG", "INFO started", True),
    ("-DEBUG", "DEBUG noise", False),
    # ? alternatives
    ("?ERROR ?WARN", "ERROR WARN message", True),
    ("?ERROR ?WARN", "WARN message", True),
    ("?ERROR ?WARN", "INFO message", False),
    ('?"Task timed out" ?Traceback', "Task timed out after 3.00 seconds", True),
    ("ERROR WARN", "ERROR message", False),
    ("ERROR -WARN", "ERROR WARN message", False),
    ("REPORT ?Init ?Timeout", "REPORT Duration: 1 ms", False),
    ("REPORT ?Init ?Timeout", "REPORT Init Duration: 1 ms", True),
    # regex
    ("%AUTHORIZED%", "[ERROR 401] UNAUTHORIZED REQUEST", True),
    ("%^\\[ERROR%", "[ERROR 401] UNAUTHORIZED", True),
    ("%[Ee]rror|[Ff]ail%", "request failed", True),
    ("%[Ee]rror|[Ff]ail%", "all good", False),
    # JSON: equality, wildcards, arrays, null, booleans, existence
    ('{ $.eventType = "UpdateTrail" }', TRAIL, True),
    ("{ $.eventType = UpdateTrail }", TRAIL, True),
    ("{$.eventType=Update*}", TRAIL, True),
    ("{ $.eventType = *Trail }", TRAIL, True),
    ("{ $.eventType = *date* }", TRAIL, True),
    ("{ $.eventType = Up*il }", TRAIL, False),  # a middle * is literal
    ("{ $.eventType = * }", TRAIL, True),
    ('{ $.eventType != "UpdateTrail" }', TRAIL, False),
    ("{ $.sourceIPAddress != 123.123.* }", TRAIL, True),
    ("{ $.sourceIPAddress = 111.111.* }", TRAIL, True),
    ('{ $.arrayKey[0] = "value" }', TRAIL, True),
    ('{ $.arrayKey[1] = "value" }', TRAIL, False),
    ('{ $.arrayKey[5] = "value" }', TRAIL, False),
    ("{ $.objectList[1].id = 2 }", TRAIL, True),
    ("{ $.objectList[1].name = a }", TRAIL, False),
    ("{ $.SomeObject IS NULL }", TRAIL, True),
    ("{ $.eventType IS NULL }", TRAIL, False),
    ("{ $.SomeOtherObject NOT EXISTS }", TRAIL, True),
    ("{ $.eventType NOT EXISTS }", TRAIL, False),
    ("{ $.SomeObject NOT EXISTS }", TRAIL, False),  # present, though null
    ("{ $.ThisFlag IS TRUE }", TRAIL, True),
    ("{ $.ThisFlag IS FALSE }", TRAIL, False),
    ("{ $.ThisFlag = 1 }", TRAIL, False),  # booleans never equal numbers
    ("{ $.arrayKey = 1 }", TRAIL, False),  # arrays are not values
    ("{ $.arrayKey != 1 }", TRAIL, False),
    ("{ $.missing != 1 }", TRAIL, False),
    ("{ $.eventType = %Trail$% }", TRAIL, True),
    ("{ $.eventType = %^Trail% }", TRAIL, False),
    # JSON: numbers
    ("{ $.latency >= 50 }", TRAIL, True),
    ("{ $.latency > 50.5 }", TRAIL, False),
    ("{ $.latency <= 50.5 }", TRAIL, True),
    ("{ $.latency < 10e3 }", TRAIL, True),
    ("{ $.latency > +10 }", TRAIL, True),
    ("{ $.latency = 50.5 }", TRAIL, True),
    ("{ $.count = 0 }", TRAIL, True),
    ("{ $.count != 0 }", TRAIL, False),
    ("{ $.count > -1 }", TRAIL, True),
    ("{ $.eventType > 1 }", TRAIL, False),
    ("{ $.objectList[0].id >= 1 && $.eventType = UpdateTrail }", TRAIL, True),
    # JSON: && binds tighter than ||, parentheses (AWS's examples)
    ('{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }', USERS, True),
    ('{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }', USERS, False),
    (
        '{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch '
        "&& $.actions[2] = nomatch }",
        USERS,
        True,
    ),
    (
        '{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch) '
        "&& $.actions[2] = nomatch }",
        USERS,
        False,
    ),
    ("{ $.coordinates[2][0] = 7 }", USERS, True),
    ("{ $.users[1].email NOT EXISTS }", USERS, True),
    ("{ $.user.id = 1 }", "not json at all", False),
    ("{ $.user.id = 1 }", "[1, 2]", False),
    # space-delimited
    ("[ip, user, username, timestamp, request, status_code, bytes]", APACHE, True),
    ("[ip, user, username, timestamp, request, status_code = 404, bytes]", APACHE, True),
    ("[ip, user, username, timestamp, request, status_code = 4*, bytes]", APACHE, True),
    ("[ip, user, username, timestamp, request, status_code = 5*, bytes]", APACHE, False),
    ("[ip, user, username, timestamp, request = *html*, status_code, bytes > 1000]", APACHE, True),
    ("[ip, user, username, timestamp, request, status_code, bytes > 2000]", APACHE, False),
    ("[..., status_code = 404, bytes]", APACHE, True),
    ("[ip, user, ..., status_code, bytes]", APACHE, True),
    ("[ip, user, ...]", APACHE, True),
    ("[ip, user]", APACHE, False),  # without ... the field count must match
    ("[ip = 127.*, ..., bytes != 1534]", APACHE, False),
    ("[..., status_code = 403 || status_code = 404, bytes]", APACHE, True),
    ("[..., status_code = 4* && status_code != 404, bytes]", APACHE, False),
    ("[w1=ERROR, w2]", "ERROR message", True),
    ("[w1=ERROR, w2]", "WARN message", False),
    ("[w1=ERROR || w1=WARN, w2]", "WARN message", True),
    ("[w1!=ERROR && w1!=WARN, w2]", "INFO message", True),
    ("[w1!=ERROR && w1!=WARN, w2]", "WARN message", False),
    ("[level = %^E%, msg]", "ERROR boom", True),
]


@pytest.mark.parametrize(("pattern", "message", "expected"), CASES)
def test_pattern_matches(pattern, message, expected):
    assert compile_pattern(pattern).matches(message) is expected


INVALID = [
    ("email@domain.com", "Invalid character(s) in term 'email@domain.com'"),
    ("?", "Invalid character(s) in term '?'"),
    ("ERROR -", "Invalid character(s) in term '-'"),
    ('""', "Invalid character(s) in term '\"\"'"),
    ('"unterminated', "Invalid filter pattern"),
    ("{ $.a = 1", "If a filter pattern starts with '{' it must end with '}'"),
    ("[a, b", "If a filter pattern starts with '[' it must end with ']'"),
    ("{ a = 1 }", "Invalid filter pattern"),
    ("{ $.a > abc }", "Invalid filter pattern"),
    ("{ $.a }", "Invalid filter pattern"),
    ("{ $.a IS MAYBE }", "Invalid filter pattern"),
    ("{ $.a = 1 && }", "Invalid filter pattern"),
    ("{ ($.a = 1 }", "Invalid filter pattern"),
    ("%a(b)%", "Invalid filter pattern"),
    ("[a = ]", "Invalid filter pattern"),
]


@pytest.mark.parametrize(("pattern", "message"), INVALID)
def test_invalid_patterns(pattern, message):
    with pytest.raises(FilterPatternError) as raised:
        compile_pattern(pattern)
    assert raised.value.message == message


def test_space_delimited_extracted_values():
    extracted = compile_pattern("[..., request=*.html*, status_code=4*,]").match(APACHE)
    assert extracted == {
        "$1": "127.0.0.1",
        "$2": "-",
        "$3": "frank",
        "$4": "10/Oct/2000:13:25:15 -0700",
        "$request": "GET /index.html HTTP/1.0",
        "$status_code": "404",
        "$7": "1534",
    }
    assert compile_pattern("ERROR").match("ERROR x") == {}
    assert compile_pattern("ERROR").match("fine") is None


@pytest.mark.parametrize(
    ("message", "fields"),
    [
        ("a b  c", ["a", "b", "c"]),
        ('x "quoted field" [bracketed field] y', ["x", "quoted field", "bracketed field", "y"]),
        ("tab\tseparated\n", ["tab", "separated"]),
        ('open "never closed', ["open", "never closed"]),
        ("", []),
    ],
)
def test_split_fields(message, fields):
    assert split_fields(message) == fields
