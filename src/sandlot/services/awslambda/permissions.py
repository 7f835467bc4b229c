"""Resource-based policies (AddPermission, RemovePermission, GetPolicy) and tags (of
functions, event source mappings and code signing configurations).

A function has one policy for itself (unqualified, also what $LATEST uses) and one per
published version and per alias. Changing a policy is a change of its version or
alias: it gets a new RevisionId, which GetPolicy reports and RevisionId checks use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from sandlot.iam.authorizer import ResourcePolicy
from sandlot.protocol import ServiceError
from sandlot.services.awslambda.arns import (
    LATEST,
    VERSION_NUMBER,
    function_arn,
    parse_function_name,
    parse_layer_version_arn,
)
from sandlot.services.awslambda.base import LambdaBase, validated
from sandlot.services.awslambda.configuration import new_revision
from sandlot.services.awslambda.policy import POLICY_MAX_BYTES, compact, document, statement
from sandlot.services.awslambda.schema import CODE_SIGNING_CONFIGS, MAPPINGS
from sandlot.services.awslambda.validation import (
    NO_SUCH_RESOURCE,
    check_tags,
    conflict,
    invalid,
    not_found,
    precondition_failed,
)
from sandlot.services.provider import RequestContext

_RESOURCE_POLICIES_MAX = 4096
CSC_ARN = re.compile(
    r"arn:aws[a-zA-Z-]*:lambda:([a-z0-9-]+):(\d{12}):code-signing-config:(csc-[a-z0-9]{17})"
)
MAPPING_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:([a-z0-9-]+):(\d{12}):event-source-mapping:(.+)$"
)


class PermissionOperations(LambdaBase):
    @validated
    def add_permission(self, ctx: RequestContext, params: dict) -> dict:
        account, region = ctx.account_id, ctx.region
        name, qualifier = self.locate(ctx, params["FunctionName"], params.get("Qualifier"))
        if qualifier == LATEST:
            raise invalid("We currently do not support adding policies for $LATEST.")
        key = self._policy_key(account, region, name, qualifier)
        self._check_revision(account, region, name, key, params.get("RevisionId"))
        statements = self.records.policy(account, region, name, key)
        if any(s["Sid"] == params["StatementId"] for s in statements):
            raise conflict(
                "The statement id (sid) provided already exists. Please provide a new "
                "statement id, or remove the existing statement."
            )
        added = statement(params, function_arn(region, account, name, qualifier))
        size = len(document([*statements, added]))
        if size > POLICY_MAX_BYTES:
            raise ServiceError(
                "PolicyLengthExceededException",
                f"The final policy size ({size}) is bigger than the limit ({POLICY_MAX_BYTES}).",
                400,
                Type="User",
            )
        with self.store.transaction():
            self.records.put_policy(account, region, name, key, [*statements, added])
            self._new_revision(account, region, name, key)
        return {"Statement": compact(added)}

    @validated
    def remove_permission(self, ctx: RequestContext, params: dict) -> dict:
        account, region = ctx.account_id, ctx.region
        name, qualifier = self.locate(ctx, params["FunctionName"], params.get("Qualifier"))
        key = self._policy_key(account, region, name, qualifier)
        self._check_revision(account, region, name, key, params.get("RevisionId"))
        statements = self.records.policy(account, region, name, key)
        kept = [s for s in statements if s["Sid"] != params["StatementId"]]
        if len(kept) == len(statements):
            raise not_found(f"Statement {params['StatementId']} is not found in resource policy.")
        with self.store.transaction():
            self.records.put_policy(account, region, name, key, kept)
            self._new_revision(account, region, name, key)
        return {}

    @validated
    def get_policy(self, ctx: RequestContext, params: dict) -> dict:
        account, region = ctx.account_id, ctx.region
        name, qualifier = self.locate(ctx, params["FunctionName"], params.get("Qualifier"))
        key = self._policy_key(account, region, name, qualifier)
        statements = self.records.policy(account, region, name, key)
        if not statements:
            raise not_found(NO_SUCH_RESOURCE)
        return {
            "Policy": document(statements),
            "RevisionId": self._revision(account, region, name, key),
        }

    def resource_policy(self, arn: str) -> ResourcePolicy | None:
        """The function's (version's, alias's) own policy, which IAM evaluates requests
        on ``arn`` against; None when the function does not exist. On the path of every
        evaluated Lambda request: cached until the next Lambda write."""
        cache = self.__dict__.setdefault("_resource_policies", {})
        generation = self.records.generation
        found = cache.get(arn)
        if found is not None and found[0] == generation:
            return found[1]
        if len(cache) >= _RESOURCE_POLICIES_MAX:
            cache.clear()
        policy = self._load_resource_policy(arn)
        cache[arn] = (generation, policy)
        return policy

    def _load_resource_policy(self, arn: str) -> ResourcePolicy | None:
        layer = parse_layer_version_arn(arn)
        if layer is not None:  # a layer version: its AddLayerVersionPermission policy
            if self.records.layer(layer.account, layer.region, layer.name, layer.version) is None:
                return None
            row = self.records.layer_policy(layer.account, layer.region, layer.name, layer.version)
            statements = json.loads(row["statements"]) if row else []
            return ResourcePolicy(document(statements) if statements else None, layer.account)
        ref = parse_function_name(arn)
        if ref is None or ref.account is None or ref.region is None:
            return None
        account, region, name = ref.account, ref.region, ref.name
        function = self.records.function(account, region, name)
        if function is None:
            return None
        key = ""
        if ref.qualifier not in (None, LATEST):
            key = ref.qualifier
            if not (
                self.version_or_none(account, region, name, key)
                or self.records.alias(account, region, name, key)
            ):
                return None
        statements = self.records.policy(account, region, name, key)
        tags = json.loads(function["tags"] or "{}")
        return ResourcePolicy(document(statements) if statements else None, account, tags=tags)

    def _policy_key(self, account: str, region: str, name: str, qualifier: str | None) -> str:
        """The policy a qualifier names ("" for the function itself); it must exist."""
        self.function(account, region, name)
        if qualifier in (None, LATEST):
            return ""
        found = self.version_or_none(account, region, name, qualifier) or self.records.alias(
            account, region, name, qualifier
        )
        if found is None:
            raise not_found(f"Function not found: {function_arn(region, account, name, qualifier)}")
        return qualifier

    def _holder(self, account: str, region: str, name: str, key: str) -> dict:
        """The version or alias row a policy belongs to."""
        if key and not VERSION_NUMBER.match(key):
            return self.records.alias(account, region, name, key)
        return self.records.version(account, region, name, int(key or 0))

    def _revision(self, account: str, region: str, name: str, key: str) -> str:
        return self._holder(account, region, name, key)["revision_id"]

    def _check_revision(
        self, account: str, region: str, name: str, key: str, revision: str | None
    ) -> None:
        if revision and revision != self._revision(account, region, name, key):
            raise precondition_failed()

    def _new_revision(self, account: str, region: str, name: str, key: str) -> None:
        row = {**self._holder(account, region, name, key), "revision_id": new_revision()}
        if key and not VERSION_NUMBER.match(key):
            self.records.put_alias(row)
        else:
            self.records.touch_version(row)

    # -- tags ---------------------------------------------------------------------------

    @validated
    def tag_resource(self, ctx: RequestContext, params: dict) -> dict:
        tags, save = self._tags_of(ctx, params["Resource"])
        check_tags(params["Tags"], existing=len(set(tags) - set(params["Tags"])))
        tags.update(params["Tags"])
        save(tags)
        return {}

    @validated
    def untag_resource(self, ctx: RequestContext, params: dict) -> dict:
        tags, save = self._tags_of(ctx, params["Resource"])
        for key in params["TagKeys"]:
            tags.pop(key, None)
        save(tags)
        return {}

    @validated
    def list_tags(self, ctx: RequestContext, params: dict) -> dict:
        tags, _ = self._tags_of(ctx, params["Resource"])
        return {"Tags": tags}

    def _tags_of(self, ctx: RequestContext, resource: str) -> tuple[dict, Callable[[dict], None]]:
        """The tags of a function or event source mapping ARN, and how to store new ones."""
        mapping = MAPPING_ARN.match(resource)
        if mapping is not None:
            region, account, uuid = mapping.groups()
            row = self.store.get(MAPPINGS, uuid)
            if row is None or (row["account"], row["region"]) != (account, region):
                raise not_found(NO_SUCH_RESOURCE)
            return json.loads(row["tags"]), lambda tags: self.store.put(
                MAPPINGS, {**row, "tags": json.dumps(tags)}
            )
        signing = CSC_ARN.fullmatch(resource)
        if signing is not None:
            region, account, csc_id = signing.groups()
            row = self.store.get(CODE_SIGNING_CONFIGS, account, region, csc_id)
            if row is None or (account, region) != (ctx.account_id, ctx.region):
                raise not_found(NO_SUCH_RESOURCE)
            return json.loads(row["tags"]), lambda tags: self.store.put(
                CODE_SIGNING_CONFIGS, {**row, "tags": json.dumps(tags)}
            )
        function = self._tagged(ctx, resource)
        return json.loads(function["tags"] or "{}"), lambda tags: self.records.put_function(
            {**function, "tags": json.dumps(tags)}
        )

    def _tagged(self, ctx: RequestContext, resource: str) -> dict:
        """The function a tagging operation's Resource ARN names (never a version or alias)."""
        name, qualifier = self.locate(ctx, resource)
        if qualifier is not None:
            raise invalid(
                "Tags on function aliases and versions are not supported. "
                "Please specify a function ARN."
            )
        return self.function(ctx.account_id, ctx.region, name)
