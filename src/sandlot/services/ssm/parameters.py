"""Writing, reading, listing and deleting parameters and their versions."""

from __future__ import annotations

import json
import re

from sandlot.protocol import ServiceError
from sandlot.services.provider import RequestContext
from sandlot.services.ssm.base import (
    _IMAGE,
    DATA_TYPES,
    DEFAULT_KEY,
    DOCS,
    MAX_TAGS,
    MAX_VERSIONS,
    VALUE_LIMITS,
    Row,
    SsmBase,
    check_name,
    decode_token,
    encode_token,
    not_found,
    split_selector,
    validation,
)
from sandlot.services.ssm.schema import PARAMETERS, VERSIONS


class ParameterOperations(SsmBase):
    # -- writing --------------------------------------------------------------------------

    async def put_parameter(self, ctx: RequestContext, params: dict) -> dict:
        # AWS drops spaces around a name; spaces inside it break the name rules.
        name, value = params["Name"].strip(), params["Value"]
        check_name(name)
        if params.get("Tags") and params.get("Overwrite"):
            raise validation(
                "Invalid request: tags and overwrite can't be used together. To create a "
                "parameter with tags, please remove overwrite flag. To update tags for an "
                "existing parameter, please use AddTagsToResource or RemoveTagsFromResource."
            )
        if params.get("Policies"):
            # Parameter policies (Expiration, notifications) need timers and EventBridge;
            # refused rather than stored and never enforced.
            raise ServiceError(
                "NotImplemented",
                "Parameter policies (Policies) are not implemented by sandlot yet.",
                501,
                sender_fault=False,
            )
        head = self.store.get(PARAMETERS, ctx.account_id, ctx.region, name)
        current = self.version(ctx, name, head["version"]) if head else None
        if head is not None and not params.get("Overwrite"):
            raise ServiceError(
                "ParameterAlreadyExists",
                "The parameter already exists. To overwrite this value, set the overwrite "
                "option in the request to true.",
            )
        kind = params.get("Type") or (current["type"] if current else None)
        if kind is None:
            raise validation("A parameter type is required when you create a parameter.")
        if kind != "SecureString" and params.get("KeyId"):
            raise validation("KeyId is required for SecureString type parameter only.")
        tier = choose_tier(params.get("Tier"), value, current)
        data_type = params.get("DataType") or (current["data_type"] if current else "text")
        if len(value.encode()) > VALUE_LIMITS[tier] and tier == "Standard":
            raise validation(
                "Standard tier parameters support a maximum parameter value of 4096 "
                "characters. To create a larger parameter value, upgrade the parameter to "
                "use the advanced-parameter tier. For more information, see "
                f"{DOCS}/parameter-store-advanced-parameters.html"
            )
        check_value(value, kind, data_type)
        pattern = params.get("AllowedPattern")
        if pattern is None and current is not None:
            pattern = current["allowed_pattern"]
        check_pattern(pattern, value)
        description = params.get("Description")
        if description is None and current is not None:
            description = current["description"]
        number = (head["version"] if head else 0) + 1
        oldest = self.versions(ctx, name)[0] if head and number > MAX_VERSIONS else None
        if oldest is not None and json.loads(oldest["labels"]):
            raise ServiceError(
                "ParameterMaxVersionLimitExceeded",
                f"You attempted to create a new version of {name} by calling the "
                f"PutParameter API with the overwrite flag. Version {oldest['version']}, the "
                "oldest version, can't be deleted because it has a label associated with "
                "it. Move the label to another version of the parameter, and try again.",
            )
        tags = params.get("Tags") or []
        if len(tags) > MAX_TAGS:
            raise ServiceError("TooManyTagsError", "You exceeded the maximum number of tags.")
        key_id = None
        if kind == "SecureString":
            key_id = params.get("KeyId") or (current and current["key_id"]) or DEFAULT_KEY
            value = await self.encrypt(ctx, name, key_id, value, tier)
        row = {
            "account_id": ctx.account_id,
            "region": ctx.region,
            "name": name,
            "version": number,
            "type": kind,
            "value": value,
            "key_id": key_id,
            "description": description or "",
            "allowed_pattern": pattern,
            "tier": tier,
            "data_type": data_type,
            "labels": "[]",
            "modified": self.clock(),
            "modified_user": ctx.principal.arn,
        }
        with self.store.transaction():  # the version and the head, or neither
            # Should encrypting ever suspend (KMS through Platform.call is synchronous
            # today), another write could land after the head was read: AWS answers
            # concurrent updates of one parameter with TooManyUpdates.
            now = self.store.get(PARAMETERS, ctx.account_id, ctx.region, name)
            if (now["version"] if now else 0) != (head["version"] if head else 0):
                raise ServiceError(
                    "TooManyUpdates",
                    "There are concurrent updates for a resource that supports one update "
                    "at a time.",
                )
            if oldest is not None:  # at 100 versions the oldest goes (AWS)
                self.store.delete(VERSIONS, ctx.account_id, ctx.region, name, oldest["version"])
            self.store.put(VERSIONS, row)
            self.store.put(
                PARAMETERS,
                {
                    "account_id": ctx.account_id,
                    "region": ctx.region,
                    "name": name,
                    "version": number,
                    "tags": head["tags"] if head else json.dumps(tags),
                },
            )
        return {"Version": number, "Tier": tier}

    # -- reading --------------------------------------------------------------------------

    async def get_parameter(self, ctx: RequestContext, params: dict) -> dict:
        row, selector = self.select(ctx, params["Name"])
        out = await self.describe(ctx, row, bool(params.get("WithDecryption")))
        if selector is not None:
            out["Selector"] = selector
        return {"Parameter": out}

    async def get_parameters(self, ctx: RequestContext, params: dict) -> dict:
        found, invalid = [], []
        for ref in dict.fromkeys(params["Names"]):
            try:
                row, selector = self.select(ctx, ref)
            except ServiceError as error:
                if error.code in ("ParameterNotFound", "ParameterVersionNotFound"):
                    invalid.append(ref)
                    continue
                raise
            out = await self.describe(ctx, row, bool(params.get("WithDecryption")))
            if selector is not None:
                out["Selector"] = selector
            found.append(out)
        return {"Parameters": found, "InvalidParameters": invalid}

    async def describe(self, ctx: RequestContext, row: Row, decrypt: bool) -> dict:
        """A version as GetParameter* answers it."""
        return {
            "Name": row["name"],
            "Type": row["type"],
            "Value": await self.value_of(ctx, row, decrypt),
            "Version": row["version"],
            "LastModifiedDate": row["modified"],
            "ARN": self.arn(ctx, row["name"]),
            "DataType": row["data_type"],
        }

    async def get_parameters_by_path(self, ctx: RequestContext, params: dict) -> dict:
        path = params["Path"]  # checked by validate()
        prefix = path if path.endswith("/") else path + "/"
        recursive = bool(params.get("Recursive"))
        filters = params.get("ParameterFilters") or []
        check_filters(filters, by_path=True)
        heads = [
            h
            for h in self._heads(ctx, params.get("NextToken"), prefix)
            if h["name"].startswith(prefix) and (recursive or "/" not in h["name"][len(prefix) :])
        ]
        limit = params.get("MaxResults") or 10
        out, last = [], None
        for head in heads:
            row = self.version(ctx, head["name"], head["version"])
            if not _matches(row, head, filters, labels_of=self.versions(ctx, head["name"])):
                continue
            if len(out) == limit:
                return {"Parameters": out, "NextToken": encode_token(last)}
            out.append(await self.describe(ctx, row, bool(params.get("WithDecryption"))))
            last = head["name"]
        return {"Parameters": out}

    def _heads(self, ctx: RequestContext, token: str | None, prefix: str = "") -> list[Row]:
        """Parameters in name order after the page token; with ``prefix``, only names
        starting with it (an index range scan, not the account's every parameter)."""
        after = {"name": decode_token(token)} if token else None
        where = {"account_id": ctx.account_id, "region": ctx.region}
        bounds = {"name": (prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1))} if prefix else None
        return self.store.select(PARAMETERS, where, order_by=("name",), after=after, bounds=bounds)

    def describe_parameters(self, ctx: RequestContext, params: dict) -> dict:
        filters = [
            {"Key": f["Key"], "Option": "Equals", "Values": f["Values"]}
            for f in params.get("Filters") or []
        ] + list(params.get("ParameterFilters") or [])
        check_filters(filters, by_path=False)
        limit = params.get("MaxResults") or 50
        out, last = [], None
        for head in self._heads(ctx, params.get("NextToken")):
            row = self.version(ctx, head["name"], head["version"])
            if not _matches(row, head, filters, labels_of=self.versions(ctx, head["name"])):
                continue
            if len(out) == limit:
                return {"Parameters": out, "NextToken": encode_token(last)}
            out.append(self.metadata(ctx, row))
            last = head["name"]
        return {"Parameters": out}

    def metadata(self, ctx: RequestContext, row: Row) -> dict:
        out = {
            "Name": row["name"],
            "ARN": self.arn(ctx, row["name"]),
            "Type": row["type"],
            "LastModifiedDate": row["modified"],
            "LastModifiedUser": row["modified_user"],
            "Version": row["version"],
            "Tier": row["tier"],
            "Policies": [],
            "DataType": row["data_type"],
        }
        if row["key_id"]:
            out["KeyId"] = row["key_id"]
        if row["description"]:
            out["Description"] = row["description"]
        if row["allowed_pattern"]:
            out["AllowedPattern"] = row["allowed_pattern"]
        return out

    async def get_parameter_history(self, ctx: RequestContext, params: dict) -> dict:
        name = params["Name"]
        self.parameter(ctx, name)
        rows = self.versions(ctx, name)
        start = 0
        if params.get("NextToken"):
            position = decode_token(params["NextToken"])
            if not position.isdigit():
                raise ServiceError("InvalidNextToken", "The specified token isn't valid.")
            start = int(position)
        limit = params.get("MaxResults") or 50
        out = []
        for row in rows[start : start + limit]:
            entry = self.metadata(ctx, row)
            del entry["ARN"]
            entry["Value"] = await self.value_of(ctx, row, bool(params.get("WithDecryption")))
            entry["Labels"] = json.loads(row["labels"])
            out.append(entry)
        result: dict = {"Parameters": out}
        if start + limit < len(rows):
            result["NextToken"] = encode_token(str(start + limit))
        return result

    # -- deleting -------------------------------------------------------------------------

    def delete_parameter(self, ctx: RequestContext, params: dict) -> dict:
        if not self._delete(ctx, params["Name"]):
            raise not_found()
        return {}

    def delete_parameters(self, ctx: RequestContext, params: dict) -> dict:
        deleted, invalid = [], []
        for name in dict.fromkeys(params["Names"]):
            (deleted if self._delete(ctx, name) else invalid).append(name)
        return {"DeletedParameters": deleted, "InvalidParameters": invalid}

    def _delete(self, ctx: RequestContext, name: str) -> bool:
        if split_selector(name)[1] is not None:
            return False
        with self.store.transaction():
            where = {"account_id": ctx.account_id, "region": ctx.region, "name": name}
            self.store.delete_where(VERSIONS, where)
            return self.store.delete(PARAMETERS, ctx.account_id, ctx.region, name)


