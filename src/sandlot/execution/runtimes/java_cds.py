"""Class-data sharing (AppCDS) for the Java runtime: a sealed dynamic archive of the RIC.

Most of a Java cold start is the JVM loading and verifying the classes of AWS's Runtime
Interface Client (RIC) and its serialisation (shaded Jackson). A dynamic CDS archive
holds them pre-parsed; a JVM started with ``-XX:SharedArchiveFile=`` maps it instead.

- **One archive per** JDK (real path, ``JAVA_VERSION``, libjvm build), RIC jar set,
  sandbox kind and warm-up source (``key``):
  the JVM accepts an archive only with the class path it was dumped with, as the JVM
  sees it (the linux sandbox shows the jars at ``/var/runtime/node_modules``, the
  process backend at their host path). It lives in the RIC's own cache directory
  (``cds/<key>.jsa``), which the linux sandbox already binds read-only, so the JVM
  finds it there without a new mount.
- **Only sandlot's code is archived.** A dynamic archive also takes classes loaded by
  custom loaders (the RIC loads the handler with one): dumped after a user's function,
  it would hold the user's classes. So it is dumped by a sandlot-owned function
  (``SandlotCdsWarmup``, compiled here with the JDK's ``javac``): one invocation to
  load what a POJO handler's round trip loads (and, through the RIC's own loader, a
  RequestHandler's and a RequestStreamHandler's), links every loaded class (a dump on
  demand keeps only linked ones), then ``VM.cds dynamic_dump`` through
  the DiagnosticCommand MBean (JDK 17+; needs ``-XX:+RecordDynamicDumpInfo``), and the
  archive returned in pieces through the Runtime API — the dump runs in a real
  environment of the same sandbox kind, whose /tmp is private.
- **Built in the background**: the first Java environment without an archive starts
  the dump beside itself (``Environment``), never delaying its own INIT; one dump per
  key at a time across servers (``flock``), none again after a failure in this server.
- **Sealed**: written to a temporary file, fsynced, renamed into place (0600, in 0700
  directories), with a ``.sha256`` sidecar (digest and size) written the same way. An
  archive is used only if it matches its sidecar (checked again whenever its stat
  changes), so a truncated or altered archive is not used: the JVM starts without it.
- ``SANDLOT_JAVA_CDS=0`` turns it off; a function whose ``JAVA_TOOL_OPTIONS`` set any
  CDS option keeps its own (sandlot's flag would override them, command-line options
  coming after ``JAVA_TOOL_OPTIONS``).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

from sandlot.execution.runtimes import java

log = logging.getLogger(__name__)

HANDLER = "SandlotCdsWarmup::handle"
# The JVM option that lets a running JVM dump its dynamic archive (``VM.cds``).
DUMP_OPTIONS = "-XX:+RecordDynamicDumpInfo"
# A function's own JAVA_TOOL_OPTIONS naming any of these keeps its CDS settings.
_CDS_OPTION = re.compile(r"SharedArchiveFile|-Xshare|ArchiveClassesAtExit|DynamicDump|DumpShared")
_CHUNK = 3 << 20  # raw bytes per read: base64 keeps a piece under the 6 MB response limit
_MAX_ARCHIVE = 256 << 20  # a RIC archive is ~10 MB; anything far larger is refused

WARMUP_SOURCE = r"""
import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import com.amazonaws.services.lambda.runtime.RequestStreamHandler;
import com.amazonaws.services.lambda.runtime.api.client.EventHandlerLoader;
import com.amazonaws.services.lambda.runtime.api.client.HandlerInfo;
import com.amazonaws.services.lambda.runtime.api.client.runtimeapi.dto.InvocationRequest;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.management.ObjectName;

/** sandlot's own function for dumping the RIC's class-data sharing archive. */
public class SandlotCdsWarmup {
  /** The handler forms other than a POJO method, run once through the RIC's own loader. */
  public static class Events implements RequestHandler<Map<String, Object>, Map<String, Object>> {
    public Map<String, Object> handleRequest(Map<String, Object> event, Context context) {
      return Map.of("ok", true, "requestId", context.getAwsRequestId(), "echo", event);
    }
  }

  public static class Stream implements RequestStreamHandler {
    public void handleRequest(InputStream in, OutputStream out, Context context)
        throws java.io.IOException {
      out.write(in.readAllBytes());
    }
  }

