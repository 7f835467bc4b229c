"""AWS Secrets Manager: secrets with versions and staging labels, values encrypted
through KMS (envelope encryption under the secret's key, AWS's encryption context),
scheduled deletion and restore, tags, resource policies evaluated by the authorizer,
GetRandomPassword, and rotation by a Lambda function (``rotation.py``).

State, lookups and encryption live in ``base.py``; the operations here.
"""

from __future__ import annotations

import base64
import json
import re
import secrets as random
import string

from sandlot.iam.policy import MalformedPolicyError, compile_policy
from sandlot.protocol import ServiceError
from sandlot.services.provider import RequestContext
from sandlot.services.secretsmanager.base import (
    CURRENT,
    DAY_S,
    MANAGED_KEY,
    MARKED_FOR_DELETION,
    MAX_DEPRECATED,
    PREVIOUS,
    Row,
    check_name,
    invalid_parameter,
    invalid_request,
    new_arn,
    not_found,
    stages_of,
)
from sandlot.services.secretsmanager.rotation import RotationOperations
from sandlot.services.secretsmanager.schema import SECRETS, VERSIONS

PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_FILTER_KEYS = ("description", "name", "tag-key", "tag-value", "primary-region",
                "owning-service", "all")  # fmt: skip


def _value_of(params: dict) -> str | bytes | None:
    if params.get("SecretString") is not None and params.get("SecretBinary") is not None:
        raise invalid_parameter(
            "You can't specify both a binary secret value and a string secret value in the "
            "same secret."
        )
    if params.get("SecretString") is not None:
        return params["SecretString"]
    return params.get("SecretBinary")


def _token(params: dict) -> str:
    """The new version's id. SDKs and the CLI always send one; a raw request writing a
    value without it is refused, as AWS does."""
    token = params.get("ClientRequestToken")
    if not token:
        raise invalid_request(
            "You must provide a ClientRequestToken value. We recommend a UUID-type value."
        )
    return token


def _day(ts: float | None) -> float | None:
    """AWS reports when a secret was last accessed as a date (midnight UTC)."""
    return None if ts is None else ts - ts % DAY_S