def choose_tier(asked: str | None, value: str, current: Row | None) -> str:
    """Standard unless asked or needed (Intelligent-Tiering); never back down from
    Advanced."""
    if asked == "Intelligent-Tiering":
        asked = "Standard" if len(value) <= VALUE_LIMITS["Standard"] else "Advanced"
        if current is not None and current["tier"] == "Advanced":
            asked = "Advanced"
    tier = asked or (current["tier"] if current else "Standard")
    if current is not None and current["tier"] == "Advanced" and tier == "Standard":
        raise validation(
            "This parameter uses the advanced-parameter tier. You can't downgrade a "
            "parameter from the advanced-parameter tier to the standard-parameter tier. "
            "If necessary, you can delete the advanced parameter and recreate it as a "
            "standard parameter."
        )
    return tier


def check_value(value: str, kind: str, data_type: str) -> None:
    if len(value.encode()) > VALUE_LIMITS["Advanced"]:
        raise validation(
            "Advanced tier parameters support a maximum parameter value of 8192 characters."
        )
    if data_type not in DATA_TYPES:
        raise validation(
            f"The following data type is not supported: {data_type} (Data type names "
            "are all lowercase.)"
        )
    if data_type != "text" and kind != "String":
        raise validation(f"Parameter Type {kind} does not support DataType {data_type}.")
    if data_type == "aws:ec2:image" and not _IMAGE.match(value):
        raise validation(
            f"Parameter value {value} is not a valid image ID: an AMI ID looks like "
            "ami-12345678 or ami-1234567890abcdef0."
        )


