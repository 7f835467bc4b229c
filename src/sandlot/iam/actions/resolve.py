"""Which IAM action(s), resource ARN(s) and condition keys AWS evaluates for a request.

What is derived from AWS's service authorization data (``index.py``): the action for
an operation (same name, unless listed in ``_RENAMES``), which resource types it is
authorized on and whether they are required, the ARN format of each type (filled from
request parameters), the condition keys it supports (the context is filtered to
them) and the dependent actions ``iam:PassRole`` and ``lambda:PassCapacityProvider``.

What is written by hand: the few operations whose action has another name or that AWS
never denies, how each service's parameters name resources (``_NAMES`` and the
``_lambda``/``_logs``/``_iam``/``_sts``/``_kms``/``_secretsmanager``/``_ssm``
extractors) and the second actions AWS
documents but the data does not list (``_EXTRAS``).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from sandlot.iam.actions.index import arn_pattern, load_index

Context = dict[str, list[str] | str]


@dataclass(frozen=True)
class Authorization:
    """One action AWS authorizes for a request, on ``resources`` with ``context``."""

    action: str  # "lambda:InvokeFunction"
    resources: tuple[str, ...]  # ARNs; ("*",) when the action has no resource type
    context: Context = field(default_factory=dict, compare=True, hash=False)


# Entity path lookup for IAM ARNs: (resource type, name) -> "/path/" or None.
PathLookup = Callable[[str, str], str | None]
# KMS key lookup: (kind, reference) -> the key's ARN or None; kind is "key" (a KeyId:
# id, key ARN, alias name or alias ARN), "ciphertext" (bytes) or "grant-token".
KeyLookup = Callable[[str, Any], str | None]
# Secrets Manager lookup: a SecretId (name, partial or full ARN) -> the secret's full ARN
# (with the random suffix only the service knows) or None.
SecretLookup = Callable[[str], str | None]
# DynamoDB lookup: a request's parameters -> the partition-key values it names
# (dynamodb:LeadingKeys; only DynamoDB knows each table's key schema).
LeadingKeysLookup = Callable[[dict[str, Any]], list[str]]

# Operations AWS authorizes under another action name.
_RENAMES = {
    ("lambda", "Invoke"): "InvokeFunction",
    ("lambda", "InvokeWithResponseStream"): "InvokeFunction",
    ("lambda", "GetLayerVersionByArn"): "GetLayerVersion",
    # ReEncrypt needs kms:ReEncryptFrom on the source key and kms:ReEncryptTo (_EXTRAS).
    ("kms", "ReEncrypt"): "ReEncryptFrom",
    ("sns", "PublishBatch"): "Publish",  # AWS authorizes a batch as sns:Publish
}

# S3 operations authorized under another action (AWS's "Required permissions for
# Amazon S3 API operations"); the Delete* of a configuration is its Put*.
_S3_RENAMES = {
    "CompleteMultipartUpload": "PutObject",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CopyObject": "PutObject",
    "PostObject": "PutObject",  # POST Object (browser form uploads), not in botocore's model
    "UploadPartCopy": "PutObject",
    "CreateBucketMetadataConfiguration": "CreateBucketMetadataTableConfiguration",
    "DeleteBucketAnalyticsConfiguration": "PutAnalyticsConfiguration",
    "DeleteBucketCors": "PutBucketCORS",
    "DeleteBucketEncryption": "PutEncryptionConfiguration",
    "DeleteBucketIntelligentTieringConfiguration": "PutIntelligentTieringConfiguration",
    "DeleteBucketInventoryConfiguration": "PutInventoryConfiguration",
    "DeleteBucketLifecycle": "PutLifecycleConfiguration",
    "DeleteBucketMetadataConfiguration": "DeleteBucketMetadataTableConfiguration",
    "DeleteBucketMetricsConfiguration": "PutMetricsConfiguration",
    "DeleteBucketOwnershipControls": "PutBucketOwnershipControls",
    "DeleteBucketReplication": "PutReplicationConfiguration",
    "DeleteBucketTagging": "PutBucketTagging",
    "DeleteObjects": "DeleteObject",
    "DeletePublicAccessBlock": "PutBucketPublicAccessBlock",
    "GetBucketAccelerateConfiguration": "GetAccelerateConfiguration",
    "GetBucketAnalyticsConfiguration": "GetAnalyticsConfiguration",
    "GetBucketCors": "GetBucketCORS",
    "GetBucketEncryption": "GetEncryptionConfiguration",
    "GetBucketIntelligentTieringConfiguration": "GetIntelligentTieringConfiguration",
    "GetBucketInventoryConfiguration": "GetInventoryConfiguration",
    "GetBucketLifecycle": "GetLifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
    "GetBucketMetadataConfiguration": "GetBucketMetadataTableConfiguration",
    "GetBucketMetricsConfiguration": "GetMetricsConfiguration",
    "GetBucketNotificationConfiguration": "GetBucketNotification",
    "GetBucketReplication": "GetReplicationConfiguration",
    "GetObjectLockConfiguration": "GetBucketObjectLockConfiguration",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
    "HeadBucket": "ListBucket",
    "HeadObject": "GetObject",
    "ListBucketAnalyticsConfigurations": "GetAnalyticsConfiguration",
    "ListBucketIntelligentTieringConfigurations": "GetIntelligentTieringConfiguration",
    "ListBucketInventoryConfigurations": "GetInventoryConfiguration",
    "ListBucketMetricsConfigurations": "GetMetricsConfiguration",
    "ListBuckets": "ListAllMyBuckets",
    "ListMultipartUploads": "ListBucketMultipartUploads",
    "ListObjectVersions": "ListBucketVersions",
    "ListObjects": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "ListParts": "ListMultipartUploadParts",
    "PutBucketAccelerateConfiguration": "PutAccelerateConfiguration",
    "PutBucketAnalyticsConfiguration": "PutAnalyticsConfiguration",
    "PutBucketCors": "PutBucketCORS",
    "PutBucketEncryption": "PutEncryptionConfiguration",
    "PutBucketIntelligentTieringConfiguration": "PutIntelligentTieringConfiguration",
    "PutBucketInventoryConfiguration": "PutInventoryConfiguration",
    "PutBucketLifecycle": "PutLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
    "PutBucketMetricsConfiguration": "PutMetricsConfiguration",
    "PutBucketNotificationConfiguration": "PutBucketNotification",
    "PutBucketReplication": "PutReplicationConfiguration",
    "PutObjectLockConfiguration": "PutBucketObjectLockConfiguration",
    "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
    "SelectObjectContent": "GetObject",
}
# With a VersionId, these S3 actions become their *Version* twins.
_S3_VERSIONED = {
    "GetObject": "GetObjectVersion",
    "DeleteObject": "DeleteObjectVersion",
    "GetObjectAcl": "GetObjectVersionAcl",
    "PutObjectAcl": "PutObjectVersionAcl",
    "GetObjectTagging": "GetObjectVersionTagging",
    "PutObjectTagging": "PutObjectVersionTagging",
    "DeleteObjectTagging": "DeleteObjectVersionTagging",
    "GetObjectAttributes": "GetObjectVersionAttributes",
    "GetObjectTorrent": "GetObjectVersionTorrent",
}


def _action(service: str, operation: str, params: dict[str, Any]) -> str:
    """The action name (without the service prefix) AWS authorizes the operation as."""
    if service == "sqs":
        return _SQS_RENAMES.get(operation, operation)
    if service != "s3":
        return _RENAMES.get((service, operation), operation)
    action = _S3_RENAMES.get(operation, operation)
    if params.get("VersionId") and action in _S3_VERSIONED:
        return _S3_VERSIONED[action]
    return action


# AWS documents that these need no permission (an explicit deny does not stop them).
NO_PERMISSION = frozenset({("sts", "GetCallerIdentity"), ("sts", "GetSessionToken")})

# Operations whose action is missing from the published data (newer than it, or not
# documented); they are authorized under their own name on "*".
UNDOCUMENTED = frozenset(
    {
        ("logs", "GetLogObject"),
        ("iam", "UpdateDelegationRequest"),
        ("kms", "GetKeyLastUsage"),
        # S3 Express (directory buckets) and Object Lambda operations: other services.
        ("s3", "CreateSession"),
        ("s3", "ListDirectoryBuckets"),
        ("s3", "RenameObject"),
        ("s3", "WriteGetObjectResponse"),
    }
)

# Dependent actions the request itself triggers when it names such a resource (others
# listed as dependent, e.g. kms:DescribeKey, are calls the service makes afterwards).
_REQUEST_DEPENDENTS = ("iam:PassRole", "lambda:PassCapacityProvider")

# Parameters naming a resource other than the one acted on (sources, keys, roles to
# pass); never taken as the target even when their ARN has a matching shape.
_NOT_TARGETS = frozenset(
    {
        "SourceArn",
        "EventSourceArn",
        "CallerArn",
        "KMSKeyArn",
        "KmsKeyArn",
        "SourceKMSKeyArn",
        "RuntimeVersionArn",
        "Role",
        "roleArn",
        "executionRoleArn",
        "importRoleArn",
        "importSourceArn",
        "PermissionsBoundary",
        "filterLogGroupArn",
        "PrincipalArn",
    }
)

# ARN-format placeholder -> request parameters that carry it by name (never an ARN).
_NAMES: dict[str, tuple[str, ...]] = {
    "UUID": ("UUID",),
    "CapacityProviderName": ("CapacityProviderName",),
    "DestinationName": ("destinationName",),
    "DeliverySourceName": ("deliverySourceName", "name"),
    "DeliveryDestinationName": ("deliveryDestinationName", "name"),
    "DeliveryName": ("id",),
    "ScheduledQueryId": ("identifier",),
    "LookupTableName": ("lookupTableName",),
    "FederatedUserName": ("Name",),
    "DelegationRequestId": ("DelegationRequestId",),
    "EntityPath": ("EntityPath",),
    "SamlProviderName": ("Name",),
    "ArchiveName": ("ArchiveName",),
    "ReplayName": ("ReplayName",),
}


@dataclass
class _Parsed:
    """What an extractor found in a request: whole ARNs per resource type, names per
    ARN placeholder, and condition-key values."""

    arns: dict[str, list[str]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    context: Context = field(default_factory=dict)


@dataclass
class _Request:
    params: dict[str, Any]
    account: str
    region: str
    caller: str | None
    paths: PathLookup | None
    keys: KeyLookup | None = None
    secrets: SecretLookup | None = None
    leading_keys: LeadingKeysLookup | None = None


def authorizations(
    service: str,
    operation: str,
    params: dict[str, Any],
    account_id: str,
    region: str,
    *,
    caller_arn: str | None = None,
    iam_path: PathLookup | None = None,
    kms_key: KeyLookup | None = None,
    secret_arn: SecretLookup | None = None,
    leading_keys: LeadingKeysLookup | None = None,
) -> list[Authorization]:
    """The authorizations AWS checks for ``operation`` of ``service`` with ``params``.

    ``account_id``/``region`` are the caller's (resources named by ARN keep their own).
    ``caller_arn`` resolves IAM operations that default to the calling user (GetUser
    without UserName); ``iam_path`` supplies the path of an existing IAM entity, which
    its ARN includes but a request naming it does not (default "/"); ``kms_key`` finds
    the key a KMS request names by alias, ciphertext or grant token; ``secret_arn`` the
    full ARN of the secret a Secrets Manager request names; ``leading_keys`` the
    partition-key values a DynamoDB request names.
    An empty list means AWS requires no permission.
    """
    if (service, operation) in NO_PERMISSION:
        return []
    if service in ("apigateway", "apigatewayv2"):
        return [_apigateway(service, operation, params, region)]
    if service == "dynamodbstreams":  # its actions are DynamoDB's (dynamodb:GetRecords...)
        service = "dynamodb"
    if service == "stepfunctions":  # botocore's name; the actions are states:*
        service = "states"
    if service == "cloudcontrol":  # Cloud Control's actions: cloudformation:GetResource…
        service = "cloudformation"
    req = _Request(
        params, account_id, region, caller_arn, iam_path, kms_key, secret_arn, leading_keys
    )
    if (service, operation) in _PER_ITEM:
        return _PER_ITEM[(service, operation)](req)
    parsed = _EXTRACTORS.get(service, _no_extras)(req)
    _tag_context(params, parsed.context)
    action = _action(service, operation, params)
    main = _authorize(service, action, req, parsed)
    result = [main]
    result += _dependents(service, action, req, main)
    extra = _EXTRAS.get((service, operation))
    if extra is not None:
        result += extra(req, main)
    return result


_URI_LABEL = re.compile(r"\{([^}]+)\}")


def _apigateway(service: str, operation: str, params: dict[str, Any], region: str) -> Authorization:
    """API Gateway authorizes its management APIs (REST and HTTP) by HTTP method on the
    resource path:
    ``apigateway:<METHOD>`` on ``arn:aws:apigateway:<region>::<path>``, the path being
    the operation's request URI (without ``/v2``) filled from the request, ARNs in it
    URL-encoded (tagging: ``/tags/<UrlEncodedResourceARN>``, a resource type the
    published data defines but does not list for the methods)."""
    from sandlot.protocol.models import service_model

    http = service_model(service).operation_model(operation).http
    shape = service_model(service).operation_model(operation).input_shape
    by_label = {
        member.serialization.get("name"): name
        for name, member in (shape.members.items() if shape is not None else ())
        if member.serialization.get("location") == "uri"
    }

    def fill(found: re.Match) -> str:
        value = params.get(by_label.get(found[1].rstrip("+"), ""), "")
        return quote(str(value), safe="")

    context: Context = {}
    _tag_context(params, context)
    path = _URI_LABEL.sub(fill, http["requestUri"].split("?")[0]).removeprefix("/v2")
    resource = f"arn:aws:apigateway:{region}::{path}"
    return Authorization(f"apigateway:{http['method']}", (resource,), context)


def _authorize(service: str, action: str, req: _Request, parsed: _Parsed) -> Authorization:
    """The action on the resources its data names, filled from the parsed request."""
    index = load_index()[service]
    entry = index["actions"].get(action)
    if entry is None:  # UNDOCUMENTED
        return Authorization(f"{service}:{action}", ("*",), {})
    found_required: list[str] = []
    found_optional: list[list[str]] = []
    for kind, required in entry["resources"]:
        arns = _resource_arns(index["resources"][kind], kind, req, parsed)
        if required:
            found_required.extend(arns)
        elif arns:
            found_optional.append(arns)
    # Optional types are alternatives (TagResource on a function *or* a layer ...):
    # the first one the request names is the resource.
    resources = found_required or (found_optional[0] if found_optional else [])
    if not resources and [k for k, _ in entry["resources"]] == ["user"] and _is_user(req.caller):
        # IAM operations on a user act on the calling user when UserName is omitted.
        resources = [req.caller]
    return Authorization(
        f"{service}:{action}",
        tuple(dict.fromkeys(resources)) or ("*",),
        _filter_context(parsed.context, entry["conditions"]),
    )


def _is_user(arn: str | None) -> bool:
    return arn is not None and arn.startswith("arn:") and ":iam::" in arn and ":user/" in arn


def _resource_arns(arn_format: str, kind: str, req: _Request, parsed: _Parsed) -> list[str]:
    """ARNs of type ``kind`` the request names: parsed, passed whole, or filled in."""
    if kind in parsed.arns:
        return parsed.arns[kind]
    pattern = arn_pattern(arn_format)
    for key, value in req.params.items():
        if key not in _NOT_TARGETS and isinstance(value, str) and pattern.match(value):
            return [value]
    return _fill(arn_format, req, parsed.names)


_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


def _fill(arn_format: str, req: _Request, names: dict[str, str]) -> list[str]:
    """``arn_format`` with its placeholders filled, or [] if one is unknown."""
    values = {"Partition": "aws", "Region": req.region, "Account": req.account, **names}
    missing = [p for p in _PLACEHOLDER.findall(arn_format) if p not in values]
    if missing:
        return []
    return [_PLACEHOLDER.sub(lambda m: values[m.group(1)], arn_format)]


def _filter_context(context: Context, keys: list[str]) -> Context:
    """The context entries whose key the action supports (``${TagKey}`` is any tag,
    ``${EncryptionContextKey}`` any context key)."""
    allowed = set(keys)
    prefixes = tuple(k[: k.index("${")] for k in keys if k.endswith("}") and "${" in k)
    return {
        k: v for k, v in context.items() if k in allowed or (prefixes and k.startswith(prefixes))
    }


def _dependents(
    service: str, action: str, req: _Request, main: Authorization
) -> list[Authorization]:
    """The request-triggered dependent actions the data lists, on the ARNs it names."""
    entry = load_index()[service]["actions"].get(action)
    out = []
    for dependent in entry["dependent"] if entry else ():
        if dependent not in _REQUEST_DEPENDENTS:
            continue
        dep_service, dep_action = dependent.split(":")
        dep_index = load_index()[dep_service]
        patterns = [
            arn_pattern(dep_index["resources"][kind])
            for kind, _ in dep_index["actions"][dep_action]["resources"]
        ]
        arns = [a for a in _strings(req.params) if any(p.match(a) for p in patterns)]
        if arns:
            out.append(_dependent(dependent, arns, service, main))
    return out


def _dependent(action: str, arns: list[str], service: str, main: Authorization) -> Authorization:
    context: Context = {}
    if action == "iam:PassRole":
        context["iam:PassedToService"] = f"{service}.amazonaws.com"
        if main.resources != ("*",):
            context["iam:AssociatedResourceArn"] = main.resources[0]
    return Authorization(action, tuple(dict.fromkeys(arns)), context)


# Parameter subtrees holding user data, where an ARN names nothing the request uses.
_USER_DATA = frozenset({"Environment", "Tags", "tags"})


def _strings(value: Any) -> Iterable[str]:
    """Every string in a parameter tree, outside user data."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            if k not in _USER_DATA:
                yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _names(params: dict[str, Any]) -> dict[str, str]:
    """Placeholders filled from parameters that carry a name (not an ARN)."""
    names = {}
    for placeholder, keys in _NAMES.items():
        for key in keys:
            value = params.get(key)
            if isinstance(value, str) and value and not value.startswith("arn:"):
                names[placeholder] = value
                break
    return names


