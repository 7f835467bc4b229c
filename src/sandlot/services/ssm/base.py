"""What every part of the Parameter Store provider shares: state, AWS's name, label and
value rules, reading parameters and their versions, and SecureString encryption
through KMS (as the caller, with ``kms:ViaService`` ssm, and the parameter's ARN as
the encryption context, as Parameter Store does)."""

from __future__ import annotations

import base64
import json
import os
import re
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sandlot.iam.authorizer import ResourcePolicy
from sandlot.protocol import ServiceError, constraints
from sandlot.protocol.models import service_model
from sandlot.services.provider import Provider, RequestContext
from sandlot.services.ssm.schema import MIGRATIONS, PARAMETERS, VERSIONS

Row = dict[str, Any]

MAX_VERSIONS = 100
MAX_LABELS = 10
MAX_DEPTH = 15
MAX_TAGS = 50
VALUE_LIMITS = {"Standard": 4096, "Advanced": 8192}
DATA_TYPES = ("text", "aws:ec2:image", "aws:ssm:integration")
DEFAULT_KEY = "alias/aws/ssm"
DOCS = "https://docs.aws.amazon.com/systems-manager/latest/userguide"

# Marks an Advanced SecureString's envelope (a KMS ciphertext blob starts with 0x01).
_ENVELOPE = b"SSMENV1"
_SEGMENT = re.compile(r"[a-zA-Z0-9_.\-]+\Z")
_LABEL = re.compile(r"[a-zA-Z0-9_.\-]{1,100}\Z")
_IMAGE = re.compile(r"ami-[0-9a-f]{8}([0-9a-f]{9})?\Z")

# AWS's messages: a name with characters outside the rules (the "ssm" wording is
# AWS's, whatever the name), a reserved prefix, a path that does not start with "/".
NAME_RULES = (
    'Parameter name: can\'t be prefixed with "ssm" (case-insensitive). If formed as a path, '
    "it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a "
    "mix of letters, numbers and the following 3 symbols .-_"
)
RESERVED = 'Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive).'
PATH_RULES = (
    "The parameter doesn't meet the parameter name requirements. The parameter name must "
    'begin with a forward slash "/". It can\'t be prefixed with \\"aws\\" or \\"ssm\\" '
    "(case-insensitive). It must use only letters, numbers, or the following symbols: . "
    "(period), - (hyphen), _ (underscore). Special characters are not allowed. All sub-paths, "
    'if specified, must use the forward slash symbol "/". Valid example: '
    "/get/parameters2-/by1./path0_."
)
# Operations naming one parameter (a selector allowed where reading), checked before IAM.
_NAMED = frozenset(
    {"GetParameter", "GetParameterHistory", "DeleteParameter", "LabelParameterVersion",
     "UnlabelParameterVersion"}
)  # fmt: skip


def validation(message: str) -> ServiceError:
    return ServiceError("ValidationException", message)


def not_found() -> ServiceError:
    # AWS answers ParameterNotFound without a message.
    return ServiceError("ParameterNotFound", "")


def parameter_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"


def check_characters(name: str) -> None:
    """Letters, digits and ``.-_`` in each level of a name (reads check only this:
    AWS's public parameters live under /aws/service/)."""
    segments = name[1:].split("/") if name.startswith("/") else [name]
    if not all(_SEGMENT.match(s) for s in segments):
        raise validation(NAME_RULES)


def check_name(name: str) -> None:
    """AWS's rules for a new parameter's name: a path is fully qualified (leading
    slash), at most 15 levels; each level's characters; no aws/ssm prefix."""
    if "/" in name and not name.startswith("/"):
        raise validation("Parameter name must be a fully qualified name.")
    check_characters(name)
    segments = name.lstrip("/").split("/")
    if len(segments) > MAX_DEPTH:
        raise ServiceError(
            "HierarchyLevelLimitExceededException",
            "A hierarchy can have a maximum of 15 levels. For more information, see "
            f"{DOCS}/sysman-paramstore-su-create.html",
        )
    if segments[0].lower().startswith(("aws", "ssm")):
        raise validation(RESERVED)


def label_problem(label: str) -> bool:
    """True when ``label`` breaks AWS's label rules (those land in InvalidLabels)."""
    lowered = label.lower()
    return not _LABEL.match(label) or label[0].isdigit() or lowered.startswith(("aws", "ssm"))


