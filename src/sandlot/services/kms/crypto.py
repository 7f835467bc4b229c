"""Cryptographic operations with real keys: symmetric envelope encryption (AES-256-GCM,
the encryption context as associated data), data keys and data key pairs, re-encryption,
RSA encryption (OAEP), signatures (RSASSA-PSS, RSASSA-PKCS1-v1_5, ECDSA), HMAC and
random bytes."""

from __future__ import annotations

import asyncio
import hmac
import secrets

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from sandlot.protocol import ServiceError
from sandlot.services.kms.base import KmsBase, Row, key_arn, unsupported, validation
from sandlot.services.kms.material import (
    HASHES,
    SPECS,
    blob_key,
    data_key_pair,
    open_blob,
    public_der,
    seal_blob,
)
from sandlot.services.provider import RequestContext

SYMMETRIC = "SYMMETRIC_DEFAULT"
_DATA_KEY_BYTES = {"AES_128": 16, "AES_256": 32}


def invalid_ciphertext() -> ServiceError:
    return ServiceError("InvalidCiphertextException", "")


def _invalid_usage(row: Row, operation: str) -> ServiceError:
    return ServiceError(
        "InvalidKeyUsageException",
        f"{key_arn(row)} key usage is {row['key_usage']} which is not valid for {operation}.",
    )


def _algorithm_error(row: Row, algorithm: str) -> ServiceError:
    return ServiceError(
        "InvalidKeyUsageException",
        f"Algorithm {algorithm} is incompatible with key spec {row['key_spec']}.",
    )


def _hash(algorithm: str) -> hashes.HashAlgorithm:
    """The hash an algorithm name ends with: RSAES_OAEP_SHA_256, ECDSA_SHA_384, HMAC_SHA_512."""
    return HASHES["SHA_" + algorithm.rsplit("_", 1)[1]]()


def _dry_run(params: dict) -> None:
    if params.get("DryRun"):
        raise ServiceError(
            "DryRunOperationException",
            "The request would have succeeded, but the DryRun option is set.",
        )


def _no_recipient(params: dict) -> None:
    if params.get("Recipient"):
        raise unsupported("Recipient (Nitro Enclaves attestation) is not supported by sandlot.")


