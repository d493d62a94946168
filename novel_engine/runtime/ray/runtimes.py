"""The Ray kind of runtime (:class:`RayRuntimes`): where a new session runs, and finding live ones.

A small cast shares a warm session host (:class:`HostPool`, :mod:`novel_engine.runtime.ray.hosts`);
a large one, or one that asks, gets actors of its own (:class:`~novel_engine.runtime.ray.runtime.RayRuntime`).
The pool names its hosts ``ne-host:<pool>:<i>`` (detached, restarted by Ray) and finds a session's
host from the session id alone (:func:`~novel_engine.runtime.residency.host_of`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import ray

from novel_engine.config import SessionSettings
from novel_engine.core.scenario import Scenario
from novel_engine.llm.port import LanguageModel
from novel_engine.runtime.ray.connection import connect, where_to_look
from novel_engine.runtime.ray.hosted import HostedRuntime
from novel_engine.runtime.ray.hosts import SessionHost, host_name
from novel_engine.runtime.ray.names import NAMESPACE, kill_session_actors, list_sessions
from novel_engine.runtime.ray.runtime import RayRuntime
from novel_engine.runtime.residency import HostSettings, host_of

__all__ = ["RayRuntimes", "HostPool"]


class HostPool:
    """The session hosts of one pool, created on first use (get-or-create by name).

    Args:
        settings: the pool (size, idle time, memory budget, name).
        namespace: the Ray namespace of the hosts.
    """

    def __init__(self, settings: HostSettings, namespace: str, *, detached: bool = True) -> None:
        self.settings, self.namespace, self.detached = settings, namespace, detached
        self._hosts: list[Any] | None = None
        self.used = False  # whether a session of this engine asked for it (its hosts then exist)

    def hosts(self) -> list[Any]:
        """Every host's handle (starting those that do not run yet; they start in the background)."""
        self.used = True
        if self._hosts is None:
            self._hosts = [
                SessionHost.options(
                    name=host_name(self.settings.pool, i),
                    namespace=self.namespace,
                    get_if_exists=True,
                    lifetime="detached" if self.detached else None,
                    # a restarted host holds no session: each answers StateLostError and is
                    # rebuilt from the store, so a call retried on it is safe
                    max_restarts=-1,
                    max_task_retries=-1,
                    num_cpus=0,
                    scheduling_strategy="SPREAD",
                ).remote(i, self.settings)
                for i in range(self.settings.hosts)
            ]
        return self._hosts

    def warm(self) -> None:
        """Start every host and wait until each answers (a server does this before its first request)."""
        ray.get([h.ping.remote() for h in self.hosts()])

    def host_for(self, session_id: str) -> tuple[int, Any]:
        """The index and handle of the host of ``session_id``."""
        i = host_of(session_id, self.settings.hosts)
        return i, self.hosts()[i]

    def live(self) -> list[str]:
        """The sessions in memory on any host of the pool."""
        return sorted({s for ids in ray.get([h.session_ids.remote() for h in self.hosts()]) for s in ids})

    def stats(self) -> list[dict[str, Any]]:
        """Each host's sessions in memory, evictions so far and RSS."""
        return ray.get([h.stats.remote() for h in self.hosts()])

    def wants(self, scenario: Scenario, settings: SessionSettings) -> bool:
        """Whether a new session of ``scenario`` goes to a host.

        ``placement="host"`` always, ``"actors"`` never; ``"auto"`` when the cast has at most
        ``max_personas`` and the session does not ask an actor per persona (``personas_per_actor=1``).
        With a language model too: the host's copy of the model keeps each turn's call records and
        hands them back with the turn, as a persona actor does.
        """
        if settings.placement in ("host", "actors"):
            return settings.placement == "host"
        cap = self.settings.max_personas
        return settings.personas_per_actor != 1 and 0 < len(scenario.personas) <= cap


class RayRuntimes:
    """The Ray kind of runtime: sessions are named actors on a cluster, reachable from any driver.

    A session whose cast is small (see :meth:`HostPool.wants`) runs on a shared session host
    instead of actors of its own (:mod:`novel_engine.runtime.ray.hosted`); a large one keeps its
    director, shards, chronicler and hub.

    Args:
        address: the cluster (None: a running local one, or start one).
        actor_options: options for the shard actors (``num_cpus``, ``resources``...).
        dashboard: start Ray's dashboard with a local instance.
        hosts: the session-host pool (None: the default pool, used by ``placement="host"``
            sessions only); given, its hosts start now.

    Detached sessions (a server's) live on the pool's detached hosts, found by name from any
    driver. A session that is not detached dies with its driver, hosted or not: it lives on hosts
    this driver owns (``ne-host:<pool>-job<id>:<i>``, with the pool's settings), which Ray ends when
    the driver exits, so a script on a long-lived cluster leaves no host or session behind.
    """

    name = "ray"
    needs_store = True  # a lost actor is rebuilt from the store: the in-memory one when none is given

    def __init__(
        self,
        address: str | None = None,
        *,
        actor_options: Mapping[str, Any] | None = None,
        dashboard: bool = False,
        hosts: HostSettings | None = None,
    ) -> None:
        connect(address, dashboard=dashboard)
        self.actor_options = dict(actor_options or {})
        settings = hosts or HostSettings()
        self.pool = HostPool(settings, NAMESPACE)  # detached: a server's sessions, any driver's to reach
        job = ray.get_runtime_context().get_job_id()
        self.own_pool = HostPool(replace(settings, pool=f"{settings.pool}-job{job}"), NAMESPACE, detached=False)
        if hosts is not None:
            self.pool.hosts()  # warm before the first request: their start is not on its path

    def pool_for(self, detached: bool) -> HostPool:
        """The pool a new hosted session goes to: detached sessions outlive this driver."""
        return self.pool if detached else self.own_pool

    def _used_pools(self) -> list[HostPool]:
        return [p for p in (self.pool, self.own_pool) if p.used]

    def create(
        self,
        session_id: str,
        scenario: Scenario,
        settings: SessionSettings,
        model: LanguageModel,
        *,
        detached: bool,
        restoring: bool = False,
        scenario_json: Callable[[], str] | None = None,
    ) -> RayRuntime | HostedRuntime:
        pool = self.pool_for(detached)
        if pool.wants(scenario, settings):
            return HostedRuntime.create(pool, session_id, scenario, settings, model, restoring=restoring)
        return RayRuntime.create(
            session_id,
            scenario,
            settings,
            model,
            detached=detached,
            actor_options=self.actor_options,
            idle_s=self.pool.settings.actors_idle_s,
            scenario_json=scenario_json,
        )

    def attach(self, session_id: str) -> RayRuntime | HostedRuntime | None:
        for pool in self._used_pools():
            hosted = HostedRuntime.attach(pool, session_id)
            if hosted is not None:
                return hosted
        return RayRuntime.attach(session_id) if session_id in list_sessions() else None

    def live(self) -> list[str]:
        hosted = [s for pool in self._used_pools() for s in pool.live()]
        return sorted({*list_sessions(), *hosted})

    def end(self, session_id: str) -> int:
        dropped = 0
        for pool in self._used_pools():
            _, host = pool.host_for(session_id)
            dropped += int(ray.get(host.drop.remote(session_id)))
        return dropped + kill_session_actors(session_id)

    def info(self) -> dict[str, str | None]:
        return where_to_look()
