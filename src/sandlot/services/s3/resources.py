"""CloudFormation resource types of S3: ``AWS::S3::Bucket`` (Ref: the name; GetAtt Arn,
DomainName, RegionalDomainName, DualStackDomainName, WebsiteURL) and
``AWS::S3::BucketPolicy``. A bucket property S3 in sandlot does not serve fails the
resource naming it."""

from __future__ import annotations

import re

from sandlot.services.cloudformation.handlers import (
    Outcome,
    ResourceContext,
    ResourceFailed,
    ResourceType,
    as_json,
)

_SERVED = {
    "BucketName", "Tags", "VersioningConfiguration", "CorsConfiguration", "BucketEncryption",
    "LifecycleConfiguration", "PublicAccessBlockConfiguration", "OwnershipControls",
    "WebsiteConfiguration", "AccessControl", "LoggingConfiguration",
}  # fmt: skip


def _canned(value: str | None) -> str:
    """A template's canned ACL (``LogDeliveryWrite``) as S3's ``x-amz-acl`` names it."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", value or "Private").lower()


def _check(properties: dict) -> None:
    for name in properties:
        if name not in _SERVED:
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


def _lifecycle_rule(rule: dict) -> dict:
    """A template's lifecycle rule in the S3 API's shape (CloudFormation flattens the
    filter and the expiration into the rule, and takes numbers as strings too)."""
    out: dict = {"Status": rule["Status"]}
    if "Id" in rule:
        out["ID"] = rule["Id"]
    conditions: dict = {}
    if "Prefix" in rule:
        conditions["Prefix"] = rule["Prefix"]
    tags = [{"Key": t["Key"], "Value": t["Value"]} for t in rule.get("TagFilters") or []]
    for size in ("ObjectSizeGreaterThan", "ObjectSizeLessThan"):
        if size in rule:
            conditions[size] = int(rule[size])
    if len(conditions) + len(tags) > 1:
        out["Filter"] = {"And": {**conditions, **({"Tags": tags} if tags else {})}}
    elif tags:
        out["Filter"] = {"Tag": tags[0]}
    else:
        out["Filter"] = conditions
    expiration: dict = {}
    if "ExpirationInDays" in rule:
        expiration["Days"] = int(rule["ExpirationInDays"])
    if "ExpirationDate" in rule:
        expiration["Date"] = rule["ExpirationDate"]
    if "ExpiredObjectDeleteMarker" in rule:
        expiration["ExpiredObjectDeleteMarker"] = _true(rule["ExpiredObjectDeleteMarker"])
    if expiration:
        out["Expiration"] = expiration
    noncurrent = dict(rule.get("NoncurrentVersionExpiration") or {})
    if "NoncurrentVersionExpirationInDays" in rule:
        noncurrent["NoncurrentDays"] = rule["NoncurrentVersionExpirationInDays"]
    if noncurrent:
        out["NoncurrentVersionExpiration"] = {k: int(v) for k, v in noncurrent.items()}
    if "AbortIncompleteMultipartUpload" in rule:
        days = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        out["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(days)}
    transitions = list(rule.get("Transitions") or []) + (
        [rule["Transition"]] if "Transition" in rule else []
    )
    if transitions:
        out["Transitions"] = [_transition(t, "Days") for t in transitions]
    noncurrent_transitions = list(rule.get("NoncurrentVersionTransitions") or []) + (
        [rule["NoncurrentVersionTransition"]] if "NoncurrentVersionTransition" in rule else []
    )
    if noncurrent_transitions:
        out["NoncurrentVersionTransitions"] = [
            _transition(t, "NoncurrentDays") for t in noncurrent_transitions
        ]
    return out


def _transition(transition: dict, days: str) -> dict:
    out = {"StorageClass": transition["StorageClass"]}
    if "TransitionInDays" in transition:
        out[days] = int(transition["TransitionInDays"])
    if "TransitionDate" in transition:
        out["Date"] = transition["TransitionDate"]
    if "NewerNoncurrentVersions" in transition:
        out["NewerNoncurrentVersions"] = int(transition["NewerNoncurrentVersions"])
    return out


def _website(configuration: dict) -> dict:
    """A template's website configuration in the S3 API's shape."""
    out: dict = {}
    if "IndexDocument" in configuration:
        out["IndexDocument"] = {"Suffix": configuration["IndexDocument"]}
    if "ErrorDocument" in configuration:
        out["ErrorDocument"] = {"Key": configuration["ErrorDocument"]}
    if "RedirectAllRequestsTo" in configuration:
        out["RedirectAllRequestsTo"] = configuration["RedirectAllRequestsTo"]
    rules = [
        {
            **({"Condition": r["RoutingRuleCondition"]} if "RoutingRuleCondition" in r else {}),
            "Redirect": r.get("RedirectRule") or {},
        }
        for r in configuration.get("RoutingRules") or []
    ]
    if rules:
        out["RoutingRules"] = rules
    return out


def _true(value) -> bool:
    return str(value).lower() == "true"


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
        if properties.get("LifecycleConfiguration") != previous.get("LifecycleConfiguration"):
            configuration = properties.get("LifecycleConfiguration")
            if configuration:
                params = {
                    "Bucket": name,
                    "LifecycleConfiguration": {
                        "Rules": [_lifecycle_rule(r) for r in configuration.get("Rules", [])]
                    },
                }
                if "TransitionDefaultMinimumObjectSize" in configuration:
                    minimum = configuration["TransitionDefaultMinimumObjectSize"]
                    params["TransitionDefaultMinimumObjectSize"] = minimum
                await ctx.call("s3", "PutBucketLifecycleConfiguration", params)
            else:
                await ctx.call("s3", "DeleteBucketLifecycle", {"Bucket": name})
        website = properties.get("WebsiteConfiguration")
        if website != previous.get("WebsiteConfiguration"):
            if website:
                await ctx.call(
                    "s3",
                    "PutBucketWebsite",
                    {"Bucket": name, "WebsiteConfiguration": _website(website)},
                )
            else:
                await ctx.call("s3", "DeleteBucketWebsite", {"Bucket": name})
        block = properties.get("PublicAccessBlockConfiguration")
        if block != previous.get("PublicAccessBlockConfiguration"):
            if block is not None:
                settings = {k: _true(v) for k, v in block.items()}
                await ctx.call(
                    "s3",
                    "PutPublicAccessBlock",
                    {"Bucket": name, "PublicAccessBlockConfiguration": settings},
                )
            else:
                await ctx.call("s3", "DeletePublicAccessBlock", {"Bucket": name})
        # An ACL is dropped before, and set after, the Object Ownership that allows it.
        canned = _canned(properties.get("AccessControl"))
        changed = canned != _canned(previous.get("AccessControl"))
        if changed and canned == "private":
            await ctx.call("s3", "PutBucketAcl", {"Bucket": name, "ACL": canned})
        ownership = properties.get("OwnershipControls")
        if ownership and ownership != previous.get("OwnershipControls"):
            await ctx.call(
                "s3", "PutBucketOwnershipControls", {"Bucket": name, "OwnershipControls": ownership}
            )
        if changed and canned != "private":
            await ctx.call("s3", "PutBucketAcl", {"Bucket": name, "ACL": canned})
        logging = properties.get("LoggingConfiguration")
        if logging != previous.get("LoggingConfiguration"):
            status = {}
            if logging:  # the template's DestinationBucketName/LogFilePrefix, S3's names
                status["LoggingEnabled"] = {
                    "TargetBucket": logging.get("DestinationBucketName") or name,
                    "TargetPrefix": logging.get("LogFilePrefix") or "",
                }
            await ctx.call(
                "s3", "PutBucketLogging", {"Bucket": name, "BucketLoggingStatus": status}
            )
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
