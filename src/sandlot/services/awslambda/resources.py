"""CloudFormation resource types of Lambda: ``AWS::Lambda::Function`` (Code.ZipFile
inline source or an S3 object; Ref: the name; GetAtt Arn) and
``AWS::Lambda::EventSourceMapping`` (Ref: the mapping's UUID), permissions, versions,
aliases, ``AWS::Lambda::EventInvokeConfig``, layer versions and their permissions,
code signing configurations, and ``AWS::Lambda::Url`` (which Cloud Control's
GetResource also reads)."""

from __future__ import annotations

import asyncio
import importlib.util
import io
import re
import time
import zipfile
from pathlib import Path

from sandlot.services.cloudformation.handlers import (
    Outcome,
    ResourceContext,
    ResourceFailed,
    ResourceType,
    not_found,
)

# Configuration properties passed as they are to Create/UpdateFunctionConfiguration.
_CONFIGURATION = (
    "Runtime", "Handler", "Role", "Description", "Timeout", "MemorySize", "Environment",
    "Layers", "DeadLetterConfig", "TracingConfig", "EphemeralStorage", "KmsKeyArn",
    "LoggingConfig", "VpcConfig", "FileSystemConfigs", "ImageConfig", "SnapStart",
)  # fmt: skip
ACTIVE_TIMEOUT_S = 300.0


# AWS adds its cfn-response module to inline Python code that imports it with exactly
# this statement ("If you use other variants of the import statement, CloudFormation
# doesn't include the response module").
_IMPORTS_CFNRESPONSE = re.compile(r"^\s*import cfnresponse\s*$", re.MULTILINE)


def _inline_zip(source: str, runtime: str) -> bytes:
    """Code.ZipFile: AWS zips the source as index.js / index.py (by runtime), with
    AWS's ``cfnresponse`` module (the PyPI package of AWS's published source) beside a
    Python source that imports it."""
    python = not str(runtime).startswith("nodejs")
    files = {"index.py" if python else "index.js": source}
    if python and _IMPORTS_CFNRESPONSE.search(str(source)):
        module = importlib.util.find_spec("cfnresponse")
        files["cfnresponse/__init__.py"] = Path(module.origin).read_text()  # type: ignore[union-attr, arg-type]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, text)
    return buffer.getvalue()


def _code(properties: dict) -> dict:
    code = properties.get("Code") or {}
    if "ZipFile" in code:
        return {"ZipFile": _inline_zip(code["ZipFile"], properties.get("Runtime", ""))}
    return {
        k: v for k, v in code.items() if k in ("S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri")
    }


def _configuration(properties: dict) -> dict:
    out = {k: properties[k] for k in _CONFIGURATION if k in properties}
    for key in ("Timeout", "MemorySize"):
        if key in out:
            out[key] = int(out[key])
    return out


class Function(ResourceType):
    type_name = "AWS::Lambda::Function"
    name_property = "FunctionName"
    name_length = 64

    async def _settled(self, ctx: ResourceContext, name: str) -> dict:
        """CloudFormation reports a function complete once it is Active (and its last
        update Successful); a Failed state fails the resource with Lambda's reason."""
        deadline = time.monotonic() + ACTIVE_TIMEOUT_S
        while True:
            config = await ctx.call("lambda", "GetFunctionConfiguration", {"FunctionName": name})
            state, update = config.get("State"), config.get("LastUpdateStatus")
            if state == "Failed" or update == "Failed":
                reason = config.get("StateReason") or config.get("LastUpdateStatusReason")
                raise ResourceFailed(
                    f'Resource handler returned message: "{reason}" (HandlerErrorCode: NotStabilized)'
                )
            if state == "Active" and update in (None, "Successful"):
                return config
            if time.monotonic() > deadline:
                raise ResourceFailed(
                    "Resource timed out waiting for completion (HandlerErrorCode: NotStabilized)"
                )
            await asyncio.sleep(0.05)

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {"FunctionName": name, "Code": _code(properties), **_configuration(properties)}
        for key in ("PackageType", "Architectures"):
            if key in properties:
                params[key] = properties[key]
        params["Tags"] = {t["Key"]: t["Value"] for t in ctx.tags(properties)}
        if properties.get("CodeSigningConfigArn"):
            params["CodeSigningConfigArn"] = properties["CodeSigningConfigArn"]
        await ctx.call("lambda", "CreateFunction", params)
        config = await self._settled(ctx, name)
        return Outcome(name, name, {"Arn": config["FunctionArn"]})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        name = current.physical_id
        signing = properties.get("CodeSigningConfigArn")
        if signing != previous.get("CodeSigningConfigArn"):
            if signing:
                await ctx.call(
                    "lambda",
                    "PutFunctionCodeSigningConfig",
                    {"FunctionName": name, "CodeSigningConfigArn": signing},
                )
            else:
                await ctx.call("lambda", "DeleteFunctionCodeSigningConfig", {"FunctionName": name})
        if _configuration(properties) != _configuration(previous):
            await ctx.call(
                "lambda",
                "UpdateFunctionConfiguration",
                {"FunctionName": name, **_configuration(properties)},
            )
            await self._settled(ctx, name)
        if properties.get("Code") != previous.get("Code") or properties.get(
            "Runtime"
        ) != previous.get("Runtime"):
            code = _code(properties)
            await ctx.call("lambda", "UpdateFunctionCode", {"FunctionName": name, **code})
        config = await self._settled(ctx, name)
        return Outcome(name, name, {"Arn": config["FunctionArn"]})

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call("lambda", "DeleteFunction", {"FunctionName": physical_id})


