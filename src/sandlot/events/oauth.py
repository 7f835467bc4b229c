"""OAuth 2.0 client credentials for HTTP deliveries (EventBridge connections of type
OAUTH_CLIENT_CREDENTIALS): the token is requested from the authorization endpoint with
the client id and secret as basic auth (and the connection's extra header, query and
body parameters), kept until it expires or the endpoint answers 401, and sent as
``Authorization: Bearer <token>``. Blocking I/O: the delivery path calls it in a thread.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import threading
import time
import urllib.parse

TIMEOUT_S = 15.0
DEFAULT_LIFETIME_S = 3600.0

_tokens: dict[str, tuple[str, float]] = {}  # key -> (access token, expiry)
_gates: dict[str, threading.Lock] = {}  # one fetch per connection at a time
_lock = threading.Lock()


class TokenError(Exception):
    """The authorization endpoint gave no token (its status and reason, or why)."""


def _key(oauth: dict) -> str:
    return hashlib.sha256(json.dumps(oauth, sort_keys=True).encode()).hexdigest()


def forget(oauth: dict) -> None:
    """Drop the cached token (the endpoint refused it: 401)."""
    with _lock:
        _tokens.pop(_key(oauth), None)


def token(oauth: dict) -> str:
    """An access token for ``oauth`` (``endpoint``, ``method``, ``client_id``,
    ``client_secret``, ``headers``, ``query``, ``body``), fetched when none is cached."""
    key = _key(oauth)
    with _lock:
        gate = _gates.setdefault(key, threading.Lock())
    with gate:  # deliveries waiting here take the token the first one fetched
        with _lock:
            cached = _tokens.get(key)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        return _fetch(key, oauth)


def _fetch(key: str, oauth: dict) -> str:
    parts = urllib.parse.urlsplit(oauth["endpoint"])
    query = urllib.parse.parse_qsl(parts.query) + list((oauth.get("query") or {}).items())
    path = (parts.path or "/") + (f"?{urllib.parse.urlencode(query)}" if query else "")
    credentials = f"{oauth['client_id']}:{oauth['client_secret']}".encode()
    headers = {
        "Authorization": "Basic " + base64.b64encode(credentials).decode(),
        "Content-Type": "application/x-www-form-urlencoded",
        **(oauth.get("headers") or {}),
    }
    body = urllib.parse.urlencode(oauth.get("body") or {}).encode()
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.netloc, timeout=TIMEOUT_S)
    try:
        connection.request(oauth.get("method") or "POST", path, body, headers)
        response = connection.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException) as error:
        raise TokenError(f"{type(error).__name__}: {error}") from None
    finally:
        connection.close()
    if not 200 <= response.status < 300:
        raise TokenError(
            f"authorization endpoint answered HTTP {response.status} {response.reason}"
        )
    try:
        answer = json.loads(data)
        access = answer["access_token"]
    except (ValueError, KeyError, TypeError):
        raise TokenError("authorization endpoint answered no access_token") from None
    lifetime = float(answer.get("expires_in") or DEFAULT_LIFETIME_S)
    with _lock:
        _tokens[key] = (access, time.time() + max(lifetime - 5, 1))
    return access
