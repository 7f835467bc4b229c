"""PartiQL operations: ExecuteStatement, BatchExecuteStatement, ExecuteTransaction.

Each statement is translated (``partiql.py``) into the native request it means and
run through the same operation, so conditions, validation and durability are the
native ones. SELECT pages carry a NextToken (the LastEvaluatedKey, encoded)."""

from __future__ import annotations

import base64
import binascii

from sandlot.protocol import ServiceError
from sandlot.services.dynamodb import partiql
from sandlot.services.dynamodb.batch import BatchOperations
from sandlot.services.dynamodb.errors import validation
from sandlot.services.dynamodb.queries import QueryOperations
from sandlot.services.dynamodb.values import dump_item, load_item
from sandlot.services.provider import RequestContext

MAX_BATCH_STATEMENTS = 25
MAX_TRANSACTION_STATEMENTS = 100

_BATCH_CODES = {
    "ConditionalCheckFailedException": "ConditionalCheckFailed",
    "DuplicateItemException": "DuplicateItem",
    "ResourceNotFoundException": "ResourceNotFound",
    "ValidationException": "ValidationError",
}


def _duplicate() -> ServiceError:
    return ServiceError("DuplicateItemException", "Duplicate primary key exists in table")


def _token(key: dict) -> str:
    return base64.b64encode(dump_item(key).encode()).decode()


