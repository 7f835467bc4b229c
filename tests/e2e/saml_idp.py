"""A SAML 2.0 identity provider for tests: metadata with its signing certificate, and
SAML Responses with an assertion signed by signxml, as an IdP posts them to AWS."""

from __future__ import annotations

import base64
import datetime as dt
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLSigner

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
ATTRIBUTE = "https://aws.amazon.com/SAML/Attributes/"
AWS_SAML = "https://signin.aws.amazon.com/saml"


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class SamlIdp:
    def __init__(self, entity_id: str = "https://idp.example.test/saml") -> None:
        self.entity_id = entity_id
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test idp")])
        now = dt.datetime.now(dt.UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .sign(self.key, hashes.SHA256())
        )

    def metadata(self) -> str:
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        body = base64.b64encode(der).decode()
        return (
            '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
            f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{self.entity_id}">'
            '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
            '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>'
            f"<ds:X509Certificate>{body}</ds:X509Certificate>"
            "</ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            "</md:IDPSSODescriptor></md:EntityDescriptor>"
        )

    def response(
        self,
        *,
        subject: str,
        attributes: dict[str, list[str]],
        lifetime: dt.timedelta = dt.timedelta(minutes=5),
        recipient: str = AWS_SAML,
        key=None,
    ) -> str:
        """A base64 SAML Response whose assertion is signed (by ``key``, else the IdP's)."""
        now = dt.datetime.now(dt.UTC)
        until = now + lifetime
        response = etree.Element(f"{{{SAMLP}}}Response", nsmap={"samlp": SAMLP, "saml": SAML})
        response.set("ID", "_" + uuid.uuid4().hex)
        response.set("Version", "2.0")
        response.set("IssueInstant", _iso(now))
        response.set("Destination", recipient)
        etree.SubElement(response, f"{{{SAML}}}Issuer").text = self.entity_id
        status = etree.SubElement(response, f"{{{SAMLP}}}Status")
        etree.SubElement(status, f"{{{SAMLP}}}StatusCode").set(
            "Value", "urn:oasis:names:tc:SAML:2.0:status:Success"
        )
        assertion = etree.Element(f"{{{SAML}}}Assertion", nsmap={"saml": SAML})
        assertion.set("ID", "_" + uuid.uuid4().hex)
        assertion.set("Version", "2.0")
        assertion.set("IssueInstant", _iso(now))
        etree.SubElement(assertion, f"{{{SAML}}}Issuer").text = self.entity_id
        subj = etree.SubElement(assertion, f"{{{SAML}}}Subject")
        name_id = etree.SubElement(subj, f"{{{SAML}}}NameID")
        name_id.set("Format", "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent")
        name_id.text = subject
        confirmation = etree.SubElement(subj, f"{{{SAML}}}SubjectConfirmation")
        confirmation.set("Method", "urn:oasis:names:tc:SAML:2.0:cm:bearer")
        data = etree.SubElement(confirmation, f"{{{SAML}}}SubjectConfirmationData")
        data.set("NotOnOrAfter", _iso(until))
        data.set("Recipient", recipient)
        conditions = etree.SubElement(assertion, f"{{{SAML}}}Conditions")
        conditions.set("NotBefore", _iso(now - dt.timedelta(minutes=1)))
        conditions.set("NotOnOrAfter", _iso(until))
        restriction = etree.SubElement(conditions, f"{{{SAML}}}AudienceRestriction")
        etree.SubElement(restriction, f"{{{SAML}}}Audience").text = recipient
        statement = etree.SubElement(assertion, f"{{{SAML}}}AttributeStatement")
        for name, values in attributes.items():
            attribute = etree.SubElement(statement, f"{{{SAML}}}Attribute")
            attribute.set("Name", name)
            for value in values:
                etree.SubElement(attribute, f"{{{SAML}}}AttributeValue").text = value
        signed = XMLSigner(c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#").sign(
            assertion,
            key=key or self.key,
            cert=self.certificate.public_bytes(serialization.Encoding.PEM).decode(),
        )
        response.append(signed)
        return base64.b64encode(etree.tostring(response)).decode()