  public Map<String, Object> handle(Map<String, Object> event) throws Exception {
    Map<String, Object> answer = new LinkedHashMap<>();
    String op = String.valueOf(event.get("op"));
    String tmp = System.getenv().getOrDefault("TMPDIR", "/tmp");
    Path archive = Paths.get(tmp, "sandlot-cds.jsa");
    if (op.equals("dump")) {
      // A dump on demand archives only linked classes (one at exit links them all
      // first): link every class loaded so far, as reflection does, without running
      // any static initialiser.
      ClassLoader loader = SandlotCdsWarmup.class.getClassLoader();
      int linked = 0;
      for (int round = 0; round < 2; round++) {  // linking loads a few classes more
        for (String line : String.valueOf(command("vmClassHierarchy")).split("\n")) {
          String name = line.replaceFirst("^[|\\s-]*", "");
          int slash = name.indexOf('/');
          if (slash <= 0) {
            continue;
          }
          try {
            Class.forName(name.substring(0, slash), false, loader).getDeclaredMethods();
            linked++;
          } catch (Throwable e) {
            // hidden classes, classes of other loaders, a missing optional dependency
          }
        }
      }
      Object said = command("vmCds", "dynamic_dump", archive.toString());
      byte[] data = Files.readAllBytes(archive);
      StringBuilder hex = new StringBuilder();
      for (byte b : MessageDigest.getInstance("SHA-256").digest(data)) {
        hex.append(String.format("%02x", b));
      }
      answer.put("size", data.length);
      answer.put("sha256", hex.toString());
      answer.put("said", String.valueOf(said));
      answer.put("linked", linked);
    } else if (op.equals("read")) {
      byte[] data = Files.readAllBytes(archive);
      int offset = ((Number) event.get("offset")).intValue();
      int end = Math.min(data.length, offset + ((Number) event.get("length")).intValue());
      answer.put("data", Base64.getEncoder().encodeToString(Arrays.copyOfRange(data, offset, end)));
    } else {
      // What a POJO handler's round trip loads (this one, through the RIC), then what a
      // RequestHandler's and a RequestStreamHandler's do, through the RIC's own loader.
      for (Class<?> form : new Class<?>[] {Events.class, Stream.class}) {
        InvocationRequest request = new InvocationRequest();
        request.setId("sandlot-cds-warmup");
        request.setInvokedFunctionArn(System.getenv("AWS_LAMBDA_FUNCTION_NAME"));
        request.setDeadlineTimeInMs(System.currentTimeMillis() + 60_000);
        request.setContent("{\"data\":\"x\",\"items\":[1,\"two\",null]}".getBytes(StandardCharsets.UTF_8));
        EventHandlerLoader.loadEventHandler(
            HandlerInfo.fromString(form.getName(), SandlotCdsWarmup.class.getClassLoader()))
            .call(request);
      }
      List<Object> items = (List<Object>) event.getOrDefault("items", List.of());
      answer.put("ok", true);
      answer.put("count", items.size());
      answer.put("echo", event.get("data"));
    }
    return answer;
  }

  private static Object command(String operation, String... arguments) throws Exception {
    return ManagementFactory.getPlatformMBeanServer().invoke(
        new ObjectName("com.sun.management:type=DiagnosticCommand"), operation,
        new Object[] {arguments}, new String[] {String[].class.getName()});
  }
}
"""


def enabled() -> bool:
    return os.environ.get("SANDLOT_JAVA_CDS", "1") != "0"


def user_options_conflict(environment: dict[str, str] | tuple[tuple[str, str], ...]) -> bool:
    """Whether a function's own JAVA_TOOL_OPTIONS set CDS options (sandlot's stay out)."""
    value = dict(environment).get("JAVA_TOOL_OPTIONS", "")
    return bool(_CDS_OPTION.search(value))


def key(jdk_executable: str, jdk_version: str, jars: Path, sandbox: str, class_path: str) -> str:
    """The archive's name for a JDK, the RIC's jars (their directory is named by their
    digests), a sandbox kind and the class path as the JVM there sees it.

    The JVM's library's size and time are in it too: a JDK rebuilt in place (a distro's
    security update keeps JAVA_VERSION) gets a new archive instead of one its JVM
    rejects (silently, under -Xshare:auto) on every start."""
    home = os.path.dirname(os.path.dirname(os.path.realpath(jdk_executable)))
    try:
        jvm = os.stat(os.path.join(home, "lib", "server", "libjvm.so"))
        build = f"{jvm.st_size}:{jvm.st_mtime_ns}"
    except OSError:
        build = ""
    warmup = hashlib.sha256(WARMUP_SOURCE.encode()).hexdigest()  # what the dump ran
    material = "\n".join((home, jdk_version, build, jars.name, sandbox, class_path, warmup))
    return hashlib.sha256(material.encode()).hexdigest()[:24]


def archive_path(jars: Path, name: str) -> Path:
    return jars / "cds" / f"{name}.jsa"


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


_verified: dict[Path, tuple[int, int, int, int, int]] = {}
_verified_lock = threading.Lock()


def _signature(stat: os.stat_result) -> tuple[int, int, int, int, int]:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def remembered(path: Path) -> bool:
    """Whether ``path`` was found sealed before and has not changed since (a stat, no
    hashing: cheap enough for the event loop)."""
    try:
        signature = _signature(path.stat())
    except OSError:
        return False
    with _verified_lock:
        return _verified.get(path) == signature


def sealed(path: Path) -> bool:
    """Whether ``path`` is an archive sandlot wrote whole: its SHA-256 and size match its
    sidecar. Hashing (~10 ms) happens once per change of the file's stat."""
    try:
        stat = path.stat()
        seal = _sidecar(path).read_text().split()
    except OSError:
        return False
    signature = _signature(stat)
    with _verified_lock:
        if _verified.get(path) == signature:
            return True
    if len(seal) != 2 or seal[1] != str(stat.st_size):
        return False
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return False
    if digest.hexdigest() != seal[0]:
        log.warning("the Java CDS archive %s does not match its seal; not used", path)
        return False
    with _verified_lock:
        _verified[path] = signature
    return True


def write_sealed(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` and its seal, each atomically (temporary file, fsync,
    rename), owner-only."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    seal = f"{hashlib.sha256(data).hexdigest()} {len(data)}\n".encode()
    # The archive first: a reader that sees the new archive with the old seal (or none)
    # finds them different and does not use it.
    for target, content in ((path, data), (_sidecar(path), seal)):
        fd, scratch = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:  # mkstemp: mode 0600
                f.write(content)
                f.flush()
                os.fsync(f.fileno())
            os.rename(scratch, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(scratch)
            raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@contextlib.contextmanager
def dump_lock(path: Path):
    """Held while one process dumps ``path``'s archive; yields False if another holds it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def warmup_code(jdk_home: str, jars: Path) -> Path:
    """The directory holding ``SandlotCdsWarmup.class``, compiled once with the JDK's
    ``javac`` against the RIC's ``jars`` into the cache. Raises OSError (no javac: a JRE)
    or CalledProcessError (e.g. a RIC whose API changed: no archive, said in the log)."""
    digest = hashlib.sha256(WARMUP_SOURCE.encode()).hexdigest()[:12]
    root = java.cache_root() / "java-cds"
    target = root / f"warmup-{digest}-{jars.name}"
    if (target / "SandlotCdsWarmup.class").is_file():
        return target
    javac = Path(jdk_home, "bin", "javac")
    if not os.access(javac, os.X_OK):
        raise OSError(f"{javac} not found (a JRE): no class-data sharing archive")
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".warmup-", dir=root))
    try:
        (scratch / "SandlotCdsWarmup.java").write_text(WARMUP_SOURCE)
        subprocess.run(
            [str(javac), "-nowarn", "--release", "11", "-cp", f"{jars}/*", "SandlotCdsWarmup.java"],
            cwd=scratch,
            check=True,
            capture_output=True,
            timeout=120,
        )
        (scratch / "SandlotCdsWarmup.java").unlink()
        try:
            os.rename(scratch, target)
        except OSError:  # another server compiled it first
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


# An invocation of the dump environment: the event's JSON in, the answer's JSON out
# (None: the function failed).
Invoke = Callable[[dict], Awaitable[dict | None]]


async def dump(invoke: Invoke) -> bytes | None:
    """Drive a running ``SandlotCdsWarmup`` environment: warm it, dump, read the archive
    back. The archive, or None (the reason is logged)."""
    warm = {"op": "warm", "data": "x" * 64, "items": [1, "two", {"three": 3.0}, None, True]}
    if await invoke(warm) is None:
        return None
    said = await invoke({"op": "dump"})
    if not said or not isinstance(said.get("size"), int) or said["size"] > _MAX_ARCHIVE:
        log.info("no Java CDS archive: the dump answered %r", said)
        return None
    size, parts = said["size"], []
    for offset in range(0, size, _CHUNK):
        piece = await invoke({"op": "read", "offset": offset, "length": _CHUNK})
        if not piece or not isinstance(piece.get("data"), str):
            return None
        parts.append(base64.b64decode(piece["data"]))
    data = b"".join(parts)
    if len(data) != size or hashlib.sha256(data).hexdigest() != said.get("sha256"):
        log.warning("the Java CDS archive was not read back whole; not kept")
        return None
    return data


# Keys dumping in this server, and those whose dump failed (not retried until restart).
_busy: set[str] = set()
_failed: set[str] = set()


def wanted(name: str) -> bool:
    """Whether this server should start a dump for ``name`` now (and mark it started)."""
    with _verified_lock:
        if name in _busy or name in _failed:
            return False
        _busy.add(name)
        return True


def finished(name: str, ok: bool) -> None:
    with _verified_lock:
        _busy.discard(name)
        if not ok:
            _failed.add(name)
