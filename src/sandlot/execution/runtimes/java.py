"""Finding the JDK a ``javaNN`` runtime names, and AWS's Java Runtime Interface Client.

A function runs on the major version its runtime names, or not at all. Where sandlot
looks for Java NN, first found wins:

1. ``SANDLOT_RUNTIME_JAVANN`` (the path of a ``java``; it must be NN);
2. ``$JAVA_HOME/bin/java``, when its major is NN;
3. ``java`` on the server's PATH, when its major is NN;
4. the JDKs in ``/usr/lib/jvm`` (where Debian's and Temurin's packages install them).

A JDK's major is read from its ``release`` file (no JVM is started to ask).

The function's runtime is AWS's own Runtime Interface Client (RIC) from Maven Central,
the code AWS's Java base images run: it loads the handler (RequestHandler,
RequestStreamHandler, POJO ``package.Class::method``), serialises events as AWS's runtime
does, and talks to sandlot's Runtime API through its JNI HTTP client. Its jars are pinned
by version and SHA-256 (``RIC_JARS``), fetched once over HTTPS into the user cache dir
through a temporary directory renamed into place.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import tempfile
import threading
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs

# The RIC and what its POM needs at run time (its test dependencies left out), with the
# SHA-256 of each jar as Maven Central serves it.
RIC_JARS = (
    (
        "com/amazonaws/aws-lambda-java-runtime-interface-client/2.10.1/"
        "aws-lambda-java-runtime-interface-client-2.10.1.jar",
        "b0dd01f45b7258da0e32ade0bff950b12d0cf279ccebf416ad8c3795af21f1db",
    ),
    (
        "com/amazonaws/aws-lambda-java-core/1.4.0/aws-lambda-java-core-1.4.0.jar",
        "575c24393cc1ad645e83e618956eabd89ffe8cc09efae2cb62bc6589154d68ed",
    ),
    (
        "com/amazonaws/aws-lambda-java-serialization/1.2.0/aws-lambda-java-serialization-1.2.0.jar",
        "1513c1f945a3213f916a4b2de1760c97b51d84d110f82bbbcf9cfac53d5651e7",
    ),
    (
        "software/amazon/awssdk/utils-lite/2.34.0/utils-lite-2.34.0.jar",
        "efaf784f07ae526f0b5c89d71ef21cf16636131c47d44616e3df9bedc3f4f89a",
    ),
    (
        "software/amazon/awssdk/annotations/2.34.0/annotations-2.34.0.jar",
        "fafdcb55f4e5af603f5219f4a2b080aa0decb562a7c0944f7a7eca82dd47e487",
    ),
)
RIC_MAIN = "com.amazonaws.services.lambda.runtime.api.client.AWSLambda"
# The RIC's JNI client library: named by this system property, the RIC loads it from
# there; else it copies it out of its jar into /tmp on every start (~800 KB inflated and
# written per cold start). sandlot extracts it once from the pinned jar (jni_library).
JNI_PROPERTY = "com.amazonaws.services.lambda.runtime.api.client.runtimeapi.NativeClient.JNI"
_JNI_NAMES = {
    "x86_64": "libaws-lambda-jni.linux-x86_64.so",
    "aarch64": "libaws-lambda-jni.linux-aarch_64.so",
}
MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
JVM_DIR = Path("/usr/lib/jvm")
_DOWNLOAD_TIMEOUT_S = 300


@dataclass(frozen=True, slots=True)
class Jdk:
    home: str  # the installation (holding bin/java and release)
    version: str  # its JAVA_VERSION, e.g. 17.0.15

    @property
    def major(self) -> int:
        return major_of(self.version)

    @property
    def executable(self) -> str:
        return f"{self.home}/bin/java"


class NotFound(Exception):
    """No JDK of the major version, or the RIC cannot be fetched; the message says why
    and how to fix it."""


def variable(major: int) -> str:
    """The setting that names the ``java`` of Java ``major``."""
    return f"SANDLOT_RUNTIME_JAVA{major}"


def major_of(version: str) -> int:
    """The feature release of a JAVA_VERSION (``1.8.0_392`` is 8, ``17.0.15`` is 17)."""
    parts = version.split(".")
    try:
        return int(parts[1]) if parts[0] == "1" and len(parts) > 1 else int(parts[0])
    except ValueError:
        return 0


def probe(java: str) -> Jdk | None:
    """The JDK whose ``bin/java`` is ``java`` (links resolved); None: not a JDK."""
    real = os.path.realpath(java)
    if not os.access(real, os.X_OK):
        return None
    home = os.path.dirname(os.path.dirname(real))
    try:
        text = Path(home, "release").read_text()
    except OSError:
        return None
    match = re.search(r'^JAVA_VERSION="([^"]+)"', text, re.MULTILINE)
    return Jdk(home, match.group(1)) if match else None


def snapstart_unsupported(runtime: str, home: str, version: str) -> str:
    """Why sandlot cannot snapshot a ``runtime`` function running on the JDK at ``home``
    (SnapStart for Java is a checkpoint of the JVM: CRaC, whose hooks are ``org.crac``'s
    ``Resource``). A JDK with CRaC lists the ``jdk.crac`` module in its ``release`` file;
    none of Debian's or Temurin's builds do, and sandlot does not drive CRIU itself."""
    try:
        modules = re.search(r'^MODULES="([^"]*)"', Path(home, "release").read_text(), re.M)
    except OSError:
        modules = None
    if modules is not None and "jdk.crac" in modules.group(1).split():
        return (
            f"sandlot cannot make a SnapStart snapshot of {runtime}: the JDK {version} at "
            f"{home} has CRaC (jdk.crac), but sandlot does not checkpoint JVMs (no CRIU "
            "support). Set SnapStart ApplyOn to None to run this version."
        )
    return (
        f"sandlot cannot make a SnapStart snapshot of {runtime}: Java SnapStart needs a "
        f"JVM with CRaC (Coordinated Restore at Checkpoint, the jdk.crac module), and "
        f"the JDK {version} at {home} has no CRaC support. Set SnapStart ApplyOn to None "
        "to run this version."
    )


def find(major: int) -> Jdk:
    """The JDK of ``major``. Raises NotFound."""
    name = variable(major)
    explicit = os.environ.get(name)
    if explicit:
        found = probe(explicit)
        if found is None or found.major != major:
            what = f"Java {found.version}" if found else "not the java of a JDK"
            raise NotFound(f"{name}={explicit} is {what}, not Java {major}")
        return found
    candidates = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(f"{os.environ['JAVA_HOME']}/bin/java")
    candidates.append(shutil.which("java") or "")
    candidates += sorted(str(path) for path in JVM_DIR.glob("*/bin/java"))
    for candidate in candidates:
        found = probe(candidate) if candidate else None
        if found is not None and found.major == major:
            return found
    raise NotFound(
        f"Java {major} is not installed. Install a JDK {major} (Debian: "
        f"openjdk-{major}-jdk-headless) or set {name} to the path of its `java`, "
        "and invoke again."
    )


def cache_root() -> Path:
    return Path(platformdirs.user_cache_dir("sandlot", appauthor=False))


_fetching = threading.Lock()


def ric() -> Path:
    """The directory holding the RIC's jars, fetched on first use. Raises NotFound."""
    digest = hashlib.sha256("\n".join(sha for _, sha in RIC_JARS).encode()).hexdigest()[:12]
    root = cache_root() / "java-ric"
    target = root / digest
    with _fetching:
        if target.is_dir():
            return target
        root.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{digest}-", dir=root))
        base = os.environ.get("SANDLOT_MAVEN_REPOSITORY", MAVEN_CENTRAL).rstrip("/")
        try:
            for path, sha in RIC_JARS:
                _fetch(f"{base}/{path}", sha, scratch / path.rsplit("/", 1)[1])
            try:
                os.rename(scratch, target)
            except OSError:  # another server fetched them first: theirs are as good
                if not target.is_dir():
                    raise
        except (OSError, ValueError) as exc:
            raise NotFound(
                f"AWS's Java Runtime Interface Client could not be fetched from {base} "
                f"({exc}); set SANDLOT_MAVEN_REPOSITORY to a Maven repository that has it"
            ) from None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return target


