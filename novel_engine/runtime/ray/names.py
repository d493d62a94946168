"""Session actors' names: every actor of a session is ``ne:<session>:<role>[:<i>]`` in one namespace,
so any driver finds, lists and ends sessions by name without asking them."""

from __future__ import annotations

from collections.abc import Sequence

import ray

__all__ = ["NAMESPACE", "kill_session_actors", "list_sessions"]

NAMESPACE = "novel_engine"
_PREFIX = "ne:"


def _name(session_id: str, role: str, i: int | None = None) -> str:
    return f"{_PREFIX}{session_id}:{role}" + (f":{i}" if i is not None else "")


def _named_actors() -> list[str]:
    # Our namespace's named actors, whatever namespace this driver joined (a Serve replica runs
    # in Serve's own namespace, so "the current namespace" would list none of the sessions).
    return [a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a.get("namespace") == NAMESPACE]


def kill_session_actors(session_id: str, names: Sequence[str] = ()) -> int:
    """Kill every actor of a session for good, found by name (plus ``names``), asking none of them:
    it works whatever state they are in (alive, restarting after a crash, half gone). Returns how
    many were killed."""
    prefix = _PREFIX + session_id + ":"
    killed = 0
    for name in sorted({*names, *(n for n in _named_actors() if n.startswith(prefix))}):
        try:
            ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
            killed += 1
        except ValueError:
            pass  # already gone
    return killed


def list_sessions() -> list[str]:
    """Ids of the sessions whose director is alive in this namespace."""
    names = _named_actors()
    return sorted(
        n[len(_PREFIX) : -len(":director")] for n in names if n.startswith(_PREFIX) and n.endswith(":director")
    )
