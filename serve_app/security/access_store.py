"""The access port's adapters, both over the engine's own state store.

- :class:`StoreAccessAdapter`: users, API keys, the audit log and rate-limit counters through the
  ``StateStore`` port's own methods; ownership, grants and queued actions in three tables of the
  store's SQL database (:mod:`serve_app.security.access_tables`), one store transaction per
  call. This is the whole story for SQLite (a file, or ``memory``): one connection, serial
  transactions.
- :class:`PostgresAccessAdapter`: what PostgreSQL adds. Several replicas open the port at once,
  and concurrent ``CREATE TABLE IF NOT EXISTS`` can fail on PostgreSQL's catalog, so the tables are
  made under an advisory lock; and a pooled connection the server dropped (a restart, a failover)
  fails one statement, so reads are tried once more on a fresh connection rather than failing
  the request (writes are not: the caller sees the ``StoreError``).

:func:`access_for` picks the adapter by the store's SQL dialect.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from novel_engine.errors import ConfigError, StoreError
from serve_app.security import access_tables as tables
from serve_app.security.access_port import AccessPort, AgentMeta, SessionAccess
from serve_app.security.store_call import StoreCall

__all__ = ["StoreAccessAdapter", "PostgresAccessAdapter", "access_for"]

T = TypeVar("T")

# pg_advisory_xact_lock key of the serve tables' creation (the engine's migrations use another)
_TABLES_LOCK = 0x5E12E_AC55


class StoreAccessAdapter(AccessPort):
    """The access port over the engine's state store (see the module docstring).

    Args:
        store: the engine's store: a :class:`StoreCall`, a ``StoreRunner`` or a store opened on
            the caller's loop. It must be open; the adapter never opens or closes it.
        clock: seconds since the epoch (session creation times).
    """

    def __init__(self, store: Any, clock: Callable[[], float] = time.time) -> None:
        self._call = store if isinstance(store, StoreCall) else StoreCall(store)
        self.clock = clock

    # -- how calls reach the store -------------------------------------------------------------
    async def _tx(self, op: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``op(tx)`` in one transaction of the store's SQL backend, on the store's loop."""

        async def run(store: Any) -> T:
            async with store.sql.transaction() as tx:
                return await op(tx)

        return await self._call(run)

    async def _read(self, fn: Callable[[], Awaitable[T]]) -> T:
        """A read that may safely run twice (PostgreSQL retries it; see the module docstring)."""
        return await fn()

    async def open(self) -> None:
        await self._tx(tables.create_tables)

    # -- users, keys, audit, counters: the StateStore port's own methods ------------------------
    async def create_user(self, user_id: str, data: dict[str, Any]) -> None:
        await self._call(lambda s: s.create_user(user_id, data))

    async def put_user(self, user_id: str, data: dict[str, Any]) -> None:
        await self._call(lambda s: s.put_user(user_id, data))

    async def get_user(self, user_id: str) -> dict[str, Any]:
        return await self._read(lambda: self._call(lambda s: s.get_user(user_id)))

    async def delete_user(self, user_id: str) -> bool:
        return await self._call(lambda s: s.delete_user(user_id))

    async def put_api_key(self, key_hash: str, user_id: str, data: dict[str, Any]) -> None:
        await self._call(lambda s: s.put_api_key(key_hash, user_id, data))

    async def get_api_key(self, key_hash: str) -> tuple[str, dict[str, Any]]:
        return await self._read(lambda: self._call(lambda s: s.get_api_key(key_hash)))

    async def list_api_keys(self, user_id: str) -> list[tuple[str, dict[str, Any]]]:
        return await self._read(lambda: self._call(lambda s: s.list_api_keys(user_id)))

    async def append_audit(self, actor: str, action: str, data: dict[str, Any]) -> int:
        return await self._call(lambda s: s.append_audit(actor, action, data))

    async def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        return await self._read(lambda: self._call(lambda s: s.audit_log(limit)))

    async def hit(self, counter: str, window_s: int) -> int:
        return await self._call(lambda s: s.hit(counter, window_s))

    # -- ownership, grants, queued actions: the serve tables -----------------------------------
    async def add_session(self, session_id: str, owner: str, name: str, max_owned: int | None = None) -> SessionAccess:
        rec = SessionAccess(session_id, owner, name, int(self.clock() * 1000))
        await self._tx(lambda tx: tables.add_session(tx, rec, max_owned))
        return rec

    async def get_session(self, session_id: str) -> SessionAccess | None:
        return await self._read(lambda: self._tx(lambda tx: tables.get_session(tx, session_id)))

    async def sessions_of(self, owner: str, offset: int = 0, limit: int = 50) -> tuple[list[SessionAccess], int]:
        return await self._read(lambda: self._tx(lambda tx: tables.sessions_of(tx, owner, offset, limit)))

    async def remove_session(self, session_id: str) -> None:
        await self._tx(lambda tx: tables.remove_session(tx, session_id))

    async def agents(self, session_id: str) -> dict[str, AgentMeta]:
        return await self._read(lambda: self._tx(lambda tx: tables.agents(tx, session_id)))

    async def agent(self, session_id: str, agent_id: str) -> AgentMeta:
        return await self._read(lambda: self._tx(lambda tx: tables.agent(tx, session_id, agent_id)))

    async def is_player(self, session_id: str, user_id: str) -> bool:
        return await self._read(lambda: self._tx(lambda tx: tables.is_player(tx, session_id, user_id)))

    async def played_by(self, user_id: str) -> list[tuple[str, str, str]]:
        return await self._read(lambda: self._tx(lambda tx: tables.played_by(tx, user_id)))

    async def set_player(self, session_id: str, agent_id: str, user_id: str | None, username: str | None) -> None:
        values = {"player_id": user_id, "player_name": username}
        await self._tx(lambda tx: tables.upsert_agent(tx, session_id, agent_id, values))

    async def set_capabilities(self, session_id: str, agent_id: str, capabilities: list[str]) -> None:
        values = {"capabilities": json.dumps(list(capabilities))}
        await self._tx(lambda tx: tables.upsert_agent(tx, session_id, agent_id, values))

    async def queue_action(self, session_id: str, agent_id: str, action: dict[str, Any]) -> None:
        await self._tx(lambda tx: tables.queue_action(tx, session_id, agent_id, action))

    async def take_actions(self, session_id: str) -> dict[str, dict[str, Any]]:
        return await self._tx(lambda tx: tables.take_actions(tx, session_id))

    async def put_back(self, session_id: str, actions: dict[str, dict[str, Any]]) -> None:
        if actions:
            await self._tx(lambda tx: tables.put_back(tx, session_id, actions))


