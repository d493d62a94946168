"""A store written by an older schema opens under the current one with its sessions intact."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid

from novel_engine.storage import StoreRunner, TurnCommit, open_store
from novel_engine.storage.settings import StoreSettings
from novel_engine.storage.sql_schema import migrations
from tests.contract.conftest import PG_URL, require_service

_SCENARIO = '{"title": "Old", "personas": [{"id": "p1", "name": "Ann"}]}'


def _old_session_row() -> tuple:
    # the v4 sessions row: scenario and settings still in it
    return ("old", _SCENARIO, '{"seed": 3}', 3, 0, 0, 0, None, None, None, None)


_INSERT_V4 = (
    "INSERT INTO sessions (id, scenario, settings, seed, turn, version, last_seq, parent_id, parent_turn, owner, "
    "played_at) VALUES ({marks})"
)


def _check_upgraded(settings: StoreSettings) -> None:
    commit = TurnCommit(turn=1, record={"turn": 1}, events=({"id": "e1", "turn": 1, "kind": "action"},))
    with StoreRunner(open_store(settings)) as runner:
        assert runner.call(lambda st: st.sql.schema_version()) == 5
        head = runner.call(lambda st: st.get_session("old", fresh=True))
        assert (head.scenario["title"], head.settings, head.seed, head.turn) == ("Old", {"seed": 3}, 3, 0)
        head = runner.call(lambda st: st.commit_turn("old", 0, commit))
        assert (head.turn, head.last_seq, json.loads(head.scenario)["personas"][0]["name"]) == (1, 1, "Ann")
        assert [s.id for s in runner.call(lambda st: st.list_sessions()) if s.id == "old"] == ["old"]


def test_a_v4_sqlite_store_moves_its_scenarios_out_of_the_sessions_row(tmp_path):
    settings = StoreSettings.embedded(tmp_path)
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT)")
    for version, statements in migrations("sqlite")[:4]:
        for stmt in statements:
            conn.execute(stmt)
        conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, f"v{version}"))
    conn.execute(_INSERT_V4.format(marks=", ".join("?" * 11)), _old_session_row())
    conn.commit()
    conn.close()

    _check_upgraded(settings)
    columns = {r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(sessions)")}
    assert {"scenario", "settings"}.isdisjoint(columns) and {"id", "turn", "version"} <= columns


def test_a_v4_postgres_store_moves_its_scenarios_out_of_the_sessions_row():
    require_service("postgresql")
    import asyncpg

    name = f"ne_migrate_{uuid.uuid4().hex[:8]}"
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def build_v4() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT)")
            for version, statements in migrations("postgresql")[:4]:
                for stmt in statements:
                    await conn.execute(stmt)
                await conn.execute("INSERT INTO schema_migrations VALUES ($1, $2)", version, f"v{version}")
            await conn.execute(_INSERT_V4.format(marks=", ".join(f"${i + 1}" for i in range(11))), *_old_session_row())
        finally:
            await conn.close()

    asyncio.run(admin(f"CREATE DATABASE {name}"))
    try:
        asyncio.run(build_v4())
        _check_upgraded(StoreSettings(database_url=url))
    finally:
        asyncio.run(admin(f"DROP DATABASE {name} WITH (FORCE)"))
