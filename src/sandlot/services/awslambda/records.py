"""Lambda's rows: reading and writing them through the store, and code package lifetime.

No AWS semantics here (the provider decides what is allowed); this module knows which
rows belong together and keeps code packages referenced exactly while something uses
them. Callers wrap multi-row changes in ``store.transaction()``; blobs and extracted
directories of packages nobody uses any more are removed after the commit
(``collect``), so a crash can leave an orphan file but never a dangling reference.

A forgotten package's extracted directory may still serve execution environments (an
invocation of the old code during an update): it is removed only once the engine's
last pool using it is gone (``after_last_use``), and then only if the package was not
recorded again meanwhile. A restart removes whatever directory no package row names.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandlot.services.awslambda import code
from sandlot.services.awslambda.schema import (
    ALIASES,
    CODE,
    CODE_REFS,
    FUNCTIONS,
    LAYER_NAMES,
    LAYER_POLICIES,
    LAYERS,
    POLICIES,
    PROVISIONED,
    VERSIONS,
)
from sandlot.store import BlobStore, Store


@dataclass(frozen=True, slots=True)
class Package:
    """A received code package: its digest, sizes, and the blob written for it (None when
    an identical package was already stored)."""

    sha: str
    size: int
    unzipped_size: int
    new_blob_id: str | None


def config_shas(config_json: str | None) -> set[str]:
    """The packages a stored configuration uses: its code and its layers."""
    if not config_json:
        return set()
    config = json.loads(config_json)
    return {config["CodeSha"], *(layer["Sha"] for layer in config.get("Layers", ()))}


def version_owner(account: str, region: str, name: str, version_num: int) -> str:
    return f"function:{account}:{region}:{name}:{version_num}"


def layer_owner(account: str, region: str, name: str, version: int) -> str:
    return f"layer:{account}:{region}:{name}:{version}"


class Records:
    """Row access for one platform's Lambda state."""

    def __init__(self, store: Store, blobs: BlobStore, code_root: Path) -> None:
        self.store = store
        self.blobs = blobs
        self.code_root = code_root
        # Bumped by every write to functions, versions and aliases, so that whatever is
        # derived from them (the invoke path's resolutions) knows when to recompute.
        self.generation = 0
        # (directory, action): run the action once nothing executes from the directory;
        # the provider hands in the engine's ``after_last_use``.
        self.after_last_use: Callable[[Path, Callable[[], None]], None] = _at_once
        self._sweep()

    def _sweep(self) -> None:
        """Remove extraction leftovers: partial ones a crash interrupted, and packages
        deleted while they were being extracted."""
        self.code_root.mkdir(parents=True, exist_ok=True)
        for path in self.code_root.iterdir():
            if path.name.startswith(".tmp-") or self.package(path.name) is None:
                code.remove_tree(path)

    # -- functions and versions -------------------------------------------------------

    def function(self, account: str, region: str, name: str) -> dict[str, Any] | None:
        return self.store.get(FUNCTIONS, account, region, name)

    def put_function(self, row: dict[str, Any], *, replace: bool = True) -> bool:
        """Write a function row; with ``replace=False``, False if the name is taken."""
        self.generation += 1
        return self.store.put(FUNCTIONS, row, replace=replace)

    def version(self, account: str, region: str, name: str, num: int) -> dict[str, Any] | None:
        return self.store.get(VERSIONS, account, region, name, num)

    def versions(self, account: str, region: str, name: str) -> list[dict[str, Any]]:
        where = {"account": account, "region": region, "name": name}
        return self.store.select(VERSIONS, where, order_by=("version_num",))

    def versions_page(
        self,
        account: str,
        region: str,
        *,
        name: str | None = None,
        latest_only: bool = False,
        after: tuple[str, int] | None = None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Versions ordered by (function name, version), strictly after ``after``."""
        where: dict[str, Any] = {"account": account, "region": region}
        if name is not None:
            where["name"] = name
        if latest_only:
            where["version_num"] = 0
        position = {"name": after[0], "version_num": after[1]} if after else None
        return self.store.select(
            VERSIONS, where, order_by=("name", "version_num"), after=position, limit=limit
        )

    def put_version(self, row: dict[str, Any]) -> set[str]:
        """Write a version row and its package references; returns packages released.

        (A change that keeps the configurations, e.g. a new RevisionId, may skip the
        references: ``touch_version``.)"""
        self.generation += 1
        self.store.put(VERSIONS, row)
        owner = version_owner(row["account"], row["region"], row["name"], row["version_num"])
        return self.set_refs(owner, config_shas(row["config"]) | config_shas(row["active_config"]))

    def touch_version(self, row: dict[str, Any]) -> None:
        """Rewrite a version row whose configurations are unchanged."""
        self.generation += 1
        self.store.put(VERSIONS, row)

    def delete_version(self, account: str, region: str, name: str, num: int) -> set[str]:
        self.generation += 1
        self.store.delete(VERSIONS, account, region, name, num)
        self.store.delete(POLICIES, account, region, name, str(num))
        self.store.delete(PROVISIONED, account, region, name, str(num))
        return self.set_refs(version_owner(account, region, name, num), set())

    def delete_function(self, account: str, region: str, name: str) -> set[str]:
        """Every row of a function; returns the packages it released."""
        self.generation += 1
        released: set[str] = set()
        for row in self.versions(account, region, name):
            released |= self.delete_version(account, region, name, row["version_num"])
        for row in self.aliases(account, region, name):
            self.delete_alias(account, region, name, row["name"])
        self.store.delete(POLICIES, account, region, name, "")
        self.store.delete(FUNCTIONS, account, region, name)
        for row in self.provisioned_configs(account, region, name):
            self.delete_provisioned(account, region, name, row["qualifier"])
        return released

    def usage(self, account: str, region: str) -> tuple[int, int, int]:
        """(functions, bytes of code stored for versions and layers, reserved concurrency)."""
        where = {"account": account, "region": region}
        functions = self.store.select(FUNCTIONS, where)
        code_bytes = sum(r["code_size"] for r in self.store.select(VERSIONS, where))
        code_bytes += sum(r["code_size"] for r in self.store.select(LAYERS, where))
        reserved = sum(r["reserved_concurrency"] or 0 for r in functions)
        return len(functions), code_bytes, reserved

    # -- aliases and policies ---------------------------------------------------------

    def alias(self, account: str, region: str, function: str, name: str) -> dict[str, Any] | None:
        return self.store.get(ALIASES, account, region, function, name)

    def aliases(self, account: str, region: str, function: str) -> list[dict[str, Any]]:
        where = {"account": account, "region": region, "function": function}
        return self.store.select(ALIASES, where, order_by=("name",))

    def put_alias(self, row: dict[str, Any], *, replace: bool = True) -> bool:
        self.generation += 1
        return self.store.put(ALIASES, row, replace=replace)

    def delete_alias(self, account: str, region: str, function: str, name: str) -> bool:
        self.generation += 1
        self.store.delete(POLICIES, account, region, function, name)
        self.store.delete(PROVISIONED, account, region, function, name)
        return self.store.delete(ALIASES, account, region, function, name)

    def policy(self, account: str, region: str, function: str, qualifier: str) -> list[dict]:
        row = self.store.get(POLICIES, account, region, function, qualifier)
        return json.loads(row["statements"]) if row else []

    def put_policy(
        self, account: str, region: str, function: str, qualifier: str, statements: list[dict]
    ) -> None:
        self.generation += 1
        if statements:
            row = {
                "account": account,
                "region": region,
                "function": function,
                "qualifier": qualifier,
                "statements": json.dumps(statements),
            }
            self.store.put(POLICIES, row)
        else:
            self.store.delete(POLICIES, account, region, function, qualifier)

    # -- provisioned concurrency ------------------------------------------------------

    def provisioned_config(
        self, account: str, region: str, function: str, qualifier: str
    ) -> dict[str, Any] | None:
        return self.store.get(PROVISIONED, account, region, function, qualifier)

    def provisioned_configs(
        self, account: str | None = None, region: str | None = None, function: str | None = None
    ) -> list[dict[str, Any]]:
        """Configurations of a function, of an account's region, or (no arguments) all."""
        where = {
            key: value
            for key, value in (("account", account), ("region", region), ("function", function))
            if value is not None
        }
        return self.store.select(
            PROVISIONED, where, order_by=("account", "region", "function", "qualifier")
        )

    def put_provisioned(self, row: dict[str, Any]) -> None:
        self.store.put(PROVISIONED, row)

    def delete_provisioned(self, account: str, region: str, function: str, qualifier: str) -> bool:
        return self.store.delete(PROVISIONED, account, region, function, qualifier)

    # -- layers -------------------------------------------------------------------------

    def layer(self, account: str, region: str, name: str, version: int) -> dict[str, Any] | None:
        return self.store.get(LAYERS, account, region, name, version)

    def layer_versions(self, account: str, region: str, name: str | None = None) -> list[dict]:
        where = {"account": account, "region": region}
        if name is not None:
            where["name"] = name
        return self.store.select(LAYERS, where, order_by=("name", "version"))

    def next_layer_version(self, account: str, region: str, name: str) -> int:
        """Reserve the next version number of a layer (numbers are never reused)."""
        row = self.store.get(LAYER_NAMES, account, region, name)
        version = (row["last_version"] if row else 0) + 1
        self.store.put(
            LAYER_NAMES,
            {"account": account, "region": region, "name": name, "last_version": version},
        )
        return version

    def put_layer(self, row: dict[str, Any]) -> None:
        self.store.put(LAYERS, row)
        owner = layer_owner(row["account"], row["region"], row["name"], row["version"])
        self.set_refs(owner, {row["code_sha"]})

    def delete_layer(self, account: str, region: str, name: str, version: int) -> set[str]:
        self.generation += 1  # its policy goes with it
        self.store.delete(LAYERS, account, region, name, version)
        self.store.delete(LAYER_POLICIES, account, region, name, version)
        return self.set_refs(layer_owner(account, region, name, version), set())

    def layer_policy(self, account: str, region: str, name: str, version: int) -> dict | None:
        """The layer version's policy row (``statements`` JSON, ``revision_id``), if any."""
        return self.store.get(LAYER_POLICIES, account, region, name, version)

    def put_layer_policy(self, row: dict[str, Any]) -> None:
        self.generation += 1  # resource policies derived from it are recomputed
        self.store.put(LAYER_POLICIES, row)

    # -- code packages --------------------------------------------------------------------

    def package(self, sha: str) -> dict[str, Any] | None:
        return self.store.get(CODE, sha)

    def add_package(self, package: Package) -> bool:
        """Record a received package; False when the same package is already recorded
        (its fresh blob is then surplus and deleted by the caller)."""
        if package.new_blob_id is None:
            return False
        row = {
            "sha": package.sha,
            "blob_id": package.new_blob_id,
            "size": package.size,
            "unzipped_size": package.unzipped_size,
        }
        return self.store.put(CODE, row, replace=False)

    def set_refs(self, owner: str, shas: set[str]) -> set[str]:
        """Make ``owner`` use exactly ``shas``; returns the packages it stopped using."""
        current = {r["sha"] for r in self.store.select(CODE_REFS, {"owner": owner})}
        for sha in current - shas:
            self.store.delete(CODE_REFS, sha, owner)
        for sha in shas - current:
            self.store.put(CODE_REFS, {"sha": sha, "owner": owner})
        return current - shas

    def unused(self, shas: Iterable[str]) -> list[dict[str, Any]]:
        """Forget packages among ``shas`` that nothing references (inside the caller's
        transaction); returns their rows for ``collect`` after the commit."""
        gone = []
        for sha in shas:
            if self.store.count(CODE_REFS, {"sha": sha}) == 0:
                row = self.store.get(CODE, sha)
                if row is not None:
                    self.store.delete(CODE, sha)
                    gone.append(row)
        return gone

    def collect(self, rows: Iterable[dict[str, Any]]) -> None:
        """Delete the blobs and extracted directories of forgotten packages."""
        for row in rows:
            self.blobs.delete(row["blob_id"])
            sha = row["sha"]
            self.after_last_use(self.code_dir(sha), lambda sha=sha: self._remove_unrecorded(sha))

    def _remove_unrecorded(self, sha: str) -> None:
        if self.package(sha) is None:  # not uploaded again since it was forgotten
            code.remove_tree(self.code_dir(sha))

    def code_dir(self, sha: str) -> Path:
        return self.code_root / sha

    def ensure_extracted(self, sha: str) -> Path:
        """The package's extracted directory, extracting it first if needed (blocking)."""
        dest = self.code_dir(sha)
        if not dest.exists():
            row = self.package(sha)
            if row is None:
                raise code.BadPackage(f"code package {sha} is no longer stored")
            code.extract(self.blobs.path(row["blob_id"]), dest)
        return dest


def _at_once(_path: Path, action: Callable[[], None]) -> None:
    action()
