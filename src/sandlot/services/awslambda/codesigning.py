"""Code signing configurations: Create/Get/Update/Delete/ListCodeSigningConfig(s),
ListFunctionsByCodeSigningConfig, and Put/Get/DeleteFunctionCodeSigningConfig.

A configuration names the signing profiles (AWS Signer's) whose signatures a function's
code must carry, and what happens to code that does not verify
(``UntrustedArtifactOnDeployment``): ``Warn`` deploys it with a warning, ``Enforce``
refuses it with ``CodeVerificationFailedException``. What "signed" means here: sandlot
has no AWS Signer, so no package carries a signature it could verify; every package is
unsigned. A function whose configuration says ``Enforce`` therefore refuses every new
code deployment (CreateFunction, UpdateFunctionCode, and layers added by
UpdateFunctionConfiguration), which is what AWS does with unsigned code; ``Warn``
deploys and logs the warning (AWS emits a CloudWatch metric). Code deployed before the
configuration was attached keeps running, as in AWS.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Any

from sandlot.protocol import ServiceError
from sandlot.services.awslambda.arns import function_arn, timestamp
from sandlot.services.awslambda.base import LambdaBase, page, validated
from sandlot.services.awslambda.permissions import CSC_ARN
from sandlot.services.awslambda.schema import CODE_SIGNING_CONFIGS, FUNCTION_CODE_SIGNING
from sandlot.services.awslambda.validation import check_tags, conflict
from sandlot.services.provider import RequestContext

log = logging.getLogger(__name__)


def csc_arn(region: str, account: str, csc_id: str) -> str:
    return f"arn:aws:lambda:{region}:{account}:code-signing-config:{csc_id}"


def _missing(arn: str, code: str = "ResourceNotFoundException") -> ServiceError:
    return ServiceError(
        code,
        "The code signing configuration cannot be found. Check that the provided "
        f"configuration is not deleted: {arn}.",
        404,
        Type="User",
    )


class CodeSigningOperations(LambdaBase):
    # -- configurations -----------------------------------------------------------------

    @validated
    def create_code_signing_config(self, ctx: RequestContext, params: dict) -> dict:
        check_tags(params.get("Tags"))
        policies = params.get("CodeSigningPolicies") or {}
        row = {
            "account": ctx.account_id,
            "region": ctx.region,
            "csc_id": "csc-" + secrets.token_hex(9)[:17],
            "description": params.get("Description") or "",
            "publishers": json.dumps(params["AllowedPublishers"]["SigningProfileVersionArns"]),
            "untrusted": policies.get("UntrustedArtifactOnDeployment", "Warn"),
            "last_modified": timestamp(time.time()),
            "tags": json.dumps(params.get("Tags") or {}),
        }
        self.store.put(CODE_SIGNING_CONFIGS, row, replace=False)
        return {"CodeSigningConfig": _output(row)}

    @validated
    def get_code_signing_config(self, ctx: RequestContext, params: dict) -> dict:
        return {"CodeSigningConfig": _output(self._csc(ctx, params["CodeSigningConfigArn"]))}

    @validated
    def update_code_signing_config(self, ctx: RequestContext, params: dict) -> dict:
        row = self._csc(ctx, params["CodeSigningConfigArn"])
        if "Description" in params:
            row["description"] = params["Description"]
        if "AllowedPublishers" in params:
            arns = params["AllowedPublishers"]["SigningProfileVersionArns"]
            row["publishers"] = json.dumps(arns)
        if "UntrustedArtifactOnDeployment" in (params.get("CodeSigningPolicies") or {}):
            row["untrusted"] = params["CodeSigningPolicies"]["UntrustedArtifactOnDeployment"]
        row["last_modified"] = timestamp(time.time())
        self.store.put(CODE_SIGNING_CONFIGS, row)
        return {"CodeSigningConfig": _output(row)}

    @validated
    def delete_code_signing_config(self, ctx: RequestContext, params: dict) -> dict:
        row = self._csc(ctx, params["CodeSigningConfigArn"])
        with self.store.transaction():
            if self._users(row):
                raise conflict(
                    "The code signing configuration cannot be deleted because it is used "
                    "by one or more functions."
                )
            self.store.delete(CODE_SIGNING_CONFIGS, row["account"], row["region"], row["csc_id"])
        return {}

    @validated
    def list_code_signing_configs(self, ctx: RequestContext, params: dict) -> dict:
        rows = self.store.select(
            CODE_SIGNING_CONFIGS,
            {"account": ctx.account_id, "region": ctx.region},
            order_by=("csc_id",),
        )
        items, marker = page(rows, params, key=lambda r: r["csc_id"])
        result: dict[str, Any] = {"CodeSigningConfigs": [_output(r) for r in items]}
        if marker:
            result["NextMarker"] = marker
        return result

    @validated
    def list_functions_by_code_signing_config(self, ctx: RequestContext, params: dict) -> dict:
        row = self._csc(ctx, params["CodeSigningConfigArn"])
        names = sorted(self._users(row))
        items, marker = page(names, params, key=lambda n: n)
        result: dict[str, Any] = {
            "FunctionArns": [function_arn(ctx.region, ctx.account_id, n) for n in items]
        }
        if marker:
            result["NextMarker"] = marker
        return result

    # -- a function's configuration -------------------------------------------------------

    @validated
    def put_function_code_signing_config(self, ctx: RequestContext, params: dict) -> dict:
        name, _ = self.locate(ctx, params["FunctionName"], allow_qualifier=False)
        self.function(ctx.account_id, ctx.region, name)
        arn = params["CodeSigningConfigArn"]
        row = self._csc(ctx, arn, code="CodeSigningConfigNotFoundException")
        self.link_code_signing(ctx.account_id, ctx.region, name, row["csc_id"])
        return {"CodeSigningConfigArn": arn, "FunctionName": name}

    @validated
    def get_function_code_signing_config(self, ctx: RequestContext, params: dict) -> dict:
        name, _ = self.locate(ctx, params["FunctionName"], allow_qualifier=False)
        self.function(ctx.account_id, ctx.region, name)
        link = self.store.get(FUNCTION_CODE_SIGNING, ctx.account_id, ctx.region, name)
        # AWS answers a function without one with an empty ARN.
        arn = csc_arn(ctx.region, ctx.account_id, link["csc_id"]) if link else ""
        return {"CodeSigningConfigArn": arn, "FunctionName": name}

    @validated
    def delete_function_code_signing_config(self, ctx: RequestContext, params: dict) -> dict:
        name, _ = self.locate(ctx, params["FunctionName"], allow_qualifier=False)
        self.function(ctx.account_id, ctx.region, name)
        self.forget_code_signing(ctx.account_id, ctx.region, name)
        return {}

    # -- for the function operations ------------------------------------------------------

    def code_signing_for_create(self, ctx: RequestContext, params: dict) -> str | None:
        """CreateFunction's CodeSigningConfigArn: its id, after the deployment check."""
        arn = params.get("CodeSigningConfigArn")
        if not arn:
            return None
        row = self._csc(ctx, arn, code="CodeSigningConfigNotFoundException")
        name = params["FunctionName"].rsplit(":", 1)[-1]
        _verify(row, function_arn(ctx.region, ctx.account_id, name))
        return row["csc_id"]

    def check_code_signing(self, account: str, region: str, name: str) -> None:
        """Before new code (or layers) is deployed to a function: its configuration's
        verdict on unsigned code."""
        link = self.store.get(FUNCTION_CODE_SIGNING, account, region, name)
        if link is None:
            return
        row = self.store.get(CODE_SIGNING_CONFIGS, account, region, link["csc_id"])
        if row is not None:
            _verify(row, function_arn(region, account, name))

    def link_code_signing(self, account: str, region: str, name: str, csc_id: str) -> None:
        self.store.put(
            FUNCTION_CODE_SIGNING,
            {"account": account, "region": region, "name": name, "csc_id": csc_id},
        )

    def forget_code_signing(self, account: str, region: str, name: str) -> None:
        self.store.delete(FUNCTION_CODE_SIGNING, account, region, name)

    # -- lookups --------------------------------------------------------------------------

    def _csc(self, ctx: RequestContext, arn: str, code: str = "ResourceNotFoundException") -> dict:
        match = CSC_ARN.fullmatch(arn)
        row = None
        if match is not None and match.group(1, 2) == (ctx.region, ctx.account_id):
            row = self.store.get(CODE_SIGNING_CONFIGS, ctx.account_id, ctx.region, match.group(3))
        if row is None:
            raise _missing(arn, code)
        return row

    def _users(self, row: dict) -> list[str]:
        where = {"account": row["account"], "region": row["region"], "csc_id": row["csc_id"]}
        return [link["name"] for link in self.store.select(FUNCTION_CODE_SIGNING, where)]


def _verify(row: dict, function: str) -> None:
    """Every package is unsigned here (no AWS Signer): Enforce refuses, Warn warns."""
    if row["untrusted"] == "Enforce":
        raise ServiceError(
            "CodeVerificationFailedException",
            "Lambda cannot deploy the function. The function or layer might be signed "
            "using a signature that the client is not configured to accept. Check the "
            f"provided signature for {function}.",
            400,
            Type="User",
        )
    log.warning(
        "code signing (Warn): unsigned code deployed to %s under %s",
        function,
        csc_arn(row["region"], row["account"], row["csc_id"]),
    )


def _output(row: dict) -> dict:
    return {
        "CodeSigningConfigId": row["csc_id"],
        "CodeSigningConfigArn": csc_arn(row["region"], row["account"], row["csc_id"]),
        "Description": row["description"],
        "AllowedPublishers": {"SigningProfileVersionArns": json.loads(row["publishers"])},
        "CodeSigningPolicies": {"UntrustedArtifactOnDeployment": row["untrusted"]},
        "LastModified": row["last_modified"],
    }
