"""The ``StateStore`` port: what the engine asks of durable state, whatever the backends.

Records are frozen dataclasses of JSON-friendly values, so every backend stores them the same
way. The guarantees every implementation must keep (the contract suite checks them):

- :meth:`StateStore.commit_turn` is atomic: the turn record, its events and its checkpoint are
  all stored, or none is.
- Commits are optimistic: each carries the session version it started from; if another writer
  committed first, it raises :class:`~novel_engine.errors.ConflictError` and changes nothing.
- Event sequence numbers of a session start at 1 and have no gaps and no duplicates.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SessionRecord", "TurnCommit", "TurnRecord", "EventRecord", "StateStore", "JsonText"]


class JsonText(str):
    """A record's value already encoded as JSON, which a store writes as it is: a new session's
    scenario, whose JSON the Ray runtime makes anyway (a 100,000-persona cast takes seconds to
    turn into dicts and dump again). A session read from a store holds the parsed value; the head
    a commit returns holds the stored JSON."""


@dataclass(frozen=True)
class SessionRecord:
    """A session's identity and head: where it stands and at which version.

    Attributes:
        id: the session id.
        scenario: the scenario as JSON-friendly data (``Scenario.model_dump(mode="json")``), or
            its JSON (:class:`JsonText`): on its way into a store, and in the head a commit
            returns (read a session to have it parsed).
        settings: the session settings as JSON-friendly data.
        seed: the session seed.
        turn: the last committed turn.
        version: bumped by every commit (optimistic concurrency).
        last_seq: the sequence number of the session's last event.
        parent: ``(session_id, turn)`` this session was forked from, if any.
        owner: the user owning the session, if any.
        played_at: when the session was created or last committed a turn, in seconds since the
            epoch by the store's clock (None when not read from a store). Not part of the story,
            so records that differ only here are equal.
    """

    id: str
    scenario: dict[str, Any] | JsonText
    settings: dict[str, Any]
    seed: int
    turn: int = 0
    version: int = 0
    last_seq: int = 0
    parent: tuple[str, int] | None = None
    owner: str | None = None
    played_at: float | None = field(default=None, compare=False)


@dataclass(frozen=True)
class TurnCommit:
    """What one turn writes: its record, its events and (when due) a checkpoint.

    Attributes:
        turn: the turn number (must be the session's turn + 1).
        record: the turn report without its events, plus the turn's inputs (player actions and
            world events), so the turn can be replayed.
        events: the turn's events in order, as dicts.
        checkpoint: the encoded checkpoint after this turn, or None.
    """

    turn: int
    record: dict[str, Any]
    events: tuple[dict[str, Any], ...] = ()
    checkpoint: bytes | None = None


@dataclass(frozen=True)
class TurnRecord:
    """A committed turn as read back: its record and its first and last event sequence numbers."""

    session_id: str
    turn: int
    record: dict[str, Any]
    first_seq: int
    last_seq: int


@dataclass(frozen=True)
class EventRecord:
    """A committed event with its session-wide sequence number."""

    session_id: str
    seq: int
    turn: int
    data: dict[str, Any] = field(default_factory=dict)


class StateStore(ABC):
    """Durable session state (see the module docstring for the guarantees).

    Every method is a coroutine; call them from the loop the store was opened on.
    """

    @abstractmethod
    async def open(self) -> None:
        """Connect and bring the schema up to date. Raises ``StoreError`` naming what failed."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections (idempotent)."""

    # -- sessions and turns --------------------------------------------------------------------
    @abstractmethod
    async def create_session(self, record: SessionRecord, checkpoint: bytes | None = None) -> SessionRecord:
        """Store a new session (and its turn-0 checkpoint). ``ConflictError`` if the id is taken."""

    @abstractmethod
    async def get_session(self, session_id: str) -> SessionRecord:
        """The session's head. ``NotFoundError`` if there is none."""

    @abstractmethod
    async def list_sessions(self) -> list[SessionRecord]:
        """Every session, by id."""

    @abstractmethod
    async def commit_turn(self, session_id: str, expected_version: int, commit: TurnCommit) -> SessionRecord:
        """Commit one turn atomically; return the new head (its scenario unparsed, as :class:`JsonText`).

        Raises:
            ConflictError: the session's version is not ``expected_version`` or the turn is not next.
            NotFoundError: no such session.
        """

    @abstractmethod
    async def turns(self, session_id: str, after: int = 0, upto: int | None = None) -> list[TurnRecord]:
        """Committed turns ``after < turn <= upto``, in order."""

    @abstractmethod
    async def events(self, session_id: str, after_seq: int = 0, limit: int | None = None) -> list[EventRecord]:
        """Committed events with ``seq > after_seq``, in order (at most ``limit``)."""

    @abstractmethod
    async def checkpoint(self, session_id: str, at_or_before: int | None = None) -> tuple[int, bytes] | None:
        """The latest checkpoint at or before a turn (default: the latest), as ``(turn, blob)``."""

    # -- users, API keys, audit log ------------------------------------------------------------
    @abstractmethod
    async def put_user(self, user_id: str, data: dict[str, Any]) -> None:
        """Create or replace a user."""

    @abstractmethod
    async def get_user(self, user_id: str) -> dict[str, Any]:
        """A user's data. ``NotFoundError`` if unknown."""

    @abstractmethod
    async def create_user(self, user_id: str, data: dict[str, Any]) -> None:
        """Store a new user. ``ConflictError`` if the id is taken (unlike :meth:`put_user`)."""

    @abstractmethod
    async def delete_user(self, user_id: str) -> bool:
        """Delete a user and its API keys; whether there was such a user."""

    @abstractmethod
    async def put_api_key(self, key_hash: str, user_id: str, data: dict[str, Any]) -> None:
        """Store an API key by its hash (never the key itself)."""

    @abstractmethod
    async def list_api_keys(self, user_id: str) -> list[tuple[str, dict[str, Any]]]:
        """``(key_hash, data)`` of every key of a user, sorted by hash (empty if none)."""

    @abstractmethod
    async def get_api_key(self, key_hash: str) -> tuple[str, dict[str, Any]]:
        """``(user_id, data)`` of a key hash. ``NotFoundError`` if unknown."""

    @abstractmethod
    async def append_audit(self, actor: str, action: str, data: dict[str, Any]) -> int:
        """Append an audit entry; return its id (increasing)."""

    @abstractmethod
    async def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest audit entries, oldest first."""

    # -- hot state -----------------------------------------------------------------------------
    @abstractmethod
    async def hit(self, counter: str, window_s: int) -> int:
        """Count one hit on a rate-limit counter in the current window; return the window's count."""

    @abstractmethod
    def subscribe(self, session_id: str, after_seq: int = 0) -> AsyncIterator[EventRecord]:
        """Committed events of a session from ``after_seq`` on: the backlog, then live ones."""

    # -- large objects -------------------------------------------------------------------------
    @abstractmethod
    async def put_object(self, key: str, data: bytes) -> str:
        """Store a large object; return its key."""

    @abstractmethod
    async def get_object(self, key: str) -> bytes:
        """A stored object. ``NotFoundError`` if missing."""

    @abstractmethod
    async def list_objects(self, prefix: str) -> list[str]:
        """Keys under a prefix, sorted."""
