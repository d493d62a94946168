"""Joining Ray: start or connect to an instance, and say where a person looks at it.

:func:`connect` is what every entry point calls before a session touches Ray (the engine, the
server, the benchmarks); :func:`where_to_look` and :func:`cluster_alive` answer the CLI's and the
server's readiness questions.
"""

from __future__ import annotations

import os
from typing import Any

import ray

from novel_engine.errors import ConfigError, NovelEngineError
from novel_engine.runtime.ray.names import NAMESPACE

__all__ = ["connect", "where_to_look", "cluster_alive"]


def connect(
    address: str | None = None, namespace: str = NAMESPACE, *, dashboard: bool = False, **init_kwargs: Any
) -> None:
    """Connect this process to Ray (start a local instance when ``address`` is None and none runs).

    ``dashboard=True`` starts Ray's dashboard with a local instance, on loopback (its port is
    Ray's, 8265 unless taken): actors, tasks, metrics and every actor's log in the browser.
    It is off by default because a local instance starts a second or two faster without it.
    A local instance runs its workers at the driver's priority (``RAY_worker_niceness=0``, unless
    the environment sets it), not at Ray's default nice 15.
    """
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    # A Ray instance this process starts runs its workers at nice 15 by default, so on a busy
    # machine the session's actors (the whole turn) wait behind every other process, the driver
    # included, which runs at 0. Here the actors are the work: they run at 0 too. A cluster
    # started elsewhere keeps its own setting (the raylet reads this only when it starts).
    os.environ.setdefault("RAY_worker_niceness", "0")
    web = {"include_dashboard": True, "dashboard_host": "127.0.0.1"} if dashboard else {"include_dashboard": False}
    try:
        context = ray.init(
            address=address, namespace=namespace, log_to_driver=False, configure_logging=False, **web, **init_kwargs
        )
    except (ConnectionError, ValueError) as exc:
        raise ConfigError(f"cannot connect to Ray at {address!r}: {exc}", setting="address") from None
    except Exception as exc:  # noqa: BLE001 - Ray says "the node timed out during startup" with a bare Exception
        if address not in (None, "local"):
            raise
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        raise NovelEngineError(
            f"could not start a local Ray instance: {exc} (load average {load} on {os.cpu_count()} CPUs; "
            "a busy machine starts Ray slowly: try again when it is quieter)"
        ) from None
    _dashboard["url"] = f"http://{context.dashboard_url}" if getattr(context, "dashboard_url", None) else None


_dashboard: dict[str, str | None] = {"url": None}


def where_to_look() -> dict[str, str | None]:
    """Where a person looks at the Ray instance this process joined: its dashboard's URL (None when
    it runs none: a local instance starts one only when asked), the file holding the token it asks for (Ray 2.60 turns token auth on for
    local instances), and this node's log folder, where every actor's stdout and stderr go
    (``worker-*.out`` / ``.err``)."""
    node = ray._private.worker.global_worker.node  # Ray offers the log folder only through its node object
    token = os.path.expanduser("~/.ray/auth_token")
    return {
        "dashboard_url": _dashboard["url"],
        "token_file": token if os.path.isfile(token) else None,
        "logs_dir": node.get_logs_dir_path() if node is not None else None,
    }


def cluster_alive() -> bool:
    """Whether this process is connected to Ray and the cluster answers (readiness probes)."""
    return ray.is_initialized() and bool(ray.cluster_resources())
