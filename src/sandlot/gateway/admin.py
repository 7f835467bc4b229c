"""sandlot's admin endpoints: what the ``sandlot`` command asks a running server.

They live under ``/_sandlot/`` (no AWS API uses that path) and answer JSON, with the
snake_case keys of ``/_sandlot/health``:

``GET /_sandlot/iam/explain/<request-id>``
    200 ``{"request_id", "decisions": [decision…]}``, one decision per action and
    resource the request needed, in order: ``request_id``, ``time`` (epoch seconds),
    ``account_id``, ``principal_arn``, ``role_arn`` (of a role session, else null),
    ``service``, ``operation``, ``action``, ``resource``, ``outcome`` (``ALLOW``,
    ``EXPLICIT_DENY``, ``IMPLICIT_DENY``), ``enforced`` (false when ``--iam soft`` let
    a denial through), ``reason``, ``policies`` (ids of the policies evaluated, by
    kind), ``statements`` (allowed: the deciding ``{"statement"}``; denied: every
    statement looked at, ``{"statement", "applied", "ruled_out_by"}``).
    404 when nothing was recorded for that request.
``GET /_sandlot/iam/suggest?role=NAME-or-ARN[&since=EPOCH-SECONDS][&account=ID]``
    200 ``{"role_arn", "calls", "policy"}``: the least-privilege policy for the calls
    (``calls`` decisions) the role's sessions made since ``since``; 404 when none.
``GET /_sandlot/iam/decisions[?denied=true][&limit=N][&account=ID]``
    200 ``{"decisions": [decision…]}``: the newest ``limit`` (default 100, at most
    1000) decisions about the account's requests (default: the server's default
    account), newest first, each shaped as ``explain``'s; ``denied=true``: denials only.
    The web console's IAM view reads it.
``GET /_sandlot/sns/messages[?endpoint=ADDRESS]``
    200 ``{"messages": [message…]}``: what SNS would have sent to email, email-json and
    SMS endpoints (there is nowhere to send them), oldest first (at most 1000): ``seq``,
    ``subscription``, ``topic``, ``protocol``, ``endpoint``, ``kind``
    (``SubscriptionConfirmation`` or ``Notification``), ``message``, ``subject``, ``time``.
``GET /_sandlot/cognito/codes[?pool=USER_POOL_ID]``
    200 ``{"codes": [code…]}``: the codes Cognito would have emailed or texted (sign-up
    confirmation, password reset, generated temporary passwords), oldest first:
    ``pool_id``, ``username``, ``purpose``, ``code``, ``destination``, ``created``,
    ``expires``.

Errors are ``{"message"}`` with 400 (bad parameter), 403 or 404. Who may ask: in
secure mode only the account root (a SigV4 signature by the key in
``root-credentials.json``, checked as every request's is); in dev mode, where the
server listens on loopback only and every unsigned request is the root already,
anyone who can reach it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from urllib.parse import parse_qs, unquote

from sandlot.gateway.auth import AuthFailure
from sandlot.iam.principal import Principal
from sandlot.iam.suggest import least_privilege, role_arn
from sandlot.platform import Platform
from sandlot.protocol import HttpRequest, HttpResponse

PREFIX = "/_sandlot/iam/"
SNS_MESSAGES = "/_sandlot/sns/messages"
COGNITO_CODES = "/_sandlot/cognito/codes"
_EXPLAIN = PREFIX + "explain/"
_SUGGEST = PREFIX + "suggest"
_DECISIONS = PREFIX + "decisions"
MAX_DECISIONS = 1000


def answer(
    platform: Platform, request: HttpRequest, authenticate: Callable[[HttpRequest], Principal]
) -> HttpResponse:
    """The response to an admin request (a path under ``PREFIX``)."""
    refusal = _refusal(platform, request, authenticate)
    if refusal is not None:
        return refusal
    if request.path == SNS_MESSAGES:
        query = {name: values[-1] for name, values in parse_qs(request.query).items()}
        sns = platform.provider("sns")
        messages = sns.recorded_messages(query.get("endpoint"))  # type: ignore[union-attr]
        return _json(200, {"messages": messages})
    if request.path == COGNITO_CODES:
        query = {name: values[-1] for name, values in parse_qs(request.query).items()}
        cognito = platform.provider("cognito-idp")
        return _json(200, {"codes": cognito.codes(query.get("pool"))})  # type: ignore[union-attr]
    log = platform.authorizer.decisions
    if request.path.startswith(_EXPLAIN) and len(request.path) > len(_EXPLAIN):
        request_id = unquote(request.path[len(_EXPLAIN) :])
        records = log.for_request(request_id)
        if not records:
            return _json(
                404,
                {
                    "message": f"no IAM decision recorded for request {request_id} (an account "
                    "root acting in its own account is never evaluated; the log keeps the "
                    "newest decisions only)"
                },
            )
        decisions = [dataclasses.asdict(record) for record in records]
        return _json(200, {"request_id": request_id, "decisions": decisions})
    if request.path == _DECISIONS:
        query = {name: values[-1] for name, values in parse_qs(request.query).items()}
        try:
            limit = int(query.get("limit", "100"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_DECISIONS:
            return _json(400, {"message": f"limit must be a number from 1 to {MAX_DECISIONS}"})
        account = query.get("account") or platform.settings.default_account
        records = log.recent(account, limit, denied_only=query.get("denied") == "true")
        return _json(200, {"decisions": [dataclasses.asdict(record) for record in records]})
    if request.path == _SUGGEST:
        query = {name: values[-1] for name, values in parse_qs(request.query).items()}
        if not query.get("role"):
            return _json(400, {"message": "the role parameter (a role name or ARN) is required"})
        try:
            since = float(query.get("since", "0"))
        except ValueError:
            return _json(400, {"message": "since must be a time in epoch seconds"})
        account = query.get("account") or platform.settings.default_account
        arn = role_arn(log, account, query["role"])
        records = log.for_role(arn, since)
        if not records:
            return _json(404, {"message": f"no calls recorded for sessions of {arn}"})
        policy = least_privilege(records)
        return _json(200, {"role_arn": arn, "calls": len(records), "policy": policy})
    return _json(404, {"message": f"no sandlot endpoint {request.path}"})


def _refusal(
    platform: Platform, request: HttpRequest, authenticate: Callable[[HttpRequest], Principal]
) -> HttpResponse | None:
    """Why the admin request may not be answered, or None."""
    if request.method != "GET":
        return _json(405, {"message": f"{request.method} is not allowed on {request.path}"})
    if platform.settings.secure:
        hint = "sign admin requests with the account root's key, from root-credentials.json"
        try:
            principal = authenticate(request)
        except AuthFailure as failure:
            return _json(403, {"message": f"{failure.message.rstrip('.')}: {hint}"})
        if not principal.is_root:
            return _json(403, {"message": f"{principal.arn} is not the account root: {hint}"})
    return None


def _json(status: int, body: dict) -> HttpResponse:
    return HttpResponse(status, {"Content-Type": "application/json"}, json.dumps(body).encode())
