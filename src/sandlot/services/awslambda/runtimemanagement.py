"""Put/GetRuntimeManagementConfig: how a version's runtime is updated.

``Auto`` (the default), ``FunctionUpdate`` or ``Manual`` with the ``RuntimeVersionArn``
to pin. The setting is a version's ($LATEST or a published number). sandlot runs the
interpreter that discovery finds on the host (execution/runtimes/), so the mode is
recorded and answered as AWS does but does not change which interpreter runs.
"""

from __future__ import annotations

from sandlot.services.awslambda.arns import LATEST, VERSION_NUMBER, function_arn
from sandlot.services.awslambda.base import LambdaBase, validated
from sandlot.services.awslambda.validation import invalid
from sandlot.services.provider import RequestContext
from sandlot.store import Migration, Table

RUNTIME_MANAGEMENT = Table(
    "lambda_runtime_management",
    {
        "account": "TEXT",
        "region": "TEXT",
        "function": "TEXT",
        "qualifier": "TEXT",  # "$LATEST" or a version number
        "update_runtime_on": "TEXT",  # Auto | FunctionUpdate | Manual
        "runtime_version_arn": "TEXT",  # Manual's pinned version; NULL otherwise
    },
    ("account", "region", "function", "qualifier"),
)
MIGRATIONS = [Migration(1, create=RUNTIME_MANAGEMENT)]
DEFAULT = "Auto"


class RuntimeManagementOperations(LambdaBase):
    def __init__(self, platform) -> None:
        super().__init__(platform)
        platform.store.migrate("lambda_runtime_management", MIGRATIONS)

    @validated
    def put_runtime_management_config(self, ctx: RequestContext, params: dict) -> dict:
        name, qualifier = self._version_of(ctx, params)
        mode = params["UpdateRuntimeOn"]  # the model has checked the enum
        pinned = params.get("RuntimeVersionArn")
        if mode == "Manual" and not pinned:
            raise invalid("RuntimeVersionArn must be provided when UpdateRuntimeOn is Manual.")
        if mode != "Manual":
            pinned = None  # only Manual pins a version
        row = {"account": ctx.account_id, "region": ctx.region, "function": name,
               "qualifier": qualifier, "update_runtime_on": mode,
               "runtime_version_arn": pinned}  # fmt: skip
        self.store.put(RUNTIME_MANAGEMENT, row)
        return self._answer(ctx, name, qualifier, mode, pinned)

    @validated
    def get_runtime_management_config(self, ctx: RequestContext, params: dict) -> dict:
        name, qualifier = self._version_of(ctx, params)
        row = self.store.get(RUNTIME_MANAGEMENT, ctx.account_id, ctx.region, name, qualifier)
        if row is None:
            return self._answer(ctx, name, qualifier, DEFAULT, None)
        return self._answer(
            ctx, name, qualifier, row["update_runtime_on"], row["runtime_version_arn"]
        )

    def forget_runtime_management(
        self, account: str, region: str, name: str, qualifier: str | None = None
    ) -> None:
        """Drop the settings of a deleted function (or of one of its versions)."""
        where = {"account": account, "region": region, "function": name}
        if qualifier is not None:
            where["qualifier"] = qualifier
        self.store.delete_where(RUNTIME_MANAGEMENT, where)

    def _version_of(self, ctx: RequestContext, params: dict) -> tuple[str, str]:
        name, qualifier = self.locate(ctx, params["FunctionName"], params.get("Qualifier"))
        qualifier = qualifier or LATEST
        self.function(ctx.account_id, ctx.region, name)
        if qualifier != LATEST and not VERSION_NUMBER.match(qualifier):
            # Aliases have no runtime of their own (AWS's answer, word for word).
            arn = function_arn(ctx.region, ctx.account_id, name, qualifier)
            raise invalid(f"The provided function name {arn} is invalid. Aliases are not allowed.")
        self.version_for(ctx.account_id, ctx.region, name, qualifier)
        return name, qualifier

    @staticmethod
    def _answer(ctx, name: str, qualifier: str, mode: str, pinned: str | None) -> dict:
        shown = None if qualifier == LATEST else qualifier
        answer = {
            "UpdateRuntimeOn": mode,
            "FunctionArn": function_arn(ctx.region, ctx.account_id, name, shown),
        }
        if pinned:  # AWS answers the ARN for Manual only
            answer["RuntimeVersionArn"] = pinned
        return answer
