"""Who owns which session, who plays which agent, and queued player actions: three small SQL tables.

They live in the state store's SQL database (SQLite embedded, PostgreSQL in a cluster), beside the
engine's own tables, so every Serve replica sees the same ownership and grants whatever replica
created them, and they survive replica restarts. Statements go through the store's transaction
interface (``$1`` placeholders, both dialects).

- ``serve_sessions``: session id, owner (user id), display name, creation time.
- ``serve_agents``: per (session, agent): the player it is granted to, and its capabilities.
- ``serve_pending``: per (session, agent): a player action queued for the next turn. Taking the
  queue is one ``DELETE ... RETURNING``, so two concurrent turns can never both apply an action.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from novel_engine.errors import ConflictError

__all__ = ["SessionAccess", "AccessStore", "AgentMeta"]

_TABLES = (
    "CREATE TABLE IF NOT EXISTS serve_sessions (session_id TEXT PRIMARY KEY, owner TEXT NOT NULL, "
    "name TEXT NOT NULL, created_ms BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS serve_sessions_by_owner ON serve_sessions (owner, created_ms)",
    "CREATE TABLE IF NOT EXISTS serve_agents (session_id TEXT NOT NULL, agent_id TEXT NOT NULL, "
    "player_id TEXT, player_name TEXT, capabilities TEXT, PRIMARY KEY (session_id, agent_id))",
    "CREATE TABLE IF NOT EXISTS serve_pending (session_id TEXT NOT NULL, agent_id TEXT NOT NULL, "
    "action TEXT NOT NULL, PRIMARY KEY (session_id, agent_id))",
)


@dataclass(frozen=True)
class SessionAccess:
    """A session's owner and name (owners never change, so replicas may cache this)."""

    session_id: str
    owner: str
    name: str
    created_ms: int


@dataclass(frozen=True)
class AgentMeta:
    """What the server keeps about one agent: its player (if granted) and its capabilities."""

    agent_id: str
    player_id: str | None = None
    player_name: str | None = None
    capabilities: tuple[str, ...] | None = None