class SecretsManagerProvider(RotationOperations):
    """All Secrets Manager operations sandlot serves; see the module docstring."""

    # -- secrets ----------------------------------------------------------------------

    async def create_secret(self, ctx: RequestContext, params: dict) -> dict:
        name = params["Name"]
        check_name(name)
        if params.get("AddReplicaRegions"):
            # Replication is not served: refuse rather than create an unreplicated secret.
            raise ServiceError(
                "NotImplemented",
                "Replicating secrets (AddReplicaRegions) is not implemented by sandlot yet.",
                501,
                sender_fault=False,
            )
        value = _value_of(params)
        token = _token(params) if value is not None else params.get("ClientRequestToken")
        for row in self.store.select(
            SECRETS, {"account_id": ctx.account_id, "region": ctx.region, "name": name}
        ):
            if self._alive(row) is None:
                continue
            if row["deleted"] is not None:
                raise invalid_request(
                    "You can't create this secret because a secret with this name is already "
                    "scheduled for deletion."
                )
            same = self.store.get(VERSIONS, row["arn"], token)
            if same is not None and value is not None and await self._same(ctx, row, same, value):
                return {"ARN": row["arn"], "Name": name, "VersionId": token}  # a retry
            raise ServiceError(
                "ResourceExistsException",
                f"The operation failed because the secret {name} already exists.",
            )
        tags = params.get("Tags") or []
        now = self.clock()
        row: Row = {
            "arn": new_arn(ctx.region, ctx.account_id, name),
            "account_id": ctx.account_id,
            "region": ctx.region,
            "name": name,
            "description": params.get("Description"),
            "kms_key_id": params.get("KmsKeyId"),
            "kms_key_arn": None,
            "created": now,
            "last_changed": now,
            "last_accessed": None,
            "deleted": None,
            "deletion_date": None,
            "tags": json.dumps(tags),
            "policy": None,
        }
        version = None
        if value is not None:
            version = await self._new_version(ctx, row, token, value, [CURRENT])
        with self.store.transaction():
            self.save(row)
            if version is not None:
                self.store.put(VERSIONS, version)
        out = {"ARN": row["arn"], "Name": name}
        if version is not None:
            out["VersionId"] = token
        return out

    async def _new_version(
        self, ctx: RequestContext, row: Row, version_id: str, value: str | bytes, stages: list
    ) -> Row:
        key = row["kms_key_arn"] or row["kms_key_id"] or MANAGED_KEY
        if key == MANAGED_KEY and ctx.account_id != row["account_id"]:
            key = f"arn:aws:kms:{row['region']}:{row['account_id']}:{MANAGED_KEY}"
        fields = await self.seal(ctx, row, version_id, value, key)
        row["kms_key_arn"] = fields["kms_key_arn"]
        return {
            "arn": row["arn"],
            "version_id": version_id,
            "created": self.clock(),
            "last_accessed": None,
            "stages": json.dumps(stages),
            **fields,
        }

    async def _same(self, ctx: RequestContext, row: Row, version: Row, value) -> bool:
        return await self.open(ctx, row, version) == value

    def describe_secret(self, ctx: RequestContext, params: dict) -> dict:
        row = self.secret(ctx, params["SecretId"], deleted_ok=True)
        return self._described(row)

    def _described(self, row: Row) -> dict:
        out = _secret_fields(row)
        out.update(self.rotation_fields(row["arn"]))
        out["VersionIdsToStages"] = {
            v["version_id"]: stages_of(v) for v in self.versions(row["arn"]) if stages_of(v)
        }
        out["CreatedDate"] = row["created"]
        return out

    async def update_secret(self, ctx: RequestContext, params: dict) -> dict:
        row = self.secret(ctx, params["SecretId"])
        value = _value_of(params)
        if params.get("Description") is not None:
            row["description"] = params["Description"]
        new_key = params.get("KmsKeyId")
        changed_key = new_key is not None and new_key != row["kms_key_id"]
        if changed_key:
            row["kms_key_id"], row["kms_key_arn"] = new_key, None
        out = {"ARN": row["arn"], "Name": row["name"]}
        if value is not None:
            token = _token(params)
            out["VersionId"] = await self._put_value(ctx, row, token, value, [CURRENT])
            return out
        rewritten = []
        if changed_key:
            # AWS re-encrypts the labelled versions under the new key.
            for version in self.versions(row["arn"]):
                if stages_of(version):
                    plain = await self.open(ctx, row, version)
                    fields = await self._new_version(
                        ctx, row, version["version_id"], plain, stages_of(version)
                    )
                    rewritten.append({**version, **{k: fields[k] for k in (
                        "kms_key_arn", "data_key", "sealed")}})  # fmt: skip
        row["last_changed"] = self.clock()
        with self.store.transaction():
            self.save(row)
            self.store.put_many(VERSIONS, rewritten)
        return out

    def list_secrets(self, ctx: RequestContext, params: dict) -> dict:
        planned = bool(params.get("IncludePlannedDeletion"))
        filters = params.get("Filters") or []
        for f in filters:
            if f.get("Key") not in _FILTER_KEYS:
                raise invalid_parameter(f"Invalid filter key: {f.get('Key')}")
        rows = self.store.select(
            SECRETS, {"account_id": ctx.account_id, "region": ctx.region}, order_by=("created",)
        )
        rows = [r for r in rows if self._alive(r) is not None]
        rows = [r for r in rows if (planned or r["deleted"] is None) and _matches(r, filters)]
        if params.get("SortOrder") == "desc":
            rows.reverse()
        page, token = _page(rows, params)
        out: dict = {
            "SecretList": [
                {**_listed(r, self.versions(r["arn"])), **self.rotation_fields(r["arn"])}
                for r in page
            ]
        }
        if token:
            out["NextToken"] = token
        return out

    def delete_secret(self, ctx: RequestContext, params: dict) -> dict:
        force = bool(params.get("ForceDeleteWithoutRecovery"))
        window = params.get("RecoveryWindowInDays")
        if force and window is not None:
            raise invalid_parameter(
                "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays."
            )
        if window is not None and not 7 <= window <= 30:
            raise invalid_parameter(
                "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive)."
            )
        row = self.secret(ctx, params["SecretId"], deleted_ok=True)
        now = self.clock()
        if force:
            self.purge(row["arn"])
            return {"ARN": row["arn"], "Name": row["name"], "DeletionDate": now}
        if row["deleted"] is not None:
            raise invalid_request(MARKED_FOR_DELETION)
        row["deleted"] = now
        row["deletion_date"] = now + (window or 30) * DAY_S
        self.save(row)
        return {"ARN": row["arn"], "Name": row["name"], "DeletionDate": row["deletion_date"]}

    def restore_secret(self, ctx: RequestContext, params: dict) -> dict:
        row = self.secret(ctx, params["SecretId"], deleted_ok=True)
        row["deleted"] = row["deletion_date"] = None
        row["last_changed"] = self.clock()
        self.save(row)
        return {"ARN": row["arn"], "Name": row["name"]}

    def tag_resource(self, ctx: RequestContext, params: dict) -> dict:
        row = self.secret(ctx, params["SecretId"])
        tags = {t["Key"]: t.get("Value", "") for t in json.loads(row["tags"])}
        tags.update((t["Key"], t.get("Value", "")) for t in params["Tags"])
        if len(tags) > 50:
            raise invalid_parameter("Number of tags exceeds Secrets Manager limit of 50.")
        row["tags"] = json.dumps([{"Key": k, "Value": v} for k, v in tags.items()])
        row["last_changed"] = self.clock()
        self.save(row)
        return {}

    def untag_resource(self, ctx: RequestContext, params: dict) -> dict:
        row = self.secret(ctx, params["SecretId"])
        gone = set(params["TagKeys"])
        row["tags"] = json.dumps([t for t in json.loads(row["tags"]) if t["Key"] not in gone])
        row["last_changed"] = self.clock()
        self.save(row)
        return {}

    # -- values and versions ------------------------------------------------------------

    async def get_secret_value(self, ctx: RequestContext, params: dict) -> dict:
        row = self.secret(ctx, params["SecretId"])
        return await self._value(ctx, row, params.get("VersionId"), params.get("VersionStage"))

    async def _value(self, ctx: RequestContext, row: Row, version_id, stage) -> dict:
        if version_id is not None:
            version = self.store.get(VERSIONS, row["arn"], version_id)
            if version is None or (stage is not None and stage not in stages_of(version)):
                raise not_found(
                    "Secrets Manager can't find the specified secret value for VersionId: "
                    f"{version_id}"
                )
        else:
            stage = stage or CURRENT
            version = self.version_with(row["arn"], stage)
            if version is None:
                raise not_found(
                    "Secrets Manager can't find the specified secret value for staging label: "
                    f"{stage}"
                )
        value = await self.open(ctx, row, version)
        now = self.clock()
        if _day(row["last_accessed"]) != _day(now):  # AWS tracks the day only
            row["last_accessed"] = now
            self.save(row)
        if _day(version["last_accessed"]) != _day(now):
            self.store.put(VERSIONS, {**version, "last_accessed": now})
        out: dict = {"ARN": row["arn"], "Name": row["name"], "VersionId": version["version_id"]}
        out["SecretBinary" if isinstance(value, bytes) else "SecretString"] = value
        out["VersionStages"] = stages_of(version)
        out["CreatedDate"] = version["created"]
        return out

    async def batch_get_secret_value(self, ctx: RequestContext, params: dict) -> dict:
        ids, filters = params.get("SecretIdList"), params.get("Filters")
        if ids and filters:
            raise invalid_parameter(
                "Either 'SecretIdList' or 'Filters' must be provided, not both."
            )
        if not ids and not filters:
            raise invalid_parameter("Either 'SecretIdList' or 'Filters' must be provided.")
        out: dict = {"SecretValues": [], "Errors": []}
        if filters:
            listed = self.list_secrets(
                ctx,
                {"Filters": filters, "MaxResults": params.get("MaxResults"),
                 "NextToken": params.get("NextToken")},
            )  # fmt: skip
            ids = [s["ARN"] for s in listed["SecretList"]]
            if listed.get("NextToken"):
                out["NextToken"] = listed["NextToken"]
        authorizer = self.platform.authorizer
        for ref in ids:
            try:
                # Each secret needs secretsmanager:GetSecretValue, as a single read would.
                if not authorizer.permits(
                    ctx.principal, "secretsmanager", "GetSecretValue", {"SecretId": ref},
                    ctx.region,
                ):  # fmt: skip
                    raise ServiceError(
                        "AccessDeniedException",
                        f"User: {ctx.principal.arn} is not authorized to perform: "
                        f"secretsmanager:GetSecretValue on resource: {ref}",
                    )
                row = self.secret(ctx, ref)
                out["SecretValues"].append(await self._value(ctx, row, None, None))
            except ServiceError as error:
                out["Errors"].append(
                    {"SecretId": ref, "ErrorCode": error.code, "Message": error.message}
                )
        return out

    async def put_secret_value(self, ctx: RequestContext, params: dict) -> dict:
        row = self.secret(ctx, params["SecretId"])
        value = _value_of(params)
        if value is None:
            raise invalid_request("You must provide either SecretString or SecretBinary.")
        token = _token(params)
        stages = params.get("VersionStages") or [CURRENT]
        version_id = await self._put_value(ctx, row, token, value, stages)
        return {"ARN": row["arn"], "Name": row["name"], "VersionId": version_id,
                "VersionStages": stages}  # fmt: skip

    async def _put_value(self, ctx, row: Row, token: str, value, stages: list) -> str:
        """A new version carrying ``stages`` (moved off the versions holding them; the
        version losing AWSCURRENT gets AWSPREVIOUS), or nothing when ``token`` names a
        version with this value already (a retry)."""
        existing = self.store.get(VERSIONS, row["arn"], token)
        if existing is not None:
            if await self._same(ctx, row, existing, value):
                return token
            raise ServiceError(
                "ResourceExistsException",
                "You can't modify an existing version, you can only create a new version.",
            )
        version = await self._new_version(ctx, row, token, value, list(stages))
        changed = self._move_labels(row["arn"], stages, token)
        row["last_changed"] = self.clock()
        with self.store.transaction():
            self.save(row)
            self.store.put(VERSIONS, version)
            self.store.put_many(VERSIONS, changed)
            self._trim(row["arn"])
        return token

    def _move_labels(self, arn: str, stages: list, target: str) -> list[Row]:
        """The other versions, changed: ``stages`` taken off them; when AWSCURRENT moves
        to ``target``, the version that held it becomes AWSPREVIOUS."""
        changed = []
        for version in self.versions(arn):
            if version["version_id"] == target:
                continue
            labels = stages_of(version)
            kept = [s for s in labels if s not in stages]
            if CURRENT in stages and CURRENT in labels:
                kept.append(PREVIOUS)
            elif CURRENT in stages and PREVIOUS in kept:
                kept.remove(PREVIOUS)
            if kept != labels:
                changed.append({**version, "stages": json.dumps(kept)})
        return changed

    def _trim(self, arn: str) -> None:
        """Deprecated (unlabelled) versions beyond AWS's limit go, oldest first."""
        deprecated = [v for v in self.versions(arn) if not stages_of(v)]
        for version in deprecated[: max(0, len(deprecated) - MAX_DEPRECATED)]:
            self.store.delete(VERSIONS, arn, version["version_id"])

    def update_secret_version_stage(self, ctx: RequestContext, params: dict) -> dict:
        row = self.secret(ctx, params["SecretId"])
        stage = params["VersionStage"]
        source, target = params.get("RemoveFromVersionId"), params.get("MoveToVersionId")
        holder = self.version_with(row["arn"], stage)
        if (
            holder is not None
            and holder["version_id"] != source
            and (target is not None and holder["version_id"] != target)
        ):
            raise invalid_parameter(
                f"The staging label {stage} is currently attached to version "
                f"{holder['version_id']}, so you must explicitly reference that version in "
                "RemoveFromVersionId."
            )
        for ref in (source, target):
            if ref is not None and self.store.get(VERSIONS, row["arn"], ref) is None:
                raise not_found(f"Secrets Manager can't find the specified secret version: {ref}")
        if source is not None and (holder is None or holder["version_id"] != source):
            raise invalid_parameter(
                f"The staging label {stage} isn't attached to version {source}."
            )
        changed: list[Row] = []
        if target is not None:
            changed = self._move_labels(row["arn"], [stage], target)
            moved = self.store.get(VERSIONS, row["arn"], target)
            labels = stages_of(moved)
            if stage not in labels:
                labels.append(stage)
            if stage == CURRENT and PREVIOUS in labels:
                labels.remove(PREVIOUS)
            changed.append({**moved, "stages": json.dumps(labels)})
        elif holder is not None:
            labels = [s for s in stages_of(holder) if s != stage]
            changed.append({**holder, "stages": json.dumps(labels)})
        row["last_changed"] = self.clock()
        with self.store.transaction():
            self.save(row)
            self.store.put_many(VERSIONS, changed)
        return {"ARN": row["arn"], "Name": row["name"]}

    def list_secret_version_ids(self, ctx: RequestContext, params: dict) -> dict:
        row = self.secret(ctx, params["SecretId"], deleted_ok=True)
        versions = self.versions(row["arn"])
        if not params.get("IncludeDeprecated"):
            versions = [v for v in versions if stages_of(v)]
        page, token = _page(versions, params)
        listed = []
        for v in page:
            item: dict = {"VersionId": v["version_id"], "VersionStages": stages_of(v)}
            if v["last_accessed"] is not None:
                item["LastAccessedDate"] = _day(v["last_accessed"])
            item["CreatedDate"] = v["created"]
            item["KmsKeyIds"] = [v["kms_key_arn"]]
            listed.append(item)
        out: dict = {"Versions": listed, "ARN": row["arn"], "Name": row["name"]}
        if token:
            out["NextToken"] = token
        return out

    # -- resource policies --------------------------------------------------------------

    def get_resource_policy(self, ctx: RequestContext, params: dict) -> dict:
        row = self.secret(ctx, params["SecretId"])
        out = {"ARN": row["arn"], "Name": row["name"]}
        if row["policy"] is not None:
            out["ResourcePolicy"] = row["policy"]
        return out

    def put_resource_policy(self, ctx: RequestContext, params: dict) -> dict:
        row = self.secret(ctx, params["SecretId"])
        document = params["ResourcePolicy"]
        problems = _policy_problems(document)
        if problems:
            raise ServiceError("MalformedPolicyDocumentException", problems[0])
        if params.get("BlockPublicPolicy") and _public(document):
            raise ServiceError(
                "PublicPolicyException", "The BlockPublicPolicy parameter is set to true and the "
                "resource policy did not prevent broad access to the secret."
            )  # fmt: skip
        row["policy"] = document
        row["last_changed"] = self.clock()
        self.save(row)
        return {"ARN": row["arn"], "Name": row["name"]}

    def delete_resource_policy(self, ctx: RequestContext, params: dict) -> dict:
        row = self.secret(ctx, params["SecretId"])
        row["policy"] = None
        row["last_changed"] = self.clock()
        self.save(row)
        return {"ARN": row["arn"], "Name": row["name"]}

    def validate_resource_policy(self, ctx: RequestContext, params: dict) -> dict:
        if params.get("SecretId") is not None:
            self.secret(ctx, params["SecretId"])
        problems = _policy_problems(params["ResourcePolicy"])
        return {
            "PolicyValidationPassed": not problems,
            "ValidationErrors": [
                {"CheckName": "JSON_SYNTAX_AND_GRAMMAR", "ErrorMessage": p} for p in problems
            ],
        }

    # -- passwords ----------------------------------------------------------------------

    def get_random_password(self, ctx: RequestContext, params: dict) -> dict:
        return {"RandomPassword": random_password(params)}


