"""Bucket policies as S3 checks them on PutBucketPolicy.

IAM's policy grammar (``iam.policy.compile_policy``) decides what a document means; S3
adds its own rules and words on top, all answered as ``400 MalformedPolicy``: the
document must be JSON starting with ``{``, every statement needs a Principal, actions
must be S3 actions, resources must be this bucket or its objects, and an action must
apply to one of the statement's resources.
"""

from __future__ import annotations

import functools
import json
import re

from sandlot.iam.actions import load_index
from sandlot.iam.policy import MalformedPolicyError, compile_policy
from sandlot.iam.policy.document import VERSIONS
from sandlot.protocol import ServiceError

_ARN = "arn:aws:s3:::"
_STATEMENT_FIELDS = (
    "Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource",
    "NotResource", "Condition",
)  # fmt: skip


def malformed(message: str) -> ServiceError:
    return ServiceError("MalformedPolicy", message, 400)


def validate_bucket_policy(text: str, bucket: str) -> None:
    """Raise S3's MalformedPolicy unless ``text`` is a policy S3 would accept for ``bucket``."""
    if not text.lstrip().startswith("{"):
        raise malformed("Policies must be valid JSON and the first byte must be '{'")
    try:
        document = json.loads(text)
    except ValueError:
        raise malformed("This policy contains invalid Json") from None
    if "Statement" not in document:
        raise malformed("Missing required field Statement")
    if "Version" in document and document["Version"] not in VERSIONS:
        raise malformed("The policy must contain a valid version string")
    statements = document["Statement"]
    if isinstance(statements, dict):
        statements = [statements]
    if not statements:
        raise malformed("Could not parse the policy: Statement is empty!")
    for statement in statements if isinstance(statements, list) else ():
        if isinstance(statement, dict):
            _check_statement(statement, bucket)
    try:
        compile_policy(text, "resource", f"{_ARN}{bucket}")
    except MalformedPolicyError as error:
        message = str(error)
        if message.startswith("Invalid principal in policy"):
            message = "Invalid principal in policy"  # S3 does not say which
        raise malformed(message) from None


def _check_statement(statement: dict, bucket: str) -> None:
    for field in statement:
        if field not in _STATEMENT_FIELDS:
            raise malformed(f"Unknown field {field}")
    if "Effect" not in statement:
        raise malformed("Missing required field Effect")
    if statement["Effect"] not in ("Allow", "Deny"):
        raise malformed(f"Invalid effect: {statement['Effect']}")
    if "Principal" not in statement and "NotPrincipal" not in statement:
        raise malformed("Missing required field Principal")
    if "Action" not in statement and "NotAction" not in statement:
        raise malformed("Missing required field Action")
    if "Resource" not in statement and "NotResource" not in statement:
        raise malformed("Missing required field Resource")
    actions = _strings(statement.get("Action", statement.get("NotAction")))
    resources = _strings(statement.get("Resource", statement.get("NotResource")))
    kinds: set[str] = set()
    for resource in resources:
        kinds |= _resource_kinds(resource, bucket)
    applies = False
    for action in actions:
        matched = _s3_actions(action)
        if not matched:
            raise malformed("Policy has invalid action")
        applies = applies or any(_action_kinds()[name] & kinds for name in matched)
    if "Action" in statement and "Resource" in statement and not applies:
        raise malformed("Action does not apply to any resource(s) in statement")
    conditions = statement.get("Condition")
    for block in conditions.values() if isinstance(conditions, dict) else ():
        for key in block if isinstance(block, dict) else ():
            if not _known_condition_key(key):
                raise malformed("Policy has an invalid condition key")


def _strings(value: object) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, str)]


def _glob(pattern: str) -> re.Pattern[str]:
    """IAM's wildcards: ``*`` any run (``/`` included), ``?`` one character."""
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern),
        re.IGNORECASE | re.DOTALL,
    )


def _resource_kinds(resource: str, bucket: str) -> set[str]:
    """Which of this bucket's resource types (``bucket``, ``object``) ``resource`` can
    name; S3 refuses any resource outside the bucket (``*`` and other buckets too)."""
    if not resource.startswith(_ARN) or len(resource) == len(_ARN):
        raise malformed("Policy has invalid resource")
    rest = resource[len(_ARN) :]
    name, slash, _ = rest.partition("/")
    # "*" spans "/", so a bucket part holding one can also reach into objects.
    if slash and not _glob(name).fullmatch(bucket):
        raise malformed("Policy has invalid resource")
    if not slash and not _glob(rest).fullmatch(bucket) and not _glob(rest).match(f"{bucket}/"):
        raise malformed("Policy has invalid resource")
    if slash:
        return {"object"}
    return {"bucket", "object"} if "*" in rest else {"bucket"}


def _s3_actions(pattern: str) -> list[str]:
    """The S3 actions ``pattern`` names (``*``, ``s3:*``, ``s3:Get*``, ``s3:GetObject``)."""
    if pattern == "*":
        return list(_action_kinds())
    vendor, _, name = pattern.partition(":")
    if vendor.lower() != "s3" or not name:
        return []
    matcher = _glob(name)
    return [action for action in _action_kinds() if matcher.fullmatch(action)]


@functools.cache
def _action_kinds() -> dict[str, frozenset[str]]:
    """S3 action → the bucket/object resource types it applies to (AWS's data)."""
    actions = load_index()["s3"]["actions"]
    return {
        name: frozenset(kind for kind, _ in entry["resources"] if kind in ("bucket", "object"))
        for name, entry in actions.items()
    }


def _known_condition_key(key: str) -> bool:
    """Global ``aws:`` keys (AWS keeps adding them) or a key of S3's own."""
    lowered = key.lower()
    if lowered.startswith("aws:"):
        return True
    known = _s3_condition_keys()
    return lowered in known or lowered.split("/", 1)[0] + "/" in known


@functools.cache
def _s3_condition_keys() -> frozenset[str]:
    """S3's condition keys, lower-cased (AWS's authorization data); tag keys
    (``s3:ExistingObjectTag/<key>``) as their ``prefix/``."""
    keys = set()
    for entry in load_index()["s3"]["actions"].values():
        for key in entry["conditions"]:
            lowered = key.lower()
            if "/" in lowered and ("<" in lowered or "${" in lowered):
                lowered = lowered.split("/", 1)[0] + "/"  # a tag key placeholder
            keys.add(lowered)
    return frozenset(keys)
