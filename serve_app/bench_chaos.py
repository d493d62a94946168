"""The setting of ``bench load --chaos``: a server and services the run owns, and its verdict.

:func:`chaos_app` starts a private PostgreSQL and Redis (or uses the URLs given with the commands
that restart them), an object store in a temporary folder, and ``novel-engine serve`` over them as
a child process (see :mod:`serve_app.chaos`); everything is stopped and removed at the end.
:func:`phases` sorts every answer the clients got into before, during (from a fault's start until
``settle_s`` after what it broke is back), between and after the faults; :func:`chaos_verdict`
says whether the run kept its promises: no error but 429 or 503 with ``Retry-After`` (or no
answer while the server is down), no turn lost or stored twice, no event missed by a subscriber.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["chaos_app", "phases", "chaos_verdict", "SETTLE_S"]

SETTLE_S = 10.0  # after a fault is repaired, answers still count as "during" it this long


@contextlib.contextmanager
def chaos_app(
    sessions: int,
    users: int,
    replicas: int = 2,
    outage_s: float = 3.0,
    actor_role: str = "persona",
    database_url: str | None = None,
    postgres_restart: str | None = None,
    redis_url: str | None = None,
    redis_restart: str | None = None,
    log_copy: str | Path | None = None,
) -> Iterator[tuple[str, Any, Any]]:
    """The server and services of a chaos run: ``(url, store settings, Chaos)``; all stopped and
    removed on exit (a given database or Redis is only used, never removed). The server's output
    (its errors, with tracebacks) is copied to ``log_copy`` at the end."""
    from novel_engine.errors import ConfigError
    from novel_engine.storage import StoreSettings
    from serve_app.chaos import Chaos, ServerProcess
    from serve_app.chaos_services import PrivatePostgres, PrivateRedis

    if bool(database_url) != bool(postgres_restart) or bool(redis_url) != bool(redis_restart):
        raise ConfigError(
            "--chaos with a given --database-url or --redis-url needs the command that restarts it "
            "(--postgres-restart, --redis-restart), and the reverse",
            setting="chaos",
        )
    folder = Path(tempfile.mkdtemp(prefix="novel-engine-chaos-"))
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, folder, True)
        if log_copy is not None:
            Path(log_copy).parent.mkdir(parents=True, exist_ok=True)
            stack.callback(lambda: (folder / "serve.log").exists() and shutil.copy(folder / "serve.log", log_copy))
        postgres, database_url = _owned(stack, database_url, postgres_restart, PrivatePostgres)
        redis, redis_url = _owned(stack, redis_url, redis_restart, PrivateRedis)
        store = StoreSettings(
            database_url=database_url, redis_url=redis_url, object_store_url=(folder / "objects").as_uri()
        )
        env = {
            "NOVEL_ENGINE_JWT_SECRET": secrets.token_urlsafe(48),
            "NOVEL_ENGINE_RATE_LIMIT_PER_MINUTE": "100000000",
            "NOVEL_ENGINE_SERVE_MAX_SESSIONS_PER_USER": str(-(-sessions // users)),
        }
        server = ServerProcess(store, env, replicas, folder / "serve.log")
        stack.callback(server.stop)
        print(f"starting novel-engine serve over a private store ({server.log_path})...", flush=True)
        server.start()
        chaos = Chaos(server, postgres, redis, folder / "playing.json", outage_s=outage_s, actor_role=actor_role)
        yield server.url, store, chaos


def _owned(stack: contextlib.ExitStack, url: str | None, restart: str | None, private: Any) -> tuple[Any, str]:
    """``(what restarts it, its URL)``: a given service with the command that restarts it, or a
    private one (``private``: a class of :mod:`serve_app.chaos_services`) started here and closed
    with ``stack``."""
    from serve_app.chaos import CommandRestart

    if url:
        return CommandRestart(restart or ""), url
    service = private()
    stack.callback(service.close)
    service.start()
    return service, service.url


def phases(
    timeline: Sequence[Sequence[Any]], faults: Sequence[Mapping[str, Any]], settle_s: float = SETTLE_S
) -> dict[str, dict[str, dict[str, int]]]:
    """Count the answers of ``timeline`` (``(wall time, kind, status)``) by phase, kind and
    status: ``before`` the first fault, ``during`` one (its ``at`` to its ``back`` + ``settle_s``),
    ``between`` two, ``after`` the last."""
    windows = [(f["at"], f["back"] + settle_s) for f in faults]
    out: dict[str, dict[str, dict[str, int]]] = {
        p: defaultdict(lambda: defaultdict(int)) for p in ("before", "during", "between", "after")
    }
    for t, kind, status in timeline:
        if not windows or t < windows[0][0]:
            phase = "before"
        elif any(a <= t <= b for a, b in windows):
            phase = "during"
        elif t > max(b for _, b in windows):
            phase = "after"
        else:
            phase = "between"
        out[phase][kind][status] += 1
    return {p: {k: dict(sorted(v.items())) for k, v in sorted(kinds.items())} for p, kinds in out.items()}


def _acceptable(status: str) -> bool:
    """An answer a client may get under chaos: a success, a client error of its own, 429/503 with
    Retry-After, no answer at all (the server is down), or a socket event."""
    head = status.split()[0]
    if not head.isdigit():
        return True  # a failed connection, a timeout, a socket frame: not an HTTP error status
    code = int(head)
    return code < 500 or (code == 503 and "no Retry-After" not in status)


def chaos_verdict(figures: Mapping[str, Any], check: Mapping[str, Any]) -> dict[str, Any]:
    """Whether the run kept its promises (see the module docstring), and what broke them."""
    bad = {
        kind: {s: n for s, n in statuses.items() if not _acceptable(s)}
        for kind, statuses in figures["statuses"].items()
    }
    bad = {k: v for k, v in bad.items() if v}
    subs = figures["subscribers"]
    return {
        "ok": bool(check["ok"]) and not bad and not subs["gaps"] and figures["ws_missed"] == 0,
        "bad_statuses": bad,
        "lost": len(check["missing"]),
        "doubled": len(check["stored_twice"]) + len(check["answered_twice"]),
        "subscriber_gaps": len(subs["gaps"]),
        "ws_missed": figures["ws_missed"],
    }


def drive(cfg: dict[str, Any], injector: Any, faults: Sequence[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run the load driver (:mod:`serve_app.load_driver`) with ``cfg``, and meanwhile the ``faults``
    through ``injector`` (a :class:`~serve_app.chaos.Chaos`, or None for none); the driver's
    figures and the faults injected."""
    import json
    import threading
    import time

    from novel_engine.benchmarks.core import _run_worker

    if injector is not None:
        cfg = {**cfg, "playing_path": str(injector.playing_path)}
    done: list[dict[str, Any]] = []
    stop = threading.Event()
    t0 = time.time()
    thread = None
    if injector is not None and faults:
        thread = threading.Thread(
            target=lambda: done.extend(injector.run(faults, cfg["duration_s"], t0, stop)), daemon=True
        )
        thread.start()
    try:
        figures = _run_worker([json.dumps(cfg)], module="serve_app.load_driver")
    finally:
        stop.set()  # a fault under way finishes (a killed server is started again) before the check
        if thread is not None:
            thread.join()
    return figures, done