class AccessStore:
    """The three tables over a ``SqlBackend`` (``UnifiedStateManager.sql``).

    Args:
        sql: the store's SQL backend (already open).
    """

    def __init__(self, sql: Any) -> None:
        self.sql = sql

    async def open(self) -> None:
        """Create the tables if missing (idempotent; safe from several replicas at once)."""
        async with self.sql.transaction() as tx:
            for stmt in _TABLES:
                await tx.execute(stmt)

    # -- sessions ------------------------------------------------------------------------------
    async def add_session(self, session_id: str, owner: str, name: str) -> SessionAccess:
        """Record a new session's owner. ``ConflictError`` if the id is taken."""
        rec = SessionAccess(session_id, owner, name, int(time.time() * 1000))
        async with self.sql.transaction() as tx:
            if await tx.fetchone("SELECT 1 FROM serve_sessions WHERE session_id = $1", session_id):
                raise ConflictError(f"session {session_id!r} already exists", session_id=session_id)
            await tx.execute(
                "INSERT INTO serve_sessions (session_id, owner, name, created_ms) VALUES ($1, $2, $3, $4)",
                rec.session_id,
                rec.owner,
                rec.name,
                rec.created_ms,
            )
        return rec

    async def get_session(self, session_id: str) -> SessionAccess | None:
        async with self.sql.transaction() as tx:
            row = await tx.fetchone(
                "SELECT session_id, owner, name, created_ms FROM serve_sessions WHERE session_id = $1", session_id
            )
        return None if row is None else SessionAccess(row[0], row[1], row[2], int(row[3]))

    async def sessions_of(self, owner: str, offset: int = 0, limit: int = 50) -> tuple[list[SessionAccess], int]:
        """A page of the owner's sessions, oldest first, and how many there are in all.

        Only sessions the engine's state store holds (its ``sessions`` table): those can always be
        opened (resumed if their actors are gone); an ownership row without a story is not listed.
        """
        stored = "FROM serve_sessions s JOIN sessions e ON e.id = s.session_id WHERE s.owner = $1"
        async with self.sql.transaction() as tx:
            rows = await tx.fetch(
                f"SELECT s.session_id, s.owner, s.name, s.created_ms {stored} "
                "ORDER BY s.created_ms, s.session_id LIMIT $2 OFFSET $3",
                owner,
                limit,
                offset,
            )
            total = await tx.fetchone(f"SELECT COUNT(*) {stored}", owner)
        return [SessionAccess(r[0], r[1], r[2], int(r[3])) for r in rows], int(total[0])

    async def remove_session(self, session_id: str) -> None:
        """Forget a session and everything kept about it."""
        async with self.sql.transaction() as tx:
            for table in ("serve_pending", "serve_agents", "serve_sessions"):
                await tx.execute(f"DELETE FROM {table} WHERE session_id = $1", session_id)

    # -- agents: players and capabilities --------------------------------------------------------
    async def agents(self, session_id: str) -> dict[str, AgentMeta]:
        async with self.sql.transaction() as tx:
            rows = await tx.fetch(
                "SELECT agent_id, player_id, player_name, capabilities FROM serve_agents WHERE session_id = $1",
                session_id,
            )
        return {r[0]: AgentMeta(r[0], r[1], r[2], tuple(json.loads(r[3])) if r[3] is not None else None) for r in rows}

    async def agent(self, session_id: str, agent_id: str) -> AgentMeta:
        async with self.sql.transaction() as tx:
            r = await tx.fetchone(
                "SELECT agent_id, player_id, player_name, capabilities FROM serve_agents "
                "WHERE session_id = $1 AND agent_id = $2",
                session_id,
                agent_id,
            )
        if r is None:
            return AgentMeta(agent_id)
        return AgentMeta(r[0], r[1], r[2], tuple(json.loads(r[3])) if r[3] is not None else None)

    async def is_player(self, session_id: str, user_id: str) -> bool:
        """Whether the user plays any agent of the session."""
        async with self.sql.transaction() as tx:
            row = await tx.fetchone(
                "SELECT 1 FROM serve_agents WHERE session_id = $1 AND player_id = $2", session_id, user_id
            )
        return row is not None

    async def played_by(self, user_id: str) -> list[tuple[str, str, str]]:
        """The agents granted to the user, as ``(session_id, session name, agent_id)``, oldest session first."""
        async with self.sql.transaction() as tx:
            rows = await tx.fetch(
                "SELECT a.session_id, s.name, a.agent_id FROM serve_agents a JOIN serve_sessions s "
                "ON s.session_id = a.session_id WHERE a.player_id = $1 "
                "ORDER BY s.created_ms, a.session_id, a.agent_id",
                user_id,
            )
        return [(r[0], r[1], r[2]) for r in rows]

    async def _upsert(self, session_id: str, agent_id: str, column_values: dict[str, Any]) -> None:
        # placeholders in ascending textual order: the SQLite adapter binds them positionally
        n = len(column_values)
        sets = ", ".join(f"{c} = ${i + 1}" for i, c in enumerate(column_values))
        values = list(column_values.values())
        async with self.sql.transaction() as tx:
            changed = await tx.execute(
                f"UPDATE serve_agents SET {sets} WHERE session_id = ${n + 1} AND agent_id = ${n + 2}",
                *values,
                session_id,
                agent_id,
            )
            if not changed:
                cols = ", ".join(column_values)
                marks = ", ".join(f"${i + 3}" for i in range(len(values)))
                await tx.execute(
                    f"INSERT INTO serve_agents (session_id, agent_id, {cols}) VALUES ($1, $2, {marks})",
                    session_id,
                    agent_id,
                    *values,
                )

    async def set_player(self, session_id: str, agent_id: str, user_id: str | None, username: str | None) -> None:
        """Grant the agent to a user (None: revoke)."""
        await self._upsert(session_id, agent_id, {"player_id": user_id, "player_name": username})

    async def set_capabilities(self, session_id: str, agent_id: str, capabilities: list[str]) -> None:
        await self._upsert(session_id, agent_id, {"capabilities": json.dumps(list(capabilities))})

    # -- queued player actions -------------------------------------------------------------------
    async def queue_action(self, session_id: str, agent_id: str, action: dict[str, Any]) -> None:
        """Queue (or replace) the agent's action for the next turn."""
        data = json.dumps(action, sort_keys=True)
        async with self.sql.transaction() as tx:
            if not await tx.execute(
                "UPDATE serve_pending SET action = $1 WHERE session_id = $2 AND agent_id = $3",
                data,
                session_id,
                agent_id,
            ):
                await tx.execute(
                    "INSERT INTO serve_pending (session_id, agent_id, action) VALUES ($1, $2, $3)",
                    session_id,
                    agent_id,
                    data,
                )

    async def take_actions(self, session_id: str) -> dict[str, dict[str, Any]]:
        """Remove and return every queued action of the session (atomically)."""
        async with self.sql.transaction() as tx:
            rows = await tx.fetch(
                "DELETE FROM serve_pending WHERE session_id = $1 RETURNING agent_id, action", session_id
            )
        return {r[0]: json.loads(r[1]) for r in rows}

    async def put_back(self, session_id: str, actions: dict[str, dict[str, Any]]) -> None:
        """Re-queue taken actions whose turn did not happen (unless newer ones were queued since)."""
        for agent_id, action in actions.items():
            async with self.sql.transaction() as tx:
                if not await tx.fetchone(
                    "SELECT 1 FROM serve_pending WHERE session_id = $1 AND agent_id = $2", session_id, agent_id
                ):
                    await tx.execute(
                        "INSERT INTO serve_pending (session_id, agent_id, action) VALUES ($1, $2, $3)",
                        session_id,
                        agent_id,
                        json.dumps(action, sort_keys=True),
                    )
