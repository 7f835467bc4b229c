"""Imported key material (keys of Origin EXTERNAL): GetParametersForImport,
ImportKeyMaterial, DeleteImportedKeyMaterial.

The import token is the wrapping RSA private key and the parameters, sealed under the
data directory's master key, so nothing is stored until material is imported; it is
valid for 24 hours, as AWS's. sandlot imports material for symmetric and HMAC keys.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding

from sandlot.protocol import ServiceError
from sandlot.services.kms.base import DAY_S, KmsBase, Row, key_arn, unsupported, validation
from sandlot.services.kms.material import HASHES, private_der, public_der
from sandlot.services.provider import RequestContext

_WRAPPING = ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1",
             "RSA_AES_KEY_WRAP_SHA_256")  # fmt: skip
# Bytes of key material each spec takes (AWS: HMAC keys take from their size to 64 or 128).
_LENGTHS = {"SYMMETRIC_DEFAULT": (32, 32), "HMAC_224": (28, 64), "HMAC_256": (32, 64),
            "HMAC_384": (48, 128), "HMAC_512": (64, 128)}  # fmt: skip


def _seconds(value) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


class ImportOperations(KmsBase):
    def _external(self, ctx: RequestContext, params: dict) -> Row:
        row = self.lookup(ctx, params["KeyId"])
        if row["origin"] != "EXTERNAL":
            raise unsupported(
                f"{key_arn(row)} origin is {row['origin']} which is not valid for this operation."
            )
        self.not_pending_deletion(row)
        return row

    async def get_parameters_for_import(self, ctx: RequestContext, params: dict) -> dict:
        row = self._external(ctx, params)
        algorithm, spec = params["WrappingAlgorithm"], params["WrappingKeySpec"]
        if algorithm not in _WRAPPING or not spec.startswith("RSA_"):
            raise unsupported(f"{algorithm} with {spec} is not supported by sandlot's KMS.")
        size = int(spec.removeprefix("RSA_"))
        # An RSA key takes up to seconds to generate: off the event loop.
        wrapping = await asyncio.to_thread(rsa.generate_private_key, 65537, size)
        valid_to = self.clock() + DAY_S
        header = json.dumps({"key": row["key_id"], "alg": algorithm, "to": valid_to})
        token = self.master.seal_token(header.encode() + b"\n" + private_der(wrapping))
        return {
            "KeyId": key_arn(row),
            "ImportToken": token,
            "PublicKey": public_der(wrapping),
            "ParametersValidTo": valid_to,
        }

    def import_key_material(self, ctx: RequestContext, params: dict) -> dict:
        row = self._external(ctx, params)
        if params.get("ImportType") == "NEW_KEY_MATERIAL":
            raise unsupported("Importing new key material (rotation) is not supported by sandlot.")
        try:
            header, _, der = self.master.open_token(params["ImportToken"]).partition(b"\n")
            token = json.loads(header)
        except (InvalidTag, ValueError):
            raise ServiceError("InvalidImportTokenException", "Invalid import token") from None
        if token["key"] != row["key_id"]:
            raise ServiceError(
                "InvalidImportTokenException",
                "The import token is not valid for the specified KMS key.",
            )
        if token["to"] <= self.clock():
            raise ServiceError("ExpiredImportTokenException", "The import token has expired.")
        material = _unwrap(token["alg"], der, params["EncryptedKeyMaterial"])
        low, high = _LENGTHS.get(row["key_spec"], (0, -1))
        if high < 0:
            raise unsupported(
                f"Importing {row['key_spec']} key material is not supported by sandlot."
            )
        if not low <= len(material) <= high:
            raise validation(
                f"Key material for {row['key_spec']} keys must be {low} to {high} bytes long."
            )
        model, valid_to = params.get("ExpirationModel"), params.get("ValidTo")
        model = model or ("KEY_MATERIAL_EXPIRES" if valid_to is not None else
                          "KEY_MATERIAL_DOES_NOT_EXPIRE")  # fmt: skip
        if (model == "KEY_MATERIAL_EXPIRES") != (valid_to is not None):
            raise validation(
                "ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES and not "
                "allowed otherwise."
            )
        current = self.material(row["key_id"], 1)
        if current is not None and current != material:
            raise ServiceError(
                "IncorrectKeyMaterialException",
                "The key material is different from the key material previously imported "
                "into this KMS key.",
            )
        with self.store.transaction():
            if current is None:
                self.put_material(row["key_id"], 1, material, None)
            row["expiration_model"] = model
            row["valid_to"] = _seconds(valid_to) if valid_to is not None else None
            if row["state"] == "PendingImport":
                row["state"] = "Enabled"
            self.save(row)
        return {"KeyId": key_arn(row), "KeyMaterialId": self.material_id(row["key_id"], 1)}

    def delete_imported_key_material(self, ctx: RequestContext, params: dict) -> dict:
        row = self._external(ctx, params)
        material_id = self.material_id(row["key_id"], 1)
        with self.store.transaction():
            self.drop_materials(row["key_id"])
            row["state"] = "PendingImport"
            row["expiration_model"] = row["valid_to"] = None
            self.save(row)
        return {"KeyId": key_arn(row), "KeyMaterialId": material_id}


def _unwrap(algorithm: str, der: bytes, wrapped: bytes) -> bytes:
    """The key material wrapped under the token's public key (InvalidCiphertextException
    if it was not)."""
    private = serialization.load_der_private_key(der, None)
    digest = HASHES["SHA_" + algorithm.rsplit("_", 1)[1]]()
    oaep = padding.OAEP(padding.MGF1(digest), digest, None)
    try:
        if algorithm.startswith("RSAES_OAEP"):
            return private.decrypt(wrapped, oaep)
        # RSA_AES_KEY_WRAP: an RSA-OAEP-wrapped AES key, then the material AES-KWP-wrapped.
        split = private.key_size // 8
        aes_key = private.decrypt(wrapped[:split], oaep)
        return aes_key_unwrap_with_padding(aes_key, wrapped[split:])
    except (ValueError, InvalidUnwrap):
        raise ServiceError("InvalidCiphertextException", "") from None
