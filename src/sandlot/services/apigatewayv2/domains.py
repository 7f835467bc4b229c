"""Custom domain names and API mappings of HTTP APIs (``CreateDomainName``,
``CreateApiMapping``…), with mutual TLS.

A domain name is one row (its API mappings inside its document); names are unique
across accounts and regions, as a Host header names only the domain. Every domain is
registered in ``Platform.custom_domains``, so the gateway routes requests whose Host is
the domain here (``gateway/dataplane.py``) and, for a domain with
``MutualTlsAuthentication``, asks the client for a certificate in the TLS handshake
(``gateway/tls.py``: the truststore verifies it; every certificate in it is a trust
anchor). The truststore is read from S3 through ``Platform.call`` as the caller, at
create and update, as AWS reads the version it is given then.

A request to a domain takes the API mapping whose key is the longest prefix of its path
(the empty key maps everything else), drops the key, and goes to the mapped API and
stage as if it came to the API's own endpoint; the client certificate, if any, reaches
the integration as ``requestContext.authentication.clientCert`` (payload 2.0) or
``requestContext.identity.clientCert`` (1.0).

Not modelled: ACM (``CertificateArn`` is kept as given; sandlot's own server
certificate and CA serve every name). A mapping may name a REST API (checked through
``Platform.call("apigateway", "GetStage")``); the gateway serves a mapped request as
the API's, REST or HTTP (``map_domain``). REST's own domain operations
(``services/apigateway/domains.py``) are views of these.
"""

from __future__ import annotations

import json
import re

from cryptography import x509

from sandlot.protocol import ServiceError
from sandlot.protocol.dataplane import CustomDomain, DataPlaneRequest
from sandlot.services.apigatewayv2.base import (
    Doc,
    HttpApiBase,
    bad_request,
    conflict,
    new_id,
    not_found,
    paged,
    public,
)
from sandlot.services.apigatewayv2.schema import APIS
from sandlot.services.provider import RequestContext
from sandlot.store import Migration, Table

# Its own component in the store's migrations, so it versions apart from the APIs'.
DOMAINS = Table(
    "apigwv2_domains",
    {
        "domain_name": "TEXT",
        "account": "TEXT",
        "region": "TEXT",
        "doc": "TEXT",  # JSON: the DomainName as GetDomainName returns it, + private keys
    },
    ("domain_name",),
    indexes=(("account", "region"),),
)
MIGRATIONS = [Migration(1, create=DOMAINS)]

# Where a user points the domain (a CNAME): the public name resolving to 127.0.0.1.
_TARGET_NAME = "localhost.localstack.cloud"
# Host names (no wildcards: a domain is matched by its exact name), at least two labels.
_DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")
_RESERVED = frozenset({"localhost", "localhost.localstack.cloud", "s3.localhost"})


