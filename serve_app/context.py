"""What one Serve replica holds: its settings, the engine (and through it the one state store), the
access port, the auth service and the session access rules.

Runtime choice (why ``Engine("ray")`` with detached, named sessions): with more than one replica,
any replica may receive any request for a session. A session's state lives in its own named Ray
actors (director, shards, chronicler, event hub), so every replica attaches to the same live
session by id and the director's turn lock serialises turns whichever replica sends them. A local
runtime per replica would hold a private copy of each session, and two replicas would diverge (or
need to reload from the store on every request). The sessions are detached, so they outlive the
replica that created them (a replica restart or scale-down loses nothing). Users, keys, the audit
log, ownership, player grants and queued actions go through the access port
(:mod:`serve_app.security.access_port`), kept in the engine's own state store, which every replica
shares: a replica opens no store of its own.

Durability: the engine commits every turn to the same state store, so a session whose actors are
gone (a cluster restart, a lost actor) is resumed from its last committed turn by the next request
that needs it, and forks are built from the store rather than from a director's memory.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from starlette.concurrency import run_in_threadpool

from novel_engine.errors import NotFoundError, NovelEngineError, PermissionDeniedError, SessionError
from novel_engine.runtime.durability import is_state_loss as is_actor_loss
from serve_app.config import ServeConfig
from serve_app.heads import head_of
from serve_app.problems import Problem
from serve_app.security.access_port import AccessPort, SessionAccess
from serve_app.security.store_call import StoreCall

__all__ = ["ServeContext", "OWNER", "BELIEFS", "ACT"]

log = logging.getLogger("serve_app")

# what a route needs from the caller (see ServeContext.authorize)
OWNER, BELIEFS, ACT = "owner", "beliefs", "act"


def not_found(session_id: str) -> Problem:
    """The one answer for a missing session and for someone else's (so existence does not leak)."""
    return Problem(404, "not-found", f"no session {session_id!r}", title="Not found")


