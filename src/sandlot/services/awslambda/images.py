"""Functions from container images (``PackageType: Image``): the ``ImageUri`` resolved
in sandlot's ECR, the image's root unpacked (at activation: Pending → Active) and what
it runs (``execution/images.py``).

``ImageUri`` must name a repository of sandlot's ECR in the function's Region, as AWS
requires (``<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>`` or
``…@sha256:<digest>``): anything else is ``Source image … is not valid``; an absent
repository or image is ``… does not exist``. The image is read through ECR's API as
the caller (``BatchGetImage``, ``GetDownloadUrlForLayer``: IAM and the repository
policy decide, as for Lambda in AWS); an index picks the manifest of the function's
architecture. The image's own architecture must be the function's, and the image (its
config and layers) at most 10 GB. The function's configuration keeps the resolved
digest, so a tag pushed again later changes nothing until UpdateFunctionCode.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sandlot.execution import images
from sandlot.protocol import ServiceError
from sandlot.services.awslambda.validation import invalid
from sandlot.services.provider import RequestContext

IMAGE_MAX = 10 * 1024**3  # bytes of an image's config and layers (AWS: 10 GB)
_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/"
    r"(?P<repository>[a-z0-9]+(?:[._/-][a-z0-9]+)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})|@(?P<digest>sha256:[a-f0-9]{64}))\Z"
)
_PLATFORM = {"x86_64": "amd64", "arm64": "arm64"}  # Lambda's architecture → the image's


def _not_valid(uri: str) -> ServiceError:
    return invalid(f"Source image {uri} is not valid. Provide a valid source image.")


def _absent(uri: str) -> ServiceError:
    return invalid(f"Source image {uri} does not exist. Provide a valid source image.")


class ImageFunctions:
    """Resolving image URIs into a function's configuration, and their roots."""

    def __init__(self, platform) -> None:
        self.platform = platform
        self.cache = Path(platform.data_dir) / "lambda-images"

    async def resolve(self, ctx: RequestContext, uri: str, architecture: str) -> dict[str, Any]:
        """The configuration members of a function running image ``uri``."""
        found = _URI.match(uri or "")
        if found is None or found["region"] != ctx.region:
            raise _not_valid(uri)
        account, repository = found["account"], found["repository"]
        image_id = (
            {"imageDigest": found["digest"]} if found["digest"] else {"imageTag": found["tag"]}
        )
        manifest, digest = await self._manifest(ctx, uri, account, repository, image_id)
        if "manifests" in manifest:  # an index: the manifest of the function's platform
            wanted = _PLATFORM[architecture]
            chosen = [m for m in manifest["manifests"]
                      if (m.get("platform") or {}).get("architecture") == wanted
                      and (m.get("platform") or {}).get("os", "linux") == "linux"]  # fmt: skip
            if not chosen:
                raise _architecture_mismatch(uri, None, architecture)
            manifest, digest = await self._manifest(
                ctx, uri, account, repository, {"imageDigest": chosen[0]["digest"]}
            )
        blobs = [manifest.get("config") or {}, *(manifest.get("layers") or [])]
        if not blobs[0].get("digest"):
            raise _not_valid(uri)
        size = sum(int(b.get("size") or 0) for b in blobs)
        if size > IMAGE_MAX:
            raise invalid(
                f"Source image {uri} is {size} bytes; an image must be at most {IMAGE_MAX} bytes."
            )
        for blob in blobs:  # the action Lambda's pull amounts to, as the caller
            await self._ecr(ctx, account, "GetDownloadUrlForLayer",
                            {"repositoryName": repository, "layerDigest": blob["digest"]}, uri)  # fmt: skip
        config = json.loads(
            self._layer_path(account, ctx.region, repository, blobs[0]["digest"]).read_bytes()
        )
        image_architecture = images.ARCHITECTURES.get(config.get("architecture", ""))
        if image_architecture != architecture:
            raise _architecture_mismatch(uri, config.get("architecture"), architecture)
        return {
            "PackageType": "Image",
            "ImageUri": uri,
            "ResolvedImageUri": f"{account}.dkr.ecr.{ctx.region}.amazonaws.com/{repository}@{digest}",
            "ImageDigest": digest,
            "ImageRepository": [account, ctx.region, repository],
            "ImageLayers": [b["digest"] for b in blobs[1:]],
            "ImageSettings": {
                "architecture": config.get("architecture"),
                "config": config.get("config") or {},
            },  # fmt: skip
            "CodeSha": digest.split(":", 1)[1],
            "CodeSize": size,
        }

    async def _manifest(self, ctx, uri, account, repository, image_id) -> tuple[dict, str]:
        got = await self._ecr(ctx, account, "BatchGetImage",
                              {"repositoryName": repository, "imageIds": [image_id]}, uri)  # fmt: skip
        if not got["images"]:
            raise _absent(uri)
        image = got["images"][0]
        return json.loads(image["imageManifest"]), image["imageId"]["imageDigest"]

    async def _ecr(
        self, ctx: RequestContext, account: str, operation: str, params: dict, uri: str
    ) -> dict:
        try:
            return await self.platform.call(
                "ecr", operation, {"registryId": account, **params},
                principal=ctx.principal, region=ctx.region,
            )  # fmt: skip
        except ServiceError as error:
            if error.code in ("RepositoryNotFoundException", "LayersNotFoundException"):
                raise _absent(uri) from None
            if error.code.startswith("AccessDenied"):
                raise invalid(
                    "Lambda does not have permission to access the ECR image. Check the ECR "
                    f"permissions. ({error.message})"
                ) from None
            raise

    def _layer_path(self, account: str, region: str, repository: str, digest: str) -> Path:
        found = self.platform.provider("ecr").layer_file(account, region, repository, digest)
        if found is None:
            raise FileNotFoundError(f"layer {digest} of {repository} is no longer in ECR")
        return found[0]

    def root(self, config: dict[str, Any]) -> Path:
        """The image's unpacked root (unpacking it first, blocking, if not cached)."""
        account, region, repository = config["ImageRepository"]
        layers = [self._layer_path(account, region, repository, d) for d in config["ImageLayers"]]
        return images.unpacked_root(self.cache, config["ImageDigest"], layers)

    @staticmethod
    def launch(config: dict[str, Any]) -> images.Launch:
        return images.launch(config["ImageSettings"], config.get("ImageConfig"))


def _architecture_mismatch(uri: str, image: str | None, architecture: str) -> ServiceError:
    return invalid(
        f"The image manifest, config or layer media type for the source image {uri} is not "
        f"supported: the image's architecture ({image or 'none for this platform'}) is not "
        f"the function's ({architecture})."
    )