class DomainNameOperations(HttpApiBase):
    def __init__(self, platform) -> None:
        super().__init__(platform)
        platform.store.migrate("apigatewayv2-domains", MIGRATIONS)
        for row in self.store.select(DOMAINS, {}):
            self._register(json.loads(row["doc"]))

    # == domain names ======================================================================

    async def create_domain_name(self, ctx: RequestContext, params: dict) -> dict:
        name = params["DomainName"].lower().rstrip(".")
        _check_name(name)
        if self.store.get(DOMAINS, name) is not None:
            raise conflict("The domain name you provided already exists.")
        doc: Doc = {
            "ApiMappingSelectionExpression": "$request.basepath",
            "DomainName": name,
            "DomainNameArn": f"arn:aws:apigateway:{ctx.region}::/domainnames/{name}",
            "DomainNameConfigurations": _configurations(params.get("DomainNameConfigurations")),
            "RoutingMode": params.get("RoutingMode") or "API_MAPPING_ONLY",
            "Tags": params.get("Tags") or {},
            "_mappings": {},
        }
        if params.get("MutualTlsAuthentication"):
            await self._set_truststore(ctx, doc, params["MutualTlsAuthentication"])
        self._save_domain(ctx, doc)
        return public(doc)

    def get_domain_name(self, ctx: RequestContext, params: dict) -> dict:
        return public(self._domain(ctx, params["DomainName"]))

    def get_domain_names(self, ctx: RequestContext, params: dict) -> dict:
        rows = self.store.select(DOMAINS, {"account": ctx.account_id, "region": ctx.region})
        docs = sorted((json.loads(r["doc"]) for r in rows), key=lambda d: d["DomainName"])
        return paged(docs, params)

    async def update_domain_name(self, ctx: RequestContext, params: dict) -> dict:
        doc = self._domain(ctx, params["DomainName"])
        if params.get("DomainNameConfigurations") is not None:
            doc["DomainNameConfigurations"] = _configurations(params["DomainNameConfigurations"])
        if params.get("RoutingMode"):
            doc["RoutingMode"] = params["RoutingMode"]
        mutual = params.get("MutualTlsAuthentication")
        if mutual is not None:
            if mutual.get("TruststoreUri"):
                await self._set_truststore(ctx, doc, mutual)
            else:  # an empty TruststoreUri turns mutual TLS off
                doc.pop("MutualTlsAuthentication", None)
                doc.pop("_truststore", None)
        self._save_domain(ctx, doc)
        return public(doc)

    def delete_domain_name(self, ctx: RequestContext, params: dict) -> dict:
        doc = self._domain(ctx, params["DomainName"])
        self.store.delete(DOMAINS, doc["DomainName"])
        self.platform.custom_domains.pop(doc["DomainName"], None)
        return {}

    # == API mappings ======================================================================

    async def create_api_mapping(self, ctx: RequestContext, params: dict) -> dict:
        doc = self._domain(ctx, params["DomainName"])
        key = _mapping_key(params.get("ApiMappingKey"))
        if any(m["ApiMappingKey"] == key for m in doc["_mappings"].values()):
            raise conflict(f"ApiMapping with key '{key}' already exists for this domain.")
        mapping = {"ApiMappingId": new_id(6), "ApiMappingKey": key}
        await self._map(ctx, mapping, params)
        doc["_mappings"][mapping["ApiMappingId"]] = mapping
        self._save_domain(ctx, doc)
        return mapping

    def get_api_mapping(self, ctx: RequestContext, params: dict) -> dict:
        return self._mapping(self._domain(ctx, params["DomainName"]), params["ApiMappingId"])

    def get_api_mappings(self, ctx: RequestContext, params: dict) -> dict:
        doc = self._domain(ctx, params["DomainName"])
        return paged(sorted(doc["_mappings"].values(), key=lambda m: m["ApiMappingKey"]), params)

    async def update_api_mapping(self, ctx: RequestContext, params: dict) -> dict:
        doc = self._domain(ctx, params["DomainName"])
        mapping = self._mapping(doc, params["ApiMappingId"])
        if "ApiMappingKey" in params:
            key = _mapping_key(params["ApiMappingKey"])
            if any(
                m["ApiMappingKey"] == key and m is not mapping for m in doc["_mappings"].values()
            ):
                raise conflict(f"ApiMapping with key '{key}' already exists for this domain.")
            mapping["ApiMappingKey"] = key
        await self._map(ctx, mapping, {"Stage": mapping["Stage"], **params})
        self._save_domain(ctx, doc)
        return mapping

    def delete_api_mapping(self, ctx: RequestContext, params: dict) -> dict:
        doc = self._domain(ctx, params["DomainName"])
        self._mapping(doc, params["ApiMappingId"])
        del doc["_mappings"][params["ApiMappingId"]]
        self._save_domain(ctx, doc)
        return {}

    # == the data plane ====================================================================

    def map_domain(self, request: DataPlaneRequest) -> bool:
        """Rewrite a request to a custom domain (``request.domain``) to the API and
        stage path of its mapping (the gateway then serves it as that API's); False
        when no mapping takes it. Read from the store: a row by key per request."""
        row = self.store.get(DOMAINS, request.domain)
        if row is None:
            return False
        path = request.path or "/"
        best, rest = None, path
        for mapping in json.loads(row["doc"])["_mappings"].values():
            key = mapping["ApiMappingKey"]
            if key == "":
                if best is None:
                    best, rest = mapping, path
            elif (path == f"/{key}" or path.startswith(f"/{key}/")) and (
                best is None or len(key) > len(best["ApiMappingKey"])
            ):
                best, rest = mapping, path[len(key) + 1 :] or "/"
        if best is None:
            return False
        request.target = best["ApiId"]
        stage = best["Stage"]
        request.path = rest if stage == "$default" else f"/{stage}{rest}"
        return True

    # == helpers ===========================================================================

    def _domain(self, ctx: RequestContext, name: str) -> Doc:
        row = self.store.get(DOMAINS, name.lower().rstrip("."))
        if row is None or (row["account"], row["region"]) != (ctx.account_id, ctx.region):
            raise not_found("Invalid domain name identifier specified", "DomainName")
        return json.loads(row["doc"])

    def _save_domain(self, ctx: RequestContext, doc: Doc) -> None:
        self.store.put(
            DOMAINS,
            {
                "domain_name": doc["DomainName"],
                "account": ctx.account_id,
                "region": ctx.region,
                "doc": json.dumps(doc),
            },
        )
        self._register(doc)

    def _register(self, doc: Doc) -> None:
        truststore = doc.get("_truststore")
        self.platform.custom_domains[doc["DomainName"]] = CustomDomain(
            self.service, truststore.encode("ascii") if truststore else None
        )

    @staticmethod
    def _mapping(doc: Doc, mapping_id: str) -> Doc:
        found = doc["_mappings"].get(mapping_id)
        if found is None:
            raise not_found(f"Invalid ApiMapping identifier specified {mapping_id}", "ApiMapping")
        return found

    async def _map(self, ctx: RequestContext, mapping: Doc, params: dict) -> None:
        """Point ``mapping`` at the API and stage ``params`` name, both existing: an
        HTTP API's, or a REST API's (asked of API Gateway's REST provider, as the
        caller: a domain serves both kinds, as in AWS)."""
        api_id, stage = params["ApiId"], params["Stage"]
        if self.store.get(APIS, api_id) is not None:
            self.existing(ctx, api_id, "stage", stage)
        else:
            try:
                await self.platform.call(
                    "apigateway", "GetStage", {"restApiId": api_id, "stageName": stage},
                    principal=ctx.principal, region=ctx.region, record_decisions=False,
                )  # fmt: skip
            except ServiceError as error:
                if error.code != "NotFoundException":
                    raise
                what = "API" if "stage" not in error.message.lower() else "Stage"
                raise not_found(f"Invalid {what} identifier specified {api_id}", "Api") from None
        mapping["ApiId"], mapping["Stage"] = api_id, stage

    async def _set_truststore(self, ctx: RequestContext, doc: Doc, mutual: dict) -> None:
        """Read the PEM bundle at ``TruststoreUri`` (as the caller, who needs
        s3:GetObject on it) and keep its certificates; unparsable ones are warnings,
        as AWS reports them, and a bundle with none is refused."""
        uri = mutual.get("TruststoreUri") or ""
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        if not uri.startswith("s3://") or not bucket or not key:
            raise bad_request(f"Invalid truststore URI {uri}: it must be s3://bucket/key.")
        params = {"Bucket": bucket, "Key": key}
        if mutual.get("TruststoreVersion"):
            params["VersionId"] = mutual["TruststoreVersion"]
        try:
            result = await self.platform.call(
                "s3", "GetObject", params, principal=ctx.principal, region=ctx.region
            )
        except ServiceError as error:
            raise bad_request(
                f"Unable to access the truststore at {uri}: {error.code}: {error.message}"
            ) from None
        body = result["Body"]
        if not isinstance(body, bytes | bytearray):  # a FileBody
            with body.file as f:
                f.seek(body.offset)
                body = f.read(body.length)
        pems, warnings = _certificates(bytes(body))
        if not pems:
            raise bad_request(f"The truststore at {uri} contains no valid X.509 certificate.")
        mutual_doc: Doc = {"TruststoreUri": uri}
        if mutual.get("TruststoreVersion"):
            mutual_doc["TruststoreVersion"] = mutual["TruststoreVersion"]
        if warnings:
            mutual_doc["TruststoreWarnings"] = warnings
        doc["MutualTlsAuthentication"] = mutual_doc
        doc["_truststore"] = "".join(pems)


