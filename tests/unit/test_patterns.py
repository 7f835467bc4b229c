"""The event-pattern matcher (events/patterns): tables of (pattern, event, expected).

Sources: EventBridge User Guide "Content filtering in event patterns", "Arrays in event
patterns", "Matching null values and empty strings"; SNS Developer Guide "Example filter
policies", "Attribute string value matching", "Numeric value matching", "Key matching",
"Filter policy constraints"; Lambda Developer Guide "Event filtering"; AWS's event-ruler
README (the engine behind all three). Invalid patterns carry event-ruler's reasons.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandlot.events.patterns import (
    PatternError,
    compile_event_pattern,
    compile_filter_criteria,
    compile_filter_policy,
    compile_pattern,
)
from sandlot.events.patterns.complexity import complexity

# The EC2 event of event-ruler's README and EventBridge's docs.
EC2 = {
    "version": "0",
    "id": "ddddd4-aaaa-7777-4444-345dd43cc333",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "012345679012",
    "time": "2017-10-02T16:24:49Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
    "detail": {
        "c-count": 5,
        "d-count": 3,
        "x-limit": 301.8,
        "source-ip": "10.0.0.33",
        "instance-id": "i-000000aaaaaa00000",
        "state": "running",
    },
}
EMPLOYEES = {
    "employees": [
        {"firstName": "John", "lastName": "Doe"},
        {"firstName": "Anna", "lastName": "Smith"},
        {"firstName": "Peter", "lastName": "Jones"},
    ]
}
NULLS = {"detail": {"eventVersion": "", "responseElements": None}}


def c(id, pattern, event, expected):
    return pytest.param(pattern, event, expected, id=id)


EVENTBRIDGE_MATCHES = [
    # --- exact values, arrays as OR, nesting
    c(
        "readme-simple",
        {
            "detail-type": ["EC2 Instance State-change Notification"],
            "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
            "detail": {"state": ["initializing", "running"]},
        },
        EC2,
        True,
    ),
    c("exact-case-sensitive", {"source": ["AWS.EC2"]}, EC2, False),
    c("exact-missing-field", {"nope": ["x"]}, EC2, False),
    c("exact-other-value", {"detail": {"state": ["stopped"]}}, EC2, False),
    c("exact-nested-missing-parent", {"other": {"state": ["running"]}}, EC2, False),
    c("exact-pattern-object-event-scalar", {"source": {"x": ["aws.ec2"]}}, EC2, False),
    c(
        "event-array-intersection",
        {"resources": ["arn:x", "arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"]},
        EC2,
        True,
    ),
    c("event-array-no-intersection", {"resources": ["arn:x"]}, EC2, False),
    c("array-of-objects-crushed", {"employees": {"firstName": ["Anna"]}}, EMPLOYEES, True),
    c(
        "array-consistency",  # Anna and Jones are in different elements: no match
        {"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}},
        EMPLOYEES,
        False,
    ),
    c(
        "array-consistency-same-element",
        {"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}},
        EMPLOYEES,
        True,
    ),
    c(
        "multi-level-arrays",
        {"employees": {"firstName": ["Peter"]}},
        {"employees": [[{"firstName": "John"}], [{"firstName": "Peter"}]]},
        True,
    ),
    c("nested-scalar-arrays", {"a": [3]}, {"a": [[1, 2], [3]]}, True),
    c("dotted-key-literal", {"a.b": ["x"]}, {"a.b": "x"}, True),
    c("dotted-key-nested", {"a.b": ["x"]}, {"a": {"b": "x"}}, True),
    c("dotted-key-through-array", {"a.b": ["x"]}, {"a": [{"b": "y"}, {"b": "x"}]}, True),
    c("dotted-key-miss", {"a.b": ["x"]}, {"a": {"b": "y"}}, False),
    c("dotted-key-absent", {"a.b": [{"exists": False}]}, {"a": {"c": 1}}, True),
    # --- numbers, booleans, null, empty string
    c("number-exact", {"detail": {"c-count": [5]}}, EC2, True),
    c("number-exact-float-form", {"detail": {"c-count": [5.0]}}, EC2, True),
    c("number-exact-exponent", {"detail": {"x-limit": [3.018e2]}}, EC2, True),
    c("number-does-not-match-string", {"a": [5]}, {"a": "5"}, False),
    c("string-does-not-match-number", {"a": ["5"]}, {"a": 5}, False),
    c("big-number-literal", {"a": [123456789012]}, {"a": 123456789012}, True),
    c("true-matches-true", {"a": [True]}, {"a": True}, True),
    c("true-not-string", {"a": [True]}, {"a": "true"}, False),
    c("one-is-not-true", {"a": [1]}, {"a": True}, False),
    c("true-is-not-one", {"a": [True]}, {"a": 1}, False),
    c("empty-string", {"detail": {"eventVersion": [""]}}, NULLS, True),
    c("null", {"detail": {"responseElements": [None]}}, NULLS, True),
    c("empty-string-is-not-null", {"detail": {"responseElements": [""]}}, NULLS, False),
    c("null-is-not-empty-string", {"detail": {"eventVersion": [None]}}, NULLS, False),
    c("null-is-not-missing", {"detail": {"nope": [None]}}, NULLS, False),
    # --- prefix / suffix / equals-ignore-case / wildcard
    c("prefix", {"time": [{"prefix": "2017-10-02"}]}, EC2, True),
    c("prefix-miss", {"time": [{"prefix": "2018"}]}, EC2, False),
    c("prefix-not-number", {"detail": {"c-count": [{"prefix": "5"}]}}, EC2, False),
    c("prefix-ignore-case", {"source": [{"prefix": {"equals-ignore-case": "AWS."}}]}, EC2, True),
    c("suffix", {"source": [{"suffix": "ec2"}]}, EC2, True),
    c(
        "suffix-ignore-case",
        {"f": [{"suffix": {"equals-ignore-case": ".png"}}]},
        {"f": "A.PNG"},
        True,
    ),
    c("suffix-case-sensitive", {"f": [{"suffix": ".png"}]}, {"f": "A.PNG"}, False),
    c("equals-ignore-case", {"source": [{"equals-ignore-case": "AWS.Ec2"}]}, EC2, True),
    c("equals-ignore-case-not-prefix", {"source": [{"equals-ignore-case": "AWS"}]}, EC2, False),
    c("wildcard-middle", {"source": [{"wildcard": "aws.*2"}]}, EC2, True),
    c("wildcard-crosses-slashes", {"k": [{"wildcard": "dir/*.png"}]}, {"k": "dir/a/b.png"}, True),
    c("wildcard-whole-value", {"k": [{"wildcard": "*.png"}]}, {"k": "a.png.txt"}, False),
    c("wildcard-empty-run", {"k": [{"wildcard": "a*b"}]}, {"k": "ab"}, True),
    c("wildcard-escaped-star", {"k": [{"wildcard": "a\\*b"}]}, {"k": "a*b"}, True),
    c("wildcard-escaped-star-literal", {"k": [{"wildcard": "a\\*b"}]}, {"k": "axb"}, False),
    c("wildcard-not-number", {"k": [{"wildcard": "*"}]}, {"k": 5}, False),
    c("wildcard-star-alone", {"k": [{"wildcard": "*"}]}, {"k": ""}, True),
    c("wildcard-segments-in-order", {"k": [{"wildcard": "*b*a*"}]}, {"k": "ab"}, False),
    c("wildcard-overlap-head-tail", {"k": [{"wildcard": "ab*ba"}]}, {"k": "aba"}, False),
    c("wildcard-escaped-backslash", {"k": [{"wildcard": "a\\\\*"}]}, {"k": "a\\xyz"}, True),
    # --- anything-but
    c("anything-but-string", {"detail": {"state": [{"anything-but": "initializing"}]}}, EC2, True),
    c("anything-but-string-hit", {"detail": {"state": [{"anything-but": "running"}]}}, EC2, False),
    c("anything-but-number", {"detail": {"x-limit": [{"anything-but": 123}]}}, EC2, True),
    c("anything-but-number-hit", {"detail": {"c-count": [{"anything-but": 5}]}}, EC2, False),
    c(
        "anything-but-list",
        {"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}},
        EC2,
        True,
    ),
    c(
        "anything-but-numbers",
        {"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}},
        EC2,
        True,
    ),
    c("anything-but-numbers-hit", {"a": [{"anything-but": [100, 200]}]}, {"a": 200.0}, False),
    c("anything-but-numbers-string", {"a": [{"anything-but": [100]}]}, {"a": "100"}, True),
    c("anything-but-string-number", {"a": [{"anything-but": ["100"]}]}, {"a": 100}, True),
    c("anything-but-string-null", {"a": [{"anything-but": "x"}]}, {"a": None}, True),
    c(
        "anything-but-prefix",
        {"detail": {"state": [{"anything-but": {"prefix": "init"}}]}},
        EC2,
        True,
    ),
    c(
        "anything-but-prefix-hit",
        {"detail": {"state": [{"anything-but": {"prefix": "run"}}]}},
        EC2,
        False,
    ),
    c("anything-but-suffix", {"f": [{"anything-but": {"suffix": ".png"}}]}, {"f": "a.png"}, False),
    c(
        "anything-but-ignore-case",
        {"s": [{"anything-but": {"equals-ignore-case": ["INIT", "stop"]}}]},
        {"s": "Init"},
        False,
    ),
    c(
        "anything-but-wildcard",
        {"p": [{"anything-but": {"wildcard": "*/lib/*"}}]},
        {"p": "/usr/bin/x"},
        True,
    ),
    c(
        "anything-but-wildcard-hit",
        {"p": [{"anything-but": {"wildcard": "*/lib/*"}}]},
        {"p": "/usr/lib/x"},
        False,
    ),
    c("anything-but-missing-field", {"nope": [{"anything-but": "x"}]}, EC2, False),
    c("anything-but-array-any-other", {"a": [{"anything-but": "x"}]}, {"a": ["x", "y"]}, True),
    c(
        "anything-but-array-all-excluded",
        {"a": [{"anything-but": ["x", "y"]}]},
        {"a": ["x", "y"]},
        False,
    ),
    # --- numeric
    c(
        "numeric-readme",
        {
            "detail": {
                "c-count": [{"numeric": [">", 0, "<=", 5]}],
                "d-count": [{"numeric": ["<", 10]}],
                "x-limit": [{"numeric": ["=", 3.018e2]}],
            }
        },
        EC2,
        True,
    ),
    c("numeric-string-150-is-not-a-number", {"a": [{"numeric": [">", 100]}]}, {"a": "150"}, False),
    c("numeric-150", {"a": [{"numeric": [">", 100]}]}, {"a": 150}, True),
    c("numeric-open-top", {"a": [{"numeric": [">", 0, "<", 5]}]}, {"a": 5}, False),
    c("numeric-closed-top", {"a": [{"numeric": [">", 0, "<=", 5]}]}, {"a": 5}, True),
    c("numeric-open-bottom", {"a": [{"numeric": [">", 0, "<=", 5]}]}, {"a": 0}, False),
    c("numeric-closed-bottom", {"a": [{"numeric": [">=", 0, "<=", 5]}]}, {"a": 0}, True),
    c("numeric-negative", {"a": [{"numeric": ["<", 0]}]}, {"a": -0.5}, True),
    c("numeric-beyond-window", {"a": [{"numeric": [">", 0]}]}, {"a": 6e9}, False),
    c("numeric-not-bool", {"a": [{"numeric": [">", 0]}]}, {"a": True}, False),
    c("numeric-array-any", {"a": [{"numeric": [">", 10]}]}, {"a": [1, 20]}, True),
    # --- exists
    c("exists-true", {"detail": {"c-count": [{"exists": True}]}}, EC2, True),
    c("exists-true-missing", {"detail": {"nope": [{"exists": True}]}}, EC2, False),
    c("exists-false-missing", {"detail": {"nope": [{"exists": False}]}}, EC2, True),
    c("exists-false-present", {"detail": {"c-count": [{"exists": False}]}}, EC2, False),
    c(
        "exists-false-intermediate-node",  # c-count is an object: not a leaf, so "absent"
        {"detail": {"c-count": [{"exists": False}]}},
        {"detail": {"state": "x", "c-count": {"c1": 100}}},
        True,
    ),
    c(
        "exists-true-intermediate-node",
        {"detail": {"c-count": [{"exists": True}]}},
        {"detail": {"c-count": {"c1": 100}}},
        False,
    ),
    c("exists-true-null", {"a": [{"exists": True}]}, {"a": None}, True),
    c("exists-false-null", {"a": [{"exists": False}]}, {"a": None}, False),
    c("exists-false-empty-array", {"a": [{"exists": False}]}, {"a": []}, True),
    c("exists-false-missing-parent", {"x": {"y": [{"exists": False}]}}, {"z": 1}, True),
    c("exists-false-or-value", {"a": [{"exists": False}, "v"]}, {"a": "v"}, True),
    # --- cidr and IP addresses
    c("cidr", {"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}, EC2, True),
    c("cidr-miss", {"a": [{"cidr": "10.0.0.0/24"}]}, {"a": "10.0.1.1"}, False),
    c("cidr-edge", {"a": [{"cidr": "10.0.0.0/24"}]}, {"a": "10.0.0.255"}, True),
    c("cidr-ipv6", {"a": [{"cidr": "2001:db8::/32"}]}, {"a": "2001:db8:1::5"}, True),
    c("cidr-ipv6-miss", {"a": [{"cidr": "2001:db8::/32"}]}, {"a": "2001:db9::5"}, False),
    c("cidr-family", {"a": [{"cidr": "10.0.0.0/8"}]}, {"a": "::a00:1"}, False),
    c("cidr-not-ip", {"a": [{"cidr": "10.0.0.0/8"}]}, {"a": "hello"}, False),
    c("exact-ip-same-address", {"a": ["2001:db8::1"]}, {"a": "2001:DB8:0:0:0:0:0:1"}, True),
    # --- $or
    c(
        "or-readme",
        {
            "source": ["aws.ec2"],
            "$or": [{"detail": {"state": ["stopped"]}}, {"region": ["us-east-1"]}],
        },
        EC2,
        True,
    ),
    c("or-none", {"$or": [{"source": ["aws.s3"]}, {"source": ["aws.sqs"]}]}, EC2, False),
    c("or-nobody-else-matches", {"$or": [{"a": [1]}, {"b": [2]}]}, {"source": "my.app"}, False),
    c(
        "or-parallel",
        {
            "$or": [{"source": ["aws.ec2"]}, {"source": ["x"]}],
            "detail": {"$or": [{"state": ["stopped"]}, {"c-count": [5]}]},
        },
        EC2,
        True,
    ),
    c(
        "or-nested-and",
        {
            "source": ["aws.ec2"],
            "$or": [
                {"region": ["eu-west-1"]},
                {
                    "detail-type": ["EC2 Instance State-change Notification"],
                    "$or": [{"detail": {"c-count": [1]}}, {"detail": {"d-count": [3]}}],
                },
            ],
        },
        EC2,
        True,
    ),
    c(
        "or-inside-array-element",
        {"employees": {"$or": [{"firstName": ["Anna"]}, {"lastName": ["Nobody"]}]}},
        EMPLOYEES,
        True,
    ),
]


@pytest.mark.parametrize(("pattern", "event", "expected"), EVENTBRIDGE_MATCHES)
def test_eventbridge_matches(pattern, event, expected):
    compiled = compile_event_pattern(json.dumps(pattern))
    assert compiled.matches(event) is expected
    assert compiled.matches_json(json.dumps(event)) is expected


def r(id, pattern, reason):
    return pytest.param(pattern, reason, id=id)


EVENTBRIDGE_INVALID = [
    r("not-json", '{"a": [', None),
    r("not-object", "[]", "Filter is not an object"),
    r("scalar-field", '{"a": 1}', '"a" must be an object or an array'),
    r("string-field", '{"detail": {"slug": "x"}}', '"slug" must be an object or an array'),
    r("empty-pattern", "{}", "Empty objects are not allowed"),
    r("empty-object", '{"source": ["aws.health"], "detail": {}}', "Empty objects are not allowed"),
    r("empty-array", '{"a": []}', "Empty arrays are not allowed"),
    r("array-in-array", '{"a": [[1]]}', "Match value must be String, number, true, false, or null"),
    r("empty-expression", '{"a": [{}]}', "Match expression name not found"),
    r("unknown-match-type", '{"a": [{"contains": "x"}]}', "Unrecognized match type contains"),
    r(
        "two-keys",
        '{"a": [{"prefix": "a", "suffix": "b"}]}',
        "Only one key allowed in match expression",
    ),
    r("prefix-number", '{"a": [{"prefix": 1}]}', "prefix match pattern must be a string"),
    r("prefix-object-bad", '{"a": [{"prefix": {"x": "y"}}]}', "Unsupported prefix pattern: x"),
    r("suffix-object-empty", '{"a": [{"suffix": {}}]}', "Suffix expression name not found"),
    r(
        "prefix-ignore-case-number",
        '{"a": [{"prefix": {"equals-ignore-case": 1}}]}',
        "equals-ignore-case match pattern must be a string",
    ),
    r("suffix-list", '{"a": [{"suffix": ["x"]}]}', "suffix match pattern must be a string"),
    r(
        "eic-number",
        '{"a": [{"equals-ignore-case": 5}]}',
        "equals-ignore-case match pattern must be a string",
    ),
    r("wildcard-number", '{"a": [{"wildcard": 5}]}', "wildcard match pattern must be a string"),
    r(
        "wildcard-double-star",
        '{"a": [{"wildcard": "a**"}]}',
        "Consecutive wildcard characters at pos 2",
    ),
    r(
        "wildcard-bad-escape",
        '{"a": [{"wildcard": "a\\\\b"}]}',
        "Invalid escape character at pos 2",
    ),
    r(
        "exists-string",
        '{"a": [{"exists": "true"}]}',
        "exists match pattern must be either true or false.",
    ),
    r("numeric-not-array", '{"a": [{"numeric": 5}]}', "Value of numeric must be an array."),
    r("numeric-empty", '{"a": [{"numeric": []}]}', "Invalid member in numeric match: ]"),
    r("numeric-number-first", '{"a": [{"numeric": [5]}]}', "Invalid member in numeric match: 5"),
    r(
        "numeric-bad-op",
        '{"a": [{"numeric": ["!=", 5]}]}',
        "Unrecognized numeric range operator: !=",
    ),
    r("numeric-string-operand", '{"a": [{"numeric": [">", "5"]}]}', "Value of > must be numeric"),
    r("numeric-equals-operand", '{"a": [{"numeric": ["="]}]}', "Value of equals must be numeric"),
    r(
        "numeric-lt-too-many",
        '{"a": [{"numeric": ["<", 5, ">", 1]}]}',
        "Too many elements in numeric expression",
    ),
    r(
        "numeric-bad-closer",
        '{"a": [{"numeric": [">", 5, ">", 9]}]}',
        "Bad numeric range operator: >",
    ),
    r(
        "numeric-closer-number",
        '{"a": [{"numeric": [">", 5, 9]}]}',
        "Bad value in numeric range: 9",
    ),
    r("numeric-top-missing", '{"a": [{"numeric": [">", 5, "<"]}]}', "Value of < must be numeric"),
    r(
        "numeric-too-many-terms",
        '{"a": [{"numeric": [">", 0, "<", 5, 6]}]}',
        "Too many terms in numeric range expression",
    ),
    r("numeric-inverted", '{"a": [{"numeric": [">", 5, "<", 1]}]}', "Bottom must be less than top"),
    r(
        "numeric-empty-range",
        '{"a": [{"numeric": [">=", 5, "<", 5]}]}',
        "Bottom must be less than top",
    ),
    r(
        "numeric-out-of-window",
        '{"a": [{"numeric": [">", 6e9]}]}',
        "Value must be between -5.0E9 and 5.0E9, inclusive",
    ),
    r(
        "numeric-too-precise",
        '{"a": [{"numeric": [">", 0.0000001]}]}',
        "Only values upto 6 decimals are supported",
    ),
    r(
        "numeric-two-keys",
        '{"a": [{"numeric": [">", 0], "exists": true}]}',
        "Too many elements in numeric expression",
    ),
    r(
        "anything-but-bool",
        '{"a": [{"anything-but": true}]}',
        "Value of anything-but must be an array or single string/number value.",
    ),
    r(
        "anything-but-null-in-list",
        '{"a": [{"anything-but": ["a", null]}]}',
        "Inside anything but list, start|null|boolean is not supported.",
    ),
    r(
        "anything-but-mixed",
        '{"a": [{"anything-but": ["a", 1]}]}',
        "Inside anything but list, either all values are number or string, mixed type is not supported",
    ),
    r(
        "anything-but-empty-list",
        '{"a": [{"anything-but": []}]}',
        "Inside anything but list, either all values are number or string, mixed type is not supported",
    ),
    r(
        "anything-but-unknown",
        '{"a": [{"anything-but": {"numeric": [">", 1]}}]}',
        "Unsupported anything-but pattern: numeric",
    ),
    r(
        "anything-but-empty-object",
        '{"a": [{"anything-but": {}}]}',
        "Anything-But expression name not found",
    ),
    r(
        "anything-but-empty-prefix",
        '{"a": [{"anything-but": {"prefix": ""}}]}',
        "Null prefix/suffix not allowed",
    ),
    r(
        "anything-but-prefix-number",
        '{"a": [{"anything-but": {"prefix": 5}}]}',
        "prefix/suffix match pattern must be a string",
    ),
    r(
        "anything-but-wildcard-number",
        '{"a": [{"anything-but": {"wildcard": [5]}}]}',
        "wildcard match pattern must be a string",
    ),
    r(
        "anything-but-eic-number",
        '{"a": [{"anything-but": {"equals-ignore-case": 5}}]}',
        "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.",
    ),
    r(
        "anything-but-extra-key",
        '{"a": [{"anything-but": "x", "prefix": "y"}]}',
        "Too many elements in numeric expression",
    ),
    r("cidr-number", '{"a": [{"cidr": 10}]}', "prefix match pattern must be a string"),
    r("cidr-no-slash", '{"a": [{"cidr": "10.0.0.0"}]}', "Malformed CIDR, one '/' required"),
    r("cidr-trailing-slash", '{"a": [{"cidr": "10.0.0.0/"}]}', "Malformed CIDR, one '/' required"),
    r(
        "cidr-mask-text",
        '{"a": [{"cidr": "10.0.0.0/x"}]}',
        "Malformed CIDR, mask bits must be an integer",
    ),
    r(
        "cidr-mask-negative",
        '{"a": [{"cidr": "10.0.0.0/-1"}]}',
        "Malformed CIDR, mask bits must not be negative",
    ),
    r("cidr-v4-mask", '{"a": [{"cidr": "10.0.0.0/32"}]}', "IPv4 mask bits must be < 32"),
    r("cidr-v6-mask", '{"a": [{"cidr": "::/128"}]}', "IPv6 mask bits must be < 128"),
    r("cidr-hostname", '{"a": [{"cidr": "example.com/8"}]}', "Nonstandard IP address: example.com"),
    r("cidr-bad-octet", '{"a": [{"cidr": "10.0.0.300/8"}]}', "Invalid IP address: 10.0.0.300"),
    r("or-not-array", '{"$or": {"a": [1]}}', "It must be an Array followed with $or."),
    r("or-one", '{"$or": [{"a": [1]}]}', "There must have at least 2 Objects in $or relationship."),
    r(
        "or-scalar",
        '{"$or": [{"a": [1]}, 5]}',
        "Only JSON object is allowed in array of $or relationship.",
    ),
    r(
        "or-reserved-name",
        '{"$or": [{"numeric": [1]}, {"b": [1]}]}',
        "numeric is Ruler reserved fieldName which cannot be used inside $or.",
    ),
    r(
        "wildcard-too-complex",
        json.dumps({"a": [{"wildcard": f"*:stack/{n}/*"} for n in "ABCD"]}),
        "Rule is too complex - try using fewer wildcard characters or fewer repeating "
        "character sequences after a wildcard character",
    ),
]


@pytest.mark.parametrize(("pattern", "reason"), EVENTBRIDGE_INVALID)
def test_eventbridge_invalid(pattern, reason):
    with pytest.raises(PatternError) as raised:
        compile_event_pattern(pattern)
    error = raised.value
    assert error.code == "InvalidEventPatternException"
    assert error.message.startswith("Event pattern is not valid. Reason: ")
    if reason is not None:
        assert error.reason == reason
        assert error.message == f"Event pattern is not valid. Reason: {reason}"


def test_non_standard_json_and_absurd_depth_are_refused_not_crashes():
    with pytest.raises(PatternError, match="Non-standard token 'NaN'"):
        compile_event_pattern('{"a": [NaN]}')
    deep = '{"a": ' * 5000 + "[1]" + "}" * 5000
    for compile_ in (compile_event_pattern, compile_filter_policy):
        with pytest.raises(PatternError):
            compile_(deep)
    pattern = compile_event_pattern('{"a": {"b": [1]}}')
    nested: object = 1
    for _ in range(5000):
        nested = [nested]
    assert pattern.matches({"a": nested}) is False


@settings(max_examples=300, deadline=None)
@given(st.text("ab*", max_size=6), st.text("ab", max_size=8))
def test_wildcard_agrees_with_fnmatch(pattern, value):
    import fnmatch

    if "**" in pattern:
        return
    compiled = compile_event_pattern({"k": [{"wildcard": pattern}]})
    assert compiled.matches({"k": value}) is fnmatch.fnmatchcase(value, pattern)


def test_wildcard_on_a_large_value_stays_fast():
    import time

    compiled = compile_event_pattern({"k": [{"wildcard": "*a*a*a*a*b"}]})
    start = time.perf_counter()
    assert compiled.matches({"k": "a" * 200_000}) is False
    assert time.perf_counter() - start < 0.5


def test_uses_wildcards_for_the_service_quota():
    assert compile_event_pattern('{"a": [{"wildcard": "x*"}]}').uses_wildcards
    assert compile_event_pattern('{"a": [{"anything-but": {"wildcard": "x*"}}]}').uses_wildcards
    assert not compile_event_pattern('{"a": ["x*"]}').uses_wildcards


def test_first_problem_in_document_order_is_reported():
    # AWS parses as it streams: the first bad member is the one named.
    with pytest.raises(PatternError, match='"b" must be'):
        compile_event_pattern('{"a": [{"prefix": "x"}], "b": 1, "c": []}')


def test_wildcard_complexity_counts_live_prefixes():
    assert complexity(["*.png"]) <= 3
    assert complexity([f"*:stack/{n}/*" for n in "ABC"]) <= 10  # accepted by AWS
    assert complexity([f"*:stack/{n}/*" for n in "ABCD"]) > 10  # refused by AWS
    assert complexity(["a*", "b*", "c*", "d*", "e*", "f*"]) <= 10  # distinct prefixes don't stack


# --- SNS ------------------------------------------------------------------------------------

# SNS's "Example filter policies" message.
SNS_ATTRIBUTES = {
    "customer_interests": {"Type": "String.Array", "Value": '["soccer", "rugby", "hockey"]'},
    "store": {"Type": "String", "Value": "example_corp"},
    "event": {"Type": "String", "Value": "order_placed"},
    "price_usd": {"Type": "Number", "Value": "210.75"},
}


def attr(kind, value):
    return {"DataType": kind, "StringValue": value}


SNS_ATTRIBUTE_MATCHES = [
    c(
        "docs-accepts",
        {
            "store": ["example_corp"],
            "event": [{"anything-but": "order_cancelled"}],
            "customer_interests": ["rugby", "football", "baseball"],
            "price_usd": [{"numeric": [">=", 100]}],
        },
        SNS_ATTRIBUTES,
        True,
    ),
    c(
        "docs-rejects",
        {
            "store": ["example_corp"],
            "event": ["order_cancelled"],
            "encrypted": [False],
            "customer_interests": ["basketball", "baseball"],
        },
        SNS_ATTRIBUTES,
        False,
    ),
    c(
        "exact",
        {"customer_interests": ["rugby", "tennis"]},
        {"customer_interests": attr("String", "tennis")},
        True,
    ),
    c(
        "exact-miss",
        {"customer_interests": ["rugby"]},
        {"customer_interests": attr("String", "baseball")},
        False,
    ),
    c(
        "prefix",
        {"customer_interests": [{"prefix": "bas"}]},
        {"customer_interests": attr("String", "basketball")},
        True,
    ),
    c(
        "anything-but-array-attr",
        {"customer_interests": [{"anything-but": ["rugby", "tennis"]}]},
        {"customer_interests": attr("String.Array", '["rugby", "baseball"]')},
        True,
    ),
    c(
        "anything-but-hit",
        {"c": [{"anything-but": ["rugby"]}]},
        {"c": attr("String", "rugby")},
        False,
    ),
    c(
        "anything-but-prefix",
        {"event": [{"anything-but": {"prefix": "order-"}}]},
        {"event": attr("String", "order_number")},
        True,
    ),
    c(
        "anything-but-prefix-hit",
        {"event": [{"anything-but": {"prefix": "order-"}}]},
        {"event": attr("String", "order-cancelled")},
        False,
    ),
    c(
        "cidr",
        {"source_ip": [{"cidr": "10.0.0.0/24"}]},
        {"source_ip": attr("String", "10.0.0.255")},
        True,
    ),
    c(
        "cidr-miss",
        {"source_ip": [{"cidr": "10.0.0.0/24"}]},
        {"source_ip": attr("String", "10.1.1.0")},
        False,
    ),
    c(
        "numeric-equals",
        {"price_usd": [{"numeric": ["=", 301.5]}]},
        {"price_usd": attr("Number", "3.015e2")},
        True,
    ),
    c("numeric-exact-value", {"price_usd": [301.5]}, {"price_usd": attr("Number", "301.5")}, True),
    c(
        "numeric-value-as-number",
        {"p": [{"numeric": ["=", 301.5]}]},
        {"p": {"Type": "Number", "Value": 301.5}},
        True,
    ),
    c(
        "numeric-string-attr",
        {"price_usd": [{"numeric": [">", 1]}]},
        {"price_usd": attr("String", "301.5")},
        False,
    ),
    c(
        "numeric-anything-but",
        {"price": [{"anything-but": [100, 500]}]},
        {"price": attr("Number", "100.1")},
        True,
    ),
    c(
        "numeric-anything-but-hit",
        {"price": [{"anything-but": [100, 500]}]},
        {"price": attr("Number", "100")},
        False,
    ),
    c(
        "number-array",
        {"price": [{"anything-but": [100, 500]}]},
        {"price": attr("Number.Array", "[100, 50]")},
        True,
    ),
    c("exists-true", {"store": [{"exists": True}]}, {"store": attr("String", "fans")}, True),
    c("exists-false", {"store": [{"exists": False}]}, {"other": attr("String", "x")}, True),
    c(
        "exists-false-present",
        {"store": [{"exists": False}]},
        {"store": attr("String", "fans")},
        False,
    ),
    c(
        "binary-ignored",
        {"b": [{"exists": True}]},
        {"b": {"DataType": "Binary", "BinaryValue": b"x"}},
        False,
    ),
    c("custom-type", {"s": ["x"]}, {"s": attr("String.custom", "x")}, True),
    c("dotted-name", {"a.b": ["x"]}, {"a.b": attr("String", "x")}, True),
    c("or", {"$or": [{"a": ["1"]}, {"b": ["2"]}]}, {"b": attr("String", "2")}, True),
]


@pytest.mark.parametrize(("policy", "attributes", "expected"), SNS_ATTRIBUTE_MATCHES)
def test_sns_attribute_policies(policy, attributes, expected):
    compiled = compile_filter_policy(json.dumps(policy), "MessageAttributes")
    assert compiled.matches_message("body is ignored", attributes) is expected


SNS_BODY_MATCHES = [
    c("nested", {"store": {"name": ["fans"]}}, {"store": {"name": "fans"}, "x": 1}, True),
    c("nested-miss", {"store": {"name": ["fans"]}}, {"store": {"name": "x"}}, False),
    c("array-values", {"interests": ["rugby"]}, {"interests": ["soccer", "rugby"]}, True),
    c("numeric-json-only", {"price": [{"numeric": [">", 1]}]}, {"price": "150"}, False),
    c("exists-false", {"store": [{"exists": False}]}, {"customer_interests": ["baseball"]}, True),
    c("dotted-policy-key", {"field1.field2": ["value1"]}, {"field1": {"field2": "value1"}}, True),
]


@pytest.mark.parametrize(("policy", "body", "expected"), SNS_BODY_MATCHES)
def test_sns_body_policies(policy, body, expected):
    compiled = compile_filter_policy(json.dumps(policy), "MessageBody")
    assert compiled.matches_message(json.dumps(body), {"store": attr("String", "fans")}) is expected


def test_sns_body_must_be_a_json_object():
    compiled = compile_filter_policy('{"a": [{"exists": false}]}', "MessageBody")
    assert compiled.matches_body("{}") is True
    assert compiled.matches_body("plain text") is False
    assert compiled.matches_body("[1, 2]") is False


SNS_INVALID = [
    r(
        "nested-attributes",
        ('{"a": {"b": ["x"]}}', "MessageAttributes"),
        "Invalid parameter: Filter policy scope MessageAttributes does not support nested filter policy",
    ),
    r(
        "six-keys",
        (json.dumps({k: ["x"] for k in "abcdef"}), "MessageAttributes"),
        "Invalid parameter: FilterPolicy: Filter policy can not have more than 5 keys",
    ),
    r(
        "too-many-combinations",
        (json.dumps({"a": list(range(10)), "b": list(range(16))}), "MessageAttributes"),
        "Invalid parameter: FilterPolicy: Filter policy is too complex",
    ),
    r(
        "nested-depth-weighs",
        (
            json.dumps({"a": {"b": {"c": list(range(4))}}, "d": {"e": list(range(7))}}),
            "MessageBody",
        ),
        "Invalid parameter: FilterPolicy: Filter policy is too complex",
    ),  # 3*4 * 2*7 = 168
    r(
        "wildcard-unsupported",
        ('{"a": [{"wildcard": "x*"}]}', "MessageBody"),
        "Invalid parameter: FilterPolicy: Unrecognized match type wildcard",
    ),
    r(
        "anything-but-wildcard",
        ('{"a": [{"anything-but": {"wildcard": "x*"}}]}', "MessageBody"),
        "Invalid parameter: FilterPolicy: Unsupported anything-but pattern: wildcard",
    ),
    r(
        "ruler-reason",
        ('{"a": [{"exists": 1}]}', "MessageAttributes"),
        "Invalid parameter: FilterPolicy: exists match pattern must be either true or false.",
    ),
    r(
        "scalar",
        ('{"a": "x"}', "MessageAttributes"),
        'Invalid parameter: FilterPolicy: "a" must be an object or an array',
    ),
]


@pytest.mark.parametrize(("given", "message"), SNS_INVALID)
def test_sns_invalid(given, message):
    document, scope = given
    with pytest.raises(PatternError) as raised:
        compile_filter_policy(document, scope)
    assert raised.value.code == "InvalidParameter"
    assert raised.value.message == message


def test_sns_combinations_at_the_limit_are_accepted():
    compile_filter_policy(json.dumps({"a": list(range(10)), "b": list(range(15))}))  # 150
    compile_filter_policy(  # the docs' nested example: 3*4 * 2*3 = 72
        json.dumps({"key_a": {"key_b": {"key_c": list("wxyz")}}, "key_d": {"key_e": list("abc")}}),
        "MessageBody",
    )


def test_sns_subscribe_wording():
    with pytest.raises(PatternError) as raised:
        compile_filter_policy('{"a": []}', subscribe=True)
    assert raised.value.message == (
        "Invalid parameter: Attributes Reason: FilterPolicy: Empty arrays are not allowed"
    )


# --- Lambda ---------------------------------------------------------------------------------


def criteria(*patterns):
    return compile_filter_criteria({"Filters": [{"Pattern": json.dumps(p)} for p in patterns]})


def sqs_record(body):
    return {
        "messageId": "m1",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
    }


LAMBDA_MATCHES = [
    c(
        "json-body",
        [{"body": {"RequestCode": ["BBBB"]}}],
        sqs_record('{"RequestCode": "BBBB"}'),
        True,
    ),
    c(
        "json-body-miss",
        [{"body": {"RequestCode": ["BBBB"]}}],
        sqs_record('{"RequestCode": "A"}'),
        False,
    ),
    c("json-filter-plain-body", [{"body": {"RequestCode": ["BBBB"]}}], sqs_record("BBBB"), False),
    c("plain-filter-plain-body", [{"body": ["BBBB"]}], sqs_record("BBBB"), True),
    c(
        "or-between-filters",
        [{"body": {"a": [1]}}, {"body": {"b": [2]}}],
        sqs_record('{"b": 2}'),
        True,
    ),
    c(
        "record-metadata",
        [{"attributes": {"ApproximateReceiveCount": ["1"]}}],
        sqs_record("x"),
        True,
    ),
    c("numeric-body", [{"body": {"n": [{"numeric": [">", 5]}]}}], sqs_record('{"n": 9}'), True),
    c("prefix-body", [{"body": {"s": [{"prefix": "ab"}]}}], sqs_record('{"s": "abc"}'), True),
    c(
        "anything-but-list",
        [{"body": {"s": [{"anything-but": ["x"]}]}}],
        sqs_record('{"s": "y"}'),
        True,
    ),
]


@pytest.mark.parametrize(("patterns", "record", "expected"), LAMBDA_MATCHES)
def test_lambda_filter_criteria(patterns, record, expected):
    assert criteria(*patterns).matches(record) is expected


def test_lambda_kinesis_data_is_base64_json():
    import base64

    record = {"kinesis": {"data": base64.b64encode(b'{"t": "x"}').decode()}, "data": None}
    compiled = criteria({"data": {"t": ["x"]}})
    record = {"data": base64.b64encode(b'{"t": "x"}').decode()}
    assert compiled.matches(record, "data", base64_data=True) is True
    assert (
        compiled.matches({"data": base64.b64encode(b"plain").decode()}, "data", base64_data=True)
        is False
    )


def test_lambda_no_criteria_means_no_filtering():
    assert compile_filter_criteria(None) is None
    assert compile_filter_criteria({}) is None
    assert compile_filter_criteria({"Filters": []}) is None


LAMBDA_INVALID = [
    r("not-json", {"Filters": [{"Pattern": "{"}]}, "Invalid filter pattern definition."),
    r("null", {"Filters": [{"Pattern": "null"}]}, "Invalid filter pattern definition."),
    r(
        "scalar-field",
        {"Filters": [{"Pattern": '{"body": "x"}'}]},
        "Invalid filter pattern definition.",
    ),
    r(
        "wildcard",
        {"Filters": [{"Pattern": '{"body": [{"wildcard": "*"}]}'}]},
        "Invalid filter pattern definition.",
    ),
    r(
        "too-long",
        {"Filters": [{"Pattern": json.dumps({"a": ["x" * 4100]})}]},
        "Invalid filter pattern definition.",
    ),
]


@pytest.mark.parametrize(("given", "message"), LAMBDA_INVALID)
def test_lambda_invalid(given, message):
    with pytest.raises(PatternError) as raised:
        compile_filter_criteria(given)
    assert raised.value.code == "InvalidParameterValueException"
    assert raised.value.message == message


def test_lambda_at_most_five_filters():
    with pytest.raises(PatternError) as raised:
        compile_filter_criteria({"Filters": [{"Pattern": '{"a": [1]}'}] * 6})
    assert raised.value.code == "InvalidParameterValueException"
    assert "less than or equal to 5" in raised.value.message


def test_compile_pattern_dialects():
    assert compile_pattern({"a": [{"wildcard": "x*"}]}, "eventbridge").matches({"a": "xy"})
    with pytest.raises(PatternError):
        compile_pattern({"a": [{"wildcard": "x*"}]}, "sns")
    with pytest.raises(PatternError):
        compile_pattern({"a": [{"wildcard": "x*"}]}, "lambda")


# --- property: exact matching equals a naive evaluator ---------------------------------------

KEYS = st.sampled_from(["a", "b", "c"])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["", "x", "y", "1"])
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3))
EVENTS = st.dictionaries(
    KEYS, st.one_of(VALUES, st.dictionaries(KEYS, VALUES, max_size=2)), max_size=3
)
LEAVES = st.lists(SCALARS, min_size=1, max_size=3)
PATTERNS = st.dictionaries(
    KEYS,
    st.one_of(LEAVES, st.dictionaries(KEYS, LEAVES, min_size=1, max_size=2)),
    min_size=1,
    max_size=3,
)


def json_equal(a, b):
    """JSON equality: "1" is not 1, true is not 1, 1 is 1.0, null is only null."""
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b
    return a == b


def naive(pattern, event):
    for key, want in pattern.items():
        if not isinstance(event, dict) or key not in event:
            return False
        got = event[key]
        if isinstance(want, dict):
            if not naive(want, got):
                return False
            continue
        values = got if isinstance(got, list) else [got]
        if not any(json_equal(v, w) for v in values if not isinstance(v, dict) for w in want):
            return False
    return True


@settings(max_examples=400, deadline=None)
@given(PATTERNS, EVENTS)
def test_exact_matching_equals_naive_evaluator(pattern, event):
    assert compile_event_pattern(pattern).matches(event) is naive(pattern, event)


@settings(max_examples=300, deadline=None)
@given(PATTERNS, PATTERNS, EVENTS)
def test_or_is_the_union_of_its_branches(first, second, event):
    either = compile_event_pattern({"$or": [first, second]}).matches(event)
    assert either is (
        compile_event_pattern(first).matches(event) or compile_event_pattern(second).matches(event)
    )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["x", "y", "z"]), min_size=1, max_size=3),
    st.sampled_from(["x", "y", "z"]),
)
def test_anything_but_negates_exact_for_a_present_string(excluded, value):
    event = {"f": value}
    negated = compile_event_pattern({"f": [{"anything-but": excluded}]}).matches(event)
    assert negated is not compile_event_pattern({"f": excluded}).matches(event)


BOUNDS = st.integers(-1000, 1000)


@settings(max_examples=300, deadline=None)
@given(
    BOUNDS,
    BOUNDS,
    st.sampled_from([">", ">="]),
    st.sampled_from(["<", "<="]),
    st.integers(-1100, 1100),
)
def test_numeric_range_agrees_with_python_comparison(low, high, opener, closer, value):
    if low >= high:
        return
    pattern = compile_event_pattern({"n": [{"numeric": [opener, low, closer, high]}]})
    above = value > low if opener == ">" else value >= low
    below = value < high if closer == "<" else value <= high
    assert pattern.matches({"n": value}) is (above and below)
    assert pattern.matches({"n": float(value) + 0.5}) is (
        (value + 0.5 > low if opener == ">" else value + 0.5 >= low)
        and (value + 0.5 < high if closer == "<" else value + 0.5 <= high)
    )
    assert pattern.matches({"n": str(value)}) is False  # a string is never a number
