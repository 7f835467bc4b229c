"""Container images for the tests, built here without Docker or a network registry: an
OCI image layout (``oci-layout``, ``index.json``, ``blobs/sha256/…``) as the OCI image
spec defines it, whose layers are gzipped tars made with ``tarfile``. Clients push it
with ``skopeo copy oci:<dir>:<tag> docker://…``."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass
class Entry:
    """One tar member: a file (``data``), a directory, a symlink or hard link
    (``link``), a whiteout (a file named ``.wh.<name>``)."""

    name: str
    data: bytes = b""
    mode: int = 0o644
    kind: bytes = tarfile.REGTYPE
    link: str = ""


@dataclass
class Image:
    layers: list[list[Entry]]
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: list[str] = field(default_factory=lambda: ["PATH=/usr/local/bin:/usr/bin:/bin"])
    workdir: str = ""
    architecture: str = "amd64"


def layer_tar(entries: list[Entry]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type, info.mode, info.linkname, info.mtime = entry.kind, entry.mode, entry.link, 0
            if entry.kind == tarfile.REGTYPE:
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
            else:
                tar.addfile(info)
    return raw.getvalue()


def _blob(root: Path, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256" / digest).write_bytes(data)
    return f"sha256:{digest}", len(data)


def write_layout(root: Path, image: Image, tag: str = "latest") -> str:
    """Write ``image`` as an OCI layout at ``root`` under ``tag``; its manifest's digest."""
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    layers, diff_ids = [], []
    for entries in image.layers:
        tar = layer_tar(entries)
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        digest, size = _blob(root, gzip.compress(tar, mtime=0))
        layers.append({"mediaType": OCI_LAYER, "digest": digest, "size": size})
    config: dict = {"Env": image.env}
    if image.entrypoint is not None:
        config["Entrypoint"] = image.entrypoint
    if image.cmd is not None:
        config["Cmd"] = image.cmd
    if image.workdir:
        config["WorkingDir"] = image.workdir
    config_blob = json.dumps({
        "architecture": image.architecture, "os": "linux", "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }).encode()  # fmt: skip
    config_digest, config_size = _blob(root, config_blob)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
        "layers": layers,
    }).encode()  # fmt: skip
    digest, size = _blob(root, manifest)
    index_path = root / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {
        "schemaVersion": 2, "manifests": []}  # fmt: skip
    index["manifests"] = [m for m in index["manifests"]
                          if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag]  # fmt: skip
    index["manifests"].append({"mediaType": OCI_MANIFEST, "digest": digest, "size": size,
                               "annotations": {"org.opencontainers.image.ref.name": tag}})  # fmt: skip
    index_path.write_text(json.dumps(index))
    return digest
