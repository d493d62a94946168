"""The embedded SQL store: :class:`SqliteBackend`, the SQLite dialect of the SQL state store.

The logic (sessions, atomic turn commits, checkpoints, users, keys, audit log, migrations) is
:class:`~novel_engine.storage.sql.SqlBackend`'s, written once for both dialects; this module only
gives it a transaction over the standard library's ``sqlite3``, as
:mod:`novel_engine.storage.postgres` does over asyncpg. Statements arrive with ``$1``-style
placeholders and are rewritten to SQLite's ``?`` here.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from novel_engine.errors import ConflictError, StoreError
from novel_engine.storage.sql import SqlBackend, Tx

__all__ = ["SqliteBackend"]

_PLACEHOLDER = re.compile(r"\$\d+")


class _SqliteTx(Tx):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[tuple]:
        return self.conn.execute(_PLACEHOLDER.sub("?", sql), args).fetchall()

    async def execute(self, sql: str, *args: Any) -> int:
        return self.conn.execute(_PLACEHOLDER.sub("?", sql), args).rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(_PLACEHOLDER.sub("?", sql), rows)


class SqliteBackend(SqlBackend):
    """The embedded SQL store: one SQLite file (or memory), no server.

    Calls run synchronously under a lock: SQLite answers in microseconds, and one connection per
    store keeps transactions serial. WAL mode lets other processes read while this one writes;
    ``BEGIN IMMEDIATE`` makes a second writing process wait for the lock instead of failing late.

    Args:
        path: the database file, or None for an in-memory database.
    """

    dialect = "sqlite"

    def __init__(self, path: str | Path | None) -> None:
        super().__init__()
        self.path = Path(path) if path else None
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        if self._conn is not None:
            return
        try:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(self.path) if self.path else ":memory:", isolation_level=None, check_same_thread=False, timeout=30.0
            )
            if self.path is not None:
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable against process crashes
            conn.execute("PRAGMA foreign_keys=ON")
        except (sqlite3.Error, OSError) as err:
            raise StoreError(
                f"cannot open the SQLite store at {self.path}: {err}; check NOVEL_ENGINE_DATA_DIR "
                "or NOVEL_ENGINE_DATABASE_URL",
                backend="sqlite",
                path=str(self.path),
            ) from None
        self._conn = conn
        async with self.transaction() as tx:
            await self._migrate(tx)

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        if self._conn is None:
            raise StoreError("the SQLite store is not open", backend="sqlite")
        async with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as err:
                raise StoreError(f"SQLite store busy or unavailable: {err}", backend="sqlite") from None
            try:
                yield _SqliteTx(conn)
            except sqlite3.IntegrityError as err:
                conn.execute("ROLLBACK")
                raise ConflictError(f"conflicting write: {err}", backend="sqlite") from None
            except sqlite3.Error as err:
                conn.execute("ROLLBACK")
                raise StoreError(f"SQLite error: {err}", backend="sqlite") from None
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as err:
                conn.execute("ROLLBACK")
                raise StoreError(f"SQLite commit failed: {err}", backend="sqlite") from None