def _tag_context(params: dict[str, Any], context: Context) -> None:
    """aws:RequestTag/<key> and aws:TagKeys from the request's tags, in any of the
    shapes the four services use (map, list of Key/Value, list of keys)."""
    tags: dict[str, str] = {}
    keys: list[str] = []
    for name in ("Tags", "tags"):
        value = params.get(name)
        if isinstance(value, dict):
            tags.update({str(k): str(v) for k, v in value.items()})
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and "Key" in item:
                    tags[str(item["Key"])] = str(item.get("Value", ""))
                elif isinstance(item, str):
                    keys.append(item)  # logs UntagLogGroup: a list of keys
    for name in ("TagKeys", "tagKeys"):
        if isinstance(params.get(name), list):
            keys += [str(k) for k in params[name]]
    for key, value in tags.items():
        context[f"aws:RequestTag/{key}"] = value
    if tags or keys:
        context["aws:TagKeys"] = list(dict.fromkeys([*tags, *keys]))


# ---- per-service extractors -------------------------------------------------------


def _no_extras(req: _Request) -> _Parsed:
    return _Parsed(names=_names(req.params))


_LAMBDA_FUNCTION = re.compile(
    r"(?:arn:(?P<partition>[^:]+):lambda:(?P<region>[^:]+):)?"
    r"(?:(?P<account>[^:]+):function:)?(?P<name>[^:]+)(?::(?P<qualifier>[^:]+))?\Z"
)


