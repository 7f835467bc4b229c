"""OpenID Connect identity providers: the issuers whose tokens STS's
``AssumeRoleWithWebIdentity`` accepts (CI pipelines assume deployment roles this way).

A provider is named by its issuer URL (``https://`` + host and path); its ARN is
``arn:aws:iam::<account>:oidc-provider/<host/path>``. STS looks providers up with
``oidc_provider`` and checks a token's audience against the client id list and the
issuer's TLS certificate against the thumbprints (services/sts/web_identity.py).
"""

from __future__ import annotations

import json
import re

from sandlot.services.iam.base import (
    IamBase,
    already_exists,
    check_tags,
    checked,
    invalid_input,
    limit_exceeded,
    merge_tags,
    no_such_entity,
    remove_tags,
    timestamp,
)
from sandlot.services.iam.schema import OIDC_PROVIDERS
from sandlot.services.provider import RequestContext

MAX_CLIENT_IDS = 100
MAX_THUMBPRINTS = 5
_THUMBPRINT = re.compile(r"^[0-9a-fA-F]{40}$")


def issuer_key(url: str) -> str:
    """The provider's name in ARNs and condition keys: the URL without scheme or
    trailing slash (``token.actions.githubusercontent.com``)."""
    return re.sub(r"^https://", "", url).rstrip("/")


class OidcProviders(IamBase):
    def oidc_provider(self, account: str, issuer: str) -> dict | None:
        """The provider row for token issuer ``issuer`` (a URL), or None."""
        arn = f"arn:aws:iam::{account}:oidc-provider/{issuer_key(issuer)}"
        return self.store.get(OIDC_PROVIDERS, account, arn)

    def _oidc(self, ctx: RequestContext, arn: str) -> dict:
        row = self.store.get(OIDC_PROVIDERS, ctx.account_id, arn)
        if row is None:
            raise no_such_entity(f"OpenIDConnect Provider not found for arn {arn}")
        return row

    @checked
    def create_open_id_connect_provider(self, ctx: RequestContext, params: dict) -> dict:
        url = params["Url"]
        if not url.startswith("https://") or not issuer_key(url):
            raise invalid_input("Invalid Open ID Connect Provider URL")
        client_ids = list(dict.fromkeys(params.get("ClientIDList", [])))
        thumbprints = [t.lower() for t in params.get("ThumbprintList", [])]
        _check_lists(client_ids, thumbprints)
        tags = params.get("Tags", [])
        check_tags(tags)
        arn = f"arn:aws:iam::{ctx.account_id}:oidc-provider/{issuer_key(url)}"
        row = {
            "account_id": ctx.account_id,
            "arn": arn,
            "url": issuer_key(url),
            "client_ids": json.dumps(client_ids),
            "thumbprints": json.dumps(list(dict.fromkeys(thumbprints))),
            "created_at": self.clock(),
            "tags": json.dumps(tags),
        }
        if not self.store.put(OIDC_PROVIDERS, row, replace=False):
            raise already_exists(f"Provider with url {url} already exists.")
        out: dict = {"OpenIDConnectProviderArn": arn}
        if tags:
            out["Tags"] = tags
        return out

    @checked
    def get_open_id_connect_provider(self, ctx: RequestContext, params: dict) -> dict:
        row = self._oidc(ctx, params["OpenIDConnectProviderArn"])
        out = {
            "Url": row["url"],
            "ClientIDList": json.loads(row["client_ids"]),
            "ThumbprintList": json.loads(row["thumbprints"]),
            "CreateDate": timestamp(row["created_at"]),
        }
        if tags := json.loads(row["tags"]):
            out["Tags"] = tags
        return out

    @checked
    def list_open_id_connect_providers(self, ctx: RequestContext, params: dict) -> dict:
        rows = self.store.select(OIDC_PROVIDERS, {"account_id": ctx.account_id}, order_by=("arn",))
        return {"OpenIDConnectProviderList": [{"Arn": r["arn"]} for r in rows]}

    @checked
    def delete_open_id_connect_provider(self, ctx: RequestContext, params: dict) -> dict:
        # Idempotent, as AWS documents: deleting a provider that does not exist is no error.
        self.store.delete(OIDC_PROVIDERS, ctx.account_id, params["OpenIDConnectProviderArn"])
        return {}

    @checked
    def add_client_id_to_open_id_connect_provider(self, ctx: RequestContext, params: dict) -> dict:
        with self.store.transaction():
            row = self._oidc(ctx, params["OpenIDConnectProviderArn"])
            client_ids = json.loads(row["client_ids"])
            if params["ClientID"] not in client_ids:  # adding one twice changes nothing
                client_ids.append(params["ClientID"])
                _check_lists(client_ids, [])
                self.store.put(OIDC_PROVIDERS, {**row, "client_ids": json.dumps(client_ids)})
        return {}

    @checked
    def remove_client_id_from_open_id_connect_provider(
        self, ctx: RequestContext, params: dict
    ) -> dict:
        with self.store.transaction():
            row = self._oidc(ctx, params["OpenIDConnectProviderArn"])
            client_ids = [c for c in json.loads(row["client_ids"]) if c != params["ClientID"]]
            self.store.put(OIDC_PROVIDERS, {**row, "client_ids": json.dumps(client_ids)})
        return {}

    @checked
    def update_open_id_connect_provider_thumbprint(self, ctx: RequestContext, params: dict) -> dict:
        thumbprints = [t.lower() for t in params["ThumbprintList"]]
        _check_lists([], thumbprints)
        with self.store.transaction():
            row = self._oidc(ctx, params["OpenIDConnectProviderArn"])
            self.store.put(
                OIDC_PROVIDERS,
                {**row, "thumbprints": json.dumps(list(dict.fromkeys(thumbprints)))},
            )
        return {}

    @checked
    def tag_open_id_connect_provider(self, ctx: RequestContext, params: dict) -> dict:
        with self.store.transaction():
            row = self._oidc(ctx, params["OpenIDConnectProviderArn"])
            merged = merge_tags(json.loads(row["tags"]), params["Tags"])
            check_tags(merged)
            self.store.put(OIDC_PROVIDERS, {**row, "tags": json.dumps(merged)})
        return {}

    @checked
    def untag_open_id_connect_provider(self, ctx: RequestContext, params: dict) -> dict:
        with self.store.transaction():
            row = self._oidc(ctx, params["OpenIDConnectProviderArn"])
            kept = remove_tags(json.loads(row["tags"]), params["TagKeys"])
            self.store.put(OIDC_PROVIDERS, {**row, "tags": json.dumps(kept)})
        return {}

    @checked
    def list_open_id_connect_provider_tags(self, ctx: RequestContext, params: dict) -> dict:
        row = self._oidc(ctx, params["OpenIDConnectProviderArn"])
        return {"Tags": json.loads(row["tags"]), "IsTruncated": False}


def _check_lists(client_ids: list[str], thumbprints: list[str]) -> None:
    if len(client_ids) > MAX_CLIENT_IDS:
        raise limit_exceeded(
            f"Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}"
        )
    if len(thumbprints) > MAX_THUMBPRINTS:
        raise limit_exceeded(
            f"Cannot exceed quota for ThumbprintsPerOpenIdConnectProvider: {MAX_THUMBPRINTS}"
        )
    for thumbprint in thumbprints:
        if not _THUMBPRINT.match(thumbprint):
            raise invalid_input(f"Invalid thumbprint: {thumbprint}")