def check_pattern(pattern: str | None, value: str) -> None:
    if not pattern:
        return
    try:
        compiled = re.compile(pattern)
    except re.error:
        raise ServiceError(
            "InvalidAllowedPatternException",
            f"The allowed pattern {pattern} is not a valid regular expression.",
        ) from None
    if not compiled.fullmatch(value):
        raise ServiceError(
            "ParameterPatternMismatchException",
            f"Parameter value, cannot be validated against allowedPattern: {pattern}",
        )


def check_filters(filters: list[dict], *, by_path: bool) -> None:
    """ParameterStringFilter's rules: DescribeParameters takes every key but Label,
    GetParametersByPath only Type, KeyId and Label; options Equals and BeginsWith,
    plus Contains for Name, Recursive/OneLevel (only) for Path, Equals only for Label."""
    for f in filters:
        key, option, values = f["Key"], f.get("Option"), f.get("Values")
        kind = "tag" if key.startswith("tag:") else key
        allowed = ("Type", "KeyId", "Label") if by_path else (
            "Name", "Type", "KeyId", "Path", "Tier", "DataType", "tag")  # fmt: skip
        if kind not in allowed:
            raise ServiceError(
                "InvalidFilterKey",
                f"The following filter key is not valid: {key}. Valid filter keys include: "
                f"[{', '.join(allowed)}].",
            )
        options = {"Path": ("Recursive", "OneLevel"), "Label": ("Equals",),
                   "Name": ("Equals", "BeginsWith", "Contains")}.get(kind, ("Equals", "BeginsWith"))  # fmt: skip
        if option is not None and option not in options:
            raise ServiceError(
                "InvalidFilterOption",
                f"The following filter option is not valid: {option}. Valid options include: "
                f"[{', '.join(options)}].",
            )
        if kind != "tag" and not values:
            raise ServiceError(
                "InvalidFilterValue", f"The following filter values are missing : {key}"
            )
        if kind == "Path" and not all(v.startswith("/") for v in values):
            raise ServiceError(
                "InvalidFilterValue",
                f"The following filter value is not valid: {values}. A path must begin with "
                "a forward slash (/).",
            )


