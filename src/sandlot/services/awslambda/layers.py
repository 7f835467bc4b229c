"""Layers: versioned packages that functions add (in order) to what they see as /opt.

Version numbers of a layer are never reused, even after deletions. Deleting a layer
version leaves functions using it working: their versions keep the package referenced.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sandlot.services.awslambda import outputs
from sandlot.services.awslambda.arns import (
    layer_arn,
    parse_layer_name,
    parse_layer_version_arn,
    timestamp,
)
from sandlot.services.awslambda.base import LambdaBase, page, validated
from sandlot.services.awslambda.validation import NO_SUCH_RESOURCE, invalid, not_found
from sandlot.services.provider import RequestContext


class LayerOperations(LambdaBase):
    @validated
    async def publish_layer_version(self, ctx: RequestContext, params: dict) -> dict:
        account, region = ctx.account_id, ctx.region
        name = self._layer_name(ctx, params["LayerName"])
        package = await self.receive(ctx, params["Content"])
        try:
            self.packages.check_storage(account, region, package.size)
            with self.store.transaction():
                self.packages.record(package)
                row = {
                    "account": account,
                    "region": region,
                    "name": name,
                    "version": self.records.next_layer_version(account, region, name),
                    "description": params.get("Description") or "",
                    "license_info": params.get("LicenseInfo"),
                    "compatible_runtimes": _json_list(params.get("CompatibleRuntimes")),
                    "compatible_architectures": _json_list(params.get("CompatibleArchitectures")),
                    "created_date": timestamp(time.time()),
                    "code_sha": package.sha,
                    "code_size": package.size,
                }
                self.records.put_layer(row)
        finally:
            self.packages.discard(package)
        return self._layer_output(row)

    @validated
    def get_layer_version(self, ctx: RequestContext, params: dict) -> dict:
        name = self._layer_name(ctx, params["LayerName"])
        return self._layer_output(self._layer(ctx, name, params["VersionNumber"]))

    @validated
    def get_layer_version_by_arn(self, ctx: RequestContext, params: dict) -> dict:
        ref = parse_layer_version_arn(params["Arn"])
        if ref is None or ref.account != ctx.account_id or ref.region != ctx.region:
            raise not_found(NO_SUCH_RESOURCE)
        return self._layer_output(self._layer(ctx, ref.name, ref.version))

    @validated
    def delete_layer_version(self, ctx: RequestContext, params: dict) -> dict:
        # Idempotent, as in AWS: deleting a missing version answers 204 too.
        name = self._layer_name(ctx, params["LayerName"])
        with self.store.transaction():
            released = self.records.delete_layer(
                ctx.account_id, ctx.region, name, params["VersionNumber"]
            )
            gone = self.records.unused(released)
        self.records.collect(gone)
        return {}

    @validated
    def list_layer_versions(self, ctx: RequestContext, params: dict) -> dict:
        name = self._layer_name(ctx, params["LayerName"])
        rows = self.records.layer_versions(ctx.account_id, ctx.region, name)
        rows = [r for r in reversed(rows) if _matches(r, params)]  # newest first, as AWS
        items, marker = page(rows, params, key=lambda r: r["version"])
        result: dict[str, Any] = {
            "LayerVersions": [outputs.layer_version(r, listing=True) for r in items]
        }
        if marker:
            result["NextMarker"] = marker
        return result

    @validated
    def list_layers(self, ctx: RequestContext, params: dict) -> dict:
        newest: dict[str, dict] = {}
        for row in self.records.layer_versions(ctx.account_id, ctx.region):
            if _matches(row, params):
                newest[row["name"]] = row  # rows come in version order: the last one wins
        rows = sorted(newest.values(), key=lambda r: r["name"])
        items, marker = page(rows, params, key=lambda r: r["name"])
        result: dict[str, Any] = {
            "Layers": [
                {
                    "LayerName": r["name"],
                    "LayerArn": layer_arn(r["region"], r["account"], r["name"]),
                    "LatestMatchingVersion": outputs.layer_version(r, listing=True),
                }
                for r in items
            ]
        }
        if marker:
            result["NextMarker"] = marker
        return result

    def _layer_output(self, row: dict) -> dict:
        out = outputs.layer_version(row)
        out["Content"]["Location"] = self.code_location(row["code_sha"])
        return out

    def _layer_name(self, ctx: RequestContext, value: str) -> str:
        """A LayerName parameter (name or layer ARN) of the caller's account and region."""
        ref = parse_layer_name(value)
        if ref is None:
            raise invalid(f"Invalid layer name: {value}")
        if (ref.account and ref.account != ctx.account_id) or (
            ref.region and ref.region != ctx.region
        ):
            raise not_found(NO_SUCH_RESOURCE)
        return ref.name

    def _layer(self, ctx: RequestContext, name: str, version: int) -> dict:
        row = self.records.layer(ctx.account_id, ctx.region, name, version)
        if row is None:
            raise not_found(NO_SUCH_RESOURCE)
        return row


def _matches(row: dict, params: dict) -> bool:
    """CompatibleRuntime / CompatibleArchitecture filters of the list operations."""
    runtime, architecture = params.get("CompatibleRuntime"), params.get("CompatibleArchitecture")
    if runtime and runtime not in json.loads(row["compatible_runtimes"] or "[]"):
        return False
    return not (
        architecture and architecture not in json.loads(row["compatible_architectures"] or "[]")
    )


def _json_list(value: list | None) -> str | None:
    return json.dumps(value) if value else None
