"""The SQL side of the state store, written once for two dialects: SQLite (embedded) and PostgreSQL.

:class:`SqlBackend` holds the logic (sessions, atomic turn commits with optimistic versions and
gapless event sequence numbers, checkpoints, users, API keys, audit log) over a tiny transaction
interface; ``novel_engine.storage.sqlite.SqliteBackend`` implements it with the standard library,
and ``novel_engine.storage.postgres.PostgresBackend`` with asyncpg. Statements use ``$1``-style
placeholders; SQLite's ``?`` is substituted once per statement.

The schema is versioned (:mod:`novel_engine.storage.sql_schema`): ``schema_migrations`` records
every applied migration, and :meth:`SqlBackend.open` applies the missing ones in order.
"""

from __future__ import annotations

import functools
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from novel_engine.errors import ConflictError, NotFoundError
from novel_engine.storage.json_codec import dumps as _dumps
from novel_engine.storage.json_codec import loads as _loads
from novel_engine.storage.port import EventRecord, JsonText, SessionRecord, TurnCommit, TurnRecord
from novel_engine.storage.sql_accounts import SqlAccounts
from novel_engine.storage.sql_schema import migrations

__all__ = ["SqlBackend", "Tx"]


class Tx(ABC):
    """One open transaction: the four calls the SQL logic needs."""

    @abstractmethod
    async def fetch(self, sql: str, *args: Any) -> list[tuple]:
        """Rows of a query."""

    @abstractmethod
    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; return the number of rows it changed."""

    @abstractmethod
    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run a statement once per row."""

    async def fetchone(self, sql: str, *args: Any) -> tuple | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert many rows into ``table`` (a backend may use a bulk path, e.g. PostgreSQL's COPY)."""
        marks = ", ".join(f"${i + 1}" for i in range(len(columns)))
        await self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


@functools.lru_cache(maxsize=16)
def _parsed(text: str) -> Any:
    """A session's scenario or settings, parsed once: they never change after the session is
    created, and a large cast's scenario is megabytes of JSON read back with every head. The parsed
    value is shared between the records of a session: treat it as read-only."""
    return _loads(text)


def _session(row: tuple, parse: bool = True) -> SessionRecord:
    """The record of a row (id, scenario, settings, then the head); ``parse`` False: the scenario
    stays its JSON text."""
    sid, scenario, settings, seed, turn, version, last_seq, parent_id, parent_turn, owner, played_at = row
    return SessionRecord(
        id=sid,
        scenario=_parsed(scenario) if parse else scenario,
        settings=_parsed(settings),
        seed=int(seed),
        turn=int(turn),
        version=int(version),
        last_seq=int(last_seq),
        parent=(parent_id, int(parent_turn)) if parent_id else None,
        owner=owner,
        played_at=float(played_at) if played_at is not None else None,
    )


#: a head without its scenario and settings (see ``SqlBackend._head``)
_HEAD_COLS = "id, seed, turn, version, last_seq, parent_id, parent_turn, owner, played_at"
#: a whole session record: the head joined with its body
_SESSION_SELECT = (
    "SELECT s.id, b.scenario, b.settings, s.seed, s.turn, s.version, s.last_seq, s.parent_id, s.parent_turn, "
    "s.owner, s.played_at FROM sessions s JOIN session_bodies b ON b.session_id = s.id"
)
_BODIES = 64  # sessions whose scenario and settings a backend keeps parsed


class SqlBackend(SqlAccounts, ABC):
    """Sessions, turns, events, checkpoints, users, keys and audit log over SQL (see module doc)."""

    dialect = "sql"

    def __init__(self) -> None:
        self._bodies: dict[str, tuple[JsonText, str]] = {}  # session id -> its body's JSON (see _body)

    @abstractmethod
    async def open(self) -> None:
        """Connect and apply missing migrations."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections."""

    @abstractmethod
    def transaction(self) -> Any:
        """An async context manager yielding a :class:`Tx`; commits on success, rolls back on error."""

    async def _migrate(self, tx: Tx) -> None:
        await tx.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT)")
        done = {int(r[0]) for r in await tx.fetch("SELECT version FROM schema_migrations")}
        for version, statements in migrations(self.dialect):
            if version in done:
                continue
            for stmt in statements:
                await tx.execute(stmt)
            await tx.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, f"v{version}")

    async def schema_version(self) -> int:
        """The highest applied migration."""
        async with self.transaction() as tx:
            row = await tx.fetchone("SELECT MAX(version) FROM schema_migrations")
        return int(row[0] or 0)

    # -- sessions ------------------------------------------------------------------------------
    async def create_session(
        self, rec: SessionRecord, checkpoint: bytes | None = None, checkpoint_key: str | None = None
    ) -> SessionRecord:
        async with self.transaction() as tx:
            if await tx.fetchone("SELECT 1 FROM sessions WHERE id = $1", rec.id):
                raise ConflictError(f"session {rec.id!r} already exists", session_id=rec.id)
            await tx.execute(
                f"INSERT INTO sessions ({_HEAD_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                rec.id,
                rec.seed,
                rec.turn,
                rec.version,
                rec.last_seq,
                rec.parent[0] if rec.parent else None,
                rec.parent[1] if rec.parent else None,
                rec.owner,
                time.time(),
            )
            await tx.execute(
                "INSERT INTO session_bodies (session_id, scenario, settings) VALUES ($1, $2, $3)",
                rec.id,
                rec.scenario if isinstance(rec.scenario, JsonText) else _dumps(rec.scenario),
                _dumps(rec.settings),
            )
            if checkpoint is not None or checkpoint_key is not None:
                await tx.execute(
                    "INSERT INTO checkpoints (session_id, turn, data, object_key) VALUES ($1, $2, $3, $4)",
                    rec.id,
                    rec.turn,
                    checkpoint,
                    checkpoint_key,
                )
        return rec

    async def get_session(self, session_id: str) -> SessionRecord:
        async with self.transaction() as tx:
            row = await tx.fetchone(f"{_SESSION_SELECT} WHERE s.id = $1", session_id)
        if row is None:
            raise NotFoundError(f"no session {session_id!r} in the store", session_id=session_id)
        return _session(row)

    async def list_sessions(self) -> list[SessionRecord]:
        async with self.transaction() as tx:
            rows = await tx.fetch(f"{_SESSION_SELECT} ORDER BY s.id")
        return [_session(r) for r in rows]

    async def commit_turn(
        self, session_id: str, expected_version: int, commit: TurnCommit, checkpoint_key: str | None = None
    ) -> SessionRecord:
        n = len(commit.events)
        async with self.transaction() as tx:
            # The version check and the head update are one statement, so two writers can never
            # both pass it; the loser changes nothing and learns why below.
            row = await tx.fetchone(
                "UPDATE sessions SET version = version + 1, turn = $1, last_seq = last_seq + $2, played_at = $3 "
                "WHERE id = $4 AND version = $5 AND turn = $6 RETURNING last_seq",
                commit.turn,
                n,
                time.time(),
                session_id,
                expected_version,
                commit.turn - 1,
            )
            if row is None:
                head = await tx.fetchone("SELECT version, turn FROM sessions WHERE id = $1", session_id)
                if head is None:
                    raise NotFoundError(f"no session {session_id!r} in the store", session_id=session_id)
                raise ConflictError(
                    f"session {session_id!r} was changed by another writer (version {head[0]}, turn {head[1]}; "
                    f"this writer expected version {expected_version} before turn {commit.turn})",
                    session_id=session_id,
                    expected=expected_version,
                    actual=int(head[0]),
                    turn=commit.turn,
                )
            last = int(row[0])
            first = last - n + 1
            await tx.execute(
                "INSERT INTO turns (session_id, turn, record, first_seq, last_seq) VALUES ($1, $2, $3, $4, $5)",
                session_id,
                commit.turn,
                _dumps(commit.record),
                first,
                last,
            )
            if n:
                await tx.insert_rows(
                    "events",
                    ("session_id", "seq", "turn", "data"),
                    [(session_id, first + i, commit.turn, _dumps(e)) for i, e in enumerate(commit.events)],
                )
            if commit.checkpoint is not None or checkpoint_key is not None:
                await tx.execute(
                    "INSERT INTO checkpoints (session_id, turn, data, object_key) VALUES ($1, $2, $3, $4)",
                    session_id,
                    commit.turn,
                    None if checkpoint_key else commit.checkpoint,
                    checkpoint_key,
                )
            return await self._head(tx, session_id)

    async def _body(self, tx: Tx, session_id: str) -> tuple[JsonText, str]:
        """A session's body: its scenario's and settings' JSON. It never changes once the session
        is created (nothing updates it), and reading a large cast's scenario back (tens of MB of
        text) cost seconds per turn: the backend keeps it from the first read.

        Raises:
            NotFoundError: no such session.
        """
        bodies = self._bodies
        body = bodies.get(session_id)
        if body is None:
            row = await tx.fetchone("SELECT scenario, settings FROM session_bodies WHERE session_id = $1", session_id)
            if row is None:
                raise NotFoundError(f"no session {session_id!r} in the store", session_id=session_id)
            if len(bodies) >= _BODIES:
                bodies.pop(next(iter(bodies)))
            body = bodies[session_id] = (JsonText(row[0]), row[1])
        return body

    async def body(self, session_id: str) -> tuple[Any, Any]:
        """A session's scenario and settings, parsed (shared between reads: treat them as read-only).

        Raises:
            NotFoundError: no such session.
        """
        body = self._bodies.get(session_id)
        if body is None:
            async with self.transaction() as tx:
                body = await self._body(tx, session_id)
        return _parsed(body[0]), _parsed(body[1])

    async def _head(self, tx: Tx, session_id: str) -> SessionRecord:
        """The head after a commit, its scenario as the stored JSON (:class:`JsonText`, the same
        object every time): a commit's caller wants the version, and parsing a large cast's
        scenario here held hundreds of MB of dicts in the driver for nothing."""
        row = await tx.fetchone(f"SELECT {_HEAD_COLS} FROM sessions WHERE id = $1", session_id)
        sid, *rest = row
        return _session((sid, *await self._body(tx, session_id), *rest), parse=False)

    def forget(self, session_id: str) -> None:
        """A session was deleted behind this backend's back (a benchmark's cleanup): forget what it
        kept of it, so a new session with the same id is read afresh."""
        self._bodies.pop(session_id, None)

    async def turns(self, session_id: str, after: int = 0, upto: int | None = None) -> list[TurnRecord]:
        async with self.transaction() as tx:
            rows = await tx.fetch(
                "SELECT turn, record, first_seq, last_seq FROM turns WHERE session_id = $1 "
                "AND turn > $2 AND turn <= $3 ORDER BY turn",
                session_id,
                after,
                upto if upto is not None else 2**31 - 1,
            )
        return [TurnRecord(session_id, int(t), _loads(r), int(a), int(b)) for t, r, a, b in rows]

    async def events(self, session_id: str, after_seq: int = 0, limit: int | None = None) -> list[EventRecord]:
        async with self.transaction() as tx:
            rows = await tx.fetch(
                "SELECT seq, turn, data FROM events WHERE session_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                session_id,
                after_seq,
                limit if limit is not None else 2**62,
            )
        return [EventRecord(session_id, int(s), int(t), _loads(d)) for s, t, d in rows]

    async def event_rows(self, session_id: str, after_seq: int = 0) -> list[tuple[int, int, str]]:
        """``(seq, turn, JSON text)`` of the events after ``after_seq``, unparsed (for archives)."""
        async with self.transaction() as tx:
            rows = await tx.fetch(
                "SELECT seq, turn, data FROM events WHERE session_id = $1 AND seq > $2 ORDER BY seq",
                session_id,
                after_seq,
            )
        return [(int(s), int(t), d) for s, t, d in rows]

    async def checkpoint_row(
        self, session_id: str, at_or_before: int | None
    ) -> tuple[int, bytes | None, str | None] | None:
        """``(turn, inline bytes, object key)`` of the latest checkpoint at or before a turn."""
        async with self.transaction() as tx:
            row = await tx.fetchone(
                "SELECT turn, data, object_key FROM checkpoints WHERE session_id = $1 "
                "AND turn <= $2 ORDER BY turn DESC LIMIT 1",
                session_id,
                at_or_before if at_or_before is not None else 2**31 - 1,
            )
        return None if row is None else (int(row[0]), bytes(row[1]) if row[1] is not None else None, row[2])

    # -- event archives ------------------------------------------------------------------------
    async def archives(self, session_id: str) -> list[tuple[int, int, str]]:
        """``(first_seq, last_seq, object_key)`` of the session's recorded Parquet archives, in order."""
        async with self.transaction() as tx:
            rows = await tx.fetch(
                "SELECT first_seq, last_seq, object_key FROM event_archives WHERE session_id = $1 ORDER BY first_seq",
                session_id,
            )
        return [(int(a), int(b), k) for a, b, k in rows]

    async def record_archive(self, session_id: str, first: int, last: int, key: str, trim_upto: int = 0) -> int:
        """Record that events ``first..last`` are archived under ``key`` and, in the same
        transaction, delete the session's events with ``seq <= trim_upto`` (at most ``last``).

        Recording and trimming are one transaction, so an event is always readable from SQL or
        from a recorded archive, never from neither. Returns the number of events deleted.

        Raises:
            ConflictError: the archive does not follow the last recorded one (another process
                archived the same events first); nothing changes.
        """
        async with self.transaction() as tx:
            row = await tx.fetchone("SELECT MAX(last_seq) FROM event_archives WHERE session_id = $1", session_id)
            done = int(row[0] or 0) if row else 0
            if first != done + 1:
                raise ConflictError(
                    f"archive of events {first}..{last} of {session_id!r} does not follow the "
                    f"archived events 1..{done}",
                    session_id=session_id,
                    first=first,
                    done=done,
                )
            await tx.execute(
                "INSERT INTO event_archives (session_id, first_seq, last_seq, object_key) VALUES ($1, $2, $3, $4)",
                session_id,
                first,
                last,
                key,
            )
            upto = min(trim_upto, last)
            if upto < 1:
                return 0
            return await tx.execute("DELETE FROM events WHERE session_id = $1 AND seq <= $2", session_id, upto)
