"""Presigned download links for code packages: GetFunction's ``Code.Location`` and the
layer operations' ``Content.Location``.

AWS answers a presigned S3 URL valid for 10 minutes; sandlot serves the zip itself, at
``<endpoint>/_sandlot/lambda/code/<sha256>.zip?Expires=<epoch>&Signature=<hex>``. The
signature is an HMAC-SHA256 of the package digest and the expiry under a key the
server holds in memory, so a link cannot be forged or extended, and links issued
before a restart stop working (a GetFunction issues a fresh one). Whoever holds a
valid link may download, as with S3's presigned URLs.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from typing import BinaryIO
from urllib.parse import parse_qs, urlencode

from sandlot.protocol import ServiceError
from sandlot.services.awslambda.records import Records

PATH_PREFIX = "/_sandlot/lambda/code/"
VALID_S = 600  # AWS: "The presigned URL ... is valid for 10 minutes"
_PATH = re.compile(r"^/_sandlot/lambda/code/([0-9a-f]{64})\.zip$")


class CodeLinks:
    """Issues and checks the download links of one server's code packages."""

    def __init__(self, records: Records) -> None:
        self._records = records
        self._key = secrets.token_bytes(32)

    def url(self, endpoint: str, sha: str, now: float | None = None) -> str:
        expires = int((time.time() if now is None else now) + VALID_S)
        query = urlencode({"Expires": expires, "Signature": self._sign(sha, expires)})
        return f"{endpoint}{PATH_PREFIX}{sha}.zip?{query}"

    def open(self, path: str, query: str, now: float | None = None) -> tuple[BinaryIO, int]:
        """The package a link names, opened, and its size; S3-shaped errors otherwise."""
        match = _PATH.match(path)
        if match is None:
            raise ServiceError("NoSuchKey", "The specified key does not exist.", 404)
        sha = match.group(1)
        fields = parse_qs(query)
        expires = (fields.get("Expires") or [""])[0]
        signature = (fields.get("Signature") or [""])[0]
        if not expires.isdigit() or not signature:
            raise ServiceError(
                "AccessDenied",
                "Query-string authentication requires the Signature and Expires parameters",
                403,
            )
        if not hmac.compare_digest(signature, self._sign(sha, int(expires))):
            raise ServiceError(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
                403,
            )
        if int(expires) < (time.time() if now is None else now):
            raise ServiceError("AccessDenied", "Request has expired", 403)
        row = self._records.package(sha)
        if row is None:  # every function and layer version using it was deleted since
            raise ServiceError("NoSuchKey", "The specified key does not exist.", 404)
        try:
            file = open(self._records.blobs.path(row["blob_id"]), "rb")  # noqa: SIM115
        except FileNotFoundError:
            raise ServiceError("NoSuchKey", "The specified key does not exist.", 404) from None
        return file, row["size"]

    def _sign(self, sha: str, expires: int) -> str:
        message = f"{sha}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()
