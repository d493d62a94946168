"""The faults of ``novel-engine bench load --chaos``, injected on a schedule while the load runs.

A chaos run owns everything it breaks: the server is ``novel-engine serve`` started here as a
child process (:class:`ServerProcess`), over a private PostgreSQL and a private Redis
(:mod:`serve_app.chaos_services`), unless given URLs with the commands that restart them. The
faults, in the order given, evenly spread over the run:

- ``redis``: Redis stopped, down ``outage_s`` seconds, started again (empty);
- ``postgres``: PostgreSQL stopped (``fast``: open transactions rolled back, connections cut, as
  ``pg_ctlcluster ... restart``), down ``outage_s`` seconds, started again;
- ``actor``: one named actor of a session being played killed as a crash would (Ray may restart
  it, with its state lost); which actor is :func:`session_actor_names` (today a persona shard,
  ``ne:<session>:persona:<i>``; a session-host actor once sessions share hosts);
- ``replica``: one Serve replica of the app killed (Serve starts a new one);
- ``server``: ``novel-engine serve`` killed with SIGKILL, as an OOM kill would, and started again
  on the same port over the same store (its sessions come back from the store on their next use).

Actors are killed by a short-lived process that joins the server's Ray instance as a driver
(``python -m serve_app.chaos kill-actor|kill-replica GCS ...``), so this process never becomes a
driver of a cluster that is about to be killed.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from novel_engine.errors import BenchmarkError, ConfigError
from novel_engine.runtime.residency import HOST_PREFIX, host_name, host_of

__all__ = [
    "FAULTS",
    "parse_faults",
    "plan",
    "ServerProcess",
    "CommandRestart",
    "Chaos",
    "session_actor_names",
]

FAULTS = ("redis", "postgres", "actor", "replica", "server")
APP_NAME = "novel-engine"  # the app `novel-engine serve` deploys
START_ATTEMPTS = 3  # starts of the killed server tried before the fault counts as failed
SESSION_NAMESPACE = "novel_engine"  # novel_engine.runtime.ray.runtime.NAMESPACE (no Ray import here)


def parse_faults(text: str) -> list[str]:
    """``"redis,server"`` as a list of faults; ``"all"`` (or empty) is every fault in order.

    Raises:
        ConfigError: an unknown fault.
    """
    names = [n.strip() for n in text.split(",") if n.strip()] if text and text != "all" else list(FAULTS)
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        raise ConfigError(
            f"--chaos: unknown fault(s) {', '.join(unknown)}; known: {', '.join(FAULTS)}", setting="chaos"
        )
    return names


def plan(faults: Sequence[str], duration_s: float) -> list[tuple[float, str]]:
    """When each fault starts, in seconds from the start of the load: evenly spread, so that the
    run has a stretch before the first and after the last."""
    return [(round(duration_s * (i + 1) / (len(faults) + 1), 1), f) for i, f in enumerate(faults)]


def session_actor_names(names: Sequence[str], session_id: str, role: str) -> list[str]:
    """The named actors of ``session_id`` that play ``role`` (``persona``, ``belief``, ``hub``,
    ``director``...), sorted: a session with actors of its own names them ``ne:<session>:<role>[:<i>]``.
    A hosted session has none: then its session host (``ne-host:<pool>:<i>``, found from the
    session id as the pool finds it), whose loss costs the session its state as a persona's would."""
    prefix = f"ne:{session_id}:{role}"
    own = sorted(n for n in names if n == prefix or n.startswith(prefix + ":"))
    if own:
        return own
    pools: dict[str, int] = {}
    for n in names:
        if n.startswith(HOST_PREFIX):
            pool = n[len(HOST_PREFIX) :].rpartition(":")[0]
            pools[pool] = pools.get(pool, 0) + 1
    return sorted(host_name(pool, host_of(session_id, size)) for pool, size in pools.items())


