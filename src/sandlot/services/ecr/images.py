"""ECR's image operations: layer uploads (InitiateLayerUpload, UploadLayerPart,
CompleteLayerUpload), BatchCheckLayerAvailability, GetDownloadUrlForLayer, PutImage,
BatchGetImage, BatchDeleteImage, ListImages, DescribeImages and GetAuthorizationToken.

Layers are content-addressed per repository: an upload's bytes go to a file under
``<data>/ecr-uploads`` part by part, and on completion are hashed, checked against the
digest the client names, and adopted into the store's blob files (durable, fsynced)
before their row is written. An image is its manifest exactly as pushed (its digest is
the SHA-256 of those bytes), Docker v2 schema 2 or OCI, an image manifest or an index;
a manifest whose config or layers are missing, or an index whose manifests are, is
refused. Tags point at digests.

The authorization token is ``base64("AWS:" + password)``, as ECR's; the password is the
caller's principal sealed with the data directory's master key, with an expiry 12 hours
on. The registry (``services/ecr/registry.py``) opens it back into that principal and
authorises each request as the ECR action it amounts to.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import hashlib
import json
import re
import time
import uuid
from pathlib import Path

from cryptography.exceptions import InvalidTag

from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError
from sandlot.services.ecr.schema import IMAGES, LAYERS, TAGS, UPLOADS
from sandlot.services.provider import RequestContext
from sandlot.store.master_key import MasterKey

DIGEST = re.compile(r"^sha256:[a-f0-9]{64}\Z")
TOKEN_HOURS = 12
PART_SIZE = 10 * 1024 * 1024  # what InitiateLayerUpload advises; any part size is taken
_TOKEN_KEY = "ecr-authorization-token"  # binds the sealed password to its use

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
INDEXES = frozenset({DOCKER_LIST, OCI_INDEX})
MANIFEST_TYPES = frozenset({DOCKER_MANIFEST, OCI_MANIFEST, *INDEXES})


def invalid(message: str) -> ServiceError:
    return ServiceError("InvalidParameterException", message)


def manifest_type(document: dict, declared: str | None) -> str:
    """The manifest's media type: declared by the client, else its own ``mediaType``,
    else (OCI allows leaving it out) what its shape says."""
    kind = declared or document.get("mediaType")
    if not kind:
        kind = OCI_INDEX if "manifests" in document else OCI_MANIFEST
    return kind


def references(document: dict, kind: str) -> list[str]:
    """The digests a manifest needs present: an index its manifests, an image manifest
    its config and layers (foreign layers, which registries do not hold, excepted)."""
    if kind in INDEXES:
        return [m.get("digest", "") for m in document.get("manifests") or []]
    found = [(document.get("config") or {}).get("digest", "")]
    for layer in document.get("layers") or []:
        if not str(layer.get("mediaType", "")).endswith(
            ("foreign.diff.tar.gzip", "nondistributable.v1.tar+gzip")
        ):
            found.append(layer.get("digest", ""))
    return found


class ImageOperations:
    """The image half of the ECR provider (mixed into ``EcrProvider``)."""

    def _init_images(self, platform) -> None:
        self._uploads = Path(platform.data_dir) / "ecr-uploads"
        self._uploads.mkdir(parents=True, exist_ok=True)
        self._master = MasterKey(platform.data_dir)

    # -- authorization tokens -------------------------------------------------------------

    def get_authorization_token(self, ctx: RequestContext, params: dict) -> dict:
        expires = time.time() + TOKEN_HOURS * 3600
        claims = {"principal": dataclasses.asdict(ctx.principal), "expires": expires}
        sealed = self._master.seal(_TOKEN_KEY, 1, json.dumps(claims).encode())
        password = base64.urlsafe_b64encode(sealed).decode()
        registries = params.get("registryIds") or [ctx.account_id]
        return {"authorizationData": [{
            "authorizationToken": base64.b64encode(f"AWS:{password}".encode()).decode(),
            "expiresAt": dt.datetime.fromtimestamp(expires, dt.UTC),
            "proxyEndpoint": f"https://{registry}.dkr.ecr.{ctx.region}.amazonaws.com",
        } for registry in registries]}  # fmt: skip

    def principal_of_password(self, password: str) -> Principal | None:
        """The principal a token's password was issued to, or None when it is not one
        this data directory sealed, has expired, or its access key is no longer active."""
        try:
            sealed = base64.urlsafe_b64decode(password.encode())
            claims = json.loads(self._master.open(_TOKEN_KEY, 1, sealed))
        except (ValueError, InvalidTag):
            return None
        if claims["expires"] < time.time():
            return None
        principal = Principal(**claims["principal"])
        if principal.access_key_id:
            credential = self.platform.credentials.lookup(principal.access_key_id)
            if credential is not None and (credential.status != "Active" or credential.expired):
                return None
        return principal

    # -- layers ---------------------------------------------------------------------------

    def _layer(self, ctx: RequestContext, repository: str, digest: str) -> dict | None:
        return self.store.get(LAYERS, ctx.account_id, ctx.region, repository, digest)

    def layer_file(
        self, account: str, region: str, repository: str, digest: str
    ) -> tuple[Path, int] | None:
        """Where a layer's bytes are, and their size (the registry serves them)."""
        row = self.store.get(LAYERS, account, region, repository, digest)
        return None if row is None else (self.platform.blobs.path(row["blob_id"]), row["size"])

    def initiate_layer_upload(self, ctx: RequestContext, params: dict) -> dict:
        repository = self._repository(ctx, params["repositoryName"])["name"]
        upload_id = str(uuid.uuid4())
        (self._uploads / upload_id).write_bytes(b"")
        self.store.put(UPLOADS, {"account_id": ctx.account_id, "region": ctx.region,
                                 "repository": repository, "upload_id": upload_id,
                                 "received": 0, "created": time.time()})  # fmt: skip
        return {"uploadId": upload_id, "partSize": PART_SIZE}

    def _upload(self, ctx: RequestContext, repository: str, upload_id: str) -> dict:
        row = self.store.get(UPLOADS, ctx.account_id, ctx.region, repository, upload_id)
        if row is None:
            raise ServiceError(
                "UploadNotFoundException",
                f"Upload with id '{upload_id}' is not found for the repository with name "
                f"'{repository}' in the registry with id '{ctx.account_id}'",
            )
        return row

    def upload_layer_part(self, ctx: RequestContext, params: dict) -> dict:
        repository = self._repository(ctx, params["repositoryName"])["name"]
        row = self._upload(ctx, repository, params["uploadId"])
        data = params["layerPartBlob"]
        first, last = params["partFirstByte"], params["partLastByte"]
        if first != row["received"] or last - first + 1 != len(data):
            raise ServiceError(
                "InvalidLayerPartException",
                f"The upload with id '{row['upload_id']}' expects its next part at byte "
                f"{row['received']}; the part given spans bytes {first} to {last} with "
                f"{len(data)} bytes of content",
            )
        with open(self._uploads / row["upload_id"], "ab") as f:
            f.write(data)
        received = row["received"] + len(data)
        self.store.put(UPLOADS, {**row, "received": received})
        return {"registryId": ctx.account_id, "repositoryName": repository,
                "uploadId": row["upload_id"], "lastByteReceived": received - 1}  # fmt: skip

    async def complete_layer_upload(self, ctx: RequestContext, params: dict) -> dict:
        repository = self._repository(ctx, params["repositoryName"])["name"]
        row = self._upload(ctx, repository, params["uploadId"])
        digests = params["layerDigests"]
        if len(digests) != 1 or not DIGEST.match(digests[0]):
            raise invalid("Invalid parameter at 'layerDigests' failed to satisfy constraint: "
                          "'exactly one sha256 digest'")  # fmt: skip
        path = self._uploads / row["upload_id"]
        if row["received"] == 0:
            raise ServiceError(
                "EmptyUploadException",
                f"The layer upload with id '{row['upload_id']}' was empty",
            )
        # A layer may be gigabytes: hashed off the event loop.
        actual = "sha256:" + await asyncio.to_thread(_sha256_file, path)
        if actual != digests[0]:
            raise ServiceError(
                "InvalidLayerException",
                f"Invalid layer digest: the content's digest is '{actual}', not '{digests[0]}'",
            )
        existing = self._layer(ctx, repository, actual)
        self.store.delete(UPLOADS, ctx.account_id, ctx.region, repository, row["upload_id"])
        if existing is not None:
            path.unlink(missing_ok=True)
            raise ServiceError(
                "LayerAlreadyExistsException",
                f"The layer with digest '{actual}' already exists in the repository with name "
                f"'{repository}' in the registry with id '{ctx.account_id}'",
            )
        self.save_layer(ctx, repository, actual, path, row["received"])
        return {"registryId": ctx.account_id, "repositoryName": repository,
                "uploadId": row["upload_id"], "layerDigest": actual}  # fmt: skip

    def save_layer(
        self, ctx: RequestContext, repository: str, digest: str, path: Path, size: int
    ) -> None:
        """Make the verified file at ``path`` the layer ``digest``: durable first, then
        recorded, so a row never names a missing blob."""
        staged = self.platform.blobs.temp_path()
        path.replace(staged)
        blob_id = self.platform.blobs.adopt(staged)
        self.store.put(LAYERS, {"account_id": ctx.account_id, "region": ctx.region,
                                "repository": repository, "digest": digest, "blob_id": blob_id,
                                "size": size, "created": time.time()})  # fmt: skip

    def batch_check_layer_availability(self, ctx: RequestContext, params: dict) -> dict:
        repository = self._repository(ctx, params["repositoryName"])["name"]
        layers, failures = [], []
        for digest in params["layerDigests"]:
            row = self._layer(ctx, repository, digest) if DIGEST.match(digest) else None
            if row is not None:
                layers.append({"layerDigest": digest, "layerAvailability": "AVAILABLE",
                               "layerSize": row["size"]})  # fmt: skip
            elif DIGEST.match(digest):
                failures.append({"layerDigest": digest, "failureCode": "MissingLayerDigest",
                                 "failureReason": "Could not find layer"})  # fmt: skip
            else:
                failures.append({"layerDigest": digest, "failureCode": "InvalidLayerDigest",
                                 "failureReason": "Invalid layer digest"})  # fmt: skip
        return {"layers": layers, "failures": failures}

    def get_download_url_for_layer(self, ctx: RequestContext, params: dict) -> dict:
        repository = self._repository(ctx, params["repositoryName"])["name"]
        digest = params["layerDigest"]
        if not DIGEST.match(digest):
            raise invalid(f"Invalid parameter at 'layerDigest' failed to satisfy constraint: "
                          f"'Invalid layer digest: {digest}'")  # fmt: skip
        if self._layer(ctx, repository, digest) is None:
            raise _layers_not_found(ctx, repository, [digest])
        # A pre-authorised URL, as ECR's (an S3 one there): the registry serves the
        # blob to whoever holds it for as long as an authorization token lasts.
        claims = {"blob": [ctx.account_id, ctx.region, repository, digest],
                  "expires": time.time() + TOKEN_HOURS * 3600}  # fmt: skip
        sealed = self._master.seal(_TOKEN_KEY, 2, json.dumps(claims).encode())
        token = base64.urlsafe_b64encode(sealed).decode()
        base = getattr(self.platform, "endpoint_url", "") or ""
        return {"downloadUrl": f"{base}/v2/{repository}/blobs/{digest}?sandlot-download={token}",
                "layerDigest": digest}  # fmt: skip

    def download_grant(self, token: str) -> list[str] | None:
        """The [account, region, repository, digest] a download URL's token grants."""
        try:
            claims = json.loads(self._master.open(_TOKEN_KEY, 2, base64.urlsafe_b64decode(token)))
        except (ValueError, InvalidTag):
            return None
        return claims["blob"] if claims["expires"] >= time.time() else None

    # -- images ---------------------------------------------------------------------------

    def _image(self, ctx: RequestContext, repository: str, digest: str) -> dict | None:
        return self.store.get(IMAGES, ctx.account_id, ctx.region, repository, digest)

    def _tags_of(self, ctx: RequestContext, repository: str, digest: str) -> list[str]:
        rows = self.store.select(TAGS, {"account_id": ctx.account_id, "region": ctx.region,
                                        "repository": repository, "digest": digest})  # fmt: skip
        return sorted(r["tag"] for r in rows)

    def resolve(self, ctx: RequestContext, repository: str, image_id: dict) -> dict | None:
        """The image row an imageId ({imageTag} and/or {imageDigest}) names, or None."""
        digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
        if tag is not None:
            row = self.store.get(TAGS, ctx.account_id, ctx.region, repository, tag)
            if row is None or (digest is not None and row["digest"] != digest):
                return None
            digest = row["digest"]
        return self._image(ctx, repository, digest) if digest else None

    def put_image(self, ctx: RequestContext, params: dict) -> dict:
        repo = self._repository(ctx, params["repositoryName"])
        repository = repo["name"]
        text = params["imageManifest"]
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        if not isinstance(document, dict) or document.get("schemaVersion") != 2:
            raise invalid("Invalid parameter at 'ImageManifest' failed to satisfy constraint: "
                          "'Invalid JSON syntax'")  # fmt: skip
        kind = manifest_type(document, params.get("imageManifestMediaType"))
        if kind not in MANIFEST_TYPES:
            raise invalid(f"Invalid parameter at 'imageManifestMediaType' failed to satisfy "
                          f"constraint: 'Unsupported manifest media type: {kind}'")  # fmt: skip
        digest = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
        if params.get("imageDigest") and params["imageDigest"] != digest:
            raise ServiceError(
                "ImageDigestDoesNotMatchException",
                f"Provided image digest '{params['imageDigest']}' does not match the "
                f"calculated image digest '{digest}'",
            )
        needed = references(document, kind)
        if kind in INDEXES:
            missing = [d for d in needed if self._image(ctx, repository, d) is None]
            if missing:
                raise ServiceError(
                    "ReferencedImagesNotFoundException",
                    f"Some of the referenced images were not found: {', '.join(missing)}",
                )
            size = sum(int(m.get("size") or 0) for m in document["manifests"])
        else:
            missing = [d for d in needed if self._layer(ctx, repository, d) is None]
            if missing:
                raise _layers_not_found(ctx, repository, missing)
            size = sum(
                int((self._layer(ctx, repository, d) or {}).get("size") or 0) for d in needed
            )
        tag = params.get("imageTag")
        current = self.store.get(TAGS, ctx.account_id, ctx.region, repository, tag) if tag else None
        exists = self._image(ctx, repository, digest) is not None
        if exists and (tag is None or (current is not None and current["digest"] == digest)):
            raise ServiceError(
                "ImageAlreadyExistsException",
                f"Image with digest '{digest}' and tag '{tag or 'null'}' already exists in the "
                f"repository with name '{repository}' in registry with id '{ctx.account_id}'",
            )
        if current is not None and repo["tag_mutability"].startswith("IMMUTABLE"):
            raise ServiceError(
                "ImageTagAlreadyExistsException",
                f"The image tag '{tag}' already exists in the '{repository}' repository and "
                f"cannot be overwritten because the repository is immutable.",
            )
        key = {"account_id": ctx.account_id, "region": ctx.region, "repository": repository}
        with self.store.transaction():
            if not exists:
                self.store.put(IMAGES, {**key, "digest": digest, "manifest": text,
                                        "media_type": kind, "size": size,
                                        "pushed": time.time()})  # fmt: skip
            if tag:
                self.store.put(TAGS, {**key, "tag": tag, "digest": digest})
        image_id = {"imageDigest": digest, **({"imageTag": tag} if tag else {})}
        return {"image": {"registryId": ctx.account_id, "repositoryName": repository,
                          "imageId": image_id, "imageManifest": text,
                          "imageManifestMediaType": kind}}  # fmt: skip

    def batch_get_image(self, ctx: RequestContext, params: dict) -> dict:
        repository = self._repository(ctx, params["repositoryName"])["name"]
        accepted = params.get("acceptedMediaTypes")
        images, failures = [], []
        for image_id in params["imageIds"]:
            row = self.resolve(ctx, repository, image_id)
            if row is None:
                failures.append(_not_found_failure(image_id))
            elif accepted and row["media_type"] not in accepted:
                # ECR converts between some schemas; sandlot serves manifests as pushed.
                failures.append({"imageId": image_id, "failureCode": "UnsupportedImageType",
                                 "failureReason": f"Image is a {row['media_type']}, not one of "
                                                  f"the accepted media types"})  # fmt: skip
            else:
                images.append({"registryId": ctx.account_id, "repositoryName": repository,
                               "imageId": {**image_id, "imageDigest": row["digest"]},
                               "imageManifest": row["manifest"],
                               "imageManifestMediaType": row["media_type"]})  # fmt: skip
        return {"images": images, "failures": failures}

    def batch_delete_image(self, ctx: RequestContext, params: dict) -> dict:
        repository = self._repository(ctx, params["repositoryName"])["name"]
        deleted, failures = [], []
        for image_id in params["imageIds"]:
            row = self.resolve(ctx, repository, image_id)
            if row is None:
                failures.append(_not_found_failure(image_id))
                continue
            key = (ctx.account_id, ctx.region, repository)
            with self.store.transaction():
                if image_id.get("imageTag") and not image_id.get("imageDigest"):
                    # Untagging; the image goes with its last tag, as in ECR.
                    self.store.delete(TAGS, *key, image_id["imageTag"])
                    if self._tags_of(ctx, repository, row["digest"]):
                        deleted.append(
                            {"imageDigest": row["digest"], "imageTag": image_id["imageTag"]}
                        )
                        continue
                for tag in self._tags_of(ctx, repository, row["digest"]):
                    self.store.delete(TAGS, *key, tag)
                self.store.delete(IMAGES, *key, row["digest"])
            deleted.append({"imageDigest": row["digest"], **({"imageTag": image_id["imageTag"]}
                            if image_id.get("imageTag") else {})})  # fmt: skip
        return {"imageIds": deleted, "failures": failures}

    def _image_rows(self, ctx: RequestContext, repository: str) -> list[dict]:
        return self.store.select(IMAGES, {"account_id": ctx.account_id, "region": ctx.region,
                                          "repository": repository}, order_by=("pushed",))  # fmt: skip

    def list_images(self, ctx: RequestContext, params: dict) -> dict:
        repository = self._repository(ctx, params["repositoryName"])["name"]
        status = (params.get("filter") or {}).get("tagStatus", "ANY")
        ids: list[dict] = []
        for row in self._image_rows(ctx, repository):
            tags = self._tags_of(ctx, repository, row["digest"])
            if tags and status != "UNTAGGED":
                ids.extend({"imageDigest": row["digest"], "imageTag": t} for t in tags)
            elif not tags and status != "TAGGED":
                ids.append({"imageDigest": row["digest"]})
        page, token = _page(ids, params)
        return {"imageIds": page, **({"nextToken": token} if token else {})}

    def describe_images(self, ctx: RequestContext, params: dict) -> dict:
        repository = self._repository(ctx, params["repositoryName"])["name"]
        if params.get("imageIds"):
            rows = []
            for image_id in params["imageIds"]:
                row = self.resolve(ctx, repository, image_id)
                if row is None:
                    raise ServiceError(
                        "ImageNotFoundException",
                        f"The image with imageId {{imageDigest:'{image_id.get('imageDigest', 'null')}', "
                        f"imageTag:'{image_id.get('imageTag', 'null')}'}} does not exist within the "
                        f"repository with name '{repository}' in the registry with id "
                        f"'{ctx.account_id}'",
                    )
                rows.append(row)
        else:
            status = (params.get("filter") or {}).get("tagStatus", "ANY")
            rows = [r for r in self._image_rows(ctx, repository)
                    if status == "ANY" or bool(self._tags_of(ctx, repository, r["digest"])) == (status == "TAGGED")]  # fmt: skip
        details = []
        for row in rows:
            document = json.loads(row["manifest"])
            detail = {
                "registryId": ctx.account_id, "repositoryName": repository,
                "imageDigest": row["digest"], "imageSizeInBytes": row["size"],
                "imagePushedAt": dt.datetime.fromtimestamp(row["pushed"], dt.UTC),
                "imageManifestMediaType": row["media_type"], "imageStatus": "ACTIVE",
            }  # fmt: skip
            tags = self._tags_of(ctx, repository, row["digest"])
            if tags:
                detail["imageTags"] = tags
            config_type = (document.get("config") or {}).get("mediaType")
            if config_type:
                detail["artifactMediaType"] = config_type
            details.append(detail)
        page, token = _page(details, params)
        return {"imageDetails": page, **({"nextToken": token} if token else {})}

    def drop_images(self, ctx: RequestContext, repository: str) -> None:
        """Everything a repository holds, for DeleteRepository with ``force``."""
        where = {"account_id": ctx.account_id, "region": ctx.region, "repository": repository}
        blobs = [r["blob_id"] for r in self.store.select(LAYERS, where)]
        uploads = [r["upload_id"] for r in self.store.select(UPLOADS, where)]
        with self.store.transaction():
            for table in (LAYERS, IMAGES, TAGS, UPLOADS):
                self.store.delete_where(table, where)
        for blob_id in blobs:
            self.platform.blobs.delete(blob_id)
        for upload_id in uploads:
            (self._uploads / upload_id).unlink(missing_ok=True)

    def has_images(self, ctx: RequestContext, repository: str) -> bool:
        return bool(self.store.select(IMAGES, {"account_id": ctx.account_id, "region": ctx.region,
                                               "repository": repository}, limit=1))  # fmt: skip


def _page(items: list, params: dict) -> tuple[list, str | None]:
    start = 0
    if params.get("nextToken"):
        try:
            start = int(base64.urlsafe_b64decode(params["nextToken"].encode()).decode())
        except ValueError:
            raise invalid("Invalid parameter at 'nextToken' failed to satisfy constraint: "
                          "'Invalid pagination token'") from None  # fmt: skip
    size = params.get("maxResults") or 100
    end = start + size
    token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], token


def _not_found_failure(image_id: dict) -> dict:
    return {"imageId": image_id, "failureCode": "ImageNotFound",
            "failureReason": "Requested image not found"}  # fmt: skip


def _layers_not_found(ctx: RequestContext, repository: str, digests: list[str]) -> ServiceError:
    return ServiceError(
        "LayersNotFoundException",
        f"Layers with digests '[{', '.join(digests)}]' required for pushing image into "
        f"repository with name '{repository}' in the registry with id '{ctx.account_id}' do "
        f"not exist",
    )


def _sha256_file(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            sha.update(chunk)
    return sha.hexdigest()
