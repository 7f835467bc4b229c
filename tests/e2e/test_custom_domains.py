"""API Gateway custom domain names (apigatewayv2) with mutual TLS: a domain whose
truststore (a PEM bundle in S3) admits clients with a certificate from it, answers 403
to a client without one, refuses a certificate from another CA, and passes the client
certificate to the integration (``requestContext.authentication.clientCert``, payload
2.0; ``requestContext.identity.clientCert``, 1.0). Clients connect to 127.0.0.1 naming
the domain in SNI and Host, as DNS pointing the name at sandlot would make them."""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.conftest import error_of, make_client
from tests.e2e.functions import create_function, unique
from tests.e2e.http_clients import PROXY_ECHO
from tests.e2e.server import SandlotServer

ACCOUNT = "000000000000"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with SandlotServer(tmp_path_factory.mktemp("sandlot-data")) as running:
        yield running


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Corp"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca(common_name: str):
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _client(ca, common_name: str, path):
    """A client certificate issued by ``ca``, written as PEM files for ssl."""
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(0x1A2B3C4D5E)
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=10))
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = path / f"{common_name}.pem", path / f"{common_name}-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, cert_file, key_file


def _get(server, domain: str, path: str, cert=None) -> tuple[int | None, bytes]:
    """GET https://<domain><path> connecting to sandlot's HTTPS port: the server's
    certificate is checked against sandlot's CA for ``domain``. Status None: the server
    closed the connection without an answer."""
    context = ssl.create_default_context(cafile=server.ca_path)
    if cert is not None:
        context.load_cert_chain(cert[1], cert[2])
    port = urlsplit(server.https_endpoint).port
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname=domain) as tls,
    ):
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {domain}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    if not data:
        return None, b""
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.fixture(scope="module")
def setup(server, tmp_path_factory):
    """An HTTP API (payload 2.0 at stage $default, 1.0 at stage v1) behind a domain
    with a truststore, and one without."""
    folder = tmp_path_factory.mktemp("certs")
    trusted_ca, other_ca = _ca("Trusted CA"), _ca("Other CA")
    trusted = _client(trusted_ca, "trusted-client", folder)
    stranger = _client(other_ca, "stranger", folder)
    s3 = make_client(server.endpoint, "s3")
    s3.create_bucket(Bucket="truststores")
    bundle = trusted_ca[0].public_bytes(serialization.Encoding.PEM)
    s3.put_object(Bucket="truststores", Key="ca.pem", Body=bundle)

    lam = make_client(server.endpoint, "lambda")
    name = unique("domain-echo")
    create_function(lam, name, {"app.py": PROXY_ECHO})
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    apis = make_client(server.endpoint, "apigatewayv2")
    api_id = apis.create_api(Name="mtls", ProtocolType="HTTP")["ApiId"]
    lam.add_permission(FunctionName=arn, StatementId="api", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/*")  # fmt: skip
    for version, stage in (("2.0", "$default"), ("1.0", "v1")):
        integration = apis.create_integration(
            ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn,
            PayloadFormatVersion=version,
        )["IntegrationId"]  # fmt: skip
        route = "GET /hello" if stage == "$default" else "GET /old/hello"
        apis.create_route(ApiId=api_id, RouteKey=route, Target=f"integrations/{integration}")
        apis.create_stage(ApiId=api_id, StageName=stage, AutoDeploy=True)
    rest = make_client(server.endpoint, "apigateway")
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"
    proxy = {"type": "aws_proxy", "httpMethod": "POST", "uri": uri}
    definition = {"swagger": "2.0", "info": {"title": "rest-mtls", "version": "1"},
                  "paths": {"/pets/{id}": {"get": {"x-amazon-apigateway-integration": proxy}}}}  # fmt: skip
    rest_id = rest.import_rest_api(body=json.dumps(definition).encode())["id"]
    rest.create_deployment(restApiId=rest_id, stageName="prod")
    lam.add_permission(FunctionName=arn, StatementId="rest", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{rest_id}/*")  # fmt: skip
    return {"api_id": api_id, "rest_id": rest_id, "trusted": trusted, "stranger": stranger,
            "trusted_ca": trusted_ca[0], "other_ca": other_ca[0]}  # fmt: skip


def test_domain_name_control_plane(server, setup) -> None:
    apis = make_client(server.endpoint, "apigatewayv2")
    created = apis.create_domain_name(
        DomainName="api.example.test",
        DomainNameConfigurations=[{"EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2"}],
        MutualTlsAuthentication={"TruststoreUri": "s3://truststores/ca.pem"},
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["MutualTlsAuthentication"] == {"TruststoreUri": "s3://truststores/ca.pem"}
    config = created["DomainNameConfigurations"][0]
    assert (config["DomainNameStatus"], config["EndpointType"]) == ("AVAILABLE", "REGIONAL")
    assert created["ApiMappingSelectionExpression"] == "$request.basepath"
    again = error_of(apis.create_domain_name, DomainName="api.example.test")
    assert (again["Code"], again["HTTPStatusCode"]) == ("ConflictException", 409)
    missing = error_of(
        apis.create_domain_name,
        DomainName="bad.example.test",
        MutualTlsAuthentication={"TruststoreUri": "s3://truststores/absent.pem"},
    )
    assert missing["Code"] == "BadRequestException" and "NoSuchKey" in missing["Message"]
    for bad_name in ("localhost", "abc.execute-api.localhost", "../x", "127.0.0.1", "*.wild.test"):
        refused = error_of(apis.create_domain_name, DomainName=bad_name)
        assert refused["Code"] == "BadRequestException", bad_name
    assert [d["DomainName"] for d in apis.get_domain_names()["Items"]] == ["api.example.test"]
    mapping = apis.create_api_mapping(
        DomainName="api.example.test", ApiId=setup["api_id"], Stage="$default"
    )
    apis.create_api_mapping(
        DomainName="api.example.test", ApiId=setup["api_id"], Stage="v1", ApiMappingKey="legacy"
    )
    dup = error_of(
        apis.create_api_mapping, DomainName="api.example.test", ApiId=setup["api_id"],
        Stage="v1", ApiMappingKey="legacy",
    )  # fmt: skip
    assert dup["Code"] == "ConflictException"
    no_stage = error_of(
        apis.create_api_mapping, DomainName="api.example.test", ApiId=setup["api_id"],
        Stage="nope", ApiMappingKey="x",
    )  # fmt: skip
    assert no_stage["Code"] == "NotFoundException"
    listed = apis.get_api_mappings(DomainName="api.example.test")["Items"]
    assert sorted(m["ApiMappingKey"] for m in listed) == ["", "legacy"]
    got = apis.get_api_mapping(DomainName="api.example.test", ApiMappingId=mapping["ApiMappingId"])
    assert (got["ApiId"], got["Stage"]) == (setup["api_id"], "$default")
    plain = apis.create_domain_name(DomainName="open.example.test")
    assert "MutualTlsAuthentication" not in plain
    apis.create_api_mapping(DomainName="open.example.test", ApiId=setup["api_id"], Stage="$default")


def test_mtls_domain_accepts_a_trusted_client_certificate(server, setup) -> None:
    status, body = _get(server, "api.example.test", "/hello", setup["trusted"])
    assert status == 200, body
    event = json.loads(body)
    assert event["requestContext"]["domainName"] == "api.example.test"
    cert = event["requestContext"]["authentication"]["clientCert"]
    assert cert["clientCertPem"].startswith("-----BEGIN CERTIFICATE-----")
    presented = x509.load_pem_x509_certificate(cert["clientCertPem"].encode())
    assert presented == setup["trusted"][0]
    assert cert["subjectDN"] == "CN=trusted-client,O=Example Corp"
    assert cert["issuerDN"] == "CN=Trusted CA,O=Example Corp"
    assert cert["serialNumber"] == "1a:2b:3c:4d:5e"
    assert cert["validity"]["notAfter"].endswith(" GMT")
    # The v1 stage through the "legacy" mapping: payload 1.0's identity.clientCert.
    status, body = _get(server, "api.example.test", "/legacy/old/hello", setup["trusted"])
    assert status == 200, body
    identity = json.loads(body)["requestContext"]["identity"]
    assert identity["clientCert"]["subjectDN"] == "CN=trusted-client,O=Example Corp"


def test_mtls_domain_refuses_a_client_without_a_certificate(server, setup) -> None:
    status, body = _get(server, "api.example.test", "/hello")
    assert (status, json.loads(body)) == (403, {"message": "Forbidden"})


def test_mtls_domain_refuses_a_certificate_from_another_ca(server, setup) -> None:
    """Refused in the handshake: a TLS alert, which with TLS 1.3 the client sees once
    its request is sent (AWS completes the handshake and answers 403)."""
    try:
        status, _ = _get(server, "api.example.test", "/hello", setup["stranger"])
    except ssl.SSLError as refused:
        assert "ALERT" in str(refused) or "alert" in str(refused), refused
        assert not isinstance(refused, ssl.SSLCertVerificationError)  # sandlot's cert is fine
        return
    assert status is None


def test_mtls_cannot_be_bypassed_by_another_sni(server, setup) -> None:
    """Host names the mTLS domain but the handshake named another: no truststore was
    asked for, so the request is refused."""
    context = ssl.create_default_context(cafile=server.ca_path)
    port = urlsplit(server.https_endpoint).port
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname="open.example.test") as tls,
    ):
        tls.sendall(b"GET /hello HTTP/1.1\r\nHost: api.example.test\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 403"), data


def test_mtls_domain_over_plain_http_is_refused(server, setup) -> None:
    """No TLS, no client certificate: 403, as for a client without one."""
    port = urlsplit(server.endpoint).port
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        raw.sendall(b"GET /hello HTTP/1.1\r\nHost: api.example.test\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := raw.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 403") and data.endswith(b'{"message":"Forbidden"}')


def test_update_truststore_takes_effect_for_new_connections(server, setup) -> None:
    """A new truststore version (here: both CAs, and a block that does not parse, a
    warning) admits the other CA's client from the next handshake on."""
    s3 = make_client(server.endpoint, "s3")
    bundle = (
        setup["trusted_ca"].public_bytes(serialization.Encoding.PEM)
        + b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"
        + setup["other_ca"].public_bytes(serialization.Encoding.PEM)
    )
    s3.put_object(Bucket="truststores", Key="both.pem", Body=bundle)
    apis = make_client(server.endpoint, "apigatewayv2")
    updated = apis.update_domain_name(
        DomainName="api.example.test",
        MutualTlsAuthentication={"TruststoreUri": "s3://truststores/both.pem"},
    )
    mutual = updated["MutualTlsAuthentication"]
    assert mutual["TruststoreUri"] == "s3://truststores/both.pem"
    assert len(mutual["TruststoreWarnings"]) == 1
    status, body = _get(server, "api.example.test", "/hello", setup["stranger"])
    assert status == 200, body
    event = json.loads(body)
    assert event["requestContext"]["authentication"]["clientCert"]["issuerDN"] == (
        "CN=Other CA,O=Example Corp"
    )
    apis.update_domain_name(
        DomainName="api.example.test",
        MutualTlsAuthentication={"TruststoreUri": "s3://truststores/ca.pem"},
    )
    assert _get(server, "api.example.test", "/hello", setup["trusted"])[0] == 200


def test_rest_domain_name_and_base_path_mapping(server, setup) -> None:
    """REST's domain operations see the same domains: a base path mapping to a REST
    API on the mTLS domain passes requestContext.identity.clientCert (REST's proxy
    event), and the mapping is an API mapping too."""
    rest = make_client(server.endpoint, "apigateway")
    domain = rest.get_domain_name(domainName="api.example.test")
    assert domain["mutualTlsAuthentication"]["truststoreUri"] == "s3://truststores/ca.pem"
    assert domain["endpointConfiguration"] == {"types": ["REGIONAL"]}
    assert domain["regionalDomainName"] == "localhost.localstack.cloud"
    created = rest.create_base_path_mapping(
        domainName="api.example.test", basePath="shop", restApiId=setup["rest_id"], stage="prod"
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (created["basePath"], created["restApiId"], created["stage"]) == (
        "shop", setup["rest_id"], "prod",
    )  # fmt: skip
    listed = rest.get_base_path_mappings(domainName="api.example.test")["items"]
    assert {m["basePath"] for m in listed} == {"(none)", "legacy", "shop"}
    status, body = _get(server, "api.example.test", "/shop/pets/7", setup["trusted"])
    assert status == 200, body
    event = json.loads(body)
    assert "version" not in event and event["resource"] == "/pets/{id}"
    assert event["pathParameters"] == {"id": "7"}
    cert = event["requestContext"]["identity"]["clientCert"]
    assert cert["subjectDN"] == "CN=trusted-client,O=Example Corp"
    assert cert["clientCertPem"].startswith("-----BEGIN CERTIFICATE-----")
    assert _get(server, "api.example.test", "/shop/pets/7")[0] == 403
    bad = error_of(rest.create_base_path_mapping, domainName="api.example.test",
                   basePath="x", restApiId="nosuchapi", stage="prod")  # fmt: skip
    assert (bad["Code"], bad["HTTPStatusCode"]) == ("NotFoundException", 404)
    rest.delete_base_path_mapping(domainName="api.example.test", basePath="shop")
    assert _get(server, "api.example.test", "/shop/pets/7", setup["trusted"])[0] == 404
    missing = error_of(rest.get_base_path_mapping, domainName="api.example.test", basePath="shop")
    assert missing["Code"] == "NotFoundException"
    made = rest.create_domain_name(
        domainName="rest.example.test",
        regionalCertificateArn="arn:aws:acm:us-east-1:000000000000:certificate/x",
        endpointConfiguration={"types": ["REGIONAL"]},
    )
    assert made["regionalCertificateArn"].endswith("certificate/x")
    names = {d["domainName"] for d in rest.get_domain_names()["items"]}
    assert {"api.example.test", "rest.example.test"} <= names
    v2 = make_client(server.endpoint, "apigatewayv2").get_domain_name(
        DomainName="rest.example.test"
    )
    assert v2["DomainNameConfigurations"][0]["EndpointType"] == "REGIONAL"
    rest.delete_domain_name(domainName="rest.example.test")
    assert error_of(rest.get_domain_name, domainName="rest.example.test")["Code"] == (
        "NotFoundException"
    )


def test_sandlot_urls_lists_domain_mappings(server, setup) -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "sandlot.cli.main", "urls", "--endpoint", server.endpoint],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.splitlines()  # fmt: skip
    api = setup["api_id"]
    assert (
        f"domain api.example.test (mutual TLS) api {api} stage v1  https://api.example.test/legacy/"
    ) in listed
    assert (
        f"domain open.example.test api {api} stage $default  https://open.example.test/" in listed
    )


def test_domain_without_truststore_and_unmapped_paths(server, setup) -> None:
    status, body = _get(server, "open.example.test", "/hello")
    event = json.loads(body)
    assert status == 200 and "authentication" not in event["requestContext"]
    status, _ = _get(server, "open.example.test", "/nothing/here")
    assert status == 404


def test_delete_mapping_and_domain(server, setup) -> None:
    apis = make_client(server.endpoint, "apigatewayv2")
    mappings = apis.get_api_mappings(DomainName="open.example.test")["Items"]
    apis.delete_api_mapping(DomainName="open.example.test",
                            ApiMappingId=mappings[0]["ApiMappingId"])  # fmt: skip
    assert _get(server, "open.example.test", "/hello")[0] == 404
    apis.delete_domain_name(DomainName="open.example.test")
    gone = error_of(apis.get_domain_name, DomainName="open.example.test")
    assert (gone["Code"], gone["HTTPStatusCode"]) == ("NotFoundException", 404)


STACK = """
Parameters:
  ApiId: {Type: String}
Resources:
  Domain:
    Type: AWS::ApiGatewayV2::DomainName
    Properties:
      DomainName: stack.example.test
      DomainNameConfigurations: [{EndpointType: REGIONAL}]
      MutualTlsAuthentication: {TruststoreUri: s3://truststores/ca.pem}
  Mapping:
    Type: AWS::ApiGatewayV2::ApiMapping
    Properties:
      DomainName: !Ref Domain
      ApiId: !Ref ApiId
      Stage: $default
      ApiMappingKey: v2
Outputs:
  Target: {Value: !GetAtt Domain.RegionalDomainName}
  MappingId: {Value: !Ref Mapping}
"""


def test_cloudformation_domain_name_and_api_mapping(server, setup) -> None:
    cfn = make_client(server.endpoint, "cloudformation")
    cfn.create_stack(
        StackName="domains",
        TemplateBody=STACK,
        Parameters=[{"ParameterKey": "ApiId", "ParameterValue": setup["api_id"]}],
    )
    cfn.get_waiter("stack_create_complete").wait(
        StackName="domains", WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    stack = cfn.describe_stacks(StackName="domains")["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["Target"] == "localhost.localstack.cloud"
    apis = make_client(server.endpoint, "apigatewayv2")
    mapping = apis.get_api_mapping(DomainName="stack.example.test",
                                   ApiMappingId=outputs["MappingId"])  # fmt: skip
    assert (mapping["ApiId"], mapping["ApiMappingKey"]) == (setup["api_id"], "v2")
    status, body = _get(server, "stack.example.test", "/v2/hello", setup["trusted"])
    assert status == 200, body
    assert "clientCert" in json.loads(body)["requestContext"]["authentication"]
    assert _get(server, "stack.example.test", "/v2/hello")[0] == 403
    cfn.delete_stack(StackName="domains")
    cfn.get_waiter("stack_delete_complete").wait(
        StackName="domains", WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    gone = error_of(apis.get_domain_name, DomainName="stack.example.test")
    assert gone["Code"] == "NotFoundException"


def test_domains_and_ca_survive_a_restart(server, setup) -> None:
    """The CA, the domain and its truststore are durable: after a restart the same CA
    verifies the server and the domain still requires and accepts the certificate."""
    ca_before = Path(server.ca_path).read_bytes()
    server.stop()
    with SandlotServer(server.data_dir) as again:
        assert Path(again.ca_path).read_bytes() == ca_before
        status, body = _get(again, "api.example.test", "/hello", setup["trusted"])
        assert status == 200, body
        assert _get(again, "api.example.test", "/hello")[0] == 403
