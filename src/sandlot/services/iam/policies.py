"""Managed policies (customer and AWS), their versions, inline policies and attachments."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from sandlot.protocol import ServiceError
from sandlot.services.iam import managed_policies
from sandlot.services.iam.base import (
    IamBase,
    already_exists,
    check_document,
    check_modifiable,
    check_size,
    check_tags,
    checked,
    delete_conflict,
    encode_document,
    invalid_input,
    limit_exceeded,
    merge_tags,
    new_id,
    no_such_entity,
    page,
    remove_tags,
    timestamp,
)
from sandlot.services.iam.schema import ATTACHMENTS, ENTITIES, INLINE, POLICIES, VERSIONS
from sandlot.services.provider import RequestContext

POLICY_ARN = re.compile(r"^arn:aws:iam::(\d{12}|aws):policy(/(?:[\w+=,.@-]+/)*)([\w+=,.@-]+)$")
MAX_VERSIONS = 5
MANAGED_POLICY_SIZE = 6144
ATTACHED_PER_ENTITY = 10
# IAM's quotas on the inline policies of one entity (characters without whitespace).
INLINE_SIZE = {"user": 2048, "group": 5120, "role": 10240}
_NAME_PARAM = {"user": "UserName", "group": "GroupName", "role": "RoleName"}
_QUOTA = {"user": "PoliciesPerUser", "group": "PoliciesPerGroup", "role": "PoliciesPerRole"}


_SERVICE_ROLE_POLICIES = "arn:aws:iam::aws:policy/aws-service-role/"


def _not_attachable(arn: str) -> ServiceError:
    return no_such_entity(f"Policy {arn} does not exist or is not attachable.")


class Policies(IamBase):
    """Managed and inline policies and where they are attached."""

    # -- lookups shared with simulation -------------------------------------------------

    def policy_row(self, account: str, arn: str) -> dict:
        """A customer managed policy of ``account`` or an AWS managed one, as a row-like
        dict with its default document; NoSuchEntity when neither exists."""
        match = POLICY_ARN.match(arn)
        if match is None:
            raise invalid_input(f"ARN {arn} is not valid.")
        if match.group(1) == "aws":
            aws = _aws_policy(arn)
            if aws is None:
                raise _not_attachable(arn)
            return {**_aws_row(aws), "document": aws.document}
        row = self.store.get(POLICIES, account, arn) if match.group(1) == account else None
        if row is None:
            raise _not_attachable(arn)
        version = self.store.get(VERSIONS, account, arn, row["default_version"])
        return {**row, "document": version["document"]}

    def policy_document(self, account: str, arn: str) -> str:
        return self.policy_row(account, arn)["document"]

    def _customer_policy(self, account: str, arn: str) -> dict:
        """A customer managed policy to change; AWS managed ones cannot be changed."""
        row = self.policy_row(account, arn)
        if row["account_id"] == "aws":
            raise ServiceError(
                "AccessDenied", f"Policy {arn} is an AWS managed policy and cannot be changed.", 403
            )
        return row

    def _policy_output(
        self, account: str, row: dict, *, tags: bool = False, usage: _Usage | None = None
    ) -> dict:
        arn = row["arn"]
        usage = usage or self._usage(account, arn)
        out = {
            "PolicyName": row["name"],
            "PolicyId": row["policy_id"],
            "Arn": arn,
            "Path": row["path"],
            "DefaultVersionId": row["default_version"],
            "AttachmentCount": usage.attachments.get(arn, 0),
            "PermissionsBoundaryUsageCount": usage.boundaries.get(arn, 0),
            "IsAttachable": True,
            "CreateDate": timestamp(row["created_at"]),
            "UpdateDate": timestamp(row["updated_at"]),
        }
        if tags:
            if row.get("description"):
                out["Description"] = row["description"]
            if found := json.loads(row["tags"]):
                out["Tags"] = found
        return out

    def _usage(self, account: str, arn: str | None = None) -> _Usage:
        """How often policies of ``account`` are attached and used as boundaries: one
        policy's (``arn``) or all of them at once (for listings)."""
        attached = {"account_id": account, **({"policy_arn": arn} if arn else {})}
        bounded = {"account_id": account, **({"permissions_boundary": arn} if arn else {})}
        usage = _Usage({}, {})
        for row in self.store.select(ATTACHMENTS, attached):
            usage.attachments[row["policy_arn"]] = usage.attachments.get(row["policy_arn"], 0) + 1
        for row in self.store.select(ENTITIES, bounded):
            if boundary := row["permissions_boundary"]:
                usage.boundaries[boundary] = usage.boundaries.get(boundary, 0) + 1
        return usage

    # -- managed policies ---------------------------------------------------------------

    @checked
    def create_policy(self, ctx: RequestContext, params: dict) -> dict:
        account, name = ctx.account_id, params["PolicyName"]
        document, path = params["PolicyDocument"], params.get("Path", "/")
        check_document(document)
        check_size(
            document,
            MANAGED_POLICY_SIZE,
            f"Cannot exceed quota for PolicySize: {MANAGED_POLICY_SIZE}",
        )
        tags = params.get("Tags", [])
        check_tags(tags)
        now = self.clock()
        arn = f"arn:aws:iam::{account}:policy{path}{name}"
        # Policy names are unique per account whatever their path.
        if any(r["name"].lower() == name.lower() for r in self._account_policies(account)):
            raise already_exists(
                f"A policy called {name} already exists. Duplicate names are not allowed."
            )
        row = {
            "account_id": account, "arn": arn, "name": name, "path": path,
            "policy_id": new_id("policy"), "description": params.get("Description"),
            "default_version": "v1", "next_version": 2, "created_at": now,
            "updated_at": now, "tags": json.dumps(tags),
        }  # fmt: skip
        with self.store.transaction():
            self.store.put(POLICIES, row)
            self.store.put(VERSIONS, _version(account, arn, 1, document, now))
        out = self._policy_output(account, row)
        if tags:
            out["Tags"] = tags
        return {"Policy": out}

    def _account_policies(self, account: str) -> list[dict]:
        return self.store.select(POLICIES, {"account_id": account}, order_by=("name",))

    @checked
    def get_policy(self, ctx: RequestContext, params: dict) -> dict:
        row = self._existing(ctx.account_id, params["PolicyArn"])
        return {"Policy": self._policy_output(ctx.account_id, row, tags=True)}

    def _existing(self, account: str, arn: str) -> dict:
        try:
            return self.policy_row(account, arn)
        except ServiceError as error:
            if error.code == "NoSuchEntity":
                raise no_such_entity(f"Policy {arn} was not found.") from None
            raise

    @checked
    def list_policies(self, ctx: RequestContext, params: dict) -> dict:
        account, scope = ctx.account_id, params.get("Scope", "All")
        rows: list[dict] = []
        if scope in ("All", "AWS"):
            rows += [_aws_row(p) for p in _aws_policies()]
        if scope in ("All", "Local"):
            rows += self._account_policies(account)
        prefix = params.get("PathPrefix", "/")
        usage = self._usage(account)
        if params.get("OnlyAttached"):
            rows = [r for r in rows if r["arn"] in usage.attachments]
        outputs = [
            self._policy_output(account, r, usage=usage)
            for r in rows
            if r["path"].startswith(prefix)
        ]
        for out in outputs:
            out["_key"] = out["PolicyName"].lower() + " " + out["Arn"]
        outputs.sort(key=lambda o: o["_key"])
        chosen, more = page(outputs, params, "_key")
        for out in chosen:
            del out["_key"]
        return {"Policies": chosen, **more}

    @checked
    def delete_policy(self, ctx: RequestContext, params: dict) -> dict:
        account, arn = ctx.account_id, params["PolicyArn"]
        self._customer_policy(account, arn)
        if self.store.count(ATTACHMENTS, {"account_id": account, "policy_arn": arn}):
            raise delete_conflict("Cannot delete a policy attached to entities.")
        versions = self.store.select(VERSIONS, {"account_id": account, "policy_arn": arn})
        if len(versions) > 1:
            raise delete_conflict(
                "This policy has more than one version. Before you delete a policy, you must "
                "delete the policy's versions. The default version is deleted with the policy."
            )
        with self.store.transaction():
            for version in versions:
                self.store.delete(VERSIONS, account, arn, version["version_id"])
            self.store.delete(POLICIES, account, arn)
        return {}

    # -- versions -------------------------------------------------------------------------

    @checked
    def create_policy_version(self, ctx: RequestContext, params: dict) -> dict:
        account, arn, document = ctx.account_id, params["PolicyArn"], params["PolicyDocument"]
        check_document(document)
        check_size(
            document,
            MANAGED_POLICY_SIZE,
            f"Cannot exceed quota for PolicySize: {MANAGED_POLICY_SIZE}",
        )
        with self.store.transaction():
            row = self._customer_policy(account, arn)
            row.pop("document")
            if (
                self.store.count(VERSIONS, {"account_id": account, "policy_arn": arn})
                >= MAX_VERSIONS
            ):
                raise limit_exceeded(
                    f"A managed policy can have up to {MAX_VERSIONS} versions. Before you create "
                    "a new version, you must delete an existing version."
                )
            now = self.clock()
            version = _version(account, arn, row["next_version"], document, now)
            self.store.put(VERSIONS, version)
            row["next_version"] += 1
            row["updated_at"] = now
            if params.get("SetAsDefault"):
                row["default_version"] = version["version_id"]
            self.store.put(POLICIES, row)
        return {"PolicyVersion": _version_output(version, row, document=False)}

    @checked
    def get_policy_version(self, ctx: RequestContext, params: dict) -> dict:
        row, version = self._version(ctx.account_id, params["PolicyArn"], params["VersionId"])
        return {"PolicyVersion": _version_output(version, row, document=True)}

    def _version(self, account: str, arn: str, version_id: str) -> tuple[dict, dict]:
        row = self._existing(account, arn)
        if row["account_id"] == "aws":
            version = None
            aws = _aws_policy(arn)
            created = dict(aws.versions).get(version_id) if aws else None
            document = aws.version_document(version_id) if created is not None else None
            if document is not None:
                version = {"version_id": version_id, "document": document, "created_at": created}
        else:
            version = self.store.get(VERSIONS, account, arn, version_id)
        if version is None:
            raise no_such_entity(
                f"Policy {arn} version {version_id} does not exist or is not attachable."
            )
        return row, version

    @checked
    def list_policy_versions(self, ctx: RequestContext, params: dict) -> dict:
        account, arn = ctx.account_id, params["PolicyArn"]
        row = self._existing(account, arn)
        if row["account_id"] == "aws":
            versions = [
                {"version_id": vid, "number": int(vid[1:]), "created_at": created}
                for vid, created in _aws_policy(arn).versions
            ]
        else:
            versions = self.store.select(VERSIONS, {"account_id": account, "policy_arn": arn})
        versions.sort(key=lambda v: -v["number"])  # newest first, as AWS lists them
        for v in versions:
            v["_key"] = f"{10**6 - v['number']:07d}"
        chosen, more = page(versions, params, "_key")
        return {"Versions": [_version_output(v, row, document=False) for v in chosen], **more}

    @checked
    def delete_policy_version(self, ctx: RequestContext, params: dict) -> dict:
        account, arn, version_id = ctx.account_id, params["PolicyArn"], params["VersionId"]
        row = self._customer_policy(account, arn)
        self._version(account, arn, version_id)
        if version_id == row["default_version"]:
            raise delete_conflict("Cannot delete the default version of a policy.")
        self.store.delete(VERSIONS, account, arn, version_id)
        return {}

    @checked
    def set_default_policy_version(self, ctx: RequestContext, params: dict) -> dict:
        account, arn, version_id = ctx.account_id, params["PolicyArn"], params["VersionId"]
        with self.store.transaction():
            row = self._customer_policy(account, arn)
            self._version(account, arn, version_id)
            row.pop("document")
            row["default_version"] = version_id
            row["updated_at"] = self.clock()
            self.store.put(POLICIES, row)
        return {}

    # -- policy tags ----------------------------------------------------------------------

    @checked
    def tag_policy(self, ctx: RequestContext, params: dict) -> dict:
        with self.store.transaction():
            row = self._customer_policy(ctx.account_id, params["PolicyArn"])
            row.pop("document")
            merged = merge_tags(json.loads(row["tags"]), params["Tags"])
            check_tags(merged)
            row["tags"] = json.dumps(merged)
            self.store.put(POLICIES, row)
        return {}

    @checked
    def untag_policy(self, ctx: RequestContext, params: dict) -> dict:
        with self.store.transaction():
            row = self._customer_policy(ctx.account_id, params["PolicyArn"])
            row.pop("document")
            row["tags"] = json.dumps(remove_tags(json.loads(row["tags"]), params["TagKeys"]))
            self.store.put(POLICIES, row)
        return {}

    @checked
    def list_policy_tags(self, ctx: RequestContext, params: dict) -> dict:
        row = self._existing(ctx.account_id, params["PolicyArn"])
        return {"Tags": json.loads(row["tags"]), "IsTruncated": False}

    # -- inline policies --------------------------------------------------------------------

    def _put_inline(self, ctx: RequestContext, kind: str, params: dict) -> dict:
        entity = self.entity(ctx.account_id, kind, params[_NAME_PARAM[kind]])
        check_modifiable(entity)
        document = params["PolicyDocument"]
        check_document(document)
        limit = INLINE_SIZE[kind]
        check_size(
            document,
            limit,
            f"Maximum policy size of {limit} bytes exceeded for {kind} {entity['name']}",
        )
        self.store.put(
            INLINE,
            {
                "account_id": ctx.account_id, "kind": kind, "name_key": entity["name_key"],
                "policy_name": params["PolicyName"], "document": document,
            },
        )  # fmt: skip
        return {}

    def _get_inline(self, ctx: RequestContext, kind: str, params: dict) -> dict:
        entity = self.entity(ctx.account_id, kind, params[_NAME_PARAM[kind]])
        name = params["PolicyName"]
        row = self.store.get(INLINE, ctx.account_id, kind, entity["name_key"], name)
        if row is None:
            raise no_such_entity(f"The {kind} policy with name {name} cannot be found.")
        return {
            _NAME_PARAM[kind]: entity["name"],
            "PolicyName": name,
            "PolicyDocument": encode_document(row["document"]),
        }

    def _delete_inline(self, ctx: RequestContext, kind: str, params: dict) -> dict:
        entity = self.entity(ctx.account_id, kind, params[_NAME_PARAM[kind]])
        check_modifiable(entity)
        name = params["PolicyName"]
        if not self.store.delete(INLINE, ctx.account_id, kind, entity["name_key"], name):
            raise no_such_entity(f"The {kind} policy with name {name} cannot be found.")
        return {}

    def _list_inline(self, ctx: RequestContext, kind: str, params: dict) -> dict:
        entity = self.entity(ctx.account_id, kind, params[_NAME_PARAM[kind]])
        rows = self.inline_policies(ctx.account_id, kind, entity["name_key"])
        chosen, more = page(rows, params, "policy_name")
        return {"PolicyNames": [r["policy_name"] for r in chosen], **more}

    def inline_policies(self, account: str, kind: str, key: str) -> list[dict]:
        where = {"account_id": account, "kind": kind, "name_key": key}
        return self.store.select(INLINE, where, order_by=("policy_name",))

    @checked
    def put_user_policy(self, ctx: RequestContext, params: dict) -> dict:
        return self._put_inline(ctx, "user", params)

    @checked
    def get_user_policy(self, ctx: RequestContext, params: dict) -> dict:
        return self._get_inline(ctx, "user", params)

    @checked
    def delete_user_policy(self, ctx: RequestContext, params: dict) -> dict:
        return self._delete_inline(ctx, "user", params)

    @checked
    def list_user_policies(self, ctx: RequestContext, params: dict) -> dict:
        return self._list_inline(ctx, "user", params)

    @checked
    def put_group_policy(self, ctx: RequestContext, params: dict) -> dict:
        return self._put_inline(ctx, "group", params)

    @checked
    def get_group_policy(self, ctx: RequestContext, params: dict) -> dict:
        return self._get_inline(ctx, "group", params)

    @checked
    def delete_group_policy(self, ctx: RequestContext, params: dict) -> dict:
        return self._delete_inline(ctx, "group", params)

    @checked
    def list_group_policies(self, ctx: RequestContext, params: dict) -> dict:
        return self._list_inline(ctx, "group", params)

    @checked
    def put_role_policy(self, ctx: RequestContext, params: dict) -> dict:
        return self._put_inline(ctx, "role", params)

    @checked
    def get_role_policy(self, ctx: RequestContext, params: dict) -> dict:
        return self._get_inline(ctx, "role", params)

    @checked
    def delete_role_policy(self, ctx: RequestContext, params: dict) -> dict:
        return self._delete_inline(ctx, "role", params)

    @checked
    def list_role_policies(self, ctx: RequestContext, params: dict) -> dict:
        return self._list_inline(ctx, "role", params)

    # -- attachments ------------------------------------------------------------------------

    def _attach(self, ctx: RequestContext, kind: str, params: dict) -> dict:
        account, arn = ctx.account_id, params["PolicyArn"]
        with self.store.transaction():
            entity = self.entity(account, kind, params[_NAME_PARAM[kind]])
            check_modifiable(entity)
            self.policy_row(account, arn)
            if arn.startswith(_SERVICE_ROLE_POLICIES):  # its service attaches it
                raise ServiceError(
                    "PolicyNotAttachable", "Cannot attach a Service Role Policy to a Customer Role."
                )
            key = entity["name_key"]
            where = {"account_id": account, "kind": kind, "name_key": key}
            attached = {a["policy_arn"] for a in self.store.select(ATTACHMENTS, where)}
            if arn not in attached and len(attached) >= ATTACHED_PER_ENTITY:
                raise limit_exceeded(
                    f"Cannot exceed quota for {_QUOTA[kind]}: {ATTACHED_PER_ENTITY}"
                )
            row = {**where, "policy_arn": arn, "attached_at": self.clock()}
            self.store.put(ATTACHMENTS, row, replace=False)
        return {}

    def _detach(self, ctx: RequestContext, kind: str, params: dict) -> dict:
        account, arn = ctx.account_id, params["PolicyArn"]
        entity = self.entity(account, kind, params[_NAME_PARAM[kind]])
        check_modifiable(entity)
        if POLICY_ARN.match(arn) is None:
            raise invalid_input(f"ARN {arn} is not valid.")
        if not self.store.delete(ATTACHMENTS, account, kind, entity["name_key"], arn):
            raise no_such_entity(f"Policy {arn} was not found.")
        return {}

    def _list_attached(self, ctx: RequestContext, kind: str, params: dict) -> dict:
        entity = self.entity(ctx.account_id, kind, params[_NAME_PARAM[kind]])
        prefix = params.get("PathPrefix", "/")
        rows = []
        for arn in self.attached_policies(ctx.account_id, kind, entity["name_key"]):
            match = POLICY_ARN.match(arn)
            if match and match.group(2).startswith(prefix):
                rows.append({"PolicyName": match.group(3), "PolicyArn": arn})
        rows.sort(key=lambda r: r["PolicyArn"])
        chosen, more = page(rows, params, "PolicyArn")
        return {"AttachedPolicies": chosen, **more}

    def attached_policies(self, account: str, kind: str, key: str) -> list[str]:
        where = {"account_id": account, "kind": kind, "name_key": key}
        return [
            a["policy_arn"]
            for a in self.store.select(ATTACHMENTS, where, order_by=("attached_at",))
        ]

    @checked
    def attach_user_policy(self, ctx: RequestContext, params: dict) -> dict:
        return self._attach(ctx, "user", params)

    @checked
    def detach_user_policy(self, ctx: RequestContext, params: dict) -> dict:
        return self._detach(ctx, "user", params)

    @checked
    def list_attached_user_policies(self, ctx: RequestContext, params: dict) -> dict:
        return self._list_attached(ctx, "user", params)

    @checked
    def attach_group_policy(self, ctx: RequestContext, params: dict) -> dict:
        return self._attach(ctx, "group", params)

    @checked
    def detach_group_policy(self, ctx: RequestContext, params: dict) -> dict:
        return self._detach(ctx, "group", params)

    @checked
    def list_attached_group_policies(self, ctx: RequestContext, params: dict) -> dict:
        return self._list_attached(ctx, "group", params)

    @checked
    def attach_role_policy(self, ctx: RequestContext, params: dict) -> dict:
        return self._attach(ctx, "role", params)

    @checked
    def detach_role_policy(self, ctx: RequestContext, params: dict) -> dict:
        return self._detach(ctx, "role", params)

    @checked
    def list_attached_role_policies(self, ctx: RequestContext, params: dict) -> dict:
        return self._list_attached(ctx, "role", params)

    @checked
    def list_entities_for_policy(self, ctx: RequestContext, params: dict) -> dict:
        account, arn = ctx.account_id, params["PolicyArn"]
        self._existing(account, arn)
        wanted = params.get("EntityFilter", "")
        prefix = params.get("PathPrefix", "/")
        found: dict[str, list[dict]] = {"user": [], "group": [], "role": []}
        for link in self.store.select(ATTACHMENTS, {"account_id": account, "policy_arn": arn}):
            kind = link["kind"]
            if wanted and wanted.lower() not in (kind, "localmanagedpolicy", "awsmanagedpolicy"):
                continue
            row = self.store.get(ENTITIES, account, kind, link["name_key"])
            if row is not None and row["path"].startswith(prefix):
                found[kind].append(row)
        title = {"user": "User", "group": "Group", "role": "Role"}
        out: dict = {"IsTruncated": False}
        for kind, rows in found.items():
            rows.sort(key=lambda r: r["name_key"])
            out[f"Policy{title[kind]}s"] = [
                {f"{title[kind]}Name": r["name"], f"{title[kind]}Id": r["entity_id"]} for r in rows
            ]
        return out


