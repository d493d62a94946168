"""The Serve application's settings: :class:`ServeConfig`, read from Serve ``args`` over
``NOVEL_ENGINE_SERVE_*`` environment variables.

A bad setting fails in :meth:`ServeConfig.from_args`, where the person deploying sees it (the
builder calls it before any replica starts); the settings then give each replica its LLM policy,
its session-host pool and its state store (see :class:`~serve_app.context.ServeContext`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from novel_engine.errors import ConfigError
from serve_app.llm_access import LLMAccess

__all__ = ["ServeConfig"]


@dataclass(frozen=True)
class ServeConfig:
    """The server's settings: Serve ``args`` (``serve run serve_app.app:build_app key=value``) over
    ``NOVEL_ENGINE_SERVE_<FIELD>`` environment variables.

    Attributes:
        database_url / redis_url / object_store_url: the state store (None: ``NOVEL_ENGINE_*`` env,
            else the embedded default).
        dev_mode: allow a missing JWT secret and say so in the log. Without a secret each replica
            makes up its own, so tokens work on one replica only: ``novel-engine serve --dev``
            gives every replica the same one.
        personas_per_actor: how many personas share one persona-shard actor (packing keeps a small
            session to a handful of actors).
        session_hosts: how many shared session-host actors hold the small sessions (every replica
            of a cluster must use the same number: a session's host follows from its id).
        host_max_personas: casts up to this many personas share a session host instead of
            actors of their own (0: every session gets its own actors).
        idle_evict_s: a session idle this many seconds leaves memory (its stored state stays; the
            next request or socket subscription brings it back; a socket watching a hosted one stays
            subscribed, one watching a session with actors of its own gets an error frame and
            subscribes again); 0: never.
        memory_budget: the node memory the hosts keep under by dropping their least recently
            used sessions: a fraction of the node's memory (<= 1) or bytes; 0: no budget.
        max_agents: the largest cast a request may ask for.
        max_sessions_per_user: live sessions one user may own.
        max_body_bytes: the largest request body.
        ws_queue_size: frames buffered per WebSocket before the client is told to resubscribe.
        heartbeat_s: seconds between heartbeat frames on an idle socket.
        poll_timeout_s: how long one event-hub long-poll waits.
        public_docs: serve ``/docs`` and ``/openapi.json`` to anyone (dev mode does too); otherwise
            they need a token or key like every API route.
        llm_allowed: the language models clients may choose, comma-separated (``offline`` always).
        llm_options: the operator's options per provider, JSON (see :mod:`serve_app.llm_access`).
        metrics_port: 0 (default): the replica's Prometheus metrics at ``/metrics`` on the app;
            a port: there instead, on every interface of the replica's node, and not on the app
            (so an Ingress to the app never exposes them; one replica per node, as k8s/ places them).
    """

    database_url: str | None = None
    redis_url: str | None = None
    object_store_url: str | None = None
    dev_mode: bool = False
    personas_per_actor: int = 64
    session_hosts: int = 2
    host_max_personas: int = 32
    idle_evict_s: float = 300.0
    memory_budget: float = 0.75
    max_agents: int = 2000
    max_sessions_per_user: int = 50
    max_body_bytes: int = 1 << 20
    ws_queue_size: int = 512
    heartbeat_s: float = 15.0
    poll_timeout_s: float = 5.0
    public_docs: bool = False
    llm_allowed: str = "offline"
    llm_options: str = ""
    metrics_port: int = 0

    @classmethod
    def from_args(cls, args: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> ServeConfig:
        """Read ``args`` (strings from the command line are converted), then ``NOVEL_ENGINE_SERVE_*`` env.

        Raises:
            ConfigError: an unknown or malformed setting.
        """
        args, env = dict(args or {}), os.environ if env is None else env
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(args) - set(known))
        if unknown:
            raise ConfigError(
                f"unknown serve setting(s): {', '.join(unknown)}; known: {', '.join(known)}", setting=unknown[0]
            )
        values: dict[str, Any] = {}
        for name, f in known.items():
            raw = args.get(name, env.get(f"NOVEL_ENGINE_SERVE_{name.upper()}"))
            if raw is None:
                continue
            kind = type(f.default) if f.default is not None else str
            try:
                if kind is bool:
                    values[name] = raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes", "on")
                elif kind is str and isinstance(raw, Mapping):  # llm_options as YAML in a Serve config
                    values[name] = json.dumps(raw)
                else:
                    values[name] = kind(raw)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"serve setting {name}: expected {kind.__name__}, got {raw!r}", setting=name
                ) from None
        config = cls(**values)
        config.llm_access()  # a bad LLM policy fails here, where the person deploying sees it
        config.host_settings()  # and so does a bad host pool
        return config

    def llm_access(self) -> LLMAccess:
        """The LLM policy (:class:`~serve_app.llm_access.LLMAccess`) of ``llm_allowed``/``llm_options``."""
        return LLMAccess.parse(self.llm_allowed, self.llm_options)

    def host_settings(self) -> Any:
        """The session-host pool of these settings (:class:`~novel_engine.runtime.residency.HostSettings`)."""
        from novel_engine.runtime.residency import HostSettings

        return HostSettings(
            hosts=self.session_hosts,
            max_personas=self.host_max_personas,
            idle_s=self.idle_evict_s,
            actors_idle_s=self.idle_evict_s,
            memory_budget=self.memory_budget,
        )

    def store_settings(self) -> Any:
        """The state store of these settings (:class:`~novel_engine.storage.settings.StoreSettings`):
        the URLs given here, else the ``NOVEL_ENGINE_*`` environment, else the embedded default."""
        from novel_engine.storage.settings import StoreSettings

        return StoreSettings.from_env(
            database_url=self.database_url, redis_url=self.redis_url, object_store_url=self.object_store_url
        )
