"""Reserved concurrency and the account's Lambda settings and usage."""

from __future__ import annotations

from sandlot.services.awslambda.base import LambdaBase, validated
from sandlot.services.awslambda.packages import TOTAL_CODE_STORAGE
from sandlot.services.awslambda.validation import UNZIPPED_MAX, ZIPPED_MAX, invalid
from sandlot.services.provider import RequestContext

ACCOUNT_CONCURRENCY = 1000  # AWS's default account limit
UNRESERVED_MIN = 100  # AWS keeps this much of the account limit unreserved


class ConcurrencyOperations(LambdaBase):
    @property
    def account_concurrency(self) -> int:
        """The account concurrency limit: the engine's setting once config.Settings has
        one (``account_concurrency``), else AWS's default."""
        return getattr(self.platform.settings, "account_concurrency", ACCOUNT_CONCURRENCY)

    @validated
    def put_function_concurrency(self, ctx: RequestContext, params: dict) -> dict:
        account, region = ctx.account_id, ctx.region
        name, _ = self.locate(ctx, params["FunctionName"], allow_qualifier=False)
        function = self.function(account, region, name)
        wanted = params["ReservedConcurrentExecutions"]
        _functions, _code, reserved = self.records.usage(account, region)
        others = reserved - (function["reserved_concurrency"] or 0)
        if self.account_concurrency - others - wanted < UNRESERVED_MIN:
            raise invalid(
                "Specified ReservedConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of [{UNRESERVED_MIN}]."
            )
        self.records.put_function({**function, "reserved_concurrency": wanted})
        return {"ReservedConcurrentExecutions": wanted}

    @validated
    def get_function_concurrency(self, ctx: RequestContext, params: dict) -> dict:
        name, _ = self.locate(ctx, params["FunctionName"], allow_qualifier=False)
        reserved = self.function(ctx.account_id, ctx.region, name)["reserved_concurrency"]
        return {} if reserved is None else {"ReservedConcurrentExecutions": reserved}

    @validated
    def delete_function_concurrency(self, ctx: RequestContext, params: dict) -> dict:
        name, _ = self.locate(ctx, params["FunctionName"], allow_qualifier=False)
        function = self.function(ctx.account_id, ctx.region, name)
        self.records.put_function({**function, "reserved_concurrency": None})
        return {}

    @validated
    def get_account_settings(self, ctx: RequestContext, params: dict) -> dict:
        functions, code_bytes, reserved = self.records.usage(ctx.account_id, ctx.region)
        limit = self.account_concurrency
        return {
            "AccountLimit": {
                "TotalCodeSize": TOTAL_CODE_STORAGE,
                "CodeSizeUnzipped": UNZIPPED_MAX,
                "CodeSizeZipped": ZIPPED_MAX,
                "ConcurrentExecutions": limit,
                "UnreservedConcurrentExecutions": limit - reserved,
            },
            "AccountUsage": {"TotalCodeSize": code_bytes, "FunctionCount": functions},
        }
