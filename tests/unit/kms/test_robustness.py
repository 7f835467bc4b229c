"""Every KMS operation, given odd but well-typed input, answers an AWS error or a
result: never an internal error (a seeded sweep over the model's operations)."""

from __future__ import annotations

import asyncio
import random

import botocore.session

from sandlot.config import Settings
from sandlot.iam.principal import Principal
from sandlot.platform import Platform
from sandlot.protocol import ServiceError
from sandlot.services.provider import RequestContext

ACCOUNT, REGION = "000000000000", "us-east-1"
ROOT = Principal.root(ACCOUNT)
KEYS = [
    ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"), ("RSA_2048", "ENCRYPT_DECRYPT"),
    ("RSA_2048", "SIGN_VERIFY"), ("ECC_NIST_P256", "SIGN_VERIFY"),
    ("ECC_NIST_P256", "KEY_AGREEMENT"), ("HMAC_256", "GENERATE_VERIFY_MAC"),
    ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY"), ("ML_DSA_44", "SIGN_VERIFY"),
]  # fmt: skip


def test_no_operation_fails_internally(tmp_path):
    platform = Platform(Settings(), tmp_path)
    model = botocore.session.get_session().get_service_model("kms")

    async def run(operation: str, params: dict):
        ctx = RequestContext("r", ACCOUNT, REGION, ROOT, "kms", operation, None)
        platform.admit(ctx, params, None)
        return await platform.run_operation(ctx, params)

    async def sweep() -> list[str]:
        keys = []
        for spec, usage in KEYS:
            created = await run("CreateKey", {"KeySpec": spec, "KeyUsage": usage})
            keys.append(created["KeyMetadata"]["KeyId"])
        blob = (await run("Encrypt", {"KeyId": keys[0], "Plaintext": b"x"}))["CiphertextBlob"]
        await run("CreateAlias", {"AliasName": "alias/f", "TargetKeyId": keys[0]})
        values = {
            "string": ["", "x", "alias/f", "alias/aws/s3", "arn:x", "default", "{}",
                       f"arn:aws:kms:{REGION}:{ACCOUNT}:key/", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/f",
                       "RSAES_OAEP_SHA_256", "SYMMETRIC_DEFAULT", "ECDSA_SHA_256", "HMAC_SHA_256",
                       "RAW", "DIGEST", "EXTERNAL_MU", "AES_256", "ECDH", "ML_DSA_SHAKE_256",
                       "ED25519_SHA_512", *keys],
            "blob": [b"", b"x", blob, blob[:-1], bytes(64), b"\x01" + b"a" * 100],
            "integer": [0, 1, 7, 30, 90, 100000, -1],
            "boolean": [True, False],
            "map": [{}, {"a": "b"}],
        }  # fmt: skip
        rnd = random.Random(17)
        failures = []
        for operation in model.operation_names:
            shape = model.operation_model(operation).input_shape
            for _ in range(25):
                params = {}
                for name, member in shape.members.items():
                    if name in shape.required_members or rnd.random() < 0.4:
                        if member.type_name in values:
                            params[name] = rnd.choice(values[member.type_name])
                        elif member.type_name == "list" and member.member.type_name == "string":
                            params[name] = rnd.choice([[], ["Decrypt"], ["x"]])
                if not set(shape.required_members) <= set(params):
                    continue  # the parser refuses a request missing a required member
                try:
                    await run(operation, params)
                except ServiceError:
                    pass
                except Exception as error:  # noqa: BLE001 (what the test looks for)
                    failures.append(f"{operation} {params!r}: {error!r}")
        return failures

    try:
        assert asyncio.run(sweep()) == []
    finally:
        platform.close()