def _function_arn(req: _Request, value: str, qualifier: str | None) -> tuple[str, str | None]:
    """(unqualified ARN, qualifier) of a FunctionName in any form Lambda accepts: name,
    name:qualifier, partial ARN (account:function:name) or full ARN."""
    m = _LAMBDA_FUNCTION.match(value)
    if m is None:
        return f"arn:aws:lambda:{req.region}:{req.account}:function:{value}", qualifier
    arn = (
        f"arn:{m['partition'] or 'aws'}:lambda:{m['region'] or req.region}:"
        f"{m['account'] or req.account}:function:{m['name']}"
    )
    return arn, qualifier or m["qualifier"]


def _layer_arn(req: _Request, value: str) -> str:
    """A LayerName (name or layer ARN, possibly with a version) as the layer's ARN."""
    if value.startswith("arn:"):
        return ":".join(value.split(":")[:7])
    return f"arn:aws:lambda:{req.region}:{req.account}:layer:{value}"


def _lambda(req: _Request) -> _Parsed:
    p = req.params
    parsed = _Parsed(names=_names(p))
    ctx = parsed.context
    if isinstance(p.get("FunctionName"), str):
        arn, qualifier = _function_arn(req, p["FunctionName"], p.get("Qualifier"))
        # A qualified request (version or alias) is authorized on the qualified ARN.
        full = f"{arn}:{qualifier}" if qualifier else arn
        parsed.arns["function"] = [full]
        if qualifier:
            kind = (
                "function version"
                if qualifier.isdigit() or qualifier == "$LATEST"
                else "function alias"
            )
            parsed.arns[kind] = [full]
        ctx["lambda:FunctionArn"] = full
    if isinstance(p.get("LayerName"), str):
        layer = _layer_arn(req, p["LayerName"])
        parsed.arns["layer"] = [layer]
        if p.get("VersionNumber") is not None:
            parsed.arns["layerVersion"] = [f"{layer}:{p['VersionNumber']}"]
    if isinstance(p.get("Layers"), list):
        ctx["lambda:Layer"] = [str(x) for x in p["Layers"]]
    for key, cond in (
        ("Principal", "lambda:Principal"),
        ("CodeSigningConfigArn", "lambda:CodeSigningConfigArn"),
        ("AuthType", "lambda:FunctionUrlAuthType"),
        ("FunctionUrlAuthType", "lambda:FunctionUrlAuthType"),
    ):
        if isinstance(p.get(key), str):
            ctx[cond] = p[key]
    vpc = p.get("VpcConfig")
    if isinstance(vpc, dict):
        for key, cond in (
            ("SubnetIds", "lambda:SubnetIds"),
            ("SecurityGroupIds", "lambda:SecurityGroupIds"),
        ):
            if isinstance(vpc.get(key), list):
                ctx[cond] = [str(x) for x in vpc[key]]
    return parsed


