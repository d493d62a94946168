"""Replicas: one local session's turns shared by several processes of this machine.

A large cast's turn is CPU-bound Python, and one process uses one core. With ``processes=N`` a
local session runs in the driver's process and in N-1 *replica* processes, forked from the driver
once its state is built or restored (so each starts as an exact copy). Every process plays every
turn:

- resolve runs in every process, on the whole world: it is the director's sequential work, and
  repeating it costs less than shipping a world between processes;
- the rest is split: process ``k`` handles the personas at positions k, k+N, k+2N... of the sorted
  cast (:meth:`Split.owner`): it routes their perceptions (hearsay still spreads through the whole
  cast), updates their beliefs, briefs them and decides for them, and it alone holds their belief
  models and memories;
- the replicas send their decisions to the driver, which answers each with everyone else's, so
  every process resolves the same decisions (the director takes them in actor order) and the
  worlds stay identical. A
  digest of each resolved turn is compared; a replica that diverges, fails or dies stops the
  session with a :class:`~novel_engine.errors.ReplicaError` (never a hang).

Only the driver narrates. Only the offline model is shared out: a model behind a network is bound
by its latency, which one process already hides (``LocalRuntime._decide_as_briefed``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
import warnings
import weakref
import zlib
from collections.abc import Iterable, Mapping, Sequence
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from novel_engine.core.events import Action, Event
from novel_engine.errors import ConfigError, ReplicaError
from novel_engine.runtime import wire  # noqa: F401 - Action records pickle as constructor calls

if TYPE_CHECKING:  # pragma: no cover
    from novel_engine.runtime.local import LocalRuntime

__all__ = ["Split", "Replicas", "turn_digest"]

POLL_S = 0.25  # how often a wait for a replica checks that the replica is still alive
CLOSE_S = 5.0  # how long a closing replica gets before it is terminated


def turn_digest(turn: int, events: Sequence[Event], tension: float, fragments: int) -> tuple:
    """A short fingerprint of a resolved turn: equal in two processes only if they resolved alike."""
    text = "\n".join(f"{e.id}|{e.actor}|{e.action_type}|{e.target}|{e.location}|{e.outcome.value}" for e in events)
    return turn, len(events), tension, fragments, zlib.crc32(text.encode())


def _merge(parts: Iterable[Mapping[str, Action]]) -> dict[str, Action]:
    """Every part's decisions in one dict (the director resolves them in actor order, whatever
    the dict's)."""
    every: dict[str, Action] = {}
    for part in parts:
        every.update(part)
    return every


class Split:
    """Which personas one process of a replicated session decides for.

    Args:
        part: this process's number (0: the driver).
        parts: how many processes share the session.
    """

    def __init__(self, part: int, parts: int) -> None:
        self.part, self.parts = part, parts
        self._position: dict[str, int] = {}
        self.own: list[str] = []

    def assign(self, persona_ids: Iterable[str]) -> None:
        """Fix ownership by position in the sorted cast (the same in every process)."""
        cast = sorted(persona_ids)
        self._position = {pid: i for i, pid in enumerate(cast)}
        self.own = cast[self.part :: self.parts]  # this process's personas, sorted

    def owner(self, persona_id: str) -> int:
        """The process that decides for ``persona_id`` and holds its beliefs."""
        return self._position.get(persona_id, 0) % self.parts

    def mine(self, ids: Iterable[str]) -> list[str]:
        """The personas of ``ids`` this process decides for, in the order given."""
        part, parts, position = self.part, self.parts, self._position
        return [pid for pid in ids if position.get(pid, 0) % parts == part]

    # what a turn asks of the split; the driver's and a replica's answers differ
    def begin(self, actions: Mapping[str, Action], world_events: Sequence[Any]) -> None:
        """A turn starts (the driver tells its replicas)."""

    def exchange(self, mine: Mapping[str, Action]) -> dict[str, Action]:
        """Every process's decisions, given this process's own."""
        raise NotImplementedError

    def check(self, digest: tuple) -> None:
        """The turn is resolved; compare its digest across processes."""
        raise NotImplementedError


