"""Layers bigger than the gateway's request limit (max_body_bytes, ~69 MB): pushed with
skopeo (chunked upload: PATCH, then PUT with the digest) and over raw HTTP (monolithic
POST), streamed to disk in bounded server memory, digests verified, pulled back."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import make_client
from tests.e2e.images import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST
from tests.e2e.server import SandlotServer

SKOPEO = shutil.which("skopeo")
needs_skopeo = pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed (.ci/run)")
MiB = 1024 * 1024
LAYER_BYTES = 150 * MiB  # random, so gzip cannot shrink it below the limit
# What the server's peak memory may grow by while taking (or serving) such a layer: well
# under the layer's size, so it was never held whole.
MEMORY_GROWTH_MAX = 64 * MiB


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with SandlotServer(tmp_path_factory.mktemp("ecr-big")) as running:
        yield running


def _peak_rss(server) -> int:
    """The server process's peak resident memory (VmHWM), in bytes."""
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(MiB):
            sha.update(chunk)
    return "sha256:" + sha.hexdigest()


def _blob(root: Path, path: Path) -> dict:
    digest = _sha256(path)
    path.replace(root / "blobs" / "sha256" / digest.split(":")[1])
    return {"digest": digest, "size": (root / "blobs" / "sha256" / digest[7:]).stat().st_size}


def _big_layout(root: Path, work: Path) -> tuple[str, str]:
    """An OCI layout whose one layer holds a LAYER_BYTES random file; (manifest digest,
    layer digest). Written a chunk at a time, gzipped at level 1 to keep it quick."""
    (root / "blobs" / "sha256").mkdir(parents=True)
    (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    payload = work / "payload.bin"
    with open(payload, "wb") as f:
        for _ in range(LAYER_BYTES // MiB):
            f.write(os.urandom(MiB))
    tar_path = work / "layer.tar"
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(payload, arcname="data/payload.bin")
    diff_id = _sha256(tar_path)
    gz_path = work / "layer.tar.gz"
    with (
        open(tar_path, "rb") as source,
        open(gz_path, "wb") as target,
        gzip.GzipFile(fileobj=target, mode="wb", compresslevel=1, mtime=0) as gz,
    ):
        shutil.copyfileobj(source, gz, MiB)
    layer = {"mediaType": OCI_LAYER, **_blob(root, gz_path)}
    config = work / "config.json"
    config.write_text(json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))  # fmt: skip
    manifest = work / "manifest.json"
    manifest.write_text(json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, **_blob(root, config)}, "layers": [layer],
    }))  # fmt: skip
    described = {"mediaType": OCI_MANIFEST, **_blob(root, manifest),
                 "annotations": {"org.opencontainers.image.ref.name": "big"}}  # fmt: skip
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [described]}))
    return described["digest"], layer["digest"]


def _password(ecr) -> str:
    data = ecr.get_authorization_token()["authorizationData"][0]
    return base64.b64decode(data["authorizationToken"]).decode().partition(":")[2]


def _skopeo(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SKOPEO, "--insecure-policy", *argv], capture_output=True, text=True, timeout=300
    )


@needs_skopeo
@pytest.mark.timeout(600)
def test_a_150_mib_layer_pushed_and_pulled_with_skopeo(server, tmp_path) -> None:
    ecr = make_client(server.endpoint, "ecr")
    ecr.create_repository(repositoryName="big/app")
    password = _password(ecr)
    digest, layer = _big_layout(tmp_path / "layout", tmp_path)
    host = server.endpoint.split("//", 1)[1]

    before = _peak_rss(server)
    pushed = _skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"AWS:{password}",
                     f"oci:{tmp_path / 'layout'}:big", f"docker://{host}/big/app:v1")  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    assert _peak_rss(server) - before < MEMORY_GROWTH_MAX

    size = (tmp_path / "layout" / "blobs" / "sha256" / layer[7:]).stat().st_size
    assert size > 100 * MiB  # past the gateway's buffered-request limit
    checked = ecr.batch_check_layer_availability(repositoryName="big/app", layerDigests=[layer])
    assert checked["layers"][0]["layerAvailability"] == "AVAILABLE"
    assert checked["layers"][0]["layerSize"] == size
    (detail,) = ecr.describe_images(repositoryName="big/app")["imageDetails"]
    assert detail["imageDigest"] == digest and detail["imageTags"] == ["v1"]

    # Pulled back: the layer is streamed out, and skopeo verifies its digest.
    before = _peak_rss(server)
    pulled = _skopeo("copy", "--src-tls-verify=false", "--src-creds", f"AWS:{password}",
                     f"docker://{host}/big/app:v1", f"oci:{tmp_path / 'back'}:v1")  # fmt: skip
    assert pulled.returncode == 0, pulled.stderr
    assert _peak_rss(server) - before < MEMORY_GROWTH_MAX
    assert (tmp_path / "back" / "blobs" / "sha256" / layer[7:]).stat().st_size == size


def _post(server, path: str, body, password: str) -> tuple[int, object]:
    request = urllib.request.Request(server.endpoint + path, data=body, method="POST")
    request.add_header(
        "Authorization", "Basic " + base64.b64encode(f"AWS:{password}".encode()).decode()
    )
    request.add_header("Content-Type", "application/octet-stream")
    request.add_header("Content-Length", str(os.fstat(body.fileno()).st_size))
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_monolithic_upload_past_the_request_limit_is_digest_checked(server, tmp_path) -> None:
    ecr = make_client(server.endpoint, "ecr")
    ecr.create_repository(repositoryName="big/mono")
    password = _password(ecr)
    blob = tmp_path / "blob"
    with open(blob, "wb") as f:
        for _ in range(75):
            f.write(os.urandom(MiB))
    right = _sha256(blob)
    wrong = "sha256:" + "0" * 64
    with open(blob, "rb") as body:
        status, error = _post(server, f"/v2/big/mono/blobs/uploads/?digest={wrong}", body,
                              password)  # fmt: skip
    assert status == 400 and error["errors"][0]["code"] == "DIGEST_INVALID"
    with open(blob, "rb") as body:
        status, headers = _post(server, f"/v2/big/mono/blobs/uploads/?digest={right}", body,
                                password)  # fmt: skip
    assert status == 201 and headers["Docker-Content-Digest"] == right
    checked = ecr.batch_check_layer_availability(repositoryName="big/mono", layerDigests=[right])
    assert checked["layers"][0]["layerSize"] == 75 * MiB
