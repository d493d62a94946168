"""The serve app's access port: users, API keys, the audit log, session ownership, player grants and
queued player actions, behind one small interface.

Routes, the security layer and the CLI call only this port; the adapters
(:mod:`serve_app.security.access_store`) decide how it is kept. Both adapters keep it in the
engine's own state store, so a Serve replica holds one store (the Engine's) and every replica
sees the same users, owners and grants whichever replica wrote them.

The guarantees every adapter keeps (``tests/contract/test_access_port.py`` checks them on SQLite
and PostgreSQL):

- :meth:`AccessPort.create_user` and :meth:`AccessPort.add_session` are insert-only
  (``ConflictError`` when the id is taken); :meth:`AccessPort.put_user` replaces.
- Audit entry ids increase; :meth:`AccessPort.audit_log` returns the latest ones, oldest first.
- :meth:`AccessPort.sessions_of` lists only sessions the engine's store holds a story for.
- :meth:`AccessPort.take_actions` is atomic: two concurrent turns never both take an action.
- :meth:`AccessPort.remove_session` forgets the owner, the grants and the queue of a session.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from novel_engine.errors import ConflictError

__all__ = ["AccessPort", "SessionAccess", "AgentMeta"]


class SessionLimitError(ConflictError):
    """The owner already owns as many sessions as a user may (``details["owned"]``)."""


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


class AccessPort(ABC):
    """Who may do what in the serve app, and the trail of what they did (see the module docstring).

    Every method is a coroutine, callable from the serving event loop.
    """

    @abstractmethod
    async def open(self) -> None:
        """Make the port ready (create what it keeps, if missing). Idempotent, and safe from several
        replicas at once. Raises ``StoreError`` naming what failed."""

    # -- users ---------------------------------------------------------------------------------
    @abstractmethod
    async def create_user(self, user_id: str, data: dict[str, Any]) -> None:
        """Store a new user. ``ConflictError`` if the id is taken."""

    @abstractmethod
    async def put_user(self, user_id: str, data: dict[str, Any]) -> None:
        """Create or replace a user (e.g. an upgraded password hash)."""

    @abstractmethod
    async def get_user(self, user_id: str) -> dict[str, Any]:
        """A user's data. ``NotFoundError`` if unknown."""

    @abstractmethod
    async def delete_user(self, user_id: str) -> bool:
        """Delete a user and its API keys; whether there was such a user."""

    # -- API keys ------------------------------------------------------------------------------
    @abstractmethod
    async def put_api_key(self, key_hash: str, user_id: str, data: dict[str, Any]) -> None:
        """Store (or replace, e.g. to record a revocation) an API key by its hash, never the key."""

    @abstractmethod
    async def get_api_key(self, key_hash: str) -> tuple[str, dict[str, Any]]:
        """``(user_id, data)`` of a key hash. ``NotFoundError`` if unknown."""

    @abstractmethod
    async def list_api_keys(self, user_id: str) -> list[tuple[str, dict[str, Any]]]:
        """``(key_hash, data)`` of every key of a user (revoked ones too), sorted by hash."""

    # -- audit log and rate-limit counters -----------------------------------------------------
    @abstractmethod
    async def append_audit(self, actor: str, action: str, data: dict[str, Any]) -> int:
        """Append an audit entry (already scrubbed of secrets); return its id (increasing)."""

    @abstractmethod
    async def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest ``limit`` entries, oldest first: ``{"id", "actor", "action", "data"}``."""

    @abstractmethod
    async def hit(self, counter: str, window_s: int) -> int:
        """Count one hit on a rate-limit counter in the current window; return the window's count."""

    # -- session ownership ---------------------------------------------------------------------
    @abstractmethod
    async def add_session(self, session_id: str, owner: str, name: str, max_owned: int | None = None) -> SessionAccess:
        """Record a new session's owner. ``ConflictError`` if the id is taken;
        :class:`SessionLimitError` (and nothing recorded) if the owner already owns ``max_owned``
        stored sessions. The check and the insert are one transaction."""

    @abstractmethod
    async def get_session(self, session_id: str) -> SessionAccess | None:
        """A session's owner record, or None."""

    @abstractmethod
    async def sessions_of(self, owner: str, offset: int = 0, limit: int = 50) -> tuple[list[SessionAccess], int]:
        """A page of the owner's stored sessions, oldest first, and how many there are in all."""

    @abstractmethod
    async def remove_session(self, session_id: str) -> None:
        """Forget a session's owner, grants and queued actions."""

    # -- player grants and capabilities --------------------------------------------------------
    @abstractmethod
    async def agents(self, session_id: str) -> dict[str, AgentMeta]:
        """What is kept about the session's agents, by agent id (agents with nothing kept are absent)."""

    @abstractmethod
    async def agent(self, session_id: str, agent_id: str) -> AgentMeta:
        """What is kept about one agent (an empty :class:`AgentMeta` if nothing)."""

    @abstractmethod
    async def is_player(self, session_id: str, user_id: str) -> bool:
        """Whether the user plays any agent of the session."""

    @abstractmethod
    async def played_by(self, user_id: str) -> list[tuple[str, str, str]]:
        """The agents granted to the user: ``(session_id, session name, agent_id)``, oldest session first."""

    @abstractmethod
    async def set_player(self, session_id: str, agent_id: str, user_id: str | None, username: str | None) -> None:
        """Grant the agent to a user (None: revoke); its capabilities stay."""

    @abstractmethod
    async def set_capabilities(self, session_id: str, agent_id: str, capabilities: list[str]) -> None:
        """Set the agent's capabilities; its player stays."""

    # -- queued player actions -----------------------------------------------------------------
    @abstractmethod
    async def queue_action(self, session_id: str, agent_id: str, action: dict[str, Any]) -> None:
        """Queue (or replace) the agent's action for the next turn."""

    @abstractmethod
    async def take_actions(self, session_id: str) -> dict[str, dict[str, Any]]:
        """Remove and return every queued action of the session, atomically."""

    @abstractmethod
    async def put_back(self, session_id: str, actions: dict[str, dict[str, Any]]) -> None:
        """Re-queue taken actions whose turn did not happen, unless newer ones were queued since."""
