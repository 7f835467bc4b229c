"""Unpacking image layers (execution/images.py): the OCI layer rules (order, whiteouts,
opaque directories, hard links) and hostile layers that try to write outside the root;
what an image's config and a function's ImageConfig say to run."""

from __future__ import annotations

import gzip
import tarfile
from pathlib import Path

import pytest

from sandlot.execution.images import LayerError, apply_layer, launch, unpacked_root
from tests.e2e.images import Entry, layer_tar

DIR, SYM, LNK = tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE


def _layer(tmp_path: Path, name: str, entries: list[Entry], gz: bool = True) -> Path:
    data = layer_tar(entries)
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_layers_apply_in_order_with_whiteouts_and_hard_links(tmp_path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    apply_layer(root, _layer(tmp_path, "1", [
        Entry("usr", kind=DIR, mode=0o755), Entry("usr/lib", kind=DIR, mode=0o755),
        Entry("usr/lib/a", b"a"), Entry("lib", kind=SYM, link="usr/lib"),
        Entry("etc", kind=DIR, mode=0o755), Entry("etc/old", b"old"), Entry("etc/keep", b"k"),
        Entry("var", kind=DIR), Entry("var/x", b"x"), Entry("var/y", b"y"),
        Entry("bin/tool", b"#!", mode=0o4755),
    ]))  # fmt: skip
    apply_layer(root, _layer(tmp_path, "2", [
        Entry("etc/.wh.old"), Entry("var/.wh..wh..opq"), Entry("var/z", b"z"),
        Entry("lib/b", b"b"),  # through the image's symlink: lands in usr/lib
        Entry("usr/lib/a2", kind=LNK, link="usr/lib/a"),
        Entry("etc/keep", b"replaced"),
    ], gz=False))  # fmt: skip
    assert not (root / "etc/old").exists() and (root / "etc/keep").read_bytes() == b"replaced"
    assert sorted(p.name for p in (root / "var").iterdir()) == ["z"]
    assert (root / "usr/lib/b").read_bytes() == b"b"
    assert (root / "usr/lib/a2").stat().st_ino == (root / "usr/lib/a").stat().st_ino
    assert (root / "bin/tool").stat().st_mode & 0o7777 == 0o755  # set-id dropped


@pytest.mark.parametrize(
    "entries",
    [
        [Entry("../../escaped", b"x")],
        [Entry("/abs/../../escaped", b"x")],
        [Entry("out", kind=SYM, link="/" + "../" * 10 + "TMP"), Entry("out/escaped", b"x")],
        [Entry("rel", kind=SYM, link="../../../TMP"), Entry("rel/escaped", b"x")],
    ],
)
def test_a_hostile_layer_cannot_write_outside_its_root(tmp_path, entries) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    fixed = [Entry(e.name, e.data, e.mode, e.kind, e.link.replace("TMP", str(outside).lstrip("/")))
             for e in entries]  # fmt: skip
    root = tmp_path / "deep" / "er" / "root"
    root.mkdir(parents=True)
    apply_layer(root, _layer(tmp_path, "bad", fixed))
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "deep" / "escaped").exists()


def test_a_hard_link_to_something_outside_is_refused(tmp_path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s")
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(LayerError):
        apply_layer(root, _layer(tmp_path, "bad", [Entry("x", kind=LNK, link="../secret")]))
    with pytest.raises(LayerError):
        apply_layer(root, _layer(tmp_path, "bad2", [
            Entry("l", kind=SYM, link=str(secret)), Entry("x", kind=LNK, link="l")]))  # fmt: skip


def test_unpacked_roots_are_cached_by_digest(tmp_path) -> None:
    layer = _layer(tmp_path, "1", [Entry("f", b"1")])
    first = unpacked_root(tmp_path / "cache", "sha256:abc", [layer])
    layer.write_bytes(b"not read again")
    assert unpacked_root(tmp_path / "cache", "sha256:abc", [layer]) == first
    assert (first / "f").read_bytes() == b"1"
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["sha256-abc"]


def test_launch_applies_image_config_over_the_images_config() -> None:
    config = {"architecture": "arm64", "config": {
        "Entrypoint": ["/lambda-entrypoint.sh"], "Cmd": ["app.handler"], "WorkingDir": "/var/task",
        "Env": ["PATH=/usr/bin", "LANG=C.UTF-8", "odd"]}}  # fmt: skip
    plain = launch(config, None)
    assert plain.argv == ("/lambda-entrypoint.sh", "app.handler")
    assert (plain.handler, plain.workdir, plain.architecture) == (
        "app.handler",
        "/var/task",
        "arm64",
    )
    assert plain.environment == (("PATH", "/usr/bin"), ("LANG", "C.UTF-8"))
    changed = launch(
        config, {"EntryPoint": ["/main"], "Command": ["other"], "WorkingDirectory": "/w"}
    )
    assert (changed.argv, changed.handler, changed.workdir) == (("/main", "other"), "other", "/w")
    assert launch({"architecture": "amd64", "config": {}}, None).argv == ()
