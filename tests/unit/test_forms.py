"""POST Object's multipart/form-data decoder: fields, the streamed file, S3's errors."""

from __future__ import annotations

import random

import pytest

from sandlot.protocol import ServiceError
from sandlot.protocol.forms import MAX_PRE_DATA, FormReader, boundary_of

CONTENT = b"line one\r\n--XyQ not the boundary\r\n-\r\n--Xy" * 500 + b"end"


def _body(fields: dict[str, str], content: bytes = CONTENT, filename: str = "f.txt") -> bytes:
    parts = [
        f'--XyZ\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: text/plain\r\n\r\n".encode()
    )
    return b"".join(parts) + content + b"\r\n--XyZ--\r\nafter the form: ignored"


def _read(body: bytes, sizes: int = 0) -> tuple[FormReader, bytes]:
    reader, out, i = FormReader("XyZ"), [], 0
    rng = random.Random(sizes)
    while i < len(body):
        n = rng.randint(1, 64) if sizes else len(body)
        out += reader.feed(body[i : i + n])
        i += n
    reader.finish()
    return reader, b"".join(out)


@pytest.mark.parametrize("seed", range(40))
def test_any_chunking_gives_the_same_form(seed):
    reader, content = _read(_body({"key": "a/${filename}", "tag": "1", "Tag": "2"}), seed)
    assert content == CONTENT and reader.done
    assert reader.fields == {"key": "a/${filename}", "tag": "1", "Tag": "2"}
    assert reader.filename == "f.txt"


def test_repeated_fields_join_with_commas_and_quoted_names():
    body = _body({"a": "1"}).replace(b'name="a"', b'name="a"', 1)
    body = body.replace(b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"",
                        b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\n2\r\n'
                        b'--XyZ\r\nContent-Disposition: form-data; name="file"', 1)  # fmt: skip
    reader, _ = _read(body)
    assert reader.fields["a"] == "1,2"
    reader, _ = _read(_body({}, filename='C:\\\\dir\\\\x \\"q\\".txt'))
    assert reader.filename == 'C:\\dir\\x "q".txt'


def test_the_boundary_inside_the_file_is_refused_not_cut_short():
    with pytest.raises(ServiceError) as inside:
        _read(_body({"key": "k"}, content=b"abc\r\n--XyZ-and-more"))
    assert inside.value.code == "MalformedPOSTRequest"


def test_errors():
    with pytest.raises(ServiceError) as no_form:
        boundary_of("text/plain")
    assert (no_form.value.code, no_form.value.status) == ("PreconditionFailed", 412)
    assert boundary_of('multipart/form-data; boundary="a b"') == "a b"
    no_file = b'--XyZ\r\nContent-Disposition: form-data; name="key"\r\n\r\nk\r\n--XyZ--\r\n'
    with pytest.raises(ServiceError) as missing:
        _read(no_file)
    assert missing.value.code == "IncorrectNumberOfFilesInPostRequest"
    with pytest.raises(ServiceError) as cut:
        _read(_body({"key": "k"})[:-40])
    assert cut.value.code == "MalformedPOSTRequest"
    with pytest.raises(ServiceError) as big:
        _read(_body({"key": "k", "x-amz-meta-big": "x" * (MAX_PRE_DATA + 1)}))
    assert big.value.code == "MaxPostPreDataLengthExceededError"
    with pytest.raises(ServiceError) as garbage:
        _read(b"--XyZ\r\nNot-A-Disposition: x\r\n\r\nv\r\n--XyZ--\r\n")
    assert garbage.value.code == "MalformedPOSTRequest"
