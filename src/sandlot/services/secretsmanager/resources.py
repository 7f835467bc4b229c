"""CloudFormation resource type of Secrets Manager: ``AWS::SecretsManager::Secret``
(Ref and GetAtt Id: the secret's ARN) with ``SecretString`` or
``GenerateSecretString`` (GetRandomPassword's settings, optionally inside a JSON object
of ``SecretStringTemplate`` under ``GenerateStringKey``)."""

from __future__ import annotations

import json
import uuid

from sandlot.services.cloudformation.handlers import (
    Outcome,
    ResourceContext,
    ResourceFailed,
    ResourceType,
    not_found,
)

_PASSWORD = ("PasswordLength", "ExcludeCharacters", "ExcludeNumbers", "ExcludePunctuation",
             "ExcludeUppercase", "ExcludeLowercase", "IncludeSpace", "RequireEachIncludedType")  # fmt: skip


class Secret(ResourceType):
    type_name = "AWS::SecretsManager::Secret"
    name_property = "Name"
    name_length = 256
    extra_attributes = frozenset({"Id"})

    async def _value(self, ctx: ResourceContext, properties: dict) -> str:
        if properties.get("SecretString") is not None:
            return str(properties["SecretString"])
        generate = properties.get("GenerateSecretString")
        if generate is None:
            return ""
        settings = {k: generate[k] for k in _PASSWORD if k in generate}
        if "PasswordLength" in settings:
            settings["PasswordLength"] = int(settings["PasswordLength"])
        for key in set(settings) - {"PasswordLength", "ExcludeCharacters"}:
            settings[key] = str(settings[key]).lower() == "true"
        password = (await ctx.call("secretsmanager", "GetRandomPassword", settings))[
            "RandomPassword"
        ]
        if "SecretStringTemplate" not in generate:
            return password
        document = json.loads(generate["SecretStringTemplate"])
        document[generate["GenerateStringKey"]] = password
        return json.dumps(document)

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        # The idempotency token an SDK fills in itself.
        params = {"Name": name, "SecretString": await self._value(ctx, properties),
                  "ClientRequestToken": str(uuid.uuid4())}  # fmt: skip
        for key in ("Description", "KmsKeyId"):
            if properties.get(key):
                params[key] = properties[key]
        tags = ctx.tags(properties)
        if tags:
            params["Tags"] = tags
        arn = (await ctx.call("secretsmanager", "CreateSecret", params))["ARN"]
        return Outcome(arn, arn, {"Id": arn})

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        params = {"SecretId": current.physical_id}
        if (properties.get("SecretString") != previous.get("SecretString")
                or properties.get("GenerateSecretString") != previous.get("GenerateSecretString")):  # fmt: skip
            params["SecretString"] = await self._value(ctx, properties)
            params["ClientRequestToken"] = str(uuid.uuid4())
        for key in ("Description", "KmsKeyId"):
            if properties.get(key) != previous.get(key) and properties.get(key):
                params[key] = properties[key]
        if len(params) > 1:
            await ctx.call("secretsmanager", "UpdateSecret", params)
        return current

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        # As CloudFormation: the secret is scheduled for deletion (the default recovery
        # window), not removed at once.
        try:
            await ctx.call("secretsmanager", "DeleteSecret", {"SecretId": physical_id})
        except ResourceFailed as e:
            if not not_found(e):
                raise
