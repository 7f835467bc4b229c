"""CloudWatch Logs resource policies: PutResourcePolicy / DescribeResourcePolicies /
DeleteResourcePolicy, and ``resource_policy(arn)`` for IAM, so that services writing to
a log group as their service principal (EventBridge's log-group targets) are allowed
only where a policy says so, as in AWS. Account-level policies apply to every group of
the account and region; a policy given a ``resourceArn`` to that group only; IAM sees
their statements together."""

from __future__ import annotations

import json
import re
import time
import uuid

from sandlot.iam.authorizer import ResourcePolicy
from sandlot.iam.policy import MalformedPolicyError, compile_policy
from sandlot.protocol import ServiceError
from sandlot.services.logs.schema import RESOURCE_POLICIES
from sandlot.services.logs.validation import invalid_parameter
from sandlot.services.provider import Provider, RequestContext

MAX_POLICIES = 10  # per account and region (AWS's quota)
MAX_DOCUMENT = 5120
_GROUP = re.compile(r"(arn:aws[\w-]*:logs:[\w-]+:\d{12}:log-group:[^:]+)")


class ResourcePolicyOperations(Provider):
    def put_resource_policy(self, ctx: RequestContext, params: dict) -> dict:
        name, document = params.get("policyName"), params.get("policyDocument")
        if not name or not document:
            raise invalid_parameter("policyName and policyDocument are required.")
        if len(document) > MAX_DOCUMENT:
            raise invalid_parameter(f"policyDocument must be at most {MAX_DOCUMENT} characters.")
        try:
            compile_policy(document, "resource", "*")
        except MalformedPolicyError as error:
            raise invalid_parameter(f"Invalid policy document: {error}") from None
        resource = params.get("resourceArn") or ""
        where = {"account_id": ctx.account_id, "region": ctx.region}
        existing = self.platform.store.select(RESOURCE_POLICIES, where)
        if len(existing) >= MAX_POLICIES and not any(
            r["name"] == name and r["resource_arn"] == resource for r in existing
        ):
            raise ServiceError("LimitExceededException", "Resource limit exceeded.")
        row = {**where, "name": name, "resource_arn": resource, "document": document,
               "revision": uuid.uuid4().hex, "updated_ms": int(time.time() * 1000)}  # fmt: skip
        self.platform.store.put(RESOURCE_POLICIES, row)
        return {"resourcePolicy": _output(row), "revisionId": row["revision"]}

    def describe_resource_policies(self, ctx: RequestContext, params: dict) -> dict:
        rows = self.platform.store.select(
            RESOURCE_POLICIES,
            {"account_id": ctx.account_id, "region": ctx.region},
            order_by=("name",),
        )
        resource = params.get("resourceArn") or ""
        return {"resourcePolicies": [_output(r) for r in rows if r["resource_arn"] == resource]}

    def delete_resource_policy(self, ctx: RequestContext, params: dict) -> dict:
        key = (
            ctx.account_id,
            ctx.region,
            params.get("policyName") or "",
            params.get("resourceArn") or "",
        )
        if not self.platform.store.delete(RESOURCE_POLICIES, *key):
            raise ServiceError(
                "ResourceNotFoundException", "Policy with the provided name does not exist."
            )
        return {}

    def resource_policy(self, arn: str) -> ResourcePolicy | None:
        """The statements of every policy that applies to the log group (or stream) of
        ``arn``, as one document; None for other resources."""
        found = _GROUP.match(arn)
        if found is None:
            return None
        _, _, _, region, account, _ = arn.split(":", 5)
        group = found.group(1)
        statements: list = []
        for row in self.platform.store.select(
            RESOURCE_POLICIES, {"account_id": account, "region": region}
        ):
            if row["resource_arn"] and row["resource_arn"].removesuffix(":*") != group:
                continue
            given = json.loads(row["document"]).get("Statement") or []
            statements += given if isinstance(given, list) else [given]
        if not statements:
            return ResourcePolicy(None, account)
        document = json.dumps({"Version": "2012-10-17", "Statement": statements})
        return ResourcePolicy(document, account)


def _output(row: dict) -> dict:
    out = {
        "policyName": row["name"],
        "policyDocument": row["document"],
        "lastUpdatedTime": row["updated_ms"],
        "policyScope": "RESOURCE" if row["resource_arn"] else "ACCOUNT",
        "revisionId": row["revision"],
    }
    if row["resource_arn"]:
        out["resourceArn"] = row["resource_arn"]
    return out