def random_password(params: dict) -> str:
    """GetRandomPassword with AWS's defaults: 32 characters from letters, digits and
    punctuation, at least one of each included type, from ``secrets`` randomness."""
    length = params.get("PasswordLength") or 32
    if not 1 <= length <= 4096:
        raise invalid_parameter("Password length must be between 1 and 4096.")
    exclude = set(params.get("ExcludeCharacters") or "")
    groups = []
    for flag, chars in (
        ("ExcludeLowercase", string.ascii_lowercase),
        ("ExcludeUppercase", string.ascii_uppercase),
        ("ExcludeNumbers", string.digits),
        ("ExcludePunctuation", PUNCTUATION),
    ):
        if not params.get(flag):
            allowed = [c for c in chars if c not in exclude]
            if allowed:
                groups.append(allowed)
    if params.get("IncludeSpace") and " " not in exclude:
        groups.append([" "])
    if not groups:
        raise invalid_parameter("The password must include at least one type of character.")
    require = params.get("RequireEachIncludedType", True)
    if require and length < len(groups):
        raise invalid_parameter(
            "The password length is too short to include every required character type."
        )
    pool = [c for g in groups for c in g]
    chars = [random.choice(g) for g in groups] if require else []
    chars += [random.choice(pool) for _ in range(length - len(chars))]
    # Shuffle with the same randomness so the required characters sit anywhere.
    for i in range(len(chars) - 1, 0, -1):
        j = random.randbelow(i + 1)
        chars[i], chars[j] = chars[j], chars[i]
    return "".join(chars)


