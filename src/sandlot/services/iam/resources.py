"""CloudFormation resource types of IAM: ``AWS::IAM::Role`` (Ref: the name; GetAtt Arn,
RoleId) with its inline ``Policies`` and ``ManagedPolicyArns``, ``AWS::IAM::User`` (the
same, plus ``Groups``) and ``AWS::IAM::AccessKey`` (Ref: the key id; GetAtt
SecretAccessKey), ``AWS::IAM::OIDCProvider`` (Ref and GetAtt Arn), ``Policy`` and
``ManagedPolicy``."""

from __future__ import annotations

from sandlot.services.cloudformation.handlers import (
    Outcome,
    ResourceContext,
    ResourceFailed,
    ResourceType,
    as_json,
    not_found,
)


class Role(ResourceType):
    type_name = "AWS::IAM::Role"
    name_property = "RoleName"
    name_length = 64

    async def _outcome(self, ctx: ResourceContext, name: str) -> Outcome:
        role = (await ctx.call("iam", "GetRole", {"RoleName": name}))["Role"]
        return Outcome(name, name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {
            "RoleName": name,
            "AssumeRolePolicyDocument": as_json(properties.get("AssumeRolePolicyDocument", "")),
            "Path": properties.get("Path", "/"),
        }
        for key in ("Description", "MaxSessionDuration", "PermissionsBoundary"):
            if key in properties:
                params[key] = (
                    int(properties[key]) if key == "MaxSessionDuration" else properties[key]
                )
        tags = ctx.tags(properties)
        if tags:
            params["Tags"] = tags
        await ctx.call("iam", "CreateRole", params)
        await self._policies(ctx, name, properties, {})
        return await self._outcome(ctx, name)

    async def _policies(
        self, ctx: ResourceContext, name: str, properties: dict, previous: dict
    ) -> None:
        old = set(previous.get("ManagedPolicyArns") or [])
        new = set(properties.get("ManagedPolicyArns") or [])
        for arn in sorted(new - old):
            await ctx.call("iam", "AttachRolePolicy", {"RoleName": name, "PolicyArn": arn})
        for arn in sorted(old - new):
            await ctx.call("iam", "DetachRolePolicy", {"RoleName": name, "PolicyArn": arn})
        old_inline = {p["PolicyName"]: p for p in previous.get("Policies") or []}
        new_inline = {p["PolicyName"]: p for p in properties.get("Policies") or []}
        for policy_name, policy in new_inline.items():
            if old_inline.get(policy_name) != policy:
                await ctx.call(
                    "iam", "PutRolePolicy",
                    {"RoleName": name, "PolicyName": policy_name, "PolicyDocument": as_json(policy["PolicyDocument"])},
                )  # fmt: skip
        for policy_name in old_inline.keys() - new_inline.keys():
            await ctx.call("iam", "DeleteRolePolicy", {"RoleName": name, "PolicyName": policy_name})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        name = current.physical_id
        if properties.get("AssumeRolePolicyDocument") != previous.get("AssumeRolePolicyDocument"):
            await ctx.call(
                "iam", "UpdateAssumeRolePolicy",
                {"RoleName": name, "PolicyDocument": as_json(properties["AssumeRolePolicyDocument"])},
            )  # fmt: skip
        changed = {
            k: properties[k]
            for k in ("Description", "MaxSessionDuration")
            if properties.get(k) != previous.get(k) and k in properties
        }
        if changed:
            if "MaxSessionDuration" in changed:
                changed["MaxSessionDuration"] = int(changed["MaxSessionDuration"])
            await ctx.call("iam", "UpdateRole", {"RoleName": name, **changed})
        await self._policies(ctx, name, properties, previous)
        return await self._outcome(ctx, name)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        try:
            attached = await ctx.call("iam", "ListAttachedRolePolicies", {"RoleName": physical_id})
        except ResourceFailed as e:
            if not_found(e):
                return
            raise
        for policy in attached.get("AttachedPolicies", []):
            await ctx.call(
                "iam",
                "DetachRolePolicy",
                {"RoleName": physical_id, "PolicyArn": policy["PolicyArn"]},
            )
        inline = await ctx.call("iam", "ListRolePolicies", {"RoleName": physical_id})
        for policy_name in inline.get("PolicyNames", []):
            await ctx.call(
                "iam", "DeleteRolePolicy", {"RoleName": physical_id, "PolicyName": policy_name}
            )
        await ctx.call("iam", "DeleteRole", {"RoleName": physical_id})


_HOLDERS = (
    ("Roles", "Role", "RoleName"),
    ("Users", "User", "UserName"),
    ("Groups", "Group", "GroupName"),
)


class Policy(ResourceType):
    """``AWS::IAM::Policy``: one inline policy put on each role, user and group named."""

    type_name = "AWS::IAM::Policy"

    async def _put(self, ctx: ResourceContext, properties: dict) -> None:
        document = as_json(properties["PolicyDocument"])
        for key, kind, name_key in _HOLDERS:
            for holder in properties.get(key) or []:
                await ctx.call(
                    "iam",
                    f"Put{kind}Policy",
                    {
                        name_key: holder,
                        "PolicyName": properties["PolicyName"],
                        "PolicyDocument": document,
                    },
                )

    async def _remove(self, ctx: ResourceContext, properties: dict, keep: dict) -> None:
        for key, kind, name_key in _HOLDERS:
            for holder in properties.get(key) or []:
                if holder in (keep.get(key) or []) and keep.get("PolicyName") == properties.get(
                    "PolicyName"
                ):
                    continue
                try:
                    await ctx.call(
                        "iam",
                        f"Delete{kind}Policy",
                        {name_key: holder, "PolicyName": properties["PolicyName"]},
                    )
                except ResourceFailed as e:
                    if not not_found(e):
                        raise

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        await self._put(ctx, properties)
        physical = ctx.generated_name(64)
        return Outcome(physical, physical, {"Id": physical})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        await self._remove(ctx, previous, properties)
        await self._put(ctx, properties)
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await self._remove(ctx, properties, {})


class ManagedPolicy(ResourceType):
    """``AWS::IAM::ManagedPolicy`` (Ref: the policy ARN), attached to the roles, users
    and groups named; an update of the document makes a new default version."""

    type_name = "AWS::IAM::ManagedPolicy"
    name_property = "ManagedPolicyName"
    name_length = 128
    extra_attributes = frozenset({"PolicyArn"})

    async def _attach(
        self, ctx: ResourceContext, arn: str, properties: dict, previous: dict
    ) -> None:
        for key, kind, name_key in _HOLDERS:
            new, old = set(properties.get(key) or []), set(previous.get(key) or [])
            for holder in sorted(new - old):
                await ctx.call("iam", f"Attach{kind}Policy", {name_key: holder, "PolicyArn": arn})
            for holder in sorted(old - new):
                await ctx.call("iam", f"Detach{kind}Policy", {name_key: holder, "PolicyArn": arn})

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {"PolicyName": name, "PolicyDocument": as_json(properties["PolicyDocument"]),
                  "Path": properties.get("Path", "/")}  # fmt: skip
        if "Description" in properties:
            params["Description"] = properties["Description"]
        arn = (await ctx.call("iam", "CreatePolicy", params))["Policy"]["Arn"]
        await self._attach(ctx, arn, properties, {})
        return Outcome(arn, arn, {"PolicyArn": arn})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        arn = current.physical_id
        if properties["PolicyDocument"] != previous.get("PolicyDocument"):
            versions = (await ctx.call("iam", "ListPolicyVersions", {"PolicyArn": arn}))["Versions"]
            old = [v for v in versions if not v["IsDefaultVersion"]]
            if len(versions) >= 5 and old:  # IAM keeps five: the oldest non-default goes
                oldest = min(old, key=lambda v: v["CreateDate"])
                await ctx.call(
                    "iam",
                    "DeletePolicyVersion",
                    {"PolicyArn": arn, "VersionId": oldest["VersionId"]},
                )
            await ctx.call("iam", "CreatePolicyVersion", {"PolicyArn": arn, "SetAsDefault": True,
                                                           "PolicyDocument": as_json(properties["PolicyDocument"])})  # fmt: skip
        await self._attach(ctx, arn, properties, previous)
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await self._attach(ctx, physical_id, {}, properties)
        versions = (await ctx.call("iam", "ListPolicyVersions", {"PolicyArn": physical_id}))[
            "Versions"
        ]
        for version in versions:
            if not version["IsDefaultVersion"]:
                await ctx.call(
                    "iam",
                    "DeletePolicyVersion",
                    {"PolicyArn": physical_id, "VersionId": version["VersionId"]},
                )
        await ctx.call("iam", "DeletePolicy", {"PolicyArn": physical_id})


class ServiceLinkedRole(ResourceType):
    """``AWS::IAM::ServiceLinkedRole`` (Ref: the role's name): made and deleted through
    the service-linked role API; only its description changes in place."""

    type_name = "AWS::IAM::ServiceLinkedRole"
    extra_attributes = frozenset({"RoleName"})

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {k: properties[k] for k in ("AWSServiceName", "CustomSuffix", "Description")
                  if k in properties}  # fmt: skip
        role = (await ctx.call("iam", "CreateServiceLinkedRole", params))["Role"]
        return Outcome(role["RoleName"], role["RoleName"], {"RoleName": role["RoleName"]})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        await ctx.call(
            "iam",
            "UpdateRoleDescription",
            {"RoleName": current.physical_id, "Description": properties.get("Description", "")},
        )
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call("iam", "DeleteServiceLinkedRole", {"RoleName": physical_id})


class User(ResourceType):
    """``AWS::IAM::User`` (Ref: the name; GetAtt Arn). A login profile (console
    password) is not served: it fails naming the property."""

    type_name = "AWS::IAM::User"
    name_property = "UserName"
    name_length = 64

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        if properties.get("LoginProfile"):
            raise ResourceFailed(
                "Property LoginProfile of AWS::IAM::User is not supported by sandlot"
            )
        params = {"UserName": name, "Path": properties.get("Path", "/")}
        if properties.get("PermissionsBoundary"):
            params["PermissionsBoundary"] = properties["PermissionsBoundary"]
        tags = ctx.tags(properties)
        if tags:
            params["Tags"] = tags
        user = (await ctx.call("iam", "CreateUser", params))["User"]
        await self._attachments(ctx, name, properties, {})
        return Outcome(name, name, {"Arn": user["Arn"]})

    async def _attachments(self, ctx: ResourceContext, name: str, properties: dict,
                           previous: dict) -> None:  # fmt: skip
        """Managed and inline policies and groups brought from ``previous`` to ``properties``."""
        old, new = (
            set(previous.get("ManagedPolicyArns") or []),
            set(properties.get("ManagedPolicyArns") or []),
        )
        for arn in sorted(new - old):
            await ctx.call("iam", "AttachUserPolicy", {"UserName": name, "PolicyArn": arn})
        for arn in sorted(old - new):
            await ctx.call("iam", "DetachUserPolicy", {"UserName": name, "PolicyArn": arn})
        old_inline = {p["PolicyName"]: p for p in previous.get("Policies") or []}
        new_inline = {p["PolicyName"]: p for p in properties.get("Policies") or []}
        for policy_name, policy in new_inline.items():
            if old_inline.get(policy_name) != policy:
                await ctx.call("iam", "PutUserPolicy", {
                    "UserName": name, "PolicyName": policy_name,
                    "PolicyDocument": as_json(policy["PolicyDocument"])})  # fmt: skip
        for policy_name in old_inline.keys() - new_inline.keys():
            await ctx.call("iam", "DeleteUserPolicy", {"UserName": name, "PolicyName": policy_name})
        old_groups, new_groups = (
            set(previous.get("Groups") or []),
            set(properties.get("Groups") or []),
        )
        for group in sorted(new_groups - old_groups):
            await ctx.call("iam", "AddUserToGroup", {"UserName": name, "GroupName": group})
        for group in sorted(old_groups - new_groups):
            await ctx.call("iam", "RemoveUserFromGroup", {"UserName": name, "GroupName": group})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        name = current.physical_id
        if properties.get("LoginProfile"):
            raise ResourceFailed(
                "Property LoginProfile of AWS::IAM::User is not supported by sandlot"
            )
        if properties.get("Path", "/") != previous.get("Path", "/"):
            await ctx.call(
                "iam", "UpdateUser", {"UserName": name, "NewPath": properties.get("Path", "/")}
            )
        await self._attachments(ctx, name, properties, previous)
        user = (await ctx.call("iam", "GetUser", {"UserName": name}))["User"]
        return Outcome(name, name, {"Arn": user["Arn"]})

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        try:
            attached = await ctx.call("iam", "ListAttachedUserPolicies", {"UserName": physical_id})
        except ResourceFailed as e:
            if not_found(e):
                return
            raise
        for policy in attached.get("AttachedPolicies", []):
            await ctx.call("iam", "DetachUserPolicy",
                           {"UserName": physical_id, "PolicyArn": policy["PolicyArn"]})  # fmt: skip
        inline = await ctx.call("iam", "ListUserPolicies", {"UserName": physical_id})
        for policy_name in inline.get("PolicyNames", []):
            await ctx.call("iam", "DeleteUserPolicy",
                           {"UserName": physical_id, "PolicyName": policy_name})  # fmt: skip
        groups = await ctx.call("iam", "ListGroupsForUser", {"UserName": physical_id})
        for group in groups.get("Groups", []):
            await ctx.call("iam", "RemoveUserFromGroup",
                           {"UserName": physical_id, "GroupName": group["GroupName"]})  # fmt: skip
        await ctx.call("iam", "DeleteUser", {"UserName": physical_id})


class AccessKey(ResourceType):
    """``AWS::IAM::AccessKey`` (Ref: the access key id; GetAtt SecretAccessKey). The
    user and ``Serial`` are create-only (a new serial rotates the key); ``Status``
    updates in place."""

    type_name = "AWS::IAM::AccessKey"

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        user = properties["UserName"]
        key = (await ctx.call("iam", "CreateAccessKey", {"UserName": user}))["AccessKey"]
        if properties.get("Status", "Active") != "Active":
            await ctx.call("iam", "UpdateAccessKey", {
                "UserName": user, "AccessKeyId": key["AccessKeyId"], "Status": properties["Status"]})  # fmt: skip
        key_id = key["AccessKeyId"]
        return Outcome(key_id, key_id, {"Id": key_id, "SecretAccessKey": key["SecretAccessKey"]})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        await ctx.call("iam", "UpdateAccessKey", {
            "UserName": properties["UserName"], "AccessKeyId": current.physical_id,
            "Status": properties.get("Status", "Active")})  # fmt: skip
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        try:
            await ctx.call("iam", "DeleteAccessKey",
                           {"UserName": properties["UserName"], "AccessKeyId": physical_id})  # fmt: skip
        except ResourceFailed as e:
            if not not_found(e):
                raise


class OIDCProvider(ResourceType):
    """``AWS::IAM::OIDCProvider`` (Ref and GetAtt Arn): the URL is create-only; client
    ids and thumbprints update in place."""

    type_name = "AWS::IAM::OIDCProvider"

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        params = {"Url": properties["Url"], "ClientIDList": properties.get("ClientIdList") or [],
                  "ThumbprintList": properties.get("ThumbprintList") or []}  # fmt: skip
        tags = ctx.tags(properties)
        if tags:
            params["Tags"] = tags
        arn = (await ctx.call("iam", "CreateOpenIDConnectProvider", params))[
            "OpenIDConnectProviderArn"
        ]
        return Outcome(arn, arn, {"Arn": arn})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        arn = current.physical_id
        old, new = (
            set(previous.get("ClientIdList") or []),
            set(properties.get("ClientIdList") or []),
        )
        for client_id in sorted(new - old):
            await ctx.call("iam", "AddClientIDToOpenIDConnectProvider",
                           {"OpenIDConnectProviderArn": arn, "ClientID": client_id})  # fmt: skip
        for client_id in sorted(old - new):
            await ctx.call("iam", "RemoveClientIDFromOpenIDConnectProvider",
                           {"OpenIDConnectProviderArn": arn, "ClientID": client_id})  # fmt: skip
        if properties.get("ThumbprintList") != previous.get("ThumbprintList"):
            await ctx.call("iam", "UpdateOpenIDConnectProviderThumbprint", {
                "OpenIDConnectProviderArn": arn,
                "ThumbprintList": properties.get("ThumbprintList") or []})  # fmt: skip
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        try:
            await ctx.call("iam", "DeleteOpenIDConnectProvider",
                           {"OpenIDConnectProviderArn": physical_id})  # fmt: skip
        except ResourceFailed as e:
            if not not_found(e):
                raise
