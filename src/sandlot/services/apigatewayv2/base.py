"""What every part of the HTTP APIs provider shares: state, ids, errors, documents."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import string
import time
from typing import Any
from urllib.parse import urlsplit

from sandlot.protocol import ServiceError, constraints
from sandlot.protocol.models import service_model
from sandlot.services.apigatewayv2.schema import APIS, ITEMS, MIGRATIONS
from sandlot.services.provider import Provider, RequestContext

Doc = dict[str, Any]
_ID_ALPHABET = string.ascii_lowercase + string.digits
DEFAULT_PAGE = 25


def new_id(length: int) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def now_iso() -> str:
    """API Gateway's timestamps (botocore reads ISO 8601)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def bad_request(message: str) -> ServiceError:
    return ServiceError("BadRequestException", message, 400)


def conflict(message: str) -> ServiceError:
    return ServiceError("ConflictException", message, 409)


def not_found(message: str, resource_type: str) -> ServiceError:
    return ServiceError("NotFoundException", message, 404, ResourceType=resource_type)


def public(doc: Doc) -> Doc:
    """A stored document as the API returns it: without sandlot's private keys."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}


class HttpApiBase(Provider):
    """State and lookups; the operations live in the subclasses' mixins."""

    service = "apigatewayv2"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        platform.store.migrate("apigatewayv2", MIGRATIONS)
        self.store = platform.store
        # Bumped by every write: the data plane's compiled APIs are valid for one value.
        self.generation = 0

    def validate(self, ctx: RequestContext, params: dict) -> None:
        """The model's constraints (enums, ranges) answer BadRequestException, API
        Gateway's error for every malformed request."""
        shape = service_model(self.service).operation_model(ctx.operation).input_shape
        found = constraints.violations(shape, params) if shape is not None else []
        if found:
            raise bad_request(constraints.summary(found))

    # -- APIs -------------------------------------------------------------------------------

    def api_row(self, ctx: RequestContext, api_id: str) -> Doc:
        row = self.store.get(APIS, api_id)
        if row is None or (row["account"], row["region"]) != (ctx.account_id, ctx.region):
            raise not_found(f"Invalid API identifier specified {ctx.account_id}:{api_id}", "Api")
        return row

    def api_doc(self, ctx: RequestContext, api_id: str) -> Doc:
        return json.loads(self.api_row(ctx, api_id)["doc"])

    def save_api(self, ctx: RequestContext, doc: Doc) -> None:
        self.store.put(
            APIS,
            {
                "api_id": doc["ApiId"],
                "account": ctx.account_id,
                "region": ctx.region,
                "doc": json.dumps(doc),
            },
        )
        self.generation += 1

    def is_websocket(self, api_id: str) -> bool:
        row = self.store.get(APIS, api_id)
        return row is not None and json.loads(row["doc"]).get("ProtocolType") == "WEBSOCKET"

    def api_endpoint(self, api_id: str) -> str:
        """The API's local invoke URL (``gateway/dataplane.py`` recognises the host)."""
        port = urlsplit(self.platform.endpoint_url).port
        suffix = f":{port}" if port else ""
        return f"http://{api_id}.execute-api.localhost.localstack.cloud{suffix}"

    def api_output(self, doc: Doc) -> Doc:
        endpoint = self.api_endpoint(doc["ApiId"])
        if doc.get("ProtocolType") == "WEBSOCKET":
            endpoint = "ws" + endpoint.removeprefix("http")  # AWS: wss://
        return {**public(doc), "ApiEndpoint": endpoint}

    # -- routes, integrations, stages, deployments ------------------------------------------

    def items(self, api_id: str, kind: str) -> list[Doc]:
        rows = self.store.select(ITEMS, {"api_id": api_id, "kind": kind}, order_by=("created",))
        return [json.loads(r["doc"]) for r in rows]

    def item(self, api_id: str, kind: str, item_id: str) -> Doc | None:
        row = self.store.get(ITEMS, api_id, kind, item_id)
        return json.loads(row["doc"]) if row is not None else None

    def existing(self, ctx: RequestContext, api_id: str, kind: str, item_id: str) -> Doc:
        self.api_row(ctx, api_id)
        found = self.item(api_id, kind, item_id)
        if found is None:
            label = kind.capitalize()
            raise not_found(f"Invalid {label} identifier specified {item_id}", label)
        return found

    def save_item(self, api_id: str, kind: str, item_id: str, doc: Doc) -> None:
        old = self.store.get(ITEMS, api_id, kind, item_id)
        self.store.put(
            ITEMS,
            {
                "api_id": api_id,
                "kind": kind,
                "item_id": item_id,
                "created": old["created"] if old else time.time(),
                "doc": json.dumps(doc),
            },
        )
        self.generation += 1

    def delete_item(self, api_id: str, kind: str, item_id: str) -> None:
        self.store.delete(ITEMS, api_id, kind, item_id)
        self.generation += 1


def paged(items: list[Doc], params: dict) -> Doc:
    """``Items`` and ``NextToken`` (an offset) of a Get…s operation."""
    token = params.get("NextToken")
    try:
        start = int(token) if token else 0
    except ValueError:
        raise bad_request("Invalid pagination token") from None
    limit = int(params.get("MaxResults") or DEFAULT_PAGE)
    output: Doc = {"Items": [public(i) for i in items[start : start + limit]]}
    if start + limit < len(items):
        output["NextToken"] = str(start + limit)
    return output