def jni_name() -> str | None:
    """The RIC's JNI library for this machine (glibc builds only: on musl the RIC's own
    search, which tries those after the glibc ones, is left to find it)."""
    if platform.libc_ver()[0] != "glibc":
        return None
    return _JNI_NAMES.get(os.uname().machine)


def jni_library(jars: Path) -> Path | None:
    """The RIC's JNI library for this machine, extracted once from its pinned jar into
    ``jars/jni`` (atomically); None where there is none to use."""
    name = jni_name()
    if name is None:
        return None
    target = jars / "jni" / name
    if target.is_file():
        return target
    jar = jars / RIC_JARS[0][0].rsplit("/", 1)[1]
    try:
        with zipfile.ZipFile(jar) as archive:
            data = archive.read(f"jni/{name}")
        target.parent.mkdir(mode=0o700, exist_ok=True)
        fd, scratch = tempfile.mkstemp(prefix=f".{name}-", dir=target.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.rename(scratch, target)
    except (OSError, KeyError, zipfile.BadZipFile):
        return None  # the RIC copies it out of the jar itself, as without sandlot
    return target


def _fetch(url: str, sha256: str, out: Path) -> None:
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as answer, open(out, "wb") as f:
        while chunk := answer.read(1 << 16):
            digest.update(chunk)
            f.write(chunk)
    if digest.hexdigest() != sha256:
        raise ValueError(f"{url} has SHA-256 {digest.hexdigest()}, not the pinned {sha256}")


def jvm_options(memory_mb: int) -> tuple[str, ...]:
    """The JVM flags AWS's Java runtimes start with: a heap of most of the memory, the
    serial collector, class-data sharing, and (Java 17+ runtimes' default) the C1
    compiler only, which starts fastest."""
    heap = max(16, memory_mb * 85 // 100)
    return (
        f"-XX:MaxHeapSize={heap}m",
        "-XX:+UseSerialGC",
        "-Xshare:auto",
        "-XX:+TieredCompilation",
        "-XX:TieredStopAtLevel=1",
    )