class Replicas(Split):
    """The driver's side: it forks the replica processes, feeds them turns and gathers from them.

    Args:
        runtime: the driver's runtime, fully built or restored: each replica starts as a copy of
            it (``os.fork``: no world to rebuild or ship, whatever the cast size).
        parts: how many processes share the session (the driver is one of them).
    Raises:
        ConfigError: this platform cannot fork.
    """

    def __init__(self, runtime: LocalRuntime, parts: int) -> None:
        super().__init__(0, parts)
        if not hasattr(os, "fork"):
            raise ConfigError("processes > 1 needs os.fork (Linux or another POSIX system)", setting="processes")
        self._conns: list[Connection] = []
        self._children: list[_Child] = []
        self.failed: str | None = None
        for k in range(1, parts):
            here, there = socket.socketpair()
            with warnings.catch_warnings():
                # Python 3.12+ warns when a process with threads forks: a lock another thread
                # holds stays locked in the child. The child runs only the engine's own code on
                # a fresh thread and leaves by os._exit, never through the driver's code.
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:
                here.close()
                _replica(runtime, there, k, parts)  # never returns
            there.close()
            conn = Connection(here.detach())
            _DRIVER_ENDS.add(conn)
            self._conns.append(conn)
            self._children.append(_Child(pid))
        self._finalizer = weakref.finalize(self, _shutdown, list(self._conns), list(self._children))

    def _send(self, k: int, message: tuple) -> None:
        if self.failed is not None:
            raise ReplicaError(self.failed, part=k)
        try:
            self._conns[k - 1].send(message)
        except OSError as exc:
            raise self._broken(k, f"could not reach replica {k}: {exc}") from None

    def _recv(self, k: int, tag: str) -> Any:
        conn, child = self._conns[k - 1], self._children[k - 1]
        try:
            while not conn.poll(POLL_S):
                if child.poll() is not None:
                    raise self._broken(k, f"replica process {k} exited ({child.describe()})")
            message = conn.recv()
        except (EOFError, OSError):
            raise self._broken(k, f"replica process {k} is gone ({child.describe()})") from None
        if message[0] == "error":
            raise self._broken(k, f"replica process {k} failed: {message[1]}")
        if message[0] != tag:
            raise self._broken(k, f"replica process {k} answered {message[0]!r} where {tag!r} was due")
        return message[1]

    def _broken(self, k: int, why: str) -> ReplicaError:
        """Stop every replica: a session whose processes disagree on where they are cannot go on."""
        self.failed = f"{why}; this session cannot continue (resume it from its store, or start it again)"
        self._finalizer()
        return ReplicaError(self.failed, part=k)

    def _each(self) -> range:
        return range(1, self.parts)

    def begin(self, actions: Mapping[str, Action], world_events: Sequence[Any]) -> None:
        for k in self._each():
            self._send(k, ("step", dict(actions), list(world_events)))

    def exchange(self, mine: Mapping[str, Action]) -> dict[str, Action]:
        got = [dict(mine)] + [self._recv(k, "decisions") for k in self._each()]
        for k in self._each():  # each replica gets what the others decided
            self._send(k, ("decisions", [d for j, d in enumerate(got) if j != k]))
        return _merge(got)

    def check(self, digest: tuple) -> None:
        for k in self._each():
            theirs = self._recv(k, "digest")
            if theirs != digest:
                raise self._broken(
                    k,
                    f"replica process {k} resolved turn {digest[0]} differently from the "
                    f"driver (digest {theirs} vs {digest}): the worlds diverged",
                )

    def ask(self, k: int, request: tuple) -> Any:
        """Send a replica a request between turns and return its answer."""
        self._send(k, request)
        return self._recv(k, request[0])

    def beliefs_of(self, persona_id: str, limit: int) -> list:
        """The leading beliefs of a persona a replica holds."""
        return self.ask(self.owner(persona_id), ("beliefs_of", persona_id, limit))

    def held(self) -> list[tuple[dict, dict]]:
        """What every replica holds, as checkpoint data: (belief models, memory rows) each."""
        return [self.ask(k, ("held",)) for k in self._each()]

    def pids(self) -> list[int]:
        """The replica processes' ids."""
        return [c.pid for c in self._children]

    def close(self) -> None:
        """Tell every replica to stop; kill those that have not within a few seconds."""
        self._finalizer()


