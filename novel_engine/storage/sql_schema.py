"""The SQL store's schema, as the ordered migrations that build it (both dialects).

A migration is never edited once released: a store records the versions it applied
(``schema_migrations``) and :meth:`~novel_engine.storage.sql.SqlBackend.open` applies the missing
ones, in order, so an older store upgrades in place.
"""

from __future__ import annotations

__all__ = ["migrations"]

_TABLES = """
CREATE TABLE sessions (id TEXT PRIMARY KEY, scenario TEXT NOT NULL, settings TEXT NOT NULL, seed BIGINT NOT NULL,
  turn INTEGER NOT NULL, version BIGINT NOT NULL, last_seq BIGINT NOT NULL, parent_id TEXT, parent_turn INTEGER,
  owner TEXT);
CREATE TABLE turns (session_id TEXT NOT NULL REFERENCES sessions(id), turn INTEGER NOT NULL, record TEXT NOT NULL,
  first_seq BIGINT NOT NULL, last_seq BIGINT NOT NULL, PRIMARY KEY (session_id, turn));
CREATE TABLE events (session_id TEXT NOT NULL REFERENCES sessions(id), seq BIGINT NOT NULL, turn INTEGER NOT NULL,
  data TEXT NOT NULL, PRIMARY KEY (session_id, seq));
CREATE TABLE checkpoints (session_id TEXT NOT NULL REFERENCES sessions(id), turn INTEGER NOT NULL, data {blob},
  object_key TEXT, PRIMARY KEY (session_id, turn));
CREATE TABLE users (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE api_keys (key_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE audit_log (id {serial}, at_turn INTEGER, actor TEXT NOT NULL, action TEXT NOT NULL,
  data TEXT NOT NULL)
"""


def migrations(dialect: str) -> list[tuple[int, list[str]]]:
    """The schema's migrations for ``sqlite`` or ``postgresql``: ``(version, statements)`` in order."""
    blob, serial = (
        ("BLOB", "INTEGER PRIMARY KEY AUTOINCREMENT") if dialect == "sqlite" else ("BYTEA", "BIGSERIAL PRIMARY KEY")
    )
    first = [s.strip() for s in _TABLES.format(blob=blob, serial=serial).split(";") if s.strip()]
    # 3: the archives of each session's events, recorded in the same transaction that trims the
    # archived events from SQL (see SqlBackend.record_archive).
    archives = [
        "CREATE TABLE event_archives (session_id TEXT NOT NULL REFERENCES sessions(id), first_seq BIGINT "
        "NOT NULL, last_seq BIGINT NOT NULL, object_key TEXT NOT NULL, PRIMARY KEY (session_id, first_seq))"
    ]
    # 4: when each session last played a turn, for `novel-engine sessions` (DOUBLE PRECISION is
    # REAL in SQLite and float8 in PostgreSQL)
    played = ["ALTER TABLE sessions ADD COLUMN played_at DOUBLE PRECISION"]
    # 5: a session's scenario and settings in a table of their own. They never change, but SQLite
    # rewrites a whole row on UPDATE, and every commit updates the head: with a large cast's
    # scenario (tens of MB) in the row, each turn's commit rewrote it.
    bodies = [
        "CREATE TABLE session_bodies (session_id TEXT PRIMARY KEY REFERENCES sessions(id), "
        "scenario TEXT NOT NULL, settings TEXT NOT NULL)",
        "INSERT INTO session_bodies (session_id, scenario, settings) SELECT id, scenario, settings FROM sessions",
        "ALTER TABLE sessions DROP COLUMN scenario",
        "ALTER TABLE sessions DROP COLUMN settings",
    ]
    return [
        (1, first),
        (2, ["CREATE INDEX events_by_turn ON events (session_id, turn)"]),
        (3, archives),
        (4, played),
        (5, bodies),
    ]
