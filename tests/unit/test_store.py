"""The store: tables, migrations, transactions, keyset pagination, and atomic blobs."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from sandlot.store import BlobStore, Migration, Store, Table

ITEMS = Table("items", {"account": "TEXT", "name": "TEXT", "size": "INTEGER"}, ("account", "name"))
ITEMS_V2 = Table(
    "items",
    {"account": "TEXT", "name": "TEXT", "size": "INTEGER", "note": "TEXT"},
    ("account", "name"),
)
MIGRATIONS = [Migration(1, create=ITEMS), Migration(2, add_column=(ITEMS_V2, "note"))]


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "db.sqlite")
    s.migrate("items", MIGRATIONS)
    yield s
    s.close()


def test_wal_mode(store):
    assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migrations_are_versioned_and_idempotent(tmp_path):
    s = Store(tmp_path / "db.sqlite")
    assert s.migrate("items", MIGRATIONS[:1]) == 1
    s.put(ITEMS, {"account": "a", "name": "x", "size": 1})
    assert s.migrate("items", MIGRATIONS) == 2
    assert s.migrate("items", MIGRATIONS) == 2
    assert s.get(ITEMS_V2, "a", "x") == {"account": "a", "name": "x", "size": 1, "note": None}


def test_put_get_delete(store):
    assert store.put(ITEMS_V2, {"account": "a", "name": "x", "size": 1})
    assert not store.put(ITEMS_V2, {"account": "a", "name": "x", "size": 2}, replace=False)
    assert store.get(ITEMS_V2, "a", "x")["size"] == 1
    assert store.delete(ITEMS_V2, "a", "x")
    assert not store.delete(ITEMS_V2, "a", "x")
    assert store.get(ITEMS_V2, "a", "x") is None


def test_select_paginates_by_key(store):
    for i in range(10):
        store.put(ITEMS_V2, {"account": "a", "name": f"n{i:02}", "size": i})
    store.put(ITEMS_V2, {"account": "b", "name": "other", "size": 0})
    first = store.select(ITEMS_V2, {"account": "a"}, order_by=("name",), limit=4)
    assert [r["name"] for r in first] == ["n00", "n01", "n02", "n03"]
    rest = store.select(ITEMS_V2, {"account": "a"}, order_by=("name",), after=first[-1])
    assert [r["name"] for r in rest] == [f"n{i:02}" for i in range(4, 10)]
    assert store.count(ITEMS_V2, {"account": "a"}) == 10
    assert store.total(ITEMS_V2, "size", {"account": "a"}) == (10, 45)
    assert store.total(ITEMS_V2, "size", {"account": "none"}) == (0, 0)
    store.increment(ITEMS_V2, {"account": "c", "name": "n"}, {"size": 5})
    store.increment(ITEMS_V2, {"account": "c", "name": "n"}, {"size": -2})
    assert store.get(ITEMS_V2, "c", "n")["size"] == 3


def test_select_columns_answers_tuples(store):
    for i in range(3):
        store.put(ITEMS_V2, {"account": "a", "name": f"n{i}", "size": i, "note": "x"})
    rows = store.select(ITEMS_V2, {"account": "a"}, order_by=("name",), after={"name": "n0"},
                        columns=("size", "name"))  # fmt: skip
    assert rows == [(1, "n1"), (2, "n2")]
    assert store.select(ITEMS_V2, {"account": "a"}, limit=1)[0]["note"] == "x"  # still dicts
    with pytest.raises(KeyError):
        store.select(ITEMS_V2, columns=("nope",))


def test_transaction_rolls_back_on_error(store):
    with pytest.raises(RuntimeError), store.transaction():
        store.put(ITEMS_V2, {"account": "a", "name": "x", "size": 1})
        raise RuntimeError("boom")
    assert store.get(ITEMS_V2, "a", "x") is None


def test_unknown_columns_are_refused(store):
    with pytest.raises(KeyError):
        store.select(ITEMS_V2, {"nope": 1})


def test_blob_round_trip(tmp_path):
    blobs = BlobStore(tmp_path / "blobs")
    info = blobs.write([b"hello ", b"world"])
    assert info.size == 11
    assert info.md5 == hashlib.md5(b"hello world").hexdigest()
    assert blobs.read(info.blob_id) == b"hello world"
    blobs.delete(info.blob_id)
    with pytest.raises(FileNotFoundError):
        blobs.read(info.blob_id)


_WRITER = textwrap.dedent(
    """
    import sys
    from sandlot.store import BlobStore, Migration, Store, Table
    T = Table("blobs", {"id": "TEXT", "sha256": "TEXT", "size": "INTEGER"}, ("id",))
    store = Store(sys.argv[1] + "/db.sqlite")
    store.migrate("t", [Migration(1, create=T)])
    blobs = BlobStore(sys.argv[1] + "/blobs")
    chunk = bytes(range(256)) * 4096  # 1 MiB
    n = 0
    while True:
        n += 1
        info = blobs.write(chunk for _ in range(1 + n % 5))
        store.put(T, {"id": info.blob_id, "sha256": info.sha256, "size": info.size})
        print(info.blob_id, flush=True)  # acknowledged only after the commit
    """
)


def test_kill_9_mid_write_leaves_no_partial_blob(tmp_path):
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    acknowledged = []
    deadline = time.monotonic() + 30
    while len(acknowledged) < 20 and time.monotonic() < deadline:
        acknowledged.append(writer.stdout.readline().strip())
    time.sleep(0.05)  # let it get into the middle of another blob
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    acknowledged += [line.strip() for line in writer.stdout if line.strip()]

    store = Store(tmp_path / "db.sqlite")
    blobs = BlobStore(tmp_path / "blobs")  # opening clears partial writes
    table = Table("blobs", {"id": "TEXT", "sha256": "TEXT", "size": "INTEGER"}, ("id",))
    for blob_id in acknowledged:
        row = store.get(table, blob_id)
        assert row is not None
        data = blobs.read(blob_id)
        assert len(data) == row["size"] and hashlib.sha256(data).hexdigest() == row["sha256"]
    assert os.listdir(tmp_path / "blobs" / "tmp") == []
    # Every blob file in place is complete (written whole, then renamed).
    for directory in (tmp_path / "blobs").iterdir():
        if directory.name != "tmp":
            for path in directory.iterdir():
                assert path.stat().st_size % (1024 * 1024) == 0


def test_select_descending_pages_backwards(store):
    store.put_many(ITEMS_V2, ({"account": "a", "name": f"n{i:02}", "size": i} for i in range(6)))
    newest = store.select(ITEMS_V2, {"account": "a"}, order_by=("name",), limit=2, descending=True)
    assert [r["name"] for r in newest] == ["n05", "n04"]
    older = store.select(
        ITEMS_V2, {"account": "a"}, order_by=("name",), after=newest[-1], descending=True
    )
    assert [r["name"] for r in older] == ["n03", "n02", "n01", "n00"]


def test_update_many_changes_only_rows_that_still_exist(store):
    store.put(ITEMS_V2, {"account": "a", "name": "x", "size": 1})
    store.update_many(
        ITEMS_V2,
        [{"account": "a", "name": "x", "size": 5}, {"account": "a", "name": "gone", "size": 9}],
    )
    assert store.get(ITEMS_V2, "a", "x")["size"] == 5
    assert store.get(ITEMS_V2, "a", "gone") is None  # an update never brings a row back


def test_select_excluding_counts_only_returned_rows(store):
    for i in range(6):
        store.put(ITEMS_V2, {"account": "a", "name": f"n{i}", "size": i})
    rows = store.select(
        ITEMS_V2, {"account": "a"}, order_by=("name",), excluding={"size": [0, 2]}, limit=3
    )
    assert [r["size"] for r in rows] == [1, 3, 4]


def test_reads_from_another_thread_see_the_last_commit_without_waiting(store):
    """A transaction open on one thread (a group commit's worker) neither blocks nor
    leaks into another thread's reads; its own reads see its uncommitted writes."""
    import threading

    store.put(ITEMS_V2, {"account": "a", "name": "x", "size": 1})
    opened, release, seen = threading.Event(), threading.Event(), {}

    def writer():
        with store.transaction():
            store.put(ITEMS_V2, {"account": "a", "name": "x", "size": 2})
            seen["own"] = store.get(ITEMS_V2, "a", "x")["size"]
            assert store.in_transaction
            opened.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    assert opened.wait(10)
    began = time.perf_counter()
    assert store.get(ITEMS_V2, "a", "x")["size"] == 1  # the last commit, at once
    assert not store.in_transaction
    assert time.perf_counter() - began < 1
    release.set()
    thread.join(10)
    assert seen["own"] == 2
    assert store.get(ITEMS_V2, "a", "x")["size"] == 2


def test_after_commit_runs_once_committed_and_never_after_a_rollback(store):
    seen: list[str] = []
    row = {"account": "a", "name": "n", "size": 1}
    with store.transaction():
        store.put(ITEMS, row)
        store.after_commit(lambda: seen.append(store._reader.execute("SELECT 1").fetchone()[0]))
        store.after_commit(lambda: seen.append(str(len(store.select(ITEMS)))))
        assert seen == []  # not before the commit
    assert seen == [1, "1"]  # the reader sees the committed row
    with pytest.raises(RuntimeError), store.transaction():
        store.after_commit(lambda: seen.append("rolled back"))
        raise RuntimeError("undo")
    store.after_commit(lambda: seen.append("outside"))  # no transaction: at once
    assert seen == [1, "1", "outside"]