class _Child:
    """A forked replica process, reaped when it ends."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.status: int | None = None

    def poll(self) -> int | None:
        """The wait status once the process has ended, else None."""
        if self.status is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere
                pid, status = self.pid, -1
            if pid == self.pid:
                self.status = status
        return self.status

    def describe(self) -> str:
        status = self.poll()
        if status is None or status < 0:
            return "exit status unknown"
        if os.WIFSIGNALED(status):
            return f"killed by signal {os.WTERMSIG(status)}"
        return f"exit code {os.waitstatus_to_exitcode(status)}"

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the end; True if it ended."""
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True


_DRIVER_ENDS: weakref.WeakSet[Connection] = weakref.WeakSet()  # a replica closes its copies of these


def _shutdown(conns: list[Connection], children: list[_Child]) -> None:
    for conn in conns:
        try:
            conn.send(("close",))
        except OSError:
            pass
    for conn, child in zip(conns, children):
        if not child.wait(CLOSE_S):
            try:
                os.kill(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            child.wait(CLOSE_S)
        conn.close()


def _replica(runtime: LocalRuntime, sock: socket.socket, part: int, parts: int) -> None:
    """The forked child: serve the driver, then leave without running any of the driver's exit code."""
    code = 1
    try:
        for conn in list(_DRIVER_ENDS):  # other replicas' pipes: their ends must close with the driver
            conn.close()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
        # a fresh thread: the forking thread may be inside a running event loop (restores are)
        th = threading.Thread(target=serve, args=(runtime, Connection(sock.detach()), part, parts))
        th.start()
        th.join()
        code = 0
    finally:
        os._exit(code)


class Link(Split):
    """A replica's side: it sends its decisions and digests to the driver and takes the others'."""

    def __init__(self, conn: Connection, part: int, parts: int) -> None:
        super().__init__(part, parts)
        self.conn = conn

    def exchange(self, mine: Mapping[str, Action]) -> dict[str, Action]:
        self.conn.send(("decisions", dict(mine)))
        tag, others = self.conn.recv()
        if tag != "decisions":
            raise ReplicaError(f"the driver sent {tag!r} where decisions were due", part=self.part)
        return _merge([mine, *others])

    def check(self, digest: tuple) -> None:
        self.conn.send(("digest", digest))


def serve(runtime: LocalRuntime, conn: Connection, part: int, parts: int) -> None:
    """A replica: play turns and answer requests until told to stop or until the driver is gone."""
    from novel_engine.runtime.checkpoint import memory_rows

    loop = asyncio.new_event_loop()
    rt = runtime
    try:
        rt.join(Link(conn, part, parts))
        rt.narrates = False
        while True:
            message = conn.recv()
            op = message[0]
            if op == "step":
                loop.run_until_complete(rt.step(message[1], message[2]))
            elif op == "beliefs_of":
                conn.send((op, rt.beliefs.beliefs_of(message[1], message[2])))
            elif op == "model_of":
                conn.send((op, rt.beliefs.model_of(message[1])))
            elif op == "held":
                conn.send((op, (rt.beliefs.to_dict(), memory_rows(rt.pool.agents))))
            elif op == "close":
                return
            else:
                raise ReplicaError(f"unknown request {op!r}", part=part)
    except EOFError:  # the driver is gone
        return
    except BaseException as exc:  # noqa: BLE001 - reported to the driver, which raises it
        try:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        except OSError:
            pass
    finally:
        loop.close()