def _untoken(token: str) -> dict:
    try:
        return load_item(base64.b64decode(token, validate=True).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise validation("Invalid NextToken") from None


class StatementOperations(BatchOperations, QueryOperations):
    def _plan(self, ctx: RequestContext, statement: str, parameters) -> partiql.Plan:
        return partiql.plan(statement, parameters, lambda name: self.table(ctx, name))

    async def _run(self, ctx: RequestContext, plan: partiql.Plan, extra: dict) -> dict:
        """Run one planned statement; the ExecuteStatement-shaped answer."""
        params = dict(plan.params)
        if plan.operation in ("GetItem", "Query", "Scan"):
            for name in ("ConsistentRead", "ReturnConsumedCapacity"):
                if extra.get(name) is not None:
                    params[name] = extra[name]
            if plan.operation == "GetItem":
                out = self.get_item(ctx, params, raw=False)
                found = {"Items": [out["Item"]] if "Item" in out else []}
                return {**found, **{k: v for k, v in out.items() if k == "ConsumedCapacity"}}
            if extra.get("Limit") is not None:
                params["Limit"] = extra["Limit"]
            if extra.get("NextToken"):
                params["ExclusiveStartKey"] = _untoken(extra["NextToken"])
            read = self.query if plan.operation == "Query" else self.scan
            out = read(ctx, params, raw=False)
            answer = {"Items": out["Items"]}
            if "LastEvaluatedKey" in out:
                answer["NextToken"] = _token(out["LastEvaluatedKey"])
                answer["LastEvaluatedKey"] = out["LastEvaluatedKey"]
            if "ConsumedCapacity" in out:
                answer["ConsumedCapacity"] = out["ConsumedCapacity"]
            return answer
        for name in ("ReturnConsumedCapacity", "ReturnValuesOnConditionCheckFailure"):
            if extra.get(name) is not None:
                params[name] = extra[name]
        try:
            operation = {"PutItem": self.put_item, "UpdateItem": self.update_item,
                         "DeleteItem": self.delete_item}[plan.operation]  # fmt: skip
            out = await operation(ctx, params)
        except ServiceError as error:
            if plan.operation == "PutItem" and error.code == "ConditionalCheckFailedException":
                raise _duplicate() from None
            raise
        return {k: v for k, v in out.items() if k == "ConsumedCapacity"}

    async def execute_statement(self, ctx: RequestContext, params: dict) -> dict:
        plan = self._plan(ctx, params["Statement"], params.get("Parameters"))
        return await self._run(ctx, plan, params)

    async def batch_execute_statement(self, ctx: RequestContext, params: dict) -> dict:
        statements = params["Statements"]
        if not 1 <= len(statements) <= MAX_BATCH_STATEMENTS:
            raise validation(
                "1 validation error detected: Value at 'statements' failed to satisfy "
                f"constraint: Member must have length less than or equal to "
                f"{MAX_BATCH_STATEMENTS}"
            )
        plans, reads = [], 0
        for entry in statements:
            try:
                plan = self._plan(ctx, entry["Statement"], entry.get("Parameters"))
            except ServiceError as error:
                plans.append(error)
                continue
            if plan.operation in ("Query", "Scan"):
                raise validation("Batch read statements must specify the full primary key "
                                 "with equality conditions")  # fmt: skip
            reads += plan.operation == "GetItem"
            plans.append(plan)
        if 0 < reads < sum(isinstance(p, partiql.Plan) for p in plans):
            raise validation("Batch statements must contain only reads or only writes")
        responses = []
        for entry, plan in zip(statements, plans, strict=True):
            if isinstance(plan, ServiceError):
                responses.append({"Error": {"Code": _BATCH_CODES.get(plan.code, plan.code),
                                            "Message": plan.message}})  # fmt: skip
                continue
            try:
                out = await self._run(ctx, plan, entry)
            except ServiceError as error:
                failure = {"Code": _BATCH_CODES.get(error.code, error.code),
                           "Message": error.message}  # fmt: skip
                if "Item" in error.fields:
                    failure["Item"] = error.fields["Item"]
                responses.append({"TableName": plan.table, "Error": failure})
                continue
            answer = {"TableName": plan.table}
            if out.get("Items"):
                answer["Item"] = out["Items"][0]
            responses.append(answer)
        return {"Responses": responses}

    async def execute_transaction(self, ctx: RequestContext, params: dict) -> dict:
        statements = params["TransactStatements"]
        if not 1 <= len(statements) <= MAX_TRANSACTION_STATEMENTS:
            raise validation(
                "1 validation error detected: Value at 'transactStatements' failed to satisfy "
                f"constraint: Member must have length less than or equal to "
                f"{MAX_TRANSACTION_STATEMENTS}"
            )
        plans = [self._plan(ctx, s["Statement"], s.get("Parameters")) for s in statements]
        kinds = {p.operation for p in plans}
        if kinds - {"GetItem", "PutItem", "UpdateItem", "DeleteItem"}:
            raise validation("Transaction read statements must specify the full primary key "
                             "with equality conditions")  # fmt: skip
        if "GetItem" in kinds and len(kinds) > 1:
            raise validation("Transaction statements must contain only reads or only writes")
        if kinds == {"GetItem"}:
            got = self.transact_get_items(
                ctx, {"TransactItems": [{"Get": p.params} for p in plans]}
            )
            return {"Responses": got["Responses"]}
        actions = []
        for plan, statement in zip(plans, statements, strict=True):
            body = dict(plan.params)
            if statement.get("ReturnValuesOnConditionCheckFailure"):
                body["ReturnValuesOnConditionCheckFailure"] = statement[
                    "ReturnValuesOnConditionCheckFailure"
                ]
            kind = {"PutItem": "Put", "UpdateItem": "Update", "DeleteItem": "Delete"}
            actions.append({kind[plan.operation]: body})
        request = {"TransactItems": actions}
        for name in ("ClientRequestToken", "ReturnConsumedCapacity"):
            if params.get(name) is not None:
                request[name] = params[name]
        try:
            out = await self.transact_write_items(ctx, request)
        except ServiceError as error:
            reasons = error.fields.get("CancellationReasons")
            if error.code != "TransactionCanceledException" or not reasons:
                raise
            for plan, reason in zip(plans, reasons, strict=True):
                if plan.operation == "PutItem" and reason["Code"] == "ConditionalCheckFailed":
                    reason["Code"] = "DuplicateItem"
                    reason["Message"] = "Duplicate primary key exists in table"
            raise ServiceError(
                error.code,
                "Transaction cancelled, please refer cancellation reasons for specific reasons "
                f"[{', '.join(r['Code'] for r in reasons)}]",
                CancellationReasons=reasons,
            ) from None
        return {k: v for k, v in out.items() if k == "ConsumedCapacity"}
