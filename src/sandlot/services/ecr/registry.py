"""The registry: the OCI distribution API (Docker Registry HTTP API v2) over ECR's image
operations, so ``docker push``, ``skopeo copy`` and ``crane push`` work against sandlot.

The gateway hands over ``/v2/`` requests (``gateway/dataplane.py``): at sandlot's own
endpoint (``localhost:4566/<repository>``, the default account and region), or at
``<account>.dkr.ecr.<region>.localhost:4566`` (that registry). Each request is
authenticated by HTTP Basic with ECR's authorization token (user ``AWS``, the password
``GetAuthorizationToken`` issued; ``aws ecr get-login-password`` prints it), which names
the IAM principal it was issued to, and is then carried out as the ECR operation it
amounts to, through ``Platform.call``, so IAM and repository policies decide as for the
API: a pull is ``BatchGetImage`` and ``GetDownloadUrlForLayer``, a push
``InitiateLayerUpload``/``UploadLayerPart``/``CompleteLayerUpload`` and ``PutImage``.

Blob uploads may be monolithic (``POST …/uploads/?digest=``), chunked (``PATCH``\\ es then
``PUT ?digest=``) or both; the gateway streams an upload's body to a file (up to ECR's
52,000 MiB layer limit, not ``max_body_bytes``: clients send a layer in one request),
which goes to the upload 10 MiB part at a time; CompleteLayerUpload checks the digest.
Blobs are served whole (no ``Range``), those over 1 MiB streamed from their file.
Cross-repository mounts are answered with a fresh upload, as the spec allows.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from collections.abc import AsyncIterator
from urllib.parse import parse_qs

from sandlot.iam.principal import Principal
from sandlot.protocol import ServiceError
from sandlot.protocol.dataplane import DataPlaneRequest, DataPlaneResponse
from sandlot.services.ecr.images import DIGEST, PART_SIZE
from sandlot.services.ecr.schema import UPLOADS

_ROUTE = re.compile(
    r"^/v2/(?P<name>.+?)/(?:"
    r"(?P<tags>tags/list)|manifests/(?P<reference>[^/]+)|"
    r"blobs/uploads/(?P<upload>[^/]*)|blobs/(?P<digest>[^/]+))$"
)
_API_VERSION = ("Docker-Distribution-API-Version", "registry/2.0")
_WHOLE_BLOB = 1024 * 1024  # blobs up to this size are answered whole, bigger ones streamed
# ECR's error codes as the distribution spec's (status, code).
_ERRORS = {
    "RepositoryNotFoundException": (404, "NAME_UNKNOWN"),
    "LayersNotFoundException": (400, "MANIFEST_BLOB_UNKNOWN"),
    "ReferencedImagesNotFoundException": (400, "MANIFEST_BLOB_UNKNOWN"),
    "InvalidLayerException": (400, "DIGEST_INVALID"),
    "ImageDigestDoesNotMatchException": (400, "DIGEST_INVALID"),
    "EmptyUploadException": (400, "BLOB_UPLOAD_INVALID"),
    "InvalidLayerPartException": (416, "BLOB_UPLOAD_INVALID"),
    "UploadNotFoundException": (404, "BLOB_UPLOAD_UNKNOWN"),
    "ImageTagAlreadyExistsException": (400, "TAG_INVALID"),
    "InvalidParameterException": (400, "MANIFEST_INVALID"),
    "ValidationException": (400, "NAME_INVALID"),
    "AccessDeniedException": (403, "DENIED"),
}


async def serve(provider, request: DataPlaneRequest) -> DataPlaneResponse:
    """Answer one registry request; never raises."""
    account = request.target or provider.platform.settings.default_account
    query = {k: v[0] for k, v in parse_qs(request.query).items()}
    route = _ROUTE.match(request.path)
    if request.method == "GET" and query.get("sandlot-download") and route and route["digest"]:
        # A GetDownloadUrlForLayer URL: the token in it is the authority.
        grant = provider.download_grant(query["sandlot-download"])
        if grant != [account, request.region, route["name"], route["digest"]]:
            return _error(403, "DENIED", "The download URL is invalid or has expired")
        return _blob(provider, _Context(provider, None, account, request.region), route, False)
    principal = _principal(provider, request)
    if principal is None:
        realm = f"{'https' if request.secure else 'http'}://{request.host}/"
        return _error(401, "UNAUTHORIZED", "authentication required",
                      [("WWW-Authenticate", f'Basic realm="{realm}",service="ecr.amazonaws.com"')])  # fmt: skip
    ctx = _Context(provider, principal, account, request.region)
    try:
        if request.path in ("/v2/", "/v2"):
            return DataPlaneResponse(
                200, [("Content-Type", "application/json"), _API_VERSION], b"{}"
            )
        if route is None:
            return _error(404, "NAME_UNKNOWN", "not a registry path")
        if route["tags"]:
            return await _tags(ctx, route["name"], query)
        if route["reference"]:
            return await _manifest(ctx, request, route["name"], route["reference"])
        if route["upload"] is not None:
            return await _upload(ctx, request, route["name"], route["upload"], query)
        return await _blob_request(ctx, request, route)
    except ServiceError as error:
        status, code = _ERRORS.get(
            error.code, (error.status if error.status < 500 else 500, "UNSUPPORTED")
        )
        if error.code.startswith("AccessDenied"):
            status, code = 403, "DENIED"
        return _error(status, code, error.message)


class _Context:
    """Who asks, of which registry; ``call`` runs an ECR operation as them."""

    def __init__(self, provider, principal: Principal | None, account: str, region: str) -> None:
        self.provider, self.principal, self.account, self.region = (
            provider,
            principal,
            account,
            region,
        )

    async def call(self, operation: str, params: dict) -> dict:
        return await self.provider.platform.call(
            "ecr", operation, {"registryId": self.account, **params},
            principal=self.principal, region=self.region,
        )  # fmt: skip


def _principal(provider, request: DataPlaneRequest) -> Principal | None:
    header = request.header("authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value.strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return provider.principal_of_password(password) if user == "AWS" else None


def _error(status: int, code: str, message: str, headers: list | None = None) -> DataPlaneResponse:
    body = json.dumps({"errors": [{"code": code, "message": message, "detail": None}]})
    return DataPlaneResponse(
        status,
        [("Content-Type", "application/json"), _API_VERSION, *(headers or [])],
        body.encode(),
    )


# -- manifests ----------------------------------------------------------------------------


def _image_id(reference: str) -> dict:
    return {"imageDigest": reference} if DIGEST.match(reference) else {"imageTag": reference}


async def _manifest(
    ctx: _Context, request: DataPlaneRequest, name: str, reference: str
) -> DataPlaneResponse:
    if request.method in ("GET", "HEAD"):
        found = await ctx.call(
            "BatchGetImage", {"repositoryName": name, "imageIds": [_image_id(reference)]}
        )
        if not found["images"]:
            return _error(404, "MANIFEST_UNKNOWN", f"Requested image not found: {reference}")
        image = found["images"][0]
        body = image["imageManifest"].encode()
        return DataPlaneResponse(200, [
            ("Content-Type", image["imageManifestMediaType"]),
            ("Docker-Content-Digest", image["imageId"]["imageDigest"]), _API_VERSION,
        ], body)  # fmt: skip
    if request.method == "PUT":
        params = {"repositoryName": name, "imageManifest": request.body.decode("utf-8", "replace")}
        media_type = (request.header("content-type") or "").split(";")[0].strip()
        if media_type and media_type != "application/json":
            params["imageManifestMediaType"] = media_type
        params.update(_image_id(reference))
        try:
            digest = (await ctx.call("PutImage", params))["image"]["imageId"]["imageDigest"]
        except ServiceError as error:
            if error.code != "ImageAlreadyExistsException":
                raise
            digest = "sha256:" + hashlib.sha256(request.body).hexdigest()
        return DataPlaneResponse(201, [
            ("Location", f"/v2/{name}/manifests/{digest}"), ("Docker-Content-Digest", digest),
            _API_VERSION,
        ])  # fmt: skip
    if request.method == "DELETE":
        done = await ctx.call(
            "BatchDeleteImage", {"repositoryName": name, "imageIds": [_image_id(reference)]}
        )
        if not done["imageIds"]:
            return _error(404, "MANIFEST_UNKNOWN", f"Requested image not found: {reference}")
        return DataPlaneResponse(202, [_API_VERSION])
    return _error(405, "UNSUPPORTED", f"{request.method} is not allowed on a manifest")


async def _tags(ctx: _Context, name: str, query: dict) -> DataPlaneResponse:
    tags: list[str] = []
    params: dict = {"repositoryName": name, "filter": {"tagStatus": "TAGGED"}, "maxResults": 1000}
    while True:
        page = await ctx.call("ListImages", params)
        tags.extend(i["imageTag"] for i in page["imageIds"])
        if not page.get("nextToken"):
            break
        params["nextToken"] = page["nextToken"]
    tags.sort()
    if query.get("last"):
        tags = [t for t in tags if t > query["last"]]
    if query.get("n", "").isdigit():
        tags = tags[: int(query["n"])]
    body = json.dumps({"name": name, "tags": tags}).encode()
    return DataPlaneResponse(200, [("Content-Type", "application/json"), _API_VERSION], body)


# -- blobs --------------------------------------------------------------------------------


async def _blob_request(ctx: _Context, request: DataPlaneRequest, route) -> DataPlaneResponse:
    if request.method not in ("GET", "HEAD"):
        return _error(405, "UNSUPPORTED", f"{request.method} is not allowed on a blob")
    digest = route["digest"]
    if not DIGEST.match(digest):
        return _error(400, "DIGEST_INVALID", f"invalid digest {digest}")
    # The ECR action a pull of a layer is (IAM and the repository policy decide).
    checked = await ctx.call(
        "BatchCheckLayerAvailability", {"repositoryName": route["name"], "layerDigests": [digest]}
    )
    if not checked["layers"]:
        return _error(404, "BLOB_UNKNOWN", f"blob unknown to registry: {digest}")
    if request.method == "GET":
        await ctx.call(
            "GetDownloadUrlForLayer", {"repositoryName": route["name"], "layerDigest": digest}
        )
    return _blob(ctx.provider, ctx, route, request.method == "HEAD")


def _blob(provider, ctx: _Context, route, head: bool) -> DataPlaneResponse:
    found = provider.layer_file(ctx.account, ctx.region, route["name"], route["digest"])
    if found is None:
        return _error(404, "BLOB_UNKNOWN", f"blob unknown to registry: {route['digest']}")
    path, size = found
    headers = [("Content-Type", "application/octet-stream"),
               ("Docker-Content-Digest", route["digest"]), _API_VERSION]  # fmt: skip
    if head:
        return DataPlaneResponse(200, [*headers, ("Content-Length", str(size))])
    if size <= _WHOLE_BLOB:
        return DataPlaneResponse(200, headers, path.read_bytes())
    return DataPlaneResponse(200, headers, stream=_chunks(open(path, "rb")))  # noqa: SIM115


async def _chunks(file) -> AsyncIterator[bytes]:
    """A big blob, a chunk at a time (bounded memory; the gateway sends it chunked)."""
    try:
        while data := await asyncio.to_thread(file.read, _WHOLE_BLOB):
            yield data
    finally:
        file.close()


async def _upload(
    ctx: _Context, request: DataPlaneRequest, name: str, upload: str, query: dict
) -> DataPlaneResponse:
    if request.method == "POST" and not upload:
        started = await ctx.call("InitiateLayerUpload", {"repositoryName": name})
        upload = started["uploadId"]
        if "digest" not in query:
            return _upload_state(ctx, name, upload, 202)
        request.method = "PUT"  # monolithic: the body and the digest, all at once
    if not upload:
        return _error(405, "UNSUPPORTED", f"{request.method} is not allowed here")
    if request.method == "GET":
        return _upload_state(ctx, name, upload, 204)
    if request.method == "DELETE":
        ctx.provider.store.delete(UPLOADS, ctx.account, ctx.region, name, upload)
        return DataPlaneResponse(204, [_API_VERSION])
    if request.method not in ("PATCH", "PUT"):
        return _error(405, "UNSUPPORTED", f"{request.method} is not allowed on an upload")
    await _append(ctx, request, name, upload)
    if request.method == "PATCH":
        return _upload_state(ctx, name, upload, 202)
    digest = query.get("digest", "")
    if not DIGEST.match(digest):
        return _error(400, "DIGEST_INVALID", f"invalid digest {digest!r}")
    try:
        await ctx.call(
            "CompleteLayerUpload",
            {"repositoryName": name, "uploadId": upload, "layerDigests": [digest]},
        )
    except ServiceError as error:
        if error.code != "LayerAlreadyExistsException":
            raise
    return DataPlaneResponse(201, [
        ("Location", f"/v2/{name}/blobs/{digest}"), ("Docker-Content-Digest", digest), _API_VERSION,
    ])  # fmt: skip


async def _append(ctx: _Context, request: DataPlaneRequest, name: str, upload: str) -> None:
    """Add the request's body to the upload, ``PART_SIZE`` bytes per UploadLayerPart (the
    ECR operation a chunk is, so IAM decides as for the API): the gateway spooled it to
    a file, which is read a part at a time, so a layer of any size takes bounded memory."""
    row = ctx.provider.store.get(UPLOADS, ctx.account, ctx.region, name, upload)
    first = row["received"] if row else 0

    async def part(data: bytes) -> None:
        nonlocal first
        await ctx.call("UploadLayerPart", {
            "repositoryName": name, "uploadId": upload, "partFirstByte": first,
            "partLastByte": first + len(data) - 1, "layerPartBlob": data,
        })  # fmt: skip
        first += len(data)

    if request.spooled is None:
        if request.body:
            await part(request.body)
        return
    with open(request.spooled.path, "rb") as body:
        while data := await asyncio.to_thread(body.read, PART_SIZE):
            await part(data)


def _upload_state(ctx: _Context, name: str, upload: str, status: int) -> DataPlaneResponse:
    row = ctx.provider.store.get(UPLOADS, ctx.account, ctx.region, name, upload)
    if row is None:
        return _error(404, "BLOB_UPLOAD_UNKNOWN", f"upload {upload} unknown")
    return DataPlaneResponse(status, [
        ("Location", f"/v2/{name}/blobs/uploads/{upload}"), ("Docker-Upload-UUID", upload),
        ("Range", f"0-{max(row['received'] - 1, 0)}"), _API_VERSION,
    ])  # fmt: skip
