"""Macros: ``AWS::CloudFormation::Macro`` makes a Lambda function available to the
account's templates under a name (a ``cfn_macros`` row, as long as the resource
exists); a template's ``Transform`` naming it sends the template (without
``Transform``) to the function in AWS's request shape and takes the ``fragment`` it
answers. The function is invoked as the caller, as AWS impersonates the user running
the macro, so the caller needs ``lambda:InvokeFunction`` on it. ``Fn::Transform``
sends the map holding it (without the ``Fn::Transform`` key) with its ``Parameters`` as
``params``, and the answer replaces that map; the most deeply nested run first, the
template's ``Transform`` section last. Not done: ``LogGroupName``/``LogRoleARN``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sandlot.protocol import ServiceError
from sandlot.services.cloudformation.handlers import (
    Outcome,
    ResourceContext,
    ResourceFailed,
    ResourceType,
)
from sandlot.services.cloudformation.schema import MACROS


class MacroFailed(Exception):
    """A macro's function failed or answered something else than success; the message
    is the stack operation's validation error."""


class Macro(ResourceType):
    """``AWS::CloudFormation::Macro`` (Ref and GetAtt Id: the macro's name)."""

    type_name = "AWS::CloudFormation::Macro"

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        macro = properties["Name"]
        store = ctx.platform.store
        with store.transaction():
            existing = store.get(MACROS, ctx.account_id, ctx.region, macro)
            if existing is not None and existing["stack_id"] != ctx.stack_id:
                raise ResourceFailed(f"{macro} already exists in stack {existing['stack_id']}")
            store.put(MACROS, {"account_id": ctx.account_id, "region": ctx.region, "name": macro,
                               "function_name": properties["FunctionName"],
                               "stack_id": ctx.stack_id, "created": time.time()})  # fmt: skip
        return Outcome(macro, macro, {"Id": macro})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        return await self.create(ctx, properties, None)  # the name is create-only

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        store = ctx.platform.store
        with store.transaction():
            existing = store.get(MACROS, ctx.account_id, ctx.region, physical_id)
            if existing is not None and existing["stack_id"] == ctx.stack_id:
                store.delete(MACROS, ctx.account_id, ctx.region, physical_id)


def function_of(store, account_id: str, region: str, name: str) -> str | None:
    """The function the account's macro ``name`` runs, None when it has none."""
    row = store.get(MACROS, account_id, region, name)
    return row["function_name"] if row is not None else None


SNIPPET = "Fn::Transform"


def snippet_names(node: Any) -> list[str]:
    """The macro names ``Fn::Transform`` calls anywhere in ``node`` name."""
    if isinstance(node, list):
        return [name for item in node for name in snippet_names(item)]
    if not isinstance(node, dict):
        return []
    found = [name for value in node.values() for name in snippet_names(value)]
    calls = node.get(SNIPPET)
    for call in calls if isinstance(calls, list) else [calls] if calls is not None else []:
        if not isinstance(call, dict) or not isinstance(call.get("Name"), str):
            raise MacroFailed("Template format error: Fn::Transform requires a Name")
        found.append(call["Name"])
    return found


def uses_snippets(node: Any) -> bool:
    """Whether ``Fn::Transform`` appears anywhere in ``node`` (as a key)."""
    if isinstance(node, list):
        return any(uses_snippets(item) for item in node)
    if isinstance(node, dict):
        return SNIPPET in node or any(uses_snippets(v) for v in node.values())
    return False


Runner = Callable[[str, Any, dict], Awaitable[Any]]


async def expand_snippets(node: Any, run_one: Runner) -> Any:
    """``node`` with every ``Fn::Transform`` applied, the most deeply nested first:
    ``run_one(name, fragment, params)`` gives a macro's answer for a fragment."""
    if isinstance(node, list):
        return [await expand_snippets(item, run_one) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: await expand_snippets(v, run_one) for k, v in node.items() if k != SNIPPET}
    calls = node.get(SNIPPET)
    for call in calls if isinstance(calls, list) else [calls] if calls is not None else []:
        out = await run_one(call["Name"], out, call.get("Parameters") or {})
    return out


async def run(platform, principal, region: str, name: str, function: str, template: Any,
              parameter_values: dict, params: dict | None = None) -> Any:  # fmt: skip
    """The fragment (a template, or a snippet's map) as the macro's function returns
    it."""
    request_id = str(uuid.uuid4())
    event = {
        "region": region, "accountId": principal.account_id, "fragment": template,
        "transformId": f"{principal.account_id}::{name}", "params": params or {},
        "requestId": request_id, "templateParameterValues": parameter_values,
    }  # fmt: skip
    failed = f"Transform {principal.account_id}::{name} failed with: "
    try:
        answer = await platform.call("lambda", "Invoke",
                                     {"FunctionName": function, "Payload": json.dumps(event).encode()},
                                     principal=principal, region=region)  # fmt: skip
    except ServiceError as e:
        raise MacroFailed(failed + (e.message or e.code)) from e
    payload = answer["Payload"]
    body = payload.read() if hasattr(payload, "read") else payload
    try:
        response = json.loads(body or b"null")
    except ValueError:
        response = None
    if answer.get("FunctionError"):
        message = response.get("errorMessage") if isinstance(response, dict) else None
        raise MacroFailed(failed + f"Function returned an error: {message or body!r}")
    if not isinstance(response, dict):
        raise MacroFailed(failed + "The response of the macro's function is not a JSON object")
    if str(response.get("status", "")).lower() != "success":
        raise MacroFailed(failed + str(response.get("errorMessage") or "Failed status"))
    if response.get("requestId") != request_id:
        raise MacroFailed(failed + "Response requestId does not match the request")
    if "fragment" not in response:
        raise MacroFailed(failed + "The response of the macro's function has no fragment")
    return response["fragment"]