class CommandRestart:
    """A service restarted by a shell command given by the operator (``--postgres-restart``)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def restart(self, down_s: float = 0.0) -> None:  # the command decides how long it stays down
        proc = subprocess.run(shlex.split(self.command), capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BenchmarkError(f"`{self.command}` failed ({proc.returncode}): {proc.stderr[-500:]}")


class ServerProcess:
    """``novel-engine serve`` as a child process on a fixed loopback port, over the given store.

    Args:
        store: the store settings (database, redis and object store URLs).
        env: extra environment (the JWT secret, limits): the same for every start, so tokens
            issued before a restart stay valid after it.
        replicas: gateway replicas.
        log_path: where the server's output goes (appended across restarts).
    """

    def __init__(self, store: Any, env: dict[str, str], replicas: int, log_path: str | os.PathLike) -> None:
        from serve_app.chaos_services import free_port

        self.store, self.env, self.replicas = store, env, replicas
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path)
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 300.0) -> float:
        """Start the server and wait until it answers ``/health``; seconds it took."""
        argv = [sys.executable, "-m", "novel_engine", "serve", "--port", str(self.port)]
        argv += ["--replicas", str(self.replicas), "--database-url", self.store.database_url]
        argv += ["--object-store-url", self.store.object_store_url]
        if self.store.redis_url:
            argv += ["--redis-url", self.store.redis_url]
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # a Ray instance of its own
        env.update(self.env)
        t = time.monotonic()
        with open(self.log_path, "a", encoding="utf-8") as log:
            self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        while time.monotonic() - t < timeout_s:
            if self.proc.poll() is not None:
                raise BenchmarkError(f"`novel-engine serve` exited with {self.proc.returncode}: {self._log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        return time.monotonic() - t
            except OSError:
                time.sleep(0.5)
        self.kill()
        raise BenchmarkError(f"`novel-engine serve` did not answer /health in {timeout_s:g} s: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def _tree(self) -> list[Any]:
        import psutil

        try:
            me = psutil.Process(self.proc.pid)
            return [me, *me.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def gcs_address(self) -> str:
        """The address of the server's Ray instance (read from its processes' command lines)."""
        import psutil

        for p in self._tree():
            try:
                for arg in p.cmdline():
                    if arg.startswith("--gcs-address="):
                        return arg.split("=", 1)[1]
            except psutil.Error:
                continue
        raise BenchmarkError("cannot find the server's Ray instance among its processes")

    def kill(self, wait_s: float = 30.0) -> int:
        """SIGKILL the server and wait (at most ``wait_s``) until every process it started is gone;
        how many were still exiting then (a supervisor restarting it would not wait longer)."""
        import psutil

        if self.proc is None:
            return 0
        tree = self._tree()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None
        _, alive = psutil.wait_procs(tree, timeout=wait_s)
        return len([p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE])

    def stop(self, wait_s: float = 120.0) -> None:
        """Stop the server as Ctrl-C does (SIGKILL if it does not end in ``wait_s``)."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=wait_s)
            self.proc = None
        except subprocess.TimeoutExpired:
            self.kill()


