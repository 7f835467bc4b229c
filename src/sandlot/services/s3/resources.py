"""CloudFormation resource types of S3: ``AWS::S3::Bucket`` (Ref: the name; GetAtt Arn,
DomainName, RegionalDomainName, DualStackDomainName, WebsiteURL) and
``AWS::S3::BucketPolicy``. A bucket property S3 in sandlot does not serve fails the
resource naming it, except settings that state AWS's defaults for every new bucket
(all public access blocked, bucket-owner-enforced ownership)."""

from __future__ import annotations

from sandlot.services.cloudformation.handlers import (
    Outcome,
    ResourceContext,
    ResourceFailed,
    ResourceType,
    as_json,
)

_DEFAULT_BLOCK = {
    "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
    "RestrictPublicBuckets": True,
}  # fmt: skip
_SERVED = {"BucketName", "Tags", "VersioningConfiguration", "CorsConfiguration", "BucketEncryption"}


def _is_default(name: str, value) -> bool:
    if name == "AccessControl":  # the canned ACL every bucket has: owner full control
        return value == "Private"
    if name == "PublicAccessBlockConfiguration":
        return {k: str(v).lower() == "true" for k, v in value.items()} == _DEFAULT_BLOCK
    return name == "OwnershipControls" and all(
        r.get("ObjectOwnership") == "BucketOwnerEnforced" for r in value.get("Rules", [])
    )


def _check(properties: dict) -> None:
    for name, value in properties.items():
        if name not in _SERVED and not _is_default(name, value):
            raise ResourceFailed(f"Property {name} of AWS::S3::Bucket is not supported by sandlot")


def _cors(configuration: dict) -> dict:
    rename = {"Id": "ID", "MaxAge": "MaxAgeSeconds", "ExposedHeaders": "ExposeHeaders"}
    rules = [
        {rename.get(k, k): v for k, v in rule.items()}
        for rule in configuration.get("CorsRules", [])
    ]
    for rule in rules:
        if "MaxAgeSeconds" in rule:
            rule["MaxAgeSeconds"] = int(rule["MaxAgeSeconds"])
    return {"CORSRules": rules}


def _encryption_rule(rule: dict) -> dict:
    """A template's encryption rule in the S3 API's shape (``ServerSideEncryptionByDefault``
    is ``ApplyServerSideEncryptionByDefault`` there)."""
    out = {}
    if "ServerSideEncryptionByDefault" in rule:
        out["ApplyServerSideEncryptionByDefault"] = rule["ServerSideEncryptionByDefault"]
    if "BucketKeyEnabled" in rule:
        out["BucketKeyEnabled"] = str(rule["BucketKeyEnabled"]).lower() == "true"
    return out


class Bucket(ResourceType):
    type_name = "AWS::S3::Bucket"
    name_property = "BucketName"
    name_length = 63
    extra_attributes = frozenset(
        {"DomainName", "RegionalDomainName", "DualStackDomainName", "WebsiteURL"}
    )

    def planned_name(self, ctx: ResourceContext, properties: dict) -> str | None:
        return properties.get("BucketName") or ctx.generated_name(self.name_length).lower()

    def _outcome(self, ctx: ResourceContext, name: str) -> Outcome:
        return Outcome(name, name, {
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{ctx.region}.amazonaws.com",
            "DualStackDomainName": f"{name}.s3.dualstack.{ctx.region}.amazonaws.com",
            "WebsiteURL": f"http://{name}.s3-website-{ctx.region}.amazonaws.com",
        })  # fmt: skip

    async def _configure(
        self, ctx: ResourceContext, name: str, properties: dict, previous: dict
    ) -> None:
        if properties.get("VersioningConfiguration") != previous.get("VersioningConfiguration"):
            status = (properties.get("VersioningConfiguration") or {}).get("Status", "Suspended")
            await ctx.call(
                "s3",
                "PutBucketVersioning",
                {"Bucket": name, "VersioningConfiguration": {"Status": status}},
            )
        if properties.get("CorsConfiguration") != previous.get("CorsConfiguration"):
            if properties.get("CorsConfiguration"):
                await ctx.call(
                    "s3",
                    "PutBucketCors",
                    {"Bucket": name, "CORSConfiguration": _cors(properties["CorsConfiguration"])},
                )
            else:
                await ctx.call("s3", "DeleteBucketCors", {"Bucket": name})
        if properties.get("BucketEncryption") != previous.get("BucketEncryption"):
            if properties.get("BucketEncryption"):
                rules = [
                    _encryption_rule(rule)
                    for rule in properties["BucketEncryption"].get(
                        "ServerSideEncryptionConfiguration", []
                    )
                ]
                await ctx.call(
                    "s3",
                    "PutBucketEncryption",
                    {"Bucket": name, "ServerSideEncryptionConfiguration": {"Rules": rules}},
                )
            else:  # back to S3's default, SSE-S3
                await ctx.call("s3", "DeleteBucketEncryption", {"Bucket": name})
        tags = ctx.tags(properties)
        if tags:
            await ctx.call("s3", "PutBucketTagging", {"Bucket": name, "Tagging": {"TagSet": tags}})
        elif previous.get("Tags"):
            await ctx.call("s3", "DeleteBucketTagging", {"Bucket": name})

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        _check(properties)
        params: dict = {"Bucket": name}
        if ctx.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": ctx.region}
        await ctx.call("s3", "CreateBucket", params)
        await self._configure(ctx, name, properties, {})
        return self._outcome(ctx, name)

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        _check(properties)
        await self._configure(ctx, current.physical_id, properties, previous)
        return self._outcome(ctx, current.physical_id)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call("s3", "DeleteBucket", {"Bucket": physical_id})


class BucketPolicy(ResourceType):
    type_name = "AWS::S3::BucketPolicy"

    async def create(self, ctx: ResourceContext, properties: dict, name: str | None) -> Outcome:
        bucket = properties["Bucket"]
        await ctx.call(
            "s3",
            "PutBucketPolicy",
            {"Bucket": bucket, "Policy": as_json(properties["PolicyDocument"])},
        )
        return Outcome(bucket, bucket)

    async def update(self, ctx, current: Outcome, properties: dict, previous: dict) -> Outcome:
        if properties["Bucket"] != current.physical_id:
            await self.delete(ctx, current.physical_id, previous)
        return await self.create(ctx, properties, None)

    async def delete(self, ctx: ResourceContext, physical_id: str, properties: dict) -> None:
        await ctx.call("s3", "DeleteBucketPolicy", {"Bucket": physical_id})
