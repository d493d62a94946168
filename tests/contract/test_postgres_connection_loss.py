"""PostgreSQL connection loss: a transparent reconnect or a clear error, never a half-written turn.

The store's connections carry a unique ``application_name``, so the test terminates exactly them
(``pg_terminate_backend`` from a second connection), between turns and inside a turn's commit.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace

import asyncpg
import pytest

from novel_engine import Engine
from novel_engine.errors import StoreError
from novel_engine.storage import postgres


@pytest.fixture(params=["postgresql"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def app_name() -> str:
    return f"ne-loss-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def settings(store_settings, app_name):
    url = store_settings.database_url
    return replace(store_settings, database_url=f"{url}{'&' if '?' in url else '?'}application_name={app_name}")


def _terminate(dsn: str, app_name: str) -> int:
    """Terminate every server connection named ``app_name``; return how many there were."""

    async def go() -> int:
        conn = await asyncpg.connect(dsn)
        try:
            return len(
                await conn.fetch(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", app_name
                )
            )
        finally:
            await conn.close()

    return asyncio.run(go())


def _story(session) -> str:
    return json.dumps([r.to_dict() for r in session.reports()], sort_keys=True)


def _consistent(engine, session_id: str) -> tuple[int, int]:
    """Check head, turns, events and checkpoints agree; return (turn, last_seq)."""
    st = engine._runner
    head = st.call(lambda s: s.sql.get_session(session_id))  # from SQL, not the cache
    turns = st.call(lambda s: s.turns(session_id))
    events = st.call(lambda s: s.events(session_id))
    assert [t.turn for t in turns] == list(range(1, head.turn + 1))
    assert [e.seq for e in events] == list(range(1, head.last_seq + 1))
    assert (turns[-1].last_seq if turns else 0) == head.last_seq
    assert max(e.turn for e in events) <= head.turn
    assert st.call(lambda s: s.checkpoint(session_id))[0] <= head.turn
    assert st.call(lambda s: s.sql.checkpoint_row(session_id, None))[0] <= head.turn
    return head.turn, head.last_seq


def _straight(turns: int):
    s = Engine().create_session("noir_city", seed=5)
    s.run(turns)
    return s


def test_connections_killed_between_turns_reconnect_transparently(settings, app_name, store_settings):
    with Engine(store=settings) as engine:
        s = engine.create_session("noir_city", seed=5, session_id=f"t-{uuid.uuid4().hex[:12]}")
        s.run(2)
        assert _terminate(store_settings.database_url, app_name) >= 1
        s.run(2)  # the pool hands out fresh connections; nothing to see for the caller
        assert _consistent(engine, s.id)[0] == 4
        assert _story(s) == _story(_straight(4))


def _killing_event_inserts(dsn: str, times: int | None, kills: list[bool]):
    """A ``_PgTx.insert_rows`` that terminates its own connection before inserting a turn's events
    (mid-transaction, after the head update), the first ``times`` times (None: always)."""
    original = postgres._PgTx.insert_rows

    async def insert_rows(self, table, columns, rows):
        if table == "events" and (times is None or len(kills) < times):
            other = await asyncpg.connect(dsn)
            try:
                kills.append(await other.fetchval("SELECT pg_terminate_backend($1)", self.conn.get_server_pid()))
            finally:
                await other.close()
        return await original(self, table, columns, rows)

    return insert_rows


def test_a_connection_killed_inside_a_commit_is_retried_once_and_lands_once(settings, store_settings, monkeypatch):
    kills: list[bool] = []
    with Engine(store=settings) as engine:
        s = engine.create_session("noir_city", seed=5, session_id=f"t-{uuid.uuid4().hex[:12]}")
        s.run(2)
        killing = _killing_event_inserts(store_settings.database_url, 1, kills)
        monkeypatch.setattr(postgres._PgTx, "insert_rows", killing)
        s.step()  # the first attempt dies after the head update; the server rolls it back; the retry lands
        assert kills == [True]
        assert _consistent(engine, s.id)[0] == 3
        s.step()
        assert _story(s) == _story(_straight(4))


def test_a_database_that_stays_gone_gives_a_clear_error_and_nothing_half_written(settings, store_settings, monkeypatch):
    original, kills = postgres._PgTx.insert_rows, []
    with Engine(store=settings) as engine:
        s = engine.create_session("noir_city", seed=5, session_id=f"t-{uuid.uuid4().hex[:12]}")
        s.run(2)
        before = _consistent(engine, s.id)
        killing = _killing_event_inserts(store_settings.database_url, None, kills)
        monkeypatch.setattr(postgres._PgTx, "insert_rows", killing)
        with pytest.raises(StoreError) as err:
            s.step()
        assert "PostgreSQL" in err.value.message and "not committed" in err.value.message
        assert err.value.details["turn"] == 3 and kills == [True, True]  # the first try and the retry
        assert _consistent(engine, s.id) == before  # no trace of turn 3
        assert s.turn == 2  # the handle was reloaded from the store
        monkeypatch.setattr(postgres._PgTx, "insert_rows", original)
        s.run(2)  # the database is back: the session goes on as if nothing happened
        assert _consistent(engine, s.id)[0] == 4
        assert _story(s) == _story(_straight(4))


def test_a_broken_pooled_connection_counts_as_lost_and_is_not_reused(settings, monkeypatch):
    # What asyncpg may raise on the next use of a pooled connection the server terminated while idle.
    original, broken, used = postgres._PgTx.fetch, [], []

    async def fetch(self, sql, *args):
        if sql.startswith("UPDATE sessions"):
            if not broken:
                broken.append(self.conn.get_server_pid())
                raise asyncpg.exceptions.InternalClientError(
                    "cannot switch to state 15; another operation (2) is in progress"
                )
            used.append(self.conn.get_server_pid())
        return await original(self, sql, *args)

    with Engine(store=settings) as engine:
        s = engine.create_session("noir_city", seed=5, session_id=f"t-{uuid.uuid4().hex[:12]}")
        monkeypatch.setattr(postgres._PgTx, "fetch", fetch)
        s.run(3)  # the first commit fails on its broken connection and is retried on a fresh one
        assert len(broken) == 1 and len(used) == 3 and _consistent(engine, s.id)[0] == 3
        assert broken[0] not in used  # the broken connection was closed, never handed out again
        assert _story(s) == _story(_straight(3))
