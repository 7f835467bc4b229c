"""Version labels and tags of parameters."""

from __future__ import annotations

import json

from sandlot.protocol import ServiceError
from sandlot.services.provider import RequestContext
from sandlot.services.ssm.base import MAX_LABELS, MAX_TAGS, SsmBase, label_problem
from sandlot.services.ssm.schema import PARAMETERS, VERSIONS


class LabelOperations(SsmBase):
    def label_parameter_version(self, ctx: RequestContext, params: dict) -> dict:
        name = params["Name"]
        head = self.parameter(ctx, name)
        number = params.get("ParameterVersion")
        if number is None:  # the newest version (0 names no version)
            number = head["version"]
        target = self.version(ctx, name, number)
        if target is None:
            raise ServiceError(
                "ParameterVersionNotFound",
                f"Systems Manager could not find version {number} of {name}. "
                "Verify the version and try again.",
            )
        asked = list(dict.fromkeys(params["Labels"]))
        invalid = [x for x in asked if label_problem(x)]
        valid = [x for x in asked if x not in invalid]
        labels = json.loads(target["labels"])
        wanted = labels + [x for x in valid if x not in labels]
        if len(wanted) > MAX_LABELS:
            raise ServiceError(
                "ParameterVersionLabelLimitExceeded",
                "A parameter version can have maximum 10 labels.Move one or more labels to "
                "another version and try again.",
            )
        with self.store.transaction():
            # A label names one version: applying it here moves it from any other.
            for row in self.versions(ctx, name):
                if row["version"] == number:
                    continue
                kept = [x for x in json.loads(row["labels"]) if x not in valid]
                if len(kept) != len(json.loads(row["labels"])):
                    self.store.put(VERSIONS, {**row, "labels": json.dumps(kept)})
            self.store.put(VERSIONS, {**target, "labels": json.dumps(wanted)})
        return {"InvalidLabels": invalid, "ParameterVersion": number}

    def unlabel_parameter_version(self, ctx: RequestContext, params: dict) -> dict:
        name, number = params["Name"], params["ParameterVersion"]
        self.parameter(ctx, name)
        target = self.version(ctx, name, number)
        if target is None:
            raise ServiceError(
                "ParameterVersionNotFound",
                f"Systems Manager could not find version {number} of {name}. "
                "Verify the version and try again.",
            )
        labels = json.loads(target["labels"])
        asked = list(dict.fromkeys(params["Labels"]))
        removed = [x for x in asked if x in labels]
        invalid = [x for x in asked if x not in labels]
        if removed:
            kept = [x for x in labels if x not in removed]
            self.store.put(VERSIONS, {**target, "labels": json.dumps(kept)})
        return {"RemovedLabels": removed, "InvalidLabels": invalid}

    # -- tags -----------------------------------------------------------------------------

    def _tagged(self, ctx: RequestContext, params: dict) -> dict:
        if params["ResourceType"] != "Parameter":
            # Documents, maintenance windows, OpsItems… are other parts of SSM.
            raise ServiceError(
                "NotImplemented",
                f"Tags of SSM resource type {params['ResourceType']} are not implemented by "
                "sandlot yet.",
                501,
                sender_fault=False,
            )
        head = self.store.get(PARAMETERS, ctx.account_id, ctx.region, params["ResourceId"])
        if head is None:
            raise ServiceError("InvalidResourceId", "")
        return head

    def add_tags_to_resource(self, ctx: RequestContext, params: dict) -> dict:
        head = self._tagged(ctx, params)
        tags = {t["Key"]: t["Value"] for t in json.loads(head["tags"])}
        tags.update({t["Key"]: t["Value"] for t in params["Tags"]})
        if len(tags) > MAX_TAGS:
            raise ServiceError("TooManyTagsError", "You exceeded the maximum number of tags.")
        self._save_tags(head, tags)
        return {}

    def remove_tags_from_resource(self, ctx: RequestContext, params: dict) -> dict:
        head = self._tagged(ctx, params)
        tags = {t["Key"]: t["Value"] for t in json.loads(head["tags"])}
        for key in params["TagKeys"]:
            tags.pop(key, None)
        self._save_tags(head, tags)
        return {}

    def list_tags_for_resource(self, ctx: RequestContext, params: dict) -> dict:
        return {"TagList": json.loads(self._tagged(ctx, params)["tags"])}

    def _save_tags(self, head: dict, tags: dict) -> None:
        listed = [{"Key": k, "Value": v} for k, v in tags.items()]
        self.store.put(PARAMETERS, {**head, "tags": json.dumps(listed)})