def _policy_problems(document: str) -> list[str]:
    try:
        compile_policy(document, "resource", "secret policy")
    except MalformedPolicyError as error:
        return [str(error)]
    return []


def _public(document: str) -> bool:
    """Whether an Allow statement reaches everyone: Principal "*" without a condition."""
    statements = json.loads(document).get("Statement")
    for s in statements if isinstance(statements, list) else [statements]:
        principal = s.get("Principal")
        everyone = principal == "*" or (isinstance(principal, dict) and "*" in (
            principal.get("AWS") if isinstance(principal.get("AWS"), list)
            else [principal.get("AWS")]))  # fmt: skip
        if s.get("Effect") == "Allow" and everyone and not s.get("Condition"):
            return True
    return False


_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def _words(text: str) -> list[str]:
    """Words as AWS's search splits them: at case changes, letter/digit changes and
    punctuation (``credsDatabase#892`` -> creds, database, 892), lower-cased."""
    return [w.lower() for w in _WORD.findall(text)]


def _matches(row: Row, filters: list[dict]) -> bool:
    """ListSecrets filters, as AWS documents them: name, tag-key and tag-value are
    case-sensitive prefixes; description matches words, not case-sensitive; all
    matches any word in name, description and tags, not case-sensitive. A value
    starting with ``!`` negates; any value of a filter may match; every filter must."""
    tags = json.loads(row["tags"])
    description = row["description"] or ""
    prefixes = {
        "name": [row["name"]],
        "tag-key": [t["Key"] for t in tags],
        "tag-value": [t.get("Value", "") for t in tags],
        "primary-region": [],
        "owning-service": [],
    }
    everything = [row["name"], description] + prefixes["tag-key"] + prefixes["tag-value"]
    words = {
        "description": _words(description),
        "all": [w for text in everything for w in _words(text)],
    }
    for f in filters:
        key, hit = f["Key"], False
        for value in f.get("Values") or []:
            negate = value.startswith("!")
            wanted = value[1:] if negate else value
            if key in words:
                mine, theirs = _words(wanted), words[key]
                combine = all if key == "description" else any
                found = bool(mine) and combine(any(w.startswith(m) for w in theirs) for m in mine)
            else:
                found = any(c.startswith(wanted) for c in prefixes[key])
            if found != negate:
                hit = True
        if not hit:
            return False
    return True


