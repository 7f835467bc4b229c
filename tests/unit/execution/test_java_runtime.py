"""Finding the JDK a ``javaNN`` runtime names, and fetching the Java Runtime Interface
Client's pinned jars from a Maven repository (a local HTTP server here), checksums and
all."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from sandlot.execution import runtimes
from sandlot.execution.runtimes import java


def fake_jdk(root: Path, version: str) -> Path:
    """A JDK's layout: an executable bin/java and the release file naming its version."""
    (root / "bin").mkdir(parents=True)
    executable = root / "bin" / "java"
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    (root / "release").write_text(f'IMPLEMENTOR="test"\nJAVA_VERSION="{version}"\n')
    return executable


@pytest.fixture
def no_host_java(monkeypatch, tmp_path):
    """Discovery sees only the JDKs a test makes."""
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    monkeypatch.setattr(java, "JVM_DIR", tmp_path / "jvm")
    for major in (11, 17, 21, 25):
        monkeypatch.delenv(java.variable(major), raising=False)


@pytest.mark.parametrize(
    ("version", "major"), [("17.0.15", 17), ("21", 21), ("1.8.0_392", 8), ("25.0.3", 25)]
)
def test_major_of_java_versions(version, major):
    assert java.major_of(version) == major


def test_the_jvm_directory_is_searched_for_the_major(no_host_java, tmp_path):
    fake_jdk(tmp_path / "jvm" / "java-17-openjdk-amd64", "17.0.15")
    fake_jdk(tmp_path / "jvm" / "temurin-21-jdk-amd64", "21.0.9")
    found = java.find(21)
    assert found.home == str(tmp_path / "jvm" / "temurin-21-jdk-amd64")
    assert found.version == "21.0.9"
    assert found.executable.endswith("/bin/java")


def test_java_home_wins_over_the_jvm_directory(no_host_java, monkeypatch, tmp_path):
    fake_jdk(tmp_path / "jvm" / "java-17-openjdk-amd64", "17.0.15")
    fake_jdk(tmp_path / "home17", "17.0.2")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "home17"))
    assert java.find(17).version == "17.0.2"


def test_the_variable_must_name_the_major(no_host_java, monkeypatch, tmp_path):
    executable = fake_jdk(tmp_path / "jdk17", "17.0.15")
    monkeypatch.setenv(java.variable(21), str(executable))
    with pytest.raises(java.NotFound) as caught:
        java.find(21)
    assert f"{java.variable(21)}={executable} is Java 17.0.15, not Java 21" in str(caught.value)


def test_a_missing_major_says_how_to_provide_it(no_host_java):
    with pytest.raises(java.NotFound) as caught:
        java.find(11)
    assert "openjdk-11-jdk-headless" in str(caught.value)
    assert java.variable(11) in str(caught.value)


def test_java8_and_unknown_runtimes_are_invalid():
    for runtime in ("java8.al2", "dotnet8"):
        with pytest.raises(runtimes.RuntimeUnavailable) as caught:
            runtimes.prepare(runtime)
        assert caught.value.error_type == "Runtime.InvalidRuntime"
        assert "java11 and later" in caught.value.message


@pytest.fixture
def repository(monkeypatch, tmp_path):
    """A Maven repository serving two fake jars; RIC_JARS pins them."""
    files = {"g/a/1/a-1.jar": b"jar one", "g/b/2/b-2.jar": b"jar two"}
    served: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = files.get(self.path.lstrip("/"))
            served.append(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    pins = tuple((path, hashlib.sha256(body).hexdigest()) for path, body in files.items())
    monkeypatch.setattr(java, "RIC_JARS", pins)
    monkeypatch.setenv("SANDLOT_MAVEN_REPOSITORY", f"http://127.0.0.1:{server.server_port}/")
    monkeypatch.setattr(java, "cache_root", lambda: tmp_path / "cache")
    yield files, served
    server.shutdown()


def test_the_jars_are_fetched_once_and_verified(repository, tmp_path):
    files, served = repository
    jars = java.ric()
    assert sorted(p.name for p in jars.iterdir()) == ["a-1.jar", "b-2.jar"]
    assert (jars / "a-1.jar").read_bytes() == b"jar one"
    assert java.ric() == jars
    assert len(served) == 2  # the second call found them in the cache


def test_a_jar_that_does_not_match_its_pin_is_refused(repository, tmp_path):
    files, _ = repository
    files["g/b/2/b-2.jar"] = b"tampered"
    with pytest.raises(java.NotFound) as caught:
        java.ric()
    assert "not the pinned" in str(caught.value)
    assert list((tmp_path / "cache" / "java-ric").iterdir()) == []  # no half-fetched set
