"""Opaque list pagination: nextToken is the position after the last item handed out."""

from __future__ import annotations

import base64
import json
from typing import Any

from sandlot.protocol import ServiceError

DEFAULT_PAGE = 100
MAX_PAGE = 1000


def page(rows: list[dict], params: dict, *, key: str) -> tuple[list[dict], dict[str, Any]]:
    """The slice of ``rows`` (already in order) that ``nextToken``/``maxResults`` ask
    for, and ``{"nextToken": …}`` when more remain. The token names the last item's
    ``key`` value and index, so an item added meanwhile does not repeat earlier ones."""
    limit = params.get("maxResults") or DEFAULT_PAGE
    limit = min(limit, MAX_PAGE)
    start = 0
    token = params.get("nextToken")
    if token:
        try:
            position = json.loads(base64.urlsafe_b64decode(token.encode()))
            start = int(position["i"])
        except (ValueError, KeyError, TypeError):
            raise ServiceError("InvalidToken", f"Invalid Token: '{token}'") from None
        if start > len(rows) or (start and rows[start - 1].get(key) != position["k"]):
            # The list changed under the token: continue after the named item if present.
            keys = [r.get(key) for r in rows]
            start = keys.index(position["k"]) + 1 if position["k"] in keys else start
    items = rows[start : start + limit]
    out: dict[str, Any] = {}
    if start + limit < len(rows):
        position = {"i": start + limit, "k": items[-1].get(key)}
        out["nextToken"] = base64.urlsafe_b64encode(json.dumps(position).encode()).decode()
    return items, out