_MAPPING = (
    "BatchSize", "Enabled", "MaximumBatchingWindowInSeconds", "FilterCriteria",
    "FunctionResponseTypes", "ScalingConfig", "MaximumRetryAttempts", "BisectBatchOnFunctionError",
    "MaximumRecordAgeInSeconds", "ParallelizationFactor", "DestinationConfig",
    "TumblingWindowInSeconds",
)  # fmt: skip


class EventSourceMapping(ResourceType):
    type_name = "AWS::Lambda::EventSourceMapping"

    def _settings(self, properties: dict) -> dict:
        out = {k: properties[k] for k in _MAPPING if k in properties}
        for key in ("BatchSize", "MaximumBatchingWindowInSeconds", "MaximumRetryAttempts",
                    "MaximumRecordAgeInSeconds", "ParallelizationFactor", "TumblingWindowInSeconds"):  # fmt: skip
            if key in out:
                out[key] = int(out[key])
        if "Enabled" in out:
            out["Enabled"] = str(out["Enabled"]).lower() == "true"
        return out

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {"FunctionName": properties["FunctionName"], **self._settings(properties)}
        for key in ("EventSourceArn", "StartingPosition"):
            if key in properties:
                params[key] = properties[key]
        created = await ctx.call("lambda", "CreateEventSourceMapping", params)
        return self._outcome(created)

    def _outcome(self, mapping: dict) -> Outcome:
        uuid = mapping["UUID"]
        return Outcome(
            uuid,
            uuid,
            {"Id": uuid, "EventSourceMappingArn": mapping.get("EventSourceMappingArn", "")},
        )

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        params = {
            "UUID": current.physical_id,
            "FunctionName": properties["FunctionName"],
            **self._settings(properties),
        }
        updated = await ctx.call("lambda", "UpdateEventSourceMapping", params)
        return self._outcome(updated)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call("lambda", "DeleteEventSourceMapping", {"UUID": physical_id})


class Permission(ResourceType):
    """``AWS::Lambda::Permission``: one statement of the function's resource policy
    (physical id ``<function>|<statement id>``, as the registry's handler keeps both)."""

    type_name = "AWS::Lambda::Permission"
    _COPIED = ("Action", "Principal", "SourceArn", "SourceAccount", "EventSourceToken",
               "PrincipalOrgID", "FunctionUrlAuthType")  # fmt: skip

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        statement = ctx.generated_name(100)
        params = {"FunctionName": properties["FunctionName"], "StatementId": statement,
                  **{k: properties[k] for k in self._COPIED if k in properties}}  # fmt: skip
        await ctx.call("lambda", "AddPermission", params)
        physical = f"{properties['FunctionName']}|{statement}"
        return Outcome(physical, physical, {"Id": physical})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        raise ResourceFailed("Update of AWS::Lambda::Permission requires replacement")

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        function, _, statement = physical_id.rpartition("|")
        await ctx.call(
            "lambda", "RemovePermission", {"FunctionName": function, "StatementId": statement}
        )


class Version(ResourceType):
    """``AWS::Lambda::Version`` (Ref: the version's ARN; GetAtt Version)."""

    type_name = "AWS::Lambda::Version"
    extra_attributes = frozenset({"Version", "FunctionArn"})

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {"FunctionName": properties["FunctionName"]}
        for key in ("Description", "CodeSha256"):
            if key in properties:
                params[key] = properties[key]
        published = await ctx.call("lambda", "PublishVersion", params)
        arn = published["FunctionArn"]
        return Outcome(arn, arn, {"Version": published["Version"], "FunctionArn": arn})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        return current  # every property is create-only; only a no-op reaches here

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        function, _, version = physical_id.rpartition(":")
        await ctx.call("lambda", "DeleteFunction", {"FunctionName": function, "Qualifier": version})


