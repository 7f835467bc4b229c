"""Subscription filter policies (FilterPolicy, FilterPolicyScope), matched by the shared
event-pattern matcher's SNS dialect (``events/patterns``).

A policy is compiled once per (text, scope) and cached; "" or "{}" means no policy
(AWS removes the policy when it is set to either).
"""

from __future__ import annotations

import functools

from sandlot.events.patterns import FilterPolicy, PatternError, compile_filter_policy
from sandlot.protocol import ServiceError


def has_policy(attributes: dict[str, str]) -> bool:
    return attributes.get("FilterPolicy", "").strip() not in ("", "{}")


@functools.lru_cache(maxsize=4096)
def _compiled(text: str, scope: str, subscribe: bool) -> FilterPolicy:
    return compile_filter_policy(text, scope, subscribe=subscribe)


def check(attributes: dict[str, str], *, subscribe: bool) -> None:
    """Refuse a FilterPolicy AWS would refuse, with AWS's message (Subscribe words it
    as an attribute, SetSubscriptionAttributes as the parameter)."""
    if not has_policy(attributes):
        return
    scope = attributes.get("FilterPolicyScope") or "MessageAttributes"
    try:
        _compiled(attributes["FilterPolicy"], scope, subscribe)
    except PatternError as error:
        raise ServiceError(error.code, error.message) from None


def matches(sub, message: str, attributes: dict) -> bool:
    """Whether ``sub``'s filter policy lets the message through (no policy: always)."""
    if not has_policy(sub.attributes):
        return True
    scope = sub.attributes.get("FilterPolicyScope") or "MessageAttributes"
    return _compiled(sub.attributes["FilterPolicy"], scope, False).matches_message(
        message, attributes
    )
