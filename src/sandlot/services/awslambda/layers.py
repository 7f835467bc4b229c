"""Layers: versioned packages that functions add (in order) to what they see as /opt.

Version numbers of a layer are never reused, even after deletions. Deleting a layer
version leaves functions using it working: their versions keep the package referenced.

A layer version's policy (Add/RemoveLayerVersionPermission, GetLayerVersionPolicy)
grants ``lambda:GetLayerVersion`` to other accounts: it is the layer version's resource
policy for IAM (``PermissionOperations.resource_policy``), so another account may get
the version and use it in its functions only when the policy allows it; reads of
another account's layer get this far only once IAM allowed them.
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
from sandlot.services.awslambda.configuration import new_revision
from sandlot.services.awslambda.policy import compact, document, principal_element
from sandlot.services.awslambda.validation import (
    NO_SUCH_RESOURCE,
    conflict,
    invalid,
    not_found,
    precondition_failed,
)
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
        # Another account's layer: IAM let the caller in (the version's policy allows it).
        account, name = self._layer_owner_and_name(ctx, params["LayerName"])
        row = self.records.layer(account, ctx.region, name, params["VersionNumber"])
        if row is None:
            raise not_found(NO_SUCH_RESOURCE)
        return self._layer_output(row)

    @validated
    def get_layer_version_by_arn(self, ctx: RequestContext, params: dict) -> dict:
        ref = parse_layer_version_arn(params["Arn"])
        row = None
        if ref is not None and ref.region == ctx.region:
            row = self.records.layer(ref.account, ref.region, ref.name, ref.version)
        if row is None:
            raise not_found(NO_SUCH_RESOURCE)
        return self._layer_output(row)

    # -- layer version permissions ------------------------------------------------------

    @validated
    def add_layer_version_permission(self, ctx: RequestContext, params: dict) -> dict:
        name = self._layer_name(ctx, params["LayerName"])
        version = params["VersionNumber"]
        layer = self._layer(ctx, name, version)
        statements, revision = self._layer_statements(layer, params.get("RevisionId"))
        if any(s["Sid"] == params["StatementId"] for s in statements):
            raise conflict(
                f"The statement id ({params['StatementId']}) provided already exists. Please "
                "provide a new statement id, or remove the existing statement."
            )
        added = {
            "Sid": params["StatementId"],
            "Effect": "Allow",
            "Principal": principal_element(params["Principal"]),
            "Action": params["Action"],
            "Resource": layer_arn(ctx.region, ctx.account_id, name, version),
        }
        if params.get("OrganizationId"):
            added["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": params["OrganizationId"]}}
        revision = self._put_layer_statements(layer, [*statements, added])
        return {"Statement": compact(added), "RevisionId": revision}

    @validated
    def get_layer_version_policy(self, ctx: RequestContext, params: dict) -> dict:
        name = self._layer_name(ctx, params["LayerName"])
        layer = self._layer(ctx, name, params["VersionNumber"])
        statements, revision = self._layer_statements(layer, None)
        if not statements:
            raise not_found("No policy is associated with the given resource.")
        return {"Policy": document(statements), "RevisionId": revision}

    @validated
    def remove_layer_version_permission(self, ctx: RequestContext, params: dict) -> dict:
        name = self._layer_name(ctx, params["LayerName"])
        layer = self._layer(ctx, name, params["VersionNumber"])
        statements, _ = self._layer_statements(layer, params.get("RevisionId"))
        kept = [s for s in statements if s["Sid"] != params["StatementId"]]
        if len(kept) == len(statements):
            raise not_found(f"Statement {params['StatementId']} is not found in resource policy.")
        self._put_layer_statements(layer, kept)
        return {}

    def _layer_statements(self, layer: dict, revision: str | None) -> tuple[list[dict], str]:
        """The version's statements and policy revision; PreconditionFailed when
        ``revision`` is given and is not the current one."""
        row = self.records.layer_policy(
            layer["account"], layer["region"], layer["name"], layer["version"]
        )
        statements = json.loads(row["statements"]) if row else []
        current = row["revision_id"] if row else ""
        if revision and revision != current:
            raise precondition_failed()
        return statements, current

    def _put_layer_statements(self, layer: dict, statements: list[dict]) -> str:
        revision = new_revision()
        self.records.put_layer_policy(
            {
                "account": layer["account"],
                "region": layer["region"],
                "name": layer["name"],
                "version": layer["version"],
                "statements": json.dumps(statements),
                "revision_id": revision,
            }
        )
        return revision

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

    def _layer_owner_and_name(self, ctx: RequestContext, value: str) -> tuple[str, str]:
        """A LayerName of any account (this region): its account and name."""
        ref = parse_layer_name(value)
        if ref is None:
            raise invalid(f"Invalid layer name: {value}")
        if ref.region and ref.region != ctx.region:
            raise not_found(NO_SUCH_RESOURCE)
        return ref.account or ctx.account_id, ref.name

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
