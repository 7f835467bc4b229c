"""The running platform: settings, durable state and the providers, shared by all layers."""

from __future__ import annotations

import inspect
import json
import os
import time
import uuid
from functools import cache
from pathlib import Path
from typing import Any

from botocore import xform_name

from sandlot.config import Settings
from sandlot.iam.credentials import CredentialStore
from sandlot.iam.principal import Principal
from sandlot.protocol.errors import not_implemented
from sandlot.services import provider_class
from sandlot.services.provider import Provider, RequestContext
from sandlot.store import BlobStore, Store

ROOT_CREDENTIALS_FILE = "root-credentials.json"


class Platform:
    """Owns the store, the blob area, issued credentials and provider instances."""

    def __init__(self, settings: Settings, data_dir: Path) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.started_at = time.time()
        data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(data_dir / "sandlot.db")
        self.blobs = BlobStore(data_dir / "blobs")
        self.credentials = CredentialStore(self.store)
        self._providers: dict[str, Provider | None] = {}
        if settings.secure:
            self.ensure_root_credentials()

    def provider(self, service: str) -> Provider | None:
        """The provider instance for ``service`` (created on first use), or None."""
        if service not in self._providers:
            cls = provider_class(service)
            self._providers[service] = cls(self) if cls is not None else None
        return self._providers[service]

    async def run_operation(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """Run ``ctx.operation`` of ``ctx.service`` with parsed ``params``; 501 if absent."""
        provider = self.provider(ctx.service)
        method = _operation_method(type(provider), ctx.operation) if provider else None
        if method is None:
            raise not_implemented(ctx.service, ctx.operation)
        result = method(provider, ctx, params)
        if inspect.isawaitable(result):
            result = await result
        return result or {}

    async def call(
        self,
        service: str,
        operation: str,
        params: dict[str, Any],
        *,
        principal: Principal,
        region: str,
    ) -> dict[str, Any]:
        """The internal client: one service calling another, as ``principal``.

        Providers never import each other; they call through here so that whatever
        applies to external requests (IAM, request logs) applies to internal ones.
        """
        ctx = RequestContext(
            str(uuid.uuid4()), principal.account_id, region, principal, service, operation, None
        )
        return await self.run_operation(ctx, params)

    def ensure_root_credentials(self) -> dict[str, str]:
        """Secure mode's root keys for the default account: made at first start, kept 0600."""
        path = self.data_dir / ROOT_CREDENTIALS_FILE
        if path.exists():
            return json.loads(path.read_text())
        account = self.settings.default_account
        credential = self.credentials.issue_long_term(Principal.root(account))
        data = {
            "aws_access_key_id": credential.access_key_id,
            "aws_secret_access_key": credential.secret_access_key,
            "account_id": account,
        }
        fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(path.with_suffix(".tmp"), path)
        return data

    def close(self) -> None:
        self.store.close()


@cache
def _operation_method(provider_class: type, operation: str):
    return getattr(provider_class, xform_name(operation), None)
