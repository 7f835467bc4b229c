"""What every part of the Lambda provider shares: its state, finding functions the way
AWS accepts them named, pagination, and input validation."""

from __future__ import annotations

import asyncio
import base64
import functools
import inspect
import json
from collections.abc import Callable
from datetime import date
from typing import Any

from sandlot.protocol import ServiceError, constraints
from sandlot.services.awslambda import lifecycle
from sandlot.services.awslambda.activation import Activator
from sandlot.services.awslambda.arns import (
    LATEST,
    VERSION_NUMBER,
    function_arn,
    parse_function_name,
    version_key,
)
from sandlot.services.awslambda.downloads import CodeLinks
from sandlot.services.awslambda.images import ImageFunctions
from sandlot.services.awslambda.packages import Packages
from sandlot.services.awslambda.records import Package, Records
from sandlot.services.awslambda.schema import MIGRATIONS
from sandlot.services.awslambda.validation import (
    check_runtime,
    conflict,
    invalid,
    not_found,
    precondition_failed,
    validation_exception,
)
from sandlot.services.provider import Provider, RequestContext

DEFAULT_PAGE = 50


# Every Lambda operation checks the model's constraints first (ValidationException),
# except Runtime, which Lambda checks itself (InvalidParameterValueException). The
# gateway runs these checks before IAM (``LambdaBase.validate``): AWS answers a
# malformed name ValidationException, not AccessDenied. The decorator keeps them on
# the operations for callers that skip admission (the unit tests' driver).
_model_checked = constraints.validated(validation_exception)


# What giving a Runtime does, for AWS's deprecation calendar (lifecycle.py).
_RUNTIME_ACTIONS = {"CreateFunction": "create", "UpdateFunctionConfiguration": "update"}


def validated(method: Callable) -> Callable:
    checked = _model_checked(method)
    operation = "".join(word.title() for word in method.__name__.split("_"))
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def run_async(self, ctx, params: dict[str, Any]):
            self.check_runtime_of(operation, params.get("Runtime"))
            return await checked(self, ctx, params)

        return run_async

    @functools.wraps(method)
    def run(self, ctx, params: dict[str, Any]):
        self.check_runtime_of(operation, params.get("Runtime"))
        return checked(self, ctx, params)

    return run


def encode_marker(position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode()


def decode_marker(marker: str | None) -> Any:
    """A pagination marker's position; InvalidParameterValueException if it is not ours."""
    if not marker:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(marker.encode()))
    except (ValueError, TypeError):
        raise invalid(f"Invalid marker: {marker}") from None


def page(items: list, params: dict, key: Callable[[Any], Any]) -> tuple[list, str | None]:
    """One page of ``items`` (already in order) after ``Marker``, and the next marker."""
    after = decode_marker(params.get("Marker"))
    if after is not None:
        keys = [key(item) for item in items]
        items = items[keys.index(after) + 1 :] if after in keys else []
    limit = params.get("MaxItems") or DEFAULT_PAGE
    if len(items) > limit:
        return items[:limit], encode_marker(key(items[limit - 1]))
    return items, None