class ServeContext:
    """Per-replica state, opened on the replica's event loop at the first request.

    Args:
        config: the server settings.
    """

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.llm = config.llm_access()
        self.store: StoreCall | None = None  # the engine's store, called on its loop
        self.access: AccessPort | None = None
        self.auth: Any = None
        self.engine: Any = None
        self.fanout: Any = None
        self._sessions: dict[str, Any] = {}  # attached session handles (attaching costs Ray calls)
        self._lock = asyncio.Lock()
        self._resuming = asyncio.Lock()  # one resume at a time in this replica (it creates actors)
        # one turn at a time per session in this replica: concurrent POSTs queue instead of racing to
        # commit the same turn (and losing with 409); other replicas still meet optimistic versioning
        self._turn_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._ready = False

    async def start(self) -> ServeContext:
        """Connect the engine (which opens the state store), then the access port and the auth
        service over that same store (idempotent).

        Raises:
            ConfigError / StoreError: a bad setting or an unreachable store (the request fails clearly).
        """
        if self._ready:
            return self
        async with self._lock:
            if self._ready:
                return self
            from novel_engine.api import Engine
            from serve_app.fanout import Fanout
            from serve_app.security import AuthService, AuthSettings
            from serve_app.security.access_store import access_for

            settings = AuthSettings.from_env(self.config.dev_mode)  # a bad secret fails before Ray starts
            # on this replica's loop: turns, the store and the routes share it (no thread per turn)
            hosts = self.config.host_settings()
            engine = await Engine.aopen("ray", store=self.config.store_settings(), hosts=hosts)
            try:
                store = StoreCall.of_engine(engine)
                access = access_for(store)
                await access.open()
            except BaseException:
                await engine.aclose()
                raise
            self.engine, self.store, self.access = engine, store, access
            self.auth = AuthService(access, settings)
            self.fanout = Fanout(self.hub_of, self.config.poll_timeout_s)
            self._ready = True
        return self

    async def close(self) -> None:
        """Stop the fan-out and close the engine and its store (sessions keep running: they are detached)."""
        if self.fanout is not None:
            await self.fanout.close()
        if self.engine is not None:
            await self.engine.aclose()
        self._ready = False

    # -- sessions and who may use them ---------------------------------------------------------
    async def owner_record(self, session_id: str) -> SessionAccess | None:
        # Read every time, never cached: a session deleted through another replica must be a 404
        # here at once (the lookup is one indexed row).
        return await self.access.get_session(session_id)

    async def authorize(
        self, principal: Any, session_id: str, need: str = OWNER, agent_id: str | None = None
    ) -> SessionAccess:
        """Check that ``principal`` may do ``need`` on the session; return its access record.

        The owner may do everything. A player of ``agent_id`` may read its beliefs (``BELIEFS``)
        and send its actions (``ACT``), nothing else. Anyone else gets the same 404 as for a session
        that does not exist; every refusal is audited.

        Raises:
            Problem: 404 (not the caller's, or missing); PermissionDeniedError (a player asking
                for more than the grant).
        """
        rec = await self.owner_record(session_id)
        if rec is not None and rec.owner == principal.user_id:
            return rec
        if rec is None:
            raise not_found(session_id)
        if need in (BELIEFS, ACT) and agent_id is not None:
            meta = await self.access.agent(session_id, agent_id)
            if meta.player_id == principal.user_id:
                return rec
        player = await self.access.is_player(session_id, principal.user_id)
        await self.audit_denied(principal, session_id, need, agent_id, "player" if player else "stranger")
        if player:
            raise PermissionDeniedError(
                f"you play an agent of session {session_id!r}, which does not allow this", session_id=session_id
            )
        raise not_found(session_id)

    async def audit_denied(
        self, principal: Any, session_id: str, need: str, agent_id: str | None, relation: str
    ) -> None:
        try:
            await self.auth.audit(
                "access_denied",
                principal.user_id,
                session_id=session_id,
                need=need,
                agent_id=agent_id,
                relation=relation,
            )
        except NovelEngineError as err:  # a failing audit write must not turn a denial into a 500
            log.warning("audit of a denied access failed: %s", err.message)

    def turn_lock(self, session_id: str) -> asyncio.Lock:
        """The lock that serialises this replica's turns of one session (kept while anyone holds it)."""
        lock = self._turn_locks.get(session_id)
        if lock is None:
            lock = self._turn_locks[session_id] = asyncio.Lock()
        return lock

    async def session(self, session_id: str) -> Any:
        """The live session (attached once per replica).

        A session whose actors are gone, or restarted and lost their state, is resumed from the
        state store (new detached actors, or the live ones restored); 404 if the store does not
        have it either.
        """
        return (await self.session_summary(session_id))[0]

    async def session_to_play(self, session_id: str) -> Any:
        """The session to play a turn on. One this replica holds on a runtime that is always there
        (a session host) is used as it is: its step finds lost or moved-on state and rebuilds it,
        so the host's queue is not asked first. Any other is checked live (:meth:`session`)."""
        session = self._sessions.get(session_id)
        if session is not None and session.always_there:
            return session
        return await self.session(session_id)

    async def session_head(self, session_id: str) -> tuple[Any, dict[str, Any]]:
        """The session and where it stands, for a read of its status: as :meth:`session_summary`,
        except that a session this replica holds on a shared runtime that is always there (a
        session host) is summed up from the store. What is committed is what the API shows, and
        the host, busy playing other sessions' turns, is neither asked nor made to bring back a
        session it let go. That head also carries the fork ``parent``
        (:func:`~serve_app.heads.head_of`)."""
        session = self._sessions.get(session_id)
        if session is not None and session.always_there and session.shared:
            stored = await head_of(self.store, session_id)
            if stored is not None:
                head = {"turn": stored.turn, "tension": stored.tension, "restarted": False, "parent": stored.parent}
                return session, head
        return await self.session_summary(session_id)

    async def session_summary(self, session_id: str) -> tuple[Any, dict[str, Any]]:
        """The live session and its summary (``Session.asummary``), in one director call."""
        session = self._sessions.get(session_id)
        head = await self._live(session) if session is not None else None
        if head is not None:
            return session, head
        self.forget(session_id)
        try:
            session = await self.engine.aattach(session_id)
        except Exception as err:  # noqa: BLE001 - only "no actors" and actor losses are handled
            if not isinstance(err, SessionError) and not is_actor_loss(err):
                raise
            self.forget(session_id)
            session = None
        head = await self._live(session) if session is not None else None
        if head is None:
            session = await self._resume(session_id)
            head = await session.asummary()
        self._sessions[session_id] = session
        return session, head

    async def _live(self, session: Any) -> dict[str, Any] | None:
        """The session's summary if its director answers and holds the session's state, else None.

        A director that restarted says so until it is restored. One at turn 0 may also be a
        resumed session's new director not restored yet, so only then is the store asked (a read
        per request would cost more than the rest of a GET).
        """
        try:
            head = await session.asummary()
        except Exception as err:  # noqa: BLE001
            if is_actor_loss(err):
                return None
            raise
        if head.get("restarted"):
            return None
        if head["turn"] == 0:
            try:
                stored = await self.store(lambda s: s.get_session(session.id, fresh=True))
            except NotFoundError:
                return head  # not a stored session: the actors are all there is
            if stored.turn > 0:
                return None
        return head

    async def _resume(self, session_id: str) -> Any:
        async with self._resuming:
            session = self._sessions.get(session_id)
            if session is not None:
                return session  # resumed by a concurrent request
            try:
                session = await self.engine.aresume(session_id, detached=True)
            except SessionError:
                raise not_found(session_id) from None
            log.info("session %s resumed from the state store", session_id)
            return session

    async def end(self, session_id: str) -> None:
        """Kill whatever actors the session still has (never new ones just to end them), by name:
        attaching would ask the director, which may be restarting right now and would then come
        back after the delete, alive and unowned."""
        self.forget(session_id)
        await run_in_threadpool(self.engine.end, session_id)

    def forget(self, session_id: str) -> None:
        """Drop this replica's handle of a session (after a delete, or when its actors are gone)."""
        self._sessions.pop(session_id, None)
        self.engine.forget(session_id)

    async def hub_of(self, session_id: str) -> Any:
        """The session's event-hub actor (for the fan-out poller)."""
        session = await self.session(session_id)
        return await run_in_threadpool(session.event_hub)

    # -- readiness -----------------------------------------------------------------------------
    async def readiness(self) -> dict[str, str]:
        """Check Ray, the SQL store and the cache; ``{"ray": "ok"|reason, ...}``."""
        from novel_engine.runtime.ray.connection import cluster_alive

        checks: dict[str, str] = {}
        try:
            alive = await asyncio.wait_for(run_in_threadpool(cluster_alive), 5)
            checks["ray"] = "ok" if alive else "not connected"
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready", with the reason
            checks["ray"] = f"unavailable: {type(exc).__name__}"
        for name, probe in (
            ("store", lambda: self.store(lambda s: s.sql.schema_version())),
            ("cache", lambda: self.store(lambda s: s.hot.cache_get("novel-engine:ready-probe"))),
        ):
            try:
                await asyncio.wait_for(probe(), 5)
                checks[name] = "ok"
            except Exception as exc:  # noqa: BLE001
                checks[name] = f"unavailable: {type(exc).__name__}"
        return checks