def _matches(row: Row, head: Row, filters: list[dict], *, labels_of: list[Row]) -> bool:
    """Whether a parameter passes DescribeParameters'/GetParametersByPath's filters."""
    for f in filters:
        key, option, values = f["Key"], f.get("Option") or "Equals", f.get("Values") or []
        if key.startswith("tag:"):
            tags = {t["Key"]: t["Value"] for t in json.loads(head["tags"])}
            tag = key[4:]
            if tag not in tags or (values and tags[tag] not in values):
                return False
            continue
        if key == "Path":
            if not _in_path(row["name"], values, option):
                return False
            continue
        if key == "Label":
            labels = {label for v in labels_of for label in json.loads(v["labels"])}
            if not labels & set(values):
                return False
            continue
        field = {"Name": row["name"], "Type": row["type"], "KeyId": row["key_id"],
                 "Tier": row["tier"], "DataType": row["data_type"]}[key]  # fmt: skip
        if field is None:
            return False
        if option == "BeginsWith":
            if not any(field.startswith(v) for v in values):
                return False
        elif option == "Contains":
            if not any(v in field for v in values):
                return False
        elif field not in values:
            return False
    return True


def _in_path(name: str, paths: list[str], option: str) -> bool:
    for path in paths:
        prefix = path if path.endswith("/") else path + "/"
        if not name.startswith(prefix):
            continue
        if option == "Recursive" or "/" not in name[len(prefix) :]:
            return True
    return False