class LambdaBase(Provider):
    """State and lookups; the operations live in the subclasses' mixins."""

    service = "lambda"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        platform.store.migrate("lambda", MIGRATIONS)
        self.store = platform.store
        self.records = Records(platform.store, platform.blobs, platform.data_dir / "code")
        # Extracted packages outlive their rows while environments still run from them.
        self.records.after_last_use = lambda path, action: platform.engine.after_last_use(
            path, action
        )
        self.packages = Packages(self.records, platform.blobs)
        self.links = CodeLinks(self.records)
        self.images = ImageFunctions(platform)
        self.activator = Activator(platform.store, self.records, self.images)

    constraint_error = staticmethod(validation_exception)

    def validate(self, ctx: RequestContext, params: dict) -> None:
        """Before IAM: the runtime, then the model's constraints."""
        self.check_runtime_of(ctx.operation, params.get("Runtime"))
        super().validate(ctx, params)

    def check_runtime_of(self, operation: str, runtime: str | None) -> None:
        """An operation's Runtime: offered by AWS, and not past its block date for what
        the operation does (creating a function on it, or moving one onto it)."""
        check_runtime(runtime, _RUNTIME_ACTIONS.get(operation), self.runtime_date())

    def refuse_update_of_blocked(self, config: dict) -> None:
        """UpdateFunctionCode/Configuration of a function whose runtime is past AWS's
        "block function update" date (invocations go on: AWS never blocks those)."""
        runtime = config.get("Runtime")
        if runtime and lifecycle.blocked(runtime, "update", self.runtime_date()):
            raise invalid(lifecycle.refusal_message(runtime))

    def runtime_date(self) -> date:
        """Lambda's calendar date (the ``lambda_runtime_date`` setting moves it)."""
        settings = getattr(self.platform, "settings", None)
        return lifecycle.today(getattr(settings, "lambda_runtime_date", ""))

    # -- code downloads -------------------------------------------------------------------

    def code_location(self, sha: str) -> str:
        """A presigned URL of a code package, valid 10 minutes (served by the gateway)."""
        return self.links.url(self.platform.endpoint_url, sha)

    def open_code_download(self, path: str, query: str):
        """(open file, size) of the package a download URL names; S3-shaped errors."""
        return self.links.open(path, query)

    # -- naming ---------------------------------------------------------------------------

    def locate(
        self,
        ctx: RequestContext,
        value: str,
        qualifier: str | None = None,
        *,
        allow_qualifier: bool = True,
    ) -> tuple[str, str | None]:
        """(function name, qualifier) for an operation's FunctionName (and Qualifier).

        Operations on the function itself (``allow_qualifier=False``) accept no
        qualifier but $LATEST, and get None.
        """
        name, found = self.locate_in(
            ctx.account_id, ctx.region, value, qualifier, action=ctx.operation
        )
        if not allow_qualifier:
            if found not in (None, LATEST):
                raise invalid("Current operation does not support versions other than $LATEST")
            return name, None
        return name, found

    def locate_in(
        self, account: str, region: str, value: str, qualifier: str | None, *, action: str
    ) -> tuple[str, str | None]:
        """Read a FunctionName in any form AWS accepts, for a caller in account/region."""
        ref = parse_function_name(value)
        if ref is None:
            raise invalid(f"Invalid function name: {value}")
        if ref.account and ref.account != account:
            # Cross-account access needs a resource policy allowing it; IAM evaluates those.
            arn = function_arn(ref.region or region, ref.account, ref.name, ref.qualifier)
            raise ServiceError(
                "AccessDeniedException",
                f"User: arn:aws:iam::{account}:root is not authorized to perform: "
                f"lambda:{action} on resource: {arn} because no resource-based policy "
                f"allows the lambda:{action} action",
                403,
            )
        if ref.region and ref.region != region:
            raise invalid(
                f"Functions from '{ref.region}' are not reachable in this region ('{region}')"
            )
        if qualifier is not None and ref.qualifier is not None and qualifier != ref.qualifier:
            raise invalid(
                "The derived qualifier from the function name does not match the "
                "specified qualifier."
            )
        return ref.name, qualifier if qualifier is not None else ref.qualifier

    # -- rows, or AWS's errors ---------------------------------------------------------------

    def function(self, account: str, region: str, name: str) -> dict:
        row = self.records.function(account, region, name)
        if row is None:
            raise not_found(f"Function not found: {function_arn(region, account, name)}")
        return row

    def alias_row(self, account: str, region: str, function: str, name: str) -> dict:
        self.function(account, region, function)
        row = self.records.alias(account, region, function, name)
        if row is None:
            raise not_found(f"Alias not found: {function_arn(region, account, function, name)}")
        return row

    def version_or_none(self, account: str, region: str, name: str, version: str) -> dict | None:
        """The row of "$LATEST" or a version number; None for anything else."""
        if version != LATEST and not VERSION_NUMBER.match(version):
            return None
        return self.records.version(account, region, name, version_key(version))

    def version_for(self, account: str, region: str, name: str, qualifier: str | None) -> dict:
        """The version a qualifier names (an alias: its primary version)."""
        self.function(account, region, name)
        version = qualifier or LATEST
        if version != LATEST and not VERSION_NUMBER.match(version):
            alias = self.records.alias(account, region, name, version)
            version = alias["function_version"] if alias else version
        row = self.version_or_none(account, region, name, version)
        if row is None:
            arn = function_arn(region, account, name, qualifier)
            raise not_found(f"Function not found: {arn}")
        self.activator.observe(row)
        return row

    def latest_for_update(self, ctx: RequestContext, name: str, revision: str | None) -> dict:
        """$LATEST, if it may change now: not Pending, no update running, RevisionId matching."""
        account, region = ctx.account_id, ctx.region
        self.function(account, region, name)
        row = self.records.version(account, region, name, 0)
        self.activator.observe(row)
        if row["state"] == "Pending":
            raise conflict(
                "The operation cannot be performed at this time. The function is currently "
                "in the following state: Pending"
            )
        if row["update_status"] == "InProgress":
            raise conflict(
                "The operation cannot be performed at this time. An update is in progress "
                f"for resource: {function_arn(region, account, name)}"
            )
        if revision and revision != row["revision_id"]:
            raise precondition_failed()
        return row

    # -- code packages -----------------------------------------------------------------------

    async def fetch_code(self, ctx: RequestContext, source: dict) -> bytes:
        """The zip bytes of a Code/Content parameter: inline, or read from S3
        (``S3Bucket``/``S3Key``/``S3ObjectVersion``) through the internal client as the
        caller, so the caller's own S3 permissions apply as in AWS."""
        if source.get("ZipFile") is not None:
            return source["ZipFile"]
        if source.get("S3Bucket") or source.get("S3Key"):
            return await self._fetch_from_s3(ctx, source)
        raise invalid("Please provide a source for function code.")

    async def _fetch_from_s3(self, ctx: RequestContext, source: dict) -> bytes:
        bucket, key = source.get("S3Bucket"), source.get("S3Key")
        if not bucket or not key:
            raise invalid("Please provide a source for function code.")

        def s3_failed(code: str, message: str) -> ServiceError:
            return invalid(
                f"Error occurred while GetObject. S3 Error Code: {code}. "
                f"S3 Error Message: {message}"
            )

        params = {"Bucket": bucket, "Key": key}
        if source.get("S3ObjectVersion"):
            params["VersionId"] = source["S3ObjectVersion"]
        try:
            result = await self.platform.call(
                "s3", "GetObject", params, principal=ctx.principal, region=ctx.region
            )
        except ServiceError as error:
            raise s3_failed(error.code, error.message) from None
        body = result["Body"]
        if isinstance(body, bytes | bytearray):
            return bytes(body)

        def read() -> bytes:  # a FileBody: read its window off the event loop
            with body.file as f:
                f.seek(body.offset)
                return f.read(body.length)

        return await asyncio.to_thread(read)

    async def receive(self, ctx: RequestContext, source: dict, *, dry_run: bool = False) -> Package:
        """Fetch, check and store the package a request carries."""
        data = await self.fetch_code(ctx, source)
        return await self.packages.receive(data, ctx.operation, dry_run=dry_run)
