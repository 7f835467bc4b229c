"""Server-side encryption as S3 answers it today: bucket default encryption
(Put/Get/DeleteBucketEncryption), and the encryption every new object gets.

Every object is encrypted: SSE-S3 (``AES256``) unless the request or the bucket's
default says SSE-KMS, or the request brings its own key (SSE-C). An object's
encryption is kept in its metadata under ``"SSE"`` (objects written before it existed
are SSE-S3, as every S3 object has been since 2023).

SSE-KMS goes through KMS as the requester, as AWS does: a write asks KMS for a data
key (``GenerateDataKey``, so the key must exist, be enabled and be usable by the
caller) and keeps the encrypted data key; every read asks KMS to decrypt it (so a
disabled key or a caller without ``kms:Decrypt`` is refused). KMS's errors come back
as S3 answers them (``KMS.DisabledException``…, 400). SSE-C keeps the key's MD5
only; a read must present the same key. SSE-C and SSE-KMS objects are sealed at rest
under their key (``sealing.py``); SSE-S3 blobs are stored as they are (the data
directory is their trust boundary, as for every other store).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from sandlot.protocol import ServiceError
from sandlot.services.provider import RequestContext
from sandlot.services.s3.base import S3Base
from sandlot.services.s3.errors import invalid_argument, invalid_request, malformed_xml
from sandlot.services.s3.schema import BUCKETS
from sandlot.services.s3.sealing import SealedFile, seal, unseal

SSE_S3 = "AES256"
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
AWS_MANAGED_KEY = "alias/aws/s3"
# A new general purpose bucket's default encryption (since April 2026 SSE-C writes are
# blocked on new buckets until the owner unblocks them).
DEFAULT_RULE = {
    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": SSE_S3},
    "BucketKeyEnabled": False,
    "BlockedEncryptionTypes": {"EncryptionType": ["SSE-C"]},
}
_SSE_HEADER = "x-amz-server-side-encryption"
_SSEC_HEADER = "x-amz-server-side-encryption-customer-"
_NEEDS_KEY = (
    "The object was stored using a form of Server Side Encryption. The correct parameters "
    "must be provided to retrieve the object."
)


def default_rule(bucket: dict) -> dict:
    """The bucket's default encryption rule (its only rule, as S3 allows one)."""
    if bucket.get("encryption"):
        return json.loads(bucket["encryption"])["Rules"][0]
    return DEFAULT_RULE


def response_members(meta: dict) -> dict[str, Any]:
    """The encryption members a response about an object (or upload) carries."""
    sse = meta.get("SSE") or {"ServerSideEncryption": SSE_S3}
    return {k: v for k, v in sse.items() if k not in ("DataKey", "Sealed")}


def _check_rule(rule: dict) -> dict:
    default = rule.get("ApplyServerSideEncryptionByDefault")
    if default is None:
        if rule.get("BlockedEncryptionTypes") is None:
            raise malformed_xml()
        return {**rule, "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": SSE_S3}}
    algorithm = default.get("SSEAlgorithm")
    if algorithm not in (SSE_S3, *KMS_ALGORITHMS):
        raise malformed_xml()
    if default.get("KMSMasterKeyID") and algorithm not in KMS_ALGORITHMS:
        raise invalid_argument(
            "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms "
            "or aws:kms:dsse",
            "ApplyServerSideEncryptionByDefault",
        )
    blocked = (rule.get("BlockedEncryptionTypes") or {}).get("EncryptionType")
    if blocked is not None and (not blocked or any(t not in ("SSE-C", "NONE") for t in blocked)):
        raise malformed_xml()
    return rule


def ssec_key(params: dict, prefix: str = "SSECustomer") -> tuple[str, bytes] | None:
    """The MD5 (base64) and the bytes of a valid SSE-C key the request brings, or None
    without one."""
    algorithm = params.get(f"{prefix}Algorithm")
    key, md5 = params.get(f"{prefix}Key"), params.get(f"{prefix}KeyMD5")
    header = _SSEC_HEADER if prefix == "SSECustomer" else "x-amz-copy-source-" + _SSEC_HEADER
    if algorithm is None and key is None and md5 is None:
        return None
    if algorithm is None:
        raise invalid_argument(
            "Requests specifying Server Side Encryption with Customer provided keys must "
            "provide a valid encryption algorithm.",
            header + "algorithm",
            "null",
        )
    if algorithm != SSE_S3:
        raise ServiceError(
            "InvalidEncryptionAlgorithmError",
            "The Encryption request you specified is not valid. Supported value: AES256.",
            400,
            ArgumentName=header + "algorithm",
            ArgumentValue=algorithm,
        )
    if key is None:
        raise invalid_argument(
            "Requests specifying Server Side Encryption with Customer provided keys must "
            "provide an appropriate secret key.",
            header + "key",
            "null",
        )
    try:
        raw = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise invalid_argument(
            "The secret key was invalid for the specified algorithm.", header + "key", "null"
        )
    computed = base64.b64encode(hashlib.md5(raw, usedforsecurity=False).digest()).decode()
    if md5 is not None and md5 != computed:
        raise invalid_argument(
            "The calculated MD5 hash of the key did not match the hash that was provided.",
            header + "key-MD5",
            "null",
        )
    return computed, raw


