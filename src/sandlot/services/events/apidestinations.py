"""Connections and API destinations: rule targets that are HTTP endpoints. A connection
holds the authorization (API key header, basic auth, or OAuth client credentials: a
bearer token from the authorization endpoint, ``events/oauth.py``) and extra invocation
parameters;
an API destination names the endpoint (``*`` in its path filled from the target's
``HttpParameters.PathParameterValues``), the method and the connection. A matching
event is POSTed (or the destination's method) through the delivery path's http(s)
adapter; as AWS does, 401, 407, 409, 429 and 5xx answers are retried and other 4xx
answers are final.
Secrets stay in sandlot's store (AWS keeps them in a Secrets Manager secret it owns).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from urllib.parse import urlencode

from sandlot.services.events.archives import ArchiveOperations
from sandlot.services.events.base import already_exists, not_found, validation
from sandlot.services.events.buses import _page
from sandlot.services.events.schema import API_DESTINATIONS, CONNECTIONS
from sandlot.services.provider import RequestContext

USER_AGENT = "Amazon/EventBridge/ApiDestinations"
# Answers no retry can fix: every 4xx but 401, 407, 409 and 429.
FINAL_STATUSES = [[400, 400], [402, 406], [408, 408], [410, 428], [430, 499]]


def _connection_output(row: dict) -> dict:
    auth = json.loads(row["auth"])
    shown: dict = {}
    if "ApiKeyAuthParameters" in auth:
        shown["ApiKeyAuthParameters"] = {"ApiKeyName": auth["ApiKeyAuthParameters"]["ApiKeyName"]}
    if "BasicAuthParameters" in auth:
        shown["BasicAuthParameters"] = {"Username": auth["BasicAuthParameters"]["Username"]}
    if "OAuthParameters" in auth:
        given = auth["OAuthParameters"]
        shown["OAuthParameters"] = {
            "ClientParameters": {"ClientID": given["ClientParameters"]["ClientID"]},
            "AuthorizationEndpoint": given["AuthorizationEndpoint"],
            "HttpMethod": given.get("HttpMethod", "POST"),
        }
        if given.get("OAuthHttpParameters"):
            shown["OAuthParameters"]["OAuthHttpParameters"] = given["OAuthHttpParameters"]
    if "InvocationHttpParameters" in auth:
        shown["InvocationHttpParameters"] = auth["InvocationHttpParameters"]
    out = {
        "ConnectionArn": row["arn"],
        "Name": row["name"],
        "ConnectionState": "AUTHORIZED",
        "AuthorizationType": row["auth_type"],
        "AuthParameters": shown,
        "CreationTime": row["created"],
        "LastModifiedTime": row["modified"],
        "LastAuthorizedTime": row["modified"],
    }
    if row["description"]:
        out["Description"] = row["description"]
    return out


def _destination_output(row: dict) -> dict:
    out = {
        "ApiDestinationArn": row["arn"],
        "Name": row["name"],
        "ApiDestinationState": "ACTIVE",
        "ConnectionArn": row["connection"],
        "InvocationEndpoint": row["endpoint"],
        "HttpMethod": row["method"],
        "InvocationRateLimitPerSecond": row["rate"],
        "CreationTime": row["created"],
        "LastModifiedTime": row["modified"],
    }
    if row["description"]:
        out["Description"] = row["description"]
    return out


class ApiDestinationOperations(ArchiveOperations):
    # -- connections ------------------------------------------------------------------

    def _check_auth(self, kind: str, auth: dict) -> None:
        needed = {"API_KEY": "ApiKeyAuthParameters", "BASIC": "BasicAuthParameters",
                  "OAUTH_CLIENT_CREDENTIALS": "OAuthParameters"}[kind]  # fmt: skip
        if not auth.get(needed):
            raise validation(f"AuthParameters.{needed} must be specified for {kind}.")
        if kind == "OAUTH_CLIENT_CREDENTIALS":
            given = auth[needed]
            client = given.get("ClientParameters") or {}
            if not (client.get("ClientID") and client.get("ClientSecret")):
                raise validation("OAuthParameters.ClientParameters must be specified.")
            if not str(given.get("AuthorizationEndpoint", "")).startswith(("https://", "http://")):
                raise validation("OAuthParameters.AuthorizationEndpoint must be an http(s) URL.")

    def create_connection(self, ctx: RequestContext, params: dict) -> dict:
        kind, auth = params["AuthorizationType"], params["AuthParameters"]
        self._check_auth(kind, auth)
        name, now = params["Name"], time.time()
        row = {
            "account": ctx.account_id,
            "region": ctx.region,
            "name": name,
            "arn": f"arn:aws:events:{ctx.region}:{ctx.account_id}:connection/{name}/{uuid.uuid4()}",
            "auth_type": kind,
            "auth": json.dumps(auth),
            "description": params.get("Description"),
            "created": now,
            "modified": now,
        }
        if not self.store.put(CONNECTIONS, row, replace=False):
            raise already_exists(f"Connection {name} already exists.")
        return {"ConnectionArn": row["arn"], "ConnectionState": "AUTHORIZED",
                "CreationTime": now, "LastModifiedTime": now}  # fmt: skip

    def _connection(self, ctx: RequestContext, name: str) -> dict:
        row = self.store.get(CONNECTIONS, ctx.account_id, ctx.region, name)
        if row is None:
            raise not_found(
                f"Failed to describe the connection(s). Connection '{name}' does not exist."
            )
        return row

    def describe_connection(self, ctx: RequestContext, params: dict) -> dict:
        return _connection_output(self._connection(ctx, params["Name"]))

    def update_connection(self, ctx: RequestContext, params: dict) -> dict:
        row = self._connection(ctx, params["Name"])
        kind = params.get("AuthorizationType") or row["auth_type"]
        auth = {**json.loads(row["auth"]), **(params.get("AuthParameters") or {})}
        self._check_auth(kind, auth)
        row.update(auth_type=kind, auth=json.dumps(auth), modified=time.time())
        if "Description" in params:
            row["description"] = params["Description"]
        self.store.put(CONNECTIONS, row)
        out = _connection_output(row)
        return {k: out[k] for k in ("ConnectionArn", "ConnectionState", "CreationTime",
                                    "LastModifiedTime", "LastAuthorizedTime")}  # fmt: skip

    def list_connections(self, ctx: RequestContext, params: dict) -> dict:
        rows = self.store.select(
            CONNECTIONS, {"account": ctx.account_id, "region": ctx.region}, order_by=("name",)
        )
        prefix = params.get("NamePrefix") or ""
        found = [_connection_output(r) for r in rows if r["name"].startswith(prefix)]
        for item in found:
            item.pop("AuthParameters")
        return _page(found, "Connections", params)

    def delete_connection(self, ctx: RequestContext, params: dict) -> dict:
        row = self._connection(ctx, params["Name"])
        self.store.delete(CONNECTIONS, row["account"], row["region"], row["name"])
        out = _connection_output(row)
        return {**{k: out[k] for k in ("ConnectionArn", "CreationTime", "LastModifiedTime",
                                       "LastAuthorizedTime")}, "ConnectionState": "DELETING"}  # fmt: skip

    # -- API destinations -------------------------------------------------------------

    def create_api_destination(self, ctx: RequestContext, params: dict) -> dict:
        connection = params["ConnectionArn"]
        self._connection(ctx, connection.split("/")[1] if "/" in connection else connection)
        if not params["InvocationEndpoint"].startswith(("https://", "http://")):
            raise validation("InvocationEndpoint must be an http(s) URL.")
        name, now = params["Name"], time.time()
        row = {
            "account": ctx.account_id,
            "region": ctx.region,
            "name": name,
            "arn": f"arn:aws:events:{ctx.region}:{ctx.account_id}:api-destination/{name}/{uuid.uuid4()}",
            "connection": connection,
            "endpoint": params["InvocationEndpoint"],
            "method": params["HttpMethod"],
            "rate": params.get("InvocationRateLimitPerSecond") or 300,
            "description": params.get("Description"),
            "created": now,
            "modified": now,
        }
        if not self.store.put(API_DESTINATIONS, row, replace=False):
            raise already_exists(f"An api-destination '{name}' already exists.")
        return {"ApiDestinationArn": row["arn"], "ApiDestinationState": "ACTIVE",
                "CreationTime": now, "LastModifiedTime": now}  # fmt: skip

    def _destination(self, ctx: RequestContext, name: str) -> dict:
        row = self.store.get(API_DESTINATIONS, ctx.account_id, ctx.region, name)
        if row is None:
            raise not_found(
                f"Failed to describe the api-destination(s). An api-destination '{name}' does not exist."
            )
        return row

    def describe_api_destination(self, ctx: RequestContext, params: dict) -> dict:
        return _destination_output(self._destination(ctx, params["Name"]))

    def update_api_destination(self, ctx: RequestContext, params: dict) -> dict:
        row = self._destination(ctx, params["Name"])
        for key, column in (("ConnectionArn", "connection"), ("InvocationEndpoint", "endpoint"),
                            ("HttpMethod", "method"), ("InvocationRateLimitPerSecond", "rate"),
                            ("Description", "description")):  # fmt: skip
            if key in params:
                row[column] = params[key]
        row["modified"] = time.time()
        self.store.put(API_DESTINATIONS, row)
        out = _destination_output(row)
        return {k: out[k] for k in ("ApiDestinationArn", "ApiDestinationState", "CreationTime",
                                    "LastModifiedTime")}  # fmt: skip

    def list_api_destinations(self, ctx: RequestContext, params: dict) -> dict:
        rows = self.store.select(
            API_DESTINATIONS, {"account": ctx.account_id, "region": ctx.region}, order_by=("name",)
        )
        prefix, connection = params.get("NamePrefix") or "", params.get("ConnectionArn")
        found = [
            _destination_output(r)
            for r in rows
            if r["name"].startswith(prefix) and (not connection or r["connection"] == connection)
        ]
        return _page(found, "ApiDestinations", params)

    def delete_api_destination(self, ctx: RequestContext, params: dict) -> dict:
        row = self._destination(ctx, params["Name"])
        self.store.delete(API_DESTINATIONS, row["account"], row["region"], row["name"])
        return {}

    # -- delivery ---------------------------------------------------------------------

    def connection_request(self, connection_arn: str) -> dict | None:
        """What a connection adds to an HTTP request (API destinations, Step Functions'
        HTTP task): ``headers`` and ``query`` (its invocation parameters), ``auth`` (its
        API key or basic auth header, which the request's own headers never replace) and
        ``oauth`` (client credentials for ``events/oauth.py``, or None); None if the
        connection does not exist."""
        parts = connection_arn.split(":", 5)
        if len(parts) < 6 or not parts[5].startswith("connection/"):
            return None
        connection = self.store.get(CONNECTIONS, parts[4], parts[3], parts[5].split("/")[1])
        if connection is None:
            return None
        auth = json.loads(connection["auth"])
        headers: dict[str, str] = {}
        query: dict[str, str] = {}
        invocation = auth.get("InvocationHttpParameters") or {}  # lists of Key/Value
        for item in invocation.get("HeaderParameters") or []:
            headers[item["Key"]] = item["Value"]
        for item in invocation.get("QueryStringParameters") or []:
            query[item["Key"]] = item["Value"]
        secret: dict[str, str] = {}
        if "ApiKeyAuthParameters" in auth:
            key = auth["ApiKeyAuthParameters"]
            secret[key["ApiKeyName"]] = key["ApiKeyValue"]
        if "BasicAuthParameters" in auth:
            basic = auth["BasicAuthParameters"]
            token = base64.b64encode(f"{basic['Username']}:{basic['Password']}".encode()).decode()
            secret["Authorization"] = f"Basic {token}"
        oauth = None
        if "OAuthParameters" in auth:
            given = auth["OAuthParameters"]
            extra = given.get("OAuthHttpParameters") or {}
            oauth = {
                "endpoint": given["AuthorizationEndpoint"],
                "method": given.get("HttpMethod", "POST"),
                "client_id": given["ClientParameters"]["ClientID"],
                "client_secret": given["ClientParameters"]["ClientSecret"],
                "headers": {p["Key"]: p["Value"] for p in extra.get("HeaderParameters") or []},
                "query": {p["Key"]: p["Value"] for p in extra.get("QueryStringParameters") or []},
                "body": {p["Key"]: p["Value"] for p in extra.get("BodyParameters") or []},
            }
        return {"headers": headers, "query": query, "auth": secret, "oauth": oauth}

    def http_request(self, arn: str, target: dict) -> tuple[str, dict] | None:
        """(URL, http adapter options) for an API destination target, or None if its
        destination or connection is gone (the delivery is then refused)."""
        parts = arn.split(":", 5)
        name = parts[5].split("/")[1]
        row = self.store.get(API_DESTINATIONS, parts[4], parts[3], name)
        if row is None:
            return None
        request = self.connection_request(row["connection"])
        if request is None:
            return None
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
        headers.update(request["headers"])
        query = request["query"]
        given = target.get("HttpParameters") or {}  # the target's: maps
        headers.update(given.get("HeaderParameters") or {})
        query.update(given.get("QueryStringParameters") or {})
        headers.update(request["auth"])
        options: dict = {"method": row["method"], "headers": headers,
                         "final_statuses": FINAL_STATUSES,
                         "rate_limit": row["rate"], "rate_key": row["arn"]}  # fmt: skip
        if request["oauth"]:
            options["oauth"] = request["oauth"]
        url = row["endpoint"]
        for value in given.get("PathParameterValues") or []:
            url = url.replace("*", value, 1)
        if query:
            url += ("&" if "?" in url else "?") + urlencode(query)
        return url, options
