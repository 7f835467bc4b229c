"""ECR's images and registry: an OCI layout pushed and pulled with skopeo and crane (the OCI
distribution API at sandlot's endpoint, authenticated with GetAuthorizationToken's
token), the same images through boto3's ECR API, raw-HTTP uploads (monolithic, chunked,
a wrong digest), AWS's errors, IAM on the token's principal, and durability."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import make_client
from tests.e2e.images import Entry, Image, write_layout
from tests.e2e.server import SandlotServer

SKOPEO = shutil.which("skopeo")
needs_skopeo = pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed (.ci/run)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with SandlotServer(tmp_path_factory.mktemp("ecr-images")) as running:
        yield running


def _password(ecr) -> str:
    data = ecr.get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    assert user == "AWS"
    return password


def _skopeo(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SKOPEO, "--insecure-policy", *argv], capture_output=True, text=True, timeout=120
    )


def _push(
    server, layout: Path, tag: str, target: str, password: str
) -> subprocess.CompletedProcess:
    host = server.endpoint.split("//", 1)[1]
    return _skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"AWS:{password}",
                   f"oci:{layout}:{tag}", f"docker://{host}/{target}")  # fmt: skip


def _http(server, method: str, path: str, body: bytes = b"", password: str | None = None,
          headers: dict | None = None) -> tuple[int, object, bytes]:  # fmt: skip
    request = urllib.request.Request(server.endpoint + path, data=body or None, method=method)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    if password is not None:
        request.add_header(
            "Authorization", "Basic " + base64.b64encode(f"AWS:{password}".encode()).decode()
        )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@needs_skopeo
def test_push_and_pull_with_skopeo_and_the_ecr_api(server, tmp_path) -> None:
    ecr = make_client(server.endpoint, "ecr")
    ecr.create_repository(repositoryName="team/app")
    password = _password(ecr)
    image = Image(
        [[Entry("etc", kind=b"5", mode=0o755), Entry("etc/motd", b"hello")]], cmd=["/bin/true"]
    )
    digest = write_layout(tmp_path / "layout", image, "v1")
    pushed = _push(server, tmp_path / "layout", "v1", "team/app:v1", password)
    assert pushed.returncode == 0, pushed.stderr

    assert ecr.list_images(repositoryName="team/app")["imageIds"] == [
        {"imageDigest": digest, "imageTag": "v1"}
    ]
    (detail,) = ecr.describe_images(repositoryName="team/app")["imageDetails"]
    assert detail["imageTags"] == ["v1"] and detail["imageDigest"] == digest
    assert detail["imageManifestMediaType"] == "application/vnd.oci.image.manifest.v1+json"
    (got,) = ecr.batch_get_image(repositoryName="team/app", imageIds=[{"imageTag": "v1"}])["images"]
    manifest = json.loads(got["imageManifest"])
    assert hashlib.sha256(got["imageManifest"].encode()).hexdigest() == digest.split(":")[1]
    layer = manifest["layers"][0]["digest"]
    checked = ecr.batch_check_layer_availability(
        repositoryName="team/app", layerDigests=[layer, "sha256:" + "0" * 64]
    )
    assert checked["layers"][0]["layerAvailability"] == "AVAILABLE"
    assert checked["failures"][0]["failureCode"] == "MissingLayerDigest"
    # GetDownloadUrlForLayer's URL serves the layer to whoever holds it.
    url = ecr.get_download_url_for_layer(repositoryName="team/app", layerDigest=layer)[
        "downloadUrl"
    ]
    with urllib.request.urlopen(url, timeout=30) as response:
        assert "sha256:" + hashlib.sha256(response.read()).hexdigest() == layer

    # Pulled back with skopeo: the same manifest digest.
    host = server.endpoint.split("//", 1)[1]
    pulled = _skopeo("copy", "--src-tls-verify=false", "--src-creds", f"AWS:{password}",
                     f"docker://{host}/team/app:v1", f"oci:{tmp_path / 'back'}:v1")  # fmt: skip
    assert pulled.returncode == 0, pulled.stderr
    index = json.loads((tmp_path / "back" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest

    # The distribution API's own views.
    status, headers, body = _http(server, "GET", "/v2/team/app/tags/list", password=password)
    assert (status, json.loads(body)) == (200, {"name": "team/app", "tags": ["v1"]})
    status, headers, body = _http(
        server, "HEAD", f"/v2/team/app/manifests/{digest}", password=password
    )
    assert status == 200 and headers["Docker-Content-Digest"] == digest and body == b""

    # The registry belongs to the default account: its other registry name works too.
    status, _, _ = _http(server, "GET", "/v2/team/app/manifests/v1", password=password,
                         headers={"Host": f"000000000000.dkr.ecr.us-east-1.localhost:{host.split(':')[1]}"})  # fmt: skip
    assert status == 200


def test_uploads_over_raw_http_and_errors(server) -> None:
    ecr = make_client(server.endpoint, "ecr")
    ecr.create_repository(repositoryName="raw")
    password = _password(ecr)

    status, headers, body = _http(server, "GET", "/v2/")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic realm=")
    assert json.loads(body)["errors"][0]["code"] == "UNAUTHORIZED"
    assert _http(server, "GET", "/v2/", password="not-a-token")[0] == 401
    assert _http(server, "GET", "/v2/", password=password)[0] == 200

    # Monolithic upload; a wrong digest is refused and nothing is stored.
    blob = b"layer bytes"
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    status, _, body = _http(
        server, "POST", "/v2/raw/blobs/uploads/?digest=sha256:" + "1" * 64, blob, password
    )
    assert status == 400 and json.loads(body)["errors"][0]["code"] == "DIGEST_INVALID"
    assert _http(server, "HEAD", f"/v2/raw/blobs/{digest}", password=password)[0] == 404
    status, headers, _ = _http(
        server, "POST", f"/v2/raw/blobs/uploads/?digest={digest}", blob, password
    )
    assert status == 201 and headers["Docker-Content-Digest"] == digest
    status, headers, _ = _http(server, "HEAD", f"/v2/raw/blobs/{digest}", password=password)
    assert status == 200 and headers["Content-Length"] == str(len(blob))

    # Chunked: two PATCHes, then PUT with the digest.
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {}}).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    status, headers, _ = _http(server, "POST", "/v2/raw/blobs/uploads/", password=password)
    assert status == 202
    location = headers["Location"]
    assert _http(server, "PATCH", location, config[:10], password)[2] == b""
    status, headers, _ = _http(server, "PATCH", location, config[10:], password)
    assert status == 202 and headers["Range"] == f"0-{len(config) - 1}"
    assert _http(server, "PUT", f"{location}?digest={config_digest}", password=password)[0] == 201

    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": digest, "size": len(blob)}],
    })  # fmt: skip
    media = {"Content-Type": "application/vnd.docker.distribution.manifest.v2+json"}
    status, headers, _ = _http(
        server, "PUT", "/v2/raw/manifests/one", manifest.encode(), password, media
    )
    assert status == 201
    manifest_digest = headers["Docker-Content-Digest"]
    assert manifest_digest == "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
    status, headers, body = _http(server, "GET", "/v2/raw/manifests/one", password=password)
    assert (status, body.decode()) == (200, manifest)
    assert headers["Content-Type"] == media["Content-Type"]
    assert _http(server, "GET", "/v2/raw/manifests/nope", password=password)[0] == 404
    assert (
        json.loads(_http(server, "GET", "/v2/absent/manifests/one", password=password)[2])[
            "errors"
        ][0]["code"]
        == "NAME_UNKNOWN"
    )

    # The ECR API's errors.
    missing = manifest.replace(digest, "sha256:" + "2" * 64)
    with pytest.raises(ClientError) as excinfo:
        ecr.put_image(repositoryName="raw", imageManifest=missing, imageTag="two")
    assert excinfo.value.response["Error"]["Code"] == "LayersNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        ecr.put_image(repositoryName="raw", imageManifest=manifest, imageTag="one")
    assert excinfo.value.response["Error"]["Message"] == (
        f"Image with digest '{manifest_digest}' and tag 'one' already exists in the repository "
        f"with name 'raw' in registry with id '000000000000'"
    )
    # Retagging through the API (what `aws ecr put-image` does).
    ecr.put_image(repositoryName="raw", imageManifest=manifest, imageTag="two")
    ecr.put_image_tag_mutability(repositoryName="raw", imageTagMutability="IMMUTABLE")
    other = json.dumps({**json.loads(manifest), "annotations": {"x": "y"}})
    with pytest.raises(ClientError) as excinfo:
        ecr.put_image(repositoryName="raw", imageManifest=other, imageTag="two")
    assert excinfo.value.response["Error"]["Code"] == "ImageTagAlreadyExistsException"
    with pytest.raises(ClientError) as excinfo:
        ecr.put_image(repositoryName="raw", imageManifest="{not json", imageTag="x")
    assert excinfo.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        ecr.describe_images(repositoryName="raw", imageIds=[{"imageTag": "nope"}])
    assert excinfo.value.response["Error"]["Code"] == "ImageNotFoundException"

    # Untagging one of two tags keeps the image; the last tag takes it along.
    done = ecr.batch_delete_image(
        repositoryName="raw", imageIds=[{"imageTag": "one"}, {"imageTag": "zzz"}]
    )
    assert done["imageIds"] == [{"imageDigest": manifest_digest, "imageTag": "one"}]
    assert done["failures"][0]["failureCode"] == "ImageNotFound"
    assert ecr.list_images(repositoryName="raw")["imageIds"] == [
        {"imageDigest": manifest_digest, "imageTag": "two"}
    ]
    with pytest.raises(ClientError) as excinfo:
        ecr.delete_repository(repositoryName="raw")
    assert excinfo.value.response["Error"]["Code"] == "RepositoryNotEmptyException"
    ecr.delete_repository(repositoryName="raw", force=True)


def test_the_tokens_principal_is_authorised_by_iam(server) -> None:
    iam = make_client(server.endpoint, "iam")
    iam.create_user(UserName="puller")
    iam.put_user_policy(UserName="puller", PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
            "ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:BatchCheckLayerAvailability",
            "ecr:GetDownloadUrlForLayer"], "Resource": "*"}]}))  # fmt: skip
    key = iam.create_access_key(UserName="puller")["AccessKey"]
    ecr = make_client(server.endpoint, "ecr")
    ecr.create_repository(repositoryName="guarded")
    puller = make_client(server.endpoint, "ecr", key["AccessKeyId"], key["SecretAccessKey"])
    password = _password(puller)
    assert (
        _http(server, "GET", "/v2/guarded/tags/list", password=password)[0] == 403
    )  # no ListImages
    status, _, body = _http(server, "POST", "/v2/guarded/blobs/uploads/", password=password)
    assert status == 403 and json.loads(body)["errors"][0]["code"] == "DENIED"
    assert (
        _http(server, "GET", "/v2/guarded/manifests/v1", password=password)[0] == 404
    )  # allowed, absent
    # A deactivated key's tokens stop working.
    iam.update_access_key(UserName="puller", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert _http(server, "GET", "/v2/", password=password)[0] == 401


def test_images_survive_a_restart(tmp_path) -> None:
    with SandlotServer(tmp_path / "data") as first:
        ecr = make_client(first.endpoint, "ecr")
        ecr.create_repository(repositoryName="kept")
        password = _password(ecr)
        blob = b"durable"
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        assert (
            _http(first, "POST", f"/v2/kept/blobs/uploads/?digest={digest}", blob, password)[0]
            == 201
        )
    with SandlotServer(tmp_path / "data") as second:
        status, _, body = _http(second, "GET", f"/v2/kept/blobs/{digest}", password=password)
        assert (status, body) == (200, blob)


CRANE = "github.com/google/go-containerregistry/cmd/crane@v0.22.1"  # pinned


@pytest.fixture(scope="module")
def crane(request) -> str:
    """crane, built with `go install` into pytest's cache (as the Go functions are)."""
    go = shutil.which("go") or shutil.which("go", path="/usr/local/go/bin")
    if go is None:
        pytest.skip("the go toolchain is not installed on this machine")
    builds = Path(request.config.cache.mkdir("native-builds"))
    binary = builds / "bin" / "crane"
    if not binary.exists():
        env = {**os.environ, "GOPATH": str(builds / "gopath"), "GOBIN": str(builds / "bin"),
               "GOMODCACHE": str(builds / "gopath" / "mod"), "GOCACHE": str(builds / "gocache"),
               "GOFLAGS": "-modcacherw", "CGO_ENABLED": "0"}  # fmt: skip
        done = subprocess.run([go, "install", CRANE], env=env, capture_output=True, text=True,
                              timeout=1500)  # fmt: skip
        assert done.returncode == 0, done.stderr[-4000:]
    return str(binary)


