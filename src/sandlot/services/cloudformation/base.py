"""What every part of the CloudFormation provider shares: state, finding stacks, and
preparing a template for an operation (body, validation, parameters, capabilities)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from sandlot.protocol import ServiceError
from sandlot.protocol.http import FileBody
from sandlot.services.cloudformation import graph as graphs
from sandlot.services.cloudformation import macros, operations, parameters, schemas
from sandlot.services.cloudformation.callbacks import Callbacks
from sandlot.services.cloudformation.engine import principal_json
from sandlot.services.cloudformation.handlers import resource_type
from sandlot.services.cloudformation.intrinsics import IntrinsicError
from sandlot.services.cloudformation.schema import MIGRATIONS, STACKS
from sandlot.services.cloudformation.template import TemplateError, check_sections, parse
from sandlot.services.cloudformation.transform import (
    LANGUAGE_EXTENSIONS,
    SAM,
    TransformFailed,
    expand_language_extensions,
    expand_sam,
    warm,
)
from sandlot.services.provider import Provider, RequestContext

IAM_TYPES = {
    "AWS::IAM::Role": "RoleName", "AWS::IAM::Policy": None, "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::User": "UserName", "AWS::IAM::Group": "GroupName", "AWS::IAM::AccessKey": None,
    "AWS::IAM::InstanceProfile": "InstanceProfileName", "AWS::IAM::UserToGroupAddition": None,
}  # fmt: skip
MAX_BODY = 51_200
_STACK_NAME = re.compile(r"[a-zA-Z][-a-zA-Z0-9]*")


def validation(message: str) -> ServiceError:
    return ServiceError("ValidationError", message)


def timestamp(seconds: float | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(seconds, dt.UTC) if seconds else None


def loads(text: str | None, default: Any = None) -> Any:
    return json.loads(text) if text else default


@dataclass
class Prepared:
    """A template ready for an operation."""

    body: str  # as given
    processed: dict  # transforms applied
    chosen: dict[str, str]  # raw parameter values


class CloudFormationBase(Provider):
    service = "cloudformation"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        platform.store.migrate("cloudformation", MIGRATIONS)
        self._running: set[asyncio.Task] = set()
        self.callbacks = Callbacks(platform)  # custom resources' and wait handles' URLs
        self._warmed = False

    def validate(self, ctx: RequestContext, params: dict) -> None:
        """A new stack's name, checked as AWS does before anything else."""
        if not self._warmed:
            # The first request of a deploy (the SAM CLI's DescribeStacks) starts loading
            # the SAM translator in a thread, ready by the time its change set comes.
            self._warmed = True
            threading.Thread(target=warm, name="sam-warm", daemon=True).start()
        if ctx.operation in ("CreateStack", "CreateChangeSet"):
            name = params.get("StackName", "")
            if name.startswith("arn:") and ctx.operation == "CreateChangeSet":
                return
            if not _STACK_NAME.fullmatch(name) or len(name) > 128:
                raise validation(
                    f"1 validation error detected: Value '{name}' at 'stackName' failed to "
                    "satisfy constraint: Member must satisfy regular expression pattern: "
                    "[a-zA-Z][-a-zA-Z0-9]*"
                )

    async def start(self) -> None:
        """Operations a crash interrupted are rolled back or finished (in the background)."""
        self.launch(operations.recover(self.platform))

    def launch(self, work, stack_id: str | None = None) -> None:
        """Run a stack operation in the background (kept referenced until done)."""
        if stack_id is not None:
            work = operations.guarded(self.platform, stack_id, work)
        task = asyncio.ensure_future(work)
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    # ---- finding stacks ---------------------------------------------------------------
    def find_stack(
        self, ctx: RequestContext, name_or_id: str, *, deleted: bool = False
    ) -> dict | None:
        """A live stack by name, or any stack (also deleted) by its id."""
        if name_or_id.startswith("arn:"):
            row = self.platform.store.get(STACKS, name_or_id)
            if row and row["account_id"] == ctx.account_id and row["region"] == ctx.region:
                return row if deleted or not row["deleted"] else row
            return None
        for row in self.platform.store.select(
            STACKS, {"account_id": ctx.account_id, "region": ctx.region, "name": name_or_id}
        ):
            if not row["deleted"]:
                return row
        return None

    def stack(self, ctx: RequestContext, name_or_id: str) -> dict:
        row = self.find_stack(ctx, name_or_id)
        if row is None:
            raise validation(f"Stack with id {name_or_id} does not exist")
        return row

    def new_stack(self, ctx: RequestContext, params: dict, status: str) -> dict:
        name = params["StackName"]
        stack = {
            "stack_id": f"arn:aws:cloudformation:{ctx.region}:{ctx.account_id}:stack/{name}/{uuid.uuid4()}",
            "account_id": ctx.account_id, "region": ctx.region, "name": name, "status": status,
            "reason": "User Initiated", "template": None, "processed": None, "parameters": "{}",
            "outputs": "[]", "capabilities": json.dumps(params.get("Capabilities") or []),
            "tags": json.dumps(params.get("Tags") or []), "role_arn": params.get("RoleARN"),
            "principal": principal_json(self.principal(ctx, params.get("RoleARN"))),
            "description": None, "disable_rollback": int(bool(params.get("DisableRollback"))),
            "termination_protection": int(bool(params.get("EnableTerminationProtection"))),
            "created": time.time(), "updated": None, "deleted": None, "previous": None,
        }  # fmt: skip
        return stack

    def principal(self, ctx: RequestContext, role_arn: str | None):
        """Who the stack's resources are made as: the caller, or the service role."""
        if not role_arn:
            return ctx.principal
        iam = self.platform.provider("iam")
        role = iam.role(role_arn) if iam is not None else None
        if role is None:
            raise validation(f"Role {role_arn} is invalid or cannot be assumed")
        return self.platform.function_principal(role_arn, "AWSCloudFormation")

    # ---- templates ----------------------------------------------------------------
    async def template_body(
        self, ctx: RequestContext, params: dict, stack: dict | None = None
    ) -> str:
        if params.get("UsePreviousTemplate"):
            if stack is None or not stack["template"]:
                raise validation("UsePreviousTemplate is only valid for an existing stack")
            return stack["template"]
        body, url = params.get("TemplateBody"), params.get("TemplateURL")
        if (body is None) == (url is None):
            raise validation("Either Template URL or Template Body must be specified.")
        if body is not None:
            if len(body.encode()) > MAX_BODY:
                raise validation(
                    f"1 validation error detected: Value '{body[:20]}...' at 'templateBody' failed to "
                    f"satisfy constraint: Member must have length less than or equal to {MAX_BODY}"
                )
            return body
        return await self._fetch(ctx, url)

    async def _fetch(self, ctx: RequestContext, url: str) -> str:
        """A TemplateURL: an S3 object (path- or virtual-host-style URL), read as the caller."""
        parts = urlsplit(url)
        host, path = parts.hostname or "", unquote(parts.path.lstrip("/"))
        if ".s3" in host and not host.startswith("s3"):
            bucket, key = host.split(".s3", 1)[0], path
        else:
            bucket, _, key = path.partition("/")
        if not bucket or not key:
            raise validation("TemplateURL must be a supported URL.")
        try:
            result = await self.platform.call(
                "s3",
                "GetObject",
                {"Bucket": bucket, "Key": key},
                principal=ctx.principal,
                region=ctx.region,
            )
        except ServiceError as e:
            raise validation(f"S3 error: {e.message or e.code}") from e
        body = result["Body"]
        if isinstance(body, FileBody):
            with body.file as f:
                f.seek(body.offset)
                data = f.read(body.length)
        else:
            data = body if isinstance(body, bytes) else bytes(body)
        return data.decode()

    async def process(
        self, template: dict, ctx: RequestContext, given: list[dict] | None = None
    ) -> dict:
        """Transforms applied in the order declared: the SAM transform and
        AWS::LanguageExtensions (``transform.py``), and the account's macros
        (``macros.py``); an AWS transform sandlot lacks is refused, a macro the account
        does not have is AWS's "No transform named …"."""
        declared = template.get("Transform")
        names = [declared] if isinstance(declared, str) else list(declared or [])
        try:
            snippets = macros.snippet_names(template)
        except macros.MacroFailed as e:
            raise validation(str(e)) from e
        if not names and not snippets:
            return template
        unknown = [str(n) for n in [*snippets, *names]
                   if str(n).startswith("AWS::") and n not in (SAM, LANGUAGE_EXTENSIONS)]  # fmt: skip
        if unknown or set(snippets) & {SAM, LANGUAGE_EXTENSIONS}:
            raise validation(
                f"Template format error: Unrecognized transform(s) [{', '.join(unknown or snippets)}]"
            )
        functions = {
            n: macros.function_of(self.platform.store, ctx.account_id, ctx.region, str(n))
            for n in [*snippets, *names] if n not in (SAM, LANGUAGE_EXTENSIONS)
        }  # fmt: skip
        for name, function in functions.items():
            if function is None:
                raise validation(f"No transform named {ctx.account_id}::{name} found.")
        values = {
            p["ParameterKey"]: p["ParameterValue"] for p in given or [] if "ParameterValue" in p
        }
        for name, definition in (template.get("Parameters") or {}).items():
            if name not in values and "Default" in definition:
                values[name] = definition["Default"]
        parameter_values = dict(values)
        values.update({"AWS::Region": ctx.region, "AWS::AccountId": ctx.account_id})

        async def run_macro(name: str, fragment, params: dict):
            return await macros.run(self.platform, ctx.principal, ctx.region, name,
                                    functions[name], fragment, parameter_values, params)  # fmt: skip

        processed = {k: v for k, v in template.items() if k != "Transform"}
        try:
            # The most deeply nested first (Fn::Transform), then the Transform section
            # in the order declared, as AWS evaluates them.
            processed = await macros.expand_snippets(processed, run_macro)
            for name in names:
                if name == LANGUAGE_EXTENSIONS:
                    processed = expand_language_extensions(processed, values)
                elif name == SAM:
                    processed = expand_sam({**processed, "Transform": SAM}, ctx.region, values)
                else:
                    processed = await run_macro(name, processed, {})
        except (TransformFailed, macros.MacroFailed) as e:
            raise validation(str(e)) from e
        if not isinstance(processed, dict):
            raise validation(
                "Template format error: a macro returned a template that is not a JSON object"
            )
        return processed

    def check_template(self, template: dict) -> None:
        """The checks AWS makes before any resource is touched."""
        try:
            check_sections(template)
            graphs.dependencies(template)
        except TemplateError as e:
            raise validation(str(e)) from e
        unknown = sorted(
            {r["Type"] for r in template["Resources"].values()
             if schemas.schema(r["Type"]) is None and not _custom(r["Type"])}
        )  # fmt: skip
        if unknown:
            raise validation(
                f"Template format error: Unrecognized resource types: [{', '.join(unknown)}]"
            )
        for resource in template["Resources"].values():
            for target, attribute in _get_atts(resource.get("Properties")):
                kind = template["Resources"].get(target, {}).get("Type", "")
                handler = resource_type(kind)
                known = schemas.attributes(kind) | (handler.extra_attributes if handler else set())
                nested = kind == "AWS::CloudFormation::Stack" and attribute.startswith("Outputs.")
                if known and attribute not in known and not _custom(kind) and not nested:
                    raise validation(
                        f"Template error: resource {target} does not support attribute type {attribute} in Fn::GetAtt"
                    )

    async def prepare(self, ctx: RequestContext, params: dict, stack: dict | None) -> Prepared:
        body = await self.template_body(ctx, params, stack)
        try:
            template = parse(body)
        except TemplateError as e:
            raise validation(str(e)) from e
        # A stack operation (not a change set) on a template with a transform needs
        # CAPABILITY_AUTO_EXPAND, as AWS asks.
        expand = "CAPABILITY_AUTO_EXPAND" in (params.get("Capabilities") or [])
        transformed = template.get("Transform") or macros.uses_snippets(template)
        if transformed and not params.get("ChangeSetName") and not expand:
            raise ServiceError(
                "InsufficientCapabilitiesException",
                "Requires capabilities : [CAPABILITY_AUTO_EXPAND]",
            )
        processed = await self.process(template, ctx, params.get("Parameters"))
        self.check_template(processed)
        previous = loads(stack["parameters"], {}) if stack else {}
        definitions = processed.get("Parameters") or {}
        try:
            chosen = parameters.choose(definitions, params.get("Parameters") or [], previous)
        except TemplateError as e:
            raise validation(str(e)) from e
        for name, definition in definitions.items():
            if parameters.is_ssm(definition):
                chosen[parameters.resolved_key(name)] = await self._ssm_value(ctx, chosen[name])
        self.check_capabilities(processed, params.get("Capabilities") or [])
        return Prepared(body, processed, chosen)

    async def _ssm_value(self, ctx: RequestContext, name: str) -> str:
        try:
            result = await self.platform.call(
                "ssm", "GetParameter", {"Name": name}, principal=ctx.principal, region=ctx.region
            )
        except ServiceError as e:
            raise validation(
                f"Unable to fetch parameters [{name}] from parameter store for this account."
            ) from e
        return result["Parameter"]["Value"]

    def check_capabilities(self, template: dict, given: list[str]) -> None:
        needed = None
        for resource in template["Resources"].values():
            kind = resource["Type"]
            if kind in IAM_TYPES:
                named = IAM_TYPES[kind] and (resource.get("Properties") or {}).get(IAM_TYPES[kind])
                if named:
                    needed = "CAPABILITY_NAMED_IAM"
                    break
                needed = needed or "CAPABILITY_IAM"
        if needed == "CAPABILITY_NAMED_IAM" and "CAPABILITY_NAMED_IAM" not in given:
            raise ServiceError(
                "InsufficientCapabilitiesException",
                "Requires capabilities : [CAPABILITY_NAMED_IAM]",
            )
        if needed == "CAPABILITY_IAM" and not {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"} & set(
            given
        ):
            raise ServiceError(
                "InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_IAM]"
            )

    def accept_callback(self, path: str, method: str, body: bytes) -> None:
        """A PUT to a callback URL (a custom resource's answer, a wait condition's
        signal); S3-shaped ServiceErrors, as AWS's presigned S3 URLs answer."""
        self.callbacks.accept(path, method, body)

    def render_error(self, error: Exception) -> ServiceError:
        if isinstance(error, TemplateError | IntrinsicError):
            return validation(str(error))
        return error  # type: ignore[return-value]


def _custom(type_name: str) -> bool:
    return type_name.startswith("Custom::") or type_name == "AWS::CloudFormation::CustomResource"


def _get_atts(value: Any):
    if isinstance(value, dict):
        if len(value) == 1 and "Fn::GetAtt" in value:
            argument = value["Fn::GetAtt"]
            if isinstance(argument, str):
                argument = argument.split(".", 1)
            if (
                isinstance(argument, list)
                and len(argument) == 2
                and all(isinstance(a, str) for a in argument)
            ):
                yield argument[0], argument[1]
            return
        for item in value.values():
            yield from _get_atts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _get_atts(item)
