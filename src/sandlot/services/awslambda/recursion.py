"""Put/GetFunctionRecursionConfig: what Lambda does with a function caught in a loop.

``Terminate`` (the default) stops a chain's invocation of the function past
``events.lineage.LIMIT``; ``Allow`` lets it run. The setting is the function's, not a
version's (AWS takes no qualifier)."""

from __future__ import annotations

from sandlot.services.awslambda.base import LambdaBase, validated
from sandlot.services.provider import RequestContext

DEFAULT = "Terminate"


class RecursionOperations(LambdaBase):
    @validated
    def put_function_recursion_config(self, ctx: RequestContext, params: dict) -> dict:
        name, _ = self.locate(ctx, params["FunctionName"], allow_qualifier=False)
        function = self.function(ctx.account_id, ctx.region, name)
        wanted = params["RecursiveLoop"]  # the model has checked Allow | Terminate
        self.records.put_function({**function, "recursive_loop": wanted})
        return {"RecursiveLoop": wanted}

    @validated
    def get_function_recursion_config(self, ctx: RequestContext, params: dict) -> dict:
        name, _ = self.locate(ctx, params["FunctionName"], allow_qualifier=False)
        return {"RecursiveLoop": self.recursive_loop(ctx.account_id, ctx.region, name)}

    def recursive_loop(self, account: str, region: str, name: str) -> str:
        return self.function(account, region, name).get("recursive_loop") or DEFAULT
