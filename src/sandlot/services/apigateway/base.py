"""What every part of the REST APIs provider shares: state, ids, errors, documents."""

from __future__ import annotations

import json
import secrets
import string
import time
from typing import Any
from urllib.parse import urlsplit

from sandlot.protocol import ServiceError, constraints
from sandlot.protocol.models import service_model
from sandlot.services.apigateway.schema import APIS, ITEMS, MIGRATIONS
from sandlot.services.provider import Provider, RequestContext

Doc = dict[str, Any]
_ID_ALPHABET = string.ascii_lowercase + string.digits
LAMBDA_URI = ":lambda:path/2015-03-31/functions/"


def new_id(length: int = 10) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def bad_request(message: str) -> ServiceError:
    return ServiceError("BadRequestException", message, 400)


def not_found(message: str) -> ServiceError:
    return ServiceError("NotFoundException", message, 404)


def conflict(message: str) -> ServiceError:
    return ServiceError("ConflictException", message, 409)


def public(doc: Doc) -> Doc:
    """A stored document as the API returns it: without sandlot's private keys."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def function_of(uri: str | None) -> str | None:
    """The function a Lambda integration or authorizer URI names
    (``arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<arn>/invocations``)."""
    uri = uri or ""
    if LAMBDA_URI in uri:
        return uri.split("/functions/", 1)[1].removesuffix("/invocations")
    return None


class RestApiBase(Provider):
    """State and lookups; the operations live in the subclasses' mixins."""

    service = "apigateway"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        platform.store.migrate("apigateway", MIGRATIONS)
        self.store = platform.store
        self.generation = 0  # bumped by every write: compiled APIs are valid for one value

    def validate(self, ctx: RequestContext, params: dict) -> None:
        """The model's constraints answer BadRequestException, as API Gateway does."""
        shape = service_model(self.service).operation_model(ctx.operation).input_shape
        found = constraints.violations(shape, params) if shape is not None else []
        if found:
            raise bad_request(constraints.summary(found))

    def stage_url(self, api_id: str, stage: str) -> str:
        port = urlsplit(self.platform.endpoint_url).port
        suffix = f":{port}" if port else ""
        return f"http://{api_id}.execute-api.localhost.localstack.cloud{suffix}/{stage}/"

    # -- storage ----------------------------------------------------------------------------

    def _api(self, ctx: RequestContext, api_id: str) -> Doc:
        row = self.store.get(APIS, api_id)
        if row is None or (row["account"], row["region"]) != (ctx.account_id, ctx.region):
            raise not_found("Invalid API identifier specified")
        return json.loads(row["doc"])

    def _put_api(self, ctx: RequestContext, doc: Doc) -> None:
        self.store.put(
            APIS,
            {"api_id": doc["id"], "account": ctx.account_id, "region": ctx.region,
             "doc": json.dumps(doc)},
        )  # fmt: skip
        self.generation += 1

    def _items(self, api_id: str, kind: str) -> list[Doc]:
        rows = self.store.select(ITEMS, {"api_id": api_id, "kind": kind}, order_by=("created",))
        return [json.loads(r["doc"]) for r in rows]

    def _item(self, api_id: str, kind: str, item_id: str) -> Doc | None:
        row = self.store.get(ITEMS, api_id, kind, item_id)
        return json.loads(row["doc"]) if row is not None else None

    def _existing(self, ctx: RequestContext, api_id: str, kind: str, item_id: str) -> Doc:
        """An item of an API of the caller's, else AWS's NotFoundException."""
        self._api(ctx, api_id)
        found = self._item(api_id, kind, item_id)
        if found is None:
            raise not_found(f"Invalid {kind.capitalize()} identifier specified")
        return found

    def _save(self, api_id: str, kind: str, item_id: str, doc: Doc) -> None:
        old = self.store.get(ITEMS, api_id, kind, item_id)
        self.store.put(
            ITEMS,
            {"api_id": api_id, "kind": kind, "item_id": item_id,
             "created": old["created"] if old else time.time(), "doc": json.dumps(doc)},
        )  # fmt: skip
        self.generation += 1

    def _delete(self, api_id: str, kind: str, item_id: str) -> None:
        self.store.delete(ITEMS, api_id, kind, item_id)
        self.generation += 1