class Alias(ResourceType):
    """``AWS::Lambda::Alias`` (Ref: the alias ARN)."""

    type_name = "AWS::Lambda::Alias"
    extra_attributes = frozenset({"AliasArn"})

    def _params(self, properties: dict) -> dict:
        params = {"FunctionName": properties["FunctionName"], "Name": properties["Name"],
                  "FunctionVersion": properties["FunctionVersion"]}  # fmt: skip
        if "Description" in properties:
            params["Description"] = properties["Description"]
        weights = (properties.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
        if weights:
            params["RoutingConfig"] = {"AdditionalVersionWeights": {
                w["FunctionVersion"]: float(w["FunctionWeight"]) for w in weights}}  # fmt: skip
        return params

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        created = await ctx.call("lambda", "CreateAlias", self._params(properties))
        arn = created["AliasArn"]
        return Outcome(arn, arn, {"AliasArn": arn})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        params = self._params(properties)
        params.setdefault("RoutingConfig", {"AdditionalVersionWeights": {}})
        updated = await ctx.call("lambda", "UpdateAlias", params)
        return Outcome(updated["AliasArn"], updated["AliasArn"], {"AliasArn": updated["AliasArn"]})

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        function, _, alias = physical_id.rpartition(":")
        await ctx.call("lambda", "DeleteAlias", {"FunctionName": function, "Name": alias})


class EventInvokeConfig(ResourceType):
    """``AWS::Lambda::EventInvokeConfig`` (physical id ``<function>|<qualifier>``): the
    function's asynchronous invocation settings, replaced whole by Put."""

    type_name = "AWS::Lambda::EventInvokeConfig"
    _SETTINGS = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")

    def _params(self, properties: dict) -> dict:
        params = {
            "FunctionName": properties["FunctionName"],
            "Qualifier": properties["Qualifier"],
            **{k: properties[k] for k in self._SETTINGS if k in properties},
        }
        for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
            if key in params:
                params[key] = int(params[key])
        return params

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        await ctx.call("lambda", "PutFunctionEventInvokeConfig", self._params(properties))
        physical = f"{properties['FunctionName']}|{properties['Qualifier']}"
        return Outcome(physical, physical)

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        return await self.create(ctx, properties, None)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        function, _, qualifier = physical_id.rpartition("|")
        await ctx.call(
            "lambda",
            "DeleteFunctionEventInvokeConfig",
            {"FunctionName": function, "Qualifier": qualifier},
        )


class LayerVersion(ResourceType):
    """``AWS::Lambda::LayerVersion`` (Ref and GetAtt LayerVersionArn): one published
    version. Every property is create-only, so a change publishes a new version (a
    replacement) and cleanup deletes the old one; functions using it keep working, as
    Lambda keeps a deleted version's package for them."""

    type_name = "AWS::Lambda::LayerVersion"
    name_property = "LayerName"
    name_length = 140
    extra_attributes = frozenset({"LayerVersionArn"})
    _COPIED = ("Description", "CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo")

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        content = {k: v for k, v in (properties.get("Content") or {}).items()
                   if k in ("S3Bucket", "S3Key", "S3ObjectVersion")}  # fmt: skip
        params = {"LayerName": name, "Content": content,
                  **{k: properties[k] for k in self._COPIED if k in properties}}  # fmt: skip
        published = await ctx.call("lambda", "PublishLayerVersion", params)
        arn = published["LayerVersionArn"]
        return Outcome(arn, arn, {"LayerVersionArn": arn})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        return current  # every property is create-only; only a no-op reaches here

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        layer, _, version = physical_id.rpartition(":")
        await ctx.call(
            "lambda", "DeleteLayerVersion", {"LayerName": layer, "VersionNumber": int(version)}
        )


class LayerVersionPermission(ResourceType):
    """``AWS::Lambda::LayerVersionPermission`` (physical id and Ref
    ``<layer version ARN>#<statement id>``): one statement of the version's policy."""

    type_name = "AWS::Lambda::LayerVersionPermission"

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        layer, _, version = properties["LayerVersionArn"].rpartition(":")
        statement = ctx.generated_name(100)
        params = {"LayerName": layer, "VersionNumber": int(version), "StatementId": statement,
                  "Action": properties["Action"], "Principal": properties["Principal"]}  # fmt: skip
        if properties.get("OrganizationId"):
            params["OrganizationId"] = properties["OrganizationId"]
        await ctx.call("lambda", "AddLayerVersionPermission", params)
        physical = f"{properties['LayerVersionArn']}#{statement}"
        return Outcome(physical, physical, {"Id": physical})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        return current  # every property is create-only; only a no-op reaches here

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        arn, _, statement = physical_id.rpartition("#")
        layer, _, version = arn.rpartition(":")
        await ctx.call(
            "lambda",
            "RemoveLayerVersionPermission",
            {"LayerName": layer, "VersionNumber": int(version), "StatementId": statement},
        )


class CodeSigningConfig(ResourceType):
    """``AWS::Lambda::CodeSigningConfig`` (Ref: its ARN; GetAtt CodeSigningConfigArn,
    CodeSigningConfigId)."""

    type_name = "AWS::Lambda::CodeSigningConfig"
    extra_attributes = frozenset({"CodeSigningConfigArn", "CodeSigningConfigId"})
    _COPIED = ("Description", "AllowedPublishers", "CodeSigningPolicies")

    def _outcome(self, config: dict) -> Outcome:
        arn = config["CodeSigningConfigArn"]
        return Outcome(
            arn,
            arn,
            {"CodeSigningConfigArn": arn, "CodeSigningConfigId": config["CodeSigningConfigId"]},
        )

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {k: properties[k] for k in self._COPIED if k in properties}
        if tags := ctx.tags(properties):
            params["Tags"] = {t["Key"]: t["Value"] for t in tags}
        created = await ctx.call("lambda", "CreateCodeSigningConfig", params)
        return self._outcome(created["CodeSigningConfig"])

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        params = {k: properties[k] for k in self._COPIED if k in properties}
        params["CodeSigningConfigArn"] = current.physical_id
        updated = await ctx.call("lambda", "UpdateCodeSigningConfig", params)
        return self._outcome(updated["CodeSigningConfig"])

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call("lambda", "DeleteCodeSigningConfig", {"CodeSigningConfigArn": physical_id})


class Url(ResourceType):
    """``AWS::Lambda::Url`` (Ref and GetAtt FunctionArn; GetAtt FunctionUrl): a
    function's (or alias's, by ``Qualifier``) URL; the target and qualifier are
    create-only, the auth type, CORS and invoke mode update in place."""

    type_name = "AWS::Lambda::Url"
    _SETTINGS = ("AuthType", "Cors", "InvokeMode")

    def _params(self, properties: dict) -> dict:
        params = {"FunctionName": properties["TargetFunctionArn"],
                  **{k: properties[k] for k in self._SETTINGS if k in properties}}  # fmt: skip
        if properties.get("Qualifier"):
            params["Qualifier"] = properties["Qualifier"]
        if "MaxAge" in (params.get("Cors") or {}):
            params["Cors"] = {**params["Cors"], "MaxAge": int(params["Cors"]["MaxAge"])}
        return params

    @staticmethod
    def _outcome(config: dict) -> Outcome:
        arn = config["FunctionArn"]
        return Outcome(arn, arn, {"FunctionArn": arn, "FunctionUrl": config["FunctionUrl"]})

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        return self._outcome(
            await ctx.call("lambda", "CreateFunctionUrlConfig", self._params(properties))
        )

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        params = self._params(properties)
        params.setdefault("Cors", {})  # a removed Cors clears it
        return self._outcome(await ctx.call("lambda", "UpdateFunctionUrlConfig", params))

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        function, qualifier = _function_and_qualifier(physical_id)
        params = {"FunctionName": function, **({"Qualifier": qualifier} if qualifier else {})}
        await ctx.call("lambda", "DeleteFunctionUrlConfig", params)

    async def read(self, ctx: ResourceContext, identifier: str) -> dict | None:
        function, qualifier = _function_and_qualifier(identifier)
        params = {"FunctionName": function, **({"Qualifier": qualifier} if qualifier else {})}
        try:
            config = await ctx.call("lambda", "GetFunctionUrlConfig", params)
        except ResourceFailed as error:
            if not_found(error):
                return None
            raise
        found = {"FunctionArn": config["FunctionArn"], "FunctionUrl": config["FunctionUrl"],
                 "AuthType": config["AuthType"], "InvokeMode": config.get("InvokeMode", "BUFFERED"),
                 "TargetFunctionArn": config["FunctionArn"]}  # fmt: skip
        if qualifier:
            found["Qualifier"] = qualifier
        if config.get("Cors"):
            found["Cors"] = config["Cors"]
        return found


def _function_and_qualifier(identifier: str) -> tuple[str, str | None]:
    """A function name or ARN, possibly qualified (``…:function:name:alias``), split."""
    if identifier.startswith("arn:"):
        parts = identifier.split(":")
        return ":".join(parts[:7]), (parts[7] if len(parts) > 7 else None)
    name, _, qualifier = identifier.partition(":")
    return name, qualifier or None