def _version(account: str, arn: str, number: int, document: str, now: float) -> dict:
    return {
        "account_id": account, "policy_arn": arn, "version_id": f"v{number}",
        "number": number, "document": document, "created_at": now,
    }  # fmt: skip


@dataclass(slots=True)
class _Usage:
    attachments: dict[str, int]  # policy ARN → entities it is attached to
    boundaries: dict[str, int]  # policy ARN → entities it bounds


def _aws_policies() -> tuple[managed_policies.ManagedPolicy, ...]:
    try:
        return managed_policies.all_policies()
    except managed_policies.Unavailable as error:
        raise ServiceError("ServiceFailure", str(error), 500) from None


def _aws_policy(arn: str) -> managed_policies.ManagedPolicy | None:
    try:
        return managed_policies.lookup(arn)
    except managed_policies.Unavailable as error:
        raise ServiceError("ServiceFailure", str(error), 500) from None


def _aws_row(policy: managed_policies.ManagedPolicy) -> dict:
    """An AWS managed policy as a row-like dict (without its document)."""
    return {
        "account_id": "aws", "arn": policy.arn, "name": policy.name, "path": policy.path,
        "policy_id": policy.policy_id, "description": None,
        "default_version": policy.default_version, "created_at": policy.created_at,
        "updated_at": policy.updated_at, "tags": "[]",
    }  # fmt: skip


def _version_output(version: dict, policy: dict, *, document: bool) -> dict:
    out = {
        "VersionId": version["version_id"],
        "IsDefaultVersion": version["version_id"] == policy["default_version"],
        "CreateDate": timestamp(version["created_at"]),
    }
    if document:
        out["Document"] = encode_document(version["document"])
    return out
