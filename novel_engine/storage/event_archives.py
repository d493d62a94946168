"""A session's events across SQL and its Parquet archives: :class:`EventArchives`.

Archived events leave SQL: every ``archive_every`` turns the store archives the events not yet
archived as one Parquet object (:meth:`EventArchives.archive`), then one SQL transaction records
the archive and deletes the archived events older than the newest ``sql_event_tail`` ones. SQL
thus holds a bounded tail (recent events, which subscribers and resumes read most) while
:meth:`EventArchives.events` and :meth:`EventArchives.events_table` still return the whole
session, reading the older events from the recorded archives. The state store
(:class:`~novel_engine.storage.manager.UnifiedStateManager`) answers its ``events``, ``archive``
and ``events_table`` through this class.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from novel_engine.errors import ConflictError, StoreError
from novel_engine.storage import archive
from novel_engine.storage.objects import ObjectStore
from novel_engine.storage.port import EventRecord
from novel_engine.storage.settings import StoreSettings
from novel_engine.storage.sql import SqlBackend

__all__ = ["EventArchives"]


class EventArchives:
    """Reads a session's events whole (SQL tail plus recorded archives) and archives new ones.

    Args:
        sql: the SQL backend (the events it still holds and the archives it has recorded).
        objects: the object store the Parquet archives are written to and read from.
        settings: ``sql_event_tail``, how many recent events SQL keeps once they are archived.
        stats: the store's counters, updated in place (``archives``, ``archive_reads``,
            ``events_trimmed``).
    """

    def __init__(self, sql: SqlBackend, objects: ObjectStore, settings: StoreSettings, stats: dict[str, Any]) -> None:
        self.sql, self.objects, self.settings, self._stats = sql, objects, settings, stats
        self._tables: OrderedDict[str, Any] = OrderedDict()  # decoded archives (immutable), LRU

    async def events(self, session_id: str, after_seq: int = 0, limit: int | None = None) -> list[EventRecord]:
        """Committed events after ``after_seq``: from SQL, and from the archives for the events
        trimmed from SQL (see the module docstring).

        Raises:
            StoreError: an event is in neither (a damaged store: never returned with a gap).
        """
        rows = await self.sql.events(session_id, after_seq, limit)
        if rows and rows[0].seq == after_seq + 1:
            return rows
        # SQL starts later than asked (or has nothing newer): the missing events, if any, were
        # archived and trimmed. The archive list is read *after* the rows, and an archive is
        # recorded in the transaction that trims its events, so every event missing from the
        # rows is in a listed archive.
        ranges = await self.sql.archives(session_id)
        upto = rows[0].seq - 1 if rows else (ranges[-1][1] if ranges else 0)
        if upto <= after_seq:
            return rows
        hi = upto if limit is None else min(upto, after_seq + limit)  # seqs are contiguous: decode no more
        old: list[EventRecord] = []
        for first, last, key in ranges:
            if last <= after_seq or first > hi:
                continue
            part = archive.seq_slice(await self.table(key), max(after_seq, old[-1].seq if old else 0), hi)
            old.extend(archive.to_events(session_id, part))
        if [e.seq for e in old] != list(range(after_seq + 1, hi + 1)):
            raise StoreError(
                f"events {after_seq + 1}..{hi} of {session_id!r} are neither in SQL nor in its archives",
                backend="archive",
                session_id=session_id,
            )
        out = old + rows
        return out if limit is None else out[:limit]

    async def table(self, key: str) -> Any:
        """A recorded archive as an Arrow table (a few stay decoded: archives never change)."""
        table = self._tables.get(key)
        if table is None:
            table = archive.from_parquet(await self.objects.get(key))
            self._stats["archive_reads"] += 1
            self._tables[key] = table
            while len(self._tables) > 2:
                self._tables.popitem(last=False)
        self._tables.move_to_end(key)
        return table

    async def archive(self, session_id: str) -> str | None:
        """Archive the session's not yet archived events as one Parquet object; return its key.

        The object is written first, then one SQL transaction records it and trims SQL to its
        tail (see the module docstring). A crash in between leaves an unrecorded object that the
        next archive overwrites; readers only trust recorded archives.

        Raises:
            ConflictError: another process archived these events first (nothing changes).
        """
        ranges = await self.sql.archives(session_id)
        done = ranges[-1][1] if ranges else 0
        rows = await self.sql.event_rows(session_id, done)
        if not rows:
            return None
        first, last = rows[0][0], rows[-1][0]
        if first != done + 1:
            raise ConflictError(
                f"events of {session_id!r} after {done} were archived by another process",
                session_id=session_id,
                done=done,
            )
        key = archive.archive_key(session_id, first, last)
        await self.objects.put(key, archive.to_parquet(archive.table_from_json(rows)))
        trimmed = await self.sql.record_archive(session_id, first, last, key, last - self.settings.sql_event_tail)
        self._stats["archives"] += 1
        self._stats["events_trimmed"] += trimmed
        return key

    async def events_table(self, session_id: str) -> Any:
        """Every event of a session as a pyarrow Table: the archived events trimmed from SQL, then
        the events SQL holds.

        Raises:
            StoreError: an event is in neither (a damaged store).
        """
        rows = await self.sql.event_rows(session_id, 0)  # read before the archive list: see events()
        ranges = await self.sql.archives(session_id)
        upto = rows[0][0] - 1 if rows else (ranges[-1][1] if ranges else 0)
        tables, done = [], 0
        for first, last, key in ranges:
            if first > upto or first != done + 1:
                break
            tables.append(archive.seq_slice(await self.table(key), done, upto))
            done = min(last, upto)
        if done != upto:
            raise StoreError(
                f"events {done + 1}..{upto} of {session_id!r} are neither in SQL nor in its archives",
                backend="archive",
                session_id=session_id,
            )
        tables.append(archive.table_from_json(rows))
        return archive.concat(tables)