class EncryptionOperations(S3Base):
    # -- bucket default encryption --------------------------------------------------------

    def put_bucket_encryption(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        rules = (params.get("ServerSideEncryptionConfiguration") or {}).get("Rules") or []
        if len(rules) != 1:
            raise malformed_xml()
        rule = _check_rule(rules[0])
        if "BlockedEncryptionTypes" not in rule:  # a bucket-level setting: kept unless given
            current = default_rule(bucket).get("BlockedEncryptionTypes")
            if current is not None:
                rule["BlockedEncryptionTypes"] = current
        self.store.put(BUCKETS, {**bucket, "encryption": json.dumps({"Rules": [rule]})})
        return {}

    def get_bucket_encryption(self, ctx: RequestContext, params: dict) -> dict:
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        rule = {"BucketKeyEnabled": False, **default_rule(bucket)}
        return {"ServerSideEncryptionConfiguration": {"Rules": [rule]}}

    def delete_bucket_encryption(self, ctx: RequestContext, params: dict) -> dict:
        """Back to the default: SSE-S3 (AWS: "resets the default encryption")."""
        bucket = self.bucket(ctx, params["Bucket"], params.get("ExpectedBucketOwner"))
        self.store.put(BUCKETS, {**bucket, "encryption": None})
        return {}

    # -- objects --------------------------------------------------------------------------

    async def encryption_for_write(
        self, ctx: RequestContext, bucket: dict, key: str, params: dict
    ) -> tuple[dict, bytes | None]:
        """The ``SSE`` metadata of an object (or upload) a write request creates, and the
        key that seals its bytes (None for SSE-S3)."""
        algorithm = params.get("ServerSideEncryption")
        kms_key = params.get("SSEKMSKeyId")
        customer = ssec_key(params)
        rule = default_rule(bucket)
        if customer is not None:
            if algorithm is not None:
                raise invalid_argument(
                    "Server Side Encryption with Customer provided key is incompatible with "
                    "the encryption method specified",
                    _SSE_HEADER,
                    algorithm,
                )
            if "SSE-C" in (rule.get("BlockedEncryptionTypes") or {}).get("EncryptionType", []):
                raise ServiceError("AccessDenied", "Access Denied", 403)  # AWS says no more
            return {"SSECustomerAlgorithm": SSE_S3, "SSECustomerKeyMD5": customer[0]}, customer[1]
        if algorithm is not None and algorithm not in (SSE_S3, *KMS_ALGORITHMS):
            raise invalid_argument(
                "The encryption method specified is not supported", _SSE_HEADER, algorithm
            )
        if kms_key is not None and algorithm not in KMS_ALGORITHMS:
            raise invalid_argument(
                "Server Side Encryption with AWS KMS managed key requires HTTP header "
                "x-amz-server-side-encryption : aws:kms",
                _SSE_HEADER,
                "null",
            )
        default = rule["ApplyServerSideEncryptionByDefault"]
        if algorithm is None:
            algorithm = default["SSEAlgorithm"]
            kms_key = default.get("KMSMasterKeyID")
        if algorithm == SSE_S3:
            return {"ServerSideEncryption": SSE_S3}, None
        bucket_key = params.get("BucketKeyEnabled")
        if bucket_key is None:
            bucket_key = bool(rule.get("BucketKeyEnabled"))
        context = self._kms_context(bucket, key, params.get("SSEKMSEncryptionContext"))
        generated = await self._kms(
            ctx,
            bucket,
            "GenerateDataKey",
            {
                "KeyId": kms_key or AWS_MANAGED_KEY,
                "KeySpec": "AES_256",
                "EncryptionContext": context,
            },
        )
        sse: dict[str, Any] = {
            "ServerSideEncryption": algorithm,
            "SSEKMSKeyId": generated["KeyId"],
            "DataKey": base64.b64encode(generated["CiphertextBlob"]).decode(),
        }
        if params.get("SSEKMSEncryptionContext"):
            sse["SSEKMSEncryptionContext"] = params["SSEKMSEncryptionContext"]
        if bucket_key:
            sse["BucketKeyEnabled"] = True
        return sse, generated["Plaintext"]

    async def check_read(
        self, ctx: RequestContext, bucket: dict, row: dict, meta: dict, params: dict, *,
        prefix: str = "SSECustomer", data: bool = True,
    ) -> bytes | None:  # fmt: skip
        """The key that opens the object's bytes (None for SSE-S3), or S3's refusal: SSE-C
        needs the same key; SSE-KMS needs KMS to decrypt the object's data key for the
        caller when its bytes are read (``data``; HeadObject needs no KMS permission)."""
        sse = meta.get("SSE") or {}
        return await self.object_key(ctx, bucket, row["key"], sse, params, prefix, data=data)

    async def object_key(
        self, ctx: RequestContext, bucket: dict, key: str, sse: dict, params: dict,
        prefix: str = "SSECustomer", *, data: bool = True,
    ) -> bytes | None:  # fmt: skip
        """The key of an object's (or upload's) encryption ``sse`` for this request."""
        given = ssec_key(params, prefix)
        stored = sse.get("SSECustomerKeyMD5")
        if stored is not None:
            if given is None:
                raise invalid_request(_NEEDS_KEY)
            if given[0] != stored:
                raise ServiceError("AccessDenied", "Access Denied", 403)
            return given[1]
        if given is not None:
            raise invalid_request("The encryption parameters are not applicable to this object.")
        if sse.get("DataKey") and data:
            context = self._kms_context(bucket, key, sse.get("SSEKMSEncryptionContext"))
            decrypted = await self._kms(
                ctx,
                bucket,
                "Decrypt",
                {
                    "CiphertextBlob": base64.b64decode(sse["DataKey"]),
                    "KeyId": sse["SSEKMSKeyId"],
                    "EncryptionContext": context,
                },
            )
            return decrypted["Plaintext"]
        return None

    def open_object(self, row: dict, meta: dict, key: bytes | None):
        """The version's bytes opened for reading as plaintext (``seek``/``read``); None
        when a concurrent delete won."""
        file = self.open_blob(row)
        sealed = (meta.get("SSE") or {}).get("Sealed")
        if file is None or not sealed or key is None:
            return file
        return SealedFile(file, key, meta.get("PartSizes") or [row["size"]], sealed)

    def plain_copy(self, row: dict, meta: dict, key: bytes | None, offset: int, length: int):
        """A temp file holding ``length`` plaintext bytes of a version from ``offset`` (a
        hard link or a kernel copy for an unsealed blob). Runs in a thread."""
        if not (meta.get("SSE") or {}).get("Sealed"):
            return self.copy_range(row, offset, length)
        file = self.open_object(row, meta, key)
        if file is None:
            raise FileNotFoundError(row["blob_id"])
        target = self.blobs.temp_path()
        unseal(file, target, offset, length)
        return target

    def seal_received(self, path, key: bytes) -> tuple[object, str]:
        """A temp file's bytes sealed under ``key`` into a new temp file (the plaintext
        one is removed); (new path, initial counter). Runs in a thread."""
        target = self.blobs.temp_path()
        try:
            iv = seal(path, target, key)
        finally:
            path.unlink(missing_ok=True)
        return target, iv

    @staticmethod
    def _kms_context(bucket: dict, key: str, given: str | None) -> dict[str, str]:
        """The KMS encryption context of an object: the one the request gave (base64
        JSON) or S3's default, the object's ARN."""
        if given:
            try:
                context = json.loads(base64.b64decode(given, validate=True))
            except (binascii.Error, ValueError):
                context = None
            if not isinstance(context, dict):
                raise invalid_argument(
                    "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded "
                    "UTF-8 string holding JSON which represents a string-string map",
                    "x-amz-server-side-encryption-context",
                    given,
                )
            return context
        return {"aws:s3:arn": f"arn:aws:s3:::{bucket['name']}/{key}"}

    async def _kms(self, ctx: RequestContext, bucket: dict, operation: str, params: dict) -> dict:
        """One KMS call as the requester, through S3 (``kms:ViaService``); KMS's errors as
        S3 answers them."""
        try:
            return await self.platform.call(
                "kms",
                operation,
                params,
                principal=ctx.principal,
                region=bucket["region"],
                request_id=ctx.request_id,
                context={"kms:ViaService": f"s3.{bucket['region']}.amazonaws.com"},
            )
        except ServiceError as error:
            if error.code in ("AccessDeniedException", "AccessDenied"):
                raise ServiceError("AccessDenied", error.message, 403) from None
            raise ServiceError(f"KMS.{error.code}", error.message, 400) from None
