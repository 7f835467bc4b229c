"""Deployment packages: checking zips, and extracting each distinct package once.

A package is checked when it is uploaded (a real zip, no entry escaping the package,
no symbolic link pointing outside it, its unzipped size) and extracted later, off the
request path, into ``<code root>/<sha256>``: content-addressed, so every version and
layer with the same zip shares one directory. Extraction writes into a temporary
sibling and renames it into place, so a directory under its final name is always
complete. The result is read-only: files 0444 (0555 where the zip marks them
executable, e.g. a custom runtime's ``bootstrap``), directories 0555.

Symbolic links are created after every file and directory is written, so no write ever
goes through a link from the zip; after extraction each link is resolved for real and
the package refused if one leads outside it.
"""

from __future__ import annotations

import io
import os
import posixpath
import secrets
import shutil
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_CHUNK = 1024 * 1024


class BadPackage(Exception):
    """The upload is not a usable zip; ``str(exc)`` says why (for logs and StateReason)."""


@dataclass(frozen=True, slots=True)
class _Entry:
    info: zipfile.ZipInfo
    path: str  # normalised, relative, "/"-separated
    kind: str  # "file", "dir" or "link"
    mode: int  # permission bits from the zip (0 when the zip carries none)


def inspect_zip(data: bytes) -> int:
    """Check an uploaded package and return its unzipped size in bytes."""
    with _open_zip(io.BytesIO(data)) as archive:
        entries = _plan(archive)
    return sum(e.info.file_size for e in entries if e.kind == "file")


def extract(source: Path, dest: Path) -> None:
    """Extract the zip at ``source`` into ``dest`` (atomically; no-op if it exists)."""
    if dest.exists():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".tmp-{dest.name}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        with open(source, "rb") as raw, _open_zip(raw) as archive:
            _write_tree(archive, _plan(archive), tmp)
        _check_links(tmp)
        _seal(tmp)
        try:
            os.rename(tmp, dest)
        except OSError:
            if not dest.exists():
                raise
            remove_tree(tmp)  # another extraction of the same package won the race
    except BaseException:
        if tmp.exists():
            remove_tree(tmp)
        raise


def remove_tree(path: Path) -> None:
    """Delete an extracted (read-only) package directory."""
    if not path.exists():
        return
    for root, dirs, _files in os.walk(path):
        os.chmod(root, 0o755)
        for name in dirs:
            full = os.path.join(root, name)
            if not os.path.islink(full):
                os.chmod(full, 0o755)
    shutil.rmtree(path)


# -- planning: what the zip holds, refused if unsafe -----------------------------------


def _open_zip(file: BinaryIO) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(file)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise BadPackage(f"not a zip file ({exc})") from None


def _plan(archive: zipfile.ZipFile) -> list[_Entry]:
    entries: list[_Entry] = []
    for info in archive.infolist():
        path = _safe_path(info.filename)
        if not path:
            continue  # the package root itself ("./")
        mode = (info.external_attr >> 16) if info.create_system == 3 else 0
        if stat.S_ISLNK(mode):
            target = archive.read(info).decode("utf-8", "surrogateescape")
            _check_link_target(path, target)
            entries.append(_Entry(info, path, "link", mode & 0o777))
        elif info.is_dir() or stat.S_ISDIR(mode):
            entries.append(_Entry(info, path, "dir", mode & 0o777))
        else:
            entries.append(_Entry(info, path, "file", mode & 0o777))
    _check_conflicts(entries)
    return entries


def _safe_path(name: str) -> str:
    """The entry's path relative to the package root; refuses absolute paths and ``..``."""
    name = name.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise BadPackage(f"entry {name!r} has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise BadPackage(f"entry {name!r} points outside the package")
    return "/".join(parts)


def _check_link_target(path: str, target: str) -> None:
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
        raise BadPackage(f"symbolic link {path!r} points outside the package ({target})")


def _check_conflicts(entries: list[_Entry]) -> None:
    """A path cannot be both a directory and a file or link (one would overwrite the other)."""
    leaves = {e.path for e in entries if e.kind != "dir"}
    for entry in entries:
        parent = posixpath.dirname(entry.path)
        while parent:
            if parent in leaves:
                raise BadPackage(f"entry {entry.path!r} is inside file {parent!r}")
            parent = posixpath.dirname(parent)
        if entry.kind == "dir" and entry.path in leaves:
            raise BadPackage(f"entry {entry.path!r} is both a file and a directory")


# -- writing ----------------------------------------------------------------------------


def _write_tree(archive: zipfile.ZipFile, entries: list[_Entry], root: Path) -> None:
    for entry in entries:
        if entry.kind == "dir":
            (root / entry.path).mkdir(parents=True, exist_ok=True)
    for entry in entries:
        if entry.kind == "file":
            _write_file(archive, entry, root / entry.path)
    for entry in entries:  # last: nothing is ever written through a link
        if entry.kind == "link":
            link = root / entry.path
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.exists() or link.is_symlink():
                link.unlink()
            os.symlink(archive.read(entry.info).decode("utf-8", "surrogateescape"), link)


def _write_file(archive: zipfile.ZipFile, entry: _Entry, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    written, declared = 0, entry.info.file_size
    try:
        with archive.open(entry.info) as src, os.fdopen(os.open(path, flags, 0o600), "wb") as out:
            for chunk in _chunks(src):
                written += len(chunk)
                if written > declared:  # a zip bomb lying about its sizes
                    raise BadPackage(f"entry {entry.path!r} is larger than it declares")
                out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise BadPackage(f"entry {entry.path!r} cannot be read ({exc})") from None
    executable = entry.mode & 0o111
    os.chmod(path, 0o555 if executable else 0o444)


def _chunks(src: BinaryIO) -> Iterator[bytes]:
    while chunk := src.read(_CHUNK):
        yield chunk


def _check_links(root: Path) -> None:
    """Resolve every link for real: chains of links must not lead outside the package."""
    real_root = os.path.realpath(root)
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                real = os.path.realpath(full)
                if real != real_root and not real.startswith(real_root + os.sep):
                    rel = os.path.relpath(full, root)
                    raise BadPackage(f"symbolic link {rel!r} points outside the package")


def _seal(root: Path) -> None:
    """Directories read-only (bottom up, so the walk can still list them)."""
    for dirpath, _dirs, _files in os.walk(root, topdown=False):
        os.chmod(dirpath, 0o555)
