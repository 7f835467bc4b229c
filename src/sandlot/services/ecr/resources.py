"""CloudFormation resource type of ECR: ``AWS::ECR::Repository`` (Ref: the name;
GetAtt Arn and RepositoryUri), with its repository policy, lifecycle policy, tag
mutability, scanning configuration and tags."""

from __future__ import annotations

from sandlot.services.cloudformation.handlers import (
    Outcome,
    ResourceContext,
    ResourceFailed,
    ResourceType,
    as_json,
)

_SERVED = {
    "RepositoryName", "RepositoryPolicyText", "LifecyclePolicy", "ImageTagMutability",
    "ImageScanningConfiguration", "EncryptionConfiguration", "Tags", "EmptyOnDelete",
}  # fmt: skip


def _check(properties: dict) -> None:
    for name in properties:
        if name not in _SERVED:
            raise ResourceFailed(
                f"Property {name} of AWS::ECR::Repository is not supported by sandlot"
            )


def _lower_keys(value: dict) -> dict:
    """The template's ``ScanOnPush``/``EncryptionType`` are the API's camelCase."""
    return {k[0].lower() + k[1:]: v for k, v in value.items()}


class Repository(ResourceType):
    type_name = "AWS::ECR::Repository"
    name_property = "RepositoryName"
    name_length = 256

    def planned_name(self, ctx: ResourceContext, properties: dict) -> str | None:
        # Repository names are lower case: AWS generates <stack>-<logical>-<random>, lowered.
        return properties.get("RepositoryName") or ctx.generated_name(self.name_length).lower()

    async def _configure(
        self, ctx: ResourceContext, name: str, properties: dict, previous: dict
    ) -> None:
        """The settings that have their own API calls, where they changed."""
        changed = lambda key: properties.get(key) != previous.get(key)  # noqa: E731
        if changed("RepositoryPolicyText"):
            if properties.get("RepositoryPolicyText"):
                await ctx.call("ecr", "SetRepositoryPolicy", {
                    "repositoryName": name, "policyText": as_json(properties["RepositoryPolicyText"])})  # fmt: skip
            elif previous.get("RepositoryPolicyText"):
                await ctx.call("ecr", "DeleteRepositoryPolicy", {"repositoryName": name})
        lifecycle = (properties.get("LifecyclePolicy") or {}).get("LifecyclePolicyText")
        if lifecycle != (previous.get("LifecyclePolicy") or {}).get("LifecyclePolicyText"):
            if lifecycle:
                await ctx.call("ecr", "PutLifecyclePolicy",
                               {"repositoryName": name, "lifecyclePolicyText": lifecycle})  # fmt: skip
            elif previous.get("LifecyclePolicy"):
                await ctx.call("ecr", "DeleteLifecyclePolicy", {"repositoryName": name})

    def _outcome(self, ctx: ResourceContext, name: str) -> Outcome:
        arn = f"arn:aws:ecr:{ctx.region}:{ctx.account_id}:repository/{name}"
        uri = f"{ctx.account_id}.dkr.ecr.{ctx.region}.amazonaws.com/{name}"
        return Outcome(name, name, {"Arn": arn, "RepositoryUri": uri})

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        _check(properties)
        params: dict = {"repositoryName": name, "tags": ctx.tags(properties)}
        if properties.get("ImageTagMutability"):
            params["imageTagMutability"] = properties["ImageTagMutability"]
        if properties.get("ImageScanningConfiguration"):
            params["imageScanningConfiguration"] = _lower_keys(
                properties["ImageScanningConfiguration"]
            )
        if properties.get("EncryptionConfiguration"):
            params["encryptionConfiguration"] = _lower_keys(properties["EncryptionConfiguration"])
        await ctx.call("ecr", "CreateRepository", params)
        await self._configure(ctx, name, properties, {})
        return self._outcome(ctx, name)

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        _check(properties)
        name = current.physical_id
        if properties.get("ImageTagMutability", "MUTABLE") != previous.get(
            "ImageTagMutability", "MUTABLE"
        ):
            await ctx.call("ecr", "PutImageTagMutability", {
                "repositoryName": name, "imageTagMutability": properties.get("ImageTagMutability", "MUTABLE")})  # fmt: skip
        if properties.get("ImageScanningConfiguration") != previous.get(
            "ImageScanningConfiguration"
        ):
            scan = _lower_keys(
                properties.get("ImageScanningConfiguration") or {"ScanOnPush": False}
            )
            await ctx.call("ecr", "PutImageScanningConfiguration",
                           {"repositoryName": name, "imageScanningConfiguration": scan})  # fmt: skip
        if properties.get("Tags") != previous.get("Tags"):
            arn = self._outcome(ctx, name).attributes["Arn"]
            old = {t["Key"] for t in previous.get("Tags") or []} - {
                t["Key"] for t in properties.get("Tags") or []}  # fmt: skip
            if old:
                await ctx.call("ecr", "UntagResource", {"resourceArn": arn, "tagKeys": sorted(old)})
            if ctx.tags(properties):
                await ctx.call(
                    "ecr", "TagResource", {"resourceArn": arn, "tags": ctx.tags(properties)}
                )
        await self._configure(ctx, name, properties, previous)
        return self._outcome(ctx, name)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call("ecr", "DeleteRepository", {"repositoryName": physical_id,
                                                   "force": str(properties.get("EmptyOnDelete")).lower() == "true"})  # fmt: skip
