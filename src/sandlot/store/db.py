"""The durable store: SQLite in WAL mode, declarative tables and versioned migrations.

Only this module writes SQL. Services declare their tables as ``Table`` values and their
schema history as a list of ``Migration`` steps (in their own folder); providers then
read and write rows as dicts through ``Store``.

Durability: WAL with ``synchronous=NORMAL`` — a committed transaction is in the WAL
file before ``commit`` returns, so it survives a kill -9 of the server (the OS keeps the
pages). A power cut can lose the last commits but never corrupts the database.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_TYPES = frozenset({"TEXT", "INTEGER", "REAL", "BLOB"})


@dataclass(frozen=True)
class Table:
    """A table: ``columns`` maps names to SQLite types; ``key`` is the primary key."""

    name: str
    columns: dict[str, str]
    key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        for name, kind in self.columns.items():
            if kind not in _TYPES or not name.isidentifier():
                raise ValueError(f"bad column {name} {kind} in {self.name}")
        if not set(self.key) <= set(self.columns):
            raise ValueError(f"key of {self.name} names unknown columns")


@dataclass(frozen=True)
class Migration:
    """One schema step of a component: create a table, or add a column to one."""

    version: int
    create: Table | None = None
    add_column: tuple[Table, str] | None = None  # (table as it is now, new column)


@dataclass
class _Statements:
    """SQL text per table, built once."""

    upsert: str
    insert: str
    get: str
    delete: str
    update: str
    columns: tuple[str, ...] = field(default_factory=tuple)
    update_columns: tuple[str, ...] = field(default_factory=tuple)  # SET columns, then key


# The reader maps the database instead of read()ing pages into SQLite's cache: a random
# GetItem on a 1,000,000-item table costs ~185 instead of ~235 µs of server CPU
# (docs/performance.md). Address space only; the pages are the OS's page cache. The
# writer keeps read(): mapping it too measured no better.
MMAP_PRAGMA = "mmap_size=1073741824"


class Store:
    """One SQLite database. Thread-safe: one connection guarded by a lock.

    Mutations run inside ``transaction()``; a single ``put``/``delete`` outside one is its
    own transaction.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30
        )
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._depth = 0
        self._owner: int | None = None  # the thread whose transaction is open
        self._after_commit: list[Callable[[], None]] = []
        self._statements: dict[str, _Statements] = {}
        self._increments: dict[tuple[str, ...], str] = {}  # increment's SQL by its shape
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            "busy_timeout=30000",
        ):
            self._conn.execute(f"PRAGMA {pragma}")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_versions "
            "(component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        # Reads outside the reading thread's own transaction go to a second connection:
        # in WAL mode it reads the last commit while another thread's transaction (a group
        # commit on a worker thread) is still writing, where waiting for that thread's
        # lock would stall the event loop for the whole commit.
        self._reader = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30
        )
        self._reader.row_factory = sqlite3.Row
        self._reader.execute("PRAGMA busy_timeout=30000")
        self._reader.execute(f"PRAGMA {MMAP_PRAGMA}")
        self._read_lock = threading.Lock()

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._reader.close()
            self._conn.close()

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The connection a read uses: the open transaction's own when this thread holds
        it (it must see its uncommitted writes), else the reader (the last commit)."""
        if self._owner == threading.get_ident():
            with self._lock:
                yield self._conn
        else:
            with self._read_lock:
                yield self._reader

    # -- schema -------------------------------------------------------------------

    def migrate(self, component: str, migrations: Sequence[Migration]) -> int:
        """Apply the steps of ``component`` newer than its recorded version, atomically."""
        with self.transaction():
            row = self._conn.execute(
                "SELECT version FROM schema_versions WHERE component = ?", (component,)
            ).fetchone()
            current = row[0] if row else 0
            for step in sorted(migrations, key=lambda m: m.version):
                if step.version <= current:
                    continue
                if step.create is not None:
                    self._create(step.create)
                if step.add_column is not None:
                    table, column = step.add_column
                    existing = self._conn.execute(f"PRAGMA table_info({table.name})").fetchall()
                    # A table created by this run's earlier step already has the column.
                    if column not in {info[1] for info in existing}:
                        self._conn.execute(
                            f"ALTER TABLE {table.name} ADD COLUMN {column} {table.columns[column]}"
                        )
                current = step.version
            self._conn.execute(
                "INSERT OR REPLACE INTO schema_versions (component, version) VALUES (?, ?)",
                (component, current),
            )
        return current

    def _create(self, table: Table) -> None:
        cols = ", ".join(f"{name} {kind}" for name, kind in table.columns.items())
        self._conn.execute(
            f"CREATE TABLE {table.name} ({cols}, PRIMARY KEY ({', '.join(table.key)}))"
        )
        for index in table.indexes:
            self._conn.execute(
                f"CREATE INDEX {table.name}__{'_'.join(index)} ON {table.name} ({', '.join(index)})"
            )

    # -- transactions -------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction (``BEGIN IMMEDIATE``); nested calls join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            self._owner = threading.get_ident()
            try:
                yield
            except BaseException:
                self._depth = 0
                self._owner = None
                self._after_commit.clear()
                self._conn.execute("ROLLBACK")
                raise
            try:
                self._conn.execute("COMMIT")
            except BaseException:
                self._after_commit.clear()
                raise
            finally:
                self._depth = 0
                self._owner = None
            callbacks, self._after_commit = self._after_commit, []
            for callback in callbacks:
                callback()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the open transaction has committed (at once outside
        one): how a writer tells waiters about rows they can now read (the reader
        connection sees only committed rows). A transaction that rolls back drops its
        callbacks; a savepoint undone inside one keeps them (a spurious wake-up)."""
        with self._lock:
            if self._depth:
                self._after_commit.append(callback)
                return
        callback()

    @property
    def in_transaction(self) -> bool:
        """Whether this thread has a transaction open: what it reads now may roll back."""
        return self._owner == threading.get_ident()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A step inside the current transaction that is undone alone if it raises (the
        rest of the transaction stands): how group commits keep writers apart."""
        with self._lock:
            if not self._depth:
                raise RuntimeError("a savepoint needs an open transaction")
            self._conn.execute("SAVEPOINT step")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK TO step")
                self._conn.execute("RELEASE step")
                raise
            self._conn.execute("RELEASE step")

    # -- rows -----------------------------------------------------------------------

    def _sql(self, table: Table) -> _Statements:
        statements = self._statements.get(table.name)
        if statements is None:
            cols = tuple(table.columns)
            marks = ", ".join("?" for _ in cols)
            where = " AND ".join(f"{k} = ?" for k in table.key)
            statements = _Statements(
                upsert=f"INSERT OR REPLACE INTO {table.name} ({', '.join(cols)}) VALUES ({marks})",
                insert=f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({marks})",
                get=f"SELECT * FROM {table.name} WHERE {where}",
                delete=f"DELETE FROM {table.name} WHERE {where}",
                update=f"UPDATE {table.name} SET "
                + ", ".join(f"{c} = ?" for c in cols if c not in table.key)
                + f" WHERE {where}",
                columns=cols,
                update_columns=(*(c for c in cols if c not in table.key), *table.key),
            )
            self._statements[table.name] = statements
        return statements

    def put(self, table: Table, row: dict[str, Any], *, replace: bool = True) -> bool:
        """Write ``row``; with ``replace=False`` an existing key is left alone (returns False)."""
        sql = self._sql(table)
        values = tuple(row.get(c) for c in sql.columns)
        with self.transaction():
            if replace:
                self._conn.execute(sql.upsert, values)
                return True
            try:
                self._conn.execute(sql.insert, values)
            except sqlite3.IntegrityError:
                return False
            return True

    def increment(self, table: Table, key: dict[str, Any], deltas: dict[str, int]) -> None:
        """Add ``deltas`` to numeric columns of the row with ``key`` (a new row starts from
        the deltas): running totals kept in the transaction that changes what they count."""
        shape = (table.name, *key, "", *deltas)
        sql = self._increments.get(shape)
        if sql is None:  # built once per shape: running totals change on every write
            for col in (*key, *deltas):
                _check_column(table, col)
            cols = [*key, *deltas]
            sql = self._increments[shape] = (
                f"INSERT INTO {table.name} ({', '.join(cols)}) "
                f"VALUES ({', '.join('?' for _ in cols)}) "
                f"ON CONFLICT ({', '.join(table.key)}) DO UPDATE SET "
                + ", ".join(f"{c} = {c} + excluded.{c}" for c in deltas)
            )
        with self.transaction():
            self._conn.execute(sql, (*key.values(), *deltas.values()))

    def put_many(self, table: Table, rows: Iterable[dict[str, Any]]) -> None:
        """Write (insert or replace) many rows in one transaction."""
        sql = self._sql(table)
        with self.transaction():
            self._conn.executemany(
                sql.upsert, (tuple(row.get(c) for c in sql.columns) for row in rows)
            )

    def update_many(self, table: Table, rows: Iterable[dict[str, Any]]) -> None:
        """Overwrite the non-key columns of rows that still exist (a row deleted meanwhile
        stays deleted, where ``put_many`` would bring it back), in one transaction."""
        sql = self._sql(table)
        with self.transaction():
            self._conn.executemany(
                sql.update, (tuple(row.get(c) for c in sql.update_columns) for row in rows)
            )

    def delete_many(self, table: Table, keys: Iterable[Sequence[Any]]) -> int:
        """Delete the rows with these keys (each in ``table.key`` order) in one
        transaction; how many existed."""
        with self.transaction():
            return self._conn.executemany(self._sql(table).delete, keys).rowcount

    def get(self, table: Table, *key: Any) -> dict[str, Any] | None:
        """The row whose primary key is ``key`` (in ``table.key`` order), or None."""
        with self._reading() as conn:
            row = conn.execute(self._sql(table).get, key).fetchone()
        return dict(row) if row is not None else None

    def delete(self, table: Table, *key: Any) -> bool:
        """Delete the row with this key; True when one existed."""
        with self.transaction():
            return self._conn.execute(self._sql(table).delete, key).rowcount > 0

    def select(
        self,
        table: Table,
        where: dict[str, Any] | None = None,
        *,
        order_by: Sequence[str] = (),
        after: dict[str, Any] | None = None,
        limit: int | None = None,
        descending: bool = False,
        bounds: dict[str, tuple[Any, Any]] | None = None,
        excluding: dict[str, Collection[Any]] | None = None,
        columns: Sequence[str] | None = None,
    ) -> list[dict[str, Any]] | list[tuple]:
        """Rows matching ``where`` (equality), in ``order_by`` order (reversed when
        ``descending``), optionally strictly after the ``after`` position of the
        ``order_by`` columns in that order (keyset pagination). ``bounds`` maps a column
        to a half-open range ``(lowest, beyond)``: ``lowest <= column < beyond``, either
        end None for unbounded (an indexed range scan, e.g. a key prefix). ``excluding``
        maps a column to values its rows must not have (filtered in SQL, so ``limit``
        counts only rows returned). With ``columns``, each row is the tuple of those
        columns' values, in that order, instead of a dict (hot range reads: no dict per
        row)."""
        for col in (*order_by, *(columns or ())):
            _check_column(table, col)
        clauses, args = _conditions(table, where, bounds)
        for col, values in (excluding or {}).items():
            _check_column(table, col)
            if values:  # one statement text whatever the count: the values as JSON
                clauses.append(f"{col} NOT IN (SELECT value FROM json_each(?))")
                args.append(json.dumps(list(values)))
        if after:
            cols = ", ".join(order_by)
            beyond = "<" if descending else ">"
            clauses.append(f"({cols}) {beyond} ({', '.join('?' for _ in order_by)})")
            args.extend(after[c] for c in order_by)
        sql = f"SELECT {', '.join(columns) if columns else '*'} FROM {table.name}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        if order_by:
            direction = " DESC" if descending else ""
            sql += " ORDER BY " + ", ".join(col + direction for col in order_by)
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._reading() as conn:
            if columns:
                cursor = conn.cursor()
                cursor.row_factory = None  # plain tuples
                return cursor.execute(sql, args).fetchall()
            return [dict(r) for r in conn.execute(sql, args)]

    def trim(self, table: Table, order_column: str, keep: int) -> int:
        """Delete all but the ``keep`` rows with the highest ``order_column``; how many went."""
        _check_column(table, order_column)
        sql = (
            f"DELETE FROM {table.name} WHERE rowid IN (SELECT rowid FROM {table.name} "
            f"ORDER BY {order_column} DESC LIMIT -1 OFFSET ?)"
        )
        with self.transaction():
            return self._conn.execute(sql, (keep,)).rowcount

    def count(
        self,
        table: Table,
        where: dict[str, Any] | None = None,
        *,
        bounds: dict[str, tuple[Any, Any]] | None = None,
    ) -> int:
        """How many rows match ``where`` (equality) and ``bounds`` (as in ``select``)."""
        clauses, args = _conditions(table, where, bounds)
        sql = f"SELECT COUNT(*) FROM {table.name}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        with self._reading() as conn:
            return conn.execute(sql, args).fetchone()[0]

    def total(
        self, table: Table, column: str, where: dict[str, Any] | None = None
    ) -> tuple[int, int]:
        """(how many rows match ``where``, the sum of their ``column``)."""
        _check_column(table, column)
        clauses, args = _conditions(table, where, None)
        sql = f"SELECT COUNT(*), COALESCE(SUM({column}), 0) FROM {table.name}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        with self._reading() as conn:
            count, total = conn.execute(sql, args).fetchone()
        return count, total

    def delete_where(
        self,
        table: Table,
        where: dict[str, Any],
        *,
        bounds: dict[str, tuple[Any, Any]] | None = None,
    ) -> int:
        """Delete the rows matching ``where`` and ``bounds`` (as in ``select``); how many."""
        clauses, args = _conditions(table, where, bounds)
        if not clauses:
            raise ValueError("delete_where needs a condition")
        sql = f"DELETE FROM {table.name} WHERE " + " AND ".join(clauses)
        with self.transaction():
            return self._conn.execute(sql, args).rowcount


def _check_column(table: Table, column: str) -> None:
    if column not in table.columns:
        raise KeyError(f"{table.name} has no column {column}")


def _conditions(
    table: Table, where: dict[str, Any] | None, bounds: dict[str, tuple[Any, Any]] | None
) -> tuple[list[str], list[Any]]:
    """WHERE clauses: equalities, then half-open ranges ``lowest <= col < beyond``."""
    clauses, args = [], []
    for col, value in (where or {}).items():
        _check_column(table, col)
        clauses.append(f"{col} = ?")
        args.append(value)
    for col, (lowest, beyond) in (bounds or {}).items():
        _check_column(table, col)
        if lowest is not None:
            clauses.append(f"{col} >= ?")
            args.append(lowest)
        if beyond is not None:
            clauses.append(f"{col} < ?")
            args.append(beyond)
    return clauses, args
