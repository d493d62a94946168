"""Where a hosted session lives and when it leaves memory: pure rules, no Ray, no clock of its own.

Small sessions share *session hosts* (:mod:`novel_engine.runtime.ray.hosts`): a fixed pool of
named actors, each holding many sessions in process. Two rules decide everything:

- **Where.** A session's host is a pure function of its id and the pool (:func:`host_of`,
  rendezvous hashing), so every driver and Serve replica finds it without asking anyone and
  without shared mutable state; growing the pool moves only the sessions the new host wins. A
  session that lands elsewhere after a change comes back from the state store like an evicted one.
- **When it leaves.** A host drops a session idle longer than ``idle_s`` and, while its node uses
  more memory than the budget, the least recently used ones first (:class:`Residency`). A dropped
  session is only its stored state; the next request rebuilds it (the durability layer's one
  ``rebuild``), with the same story and the same event sequence numbers.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from novel_engine.core.rng import stable_hash
from novel_engine.errors import ConfigError

__all__ = ["HostSettings", "Residency", "host_of", "host_name", "HOST_PREFIX"]

HOST_PREFIX = "ne-host:"


@dataclass(frozen=True, slots=True)
class HostSettings:
    """The session-host pool of an engine.

    Attributes:
        hosts: how many session hosts (every driver of a cluster must use the same number: it
            decides where a session lives).
        max_personas: casts up to this many personas are hosted when their settings leave the
            placement to the engine (``placement="auto"``); 0: only ``placement="host"`` sessions.
        idle_s: drop a session from memory after this many seconds without a request; 0: never.
        actors_idle_s: end a session with actors of its own (a large cast) after this many idle
            seconds; its state stays in the store, and a Serve replica resumes it on the next
            request (a script resumes it with ``Engine.resume``); 0: never.
        memory_budget: the node's memory a host keeps under by dropping its least recently used
            sessions: a fraction of the node's memory (<= 1) or bytes (> 1); 0: no budget.
        sweep_s: how often a host looks for sessions to drop.
        pool: the pool's name (actors ``ne-host:<pool>:<i>``): pools with other settings coexist.
    """

    hosts: int = 2
    max_personas: int = 0
    idle_s: float = 0.0
    actors_idle_s: float = 0.0
    memory_budget: float = 0.0
    sweep_s: float = 5.0
    pool: str = "default"

    def __post_init__(self) -> None:
        if self.hosts < 1:
            raise ConfigError(f"session hosts: at least 1, got {self.hosts}", setting="hosts")
        for name in ("max_personas", "idle_s", "actors_idle_s", "memory_budget"):
            if getattr(self, name) < 0:
                raise ConfigError(f"session hosts: {name} must be 0 or more", setting=name)
        if self.sweep_s <= 0:
            raise ConfigError("session hosts: sweep_s must be positive", setting="sweep_s")

    def budget_bytes(self, total: int) -> int:
        """The memory budget in bytes on a node with ``total`` bytes (0: none)."""
        if self.memory_budget <= 0:
            return 0
        return int(self.memory_budget * total) if self.memory_budget <= 1 else int(self.memory_budget)


def host_name(pool: str, index: int) -> str:
    """The actor name of host ``index`` of pool ``pool``."""
    return f"{HOST_PREFIX}{pool}:{index}"


def host_of(session_id: str, hosts: int) -> int:
    """The index of the host of ``session_id`` in a pool of ``hosts`` (rendezvous hashing)."""
    return max(range(hosts), key=lambda i: stable_hash(f"{session_id}@{i}"))


class Residency:
    """A host's bookkeeping: when each session was last used, and which sessions were dropped.

    Args:
        idle_s: a session idle this long is due to leave (0: never for idleness).
        remember: how many dropped session ids are kept (their watchers wait for them to return).
    """

    def __init__(self, idle_s: float, remember: int = 100_000) -> None:
        self.idle_s = idle_s
        self._used: OrderedDict[str, float] = OrderedDict()  # least recently used first
        self.evicted: OrderedDict[str, None] = OrderedDict()
        self._remember = remember

    def touch(self, session_id: str, now: float) -> None:
        """``session_id`` was used at ``now`` (it is resident)."""
        self._used[session_id] = now
        self._used.move_to_end(session_id)
        self.evicted.pop(session_id, None)

    def drop(self, session_id: str, *, evicted: bool) -> None:
        """``session_id`` left memory: evicted (it may come back) or ended for good."""
        self._used.pop(session_id, None)
        if evicted:
            self.evicted[session_id] = None
            while len(self.evicted) > self._remember:
                self.evicted.popitem(last=False)
        else:
            self.evicted.pop(session_id, None)

    def idle(self, now: float, busy: Iterable[str] = ()) -> list[str]:
        """The resident sessions idle for ``idle_s`` or longer at ``now`` (none when 0), oldest first."""
        if self.idle_s <= 0:
            return []
        skip = set(busy)
        return [s for s, t in self._used.items() if now - t >= self.idle_s and s not in skip]

    def least_recent(self, n: int, busy: Iterable[str] = ()) -> list[str]:
        """Up to ``n`` resident sessions, least recently used first, except ``busy`` ones."""
        skip = set(busy)
        out: list[str] = []
        for s in self._used:
            if len(out) >= n:
                break
            if s not in skip:
                out.append(s)
        return out

    def __len__(self) -> int:
        return len(self._used)