def _logs(req: _Request) -> _Parsed:
    p = req.params
    parsed = _Parsed(names=_names(p))
    refs = [p.get("logGroupName"), p.get("logGroupIdentifier")]
    for key in ("logGroupNames", "logGroupIdentifiers", "logGroupArnList"):
        refs += list(p.get(key) or [])
    groups = [_log_group_arn(req, r) for r in refs if isinstance(r, str) and r]
    if groups:
        parsed.arns["log-group"] = list(dict.fromkeys(groups))
        if isinstance(p.get("logStreamName"), str):
            stream = p["logStreamName"]
            parsed.arns["log-stream"] = [
                f"{g}:log-stream:{stream}" for g in parsed.arns["log-group"]
            ]
    if isinstance(p.get("resourceArn"), str):
        parsed.context["logs:LogGeneratingResourceArns"] = [p["resourceArn"]]
    config = p.get("deliveryDestinationConfiguration")
    if isinstance(config, dict) and isinstance(config.get("destinationResourceArn"), str):
        parsed.context["logs:DeliveryDestinationResourceArn"] = config["destinationResourceArn"]
    return parsed


def _log_group_arn(req: _Request, ref: str) -> str:
    """A log group name or ARN as the log-group resource ARN (without AWS's ``:*``)."""
    if ref.startswith("arn:"):
        return ref.removesuffix(":*")
    return f"arn:aws:logs:{req.region}:{req.account}:log-group:{ref}"


# IAM parameter naming an entity -> the resource type whose ARN it fills.
_IAM_ENTITIES = {
    "UserName": ("user", "UserNameWithPath"),
    "GroupName": ("group", "GroupNameWithPath"),
    "RoleName": ("role", "RoleNameWithPath"),
    "InstanceProfileName": ("instance-profile", "InstanceProfileNameWithPath"),
    "PolicyName": ("policy", "PolicyNameWithPath"),
    "ServerCertificateName": ("server-certificate", "CertificateNameWithPath"),
    "VirtualMFADeviceName": ("mfa", "MfaTokenIdWithPath"),
}


def _iam(req: _Request) -> _Parsed:
    p = req.params
    parsed = _Parsed(names=_names(p))
    for key, (kind, placeholder) in _IAM_ENTITIES.items():
        name = p.get(key)
        if not isinstance(name, str) or not name:
            continue
        # Create* carries the new entity's Path; others need the stored entity's.
        path = p.get("Path") or (req.paths(kind, name) if req.paths else None) or "/"
        parsed.names[placeholder] = path.lstrip("/") + name
    if isinstance(p.get("AWSServiceName"), str):
        # The service-linked role's name is chosen by the service, so only the
        # service's path is known.
        parsed.names["RoleNameWithPath"] = f"aws-service-role/{p['AWSServiceName']}/*"
    if isinstance(p.get("Url"), str):  # CreateOpenIDConnectProvider
        parsed.names["OidcProviderName"] = re.sub(r"^https?://", "", p["Url"])
    for key, cond in (
        ("PolicyArn", "iam:PolicyARN"),
        ("PermissionsBoundary", "iam:PermissionsBoundary"),
        ("AWSServiceName", "iam:AWSServiceName"),
        ("OrganizationsPolicyId", "iam:OrganizationsPolicyId"),
        ("ServiceName", "iam:ServiceSpecificCredentialServiceName"),
    ):
        if isinstance(p.get(key), str):
            parsed.context[cond] = p[key]
    return parsed


def _sts(req: _Request) -> _Parsed:
    p = req.params
    parsed = _Parsed(names=_names(p))
    if isinstance(p.get("TargetPrincipal"), str):  # AssumeRoot: the member account
        parsed.arns["root-user"] = [f"arn:aws:iam::{p['TargetPrincipal']}:root"]
    for key, cond in (
        ("RoleSessionName", "sts:RoleSessionName"),
        ("ExternalId", "sts:ExternalId"),
        ("SourceIdentity", "sts:SourceIdentity"),
    ):
        if isinstance(p.get(key), str):
            parsed.context[cond] = p[key]
    if isinstance(p.get("TransitiveTagKeys"), list):
        parsed.context["sts:TransitiveTagKeys"] = [str(k) for k in p["TransitiveTagKeys"]]
    task = p.get("TaskPolicyArn")
    if isinstance(task, dict) and isinstance(task.get("arn"), str):
        parsed.context["sts:TaskPolicyArn"] = task["arn"]
    return parsed


def _s3_object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def _copy_source(value: str) -> tuple[str, str, str | None] | None:
    """(bucket, key, versionId) of an ``x-amz-copy-source`` value."""
    source, _, query = unquote(value).lstrip("/").partition("?versionId=")
    bucket, _, key = source.partition("/")
    return (bucket, key, query or None) if bucket and key else None


def _s3(req: _Request) -> _Parsed:
    p = req.params
    parsed = _Parsed()
    bucket, key = p.get("Bucket"), p.get("Key")
    if isinstance(bucket, str):
        parsed.names["BucketName"] = bucket
        if isinstance(key, str):
            parsed.names["ObjectName"] = key
        deleted = (
            (p.get("Delete") or {}).get("Objects") if isinstance(p.get("Delete"), dict) else None
        )
        if isinstance(deleted, list):
            keys = [
                o["Key"] for o in deleted if isinstance(o, dict) and isinstance(o.get("Key"), str)
            ]
            parsed.arns["object"] = [_s3_object_arn(bucket, k) for k in keys]
    ctx = parsed.context
    for member, condition in (
        ("Prefix", "s3:prefix"),
        ("Delimiter", "s3:delimiter"),
        ("MaxKeys", "s3:max-keys"),
        ("VersionId", "s3:versionid"),
        ("ACL", "s3:x-amz-acl"),
        ("MetadataDirective", "s3:x-amz-metadata-directive"),
        ("ServerSideEncryption", "s3:x-amz-server-side-encryption"),
        ("StorageClass", "s3:x-amz-storage-class"),
    ):
        if p.get(member) is not None:
            ctx[condition] = str(p[member])
    if isinstance(p.get("CopySource"), str):
        ctx["s3:x-amz-copy-source"] = p["CopySource"]
    if isinstance(p.get("CreateBucketConfiguration"), dict):
        constraint = p["CreateBucketConfiguration"].get("LocationConstraint")
        if constraint:
            ctx["s3:LocationConstraint"] = constraint
    return parsed


def _s3_copy_source(req: _Request, main: Authorization) -> list[Authorization]:
    """Copying reads the source object: s3:GetObject (or GetObjectVersion) on it."""
    source = req.params.get("CopySource")
    found = _copy_source(source) if isinstance(source, str) else None
    if found is None:
        return []
    bucket, key, version = found
    action = "s3:GetObjectVersion" if version else "s3:GetObject"
    return [Authorization(action, (_s3_object_arn(bucket, key),), {})]


def _s3_conditional_delete(req: _Request, main: Authorization) -> list[Authorization]:
    """A delete with If-Match reads the object's ETag: AWS requires s3:GetObject too."""
    p = req.params
    if p.get("IfMatch") is None or not isinstance(p.get("Key"), str):
        return []
    return [Authorization("s3:GetObject", (_s3_object_arn(p["Bucket"], p["Key"]),), {})]


def _s3_bypass_governance(req: _Request, main: Authorization) -> list[Authorization]:
    """x-amz-bypass-governance-retention: true needs s3:BypassGovernanceRetention on the
    object(s) (AWS's "Bypassing governance mode")."""
    p = req.params
    if not p.get("BypassGovernanceRetention"):
        return []
    keys = [p["Key"]] if isinstance(p.get("Key"), str) else []
    keys += [o.get("Key") for o in (p.get("Delete") or {}).get("Objects") or []]
    arns = tuple(_s3_object_arn(p["Bucket"], k) for k in keys if isinstance(k, str))
    return [Authorization("s3:BypassGovernanceRetention", arns or ("*",), {})]


def _kms_key_arn(req: _Request, ref: str) -> str | None:
    """The ARN of the key a KeyId names: looked up (aliases need KMS), else as given."""
    found = req.keys("key", ref) if req.keys is not None else None
    if found is not None:
        return found
    if ref.startswith("arn:") and ":key/" in ref:
        return ref
    if not ref.startswith(("alias/", "arn:")):
        return f"arn:aws:kms:{req.region}:{req.account}:key/{ref}"
    return None  # an alias that names no key: authorized on "*", answered NotFound


