"""Subscription filter policies (FilterPolicy, FilterPolicyScope).

Matching is the shared event-pattern matcher's job (``events/patterns``, SNS dialect);
until it is part of this tree, a subscription with a filter policy is refused with
AWS's InvalidParameter rather than delivered to unfiltered.
"""

from __future__ import annotations

from sandlot.services.sns.errors import invalid_parameter


def check(attributes: dict[str, str]) -> None:
    """Refuse a subscription's FilterPolicy that AWS would refuse."""
    if attributes.get("FilterPolicy"):
        raise invalid_parameter(
            "FilterPolicy: filter policies are not supported by this sandlot build yet"
        )


def matches(sub, message: str, attributes: dict) -> bool:
    """Whether ``sub``'s filter policy lets the message through (no policy: always)."""
    return not sub.attributes.get("FilterPolicy")
