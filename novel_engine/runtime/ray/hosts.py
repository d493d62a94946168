"""Session hosts: a pool of warm, named, detached actors, each running many small sessions in process.

An actor per persona costs a worker process (about 58 MiB and 0.4 s to start) per persona; a
six-persona session held eleven of them. A session host holds many sessions instead, each one a
:class:`~novel_engine.runtime.local.LocalRuntime` (the same :class:`TurnPipeline`, so the same
story byte for byte, and an event log numbered as a Ray hub numbers it). Creating a session asks
the host nothing: the session opens on its host with its first call.

The host is a thin shell: it routes calls to its sessions, serialises each session's turns, and
drops sessions by the :class:`~novel_engine.runtime.residency.Residency` rules (idle too long, or
least recently used while the node is over its memory budget). A dropped session, like every
session of a host that restarted, answers ``StateLostError``: the driver rebuilds it from the
state store (``DurableSession`` / ``Engine.aresume``) on the same host, found by its id alone.
Watchers long-polling a dropped session wait for it to come back instead of failing.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import ray

from novel_engine.config import SessionSettings
from novel_engine.core.scenario import Scenario
from novel_engine.errors import SessionError, StateLostError
from novel_engine.llm.port import LanguageModel
from novel_engine.runtime.event_log import HubRead
from novel_engine.runtime.local import LocalRuntime
from novel_engine.runtime.residency import HOST_PREFIX, HostSettings, Residency, host_name

__all__ = ["SessionHost", "host_name", "HOST_PREFIX", "RUNTIME_CALLS"]

#: the LocalRuntime methods a driver may call through a host (reads, and the turn's own steps)
RUNTIME_CALLS = frozenset(
    {
        "step",
        "publish",
        "update_traits",
        "checkpoint",
        "state",
        "turn",
        "summary",
        "reports",
        "world",
        "scenario_and_settings",
        "narrative",
        "markdown",
        "narration_fallbacks",
        "causal_graph",
        "explain",
        "beliefs_of",
        "belief_model_of",
    }
)
_WRITES = frozenset({"step", "publish", "update_traits", "checkpoint", "state"})  # under the session's lock

log = logging.getLogger(__name__)


def _trim() -> None:
    """Give freed memory back to the operating system (glibc keeps it otherwise)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the memory is reused by the next sessions instead
        pass


