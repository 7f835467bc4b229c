"""Deployment packages: zip checks, safe extraction, executable bits, read-only results."""

from __future__ import annotations

import io
import os
import stat
import zipfile

import pytest

from sandlot.services.awslambda import code


def build_zip(entries: list[tuple[str, bytes | str, int]], *, system: int = 3) -> bytes:
    """A zip of (name, content, unix mode incl. file type) entries."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content, mode in entries:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.create_system = system
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


FILE, EXEC, LINK, DIR = 0o100644, 0o100755, 0o120777, 0o040755


def extract_bytes(tmp_path, data: bytes):
    source = tmp_path / "package.zip"
    source.write_bytes(data)
    dest = tmp_path / "code" / "digest"
    code.extract(source, dest)
    return dest


def test_extracts_files_with_exec_bits_read_only(tmp_path):
    data = build_zip(
        [
            ("bootstrap", "#!/bin/sh\necho hi\n", EXEC),
            ("lib/", "", DIR),
            ("lib/app.py", "x = 1\n", FILE),
            ("nested/deep/mod.py", "y = 2\n", FILE),  # parent directories are implicit
        ]
    )
    assert code.inspect_zip(data) == len("#!/bin/sh\necho hi\n") + 6 + 6
    dest = extract_bytes(tmp_path, data)
    assert (dest / "lib" / "app.py").read_text() == "x = 1\n"
    assert stat.S_IMODE((dest / "bootstrap").stat().st_mode) == 0o555
    assert stat.S_IMODE((dest / "lib" / "app.py").stat().st_mode) == 0o444
    assert stat.S_IMODE((dest / "nested" / "deep").stat().st_mode) == 0o555
    assert stat.S_IMODE(dest.stat().st_mode) == 0o555
    assert os.access(dest / "bootstrap", os.X_OK)
    assert not list((tmp_path / "code").glob(".tmp-*"))
    code.remove_tree(dest)
    assert not dest.exists()


def test_zip_without_unix_modes_is_readable_not_executable(tmp_path):
    dest = extract_bytes(tmp_path, build_zip([("app.py", "pass\n", 0)], system=0))
    assert stat.S_IMODE((dest / "app.py").stat().st_mode) == 0o444


@pytest.mark.parametrize(
    "name", ["../evil.py", "a/../../evil.py", "/etc/evil", "C:/evil", "..\\evil.py"]
)
def test_zip_slip_paths_are_refused(name):
    with pytest.raises(code.BadPackage):
        code.inspect_zip(build_zip([(name, "boom", FILE)]))


@pytest.mark.parametrize("target", ["/etc/passwd", "../outside", "a/../../outside"])
def test_links_pointing_outside_are_refused(target):
    with pytest.raises(code.BadPackage):
        code.inspect_zip(build_zip([("link", target, LINK)]))


def test_links_inside_the_package_are_kept(tmp_path):
    data = build_zip([("lib/real.py", "z = 3\n", FILE), ("alias.py", "lib/real.py", LINK)])
    dest = extract_bytes(tmp_path, data)
    assert (dest / "alias.py").is_symlink()
    assert (dest / "alias.py").read_text() == "z = 3\n"


def test_chained_links_escaping_for_real_are_refused(tmp_path):
    # Each target stays inside lexically, but p/q/up resolves to the root and
    # p/q/esc goes one level above it through that link.
    data = build_zip([("p/q/up", "../..", LINK), ("p/q/esc", "up/../x", LINK)])
    code.inspect_zip(data)  # lexically fine
    with pytest.raises(code.BadPackage):
        extract_bytes(tmp_path, data)
    assert not (tmp_path / "code" / "digest").exists()
    assert not list((tmp_path / "code").glob(".tmp-*"))


def test_nothing_is_written_through_a_link(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    # A link named like a directory, then a file "inside" it: refused before writing.
    data = build_zip([("d", str(outside), LINK), ("d/pwned", "x", FILE)])
    with pytest.raises(code.BadPackage):
        code.inspect_zip(data)
    assert not (outside / "pwned").exists()


def test_a_path_cannot_be_file_and_directory():
    with pytest.raises(code.BadPackage):
        code.inspect_zip(build_zip([("a", "x", FILE), ("a/b", "y", FILE)]))


def test_not_a_zip_is_refused():
    with pytest.raises(code.BadPackage):
        code.inspect_zip(b"PK\x03\x04 certainly not a zip")


def test_sizes_lying_about_the_content_are_caught(tmp_path):
    data = bytearray(build_zip([("big.txt", "A" * 5000, FILE)]))
    # Shrink the declared uncompressed size in both headers: the content is larger.
    data = bytes(data).replace((5000).to_bytes(4, "little"), (10).to_bytes(4, "little"))
    assert code.inspect_zip(data) == 10
    with pytest.raises(code.BadPackage):
        extract_bytes(tmp_path, data)


def test_extract_is_idempotent(tmp_path):
    data = build_zip([("app.py", "pass\n", FILE)])
    dest = extract_bytes(tmp_path, data)
    code.extract(tmp_path / "package.zip", dest)  # already there: nothing to do
    assert (dest / "app.py").exists()