def test_push_and_pull_with_crane(server, tmp_path, crane) -> None:
    ecr = make_client(server.endpoint, "ecr")
    ecr.create_repository(repositoryName="craned")
    password = _password(ecr)
    host = server.endpoint.split("//", 1)[1]
    env = {**os.environ, "DOCKER_CONFIG": str(tmp_path / "docker")}

    def run(*argv: str) -> str:
        done = subprocess.run([crane, *argv, "--insecure"], env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("auth", "login", host, "-u", "AWS", "-p", password)
    image = Image([[Entry("hello.txt", b"hi from crane")]], cmd=["/hello"])
    digest = write_layout(tmp_path / "layout", image, "v1")
    run("push", str(tmp_path / "layout"), f"{host}/craned:v1")
    assert run("digest", f"{host}/craned:v1").strip() == digest
    assert run("ls", f"{host}/craned").split() == ["v1"]
    # A copy to another tag within the registry, then the image read back by crane.
    run("tag", f"{host}/craned:v1", "v2")
    assert sorted(i["imageTag"] for i in ecr.list_images(repositoryName="craned")["imageIds"]) == [
        "v1",
        "v2",
    ]
    run("pull", "--format", "oci", f"{host}/craned:v2", str(tmp_path / "pulled"))
    index = json.loads((tmp_path / "pulled" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest
