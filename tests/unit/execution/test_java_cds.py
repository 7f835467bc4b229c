"""The Java runtime's class-data sharing archive: its key, its seal (a truncated or altered
archive is not used), the lock against concurrent dumps, reading it back from sandlot's
warm-up function, the JVM flag, and the JVM's own fallback from an archive it rejects."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import stat
import subprocess
import zipfile

import pytest

from sandlot.execution import runtimes
from sandlot.execution.runtimes import java, java_cds
from sandlot.execution.sandbox import Layout

JDK = "/usr/lib/jvm/java-17/bin/java"


def test_the_key_names_jdk_version_jars_sandbox_and_class_path(tmp_path):
    jars = tmp_path / "abc123"
    base = java_cds.key(JDK, "17.0.15", jars, "linux", "/var/runtime/node_modules/*")
    assert base == java_cds.key(JDK, "17.0.15", jars, "linux", "/var/runtime/node_modules/*")
    others = {
        java_cds.key("/opt/jdk/bin/java", "17.0.15", jars, "linux", "/var/runtime/node_modules/*"),
        java_cds.key(JDK, "17.0.16", jars, "linux", "/var/runtime/node_modules/*"),
        java_cds.key(JDK, "17.0.15", tmp_path / "def456", "linux", "/var/runtime/node_modules/*"),
        java_cds.key(JDK, "17.0.15", jars, "process", "/var/runtime/node_modules/*"),
        java_cds.key(JDK, "17.0.15", jars, "process", f"{jars}/*"),
    }
    assert base not in others and len(others) == 5
    assert java_cds.archive_path(jars, base) == jars / "cds" / f"{base}.jsa"


def test_a_jdk_rebuilt_in_place_gets_a_new_key(tmp_path):
    """A distro's update keeps JAVA_VERSION; its libjvm.so differs."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "lib" / "server").mkdir(parents=True)
    libjvm = tmp_path / "lib" / "server" / "libjvm.so"
    libjvm.write_bytes(b"jvm one")
    executable = str(tmp_path / "bin" / "java")
    before = java_cds.key(executable, "17.0.15", tmp_path, "linux", "/r/*")
    libjvm.write_bytes(b"jvm two, rebuilt")
    assert java_cds.key(executable, "17.0.15", tmp_path, "linux", "/r/*") != before


def test_a_sealed_archive_is_owner_only_and_verified(tmp_path):
    path = tmp_path / "ric" / "cds" / "k.jsa"
    java_cds.write_sealed(path, b"archive" * 1000)
    assert java_cds.sealed(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    seal = (path.parent / "k.jsa.sha256").read_text().split()
    assert seal == [hashlib.sha256(b"archive" * 1000).hexdigest(), "7000"]
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


def test_a_truncated_archive_is_not_used(tmp_path):
    path = tmp_path / "k.jsa"
    java_cds.write_sealed(path, b"archive" * 1000)
    assert java_cds.sealed(path)
    with open(path, "r+b") as f:
        f.truncate(100)
    assert not java_cds.sealed(path)


def test_an_altered_archive_is_not_used_even_with_its_times_restored(tmp_path):
    path = tmp_path / "k.jsa"
    java_cds.write_sealed(path, b"archive" * 1000)
    assert not java_cds.remembered(path)  # not checked yet
    assert java_cds.sealed(path)
    assert java_cds.remembered(path)  # by its stat: no hashing on the next start
    before = path.stat()
    with open(path, "r+b") as f:  # same size, one byte changed
        f.seek(10)
        f.write(b"X")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert not java_cds.remembered(path)  # its ctime changed: hashed again
    assert not java_cds.sealed(path)


@pytest.mark.parametrize("seal", [None, "", "nothex 7000", "00" * 32 + " 7000"])
def test_an_archive_without_a_valid_seal_is_not_used(tmp_path, seal):
    path = tmp_path / "k.jsa"
    path.write_bytes(b"archive" * 1000)
    if seal is not None:
        (tmp_path / "k.jsa.sha256").write_text(seal)
    assert not java_cds.sealed(path)
    assert not java_cds.sealed(tmp_path / "missing.jsa")


def test_one_dump_at_a_time(tmp_path):
    path = tmp_path / "cds" / "k.jsa"
    with java_cds.dump_lock(path) as first:
        assert first
        with java_cds.dump_lock(path) as second:  # another open file: as another server
            assert not second
    with java_cds.dump_lock(path) as again:
        assert again


def test_a_failed_dump_is_not_retried_and_a_busy_one_not_doubled():
    name = "test-key-" + os.urandom(4).hex()
    assert java_cds.wanted(name)
    assert not java_cds.wanted(name)  # dumping
    java_cds.finished(name, ok=True)
    assert java_cds.wanted(name)
    java_cds.finished(name, ok=False)
    assert not java_cds.wanted(name)


@pytest.mark.parametrize(
    ("options", "conflict"),
    [
        ("", False),
        ("-Xmx256m -Dfoo=bar", False),
        ("-Xshare:off", True),
        ("-XX:SharedArchiveFile=/opt/app.jsa", True),
        ("-XX:ArchiveClassesAtExit=/tmp/a.jsa", True),
        ("-XX:+RecordDynamicDumpInfo", True),
    ],
)
def test_a_functions_own_cds_options_win(options, conflict):
    assert java_cds.user_options_conflict({"JAVA_TOOL_OPTIONS": options}) is conflict
    assert not java_cds.user_options_conflict((("OTHER", "-Xshare:off"),))


def test_it_can_be_turned_off(monkeypatch):
    monkeypatch.delenv("SANDLOT_JAVA_CDS", raising=False)
    assert java_cds.enabled()
    monkeypatch.setenv("SANDLOT_JAVA_CDS", "0")
    assert not java_cds.enabled()


def warmup(archive: bytes, *, sha256: str | None = None, fail: str | None = None):
    """An ``invoke`` answering as SandlotCdsWarmup does, recording the events."""
    events: list[dict] = []

    async def invoke(event: dict) -> dict | None:
        events.append(event)
        if event["op"] == fail:
            return None
        if event["op"] == "dump":
            digest = sha256 or hashlib.sha256(archive).hexdigest()
            return {"size": len(archive), "sha256": digest, "said": ""}
        if event["op"] == "read":
            piece = archive[event["offset"] : event["offset"] + event["length"]]
            return {"data": base64.b64encode(piece).decode()}
        return {"ok": True}

    return invoke, events


async def test_the_archive_is_read_back_in_pieces():
    archive = os.urandom(java_cds._CHUNK * 2 + 12345)
    invoke, events = warmup(archive)
    assert await java_cds.dump(invoke) == archive
    assert [e["op"] for e in events] == ["warm", "dump", "read", "read", "read"]


@pytest.mark.parametrize("fail", ["warm", "dump", "read"])
async def test_a_failed_step_keeps_no_archive(fail):
    invoke, _ = warmup(b"archive", fail=fail)
    assert await java_cds.dump(invoke) is None


async def test_an_archive_read_back_wrong_is_not_kept():
    invoke, _ = warmup(b"archive", sha256="0" * 64)
    assert await java_cds.dump(invoke) is None


def test_the_archive_flag_comes_before_the_class_path(tmp_path):
    layout = Layout("/var/task", "/opt", "/tmp", "/var/runtime", "/var/runtime", "/ric")
    found = runtimes.Prepared("java17", "/jdk/bin/java", "/jdk", "17.0.15", tmp_path)
    spec = type("Spec", (), {"runtime": "java17", "memory_mb": 512, "handler": "H::h"})
    spec.architecture = os.uname().machine.replace("aarch64", "arm64")
    flag = "-XX:SharedArchiveFile=/ric/cds/k.jsa"
    argv = runtimes.launch(spec, layout, tmp_path, tmp_path, found, (flag,)).argv
    assert argv.index(flag) < argv.index("-cp")
    assert argv[argv.index("-cp") + 1] == "/ric/*"


@pytest.mark.skipif(shutil.which("java") is None, reason="no JDK")
def test_the_jvm_starts_without_an_archive_it_rejects(tmp_path):
    """What a sealed archive the JVM still rejects (e.g. another JDK build) costs: nothing
    but the sharing; -Xshare:auto (sandlot's flag) falls back to starting without it."""
    bogus = tmp_path / "bogus.jsa"
    bogus.write_bytes(os.urandom(4096))
    done = subprocess.run(
        ["java", "-Xshare:auto", f"-XX:SharedArchiveFile={bogus}", "-version"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_the_jni_library_is_extracted_once_from_the_ric_jar(tmp_path, monkeypatch):
    """The RIC loads its JNI client from java.JNI_PROPERTY instead of copying it out of its
    jar into /tmp at every start."""
    name = java.jni_name()
    if name is None:
        pytest.skip("no glibc build of the RIC's JNI library for this machine")
    jar = tmp_path / java.RIC_JARS[0][0].rsplit("/", 1)[1]
    with zipfile.ZipFile(jar, "w") as archive:
        archive.writestr(f"jni/{name}", b"\x7fELF library")
    library = java.jni_library(tmp_path)
    assert library == tmp_path / "jni" / name
    assert library.read_bytes() == b"\x7fELF library"
    jar.unlink()  # already extracted: the jar is not read again
    assert java.jni_library(tmp_path) == library
    layout = Layout("/var/task", "/opt", "/tmp", "/var/runtime", "/var/runtime", "/ric")
    found = runtimes.Prepared("java17", "/jdk/bin/java", "/jdk", "17.0.15", tmp_path)
    spec = type("Spec", (), {"runtime": "java17", "memory_mb": 512, "handler": "H::h"})
    spec.architecture = os.uname().machine.replace("aarch64", "arm64")
    argv = runtimes.launch(spec, layout, tmp_path, tmp_path, found).argv
    assert f"-D{java.JNI_PROPERTY}=/ric/jni/{name}" in argv


def test_without_the_jni_library_the_ric_finds_its_own(tmp_path):
    assert java.jni_library(tmp_path) is None  # no jar: nothing extracted
    layout = Layout("/var/task", "/opt", "/tmp", "/var/runtime", "/var/runtime", "/ric")
    found = runtimes.Prepared("java17", "/jdk/bin/java", "/jdk", "17.0.15", tmp_path)
    spec = type("Spec", (), {"runtime": "java17", "memory_mb": 512, "handler": "H::h"})
    spec.architecture = os.uname().machine.replace("aarch64", "arm64")
    argv = runtimes.launch(spec, layout, tmp_path, tmp_path, found).argv
    assert not any(java.JNI_PROPERTY in arg for arg in argv)