def _encryption_context(context: Context, value: Any) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            context[f"kms:EncryptionContext:{k}"] = str(v)
        context["kms:EncryptionContextKeys"] = [str(k) for k in value]


# KMS request members -> the condition keys they set.
_KMS_KEYS = {
    "EncryptionAlgorithm": "kms:EncryptionAlgorithm",
    "SourceEncryptionAlgorithm": "kms:EncryptionAlgorithm",
    "SigningAlgorithm": "kms:SigningAlgorithm",
    "MessageType": "kms:MessageType",
    "MacAlgorithm": "kms:MacAlgorithm",
    "KeyUsage": "kms:KeyUsage",
    "Origin": "kms:KeyOrigin",
    "MultiRegion": "kms:MultiRegion",
    "PendingWindowInDays": "kms:ScheduleKeyDeletionPendingWindowInDays",
    "RotationPeriodInDays": "kms:RotationPeriodInDays",
    "KeyPairSpec": "kms:DataKeyPairSpec",
    "BypassPolicyLockoutSafetyCheck": "kms:BypassPolicyLockoutSafetyCheck",
    "GranteePrincipal": "kms:GranteePrincipal",
    "RetiringPrincipal": "kms:RetiringPrincipal",
}


def _kms(req: _Request) -> _Parsed:
    p = req.params
    parsed = _Parsed()
    ctx = parsed.context
    ctx["kms:CallerAccount"] = req.account
    key: str | None = None
    ref = next(
        (p[k] for k in ("KeyId", "SourceKeyId", "TargetKeyId") if isinstance(p.get(k), str)), None
    )
    if ref is not None:
        key = _kms_key_arn(req, ref)
        if ref.startswith("alias/") or ":alias/" in ref:
            ctx["kms:RequestAlias"] = ref[ref.index("alias/") :]
    elif isinstance(p.get("CiphertextBlob"), bytes) and req.keys is not None:
        key = req.keys("ciphertext", p["CiphertextBlob"])
    elif isinstance(p.get("GrantToken"), str) and req.keys is not None:
        key = req.keys("grant-token", p["GrantToken"])
    alias = p.get("AliasName")
    if isinstance(alias, str) and alias.startswith("alias/"):
        parsed.names["Alias"] = alias.removeprefix("alias/")
        if key is None and req.keys is not None:  # DeleteAlias: the key it points to
            key = req.keys("key", alias)
    if key is not None:
        parsed.arns["key"] = [key]
    _encryption_context(ctx, p.get("EncryptionContext", p.get("SourceEncryptionContext")))
    spec = p.get("KeySpec") or p.get("CustomerMasterKeySpec")
    if isinstance(spec, str):
        ctx["kms:KeySpec"] = spec  # CreateKey's (a data key's AES_256 is filtered out)
    for member, condition in _KMS_KEYS.items():
        value = p.get(member)
        if isinstance(value, bool):
            ctx[condition] = "true" if value else "false"
        elif value is not None and not isinstance(value, (dict, list)):
            ctx[condition] = str(value)
    tags = [t for t in p.get("Tags") or [] if isinstance(t, dict) and "TagKey" in t]
    for tag in tags:  # KMS's own tag shape: TagKey/TagValue
        ctx[f"aws:RequestTag/{tag['TagKey']}"] = str(tag.get("TagValue", ""))
    if tags:
        ctx["aws:TagKeys"] = [str(t["TagKey"]) for t in tags]
    if isinstance(p.get("Operations"), list):
        ctx["kms:GrantOperations"] = [str(o) for o in p["Operations"]]
    constraints = p.get("Constraints")
    if isinstance(constraints, dict):
        for kind in ("EncryptionContextSubset", "EncryptionContextEquals"):
            if isinstance(constraints.get(kind), dict):
                ctx["kms:GrantConstraintType"] = kind
                _encryption_context(ctx, constraints[kind])
    if isinstance(p.get("DestinationKeyId"), str) and key is not None:
        ctx["kms:ReEncryptOnSameKey"] = (
            "true" if _kms_key_arn(req, p["DestinationKeyId"]) == key else "false"
        )
    return parsed


def _kms_re_encrypt_to(req: _Request, main: Authorization) -> list[Authorization]:
    """ReEncrypt also needs kms:ReEncryptTo on the destination key."""
    dest = req.params.get("DestinationKeyId")
    arn = _kms_key_arn(req, dest) if isinstance(dest, str) else None
    context: Context = {"kms:CallerAccount": req.account}
    _encryption_context(context, req.params.get("DestinationEncryptionContext"))
    if isinstance(req.params.get("DestinationEncryptionAlgorithm"), str):
        context["kms:EncryptionAlgorithm"] = req.params["DestinationEncryptionAlgorithm"]
    if "kms:ReEncryptOnSameKey" in main.context:
        context["kms:ReEncryptOnSameKey"] = main.context["kms:ReEncryptOnSameKey"]
    if isinstance(dest, str) and (dest.startswith("alias/") or ":alias/" in dest):
        context["kms:RequestAlias"] = dest[dest.index("alias/") :]
    return [Authorization("kms:ReEncryptTo", (arn,) if arn else ("*",), context)]


# SQS's batch operations are authorized as their single versions.
_SQS_RENAMES = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def _sqs(req: _Request) -> _Parsed:
    """The queue a request names: by URL (``<endpoint>/<account>/<name>``), by name
    (CreateQueue, GetQueueUrl), by ARN (move tasks) or inside a move task's handle."""
    p = req.params
    parsed = _Parsed()
    url = p.get("QueueUrl")
    if isinstance(url, str):
        parts = _queue_url_parts(url)
        if len(parts) == 2:
            parsed.arns["queue"] = [f"arn:aws:sqs:{req.region}:{parts[0]}:{parts[1]}"]
        elif len(parts) == 1:
            parsed.names["QueueName"] = parts[0]
    elif isinstance(p.get("QueueName"), str):
        owner = p.get("QueueOwnerAWSAccountId") or req.account
        parsed.arns["queue"] = [f"arn:aws:sqs:{req.region}:{owner}:{p['QueueName']}"]
    elif isinstance(p.get("SourceArn"), str):
        parsed.arns["queue"] = [p["SourceArn"]]
    elif isinstance(p.get("TaskHandle"), str):
        try:
            source = json.loads(base64.b64decode(p["TaskHandle"]))["sourceArn"]
        except (ValueError, KeyError, TypeError):
            source = None
        if isinstance(source, str):
            parsed.arns["queue"] = [source]
    return parsed


def _queue_url_parts(url: str) -> list[str]:
    """A queue URL's path segments: ``[account, name]`` for ``<endpoint>/<account>/<name>``."""
    return [x for x in urlsplit(url).path.split("/") if x]


def only_own_resources(service: str, params: dict[str, Any], account: str) -> bool:
    """Whether the request surely names no resource outside ``account``, told without
    resolving its authorizations: an SQS request on a queue URL of that account (all
    its authorizations are on that queue). The root of ``account`` needs nothing more,
    and SQS's message operations skip ``authorizations`` (~7 % of a batch cycle's
    server time)."""
    if service != "sqs":
        return False
    url = params.get("QueueUrl")
    if not isinstance(url, str):
        return False
    parts = _queue_url_parts(url)
    return len(parts) == 2 and parts[0] == account