def chaos_result(
    figures: Mapping[str, Any], check: Mapping[str, Any], faults: Sequence[Mapping[str, Any]], timeline: Sequence[Any]
) -> dict[str, Any]:
    """The ``chaos`` part of the JSON: each fault with its time from the start of the load, the
    answers by phase, and the verdict."""
    t0 = figures["started_at"]
    return {
        "faults": [
            {
                **{k: v for k, v in f.items() if k not in ("at", "back")},
                "at_s": round(f["at"] - t0, 1),
                "back_s": round(f["back"] - t0, 1),
            }
            for f in faults
        ],
        "settle_s": SETTLE_S,
        "phases": phases(timeline, faults),
        "answers_by_fault": [{"fault": f["fault"], **phases(timeline, [f])["during"]} for f in faults],
        "subscribers": figures["subscribers"],
        "verdict": chaos_verdict(figures, check),
    }


def print_chaos(c: Mapping[str, Any]) -> None:
    """Print the faults, the answers by phase and the verdict."""
    for f in c["faults"]:
        print(f"  fault {f['fault']:>8} at {f['at_s']:>7} s, back at {f['back_s']:>7} s: {f['detail']}")
    for phase, kinds in c["phases"].items():
        if kinds:
            print(f"  {phase:>7}: " + "; ".join(f"{k} {v}" for k, v in kinds.items()))
    for f in c["answers_by_fault"]:
        failed = {
            k: {s: n for s, n in v.items() if s not in ("200", "201", "delivered")}
            for k, v in f.items()
            if k != "fault"
        }
        print(f"  not served during {f['fault']}: " + ("; ".join(f"{k} {v}" for k, v in failed.items() if v) or "none"))
    v, s = c["verdict"], c["subscribers"]
    print(
        f"  chaos: {'OK' if v['ok'] else 'FAILED'}: lost {v['lost']}, doubled {v['doubled']}, subscriber gaps "
        f"{v['subscriber_gaps']} (repeats {s['repeats']}, resubscribes {s['resubscribes']}), missed deliveries "
        f"{v['ws_missed']}, statuses not allowed {v['bad_statuses'] or 'none'}",
        flush=True,
    )
