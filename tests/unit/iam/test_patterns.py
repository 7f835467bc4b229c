"""Wildcards, ARN segments and policy-variable templates, below the evaluation table."""

from __future__ import annotations

import pytest

from sandlot.iam.policy.patterns import (
    Literal,
    Variable,
    arn_source,
    compile_regex,
    glob_source,
    parse_template,
)


def test_template_parts():
    template = parse_template("a/${aws:username, 'x y'}/${*}/${aws:PrincipalTag/Team}", True)
    assert template.parts == (
        "a/",
        Variable("aws:username", "x y"),
        "/",
        Literal("*"),
        "/",
        Variable("aws:principaltag/team", None),
    )
    assert template.has_variables


def test_old_version_keeps_text():
    assert parse_template("a/${aws:username}", False).parts == ("a/${aws:username}",)


def test_resolve_missing_and_default():
    lookup = {"aws:username": "alice"}.get
    assert parse_template("${aws:userid}", True).resolve(lookup) is None
    assert parse_template("${aws:userid, 'd'}", True).resolve(lookup) == (Literal("d"),)
    assert parse_template("${aws:username}", True).resolve(lookup) == (Literal("alice"),)


@pytest.mark.parametrize(
    ("pattern", "arn", "matches"),
    [
        ("arn:aws:s3:::b/*", "arn:aws:s3:::b/x:y/z", True),
        ("arn:aws:*:*:*:*", "arn:aws:sqs:us-east-1:1:q", True),
        ("arn:aws:sqs:*:1:q", "arn:aws:sqs:us-east-1:1:q", True),
        ("arn:aws:sqs:us-*:1:q", "arn:aws:sqs:us:east:1:q", False),  # * stays in its segment
        ("arn:aws:lambda:*:1:function:*", "arn:aws:lambda:r:1:function:f:alias", True),
        ("arn:aws:s3:*", "arn:aws:s3:::bucket", True),  # a short pattern's last segment runs on
        ("arn:aws:s3:::b?", "arn:aws:s3:::bb", True),
        ("arn:aws:s3:::b?", "arn:aws:s3:::b", False),
    ],
)
def test_arn_segments(pattern, arn, matches):
    regex = compile_regex(arn_source(parse_template(pattern, True).parts))
    assert (regex.match(arn) is not None) is matches


def test_glob_escapes_regex_characters():
    regex = compile_regex(glob_source(("a.b+(c)*",)))
    assert regex.match("a.b+(c)zzz") and not regex.match("aXb+(c)")
