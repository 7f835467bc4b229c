"""What a role session carries besides its policies: session tags, the tag keys that
pass on when it assumes another role (transitive), and its source identity.

Session tags become the session's principal tags (``aws:PrincipalTag/<key>``),
overriding the role's own tags with the same key whatever its case; a session made by
a session inherits its transitive tags (which a new tag may not override) and its
source identity. The context is stored with the session's credentials
(``Principal.session_context``) and read by the authorizer.
"""

from __future__ import annotations

import json

from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError

MAX_TAGS = 50
# The plain-text budget that session policies and tags share (AWS packs them into a
# binary form whose size it reports as a percentage; plain text is a close stand-in).
PACKED_BUDGET = 2048
WEB_IDENTITY_TAGS_CLAIM = "https://aws.amazon.com/tags"
SAML_ATTRIBUTE = "https://aws.amazon.com/SAML/Attributes/"


def _invalid(message: str) -> ServiceError:
    return ServiceError("InvalidParameterValue", message)


def session_context(caller: Principal, tags: list[dict], params: dict) -> tuple[str | None, int]:
    """The new session's context as JSON (None when it carries nothing) and the packed
    size (percent) of its session policy and tags; AWS's errors for bad tags."""
    inherited = (
        json.loads(caller.session_context)
        if caller.kind == "assumed-role" and caller.session_context
        else {}
    )
    passed_on = {k.lower() for k in inherited.get("transitive", [])}
    carried = {k: v for k, v in inherited.get("tags", {}).items() if k.lower() in passed_on}
    if len(tags) > MAX_TAGS:
        raise ServiceError(
            "ValidationError",
            "1 validation error detected: Value at 'tags' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_TAGS}",
        )
    given: dict[str, str] = {}
    for tag in tags:
        if tag["Key"].lower() in {k.lower() for k in given}:
            raise _invalid(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive."
            )
        given[tag["Key"]] = tag.get("Value", "")
    clash = sorted({k.lower() for k in carried} & {k.lower() for k in given})
    if clash:
        raise _invalid(
            "Session tags cannot override transitive tags of the calling session: "
            + ", ".join(clash)
        )
    transitive = list(params.get("TransitiveTagKeys") or [])
    named = {k.lower(): k for k in given}
    for key in transitive:
        if key.lower() not in named:
            raise _invalid(
                "The specified transitive tag key must be included in the requested tags."
            )
    source = inherited.get("source_identity")
    if params.get("SourceIdentity"):
        if source and params["SourceIdentity"] != source:
            raise _invalid(f"The source identity of a role chain cannot change: it is {source!r}.")
        source = params["SourceIdentity"]
    all_tags = {**carried, **given}
    used = len(params.get("Policy") or "") + sum(len(k) + len(v) for k, v in all_tags.items())
    packed = -(-used * 100 // PACKED_BUDGET)  # rounded up, as a share of the budget
    if packed > 100:
        what = (
            "session tags" if all_tags and not params.get("Policy") else "session policy and tags"
        )
        raise ServiceError(
            "PackedPolicyTooLarge", f"Packed size of {what} consumes {packed}% of allotted space."
        )
    if not all_tags and not source:
        return None, packed
    keys = [k for k in carried] + [named[k.lower()] for k in transitive]
    context: dict = {"tags": all_tags, "transitive": list(dict.fromkeys(keys))}
    if source:
        context["source_identity"] = source
    return json.dumps(context, sort_keys=True), packed


def tag_keys(tags: list[dict], transitive: list[str]) -> dict[str, object]:
    """The condition keys of passing ``tags``: what ``sts:TagSession`` is evaluated with."""
    keys: dict[str, object] = {f"aws:RequestTag/{t['Key']}": t.get("Value", "") for t in tags}
    keys["aws:TagKeys"] = [t["Key"] for t in tags]
    if transitive:
        keys["sts:TransitiveTagKeys"] = list(transitive)
    return keys


def token_session_tags(claims: dict) -> tuple[list[dict], list[str]]:
    """Session tags an OpenID Connect token passes in its ``https://aws.amazon.com/tags``
    claim (``principal_tags``: key → [value]; ``transitive_tag_keys``)."""
    claim = claims.get(WEB_IDENTITY_TAGS_CLAIM)
    if not isinstance(claim, dict):
        return [], []
    tags = []
    for key, values in (claim.get("principal_tags") or {}).items():
        value = values[0] if isinstance(values, list) and values else values
        if isinstance(value, list) or (isinstance(values, list) and len(values) > 1):
            raise ServiceError(
                "InvalidIdentityToken", "Multivalued session tags are not supported."
            )
        tags.append({"Key": str(key), "Value": str(value if value is not None else "")})
    transitive = [str(k) for k in claim.get("transitive_tag_keys") or []]
    return tags, transitive


def assertion_session_tags(attributes: dict[str, list[str]]) -> tuple[list[dict], list[str]]:
    """Session tags a SAML assertion passes (``…/Attributes/PrincipalTag:<key>``
    attributes, one value each) and its ``…/Attributes/TransitiveTagKeys``."""
    prefix = SAML_ATTRIBUTE + "PrincipalTag:"
    tags = []
    for name, values in attributes.items():
        if not name.startswith(prefix):
            continue
        if len(values) != 1:
            raise ServiceError(
                "InvalidIdentityToken", "Multivalued session tags are not supported."
            )
        tags.append({"Key": name[len(prefix) :], "Value": values[0]})
    return tags, list(attributes.get(SAML_ATTRIBUTE + "TransitiveTagKeys", []))
