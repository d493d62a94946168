"""The serve app's three tables in the engine's SQL database, and the statements over them.

Only the access adapters (:mod:`serve_app.security.access_store`) use this module. Each function
takes one open transaction of the store's SQL backend (``$1`` placeholders, in ascending textual
order, since the SQLite backend binds them positionally); the same statements run on SQLite and
PostgreSQL.

- ``serve_sessions``: session id, owner (user id), display name, creation time.
- ``serve_agents``: per (session, agent): the player it is granted to, and its capabilities.
- ``serve_pending``: per (session, agent): a player action queued for the next turn. Taking the
  queue is one ``DELETE ... RETURNING``, so two concurrent turns can never both apply an action.
"""

from __future__ import annotations

import json
from typing import Any

from novel_engine.errors import ConflictError
from serve_app.security.access_port import AgentMeta, SessionAccess, SessionLimitError

__all__ = ["TABLES"]  # the statement functions are for the adapters only

TABLES = (
    "CREATE TABLE IF NOT EXISTS serve_sessions (session_id TEXT PRIMARY KEY, owner TEXT NOT NULL, "
    "name TEXT NOT NULL, created_ms BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS serve_sessions_by_owner ON serve_sessions (owner, created_ms)",
    "CREATE TABLE IF NOT EXISTS serve_agents (session_id TEXT NOT NULL, agent_id TEXT NOT NULL, "
    "player_id TEXT, player_name TEXT, capabilities TEXT, PRIMARY KEY (session_id, agent_id))",
    "CREATE INDEX IF NOT EXISTS serve_agents_by_player ON serve_agents (player_id)",
    "CREATE TABLE IF NOT EXISTS serve_pending (session_id TEXT NOT NULL, agent_id TEXT NOT NULL, "
    "action TEXT NOT NULL, PRIMARY KEY (session_id, agent_id))",
)

# only sessions the engine's store holds a story for (its `sessions` table): those can always be
# opened (resumed if their actors are gone); an ownership row without a story is not listed
_STORED = "FROM serve_sessions s JOIN sessions e ON e.id = s.session_id WHERE s.owner = $1"
_AGENT_COLUMNS = "agent_id, player_id, player_name, capabilities"


def _agent(row: tuple) -> AgentMeta:
    caps = tuple(json.loads(row[3])) if row[3] is not None else None
    return AgentMeta(row[0], row[1], row[2], caps)


def _session(row: tuple) -> SessionAccess:
    return SessionAccess(row[0], row[1], row[2], int(row[3]))


def _action(action: dict[str, Any]) -> str:
    return json.dumps(action, sort_keys=True)


async def create_tables(tx: Any) -> None:
    for stmt in TABLES:
        await tx.execute(stmt)


# -- sessions ------------------------------------------------------------------------------
async def add_session(tx: Any, rec: SessionAccess, max_owned: int | None = None) -> None:
    if await tx.fetchone("SELECT 1 FROM serve_sessions WHERE session_id = $1", rec.session_id):
        raise ConflictError(f"session {rec.session_id!r} already exists", session_id=rec.session_id)
    if max_owned is not None:
        owned = int((await tx.fetchone(f"SELECT COUNT(*) {_STORED}", rec.owner))[0])
        if owned >= max_owned:
            raise SessionLimitError(
                f"you already own {owned} sessions (the limit); delete one first", owned=owned, limit=max_owned
            )
    await tx.execute(
        "INSERT INTO serve_sessions (session_id, owner, name, created_ms) VALUES ($1, $2, $3, $4)",
        rec.session_id,
        rec.owner,
        rec.name,
        rec.created_ms,
    )


async def get_session(tx: Any, session_id: str) -> SessionAccess | None:
    row = await tx.fetchone(
        "SELECT session_id, owner, name, created_ms FROM serve_sessions WHERE session_id = $1", session_id
    )
    return None if row is None else _session(row)