class PostgresAccessAdapter(StoreAccessAdapter):
    """The access port over an engine store on PostgreSQL (see the module docstring)."""

    async def open(self) -> None:
        async def create(tx: Any) -> None:
            await tx.execute("SELECT pg_advisory_xact_lock($1)", _TABLES_LOCK)
            await tables.create_tables(tx)

        await self._tx(create)

    async def _read(self, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            return await fn()
        except StoreError as err:
            if not err.details.get("lost"):
                raise
            return await fn()  # the pool hands out a fresh connection


def access_for(store: Any, clock: Callable[[], float] = time.time) -> AccessPort:
    """The access port over the engine's store, by its SQL dialect (not opened: call ``open``).

    Args:
        store: a :class:`StoreCall`, a ``StoreRunner`` or an opened ``UnifiedStateManager``.
        clock: seconds since the epoch (session creation times).

    Raises:
        ConfigError: the store keeps no SQL database (users and grants need one).
    """
    call = store if isinstance(store, StoreCall) else StoreCall(store)
    dialect = getattr(getattr(call.store, "sql", None), "dialect", None)
    if dialect == "postgresql":
        return PostgresAccessAdapter(call, clock)
    if dialect == "sqlite":
        return StoreAccessAdapter(call, clock)
    raise ConfigError(f"the serve app keeps users and grants in a SQL store; this one has {dialect!r}", setting="store")
