"""SAML 2.0 identity providers: the IdPs whose signed assertions STS's
``AssumeRoleWithSAML`` accepts. A provider holds the IdP's metadata document (its
entity id and signing certificates); STS reads it through ``saml_provider``
(services/sts/saml.py verifies assertions against it).
"""

from __future__ import annotations

import json
import uuid

from sandlot.iam.saml import MetadataError, parse_metadata
from sandlot.protocol import ServiceError
from sandlot.services.iam.base import (
    IamBase,
    already_exists,
    check_tags,
    checked,
    invalid_input,
    merge_tags,
    no_such_entity,
    remove_tags,
    timestamp,
)
from sandlot.services.iam.schema import SAML_PROVIDERS
from sandlot.services.provider import RequestContext

# Metadata without validUntil: AWS reports the provider valid for 100 years.
DEFAULT_VALIDITY_S = 100 * 365 * 86400


class SamlProviders(IamBase):
    def saml_provider(self, account: str, arn: str) -> dict | None:
        """The provider row for ``arn`` in ``account``, or None."""
        return self.store.get(SAML_PROVIDERS, account, arn)

    def _saml(self, ctx: RequestContext, arn: str) -> dict:
        row = self.store.get(SAML_PROVIDERS, ctx.account_id, arn)
        if row is None:
            raise no_such_entity(f"Manifest not found for arn {arn}")
        return row

    def _metadata_validity(self, document: str) -> float:
        try:
            metadata = parse_metadata(document)
        except MetadataError as error:
            raise invalid_input(f"Could not parse metadata: {error}") from None
        return metadata.valid_until or self.clock() + DEFAULT_VALIDITY_S

    @staticmethod
    def _refuse_encryption(params: dict) -> None:
        # Encrypted assertions need the provider's private keys: not served, so refused
        # rather than stored and ignored.
        if params.get("AssertionEncryptionMode") == "Required" or params.get("AddPrivateKey"):
            raise ServiceError(
                "InvalidInput",
                "sandlot does not decrypt SAML assertions: AssertionEncryptionMode "
                "Required and AddPrivateKey are not supported",
            )

    @checked
    def create_saml_provider(self, ctx: RequestContext, params: dict) -> dict:
        self._refuse_encryption(params)
        document = params["SAMLMetadataDocument"]
        tags = params.get("Tags", [])
        check_tags(tags)
        arn = f"arn:aws:iam::{ctx.account_id}:saml-provider/{params['Name']}"
        row = {
            "account_id": ctx.account_id,
            "arn": arn,
            "name": params["Name"],
            "uuid": str(uuid.uuid4()),
            "metadata": document,
            "valid_until": self._metadata_validity(document),
            "created_at": self.clock(),
            "tags": json.dumps(tags),
        }
        if not self.store.put(SAML_PROVIDERS, row, replace=False):
            raise already_exists(f"SAMLProvider {params['Name']} already exists.")
        out: dict = {"SAMLProviderArn": arn}
        if tags:
            out["Tags"] = tags
        return out

    @checked
    def get_saml_provider(self, ctx: RequestContext, params: dict) -> dict:
        row = self._saml(ctx, params["SAMLProviderArn"])
        out = {
            "SAMLProviderUUID": row["uuid"],
            "SAMLMetadataDocument": row["metadata"],
            "CreateDate": timestamp(row["created_at"]),
            "ValidUntil": timestamp(row["valid_until"]),
            "AssertionEncryptionMode": "Allowed",
        }
        if tags := json.loads(row["tags"]):
            out["Tags"] = tags
        return out

    @checked
    def list_saml_providers(self, ctx: RequestContext, params: dict) -> dict:
        rows = self.store.select(SAML_PROVIDERS, {"account_id": ctx.account_id}, order_by=("arn",))
        return {
            "SAMLProviderList": [
                {
                    "Arn": r["arn"],
                    "ValidUntil": timestamp(r["valid_until"]),
                    "CreateDate": timestamp(r["created_at"]),
                }
                for r in rows
            ]
        }

    @checked
    def update_saml_provider(self, ctx: RequestContext, params: dict) -> dict:
        self._refuse_encryption(params)
        if params.get("RemovePrivateKey"):
            raise invalid_input("The provider has no private key to remove.")
        with self.store.transaction():
            row = self._saml(ctx, params["SAMLProviderArn"])
            if "SAMLMetadataDocument" in params:
                document = params["SAMLMetadataDocument"]
                row = {
                    **row,
                    "metadata": document,
                    "valid_until": self._metadata_validity(document),
                }
                self.store.put(SAML_PROVIDERS, row)
        return {"SAMLProviderArn": row["arn"]}

    @checked
    def delete_saml_provider(self, ctx: RequestContext, params: dict) -> dict:
        arn = params["SAMLProviderArn"]
        if not self.store.delete(SAML_PROVIDERS, ctx.account_id, arn):
            raise no_such_entity(f"Manifest not found for arn {arn}")
        return {}

    @checked
    def tag_saml_provider(self, ctx: RequestContext, params: dict) -> dict:
        with self.store.transaction():
            row = self._saml(ctx, params["SAMLProviderArn"])
            merged = merge_tags(json.loads(row["tags"]), params["Tags"])
            check_tags(merged)
            self.store.put(SAML_PROVIDERS, {**row, "tags": json.dumps(merged)})
        return {}

    @checked
    def untag_saml_provider(self, ctx: RequestContext, params: dict) -> dict:
        with self.store.transaction():
            row = self._saml(ctx, params["SAMLProviderArn"])
            kept = remove_tags(json.loads(row["tags"]), params["TagKeys"])
            self.store.put(SAML_PROVIDERS, {**row, "tags": json.dumps(kept)})
        return {}

    @checked
    def list_saml_provider_tags(self, ctx: RequestContext, params: dict) -> dict:
        row = self._saml(ctx, params["SAMLProviderArn"])
        return {"Tags": json.loads(row["tags"]), "IsTruncated": False}