async def sessions_of(tx: Any, owner: str, offset: int, limit: int) -> tuple[list[SessionAccess], int]:
    rows = await tx.fetch(
        f"SELECT s.session_id, s.owner, s.name, s.created_ms {_STORED} "
        "ORDER BY s.created_ms, s.session_id LIMIT $2 OFFSET $3",
        owner,
        limit,
        offset,
    )
    total = await tx.fetchone(f"SELECT COUNT(*) {_STORED}", owner)
    return [_session(r) for r in rows], int(total[0])


async def remove_session(tx: Any, session_id: str) -> None:
    for table in ("serve_pending", "serve_agents", "serve_sessions"):
        await tx.execute(f"DELETE FROM {table} WHERE session_id = $1", session_id)


# -- agents --------------------------------------------------------------------------------
async def agents(tx: Any, session_id: str) -> dict[str, AgentMeta]:
    rows = await tx.fetch(f"SELECT {_AGENT_COLUMNS} FROM serve_agents WHERE session_id = $1", session_id)
    return {r[0]: _agent(r) for r in rows}


async def agent(tx: Any, session_id: str, agent_id: str) -> AgentMeta:
    row = await tx.fetchone(
        f"SELECT {_AGENT_COLUMNS} FROM serve_agents WHERE session_id = $1 AND agent_id = $2", session_id, agent_id
    )
    return AgentMeta(agent_id) if row is None else _agent(row)


async def is_player(tx: Any, session_id: str, user_id: str) -> bool:
    row = await tx.fetchone("SELECT 1 FROM serve_agents WHERE session_id = $1 AND player_id = $2", session_id, user_id)
    return row is not None


async def played_by(tx: Any, user_id: str) -> list[tuple[str, str, str]]:
    rows = await tx.fetch(
        "SELECT a.session_id, s.name, a.agent_id FROM serve_agents a JOIN serve_sessions s "
        "ON s.session_id = a.session_id WHERE a.player_id = $1 "
        "ORDER BY s.created_ms, a.session_id, a.agent_id",
        user_id,
    )
    return [(r[0], r[1], r[2]) for r in rows]


async def upsert_agent(tx: Any, session_id: str, agent_id: str, values: dict[str, Any]) -> None:
    # one statement, so two replicas granting the same agent at once cannot both insert
    cols = ", ".join(values)
    marks = ", ".join(f"${i + 3}" for i in range(len(values)))
    sets = ", ".join(f"{c} = excluded.{c}" for c in values)
    await tx.execute(
        f"INSERT INTO serve_agents (session_id, agent_id, {cols}) VALUES ($1, $2, {marks}) "
        f"ON CONFLICT (session_id, agent_id) DO UPDATE SET {sets}",
        session_id,
        agent_id,
        *values.values(),
    )


# -- queued player actions -----------------------------------------------------------------
async def queue_action(tx: Any, session_id: str, agent_id: str, action: dict[str, Any]) -> None:
    await tx.execute(
        "INSERT INTO serve_pending (session_id, agent_id, action) VALUES ($1, $2, $3) "
        "ON CONFLICT (session_id, agent_id) DO UPDATE SET action = excluded.action",
        session_id,
        agent_id,
        _action(action),
    )


async def take_actions(tx: Any, session_id: str) -> dict[str, dict[str, Any]]:
    rows = await tx.fetch("DELETE FROM serve_pending WHERE session_id = $1 RETURNING agent_id, action", session_id)
    return {r[0]: json.loads(r[1]) for r in rows}


async def put_back(tx: Any, session_id: str, actions: dict[str, dict[str, Any]]) -> None:
    for agent_id, action in sorted(actions.items()):
        await tx.execute(
            "INSERT INTO serve_pending (session_id, agent_id, action) VALUES ($1, $2, $3) "
            "ON CONFLICT (session_id, agent_id) DO NOTHING",
            session_id,
            agent_id,
            _action(action),
        )