def _check_name(name: str) -> None:
    """A host name of two labels or more, and none of the names sandlot itself answers
    (its endpoint, execute-api and function URL hosts): the gateway matches a domain's
    name before those, so it must not take them."""
    if not _DOMAIN.match(name) or len(name) > 253:
        raise bad_request(f"Invalid domain name identifier specified: {name}")
    if name in _RESERVED or any(part in name for part in (".execute-api.", ".lambda-url.")):
        raise bad_request(f"The domain name {name} is reserved for sandlot's own endpoints.")


def _configurations(given: list[dict] | None) -> list[Doc]:
    """DomainNameConfigurations as AWS completes them (one REGIONAL TLS 1.2 endpoint)."""
    configurations = []
    for each in given or [{}]:
        configurations.append(
            {
                "ApiGatewayDomainName": _TARGET_NAME,
                "DomainNameStatus": "AVAILABLE",
                "EndpointType": "REGIONAL",
                "IpAddressType": "ipv4",
                "SecurityPolicy": "TLS_1_2",
                **{k: v for k, v in each.items() if v is not None},
            }
        )
    return configurations


def _mapping_key(key: str | None) -> str:
    key = (key or "").strip("/")
    if key.startswith("$") or "//" in key:
        raise bad_request(f"Invalid ApiMappingKey {key}.")
    return key


def _certificates(bundle: bytes) -> tuple[list[str], list[str]]:
    """(PEM certificates that parse, warnings for the blocks that do not)."""
    begin, end = b"-----BEGIN CERTIFICATE-----", b"-----END CERTIFICATE-----"
    pems, warnings = [], []
    at = bundle.find(begin)
    while at != -1:
        stop = bundle.find(end, at)
        if stop == -1:
            warnings.append("Truststore ends inside a certificate.")
            break
        block = bundle[at : stop + len(end)]
        try:
            x509.load_pem_x509_certificate(block)
        except ValueError as error:
            warnings.append(f"Certificate {len(pems) + len(warnings) + 1} is invalid: {error}")
        else:
            pems.append(block.decode("ascii") + "\n")
        at = bundle.find(begin, stop)
    return pems, warnings
