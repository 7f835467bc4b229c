"""Presigned code download links: signed, expiring, bound to one package."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from sandlot.protocol import ServiceError
from tests.unit.awslambda.support import Lambda, create


@pytest.fixture
def lam(tmp_path):
    client = Lambda(tmp_path)
    yield client
    client.close()


def test_a_link_opens_its_package_until_it_expires(lam):
    create(lam, "f")
    lam.settle()
    sha = lam.provider.records.versions("000000000000", "us-east-1", "f")[0]["code_sha"]
    links = lam.provider.links
    url = urlsplit(links.url("http://127.0.0.1:1", sha, now=1000.0))
    file, size = links.open(url.path, url.query, now=1000.0 + 599)
    with file:
        assert len(file.read()) == size
    with pytest.raises(ServiceError) as expired:
        links.open(url.path, url.query, now=1000.0 + 601)
    assert (expired.value.code, expired.value.status) == ("AccessDenied", 403)
    assert expired.value.message == "Request has expired"
    lam("DeleteFunction", FunctionName="f")
    with pytest.raises(ServiceError) as gone:
        links.open(url.path, url.query, now=1000.0)
    assert (gone.value.code, gone.value.status) == ("NoSuchKey", 404)


def test_links_of_another_server_are_refused(lam, tmp_path):
    create(lam, "f")
    lam.settle()
    sha = lam.provider.records.versions("000000000000", "us-east-1", "f")[0]["code_sha"]
    url = urlsplit(lam.provider.links.url("http://127.0.0.1:1", sha))
    other = Lambda(tmp_path / "other")
    try:
        with pytest.raises(ServiceError) as refused:
            other.provider.links.open(url.path, url.query)
        assert refused.value.code == "SignatureDoesNotMatch"
    finally:
        other.close()