# Secrets Manager request members -> the condition keys they set.
_SECRETS_KEYS = {
    "Name": "secretsmanager:Name",
    "Description": "secretsmanager:Description",
    "KmsKeyId": "secretsmanager:KmsKeyId",
    "VersionId": "secretsmanager:VersionId",
    "VersionStage": "secretsmanager:VersionStage",
    "RecoveryWindowInDays": "secretsmanager:RecoveryWindowInDays",
    "ForceDeleteWithoutRecovery": "secretsmanager:ForceDeleteWithoutRecovery",
    "BlockPublicPolicy": "secretsmanager:BlockPublicPolicy",
    "RotationLambdaARN": "secretsmanager:RotationLambdaARN",
    "RotateImmediately": "secretsmanager:RotateImmediately",
}


def _secretsmanager(req: _Request) -> _Parsed:
    """The secret a request names: SecretId looked up to its full ARN (a name or a
    partial ARN lacks the random suffix), or CreateSecret's Name. A new secret's suffix
    is chosen when it is created: it is authorized as ``<name>-??????`` (which the
    patterns ``<name>-*`` and ``<name>-??????`` policies use match)."""
    p = req.params
    parsed = _Parsed()
    ref = p.get("SecretId")
    arn = None
    if isinstance(ref, str):
        arn = req.secrets(ref) if req.secrets is not None else None
        if arn is None:
            arn = ref if ref.startswith("arn:") else _fill_secret(req, ref)
        parsed.context["secretsmanager:SecretId"] = arn
    elif isinstance(p.get("Name"), str):
        arn = _fill_secret(req, p["Name"] + "-??????")
    if arn is not None:
        parsed.arns["Secret"] = [arn]
    for member, condition in _SECRETS_KEYS.items():
        value = p.get(member)
        if isinstance(value, bool):
            parsed.context[condition] = "true" if value else "false"
        elif value is not None and not isinstance(value, (dict, list)):
            parsed.context[condition] = str(value)
    if isinstance(p.get("KmsKeyId"), str) and p["KmsKeyId"].startswith("arn:"):
        parsed.context["secretsmanager:KmsKeyArn"] = p["KmsKeyId"]
    return parsed


def _fill_secret(req: _Request, name: str) -> str:
    return f"arn:aws:secretsmanager:{req.region}:{req.account}:secret:{name}"


def _ssm_parameter(req: _Request, name: str) -> str:
    """A parameter's ARN from its name (a ``:version``/``:label`` selector dropped)."""
    if name.startswith("arn:"):
        return name.rsplit(":", 1)[0] if name.count(":") > 5 else name
    name = name.partition(":")[0]
    return f"arn:aws:ssm:{req.region}:{req.account}:parameter/{name.lstrip('/')}"


def _ssm(req: _Request) -> _Parsed:
    """Parameter Store names parameters by name (one, a list, or a path) and, for
    tags, by ResourceId with ResourceType Parameter."""
    p = req.params
    parsed = _Parsed(names=_names(p))
    names: list[str] = []
    if isinstance(p.get("Name"), str):
        names = [p["Name"]]
    elif isinstance(p.get("Names"), list):
        names = [n for n in p["Names"] if isinstance(n, str)]
    elif isinstance(p.get("Path"), str):
        names = [p["Path"]]
    elif p.get("ResourceType") == "Parameter" and isinstance(p.get("ResourceId"), str):
        names = [p["ResourceId"]]
    if names:
        parsed.arns["parameter"] = [_ssm_parameter(req, n) for n in names]
    for key, condition in (("Overwrite", "ssm:Overwrite"), ("Recursive", "ssm:Recursive")):
        if isinstance(p.get(key), bool):
            parsed.context[condition] = "true" if p[key] else "false"
    return parsed


def _cloudwatch(req: _Request) -> _Parsed:
    """Alarms are named by AlarmName or AlarmNames (ARN ``...:alarm:<name>``);
    PutMetricData's namespace is the ``cloudwatch:namespace`` condition key."""
    p = req.params
    parsed = _Parsed(names=_names(p))
    names: list[str] = []
    if isinstance(p.get("AlarmName"), str):
        names = [p["AlarmName"]]
    elif isinstance(p.get("AlarmNames"), list):
        names = [n for n in p["AlarmNames"] if isinstance(n, str)]
    if names:
        parsed.arns["alarm"] = [
            f"arn:aws:cloudwatch:{req.region}:{req.account}:alarm:{n}" for n in names
        ]
    if isinstance(p.get("Namespace"), str):
        parsed.context["cloudwatch:namespace"] = p["Namespace"]
    return parsed


def _sns(req: _Request) -> _Parsed:
    """The topic a request names: TopicArn/TargetArn/ResourceArn (matched by the ARN
    format), CreateTopic's Name, or the topic a SubscriptionArn belongs to; Subscribe's
    sns:Protocol and sns:Endpoint."""
    p = req.params
    parsed = _Parsed()
    if isinstance(p.get("Name"), str):
        parsed.names["TopicName"] = p["Name"]
    arn = p.get("SubscriptionArn")
    if isinstance(arn, str) and arn.count(":") >= 6:
        parsed.arns["topic"] = [arn.rsplit(":", 1)[0]]
    for key, condition in (("Protocol", "sns:Protocol"), ("Endpoint", "sns:Endpoint")):
        if isinstance(p.get(key), str):
            parsed.context[condition] = p[key]
    return parsed


def _dynamodb_table(req: _Request, name: str) -> str:
    if name.startswith("arn:"):
        return name
    return f"arn:aws:dynamodb:{req.region}:{req.account}:table/{name}"


def _dynamodb(req: _Request) -> _Parsed:
    """DynamoDB names tables by TableName (or ARN), batches by the keys of RequestItems;
    a Query or Scan of an index is authorized on the index's ARN. Condition keys: the
    request's Select, ReturnValues, ReturnConsumedCapacity and the attribute names it
    writes or asks for (dynamodb:Attributes)."""
    p = req.params
    parsed = _Parsed(names=_names(p))
    tables = []
    if isinstance(p.get("TableName"), str):
        tables = [_dynamodb_table(req, p["TableName"])]
        if isinstance(p.get("IndexName"), str):
            tables = [f"{tables[0]}/index/{p['IndexName']}"]
    elif isinstance(p.get("RequestItems"), dict):
        tables = [_dynamodb_table(req, str(t)) for t in p["RequestItems"]]
    elif isinstance(p.get("TargetTableName"), str):  # restores create the target
        tables = [_dynamodb_table(req, p["TargetTableName"])]
    elif isinstance(p.get("TableCreationParameters"), dict):  # ImportTable
        name = p["TableCreationParameters"].get("TableName")
        tables = [_dynamodb_table(req, name)] if isinstance(name, str) else []
    if tables:
        parsed.arns["table"] = tables
    # DynamoDB Streams: a stream by its ARN; GetRecords by its iterator, which begins
    # with the stream's ARN.
    stream = p.get("StreamArn")
    if not isinstance(stream, str) and isinstance(p.get("ShardIterator"), str):
        stream = p["ShardIterator"].split("|")[0]
    if isinstance(stream, str) and stream.startswith("arn:"):
        parsed.arns["stream"] = [stream]
    if isinstance(p.get("GlobalTableName"), str):
        parsed.names["GlobalTableName"] = p["GlobalTableName"]
    for member, condition in (
        ("Select", "dynamodb:Select"),
        ("ReturnValues", "dynamodb:ReturnValues"),
        ("ReturnConsumedCapacity", "dynamodb:ReturnConsumedCapacity"),
    ):
        if isinstance(p.get(member), str):
            parsed.context[condition] = p[member]
    attributes = []
    if isinstance(p.get("Item"), dict):
        attributes = list(p["Item"])
    elif isinstance(p.get("AttributesToGet"), list):
        attributes = [str(a) for a in p["AttributesToGet"]]
    if attributes:
        parsed.context["dynamodb:Attributes"] = attributes
    found = req.leading_keys(p) if req.leading_keys is not None else []
    if found:
        parsed.context["dynamodb:LeadingKeys"] = found
    return parsed


