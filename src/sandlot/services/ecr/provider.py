"""Amazon ECR: repositories (create, describe, delete, the repository policy, the
lifecycle policy, tag mutability, scanning configuration and tags, stored per account
(the registry id) and region), their images (``services/ecr/images.py``) and the
registry that Docker/OCI clients push to and pull from (``services/ecr/registry.py``,
a data plane of the gateway). Lifecycle policies are stored, not applied: nothing
expires images.

``repositoryUri`` is AWS's (``<account>.dkr.ecr.<region>.amazonaws.com/<name>``); that
is also what Lambda's ``ImageUri`` names. Clients reach the registry at sandlot's
endpoint (``localhost:4566/<name>``) or at ``<account>.dkr.ecr.<region>.localhost:4566``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time

from sandlot.iam.authorizer import ResourcePolicy
from sandlot.protocol import ServiceError, constraints
from sandlot.protocol.dataplane import DataPlaneRequest, DataPlaneResponse
from sandlot.protocol.models import service_model
from sandlot.services.ecr import registry
from sandlot.services.ecr.images import ImageOperations
from sandlot.services.ecr.schema import MIGRATIONS, REPOSITORIES
from sandlot.services.provider import Provider, RequestContext

MAX_TAGS = 50
DEFAULT_PAGE = 100


def invalid(message: str) -> ServiceError:
    return ServiceError("InvalidParameterException", message)


class EcrProvider(ImageOperations, Provider):
    """ECR repositories and images; see the module docstring."""

    service = "ecr"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        platform.store.migrate("ecr", MIGRATIONS)
        self.store = platform.store
        self._init_images(platform)

    async def data_plane(self, request: DataPlaneRequest) -> DataPlaneResponse:
        """A Docker/OCI registry request (``gateway/dataplane.py`` routes ``/v2/``)."""
        return await registry.serve(self, request)

    def validate(self, ctx: RequestContext, params: dict) -> None:
        """The model's constraints (name pattern, lengths, enums): ValidationException."""
        shape = service_model("ecr").operation_model(ctx.operation).input_shape
        found = constraints.violations(shape, params) if shape is not None else []
        if found:
            raise ServiceError("ValidationException", constraints.summary(found))
        registry = params.get("registryId")
        if registry is not None and registry != ctx.account_id:
            # Another account's registry: its repositories are not the caller's to see.
            raise ServiceError(
                "AccessDeniedException",
                f"User: {ctx.principal.arn} is not authorized to perform: "
                f"ecr:{ctx.operation} on resource: arn:aws:ecr:{ctx.region}:{registry}:repository/"
                f"{params.get('repositoryName', '*')}",
            )

    # -- rows -----------------------------------------------------------------------------

    def _repository(self, ctx: RequestContext, name: str) -> dict:
        row = self.store.get(REPOSITORIES, ctx.account_id, ctx.region, name)
        if row is None:
            raise ServiceError(
                "RepositoryNotFoundException",
                f"The repository with name '{name}' does not exist in the registry with id "
                f"'{ctx.account_id}'",
            )
        return row

    def _by_arn(self, ctx: RequestContext, arn: str) -> dict:
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[2] != "ecr" or not parts[5].startswith("repository/"):
            raise invalid(f"Invalid parameter at 'resourceArn' failed to satisfy constraint: "
                          f"'Invalid ARN: {arn}'")  # fmt: skip
        row = self.store.get(REPOSITORIES, parts[4], parts[3], parts[5][len("repository/") :])
        if row is None or parts[4] != ctx.account_id:
            raise ServiceError(
                "RepositoryNotFoundException",
                f"The repository with name '{parts[5][len('repository/') :]}' does not exist "
                f"in the registry with id '{parts[4]}'",
            )
        return row

    @staticmethod
    def _arn(row: dict) -> str:
        return f"arn:aws:ecr:{row['region']}:{row['account_id']}:repository/{row['name']}"

    def _view(self, row: dict) -> dict:
        return {
            "repositoryArn": self._arn(row),
            "registryId": row["account_id"],
            "repositoryName": row["name"],
            "repositoryUri": f"{row['account_id']}.dkr.ecr.{row['region']}.amazonaws.com/{row['name']}",
            "createdAt": dt.datetime.fromtimestamp(row["created"], dt.UTC),
            "imageTagMutability": row["tag_mutability"],
            "imageScanningConfiguration": {"scanOnPush": bool(row["scan_on_push"])},
            "encryptionConfiguration": json.loads(row["encryption"]),
        }

    def resource_policy(self, arn: str) -> ResourcePolicy | None:
        """The repository policy IAM evaluates requests on the repository against."""
        parts = arn.split(":", 5)
        if len(parts) != 6 or not parts[5].startswith("repository/"):
            return None
        row = self.store.get(REPOSITORIES, parts[4], parts[3], parts[5][len("repository/") :])
        if row is None:
            return None
        tags = {t["Key"]: t["Value"] for t in json.loads(row["tags"])}
        return ResourcePolicy(row["policy"], row["account_id"], tags=tags)

    # -- repositories ---------------------------------------------------------------------

    def create_repository(self, ctx: RequestContext, params: dict) -> dict:
        name = params["repositoryName"]
        if self.store.get(REPOSITORIES, ctx.account_id, ctx.region, name) is not None:
            raise ServiceError(
                "RepositoryAlreadyExistsException",
                f"The repository with name '{name}' already exists in the registry with id "
                f"'{ctx.account_id}'",
            )
        encryption = params.get("encryptionConfiguration") or {"encryptionType": "AES256"}
        if encryption.get("encryptionType") == "AES256" and encryption.get("kmsKey"):
            raise invalid("Invalid parameter at 'encryptionConfiguration' failed to satisfy "
                          "constraint: 'KMS key should not be specified for AES256 encryption "
                          "type'")  # fmt: skip
        tags = params.get("tags") or []
        _check_tags(tags)
        row = {
            "account_id": ctx.account_id, "region": ctx.region, "name": name,
            "created": time.time(), "tag_mutability": params.get("imageTagMutability") or "MUTABLE",
            "scan_on_push": int(bool((params.get("imageScanningConfiguration") or {}).get("scanOnPush"))),
            "encryption": json.dumps(encryption), "policy": None, "lifecycle": None,
            "tags": json.dumps(tags),
        }  # fmt: skip
        self.store.put(REPOSITORIES, row, replace=False)
        return {"repository": self._view(row)}

    def describe_repositories(self, ctx: RequestContext, params: dict) -> dict:
        names = params.get("repositoryNames")
        if names:
            return {"repositories": [self._view(self._repository(ctx, n)) for n in names]}
        rows = self.store.select(
            REPOSITORIES, {"account_id": ctx.account_id, "region": ctx.region}, order_by=("name",)
        )
        start = 0
        if params.get("nextToken"):
            try:
                after = base64.urlsafe_b64decode(params["nextToken"].encode()).decode()
            except (ValueError, UnicodeDecodeError):
                raise invalid("Invalid parameter at 'nextToken' failed to satisfy constraint: "
                              "'Invalid pagination token'") from None  # fmt: skip
            start = next((i for i, r in enumerate(rows) if r["name"] > after), len(rows))
        size = params.get("maxResults") or DEFAULT_PAGE
        page = rows[start : start + size]
        result: dict = {"repositories": [self._view(r) for r in page]}
        if start + size < len(rows):
            result["nextToken"] = base64.urlsafe_b64encode(page[-1]["name"].encode()).decode()
        return result

    def delete_repository(self, ctx: RequestContext, params: dict) -> dict:
        row = self._repository(ctx, params["repositoryName"])
        if self.has_images(ctx, row["name"]) and not params.get("force"):
            raise ServiceError(
                "RepositoryNotEmptyException",
                f"The repository with name '{row['name']}' in registry with id "
                f"'{ctx.account_id}' cannot be deleted because it still contains images",
            )
        self.drop_images(ctx, row["name"])
        self.store.delete(REPOSITORIES, ctx.account_id, ctx.region, row["name"])
        return {"repository": self._view(row)}

    def put_image_tag_mutability(self, ctx: RequestContext, params: dict) -> dict:
        row = self._repository(ctx, params["repositoryName"])
        self.store.put(REPOSITORIES, {**row, "tag_mutability": params["imageTagMutability"]})
        return {"registryId": ctx.account_id, "repositoryName": row["name"],
                "imageTagMutability": params["imageTagMutability"]}  # fmt: skip

    def put_image_scanning_configuration(self, ctx: RequestContext, params: dict) -> dict:
        row = self._repository(ctx, params["repositoryName"])
        scan = bool(params["imageScanningConfiguration"].get("scanOnPush"))
        self.store.put(REPOSITORIES, {**row, "scan_on_push": int(scan)})
        return {"registryId": ctx.account_id, "repositoryName": row["name"],
                "imageScanningConfiguration": {"scanOnPush": scan}}  # fmt: skip

    # -- policies -------------------------------------------------------------------------

    def set_repository_policy(self, ctx: RequestContext, params: dict) -> dict:
        row = self._repository(ctx, params["repositoryName"])
        text = params["policyText"]
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        if not isinstance(document, dict) or not document.get("Statement"):
            raise invalid("Invalid parameter at 'PolicyText' failed to satisfy constraint: "
                          "'Invalid repository policy provided'")  # fmt: skip
        self.store.put(REPOSITORIES, {**row, "policy": text})
        return {"registryId": ctx.account_id, "repositoryName": row["name"], "policyText": text}

    def get_repository_policy(self, ctx: RequestContext, params: dict) -> dict:
        row = self._repository(ctx, params["repositoryName"])
        if row["policy"] is None:
            raise _no_policy(ctx, row["name"])
        return {"registryId": ctx.account_id, "repositoryName": row["name"],
                "policyText": row["policy"]}  # fmt: skip

    def delete_repository_policy(self, ctx: RequestContext, params: dict) -> dict:
        answer = self.get_repository_policy(ctx, params)
        row = self._repository(ctx, params["repositoryName"])
        self.store.put(REPOSITORIES, {**row, "policy": None})
        return answer

    def put_lifecycle_policy(self, ctx: RequestContext, params: dict) -> dict:
        row = self._repository(ctx, params["repositoryName"])
        text = params["lifecyclePolicyText"]
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
            raise invalid("Invalid parameter at 'LifecyclePolicyText' failed to satisfy "
                          "constraint: 'Lifecycle policy validation failure: object has missing "
                          "required properties ([\"rules\"])'")  # fmt: skip
        self.store.put(REPOSITORIES, {**row, "lifecycle": text})
        return {"registryId": ctx.account_id, "repositoryName": row["name"],
                "lifecyclePolicyText": text}  # fmt: skip

    def get_lifecycle_policy(self, ctx: RequestContext, params: dict) -> dict:
        row = self._repository(ctx, params["repositoryName"])
        if row["lifecycle"] is None:
            raise ServiceError(
                "LifecyclePolicyNotFoundException",
                f"Lifecycle policy does not exist for the repository with name '{row['name']}' "
                f"in the registry with id '{ctx.account_id}'",
            )
        return {"registryId": ctx.account_id, "repositoryName": row["name"],
                "lifecyclePolicyText": row["lifecycle"]}  # fmt: skip

    def delete_lifecycle_policy(self, ctx: RequestContext, params: dict) -> dict:
        answer = self.get_lifecycle_policy(ctx, params)
        row = self._repository(ctx, params["repositoryName"])
        self.store.put(REPOSITORIES, {**row, "lifecycle": None})
        return answer

    # -- tags -----------------------------------------------------------------------------

    def tag_resource(self, ctx: RequestContext, params: dict) -> dict:
        row = self._by_arn(ctx, params["resourceArn"])
        tags = {t["Key"]: t["Value"] for t in json.loads(row["tags"])}
        tags.update({t["Key"]: t["Value"] for t in params["tags"]})
        merged = [{"Key": k, "Value": v} for k, v in tags.items()]
        _check_tags(merged)
        self.store.put(REPOSITORIES, {**row, "tags": json.dumps(merged)})
        return {}

    def untag_resource(self, ctx: RequestContext, params: dict) -> dict:
        row = self._by_arn(ctx, params["resourceArn"])
        drop = set(params["tagKeys"])
        kept = [t for t in json.loads(row["tags"]) if t["Key"] not in drop]
        self.store.put(REPOSITORIES, {**row, "tags": json.dumps(kept)})
        return {}

    def list_tags_for_resource(self, ctx: RequestContext, params: dict) -> dict:
        return {"tags": json.loads(self._by_arn(ctx, params["resourceArn"])["tags"])}


def _no_policy(ctx: RequestContext, name: str) -> ServiceError:
    return ServiceError(
        "RepositoryPolicyNotFoundException",
        f"Repository policy does not exist for the repository with name '{name}' in the "
        f"registry with id '{ctx.account_id}'",
    )


def _check_tags(tags: list[dict]) -> None:
    if len(tags) > MAX_TAGS:
        raise ServiceError("TooManyTagsException", f"Tag limit exceeded: at most {MAX_TAGS} tags")
    for tag in tags:
        if tag.get("Key", "").lower().startswith("aws:"):
            raise ServiceError(
                "InvalidTagParameterException", "Tag keys cannot start with the aws: prefix"
            )