class CryptoOperations(KmsBase):
    # -- helpers --------------------------------------------------------------------------

    def _key_for(self, ctx: RequestContext, ref: str, usage: str, operation: str) -> Row:
        row = self.lookup(ctx, ref)
        self.usable(row)
        if row["key_usage"] != usage:
            raise _invalid_usage(row, operation)
        return row

    def _private(self, row: Row):
        """The key's asymmetric private key, loaded once (loading checks an RSA key,
        which costs milliseconds)."""
        at = (row["key_id"], row["current_version"])
        key = self._private_keys.get(at)
        if key is None:
            der = self.material(*at)
            key = self._private_keys[at] = serialization.load_der_private_key(der, None)
        return key

    def _encrypt(self, row: Row, plaintext: bytes, context, algorithm: str | None) -> tuple:
        """(ciphertext, algorithm, KeyMaterialId for symmetric keys)."""
        algorithm = algorithm or SYMMETRIC
        if algorithm not in SPECS[row["key_spec"]].encryption:
            raise _algorithm_error(row, algorithm)
        if row["key_spec"] == SYMMETRIC:
            version = row["current_version"]
            material = self.material(row["key_id"], version)
            blob = seal_blob(row["key_id"], version, material, plaintext, context)
            return blob, algorithm, self.material_id(row["key_id"], version)
        if context:
            raise validation("EncryptionContext is not supported with asymmetric KMS keys.")
        oaep = padding.OAEP(padding.MGF1(_hash(algorithm)), _hash(algorithm), None)
        try:
            return self._private(row).public_key().encrypt(plaintext, oaep), algorithm, None
        except ValueError:
            raise validation(
                f"Plaintext is too long for {algorithm} with key spec {row['key_spec']}."
            ) from None

    def _decrypt(
        self, ctx: RequestContext, blob: bytes, context, key_ref: str | None, algorithm: str | None
    ) -> tuple[Row, bytes, str, str | None]:
        """(key, plaintext, algorithm, KeyMaterialId for symmetric keys)."""
        if blob is None:  # optional in the model (DryRun), required by KMS
            raise validation(
                "1 validation error detected: Value null at 'ciphertextBlob' failed to "
                "satisfy constraint: Member must not be null"
            )
        algorithm = algorithm or SYMMETRIC
        named = self.lookup(ctx, key_ref) if key_ref else None
        if algorithm != SYMMETRIC:
            if named is None:
                raise validation("KeyId is required when decrypting with an asymmetric KMS key.")
            self.usable(named)
            if named["key_usage"] != "ENCRYPT_DECRYPT":
                raise _invalid_usage(named, "Decrypt")
            if algorithm not in SPECS[named["key_spec"]].encryption:
                raise _algorithm_error(named, algorithm)
            if context:
                raise validation("EncryptionContext is not supported with asymmetric KMS keys.")
            oaep = padding.OAEP(padding.MGF1(_hash(algorithm)), _hash(algorithm), None)
            try:
                return named, self._private(named).decrypt(blob, oaep), algorithm, None
            except ValueError:
                raise invalid_ciphertext() from None
        found = blob_key(blob)
        row = self._live_key(found[0]) if found else None
        if row is None or row["region"] != ctx.region:
            raise invalid_ciphertext()  # a key decrypts in its own Region only
        if named is not None and named["key_id"] != row["key_id"]:
            raise ServiceError(
                "IncorrectKeyException",
                "The key ID in the request does not identify a KMS key that can perform "
                "this operation.",
            )
        self.usable(row)
        if row["key_spec"] != SYMMETRIC:
            raise invalid_ciphertext()
        material = self.material(row["key_id"], found[1])
        if material is None:
            raise invalid_ciphertext()
        try:
            plaintext = open_blob(material, blob, context)
        except InvalidTag:
            raise invalid_ciphertext() from None
        return row, plaintext, algorithm, self.material_id(row["key_id"], found[1])

    # -- encryption -----------------------------------------------------------------------

    def encrypt(self, ctx: RequestContext, params: dict) -> dict:
        row = self._key_for(ctx, params["KeyId"], "ENCRYPT_DECRYPT", "Encrypt")
        blob, algorithm, _ = self._encrypt(
            row,
            params["Plaintext"],
            params.get("EncryptionContext"),
            params.get("EncryptionAlgorithm"),
        )
        _dry_run(params)
        self.used(row, ctx)
        return {"CiphertextBlob": blob, "KeyId": key_arn(row), "EncryptionAlgorithm": algorithm}

    def decrypt(self, ctx: RequestContext, params: dict) -> dict:
        _no_recipient(params)
        row, plaintext, algorithm, material = self._decrypt(
            ctx,
            params.get("CiphertextBlob"),
            params.get("EncryptionContext"),
            params.get("KeyId"),
            params.get("EncryptionAlgorithm"),
        )
        _dry_run(params)
        self.used(row, ctx)
        out = {"KeyId": key_arn(row), "Plaintext": plaintext, "EncryptionAlgorithm": algorithm}
        if material is not None:
            out["KeyMaterialId"] = material
        return out

    def re_encrypt(self, ctx: RequestContext, params: dict) -> dict:
        source, plaintext, source_alg, source_material = self._decrypt(
            ctx,
            params.get("CiphertextBlob"),
            params.get("SourceEncryptionContext"),
            params.get("SourceKeyId"),
            params.get("SourceEncryptionAlgorithm"),
        )
        row = self._key_for(ctx, params["DestinationKeyId"], "ENCRYPT_DECRYPT", "ReEncrypt")
        blob, algorithm, material = self._encrypt(
            row,
            plaintext,
            params.get("DestinationEncryptionContext"),
            params.get("DestinationEncryptionAlgorithm"),
        )
        _dry_run(params)
        self.used(row, ctx)
        self.used(source, ctx)
        out = {
            "CiphertextBlob": blob,
            "SourceKeyId": key_arn(source),
            "KeyId": key_arn(row),
            "SourceEncryptionAlgorithm": source_alg,
            "DestinationEncryptionAlgorithm": algorithm,
        }
        if source_material is not None:
            out["SourceKeyMaterialId"] = source_material
        if material is not None:
            out["DestinationKeyMaterialId"] = material
        return out

    # -- data keys ------------------------------------------------------------------------

    def _symmetric_key(self, ctx: RequestContext, params: dict, operation: str) -> Row:
        row = self._key_for(ctx, params["KeyId"], "ENCRYPT_DECRYPT", operation)
        if row["key_spec"] != SYMMETRIC:
            raise _invalid_usage(row, operation)
        return row

    def _data_key(self, ctx: RequestContext, params: dict, operation: str) -> tuple[Row, bytes]:
        _no_recipient(params)
        spec, count = params.get("KeySpec"), params.get("NumberOfBytes")
        if (spec is None) == (count is None):
            raise validation("Please specify either number of bytes or key spec.")
        row = self._symmetric_key(ctx, params, operation)
        return row, secrets.token_bytes(count or _DATA_KEY_BYTES[spec])

    def generate_data_key(self, ctx: RequestContext, params: dict) -> dict:
        row, plaintext = self._data_key(ctx, params, "GenerateDataKey")
        blob, _, material = self._encrypt(row, plaintext, params.get("EncryptionContext"), None)
        _dry_run(params)
        self.used(row, ctx)
        return {
            "CiphertextBlob": blob,
            "Plaintext": plaintext,
            "KeyId": key_arn(row),
            "KeyMaterialId": material,
        }

    def generate_data_key_without_plaintext(self, ctx: RequestContext, params: dict) -> dict:
        row, plaintext = self._data_key(ctx, params, "GenerateDataKeyWithoutPlaintext")
        blob, _, material = self._encrypt(row, plaintext, params.get("EncryptionContext"), None)
        _dry_run(params)
        self.used(row, ctx)
        return {"CiphertextBlob": blob, "KeyId": key_arn(row), "KeyMaterialId": material}

    async def _key_pair(self, ctx: RequestContext, params: dict, operation: str) -> dict:
        _no_recipient(params)
        pair_spec = params["KeyPairSpec"]
        if pair_spec not in SPECS or pair_spec.startswith("HMAC_") or pair_spec == SYMMETRIC:
            raise unsupported(f"KeyPairSpec {pair_spec} is not supported in this region.")
        row = self._symmetric_key(ctx, params, operation)
        # An RSA pair takes up to seconds to generate: off the event loop.
        private, public = await asyncio.to_thread(data_key_pair, pair_spec)
        blob, _, material = self._encrypt(row, private, params.get("EncryptionContext"), None)
        _dry_run(params)
        self.used(row, ctx)
        return {
            "PrivateKeyCiphertextBlob": blob,
            "PrivateKeyPlaintext": private,
            "PublicKey": public,
            "KeyId": key_arn(row),
            "KeyPairSpec": pair_spec,
            "KeyMaterialId": material,
        }

    async def generate_data_key_pair(self, ctx: RequestContext, params: dict) -> dict:
        return await self._key_pair(ctx, params, "GenerateDataKeyPair")

    async def generate_data_key_pair_without_plaintext(
        self, ctx: RequestContext, params: dict
    ) -> dict:
        out = await self._key_pair(ctx, params, "GenerateDataKeyPairWithoutPlaintext")
        del out["PrivateKeyPlaintext"]
        return out

    def generate_random(self, ctx: RequestContext, params: dict) -> dict:
        _no_recipient(params)
        if params.get("CustomKeyStoreId"):
            raise unsupported("Custom key stores are not supported by sandlot's KMS.")
        count = params.get("NumberOfBytes")
        if count is None:
            raise validation("NumberOfBytes is required.")
        return {"Plaintext": secrets.token_bytes(count)}

    # -- signatures -----------------------------------------------------------------------

    def _signing(self, ctx: RequestContext, params: dict, operation: str) -> tuple[Row, bytes]:
        """The key and what its algorithm signs: the digest for RSA and ECDSA (computed
        for RAW messages), the message itself for Ed25519 and ML-DSA."""
        row = self._key_for(ctx, params["KeyId"], "SIGN_VERIFY", operation)
        algorithm = params["SigningAlgorithm"]
        if algorithm not in SPECS[row["key_spec"]].signing:
            raise _algorithm_error(row, algorithm)
        message, kind = params["Message"], params.get("MessageType") or "RAW"
        if algorithm == "ED25519_PH_SHA_512":
            raise unsupported("ED25519_PH_SHA_512 (Ed25519ph) is not supported by sandlot's KMS.")
        if kind == "EXTERNAL_MU":
            if algorithm != "ML_DSA_SHAKE_256":
                raise validation(f"MessageType EXTERNAL_MU is not valid for {algorithm}.")
            raise unsupported("MessageType EXTERNAL_MU is not supported by sandlot's KMS.")
        if algorithm in ("ED25519_SHA_512", "ML_DSA_SHAKE_256"):
            if kind != "RAW":
                raise validation(f"MessageType {kind} is not valid for {algorithm}.")
            return row, message
        digest_alg = _hash(algorithm)
        if kind == "DIGEST":
            if len(message) != digest_alg.digest_size:
                raise validation(f"Digest is invalid length for algorithm {algorithm}.")
            return row, message
        h = hashes.Hash(digest_alg)
        h.update(message)
        return row, h.finalize()

    @staticmethod
    def _scheme(key, algorithm: str) -> tuple:
        """The arguments after the data for ``sign``/``verify`` of ``key``."""
        if isinstance(key, RSAPrivateKey):
            if "_PSS_" in algorithm:
                # AWS uses a salt as long as the digest.
                pad = padding.PSS(padding.MGF1(_hash(algorithm)), _hash(algorithm).digest_size)
            else:
                pad = padding.PKCS1v15()
            return (pad, utils.Prehashed(_hash(algorithm)))
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return (ec.ECDSA(utils.Prehashed(_hash(algorithm))),)
        return ()  # Ed25519 and ML-DSA sign the message itself

    def sign(self, ctx: RequestContext, params: dict) -> dict:
        row, data = self._signing(ctx, params, "Sign")
        key = self._private(row)
        signature = key.sign(data, *self._scheme(key, params["SigningAlgorithm"]))
        _dry_run(params)
        self.used(row, ctx)
        return {
            "KeyId": key_arn(row),
            "Signature": signature,
            "SigningAlgorithm": params["SigningAlgorithm"],
        }

    def verify(self, ctx: RequestContext, params: dict) -> dict:
        row, data = self._signing(ctx, params, "Verify")
        key = self._private(row)
        try:
            key.public_key().verify(
                params["Signature"], data, *self._scheme(key, params["SigningAlgorithm"])
            )
        except (InvalidSignature, ValueError):
            raise ServiceError("KMSInvalidSignatureException", "") from None
        _dry_run(params)
        self.used(row, ctx)
        return {
            "KeyId": key_arn(row),
            "SignatureValid": True,
            "SigningAlgorithm": params["SigningAlgorithm"],
        }

    # -- key agreement --------------------------------------------------------------------

    def derive_shared_secret(self, ctx: RequestContext, params: dict) -> dict:
        _no_recipient(params)
        row = self._key_for(ctx, params["KeyId"], "KEY_AGREEMENT", "DeriveSharedSecret")
        algorithm = params["KeyAgreementAlgorithm"]
        if algorithm not in SPECS[row["key_spec"]].agreement:
            raise _algorithm_error(row, algorithm)
        key = self._private(row)
        try:
            peer = serialization.load_der_public_key(params["PublicKey"])
            if not isinstance(peer, ec.EllipticCurvePublicKey) or peer.curve.name != key.curve.name:
                raise ValueError
            secret = key.exchange(ec.ECDH(), peer)
        except (ValueError, TypeError):
            raise validation(
                f"The public key is not a valid {row['key_spec']} public key."
            ) from None
        _dry_run(params)
        self.used(row, ctx)
        return {
            "KeyId": key_arn(row),
            "SharedSecret": secret,
            "KeyAgreementAlgorithm": algorithm,
            "KeyOrigin": "AWS_KMS",
        }

    def get_public_key(self, ctx: RequestContext, params: dict) -> dict:
        row = self.lookup(ctx, params["KeyId"])
        self.usable(row)
        if row["key_spec"] == SYMMETRIC or row["key_spec"].startswith("HMAC_"):
            raise unsupported(
                f"{key_arn(row)} key spec {row['key_spec']} is not valid for GetPublicKey."
            )
        spec = SPECS[row["key_spec"]]
        out = {
            "KeyId": key_arn(row),
            "PublicKey": public_der(self._private(row)),
            "CustomerMasterKeySpec": row["key_spec"],
            "KeySpec": row["key_spec"],
            "KeyUsage": row["key_usage"],
        }
        if row["key_usage"] == "ENCRYPT_DECRYPT":
            out["EncryptionAlgorithms"] = list(spec.encryption)
        elif row["key_usage"] == "KEY_AGREEMENT":
            out["KeyAgreementAlgorithms"] = list(spec.agreement)
        else:
            out["SigningAlgorithms"] = list(spec.signing)
        return out

    # -- MACs -----------------------------------------------------------------------------

    def _mac(self, ctx: RequestContext, params: dict, operation: str) -> tuple[Row, bytes]:
        row = self._key_for(ctx, params["KeyId"], "GENERATE_VERIFY_MAC", operation)
        algorithm = params["MacAlgorithm"]
        if algorithm not in SPECS[row["key_spec"]].mac:
            raise _algorithm_error(row, algorithm)
        material = self.material(row["key_id"], row["current_version"])
        name = _hash(algorithm).name  # "sha256"…
        return row, hmac.new(material, params["Message"], name).digest()

    def generate_mac(self, ctx: RequestContext, params: dict) -> dict:
        row, mac = self._mac(ctx, params, "GenerateMac")
        _dry_run(params)
        self.used(row, ctx)
        return {"Mac": mac, "MacAlgorithm": params["MacAlgorithm"], "KeyId": key_arn(row)}

    def verify_mac(self, ctx: RequestContext, params: dict) -> dict:
        row, mac = self._mac(ctx, params, "VerifyMac")
        if not hmac.compare_digest(mac, params["Mac"]):
            raise ServiceError("KMSInvalidMacException", "")
        _dry_run(params)
        self.used(row, ctx)
        return {"KeyId": key_arn(row), "MacValid": True, "MacAlgorithm": params["MacAlgorithm"]}
