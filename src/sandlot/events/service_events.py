"""The events AWS services put on an account's default EventBridge bus ("aws.s3"
"Object Created", "aws.states" "Step Functions Execution Status Change", …): one path
for every emitting service.

``emit`` stages the event on the platform's delivery path (``events/delivery.py``), so
call it inside the transaction that makes the change the event reports: the change and
its event commit together, and a crash before the PutEvents delivers it after the
restart (at least once). AWS puts its services' events on the bus without a bus policy:
the delivery is made as the account itself, and PutEvents accepts an ``aws.`` source only
from sandlot's own calls, never from a client's request.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sandlot.events.delivery import RetryPolicy
from sandlot.iam.principal import Principal

if TYPE_CHECKING:
    from sandlot.events.delivery import Deliveries

# Throttles and system errors are retried for up to an hour; a refused entry is final.
POLICY = RetryPolicy(max_attempts=5, delays_s=(1.0, 2.0, 4.0, 8.0), max_age_s=3600.0,
                     transient_base_s=1.0, transient_max_s=60.0)  # fmt: skip


def default_bus(region: str, account_id: str) -> str:
    return f"arn:aws:events:{region}:{account_id}:event-bus/default"


def emit(
    deliveries: Deliveries,
    *,
    region: str,
    account_id: str,
    source: str,
    detail_type: str,
    detail: dict,
    resources: Iterable[str] = (),
) -> str:
    """Stage one service event for ``account_id``'s default bus in ``region``; returns
    the delivery id."""
    return deliveries.stage(
        default_bus(region, account_id),
        json.dumps(detail),
        principal=Principal.root(account_id),
        options={"Source": source, "DetailType": detail_type, "Resources": list(resources)},
        policy=POLICY,
        region=region,
    )
