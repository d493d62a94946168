"""``UnifiedStateManager``: the one :class:`StateStore`, routing each kind of data to its backend.

- SQL (SQLite or PostgreSQL): sessions, turns, events, small checkpoints, users, API keys, audit.
- Hot store (in process or Redis): the read-through cache of session heads, rate-limit counters,
  and the notices that wake event subscribers in other processes.
- Object store (folder, memory or S3): large checkpoints, Parquet event archives, exports.

A large checkpoint is written to the object store *before* the SQL transaction that references
it, so a crash in between leaves at worst an unreferenced object, never a dangling reference.
The cache update (the new head written through, replacing the old), notices and archiving happen
after the commit and are best-effort: the SQL commit is the truth, and their failures are counted
in :meth:`stats` rather than failing a turn that is already durable. Cache entries are versioned,
so a read-through fill that read SQL before a commit never puts the older head back.

Archived events leave SQL for Parquet objects every ``archive_every`` turns, SQL keeping a bounded
tail; :meth:`events` and :meth:`events_table` still return the whole session (see
:mod:`novel_engine.storage.event_archives`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import fields
from typing import Any

from novel_engine.errors import ConflictError, StoreError
from novel_engine.storage import metrics
from novel_engine.storage.event_archives import EventArchives
from novel_engine.storage.hot import HotStore, MemoryHot
from novel_engine.storage.json_codec import dumps, loads
from novel_engine.storage.objects import ObjectStore
from novel_engine.storage.port import EventRecord, SessionRecord, StateStore, TurnCommit, TurnRecord
from novel_engine.storage.settings import StoreSettings
from novel_engine.storage.sql import SqlBackend
from novel_engine.storage.sqlite import SqliteBackend

__all__ = ["UnifiedStateManager", "open_store"]

log = logging.getLogger(__name__)


def _sql_backend(url: str) -> SqlBackend:
    if url.startswith("sqlite:"):
        path = url[len("sqlite://") :]
        return SqliteBackend(path[1:] if path.startswith("//") else (path or None))
    from novel_engine.storage.postgres import PostgresBackend  # asyncpg only when asked for

    return PostgresBackend(url.replace("postgres://", "postgresql://", 1))


def open_store(settings: StoreSettings | str | None = None) -> UnifiedStateManager:
    """Build (not yet open) the store for ``settings``: a StoreSettings, a database URL, or None
    for the environment's settings (see :class:`StoreSettings`).

    Raises:
        ConfigError: a setting is invalid.
    """
    if settings is None:
        settings = StoreSettings.from_env()
    elif isinstance(settings, str):
        settings = StoreSettings.memory() if settings == "memory" else StoreSettings.from_env(database_url=settings)
    settings = settings.validated()
    hot: HotStore
    if settings.redis_url:
        from novel_engine.storage.hot import RedisHot

        hot = RedisHot(settings.redis_url)
    else:
        hot = MemoryHot()
    objects_url = settings.object_store_url or f"memory://novel-engine-{uuid.uuid4().hex[:8]}"
    return UnifiedStateManager(
        _sql_backend(settings.database_url), hot, ObjectStore(objects_url, settings.s3_endpoint), settings
    )


_HEAD_FIELDS = tuple(f.name for f in fields(SessionRecord) if f.name not in ("scenario", "settings"))


def _head_bytes(rec: SessionRecord) -> bytes:
    """A head as the read cache keeps it: without the session's body (scenario and settings),
    which never changes and which the SQL backend keeps in process (a large cast's scenario is
    tens of MB of JSON: copied into the cache with every commit, it cost the driver about half a
    second per turn at 100,000 personas)."""
    return dumps({name: getattr(rec, name) for name in _HEAD_FIELDS}).encode()


def _head_key(session_id: str) -> str:
    # an entry of an older version holds the body too: read, it is ignored (see _record_from)
    return f"session:{session_id}"


def _record_from(raw: bytes, scenario: Any, settings: Any) -> SessionRecord:
    d = loads(raw)
    d["parent"] = tuple(d["parent"]) if d.get("parent") else None
    return SessionRecord(scenario=scenario, settings=settings, **{k: d[k] for k in _HEAD_FIELDS if k in d})


class UnifiedStateManager(StateStore):
    """The state store of the engine (see the module docstring).

    Args:
        sql: the SQL backend.
        hot: the hot store.
        objects: the object store.
        settings: thresholds (large checkpoints, archive period, cache TTL).
    """

    def __init__(self, sql: SqlBackend, hot: HotStore, objects: ObjectStore, settings: StoreSettings) -> None:
        self.sql, self.hot, self.objects, self.settings = sql, hot, objects, settings
        self._stats = {
            "cache_hits": 0,
            "cache_misses": 0,
            "hot_errors": 0,
            "archive_errors": 0,
            "archives": 0,
            "archive_reads": 0,
            "events_trimmed": 0,
        }
        self._archives = EventArchives(sql, objects, settings, self._stats)
        metrics.track(self)  # Prometheus: cache hit rate and counters (see storage.metrics)
        self._opened = False

    @property
    def backends(self) -> dict[str, str]:
        """The kind of each backend, e.g. ``{"sql": "sqlite", "hot": "memory", "objects": "file"}``."""
        return {
            "sql": self.sql.dialect,
            "hot": "redis" if type(self.hot).__name__ == "RedisHot" else "memory",
            "objects": self.objects.scheme,
        }

    async def open(self) -> None:
        if self._opened:
            return
        await self.sql.open()
        try:
            await self.hot.open()
            await self.objects.open()
        except BaseException:
            await self.sql.close()
            raise
        self._opened = True

    async def close(self) -> None:
        self._opened = False
        for part in (self.hot, self.objects, self.sql):
            await part.close()

    def stats(self) -> dict[str, Any]:
        """Counters: cache hits and misses, ``cache_hit_rate``, hot-store and archive errors, archives."""
        s = dict(self._stats)
        total = s["cache_hits"] + s["cache_misses"]
        s["cache_hit_rate"] = round(s["cache_hits"] / total, 4) if total else 0.0
        return s

    async def _best_effort(self, what: str, coro) -> Any:
        try:
            return await coro
        except StoreError as err:
            self._stats["hot_errors"] += 1
            log.warning("state store: %s failed (the commit itself is durable): %s", what, err.message)
            return None

    # -- sessions and turns --------------------------------------------------------------------
    async def _place_checkpoint(
        self, session_id: str, turn: int, blob: bytes | None
    ) -> tuple[bytes | None, str | None]:
        if blob is None or len(blob) <= self.settings.large_checkpoint_bytes:
            return blob, None
        key = f"checkpoints/{session_id}/{turn:08d}-{uuid.uuid4().hex[:8]}.ckpt"
        await self.objects.put(key, blob)
        return None, key

    async def create_session(self, record: SessionRecord, checkpoint: bytes | None = None) -> SessionRecord:
        inline, key = await self._place_checkpoint(record.id, record.turn, checkpoint)
        return await self.sql.create_session(record, inline, key)

    async def get_session(self, session_id: str, *, fresh: bool = False) -> SessionRecord:
        """The session's head, from the read cache when it has it.

        The in-process cache (no Redis) sees only this process's commits, so a path that must
        not act on a stale head (resume, reload after a conflict) passes ``fresh=True`` to read
        SQL (and refresh the cache).
        """
        ck = _head_key(session_id)
        cached = None if fresh else await self._best_effort("cache read", self.hot.cache_get(ck))
        if cached is not None:
            self._stats["cache_hits"] += 1
            return _record_from(cached, *await self.sql.body(session_id))
        self._stats["cache_misses"] += 1
        rec = await self.sql.get_session(session_id)
        await self._best_effort(
            "cache fill", self.hot.cache_set_versioned(ck, _head_bytes(rec), rec.version, self.settings.cache_ttl_s)
        )
        return rec

    async def list_sessions(self) -> list[SessionRecord]:
        return await self.sql.list_sessions()

    async def commit_turn(self, session_id: str, expected_version: int, commit: TurnCommit) -> SessionRecord:
        inline, key = await self._place_checkpoint(session_id, commit.turn, commit.checkpoint)
        if key is not None:
            commit = TurnCommit(commit.turn, commit.record, commit.events, None)
        try:
            head = await self.sql.commit_turn(session_id, expected_version, commit, key)
        except ConflictError:
            # another writer got there first: whatever head this process cached is stale
            await self._best_effort("cache drop", self.hot.cache_delete(_head_key(session_id)))
            raise
        # Write-through rather than delete: the new head replaces the old one, and a fill that
        # read SQL before this commit cannot put the older head back (versioned set).
        await self._best_effort(
            "cache update",
            self.hot.cache_set_versioned(
                _head_key(session_id), _head_bytes(head), head.version, self.settings.cache_ttl_s
            ),
        )
        await self._best_effort("event notice", self.hot.notify(session_id, head.last_seq))
        every = self.settings.archive_every
        if every and commit.turn % every == 0:
            try:
                await self.archive(session_id)
            except StoreError as err:
                self._stats["archive_errors"] += 1
                log.warning("state store: archiving %s failed (events stay in SQL): %s", session_id, err.message)
        return head

    async def turns(self, session_id: str, after: int = 0, upto: int | None = None) -> list[TurnRecord]:
        return await self.sql.turns(session_id, after, upto)

    async def events(self, session_id: str, after_seq: int = 0, limit: int | None = None) -> list[EventRecord]:
        """Committed events after ``after_seq``: from SQL, and from the archives for the events
        trimmed from SQL (see :class:`~novel_engine.storage.event_archives.EventArchives`).

        Raises:
            StoreError: an event is in neither (a damaged store: never returned with a gap).
        """
        return await self._archives.events(session_id, after_seq, limit)

    async def checkpoint(self, session_id: str, at_or_before: int | None = None) -> tuple[int, bytes] | None:
        row = await self.sql.checkpoint_row(session_id, at_or_before)
        if row is None:
            return None
        turn, inline, key = row
        return turn, inline if key is None else await self.objects.get(key)

    # -- users, keys, audit --------------------------------------------------------------------
    async def put_user(self, user_id: str, data: dict[str, Any]) -> None:
        await self.sql.put_user(user_id, data)

    async def get_user(self, user_id: str) -> dict[str, Any]:
        return await self.sql.get_user(user_id)

    async def create_user(self, user_id: str, data: dict[str, Any]) -> None:
        await self.sql.create_user(user_id, data)

    async def delete_user(self, user_id: str) -> bool:
        return await self.sql.delete_user(user_id)

    async def put_api_key(self, key_hash: str, user_id: str, data: dict[str, Any]) -> None:
        await self.sql.put_api_key(key_hash, user_id, data)

    async def list_api_keys(self, user_id: str) -> list[tuple[str, dict[str, Any]]]:
        return await self.sql.list_api_keys(user_id)

    async def get_api_key(self, key_hash: str) -> tuple[str, dict[str, Any]]:
        return await self.sql.get_api_key(key_hash)

    async def append_audit(self, actor: str, action: str, data: dict[str, Any]) -> int:
        return await self.sql.append_audit(actor, action, data)

    async def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        return await self.sql.audit_log(limit)

    # -- hot state -----------------------------------------------------------------------------
    async def hit(self, counter: str, window_s: int) -> int:
        return await self.hot.hit(counter, window_s)

    async def subscribe(self, session_id: str, after_seq: int = 0, poll_s: float = 1.0) -> AsyncIterator[EventRecord]:
        """Committed events after ``after_seq``: the backlog from SQL, then new ones as they land.

        Notices only wake the reader; it always reads SQL from its cursor, so an event can be
        neither skipped nor repeated, even across a Redis restart (it then polls every ``poll_s``).
        """
        cursor = after_seq
        while True:
            batch = await self.events(session_id, cursor, 1000)
            for ev in batch:
                cursor = ev.seq
                yield ev
            if batch:
                continue
            try:
                await self.hot.wait(session_id, cursor, poll_s)
            except StoreError:
                self._stats["hot_errors"] += 1
                await asyncio.sleep(poll_s)

    # -- objects and archives ------------------------------------------------------------------
    async def put_object(self, key: str, data: bytes) -> str:
        return await self.objects.put(key, data)

    async def get_object(self, key: str) -> bytes:
        return await self.objects.get(key)

    async def list_objects(self, prefix: str) -> list[str]:
        return await self.objects.list(prefix)

    async def archive(self, session_id: str) -> str | None:
        """Archive the session's not yet archived events as one Parquet object; return its key
        (see :meth:`EventArchives.archive <novel_engine.storage.event_archives.EventArchives.archive>`).

        Raises:
            ConflictError: another process archived these events first (nothing changes).
        """
        return await self._archives.archive(session_id)

    async def events_table(self, session_id: str) -> Any:
        """Every event of a session as a pyarrow Table: the archived events trimmed from SQL, then
        the events SQL holds.

        Raises:
            StoreError: an event is in neither (a damaged store).
        """
        return await self._archives.events_table(session_id)
