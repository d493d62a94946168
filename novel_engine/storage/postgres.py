"""The PostgreSQL SQL backend (asyncpg): a connection pool, the shared schema and migrations.

Migrations run on open under an advisory lock, so several processes starting at once apply each
one exactly once. A lost connection never leaves a half-written turn: a transaction that did not
reach COMMIT is rolled back by the server. Reads are retried once on a fresh connection; a commit
whose connection died is checked against the session head and, if it did not land, retried once
(the version check makes the retry safe). Anything else becomes a clear :class:`StoreError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from novel_engine.errors import ConflictError, StoreError
from novel_engine.storage.port import SessionRecord, TurnCommit
from novel_engine.storage.sql import SqlBackend, Tx

__all__ = ["PostgresBackend"]

_MIGRATION_LOCK = 0x6E6F76656C  # any constant shared by every process of this schema


def _driver():
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - depends on the install
        raise StoreError(
            "PostgreSQL needs asyncpg, a dependency of novel-engine that is missing: reinstall it (pip install novel-engine)",
            backend="postgresql",
        ) from None
    return asyncpg


def _lost(err: BaseException) -> bool:
    asyncpg = _driver()
    # InternalClientError: a pooled connection the server terminated while it sat idle can fail
    # its next use with "another operation is in progress" instead of a connection error.
    return isinstance(
        err,
        (
            OSError,
            ConnectionError,
            asyncpg.exceptions.ConnectionDoesNotExistError,
            asyncpg.exceptions.InterfaceError,
            asyncpg.exceptions.CannotConnectNowError,
            asyncpg.exceptions.AdminShutdownError,
            asyncpg.exceptions.InternalClientError,
        ),
    )


class _PgTx(Tx):
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[tuple]:
        return [tuple(r) for r in await self.conn.fetch(sql, *args)]

    async def execute(self, sql: str, *args: Any) -> int:
        status = await self.conn.execute(sql, *args)
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.conn.executemany(sql, rows)

    async def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        # COPY inside the transaction: a 10,000-event turn lands several times faster than with
        # one INSERT per row, and is rolled back with the rest of the turn if anything fails.
        await self.conn.copy_records_to_table(table, columns=list(columns), records=rows)


class PostgresBackend(SqlBackend):
    """Sessions, turns, events and the rest in PostgreSQL.

    Args:
        dsn: a ``postgresql://`` URL.
        min_size, max_size: the connection pool bounds.
    """

    dialect = "postgresql"

    def __init__(self, dsn: str, min_size: int = 1, max_size: int = 8) -> None:
        super().__init__()
        self.dsn = dsn
        self.min_size, self.max_size = min_size, max_size
        self._pool: Any = None

    async def open(self) -> None:
        if self._pool is not None:
            return
        asyncpg = _driver()
        try:
            self._pool = await asyncpg.create_pool(
                self.dsn, min_size=self.min_size, max_size=self.max_size, command_timeout=60
            )
        except (OSError, asyncpg.PostgresError, asyncpg.exceptions.InterfaceError) as err:
            raise StoreError(
                f"cannot connect to PostgreSQL ({_safe(self.dsn)}): {err}; check "
                "NOVEL_ENGINE_DATABASE_URL and that the server is running",
                backend="postgresql",
            ) from None
        async with self.transaction() as tx:
            await tx.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await self._migrate(tx)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        if self._pool is None:
            raise StoreError("the PostgreSQL store is not open", backend="postgresql")
        asyncpg = _driver()
        try:
            async with self._pool.acquire() as conn:
                try:
                    async with conn.transaction():
                        yield _PgTx(conn)
                except BaseException as err:
                    if _lost(err):
                        conn.terminate()  # never hand a broken connection out of the pool again
                    raise
        except asyncpg.exceptions.UniqueViolationError as err:
            raise ConflictError(f"conflicting write: {err}", backend="postgresql") from None
        except (
            asyncpg.PostgresError,
            asyncpg.exceptions.InterfaceError,
            asyncpg.exceptions.InternalClientError,
            OSError,
        ) as err:
            if isinstance(err, asyncpg.exceptions.SerializationError):
                raise ConflictError(f"conflicting write: {err}", backend="postgresql") from None
            raise StoreError(
                f"PostgreSQL error: {type(err).__name__}: {err}", backend="postgresql", lost=_lost(err)
            ) from None

    async def _retry_read(self, name: str, *args: Any) -> Any:
        try:
            return await getattr(super(), name)(*args)
        except StoreError as err:
            if not err.details.get("lost"):
                raise
            return await getattr(super(), name)(*args)  # the pool hands out a fresh connection

    async def get_session(self, session_id: str) -> SessionRecord:
        return await self._retry_read("get_session", session_id)

    async def turns(self, session_id: str, after: int = 0, upto: int | None = None):
        return await self._retry_read("turns", session_id, after, upto)

    async def events(self, session_id: str, after_seq: int = 0, limit: int | None = None):
        return await self._retry_read("events", session_id, after_seq, limit)

    async def event_rows(self, session_id: str, after_seq: int = 0):
        return await self._retry_read("event_rows", session_id, after_seq)

    async def checkpoint_row(self, session_id: str, at_or_before: int | None):
        return await self._retry_read("checkpoint_row", session_id, at_or_before)

    async def archives(self, session_id: str):
        return await self._retry_read("archives", session_id)

    async def list_sessions(self):
        return await self._retry_read("list_sessions")

    async def commit_turn(
        self, session_id: str, expected_version: int, commit: TurnCommit, checkpoint_key: str | None = None
    ) -> SessionRecord:
        try:
            return await super().commit_turn(session_id, expected_version, commit, checkpoint_key)
        except StoreError as err:
            if isinstance(err, ConflictError) or not err.details.get("lost"):
                raise
        # The connection died: the turn either committed whole or not at all. Look before retrying.
        try:
            head = await SqlBackend.get_session(self, session_id)
        except StoreError as err:
            raise StoreError(
                f"lost the connection to PostgreSQL while committing turn {commit.turn} of "
                f"{session_id!r} and could not reconnect: {err.message}; nothing half-written, "
                "resume the session when the database is back",
                backend="postgresql",
                session_id=session_id,
                turn=commit.turn,
            ) from None
        if head.version == expected_version + 1 and head.turn == commit.turn:
            return head
        try:
            return await super().commit_turn(session_id, expected_version, commit, checkpoint_key)
        except StoreError as err:
            if isinstance(err, ConflictError) or not err.details.get("lost"):
                raise
            raise StoreError(
                f"lost the connection to PostgreSQL twice while committing turn {commit.turn} of "
                f"{session_id!r} ({err.message}); nothing half-written, the turn is not committed: "
                "resume the session when the database is reachable",
                backend="postgresql",
                session_id=session_id,
                turn=commit.turn,
                lost=True,
            ) from None


def _safe(dsn: str) -> str:
    from urllib.parse import urlsplit

    u = urlsplit(dsn)
    return dsn.replace(f":{u.password}@", ":***@") if u.password else dsn