def _ray_tool(*args: str) -> dict[str, Any]:
    # a local Ray instance runs with token auth (the token in ~/.ray): a driver joining it must say so
    env = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "token")}
    proc = subprocess.run(
        [sys.executable, "-m", "serve_app.chaos", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise BenchmarkError(f"`serve_app.chaos {args[0]}` failed ({proc.returncode}): {proc.stderr[-1500:]}")
    return json.loads(lines[-1])


class Chaos:
    """The faults of one run over its server and services (see the module docstring).

    Args:
        server: the :class:`ServerProcess`.
        postgres / redis: what ``restart(down_s)`` restarts them (private servers or commands).
        playing_path: the file in which the load driver lists the sessions being played.
        outage_s: how long PostgreSQL and Redis stay down.
        actor_role: the role of the session actor the ``actor`` fault kills.
        seed: picks the victims.
    """

    def __init__(
        self,
        server: ServerProcess,
        postgres: Any,
        redis: Any,
        playing_path: str | os.PathLike,
        outage_s: float = 3.0,
        actor_role: str = "persona",
        seed: int = 1,
    ) -> None:
        self.server, self.postgres, self.redis = server, postgres, redis
        self.playing_path = Path(playing_path)
        self.outage_s, self.actor_role = outage_s, actor_role
        self.rng = random.Random(seed)

    def inject(self, fault: str) -> dict[str, Any]:
        """Inject one fault and wait until what it broke is back; what was done."""
        if fault == "redis":
            self.redis.restart(self.outage_s)
            return {"detail": f"Redis down {self.outage_s:g} s, restarted"}
        if fault == "postgres":
            self.postgres.restart(self.outage_s)
            return {"detail": f"PostgreSQL stopped (fast), down {self.outage_s:g} s, restarted"}
        if fault == "actor":
            try:
                playing = json.loads(self.playing_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                playing = []
            if not playing:
                return {"detail": "no session was being played: nothing killed", "skipped": True}
            sid = self.rng.choice(playing)
            done = _ray_tool("kill-actor", self.server.gcs_address(), sid, self.actor_role)
            return {"detail": f"killed {done['killed']} of a session being played", **done}
        if fault == "replica":
            done = _ray_tool("kill-replica", self.server.gcs_address(), APP_NAME)
            return {"detail": f"killed Serve replica {done['killed']}", **done}
        if fault == "server":
            left = self.server.kill()
            for attempt in range(START_ATTEMPTS):  # as a supervisor would: a start can fail on a loaded machine
                try:
                    up_s = self.server.start()
                    break
                except BenchmarkError:
                    if attempt == START_ATTEMPTS - 1:
                        raise
                    self.server.kill()
            exiting = f" ({left} of its processes still exiting at the restart)" if left else ""
            return {
                "detail": f"novel-engine serve killed (SIGKILL), started again{exiting}, answering in {up_s:.1f} s",
                "still_exiting": left,
            }
        raise ConfigError(f"unknown fault {fault!r}", setting="chaos")

    def run(self, faults: Sequence[str], duration_s: float, t0: float, stop: threading.Event) -> list[dict[str, Any]]:
        """Inject ``faults`` spread over the load (``duration_s`` from wall-clock ``t0``) once it is
        warm: from the moment a session is first played (creating the first sessions can take a
        while on a busy machine, and a fault before any turn tests nothing). The faults with their
        wall-clock start and end (``at``, ``back``). Stops early when ``stop`` is set."""
        while not self.playing_path.exists():
            if stop.wait(0.2):
                return []
        warm = time.time()
        done: list[dict[str, Any]] = []
        for at_s, fault in plan(faults, max(1.0, t0 + duration_s - warm)):
            if stop.wait(max(0.0, warm + at_s - time.time())):
                break
            start = time.time()
            try:
                outcome = self.inject(fault)
            except Exception as err:  # noqa: BLE001 - a fault that could not be injected is reported, not fatal
                outcome = {"detail": f"could not inject: {type(err).__name__}: {err}", "failed": True}
            done.append({"fault": fault, "at": start, "back": time.time(), **outcome})
            print(f"  fault {fault}: {outcome['detail']}", file=sys.stderr, flush=True)
        return done


def _kill_actor(gcs: str, session_id: str, role: str) -> dict[str, Any]:
    import ray

    ray.init(address=gcs, namespace=SESSION_NAMESPACE, log_to_driver=False, configure_logging=False)
    names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["namespace"] == SESSION_NAMESPACE]
    victims = session_actor_names(names, session_id, role)
    if not victims:
        raise BenchmarkError(f"session {session_id} has no live {role} actor (names: {names[:10]})")
    # no_restart=False: a crash, not a deliberate end; Ray restarts the actor with its state lost
    ray.kill(ray.get_actor(victims[0], namespace=SESSION_NAMESPACE), no_restart=False)
    return {"killed": victims[0], "session_id": session_id}


def _kill_replica(gcs: str, app: str) -> dict[str, Any]:
    import ray

    ray.init(address=gcs, namespace="serve", log_to_driver=False, configure_logging=False)
    names = sorted(
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a["namespace"] == "serve" and a["name"].startswith(f"SERVE_REPLICA::{app}#")
    )
    if not names:
        raise BenchmarkError(f"no Serve replica of {app!r} is running")
    ray.kill(ray.get_actor(names[0], namespace="serve"), no_restart=True)  # Serve's controller replaces it
    return {"killed": names[0]}


if __name__ == "__main__":  # python -m serve_app.chaos kill-actor GCS SESSION ROLE | kill-replica GCS APP
    command, *rest = sys.argv[1:]
    print(json.dumps(_kill_actor(*rest) if command == "kill-actor" else _kill_replica(*rest)))
