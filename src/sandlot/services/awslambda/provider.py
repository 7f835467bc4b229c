"""AWS Lambda's API: the provider class, functions and versions, and invoke resolution.

The provider is assembled from one mixin per area (aliases, layers, permissions and
tags, reserved and provisioned concurrency and account settings, event source
mappings) over ``LambdaBase``; this module holds the
function and version operations and ``resolve_for_invoke``, the engine's way in.

Function states are real: CreateFunction answers ``State: Pending`` and the package is
extracted afterwards, off the request path, before the version becomes ``Active``;
updates go ``LastUpdateStatus: InProgress`` → ``Successful`` the same way
(``activation.py``). Durability: a package's blob is written before the rows that
reference it commit, and every 2xx follows a committed transaction.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from typing import Any

from sandlot.execution.api import FunctionSpec
from sandlot.protocol import ServiceError
from sandlot.services.awslambda import outputs
from sandlot.services.awslambda.aliases import AliasOperations, choose_version
from sandlot.services.awslambda.arns import (
    LATEST,
    VERSION_NUMBER,
    function_arn,
    timestamp,
    version_name,
)
from sandlot.services.awslambda.base import (
    DEFAULT_PAGE,
    decode_marker,
    encode_marker,
    validated,
)
from sandlot.services.awslambda.codesigning import CodeSigningOperations
from sandlot.services.awslambda.configuration import (
    attach_package,
    configure,
    defaults,
    execution_digest,
    fingerprint,
    new_revision,
    new_version_row,
    resolve_layers,
)
from sandlot.services.awslambda.eventinvoke import EventInvokeOperations
from sandlot.services.awslambda.invoke import InvokeOperations
from sandlot.services.awslambda.layers import LayerOperations
from sandlot.services.awslambda.mappings import MappingOperations
from sandlot.services.awslambda.permissions import PermissionOperations
from sandlot.services.awslambda.provisioned import ProvisionedOperations
from sandlot.services.awslambda.records import Package
from sandlot.services.awslambda.recursion import RecursionOperations
from sandlot.services.awslambda.runtimemanagement import RuntimeManagementOperations
from sandlot.services.awslambda.urls import FunctionUrlOperations
from sandlot.services.awslambda.validation import (
    check_tags,
    conflict,
    invalid,
    not_found,
)
from sandlot.services.provider import RequestContext


class LambdaProvider(
    MappingOperations,
    InvokeOperations,
    AliasOperations,
    LayerOperations,
    PermissionOperations,
    ProvisionedOperations,
    EventInvokeOperations,
    FunctionUrlOperations,
    RecursionOperations,
    RuntimeManagementOperations,
    CodeSigningOperations,
):
    service = "lambda"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        self._random = random.Random()
        self._resolutions: dict[tuple[str, str, str, str | None], _Resolution] = {}

    # == functions ======================================================================

    @validated
    async def create_function(self, ctx: RequestContext, params: dict) -> dict:
        name = self._name_for_create(ctx, params["FunctionName"])
        check_tags(params.get("Tags"))
        base = defaults(name)
        image_uri = params["Code"].get("ImageUri")
        if params.get("PackageType") == "Image":
            if not image_uri:
                raise invalid(
                    "Please provide ImageUri when creating a function with packageType Image."
                )
            base["PackageType"] = "Image"
        elif image_uri:
            raise invalid(
                "Please don't provide ImageUri when creating a function with packageType Zip."
            )
        config = self._configure(ctx, params, base, name)
        if self.records.function(ctx.account_id, ctx.region, name) is not None:
            raise conflict(f"Function already exist: {name}")  # before receiving the code
        signing = self.code_signing_for_create(ctx, {**params, "FunctionName": name})
        if image_uri:
            config.update(await self.images.resolve(ctx, image_uri, config["Architectures"][0]))
            row = self._commit_create(ctx, name, params, config, None, signing)
            self.activator.kick(ctx.account_id, ctx.region, name)
            return _configuration(row)
        package = await self.receive(ctx, params["Code"])
        try:
            row = self._commit_create(ctx, name, params, config, package, signing)
        finally:
            self.packages.discard(package)
        self.activator.kick(ctx.account_id, ctx.region, name)
        return _configuration(row)

    def _commit_create(
        self,
        ctx: RequestContext,
        name: str,
        params: dict,
        config: dict,
        package: Package | None,
        signing: str | None,
    ) -> dict:
        """Write a new function; ``package`` None: an image's (in ECR, not stored here)."""
        account, region = ctx.account_id, ctx.region
        if package is not None:
            attach_package(config, package)
            self.packages.check_storage(account, region, package.size)
        now = time.time()
        publish = bool(params.get("Publish"))
        function = {
            "account": account,
            "region": region,
            "name": name,
            "tags": json.dumps(params.get("Tags") or {}),
            "reserved_concurrency": None,
            "last_version": 1 if publish else 0,
            "created_at": now,
        }
        with self.store.transaction():
            if package is not None:
                self.packages.record(package)
            if not self.records.put_function(function, replace=False):
                raise conflict(f"Function already exist: {name}")
            if signing is not None:
                self.link_code_signing(account, region, name, signing)
            row = new_version_row(account, region, name, 0, config, now, active=False)
            self.records.put_version(row)
            if publish:
                published = {**config, "PublishedFrom": fingerprint(config)}
                row = new_version_row(account, region, name, 1, published, now, active=False)
                self.records.put_version(row)
        return row

    @validated
    def get_function(self, ctx: RequestContext, params: dict) -> dict:
        name, qualifier = self.locate(ctx, params["FunctionName"], params.get("Qualifier"))
        row = self.version_for(ctx.account_id, ctx.region, name, qualifier)
        function = self.records.function(ctx.account_id, ctx.region, name)
        config = json.loads(row["config"])
        code = {"RepositoryType": "S3", "Location": self.code_location(config["CodeSha"])}
        if config.get("PackageType") == "Image":
            code = {"RepositoryType": "ECR", "ImageUri": config["ImageUri"],
                    "ResolvedImageUri": config["ResolvedImageUri"]}  # fmt: skip
        result: dict[str, Any] = {
            "Configuration": outputs.configuration(row, qualifier, *self._snapshot_state(row)),
            "Code": code,
        }
        tags = json.loads(function["tags"] or "{}")
        if tags:
            result["Tags"] = tags
        if function["reserved_concurrency"] is not None:
            reserved = function["reserved_concurrency"]
            result["Concurrency"] = {"ReservedConcurrentExecutions": reserved}
        return result

    @validated
    def get_function_configuration(self, ctx: RequestContext, params: dict) -> dict:
        name, qualifier = self.locate(ctx, params["FunctionName"], params.get("Qualifier"))
        row = self.version_for(ctx.account_id, ctx.region, name, qualifier)
        return outputs.configuration(row, qualifier, *self._snapshot_state(row))

    @validated
    def list_functions(self, ctx: RequestContext, params: dict) -> dict:
        every_version = params.get("FunctionVersion") == "ALL"
        after = decode_marker(params.get("Marker"))
        if after is not None and not (isinstance(after, list) and len(after) == 2):
            raise invalid(f"Invalid marker: {params['Marker']}")
        limit = params.get("MaxItems") or DEFAULT_PAGE
        rows = self.records.versions_page(
            ctx.account_id,
            ctx.region,
            latest_only=not every_version,
            after=tuple(after) if after else None,
            limit=limit + 1,
        )
        result: dict[str, Any] = {}
        if len(rows) > limit:
            rows = rows[:limit]
            result["NextMarker"] = encode_marker([rows[-1]["name"], rows[-1]["version_num"]])
        for row in rows:
            self.activator.observe(row)
        result["Functions"] = [
            outputs.configuration(r, _version(r) if every_version else None) for r in rows
        ]
        return result

    @validated
    async def update_function_code(self, ctx: RequestContext, params: dict) -> dict:
        name, _ = self.locate(ctx, params["FunctionName"], allow_qualifier=False)
        self.latest_for_update(ctx, name, params.get("RevisionId"))
        self.check_code_signing(ctx.account_id, ctx.region, name)
        dry_run = bool(params.get("DryRun"))
        current = json.loads(self.latest_for_update(ctx, name, params.get("RevisionId"))["config"])
        self.refuse_update_of_blocked(current)
        if current.get("PackageType") == "Image":
            return await self._update_image(ctx, name, params, current, dry_run)
        if params.get("ImageUri"):
            raise invalid(
                "Please don't provide ImageUri when updating a function with packageType Zip."
            )
        package = await self.receive(ctx, params, dry_run=dry_run)
        try:
            # Checked again: the function may have changed while the package arrived.
            latest = self.latest_for_update(ctx, name, params.get("RevisionId"))
            config = json.loads(latest["config"])
            if params.get("Architectures"):
                config["Architectures"] = params["Architectures"]
            attach_package(config, package)
            if dry_run:
                return outputs.configuration({**latest, "config": json.dumps(config)})
            self.packages.check_storage(ctx.account_id, ctx.region, package.size)
            publish = bool(params.get("Publish"))
            row = self._commit_update(ctx, latest, config, publish=publish, package=package)
        finally:
            self.packages.discard(package)
        self.activator.kick(ctx.account_id, ctx.region, name)
        return _configuration(row)

    async def _update_image(
        self, ctx: RequestContext, name: str, params: dict, current: dict, dry_run: bool
    ) -> dict:
        """UpdateFunctionCode of an image function: a new ImageUri, resolved anew."""
        if not params.get("ImageUri") or params.get("ZipFile") or params.get("S3Bucket"):
            raise invalid(
                "Please provide ImageUri when updating a function with packageType Image."
            )
        architecture = (params.get("Architectures") or current["Architectures"])[0]
        resolved = await self.images.resolve(ctx, params["ImageUri"], architecture)
        latest = self.latest_for_update(ctx, name, params.get("RevisionId"))
        config = {**json.loads(latest["config"]), **resolved}
        if params.get("Architectures"):
            config["Architectures"] = params["Architectures"]
        if dry_run:
            return outputs.configuration({**latest, "config": json.dumps(config)})
        row = self._commit_update(ctx, latest, config, publish=bool(params.get("Publish")))
        self.activator.kick(ctx.account_id, ctx.region, name)
        return _configuration(row)

    @validated
    def update_function_configuration(self, ctx: RequestContext, params: dict) -> dict:
        name, _ = self.locate(ctx, params["FunctionName"], allow_qualifier=False)
        latest = self.latest_for_update(ctx, name, params.get("RevisionId"))
        if params.get("Layers"):  # layers are code: they must be signed too
            self.check_code_signing(ctx.account_id, ctx.region, name)
        current = json.loads(latest["config"])
        if "Runtime" not in params:  # moving it to another runtime is checked as given
            self.refuse_update_of_blocked(current)
        config = self._configure(ctx, params, current, name)
        row = self._commit_update(ctx, latest, config, publish=False)
        self.activator.kick(ctx.account_id, ctx.region, name)
        return outputs.configuration(row)

    def _commit_update(
        self,
        ctx: RequestContext,
        latest: dict,
        config: dict,
        *,
        publish: bool,
        package: Package | None = None,
    ) -> dict:
        """Write $LATEST's new configuration (InProgress until activated), maybe publish."""
        now = time.time()
        row = {
            **latest,
            "config": json.dumps(config),
            "code_sha": config["CodeSha"],
            "code_size": config["CodeSize"],
            # What AWS answers for an update in progress (word for word).
            "update_status": "InProgress",
            "update_reason": "The function is being created.",
            "update_reason_code": "Creating",
            "revision_id": new_revision(),
            "last_modified": timestamp(now),
        }
        with self.store.transaction():
            if package is not None:
                self.packages.record(package)
            released = self.records.put_version(row)
            if publish:
                row = self._publish(ctx, latest["name"], config, None, now, active=False)
            gone = self.records.unused(released)
        self.records.collect(gone)
        return row

    @validated
    def delete_function(self, ctx: RequestContext, params: dict) -> dict:
        account, region = ctx.account_id, ctx.region
        name, qualifier = self.locate(ctx, params["FunctionName"], params.get("Qualifier"))
        self.function(account, region, name)
        with self.store.transaction():
            if qualifier is None:
                released = self.records.delete_function(account, region, name)
                self.delete_function_urls(account, region, name)
                self.forget_code_signing(account, region, name)
            else:
                released = self._delete_version(account, region, name, qualifier)
            self.forget_event_invoke_configs(account, region, name, qualifier)
            self.forget_runtime_management(account, region, name, qualifier)
            gone = self.records.unused(released)
        self.records.collect(gone)
        self.sync_provisioned(account, region, name)  # release what it provisioned
        return {"StatusCode": 204}

    def _delete_version(self, account: str, region: str, name: str, qualifier: str) -> set[str]:
        if qualifier == LATEST:
            raise invalid("$LATEST version cannot be deleted without deleting the function.")
        if not VERSION_NUMBER.match(qualifier):
            raise invalid(
                "Deletion of aliases is not supported by DeleteFunction; use DeleteAlias."
            )
        if self.records.version(account, region, name, int(qualifier)) is None:
            raise not_found(f"Function not found: {function_arn(region, account, name, qualifier)}")
        users = [
            alias["name"]
            for alias in self.records.aliases(account, region, name)
            if qualifier in (alias["function_version"], *json.loads(alias["routing"] or "{}"))
        ]
        if users:
            raise conflict(
                "Unable to delete version because the following aliases reference it: "
                f"[{', '.join(users)}]"
            )
        return self.records.delete_version(account, region, name, int(qualifier))

    def _name_for_create(self, ctx: RequestContext, value: str) -> str:
        name, qualifier = self.locate(ctx, value)
        if qualifier is not None:
            raise invalid(f"Invalid function name: {value}")
        if len(name) > 64:
            raise ServiceError(
                "ValidationException",
                f"1 validation error detected: Value '{value}' at 'functionName' failed to "
                "satisfy constraint: Member must have length less than or equal to 64",
                400,
            )
        return name

    def _configure(self, ctx: RequestContext, params: dict, base: dict, name: str) -> dict:
        if "Role" in params and not self.platform.authorizer.can_assume(
            params["Role"], "lambda.amazonaws.com", ctx.account_id
        ):
            # Lambda gets the function's credentials by assuming the role, as in AWS.
            raise invalid("The role defined for the function cannot be assumed by Lambda.")
        layers = None
        if "Layers" in params:
            layers = resolve_layers(self.records, ctx.account_id, ctx.region, params["Layers"])
        config = configure(params, base, layers)
        if "DeadLetterConfig" in params:
            self.check_dead_letter(config["Role"], name, config)
        return config

    # == versions =======================================================================

    @validated
    def publish_version(self, ctx: RequestContext, params: dict) -> dict:
        name, _ = self.locate(ctx, params["FunctionName"], allow_qualifier=False)
        latest = self.latest_for_update(ctx, name, params.get("RevisionId"))
        config = json.loads(latest["config"])
        expected, actual = params.get("CodeSha256"), outputs.code_sha256(config["CodeSha"])
        if expected and expected != actual:
            raise invalid(
                f"CodeSHA256 ({expected}) is different from current CodeSHA256 in $LATEST "
                f"({actual}). Please try again with the CodeSHA256 in $LATEST."
            )
        unchanged = self._unchanged_version(ctx.account_id, ctx.region, name, config)
        if unchanged is not None:  # AWS publishes nothing new for an unchanged $LATEST
            return _configuration(unchanged)
        with self.store.transaction():
            description = params.get("Description")
            row = self._publish(ctx, name, config, description, time.time(), active=True)
        spec = self._snap_start_spec(row)
        if spec is not None:  # SnapStart: initialise once now, restore at cold starts
            self.platform.engine.snapshot(spec)
            return outputs.configuration(row, _version(row), "Pending")
        return _configuration(row)

    def _snap_start_spec(self, row: dict) -> FunctionSpec | None:
        """The spec of a published SnapStart version that can run, else None."""
        if row["version_num"] == 0 or row["active_config"] is None:
            return None
        config = json.loads(row["active_config"])
        if config.get("SnapStart") != "PublishedVersions":
            return None
        function = self.records.function(row["account"], row["region"], row["name"])
        return self._spec(row, config, function["reserved_concurrency"] if function else None)

    def _snapshot_state(self, row: dict) -> tuple[str | None, tuple[str, str] | None]:
        """Pending/Active/Failed of a SnapStart version's snapshot (None: not one), and
        when Failed its (StateReasonCode, StateReason)."""
        spec = self._snap_start_spec(row)
        if spec is None:
            return None, None
        engine = self.platform.engine
        return engine.snapshot_state(spec), engine.snapshot_failure(spec)

    def _unchanged_version(self, account: str, region: str, name: str, config: dict) -> dict | None:
        """The newest version, if $LATEST has not changed since it was published."""
        rows = self.records.versions(account, region, name)
        newest = rows[-1] if rows and rows[-1]["version_num"] > 0 else None
        if newest and json.loads(newest["config"]).get("PublishedFrom") == fingerprint(config):
            return newest
        return None

    def _publish(
        self,
        ctx: RequestContext,
        name: str,
        config: dict,
        description: str | None,
        now: float,
        *,
        active: bool,
    ) -> dict:
        """Write the next version of ``name`` from ``config`` (inside a transaction)."""
        account, region = ctx.account_id, ctx.region
        function = self.function(account, region, name)
        number = function["last_version"] + 1  # numbers are never reused
        self.records.put_function({**function, "last_version": number})
        published = {**config, "PublishedFrom": fingerprint(config)}
        if description is not None:
            published["Description"] = description
        row = new_version_row(account, region, name, number, published, now, active=active)
        self.records.put_version(row)
        return row

    @validated
    def list_versions_by_function(self, ctx: RequestContext, params: dict) -> dict:
        name, _ = self.locate(ctx, params["FunctionName"], allow_qualifier=False)
        self.function(ctx.account_id, ctx.region, name)
        after = decode_marker(params.get("Marker"))
        if after is not None and not isinstance(after, int):
            raise invalid(f"Invalid marker: {params['Marker']}")
        limit = params.get("MaxItems") or DEFAULT_PAGE
        rows = self.records.versions_page(
            ctx.account_id,
            ctx.region,
            name=name,
            after=(name, after) if after is not None else None,
            limit=limit + 1,
        )
        result: dict[str, Any] = {}
        if len(rows) > limit:
            rows = rows[:limit]
            result["NextMarker"] = encode_marker(rows[-1]["version_num"])
        for row in rows:
            self.activator.observe(row)
        result["Versions"] = [outputs.configuration(r, _version(r)) for r in rows]
        return result

    # == the invoke path ================================================================

    def resolve_for_invoke(
        self, account_id: str, region: str, function_name: str, qualifier: str | None
    ) -> tuple[FunctionSpec, str]:
        """The function version an invocation runs, as the engine's FunctionSpec, and the
        version executed (for ``X-Amz-Executed-Version``).

        ``function_name`` may be a name, partial or full ARN, with or without qualifier;
        an alias routes by its weights (a random draw per call). Raises what Invoke
        answers: ResourceNotFoundException for an unknown function, version or alias;
        ResourceConflictException while the version is not Active yet (Pending, or
        Failed). During an update the previous configuration runs, as in AWS.

        Call it on the event loop thread, like the operations. It is on the hot path:
        resolutions are cached until the next write to any function (~1 µs when cached).
        """
        key = (account_id, region, function_name, qualifier)
        resolution = self._resolutions.get(key)
        if resolution is None or resolution.generation != self.records.generation:
            resolution = self._resolve(account_id, region, function_name, qualifier)
            if len(self._resolutions) >= _RESOLUTIONS_MAX:
                self._resolutions.clear()
            self._resolutions[key] = resolution
        version = choose_version(resolution.primary, resolution.weights, self._random.random())
        outcome = resolution.outcomes[version]
        if isinstance(outcome, str):
            raise conflict(
                "The operation cannot be performed at this time. The function is currently "
                f"in the following state: {outcome}"
            )
        return outcome, version

    def _resolve(
        self, account: str, region: str, function_name: str, qualifier: str | None
    ) -> _Resolution:
        generation = self.records.generation
        name, qualifier = self.locate_in(
            account, region, function_name, qualifier, action="InvokeFunction"
        )
        function = self.function(account, region, name)
        primary, weights = qualifier or LATEST, {}
        if primary != LATEST and not VERSION_NUMBER.match(primary):
            alias = self.records.alias(account, region, name, primary)
            if alias is not None:
                primary = alias["function_version"]
                weights = json.loads(alias["routing"] or "{}")
        outcomes: dict[str, FunctionSpec | str] = {}
        for version in (primary, *weights):
            row = self.version_or_none(account, region, name, version)
            if row is None:
                arn = function_arn(region, account, name, qualifier)
                raise not_found(f"Function not found: {arn}")
            outcomes[version] = self._outcome(row, function["reserved_concurrency"])
        return _Resolution(generation, primary, weights, outcomes)

    def _outcome(self, row: dict, reserved: int | None) -> FunctionSpec | str:
        """The spec a version runs, or the state that keeps it from running."""
        self.activator.observe(row)
        if row["active_config"] is None:
            return row["state"]
        return self._spec(row, json.loads(row["active_config"]), reserved)

    def _spec(self, row: dict, config: dict, reserved: int | None) -> FunctionSpec:
        account, region, name = row["account"], row["region"], row["name"]
        version = version_name(row["version_num"])
        image = None
        if config.get("PackageType") == "Image":
            # Unpacked at activation; unpacked here only if the cache lost it.
            code_dir, layer_dirs = self.images.root(config), ()
            image = self.images.launch(config)
        else:
            # Extracted at activation; extracting here only if the directory went missing.
            code_dir = self.records.ensure_extracted(config["CodeSha"])
            layer_dirs = tuple(self.records.ensure_extracted(la["Sha"]) for la in config["Layers"])
        logging = config["LoggingConfig"]
        return FunctionSpec(
            account_id=account,
            region=region,
            function_name=name,
            function_arn=function_arn(region, account, name),
            version=version,
            runtime=config.get("Runtime") or "",
            handler=image.handler if image is not None else config["Handler"],
            code_dir=code_dir,
            layer_dirs=layer_dirs,
            memory_mb=config["MemorySize"],
            timeout_s=config["Timeout"],
            ephemeral_storage_mb=config["EphemeralStorage"],
            environment=tuple((config.get("Environment") or {}).items()),
            role_arn=config["Role"],
            digest=execution_digest(config, version),
            reserved_concurrency=reserved,
            architecture=config["Architectures"][0],
            custom_log_group=logging["LogGroup"],
            log_format=logging["LogFormat"],
            application_log_level=logging.get("ApplicationLogLevel"),
            system_log_level=logging.get("SystemLogLevel"),
            image=image,
            snap_start=version != LATEST and config.get("SnapStart") == "PublishedVersions",
            tracing=config.get("TracingMode", "PassThrough"),
        )


_RESOLUTIONS_MAX = 10000  # cached invoke resolutions; past this the cache starts afresh


@dataclass(frozen=True, slots=True)
class _Resolution:
    """What an invocation of one (function name, qualifier) resolves to."""

    generation: int  # Records.generation when computed
    primary: str
    weights: dict[str, float]
    outcomes: dict[str, FunctionSpec | str]  # per version it routes to: spec, or its state


def _version(row: dict) -> str:
    return version_name(row["version_num"])


def _configuration(row: dict) -> dict:
    """A write's answer: $LATEST unqualified, a published version with its number."""
    return outputs.configuration(row, None if row["version_num"] == 0 else _version(row))
