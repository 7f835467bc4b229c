"""Asynchronous invocation configuration: Put/Update/Get/Delete/ListFunctionEventInvokeConfig(s).

A configuration belongs to a function qualifier ($LATEST for the unqualified function,
a version or an alias) and holds ``MaximumRetryAttempts`` (0–2, default 2),
``MaximumEventAgeInSeconds`` (60–21600, default 21600) and ``DestinationConfig``.
``Put`` replaces the whole configuration, ``Update`` changes only the members given.
A destination must be a queue, topic or function the function's execution role may
send to (AWS checks that at Put/Update, and again when it sends). ``async_settings``
turns it, with the version's ``DeadLetterConfig``, into what an Event invocation does
(``events/async_invoke.py``).
"""

from __future__ import annotations

import json
import time
from typing import Any

from sandlot.events.async_invoke import (
    DEFAULT_MAX_AGE_S,
    DEFAULT_RETRIES,
    AsyncSettings,
    failure_record_key,
)
from sandlot.events.delivery import arn_service
from sandlot.execution.api import FunctionSpec
from sandlot.services.awslambda.arns import LATEST, VERSION_NUMBER, function_arn
from sandlot.services.awslambda.base import LambdaBase, page, validated
from sandlot.services.awslambda.validation import invalid, not_found
from sandlot.services.provider import RequestContext
from sandlot.store import Migration, Table

EVENT_INVOKE_CONFIGS = Table(
    "lambda_event_invoke_configs",
    {
        "account": "TEXT",
        "region": "TEXT",
        "function": "TEXT",
        "qualifier": "TEXT",  # "$LATEST", a version number or an alias name
        "config": "TEXT",  # JSON: MaximumRetryAttempts, MaximumEventAgeInSeconds, DestinationConfig
        "last_modified": "REAL",
    },
    ("account", "region", "function", "qualifier"),
)
MIGRATIONS = [Migration(1, create=EVENT_INVOKE_CONFIGS)]

_MEMBERS = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
# Destination ARN service → the operation the execution role must be allowed.
# (S3: AWS also asks for ListBucket on the bucket.)
_SENDS = {
    "sqs": ("SendMessage",),
    "sns": ("Publish",),
    "lambda": ("Invoke",),
    "s3": ("PutObject", "ListObjectsV2"),
    "events": ("PutEvents",),
}