def _page(rows: list, params: dict) -> tuple[list, str | None]:
    """One page of ``rows`` (MaxResults, default 100) and the token of the next."""
    size = params.get("MaxResults") or 100
    start = 0
    if params.get("NextToken"):
        try:
            start = int(base64.b64decode(params["NextToken"]).decode())
        except ValueError:
            raise invalid_parameter("Invalid NextToken.") from None
    end = start + size
    token = base64.b64encode(str(end).encode()).decode() if end < len(rows) else None
    return rows[start:end], token


def _secret_fields(row: Row) -> dict:
    """What DescribeSecret and ListSecrets both answer of a secret."""
    out: dict = {"ARN": row["arn"], "Name": row["name"]}
    if row["description"] is not None:
        out["Description"] = row["description"]
    if row["kms_key_id"] is not None:
        out["KmsKeyId"] = row["kms_key_id"]
    out["LastChangedDate"] = row["last_changed"]
    if row["last_accessed"] is not None:
        out["LastAccessedDate"] = _day(row["last_accessed"])
    if row["deleted"] is not None:
        out["DeletedDate"] = row["deleted"]
    tags = json.loads(row["tags"])
    if tags:
        out["Tags"] = tags
    return out


def _listed(row: Row, versions: list[Row]) -> dict:
    out = _secret_fields(row)
    out["SecretVersionsToStages"] = {
        v["version_id"]: stages_of(v) for v in versions if stages_of(v)
    }
    out["CreatedDate"] = row["created"]
    return out