def _path_ok(path: str) -> bool:
    return all(_SEGMENT.match(s) for s in path.strip("/").split("/"))


def split_selector(name: str) -> tuple[str, str | None]:
    """``name:version`` / ``name:label`` → (name, selector)."""
    base, sep, selector = name.partition(":")
    return (base, selector) if sep else (name, None)


def encode_token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def decode_token(token: str) -> str:
    """A page token back to its position; one sandlot did not make is InvalidNextToken."""
    try:
        value = base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        value = None
    if not value or encode_token(value) != token:
        raise ServiceError("InvalidNextToken", "The specified token isn't valid.")
    return value


class SsmBase(Provider):
    """State and shared rules; the operations live in the subclasses' mixins."""

    service = "ssm"

    def __init__(self, platform) -> None:
        super().__init__(platform)
        platform.store.migrate("ssm", MIGRATIONS)
        self.store = platform.store
        self.clock: Callable[[], float] = time.time

    def validate(self, ctx: RequestContext, params: dict) -> None:
        """The model's constraints (lengths, ranges, enums) answer ValidationException."""
        shape = service_model("ssm").operation_model(ctx.operation).input_shape
        found = constraints.violations(shape, params) if shape is not None else []
        if found:
            raise validation(constraints.summary(found))
        if ctx.operation in _NAMED and isinstance(params.get("Name"), str):
            name = params["Name"]
            if not name.startswith("arn:"):
                check_characters(split_selector(name)[0])
        elif ctx.operation == "GetParametersByPath":
            path = params["Path"]
            if not path.startswith("/") or (path != "/" and not _path_ok(path)):
                raise validation(PATH_RULES)

    # -- reading --------------------------------------------------------------------------

    def parameter(self, ctx: RequestContext, name: str) -> Row:
        row = self.store.get(PARAMETERS, ctx.account_id, ctx.region, name)
        if row is None:
            raise not_found()
        return row

    def version(self, ctx: RequestContext, name: str, number: int) -> Row | None:
        return self.store.get(VERSIONS, ctx.account_id, ctx.region, name, number)

    def versions(self, ctx: RequestContext, name: str) -> list[Row]:
        where = {"account_id": ctx.account_id, "region": ctx.region, "name": name}
        return self.store.select(VERSIONS, where, order_by=("version",))

    def select(self, ctx: RequestContext, ref: str) -> tuple[Row, str | None]:
        """The version ``ref`` names (``name``, ``name:3``, ``name:label``, or the
        parameter's ARN with or without a selector) and its selector."""
        if ref.startswith("arn:"):
            ref = self._name_of_arn(ctx, ref)
        name, selector = split_selector(ref)
        head = self.parameter(ctx, name)
        if selector is None:
            return self.version(ctx, name, head["version"]), None
        if selector.isdigit():
            found = self.version(ctx, name, int(selector))
            if found is None:
                raise ServiceError(
                    "ParameterVersionNotFound",
                    f"Systems Manager could not find version {selector} of {name}. "
                    "Verify the version and try again.",
                )
            return found, f":{selector}"
        for row in self.versions(ctx, name):
            if selector in json.loads(row["labels"]):
                return row, f":{selector}"
        raise ServiceError(
            "ParameterVersionNotFound",
            f"Systems Manager could not find version {selector} of {name}. "
            "Verify the version and try again.",
        )

    def _name_of_arn(self, ctx: RequestContext, arn: str) -> str:
        """The name (with any selector) a parameter ARN of the caller's account and
        Region names; ``parameter/x`` is the flat ``x`` or the one-level ``/x``."""
        parts = arn.split(":", 5)
        if (
            len(parts) != 6
            or parts[2] != "ssm"
            or (parts[3], parts[4]) != (ctx.region, ctx.account_id)
            or not parts[5].startswith("parameter/")
        ):
            raise not_found()  # no sharing between accounts (AWS RAM) in sandlot
        rest = parts[5].removeprefix("parameter/")
        if "/" in split_selector(rest)[0]:
            return "/" + rest
        flat = split_selector(rest)[0]
        if self.store.get(PARAMETERS, ctx.account_id, ctx.region, flat) is not None:
            return rest
        return "/" + rest

    def resource_policy(self, arn: str) -> ResourcePolicy | None:
        """For the authorizer: a parameter has no resource policy, but its tags are
        ``aws:ResourceTag/*``; None when the ARN names no parameter (yet)."""
        parts = arn.split(":", 5)
        if len(parts) != 6 or not parts[5].startswith("parameter/"):
            return None
        rest = parts[5].removeprefix("parameter/")
        for name in (rest, "/" + rest) if "/" not in rest else ("/" + rest,):
            head = self.store.get(PARAMETERS, parts[4], parts[3], name)
            if head is not None:
                tags = {t["Key"]: t["Value"] for t in json.loads(head["tags"])}
                return ResourcePolicy(None, parts[4], tags=tags)
        return None

    # -- SecureString through KMS ---------------------------------------------------------

    async def encrypt(
        self, ctx: RequestContext, name: str, key_id: str, value: str, tier: str
    ) -> str:
        """The stored form of a SecureString value: a KMS ciphertext (Standard), or for
        Advanced (up to 8 KB, past KMS Encrypt's 4 KB) an envelope, as AWS: a data key
        from GenerateDataKey encrypts the value with AES-256-GCM; both under the
        parameter's ARN."""
        context = {"PARAMETER_ARN": self.arn(ctx, name)}
        if tier != "Advanced":
            params = {"KeyId": key_id, "Plaintext": value.encode(), "EncryptionContext": context}
            out = await self._kms(ctx, "Encrypt", params)
            return base64.b64encode(out["CiphertextBlob"]).decode()
        params = {"KeyId": key_id, "KeySpec": "AES_256", "EncryptionContext": context}
        out = await self._kms(ctx, "GenerateDataKey", params)
        nonce = os.urandom(12)
        sealed = AESGCM(out["Plaintext"]).encrypt(
            nonce, value.encode(), context["PARAMETER_ARN"].encode()
        )
        wrapped = out["CiphertextBlob"]
        blob = _ENVELOPE + len(wrapped).to_bytes(2, "big") + wrapped + nonce + sealed
        return base64.b64encode(blob).decode()

    async def decrypt(self, ctx: RequestContext, row: Row) -> str:
        arn = self.arn(ctx, row["name"])
        blob = base64.b64decode(row["value"])
        if not blob.startswith(_ENVELOPE):
            params = {"CiphertextBlob": blob, "EncryptionContext": {"PARAMETER_ARN": arn}}
            return (await self._kms(ctx, "Decrypt", params))["Plaintext"].decode()
        size = int.from_bytes(blob[len(_ENVELOPE) : len(_ENVELOPE) + 2], "big")
        start = len(_ENVELOPE) + 2
        wrapped, nonce = blob[start : start + size], blob[start + size : start + size + 12]
        params = {"CiphertextBlob": wrapped, "EncryptionContext": {"PARAMETER_ARN": arn}}
        key = (await self._kms(ctx, "Decrypt", params))["Plaintext"]
        return AESGCM(key).decrypt(nonce, blob[start + size + 12 :], arn.encode()).decode()

    async def _kms(self, ctx: RequestContext, operation: str, params: dict) -> dict:
        """KMS as the caller through SSM; a key KMS cannot use is SSM's InvalidKeyId,
        a denial is KMS's AccessDeniedException as AWS passes it on (KMS named)."""
        try:
            return await self.platform.call(
                "kms",
                operation,
                params,
                principal=ctx.principal,
                region=ctx.region,
                request_id=ctx.request_id,
                context={"kms:ViaService": f"ssm.{ctx.region}.amazonaws.com"},
            )
        except ServiceError as error:
            if error.code in (
                "NotFoundException",
                "InvalidArnException",
                "DisabledException",
                "KMSInvalidStateException",
                "InvalidKeyUsageException",
            ):
                raise ServiceError("InvalidKeyId", error.message) from None
            # SSM passes KMS's other errors on with KMS's details appended, as AWS does.
            raise ServiceError(
                error.code,
                f"{error.message} (Service: AWSKMS; Status Code: {error.status}; Error Code: "
                f"{error.code}; Request ID: {ctx.request_id})",
                error.status,
                sender_fault=error.sender_fault,
            ) from None

    def arn(self, ctx: RequestContext, name: str) -> str:
        return parameter_arn(ctx.region, ctx.account_id, name)

    async def value_of(self, ctx: RequestContext, row: Row, decrypt: bool) -> str:
        if row["type"] == "SecureString" and decrypt:
            return await self.decrypt(ctx, row)
        return row["value"]