# PartiQL statements are authorized by their verb, on the table they name.
_PARTIQL = re.compile(r'\s*(SELECT|INSERT|UPDATE|DELETE)\b.*?(?:FROM|INTO|UPDATE)?\s*"([^"]+)"',
                      re.IGNORECASE | re.DOTALL)  # fmt: skip


def _partiql(req: _Request, statements: list[str]) -> list[Authorization]:
    out = []
    for statement in statements:
        m = _PARTIQL.match(statement)
        if m is None:
            continue
        table = _dynamodb_table(req, m[2].split(".")[0])
        out.append(Authorization(f"dynamodb:PartiQL{m[1].capitalize()}", (table,), {}))
    return out or [Authorization("dynamodb:PartiQLSelect", ("*",), {})]


def _transact_items(req: _Request) -> list[Authorization]:
    """A transaction is authorized per action, as the single-item operation on its
    table (ConditionCheck as dynamodb:ConditionCheckItem)."""
    actions = {"Get": "GetItem", "Put": "PutItem", "Update": "UpdateItem",
               "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}  # fmt: skip
    out = []
    for entry in req.params.get("TransactItems") or ():
        for kind, body in entry.items() if isinstance(entry, dict) else ():
            if (
                kind in actions
                and isinstance(body, dict)
                and isinstance(body.get("TableName"), str)
            ):
                table = _dynamodb_table(req, body["TableName"])
                out.append(Authorization(f"dynamodb:{actions[kind]}", (table,), {}))
    return out or [Authorization("dynamodb:GetItem", ("*",), {})]


_PER_ITEM: dict[tuple[str, str], Callable[[_Request], list[Authorization]]] = {
    ("dynamodb", "TransactWriteItems"): _transact_items,
    ("dynamodb", "TransactGetItems"): _transact_items,
    ("dynamodb", "ExecuteStatement"): lambda req: _partiql(req, [str(req.params.get("Statement"))]),
    ("dynamodb", "BatchExecuteStatement"): lambda req: _partiql(
        req, [str(s.get("Statement")) for s in req.params.get("Statements") or ()
              if isinstance(s, dict)]),
    ("dynamodb", "ExecuteTransaction"): lambda req: _partiql(
        req, [str(s.get("Statement")) for s in req.params.get("TransactStatements") or ()
              if isinstance(s, dict)]),
}  # fmt: skip


def _cloudformation(req: _Request) -> _Parsed:
    """CloudFormation names a stack by name or id (ARN); a stack's id ends in a UUID the
    request does not carry, so a name is authorized on ``stack/<name>/*`` as AWS's
    policies write it. Condition keys: the service role, template URL, resource types."""
    p = req.params
    parsed = _Parsed(names=_names(p))
    name = p.get("StackName")
    if isinstance(name, str) and name:
        parsed.arns["stack"] = [
            name if name.startswith("arn:")
            else f"arn:aws:cloudformation:{req.region}:{req.account}:stack/{name}/*"
        ]  # fmt: skip
    for key, condition in (
        ("RoleARN", "cloudformation:RoleArn"),
        ("TemplateURL", "cloudformation:TemplateUrl"),
        ("ChangeSetName", "cloudformation:ChangeSetName"),
        ("ResourceTypes", "cloudformation:ResourceTypes"),
    ):
        if isinstance(p.get(key), str | list):
            parsed.context[condition] = p[key]
    return parsed


def _states(req: _Request) -> _Parsed:
    """Step Functions: a new state machine, activity or alias is authorized on the ARN
    its name makes (an alias: the ARN of its routing's machine, qualified by the alias
    name); a qualified machine ARN also sets ``states:StateMachineQualifier``."""
    p = req.params
    parsed = _Parsed()
    base = f"arn:aws:states:{req.region}:{req.account}"
    name = p.get("name")
    routing = p.get("routingConfiguration")
    if isinstance(name, str) and isinstance(routing, list) and routing:
        version = (
            routing[0].get("stateMachineVersionArn", "") if isinstance(routing[0], dict) else ""
        )
        parsed.arns["statemachine"] = [f"{version.rsplit(':', 1)[0]}:{name}"]
    elif isinstance(name, str) and "definition" in p:
        parsed.arns["statemachine"] = [f"{base}:stateMachine:{name}"]
    elif isinstance(name, str) and "stateMachineArn" not in p:
        parsed.arns["activity"] = [f"{base}:activity:{name}"]
    for key in ("stateMachineArn", "stateMachineVersionArn", "stateMachineAliasArn"):
        arn = p.get(key)
        if isinstance(arn, str) and arn.count(":") == 7:
            parsed.context["states:StateMachineQualifier"] = arn.rsplit(":", 1)[1]
    resource = p.get("resourceArn")
    if isinstance(resource, str) and ":activity:" in resource:
        parsed.arns["activity"] = [resource]
    elif isinstance(resource, str):
        parsed.arns["statemachine"] = [resource]
    return parsed


def _events(req: _Request) -> _Parsed:
    """EventBridge names buses by name or ARN (PutEvents per entry) and rules by name on
    a bus: a rule on the default bus has its own ARN shape (``rule/<name>``)."""
    p = req.params
    parsed = _Parsed(names=_names(p))
    if isinstance(p.get("Name"), str):  # connections and API destinations go by Name
        parsed.names["ConnectionName"] = parsed.names["ApiDestinationName"] = p["Name"]

    def bus(value: object) -> tuple[str, str]:
        if isinstance(value, str) and value.startswith("arn:"):
            return value, value.rsplit("/", 1)[-1]
        name = value if isinstance(value, str) and value else "default"
        return f"arn:aws:events:{req.region}:{req.account}:event-bus/{name}", name

    entries = [e for e in p.get("Entries") or [] if isinstance(e, dict)]
    if entries:
        parsed.arns["event-bus"] = list(
            dict.fromkeys(bus(e.get("EventBusName"))[0] for e in entries)
        )
        for key, condition in (("Source", "events:source"), ("DetailType", "events:detail-type")):
            values = [e[key] for e in entries if isinstance(e.get(key), str)]
            if values:
                parsed.context[condition] = list(dict.fromkeys(values))
        return parsed
    # Bus operations name their bus Name (only event-bus actions read this entry); an
    # archive its bus EventSourceArn, a replay Destination.Arn.
    source = p.get("EventSourceArn")
    destination = p.get("Destination") if isinstance(p.get("Destination"), dict) else {}
    if isinstance(source, str) and ":archive/" in source:
        parsed.arns["archive"] = [source]  # a replay's (EventSourceArn is not a target)
    if isinstance(source, str) and ":event-bus/" in source:
        parsed.arns["event-bus"] = [source]
    elif isinstance(destination.get("Arn"), str):
        parsed.arns["event-bus"] = [destination["Arn"]]
    else:
        parsed.arns["event-bus"] = [bus(p.get("EventBusName") or p.get("Name"))[0]]
    rule = p.get("Rule") or p.get("Name")
    if isinstance(rule, str):
        rule_bus, custom = bus(p.get("EventBusName"))
        region, account = rule_bus.split(":")[3], rule_bus.split(":")[4]
        on_default = custom == "default"
        base = f"arn:aws:events:{region}:{account}:rule/"
        parsed.arns["rule-on-default-event-bus"] = [base + rule] if on_default else []
        parsed.arns["rule-on-custom-event-bus"] = [] if on_default else [f"{base}{custom}/{rule}"]
    targets = [t["Arn"] for t in p.get("Targets") or [] if isinstance(t, dict) and "Arn" in t]
    if targets:
        parsed.context["events:TargetArn"] = targets
    return parsed


def _scheduler(req: _Request) -> _Parsed:
    """Scheduler names a schedule by Name in GroupName (default ``default``) and a group
    by Name."""
    p = req.params
    parsed = _Parsed()
    name = p.get("Name")
    base = f"arn:aws:scheduler:{req.region}:{req.account}"
    if isinstance(name, str):
        group = p.get("GroupName") if isinstance(p.get("GroupName"), str) else "default"
        parsed.arns["schedule"] = [f"{base}:schedule/{group}/{name}"]
        parsed.arns["schedule-group"] = [f"{base}:schedule-group/{name}"]
    return parsed


def _pipes(req: _Request) -> _Parsed:
    """Pipes names a pipe by Name, and by its ARN for tags."""
    p = req.params
    parsed = _Parsed()
    if isinstance(p.get("Name"), str):
        parsed.arns["pipe"] = [f"arn:aws:pipes:{req.region}:{req.account}:pipe/{p['Name']}"]
    elif isinstance(p.get("resourceArn"), str):
        parsed.arns["pipe"] = [p["resourceArn"]]
    return parsed


def _ecr(req: _Request) -> _Parsed:
    """ECR names a repository by repositoryName (in the registryId account, default
    the caller's) or, for tags, by its ARN."""
    p = req.params
    parsed = _Parsed()
    account = p.get("registryId") if isinstance(p.get("registryId"), str) else req.account
    names: list[str] = []
    if isinstance(p.get("repositoryName"), str):
        names = [p["repositoryName"]]
    elif isinstance(p.get("repositoryNames"), list):
        names = [n for n in p["repositoryNames"] if isinstance(n, str)]
    elif "repositoryNames" in p or not p.get("resourceArn"):
        names = ["*"]  # DescribeRepositories of them all
    arns = [f"arn:aws:ecr:{req.region}:{account}:repository/{n}" for n in names]
    if isinstance(p.get("resourceArn"), str):
        arns = [p["resourceArn"]]
    parsed.arns["repository"] = arns
    return parsed


def _kinesis(req: _Request) -> _Parsed:
    """Kinesis names a stream by StreamName or StreamARN (GetRecords by its iterator,
    which begins with the stream's ARN), a consumer by ConsumerARN, and tags either by
    ResourceARN; StartStreamEncryption's key is a kmsKey resource."""
    p = req.params
    parsed = _Parsed()
    stream = p.get("StreamARN")
    if not isinstance(stream, str) and isinstance(p.get("StreamName"), str):
        stream = f"arn:aws:kinesis:{req.region}:{req.account}:stream/{p['StreamName']}"
    if not isinstance(stream, str) and isinstance(p.get("ShardIterator"), str):
        stream = p["ShardIterator"].partition("|")[0]
    resource = p.get("ResourceARN")
    consumer = p.get("ConsumerARN")
    if isinstance(resource, str):
        if "/consumer/" in resource:
            consumer = resource
        else:
            stream = resource
    if isinstance(stream, str) and stream.startswith("arn:"):
        parsed.arns["stream"] = [stream]
    if isinstance(consumer, str) and consumer.startswith("arn:"):
        parsed.arns["consumer"] = [consumer]
    key = p.get("KeyId")
    if isinstance(key, str) and key:
        if key.startswith("arn:") and ":key/" in key:
            parsed.arns["kmsKey"] = [key]
        elif not key.startswith(("arn:", "alias/")):
            parsed.arns["kmsKey"] = [f"arn:aws:kms:{req.region}:{req.account}:key/{key}"]
    return parsed


def _firehose(req: _Request) -> _Parsed:
    """Firehose names its delivery stream by DeliveryStreamName."""
    parsed = _Parsed()
    name = req.params.get("DeliveryStreamName")
    if isinstance(name, str) and name:
        parsed.arns["deliverystream"] = [
            f"arn:aws:firehose:{req.region}:{req.account}:deliverystream/{name}"
        ]
    return parsed


def _cognito_idp(req: _Request) -> _Parsed:
    """Cognito user pools name a pool by UserPoolId (the operations on one user, group or
    client act on the pool)."""
    parsed = _Parsed()
    pool = req.params.get("UserPoolId")
    if isinstance(pool, str):
        parsed.arns["userpool"] = [
            f"arn:aws:cognito-idp:{req.region}:{req.account}:userpool/{pool}"
        ]
    return parsed


_EXTRACTORS: dict[str, Callable[[_Request], _Parsed]] = {
    "cognito-idp": _cognito_idp,
    "states": _states,
    "ecr": _ecr,
    "firehose": _firehose,
    "kinesis": _kinesis,
    "cloudformation": _cloudformation,
    "events": _events,
    "scheduler": _scheduler,
    "pipes": _pipes,
    "sns": _sns,
    "cloudwatch": _cloudwatch,
    "dynamodb": _dynamodb,
    "ssm": _ssm,
    "sqs": _sqs,
    "s3": _s3,
    "lambda": _lambda,
    "logs": _logs,
    "iam": _iam,
    "sts": _sts,
    "kms": _kms,
    "secretsmanager": _secretsmanager,
}


# ---- second actions AWS documents that the data does not list ------------------------


def _layers(req: _Request, main: Authorization) -> list[Authorization]:
    """Using a layer needs lambda:GetLayerVersion on each layer version."""
    layers = [x for x in req.params.get("Layers") or [] if isinstance(x, str)]
    return [Authorization("lambda:GetLayerVersion", (x,), {}) for x in layers]


def _pass_role(req: _Request, main: Authorization) -> list[Authorization]:
    """Changing a function's role passes the new role to Lambda."""
    role = req.params.get("Role")
    if not isinstance(role, str):
        return []
    return [_dependent("iam:PassRole", [role], "lambda", main)]


def _session_context(req: _Request, main: Authorization) -> list[Authorization]:
    """Session tags need sts:TagSession and a source identity sts:SetSourceIdentity,
    on the same role (AWS's AssumeRole documentation)."""
    out = []
    if req.params.get("Tags"):
        tag_context = {
            k: v
            for k, v in main.context.items()
            if k.startswith("aws:") or k == "sts:TransitiveTagKeys"
        }
        out.append(Authorization("sts:TagSession", main.resources, tag_context))
    if isinstance(req.params.get("SourceIdentity"), str):
        identity = {"sts:SourceIdentity": req.params["SourceIdentity"]}
        out.append(Authorization("sts:SetSourceIdentity", main.resources, identity))
    return out


def _instance_profile_role(req: _Request, main: Authorization) -> list[Authorization]:
    """Adding a role to an instance profile passes it (the data's dependent action,
    named here because the request carries a role name rather than an ARN)."""
    name = req.params.get("RoleName")
    if not isinstance(name, str):
        return []
    path = (req.paths("role", name) if req.paths else None) or "/"
    role = f"arn:aws:iam::{req.account}:role/{path.lstrip('/')}{name}"
    return [Authorization("iam:PassRole", (role,), {"iam:PassedToService": "ec2.amazonaws.com"})]


_EXTRAS: dict[tuple[str, str], Callable[[_Request, Authorization], list[Authorization]]] = {
    ("lambda", "CreateFunction"): _layers,
    ("lambda", "UpdateFunctionConfiguration"): lambda req, main: (
        _pass_role(req, main) + _layers(req, main)
    ),
    ("sts", "AssumeRole"): _session_context,
    ("iam", "AddRoleToInstanceProfile"): _instance_profile_role,
    ("s3", "CopyObject"): _s3_copy_source,
    ("s3", "UploadPartCopy"): _s3_copy_source,
    ("s3", "DeleteObject"): lambda req, main: (
        _s3_conditional_delete(req, main) + _s3_bypass_governance(req, main)
    ),
    ("s3", "DeleteObjects"): _s3_bypass_governance,
    ("s3", "PutObjectRetention"): _s3_bypass_governance,
    ("kms", "ReEncrypt"): _kms_re_encrypt_to,
}
