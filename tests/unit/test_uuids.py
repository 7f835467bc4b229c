import os
import re
import uuid

from sandlot.uuids import uuid4_text


def test_a_uuid4_text_is_a_version_4_rfc_4122_uuid_in_str_uuid4s_format():
    for _ in range(5000):
        text = uuid4_text()
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", text
        )
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text


def test_uuid4_texts_do_not_repeat_and_a_forked_child_draws_different_ones():
    assert len({uuid4_text() for _ in range(100_000)}) == 100_000
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first id, to the parent
        os.write(write, uuid4_text().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert child != uuid4_text()
