"""Users, groups (and membership) and roles: create, read, update, delete, tags."""

from __future__ import annotations

import json

from sandlot.protocol import ServiceError
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
    merge_tags,
    not_found,
    page,
    remove_tags,
    timestamp,
)
from sandlot.services.iam.schema import ATTACHMENTS, ENTITIES, INLINE, MEMBERS
from sandlot.services.provider import RequestContext

# IAM's quota for a trust policy (characters without whitespace).
TRUST_POLICY_SIZE = 2048


def _boundary(row: dict) -> dict:
    arn = row.get("permissions_boundary")
    return {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": arn} if arn else {}


def user_output(row: dict, *, tags: bool = False) -> dict:
    out = {
        "Path": row["path"],
        "UserName": row["name"],
        "UserId": row["entity_id"],
        "Arn": row["arn"],
        "CreateDate": timestamp(row["created_at"]),
    }
    if boundary := _boundary(row):
        out["PermissionsBoundary"] = boundary
    if tags and (found := json.loads(row["tags"])):
        out["Tags"] = found
    return out


def group_output(row: dict) -> dict:
    return {
        "Path": row["path"],
        "GroupName": row["name"],
        "GroupId": row["entity_id"],
        "Arn": row["arn"],
        "CreateDate": timestamp(row["created_at"]),
    }


def role_output(row: dict, *, full: bool = False) -> dict:
    """A role as CreateRole/ListRoles show it; ``full`` adds GetRole's tags and last use."""
    out = {
        "Path": row["path"],
        "RoleName": row["name"],
        "RoleId": row["entity_id"],
        "Arn": row["arn"],
        "CreateDate": timestamp(row["created_at"]),
        "AssumeRolePolicyDocument": encode_document(row["trust_policy"]),
        "MaxSessionDuration": row["max_session_duration"],
    }
    if row["description"] is not None:
        out["Description"] = row["description"]
    if boundary := _boundary(row):
        out["PermissionsBoundary"] = boundary
    if full:
        if found := json.loads(row["tags"]):
            out["Tags"] = found
        last_used = {}
        if row["last_used_at"] is not None:
            last_used = {
                "LastUsedDate": timestamp(row["last_used_at"]),
                "Region": row["last_used_region"],
            }
        out["RoleLastUsed"] = last_used
    return out


class Identities(IamBase):
    """Users, groups and roles."""

    # -- users --------------------------------------------------------------------------

    @checked
    def create_user(self, ctx: RequestContext, params: dict) -> dict:
        boundary = self.boundary_arn(ctx.account_id, params)
        row = self.create_entity(ctx.account_id, "user", params, permissions_boundary=boundary)
        return {"User": user_output(row, tags=True)}

    @checked
    def get_user(self, ctx: RequestContext, params: dict) -> dict:
        if "UserName" in params:
            return {
                "User": user_output(
                    self.entity(ctx.account_id, "user", params["UserName"]), tags=True
                )
            }
        caller = ctx.principal
        if caller.kind == "user":
            rows = self.store.select(ENTITIES, {"account_id": ctx.account_id, "arn": caller.arn})
            if not rows:  # the caller's user was deleted (or renamed) since the key was issued
                raise not_found("user", caller.arn.rsplit("/", 1)[1])
            return {"User": user_output(rows[0], tags=True)}
        if caller.is_root:
            # The root user has no name or path; AWS reports its id and ARN (its
            # CreateDate is the account's, which sandlot does not know, so it is left out).
            return {"User": {"UserId": caller.account_id, "Arn": caller.arn}}
        raise _validation_no_user()

    @checked
    def list_users(self, ctx: RequestContext, params: dict) -> dict:
        rows = self.entities(ctx.account_id, "user", params.get("PathPrefix", "/"))
        chosen, more = page(rows, params, "name_key")
        return {"Users": [user_output(r) for r in chosen], **more}

    @checked
    def update_user(self, ctx: RequestContext, params: dict) -> dict:
        row = self.entity(ctx.account_id, "user", params["UserName"])
        new_name = params.get("NewUserName", row["name"])
        new_path = params.get("NewPath", row["path"])
        with self.store.transaction():
            moved = self.move_entity(row, new_name, new_path)
            self.platform.credentials.reassign(ctx.account_id, row["arn"], moved["arn"])
        return {}

    @checked
    def delete_user(self, ctx: RequestContext, params: dict) -> dict:
        row = self.entity(ctx.account_id, "user", params["UserName"])
        account, key = ctx.account_id, row["name_key"]
        if self.platform.credentials.list_for(account, row["arn"]):
            raise delete_conflict("Cannot delete entity, must delete access keys first.")
        self._check_no_policies(account, "user", key)
        if self.store.count(MEMBERS, {"account_id": account, "user_key": key}):
            raise delete_conflict("Cannot delete entity, must remove user from all groups first.")
        self.store.delete(ENTITIES, account, "user", key)
        return {}

    # -- groups -------------------------------------------------------------------------

    @checked
    def create_group(self, ctx: RequestContext, params: dict) -> dict:
        return {"Group": group_output(self.create_entity(ctx.account_id, "group", params))}

    @checked
    def get_group(self, ctx: RequestContext, params: dict) -> dict:
        row = self.entity(ctx.account_id, "group", params["GroupName"])
        users = self.group_users(ctx.account_id, row["name_key"])
        chosen, more = page(users, params, "name_key")
        return {"Group": group_output(row), "Users": [user_output(u) for u in chosen], **more}

    @checked
    def list_groups(self, ctx: RequestContext, params: dict) -> dict:
        rows = self.entities(ctx.account_id, "group", params.get("PathPrefix", "/"))
        chosen, more = page(rows, params, "name_key")
        return {"Groups": [group_output(r) for r in chosen], **more}

    @checked
    def update_group(self, ctx: RequestContext, params: dict) -> dict:
        row = self.entity(ctx.account_id, "group", params["GroupName"])
        with self.store.transaction():
            self.move_entity(
                row, params.get("NewGroupName", row["name"]), params.get("NewPath", row["path"])
            )
        return {}

    @checked
    def delete_group(self, ctx: RequestContext, params: dict) -> dict:
        row = self.entity(ctx.account_id, "group", params["GroupName"])
        account, key = ctx.account_id, row["name_key"]
        if self.store.count(MEMBERS, {"account_id": account, "group_key": key}):
            raise delete_conflict("Cannot delete entity, must remove users from group first.")
        self._check_no_policies(account, "group", key)
        self.store.delete(ENTITIES, account, "group", key)
        return {}

    @checked
    def add_user_to_group(self, ctx: RequestContext, params: dict) -> dict:
        group = self.entity(ctx.account_id, "group", params["GroupName"])
        user = self.entity(ctx.account_id, "user", params["UserName"])
        self.store.put(MEMBERS, _member(ctx.account_id, group, user))
        return {}

    @checked
    def remove_user_from_group(self, ctx: RequestContext, params: dict) -> dict:
        group = self.entity(ctx.account_id, "group", params["GroupName"])
        user = self.entity(ctx.account_id, "user", params["UserName"])
        self.store.delete(MEMBERS, ctx.account_id, group["name_key"], user["name_key"])
        return {}

    @checked
    def list_groups_for_user(self, ctx: RequestContext, params: dict) -> dict:
        user = self.entity(ctx.account_id, "user", params["UserName"])
        groups = self.user_groups(ctx.account_id, user["name_key"])
        chosen, more = page(groups, params, "name_key")
        return {"Groups": [group_output(g) for g in chosen], **more}

    def group_users(self, account: str, group_key: str) -> list[dict]:
        links = self.store.select(MEMBERS, {"account_id": account, "group_key": group_key})
        rows = [self.store.get(ENTITIES, account, "user", m["user_key"]) for m in links]
        return sorted((r for r in rows if r), key=lambda r: r["name_key"])

    def user_groups(self, account: str, user_key: str) -> list[dict]:
        links = self.store.select(MEMBERS, {"account_id": account, "user_key": user_key})
        rows = [self.store.get(ENTITIES, account, "group", m["group_key"]) for m in links]
        return sorted((r for r in rows if r), key=lambda r: r["name_key"])

    # -- roles --------------------------------------------------------------------------

    @checked
    def create_role(self, ctx: RequestContext, params: dict) -> dict:
        document = params["AssumeRolePolicyDocument"]
        check_document(document, "trust")
        check_size(
            document,
            TRUST_POLICY_SIZE,
            f"Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_SIZE}",
        )
        row = self.create_entity(
            ctx.account_id,
            "role",
            params,
            trust_policy=document,
            description=params.get("Description"),
            max_session_duration=params.get("MaxSessionDuration", 3600),
            permissions_boundary=self.boundary_arn(ctx.account_id, params),
        )
        out = role_output(row)
        del out["MaxSessionDuration"]  # CreateRole's answer omits it (GetRole/ListRoles have it)
        if tags := json.loads(row["tags"]):
            out["Tags"] = tags
        return {"Role": out}

    @checked
    def get_role(self, ctx: RequestContext, params: dict) -> dict:
        return {
            "Role": role_output(self.entity(ctx.account_id, "role", params["RoleName"]), full=True)
        }

    @checked
    def list_roles(self, ctx: RequestContext, params: dict) -> dict:
        rows = self.entities(ctx.account_id, "role", params.get("PathPrefix", "/"))
        chosen, more = page(rows, params, "name_key")
        return {"Roles": [role_output(r) for r in chosen], **more}

    @checked
    def update_role(self, ctx: RequestContext, params: dict) -> dict:
        row = self.entity(ctx.account_id, "role", params["RoleName"])
        if "Description" in params:
            row["description"] = params["Description"]
        if "MaxSessionDuration" in params:
            row["max_session_duration"] = params["MaxSessionDuration"]
        self.store.put(ENTITIES, row)
        return {}

    @checked
    def update_role_description(self, ctx: RequestContext, params: dict) -> dict:
        row = self.entity(ctx.account_id, "role", params["RoleName"])
        row["description"] = params["Description"]
        self.store.put(ENTITIES, row)
        return {"Role": role_output(row, full=True)}

    @checked
    def update_assume_role_policy(self, ctx: RequestContext, params: dict) -> dict:
        row = self.entity(ctx.account_id, "role", params["RoleName"])
        check_modifiable(row)
        check_document(params["PolicyDocument"], "trust")
        row["trust_policy"] = params["PolicyDocument"]
        self.store.put(ENTITIES, row)
        return {}

    @checked
    def delete_role(self, ctx: RequestContext, params: dict) -> dict:
        row = self.entity(ctx.account_id, "role", params["RoleName"])
        check_modifiable(row)  # DeleteServiceLinkedRole deletes those
        self._check_no_policies(ctx.account_id, "role", row["name_key"])
        self.store.delete(ENTITIES, ctx.account_id, "role", row["name_key"])
        return {}

    # -- tags ---------------------------------------------------------------------------

    @checked
    def tag_user(self, ctx: RequestContext, params: dict) -> dict:
        return self._tag(ctx, "user", params["UserName"], params["Tags"])

    @checked
    def untag_user(self, ctx: RequestContext, params: dict) -> dict:
        return self._untag(ctx, "user", params["UserName"], params["TagKeys"])

    @checked
    def list_user_tags(self, ctx: RequestContext, params: dict) -> dict:
        row = self.entity(ctx.account_id, "user", params["UserName"])
        return {"Tags": json.loads(row["tags"]), "IsTruncated": False}

    @checked
    def tag_role(self, ctx: RequestContext, params: dict) -> dict:
        return self._tag(ctx, "role", params["RoleName"], params["Tags"])

    @checked
    def untag_role(self, ctx: RequestContext, params: dict) -> dict:
        return self._untag(ctx, "role", params["RoleName"], params["TagKeys"])

    @checked
    def list_role_tags(self, ctx: RequestContext, params: dict) -> dict:
        row = self.entity(ctx.account_id, "role", params["RoleName"])
        return {"Tags": json.loads(row["tags"]), "IsTruncated": False}

    def _tag(self, ctx: RequestContext, kind: str, name: str, tags: list[dict]) -> dict:
        with self.store.transaction():
            row = self.entity(ctx.account_id, kind, name)
            merged = merge_tags(json.loads(row["tags"]), tags)
            check_tags(merged)
            row["tags"] = json.dumps(merged)
            self.store.put(ENTITIES, row)
        return {}

    def _untag(self, ctx: RequestContext, kind: str, name: str, keys: list[str]) -> dict:
        with self.store.transaction():
            row = self.entity(ctx.account_id, kind, name)
            row["tags"] = json.dumps(remove_tags(json.loads(row["tags"]), keys))
            self.store.put(ENTITIES, row)
        return {}

    # -- permissions boundaries -----------------------------------------------------------

    @checked
    def put_user_permissions_boundary(self, ctx: RequestContext, params: dict) -> dict:
        return self._set_boundary(ctx, "user", params["UserName"], params)

    @checked
    def delete_user_permissions_boundary(self, ctx: RequestContext, params: dict) -> dict:
        return self._set_boundary(ctx, "user", params["UserName"], {})

    @checked
    def put_role_permissions_boundary(self, ctx: RequestContext, params: dict) -> dict:
        return self._set_boundary(ctx, "role", params["RoleName"], params)

    @checked
    def delete_role_permissions_boundary(self, ctx: RequestContext, params: dict) -> dict:
        return self._set_boundary(ctx, "role", params["RoleName"], {})

    def _set_boundary(self, ctx: RequestContext, kind: str, name: str, params: dict) -> dict:
        with self.store.transaction():
            row = self.entity(ctx.account_id, kind, name)
            check_modifiable(row)
            row["permissions_boundary"] = self.boundary_arn(ctx.account_id, params)
            self.store.put(ENTITIES, row)
        return {}

    # -- shared -------------------------------------------------------------------------

    def _check_no_policies(self, account: str, kind: str, key: str) -> None:
        where = {"account_id": account, "kind": kind, "name_key": key}
        if self.store.count(INLINE, where):
            raise delete_conflict("Cannot delete entity, must delete policies first.")
        if self.store.count(ATTACHMENTS, where):
            raise delete_conflict("Cannot delete entity, must detach all policies first.")

    def move_entity(self, row: dict, name: str, path: str) -> dict:
        """Rename and/or re-path a user or group, carrying its relations (in a transaction)."""
        account, kind, old_key = row["account_id"], row["kind"], row["name_key"]
        moved = {**row, "name": name, "name_key": name.lower(), "path": path}
        moved["arn"] = f"arn:aws:iam::{account}:{kind}{path}{name}"
        if moved["name_key"] != old_key:
            if not self.store.put(ENTITIES, moved, replace=False):
                raise already_exists_for(kind, name)
            self.store.delete(ENTITIES, account, kind, old_key)
            where = {"account_id": account, "kind": kind, "name_key": old_key}
            for table in (INLINE, ATTACHMENTS):
                for link in self.store.select(table, where):
                    self.store.delete(table, *(link[c] for c in table.key))
                    self.store.put(table, {**link, "name_key": moved["name_key"]})
            column = f"{kind}_key"
            for link in self.store.select(MEMBERS, {"account_id": account, column: old_key}):
                self.store.delete(MEMBERS, *(link[c] for c in MEMBERS.key))
                self.store.put(MEMBERS, {**link, column: moved["name_key"]})
        else:
            self.store.put(ENTITIES, moved)
        return moved

    def boundary_arn(self, account: str, params: dict) -> str | None:
        """The permissions boundary a create names, checked to be an existing policy."""
        arn = params.get("PermissionsBoundary")
        if arn is not None:
            self.policy_document(account, arn)  # type: ignore[attr-defined]  # raises if absent
        return arn


def already_exists_for(kind: str, name: str) -> ServiceError:
    return already_exists(f"{kind.title()} with name {name} already exists.")


def _member(account: str, group: dict, user: dict) -> dict:
    return {"account_id": account, "group_key": group["name_key"], "user_key": user["name_key"]}


def _validation_no_user() -> ServiceError:
    return ServiceError(
        "ValidationError", "Must specify userName when calling with non-User credentials"
    )