class EventInvokeOperations(LambdaBase):
    def __init__(self, platform) -> None:
        super().__init__(platform)
        platform.store.migrate("lambda_event_invoke", MIGRATIONS)

    # == operations =====================================================================

    @validated
    def put_function_event_invoke_config(self, ctx: RequestContext, params: dict) -> dict:
        return self._write(ctx, params, {})

    @validated
    def update_function_event_invoke_config(self, ctx: RequestContext, params: dict) -> dict:
        name, qualifier = self._config_target(ctx, params)
        row = self.store.get(EVENT_INVOKE_CONFIGS, ctx.account_id, ctx.region, name, qualifier)
        return self._write(ctx, params, json.loads(row["config"]) if row else {})

    @validated
    def get_function_event_invoke_config(self, ctx: RequestContext, params: dict) -> dict:
        name, qualifier = self._config_target(ctx, params)
        row = self.store.get(EVENT_INVOKE_CONFIGS, ctx.account_id, ctx.region, name, qualifier)
        if row is None:
            arn = function_arn(ctx.region, ctx.account_id, name, qualifier)
            raise not_found(f"The function {arn} doesn't have an EventInvokeConfig")
        return _output(row)

    @validated
    def delete_function_event_invoke_config(self, ctx: RequestContext, params: dict) -> dict:
        name, qualifier = self._config_target(ctx, params)
        key = (ctx.account_id, ctx.region, name, qualifier)
        if not self.store.delete(EVENT_INVOKE_CONFIGS, *key):
            arn = function_arn(ctx.region, ctx.account_id, name, qualifier)
            raise not_found(f"The function {arn} doesn't have an EventInvokeConfig")
        return {}

    @validated
    def list_function_event_invoke_configs(self, ctx: RequestContext, params: dict) -> dict:
        name, _ = self.locate(ctx, params["FunctionName"], allow_qualifier=False)
        self.function(ctx.account_id, ctx.region, name)
        rows = self.store.select(
            EVENT_INVOKE_CONFIGS,
            {"account": ctx.account_id, "region": ctx.region, "function": name},
            order_by=("qualifier",),
        )
        items, marker = page(rows, params, key=lambda r: r["qualifier"])
        result: dict[str, Any] = {"FunctionEventInvokeConfigs": [_output(r) for r in items]}
        if marker:
            result["NextMarker"] = marker
        return result

    # == what an Event invocation does ======================================================

    def async_settings(self, spec: FunctionSpec, qualifier: str | None) -> AsyncSettings:
        """The configuration an Event invocation of ``spec`` (invoked with ``qualifier``)
        runs under: its qualifier's EventInvokeConfig and the version's DeadLetterConfig."""
        account, region, name = spec.account_id, spec.region, spec.function_name
        row = self.store.get(EVENT_INVOKE_CONFIGS, account, region, name, qualifier or LATEST)
        config = json.loads(row["config"]) if row else {}
        destinations = config.get("DestinationConfig") or {}
        version = self.version_or_none(account, region, name, spec.version)
        version_config = json.loads(version["config"]) if version else {}
        dead_letter = (version_config.get("DeadLetterConfig") or {}).get("TargetArn") or None
        return AsyncSettings(
            function_arn=function_arn(region, account, name, qualifier or LATEST),
            function_name=name,
            role_arn=spec.role_arn,
            max_retry_attempts=config.get("MaximumRetryAttempts", DEFAULT_RETRIES),
            max_event_age_s=config.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE_S),
            dead_letter=dead_letter,
            on_success=(destinations.get("OnSuccess") or {}).get("Destination"),
            on_failure=(destinations.get("OnFailure") or {}).get("Destination"),
            zero_concurrency=spec.reserved_concurrency == 0,
        )

    def forget_event_invoke_configs(
        self, account: str, region: str, name: str, qualifier: str | None = None
    ) -> None:
        """Drop the configurations of a deleted function (or of one version or alias)."""
        where = {"account": account, "region": region, "function": name}
        if qualifier is not None:
            where["qualifier"] = qualifier
        self.store.delete_where(EVENT_INVOKE_CONFIGS, where)

    # == helpers ========================================================================

    def _config_target(self, ctx: RequestContext, params: dict) -> tuple[str, str]:
        """(function, qualifier) a configuration operation names; the qualifier must exist."""
        name, qualifier = self.locate(ctx, params["FunctionName"], params.get("Qualifier"))
        qualifier = qualifier or LATEST
        if qualifier == LATEST or VERSION_NUMBER.match(qualifier):
            self.version_for(ctx.account_id, ctx.region, name, qualifier)
        else:
            self.alias_row(ctx.account_id, ctx.region, name, qualifier)
        return name, qualifier

    def _write(self, ctx: RequestContext, params: dict, base: dict) -> dict:
        name, qualifier = self._config_target(ctx, params)
        config = dict(base)
        for member in _MEMBERS:
            if member in params:
                config[member] = params[member]
        destinations = config.get("DestinationConfig") or {}
        role = self._role_of(ctx.account_id, ctx.region, name, qualifier)
        for when in ("OnSuccess", "OnFailure"):
            target = (destinations.get(when) or {}).get("Destination")
            if target:
                if when == "OnSuccess" and arn_service(target) == "s3":
                    # S3 keeps records of failed invocations only, in AWS too.
                    raise invalid("The provided destination config DestinationConfig is invalid.")
                self._check_destination(ctx, name, role, target)
        row = {
            "account": ctx.account_id,
            "region": ctx.region,
            "function": name,
            "qualifier": qualifier,
            "config": json.dumps(config),
            "last_modified": time.time(),
        }
        self.store.put(EVENT_INVOKE_CONFIGS, row)
        return _output(row)

    def _role_of(self, account: str, region: str, name: str, qualifier: str) -> str:
        return json.loads(self.version_for(account, region, name, qualifier)["config"])["Role"]

    def _check_destination(self, ctx: RequestContext, name: str, role: str, target: str) -> None:
        """AWS's checks of a destination: a supported ARN, and an execution role that may
        send to it."""
        service = arn_service(target)
        if service not in _SENDS:
            raise invalid("The provided destination config DestinationConfig is invalid.")
        if not self.role_may_send(role, name, target, ctx.region):
            raise invalid(
                f"The function execution role does not have permissions to call "
                f"{_SENDS[service][0]} on {target}"
            )

    def check_dead_letter(self, role: str, name: str, config: dict) -> None:
        """CreateFunction/UpdateFunctionConfiguration: the role must be allowed to send to
        the dead-letter queue or topic, or AWS refuses the configuration."""
        target = (config.get("DeadLetterConfig") or {}).get("TargetArn")
        if not target:
            return
        service = arn_service(target)
        if service not in ("sqs", "sns"):
            raise invalid(
                "The provided DeadLetterConfig target is invalid: it must be an SQS queue "
                "or an SNS topic."
            )
        if not self.role_may_send(role, name, target):
            raise invalid(
                f"The provided execution role does not have permissions to call "
                f"{_SENDS[service][0]} on {service.upper()}"
            )

    def role_may_send(self, role: str, name: str, target: str, region: str = "") -> bool:
        """Whether the function's execution role may send to ``target`` as Lambda does
        (``region``: where the function is, for an S3 bucket's region-less ARN)."""
        service = arn_service(target)
        if service == "sqs":
            _, _, _, _, account, queue = target.split(":", 5)
            url = f"{self.platform.endpoint_url}/{account}/{queue}"
            checks = [("SendMessage", {"QueueUrl": url, "MessageBody": "x"})]
        elif service == "sns":
            checks = [("Publish", {"TopicArn": target, "Message": "x"})]
        elif service == "s3":
            bucket = target.split(":", 5)[5]
            key = failure_record_key(name, time.time())
            checks = [
                ("PutObject", {"Bucket": bucket, "Key": key}),
                ("ListObjectsV2", {"Bucket": bucket}),
            ]
        elif service == "events":
            entry = {"EventBusName": target, "Source": "lambda", "DetailType": "x", "Detail": "{}"}
            checks = [("PutEvents", {"Entries": [entry]})]
        else:
            checks = [("Invoke", {"FunctionName": target})]
        try:
            principal = self.platform.function_principal(role, name)
        except ValueError:
            return False
        region = target.split(":")[3] or region
        return all(
            self.platform.authorizer.permits(principal, service, operation, params, region=region)
            for operation, params in checks
        )


def _output(row: dict) -> dict:
    config = json.loads(row["config"])
    out: dict[str, Any] = {
        "LastModified": row["last_modified"],
        "FunctionArn": function_arn(
            row["region"], row["account"], row["function"], row["qualifier"]
        ),  # fmt: skip
    }
    out.update({k: config[k] for k in _MEMBERS if k in config})
    return out
