"""DynamoDB's expression language, pure (no storage, no requests): ``syntax`` parses
the five kinds of expression into trees, ``evaluate`` applies trees to items."""

from sandlot.services.dynamodb.expressions.evaluate import (
    apply_update,
    check_between_bounds,
    matches,
    project,
    resolve,
)
from sandlot.services.dynamodb.expressions.syntax import (
    Between,
    Call,
    Compare,
    Path,
    Placeholders,
    Update,
    Value,
    parse_condition,
    parse_projection,
    parse_update,
)

__all__ = [
    "Between",
    "Call",
    "Compare",
    "Path",
    "Placeholders",
    "Update",
    "Value",
    "apply_update",
    "check_between_bounds",
    "matches",
    "parse_condition",
    "parse_projection",
    "parse_update",
    "project",
    "resolve",
]
