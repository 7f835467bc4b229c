"""Container images as Lambda runs them, without a container engine: an image's layers
unpacked into one directory tree (the root a sandbox would show as ``/``), and what the
image's config says to run there.

Unpacking follows the OCI image spec's layer rules: layers apply in order; ``.wh.<name>``
deletes ``<name>`` of the layers below, ``.wh..wh..opq`` empties its directory of them;
a later entry replaces an earlier one. A layer is hostile input, so nothing it says can
reach outside the root: names are normalised (``../..`` stops at the root, as ``/..``), every
parent directory is resolved *inside* the root (a symlink in the image, even an absolute
one or ``../..``, means what it would mean with the root as ``/``), hard links must name
a regular file already in the root, device nodes are skipped (an unprivileged server
cannot make them; the sandbox has its own ``/dev``), and set-id bits are dropped.

An unpacked root is cached by the image's manifest digest: unpacked into a temporary
directory beside it, then renamed into place, so a root in the cache is whole.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"
_MOUNT_POINTS = ("proc", "dev", "tmp")
_MAX_LINKS = 40  # symlinks followed resolving one path, as the kernel's limit
ARCHITECTURES = {"amd64": "x86_64", "arm64": "arm64"}  # the image's name → Lambda's
# LAMBDA_TASK_ROOT and LAMBDA_RUNTIME_DIR as AWS's base images have them.
TASK_ROOT, RUNTIME_DIR = "/var/task", "/var/runtime"
UNSUPPORTED = (
    "sandlot runs container image functions only in the linux sandbox with bubblewrap "
    "(bwrap) installed: the image's root becomes the sandbox's /"
)


class LayerError(Exception):
    """A layer that cannot be unpacked safely (its message says which entry and why)."""


def unpacked_root(cache: Path, digest: str, layers: Iterable[Path]) -> Path:
    """The root of the image with manifest ``digest``, unpacked from ``layers`` (files,
    gzipped or plain tars, bottom first) under ``cache`` unless already there."""
    root = cache / digest.replace(":", "-")
    if root.is_dir():
        return root
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / f".partial-{uuid.uuid4().hex}"
    partial.mkdir()
    try:
        for layer in layers:
            apply_layer(partial, layer)
        for mount_point in _MOUNT_POINTS:  # the sandbox mounts its own there (read-only /)
            target = resolve(partial, mount_point)
            if not target.is_dir():
                _remove(target)
                target.mkdir(parents=True)
        os.replace(partial, root)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        if not root.is_dir():
            raise
    return root


def apply_layer(root: Path, layer: Path) -> None:
    """Apply one layer (a tar, gzipped or not) to the tree at ``root``."""
    # Whiteouts hide what the layers below had, not this layer's own entries: all are
    # applied before any entry is written. Contents are read in order as written (a
    # gzipped tar then decompresses once).
    with tarfile.open(layer, "r:*") as tar:
        members = tar.getmembers()
        _apply_whiteouts(root, members)
        for member in members:
            _write(root, tar, member)


def _apply_whiteouts(root: Path, members: list[tarfile.TarInfo]) -> None:
    for member in members:
        name = _clean(member.name)
        parent, base = posixpath.split(name)
        if base == _OPAQUE:
            directory = resolve(root, parent)
            if directory.is_dir() and not directory.is_symlink():
                for child in directory.iterdir():
                    _remove(child)
        elif base.startswith(_WHITEOUT):
            _remove(resolve(root, parent) / base[len(_WHITEOUT) :])


def _write(root: Path, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
    name = _clean(member.name)
    if not name or posixpath.basename(name).startswith(_WHITEOUT):
        return
    parent, base = posixpath.split(name)
    host_parent = resolve(root, parent)
    host_parent.mkdir(parents=True, exist_ok=True)  # resolved inside: safe to create
    path = host_parent / base
    mode = member.mode & 0o1777  # no set-id bits
    if member.isdir():
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            _remove(path)
        path.mkdir(exist_ok=True)
        os.chmod(path, mode | 0o700)  # sandlot must be able to fill and remove it
        return
    _remove(path)
    if member.isreg():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f, tar.extractfile(member) as source:
            shutil.copyfileobj(source, f)
        os.chmod(path, mode)
    elif member.issym():
        os.symlink(member.linkname, path)
    elif member.islnk():
        target = resolve(root, _clean(member.linkname))
        if not (os.path.lexists(target) and stat.S_ISREG(os.lstat(target).st_mode)):
            raise LayerError(f"{member.name}: hard link to {member.linkname}, not a file")
        os.link(target, path, follow_symlinks=False)
    # Character and block devices and FIFOs are skipped (see the module docstring).


def _clean(name: str) -> str:
    """The entry's path relative to the root (climbing above it stops there)."""
    path = posixpath.normpath("/" + name.lstrip("/"))
    if "\0" in path:
        raise LayerError(f"{name!r}: not a path")
    relative = path.lstrip("/")
    if relative in (".", ""):
        return ""
    return relative


def resolve(root: Path, relative: str) -> Path:
    """The host path of ``relative`` in the image, every symlink on the way followed as
    the image sees it (absolute targets from the root, ``..`` never above the root)."""
    parts = [p for p in relative.split("/") if p]
    done: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        if part == ".":
            continue
        candidate = root.joinpath(*done, part)
        if candidate.is_symlink():
            hops += 1
            if hops > _MAX_LINKS:
                raise LayerError(f"{relative}: too many levels of symbolic links")
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        done.append(part)
    return root.joinpath(*done)


def _remove(path: Path) -> None:
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


@dataclass(frozen=True, slots=True)
class Launch:
    """What a function from an image runs: ``argv`` (ENTRYPOINT + CMD after the
    function's ImageConfig overrides), the handler (``_HANDLER``: CMD's first word, as
    AWS's runtime interface clients take it), the working directory and the image's
    environment, and the image's architecture in Lambda's name for it."""

    argv: tuple[str, ...]
    handler: str
    workdir: str
    environment: tuple[tuple[str, str], ...]
    architecture: str | None


def launch(config: dict, image_config: dict | None) -> Launch:
    """The ``Launch`` of an image whose config blob is ``config``, with the function's
    ``ImageConfig`` (EntryPoint, Command, WorkingDirectory) applied. With neither
    ENTRYPOINT nor CMD, ``argv`` is empty: INIT fails as Lambda's does
    (Runtime.InvalidEntrypoint)."""
    settings = config.get("config") or {}
    overrides = image_config or {}
    entrypoint = overrides.get("EntryPoint") or settings.get("Entrypoint") or []
    command = overrides.get("Command") or settings.get("Cmd") or []
    environment = []
    for item in settings.get("Env") or []:
        key, sep, value = item.partition("=")
        if sep:
            environment.append((key, value))
    return Launch(
        argv=(*entrypoint, *command),
        handler=command[0] if command else "",
        workdir=overrides.get("WorkingDirectory") or settings.get("WorkingDir") or "/",
        environment=tuple(environment),
        architecture=ARCHITECTURES.get(config.get("architecture", "")),
    )
