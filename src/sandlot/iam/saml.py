"""SAML 2.0 for STS federation: an identity provider's metadata, and the signed
assertions its users present to ``AssumeRoleWithSAML``.

Signatures are verified by signxml against the signing certificates of the IdP's
metadata; only what the signature covers is read afterwards (the signed element signxml
returns, never the document as received), so a wrapped or injected assertion cannot
slip in. XML is parsed without entity resolution or network access.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass, field

from lxml import etree
from signxml import InvalidInput, InvalidSignature, XMLVerifier

NS = {
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
}
# Where AWS's SAML endpoint says assertions must be addressed (any regional form too).
AWS_RECIPIENT_SUFFIX = "signin.aws.amazon.com/saml"
AWS_AUDIENCES = ("urn:amazon:webservices",)
CLOCK_SKEW_S = 300
MAX_DOCUMENT = 100_000  # AWS's limit on an assertion's base64 text
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


class MetadataError(ValueError):
    """Metadata that names no entity or no signing certificate."""


class AssertionRejected(Exception):
    """An assertion STS refuses: ``code`` and ``message`` are the STS error's."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Metadata:
    entity_id: str
    certificates: tuple[str, ...]  # PEM
    valid_until: float | None


@dataclass(frozen=True)
class Assertion:
    issuer: str
    subject: str
    subject_type: str  # persistent, transient or the format URI
    audience: str  # the recipient AWS's SAML endpoint was addressed as
    attributes: dict[str, list[str]] = field(default_factory=dict)


def _time(text: str | None) -> float | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def parse_metadata(document: str) -> Metadata:
    try:
        root = etree.fromstring(document.encode(), parser=_PARSER)
    except etree.XMLSyntaxError as error:
        raise MetadataError(str(error)) from None
    entity = root if root.tag == f"{{{NS['md']}}}EntityDescriptor" else None
    if entity is None:
        entity = root.find(".//md:EntityDescriptor", NS)
    if entity is None or not entity.get("entityID"):
        raise MetadataError("no EntityDescriptor with an entityID")
    certificates = []
    for key in entity.findall("md:IDPSSODescriptor/md:KeyDescriptor", NS):
        if key.get("use", "signing") != "signing":
            continue
        for cert in key.findall(".//ds:X509Certificate", NS):
            body = "".join((cert.text or "").split())
            if body:
                certificates.append(
                    "-----BEGIN CERTIFICATE-----\n" + body + "\n-----END CERTIFICATE-----\n"
                )
    if not certificates:
        raise MetadataError("no signing certificate in the IDPSSODescriptor")
    try:
        valid_until = _time(entity.get("validUntil") or root.get("validUntil"))
    except ValueError:
        raise MetadataError("validUntil is not a date") from None
    return Metadata(entity.get("entityID"), tuple(certificates), valid_until)


def verify_assertion(encoded: str, metadata: Metadata, now: float) -> Assertion:
    """The signed assertion in base64 ``encoded`` (a SAML Response), checked against
    ``metadata``: signature, issuer, validity window and AWS as its recipient."""
    if len(encoded) > MAX_DOCUMENT:
        raise AssertionRejected("InvalidIdentityToken", "SAML assertion is too large")
    try:
        document = base64.b64decode(encoded, validate=False)
        etree.fromstring(document, parser=_PARSER)
    except (binascii.Error, ValueError, etree.XMLSyntaxError):
        raise AssertionRejected("InvalidIdentityToken", "Invalid base64 SAML Assertion") from None
    signed = None
    for certificate in metadata.certificates:
        try:
            result = XMLVerifier().verify(document, x509_cert=certificate)
        except (InvalidSignature, InvalidInput):
            continue
        signed = result.signed_xml
        break
    if signed is None:
        raise AssertionRejected("InvalidIdentityToken", "Response signature invalid")
    assertion = signed if signed.tag == f"{{{NS['saml']}}}Assertion" else None
    if assertion is None:
        assertion = signed.find("saml:Assertion", NS)
    if assertion is None:
        raise AssertionRejected("InvalidIdentityToken", "No signed assertion in the response")
    issuer = (assertion.findtext("saml:Issuer", namespaces=NS) or "").strip()
    if issuer != metadata.entity_id:
        raise AssertionRejected(
            "InvalidIdentityToken",
            f"Issuer {issuer} does not match the provider's entity {metadata.entity_id}",
        )
    conditions = assertion.find("saml:Conditions", NS)
    if conditions is not None:
        not_before = _time(conditions.get("NotBefore"))
        not_after = _time(conditions.get("NotOnOrAfter"))
        if not_before is not None and now + CLOCK_SKEW_S < not_before:
            raise AssertionRejected("InvalidIdentityToken", "SAML assertion is not yet valid")
        if not_after is not None and now - CLOCK_SKEW_S >= not_after:
            raise AssertionRejected("ExpiredTokenException", "Token expired")
        audiences = [a.text or "" for a in conditions.findall(".//saml:Audience", NS)]
        if audiences and not any(
            a.endswith(AWS_RECIPIENT_SUFFIX) or a in AWS_AUDIENCES for a in audiences
        ):
            raise AssertionRejected("InvalidIdentityToken", "Audience is not AWS")
    subject = assertion.find("saml:Subject", NS)
    name_id = subject.find("saml:NameID", NS) if subject is not None else None
    recipient = ""
    if subject is not None:
        data = subject.find("saml:SubjectConfirmation/saml:SubjectConfirmationData", NS)
        if data is not None:
            recipient = data.get("Recipient", "")
            not_after = _time(data.get("NotOnOrAfter"))
            if not_after is not None and now - CLOCK_SKEW_S >= not_after:
                raise AssertionRejected("ExpiredTokenException", "Token expired")
    if not recipient.endswith(AWS_RECIPIENT_SUFFIX):
        raise AssertionRejected(
            "InvalidIdentityToken", "SAML assertion is not addressed to AWS's SAML endpoint"
        )
    attributes: dict[str, list[str]] = {}
    for attribute in assertion.findall("saml:AttributeStatement/saml:Attribute", NS):
        values = [(v.text or "").strip() for v in attribute.findall("saml:AttributeValue", NS)]
        attributes.setdefault(attribute.get("Name", ""), []).extend(values)
    name_format = name_id.get("Format", "") if name_id is not None else ""
    short = name_format.rsplit(":", 1)[-1]
    return Assertion(
        issuer=issuer,
        subject=(name_id.text or "").strip() if name_id is not None else "",
        # AWS shortens the two common formats and reports any other format's URI.
        subject_type=short if short in ("persistent", "transient") else name_format,
        audience=recipient,
        attributes=attributes,
    )