@ray.remote
class SessionHost:
    """Many sessions' runtimes in one process.

    Args:
        index: this host's place in its pool.
        settings: the pool's settings (idle time, memory budget, sweep period).
    """

    def __init__(self, index: int, settings: HostSettings) -> None:
        self.index, self.settings = index, settings
        self.sessions: dict[str, LocalRuntime] = {}
        self.locks: dict[str, asyncio.Lock] = {}
        self.residency = Residency(settings.idle_s)
        self._returned: dict[str, asyncio.Event] = {}  # dropped sessions someone is waiting for
        self._leaving: dict[str, asyncio.Event] = {}  # set when a resident session leaves memory
        self._sweeper: asyncio.Task | None = None
        self.evictions = 0

    # -- sessions ------------------------------------------------------------------------------
    def _start_sweeper(self) -> None:
        wanted = self.settings.idle_s > 0 or self.settings.memory_budget > 0
        if wanted and (self._sweeper is None or self._sweeper.done()):
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    def _runtime(self, session_id: str) -> LocalRuntime:
        rt = self.sessions.get(session_id)
        if rt is None:
            raise StateLostError(
                f"session {session_id!r} is not in memory on session host {self.index} (dropped while "
                "idle, or the host restarted): rebuild it from the state store",
                session_id=session_id,
                role="host",
            )
        return rt

    def _arrived(self, session_id: str, rt: LocalRuntime) -> None:
        self.sessions[session_id] = rt
        self.locks.setdefault(session_id, asyncio.Lock())
        self._leaving.setdefault(session_id, asyncio.Event())
        self.residency.touch(session_id, time.monotonic())
        waiting = self._returned.pop(session_id, None)
        if waiting is not None:
            waiting.set()
        self._start_sweeper()

    async def open(
        self, session_id: str, scenario: Scenario, settings: SessionSettings, model: LanguageModel | None
    ) -> None:
        """Start a session here at turn 0 (its seed resolved in ``settings``). Its driver stored turn
        0 already (a reference to the session's record) and opens it here with its first call.

        Raises:
            SessionError: a session with this id is in memory here.
        """
        if session_id in self.sessions:
            raise SessionError(f"session {session_id!r} already exists", session_id=session_id)
        self._arrived(session_id, LocalRuntime(scenario, settings, model if model is not None else _offline()))

    async def restore(
        self,
        session_id: str,
        state: Mapping[str, Any],
        scenario: Scenario | None = None,
        settings: SessionSettings | None = None,
        model: LanguageModel | None = None,
    ) -> int:
        """Put a session back to checkpoint ``state`` (with its history), bringing it into memory if
        it is not (then ``scenario`` and ``settings`` are needed); return its turn."""
        rt = self.sessions.get(session_id)
        if rt is None:
            if scenario is None or settings is None:
                raise StateLostError(f"session {session_id!r} needs its scenario to come back", session_id=session_id)
            rt = LocalRuntime(scenario, settings, model if model is not None else _offline())
        async with self.locks.setdefault(session_id, asyncio.Lock()):
            turn = await rt.restore(state)
        self._arrived(session_id, rt)
        return turn

    async def call(
        self, session_id: str, method: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None
    ) -> Any:
        """Call ``method`` (one of :data:`RUNTIME_CALLS`) of a session's runtime. A ``step`` with
        ``checkpoint=True`` answers ``(report, encoded checkpoint after it)``: the turn's driver
        stores both, and one host call costs less than two while the host plays other turns.

        Raises:
            StateLostError: the session is not in memory here.
            SessionError: not a method a driver may call.
        """
        if method not in RUNTIME_CALLS:
            raise SessionError(f"a session host does not answer {method!r}", session_id=session_id)
        rt = self._runtime(session_id)
        self.residency.touch(session_id, time.monotonic())
        if method in _WRITES:
            async with self.locks[session_id]:
                if self.sessions.get(session_id) is not rt:  # dropped while this call waited
                    rt = self._runtime(session_id)
                answer = await getattr(rt, method)(*args, **(kwargs or {}))
                if method == "step" and (kwargs or {}).get("checkpoint"):
                    return answer, await rt.checkpoint()
                return answer
        return await getattr(rt, method)(*args, **(kwargs or {}))

    async def subscribe(
        self, session_id: str, after_seq: int, types: Sequence[str] | None, timeout_s: float, limit: int = 1000
    ) -> HubRead:
        """Long-poll a session's event log (as ``EventHub.subscribe``). Watching is not using: it
        keeps nobody in memory. A watcher of a session that leaves memory waits for it to come back
        (an empty read after ``timeout_s``), with its cursor still valid then.

        Raises:
            StateLostError: the host never had the session, or restarted since.
        """
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            rt = self.sessions.get(session_id)
            if rt is not None:
                read = asyncio.ensure_future(rt.subscribe(after_seq, types, remaining, limit))
                left = asyncio.ensure_future(self._leaving[session_id].wait())
                await asyncio.wait({read, left}, return_when=asyncio.FIRST_COMPLETED)
                left.cancel()
                if read.done():
                    return read.result()
                read.cancel()  # the session left memory meanwhile: wait for it to come back
                continue
            if session_id not in self.residency.evicted:
                self._runtime(session_id)  # raises: never here, or ended for good
            waiting = self._returned.setdefault(session_id, asyncio.Event())
            try:
                await asyncio.wait_for(waiting.wait(), remaining)
            except TimeoutError:
                return HubRead((), after_seq)

    async def last_seq(self, session_id: str) -> int:
        """The sequence number of the newest item on a session's event log."""
        return self._runtime(session_id).log.last_seq

    def has(self, session_id: str) -> bool:
        """Whether the session is in memory here."""
        return session_id in self.sessions

    def session_ids(self) -> list[str]:
        """The sessions in memory here."""
        return sorted(self.sessions)

    async def drop(self, session_id: str) -> bool:
        """End a session for good (what is stored stays stored); False if it was not here."""
        had = self.sessions.pop(session_id, None) is not None
        self.locks.pop(session_id, None)
        self._left(session_id)
        self.residency.drop(session_id, evicted=False)
        waiting = self._returned.pop(session_id, None)
        if waiting is not None:
            waiting.set()
        return had

    async def evict(self, session_ids: Sequence[str]) -> list[str]:
        """Drop sessions from memory now (they come back from the store); return those dropped.
        A session in the middle of a turn stays."""
        out = []
        for sid in session_ids:
            lock = self.locks.get(sid)
            if sid in self.sessions and not (lock is not None and lock.locked()):
                del self.sessions[sid]
                self.locks.pop(sid, None)
                self._left(sid)
                self.residency.drop(sid, evicted=True)
                out.append(sid)
        if out:
            self.evictions += len(out)
            # turns freeze what they keep out of the collector's sight (gc_paused): look once more
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            _trim()
        return out

    def _left(self, session_id: str) -> None:
        leaving = self._leaving.pop(session_id, None)
        if leaving is not None:
            leaving.set()

    def stats(self) -> dict[str, Any]:
        """What this host holds: sessions in memory, sessions dropped so far, and its RSS."""
        import psutil

        return {
            "index": self.index,
            "sessions": len(self.sessions),
            "evictions": self.evictions,
            "rss": psutil.Process().memory_info().rss,
        }

    def ping(self) -> int:
        return self.index

    # -- the sweeper -----------------------------------------------------------------------------
    def _busy(self) -> list[str]:
        return [s for s, lock in self.locks.items() if lock.locked()]

    async def sweep(self) -> list[str]:
        """Drop the sessions idle too long, then, while the node is over the memory budget, a
        quarter of the rest, least recently used first; return those dropped."""
        import psutil

        busy = self._busy()
        dropped = await self.evict(self.residency.idle(time.monotonic(), busy))
        mem = psutil.virtual_memory()
        budget = self.settings.budget_bytes(mem.total)
        if budget and mem.total - mem.available > budget and self.sessions:
            dropped += await self.evict(self.residency.least_recent(max(1, len(self.sessions) // 4), busy))
        if dropped:
            log.info("session host %d dropped %d idle or least recently used sessions", self.index, len(dropped))
        return dropped

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_s)
            try:
                await self.sweep()
            except Exception:  # noqa: BLE001 - a failed sweep must not stop the next one
                log.exception("session host %d: sweep failed", self.index)


def _offline() -> LanguageModel:
    from novel_engine.llm.offline import OfflineModel

    return OfflineModel()
