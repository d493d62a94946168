"""``novel-engine bench load``: the served app driven the way its users drive it, for a fixed time.

``--users`` users create ``--sessions`` sessions, evenly spread over ``--ramp`` seconds, while
``--playing`` players keep playing turns, each on a session nobody else is playing, with a
WebSocket subscription to it; every turn is followed by a ``GET`` of its session. Figures:
throughput; p50/p99 of create, turn, GET and WebSocket delivery (from the ``committed_at`` of
the ``turn_complete`` frame to its receipt); answers by HTTP status (and socket failures);
memory in use on the whole machine over time (a small series in the JSON, a PNG when matplotlib
is installed); the load average, since other work on the machine skews every figure. At the end
the store is read: every turn answered 200 must be stored exactly once, as it was answered.

The app is started here on loopback (its own Ray instance, an embedded store in a temporary
folder, the offline model), or ``--url`` names a running one; the users are then created in the
store of the ``--database-url`` (etc.) flags, which must be the server's, as for ``users create``.
With ``--url`` the run deletes what it made at the end (its sessions through the API, its users
in the store), so a shared server is left as it was. The clients run in a process of their own
(:mod:`serve_app.load_driver`); if it fails, its own error is printed
(:class:`~novel_engine.errors.BenchmarkError`).

``--chaos`` runs the same load while faults are injected on a schedule (Redis and PostgreSQL
restarted, a session actor and a Serve replica killed, the server killed with SIGKILL and started
again) against a server and services the run starts and owns (:mod:`serve_app.chaos`,
:mod:`serve_app.bench_chaos`). It is a flag rather than a suite of its own because it is this
benchmark: the same users, sessions, figures and exactly-once check, with faults on top; what it
adds is each fault with its time, the answers before, during and after the faults, and its
verdict (the exit code is 1 when a promise was broken).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from novel_engine.benchmarks import write_results
from serve_app.bench_chaos import chaos_result, drive, print_chaos

__all__ = ["add_load_parser", "cmd_bench_load", "bench_load"]

PASSWORD_BYTES = 18


def add_load_parser(bench_sub: Any) -> None:
    """Add ``bench load`` to the ``bench`` subcommands."""
    from novel_engine.cli_support import add_store_flags

    p = bench_sub.add_parser("load", help="users creating sessions and playing turns for a fixed time, with sockets")
    p.add_argument("--users", type=int, default=10, help="users creating and playing sessions (default 10)")
    p.add_argument("--sessions", type=int, default=1000, help="sessions the users create (default 1000)")
    p.add_argument("--playing", type=int, default=50, help="sessions played at once (default 50)")
    p.add_argument("--duration", type=float, default=600.0, help="seconds of load (default 600)")
    p.add_argument("--ramp", type=float, default=None, help="seconds over which sessions are created (default: half)")
    p.add_argument("--turns-per-visit", type=int, default=5, dest="turns_per_visit", help="turns per session visit")
    p.add_argument(
        "--pause",
        type=float,
        default=0.0,
        help="seconds a player reads a turn before asking for the next (default 0: players ask as fast as "
        "the app answers, which measures its capacity; a pause measures latency at a reader's pace)",
    )
    p.add_argument("--world", default="fantasy_world", help="world_template of the sessions (default fantasy_world)")
    p.add_argument(
        "--min-available-mib",
        type=int,
        default=2048,
        dest="min_available_mib",
        help="stop creating sessions when the machine has less memory available (default 2048)",
    )
    p.add_argument("--timeout", type=float, default=120.0, help="seconds before a request counts as timed out")
    p.add_argument("--url", default=None, help="a running app (default: start one on loopback)")
    p.add_argument("--out", default="bench-results/load.json", help="where to write the JSON figures")
    p.add_argument("--png", default=None, help="where to draw memory over time (default: beside --out)")
    add_store_flags(p)
    c = p.add_argument_group("chaos (faults injected on a schedule while the load runs: serve_app.chaos)")
    c.add_argument(
        "--chaos",
        nargs="?",
        const="all",
        default=None,
        metavar="FAULTS",
        help="inject faults, in order and evenly spread: redis,postgres,actor,replica,server (default: all); "
        "the run starts `novel-engine serve` over a private PostgreSQL and Redis that it restarts",
    )
    c.add_argument("--outage", type=float, default=3.0, help="seconds PostgreSQL and Redis stay down (default 3)")
    c.add_argument("--replicas", type=int, default=2, help="gateway replicas of the chaos server (default 2)")
    c.add_argument("--actor-role", default="persona", dest="actor_role", help="the session actor the actor fault kills")
    c.add_argument(
        "--postgres-restart",
        default=None,
        dest="postgres_restart",
        metavar="CMD",
        help="with --database-url: the command that restarts that PostgreSQL (instead of a private one)",
    )
    c.add_argument(
        "--redis-restart",
        default=None,
        dest="redis_restart",
        metavar="CMD",
        help="with --redis-url: the command that restarts that Redis (instead of a private one)",
    )


def cmd_bench_load(args: argparse.Namespace) -> int:
    """Run ``bench load`` from parsed arguments; exit code 1 when the exactly-once check fails."""
    from novel_engine.cli_support import store_settings
    from novel_engine.errors import NovelEngineError

    for name in ("users", "sessions", "playing", "duration", "turns_per_visit", "timeout", "replicas"):
        if getattr(args, name) <= 0:
            raise NovelEngineError(f"--{name.replace('_', '-')}: must be more than 0")
    if not 0 <= args.pause <= 3600:
        raise NovelEngineError("--pause: must be between 0 and 3600 seconds")
    chaos = None
    if args.chaos is not None:
        from serve_app.chaos import parse_faults

        if args.url:
            raise NovelEngineError("--chaos starts and kills its own server: it cannot be used with --url")
        chaos = {
            "faults": parse_faults(args.chaos),
            "outage_s": args.outage,
            "replicas": args.replicas,
            "actor_role": args.actor_role,
            "database_url": args.database_url,
            "postgres_restart": args.postgres_restart,
            "redis_url": args.redis_url,
            "redis_restart": args.redis_restart,
        }
    result = bench_load(
        users=args.users,
        sessions=args.sessions,
        playing=args.playing,
        duration_s=args.duration,
        ramp_s=args.ramp,
        turns_per_visit=args.turns_per_visit,
        pause_s=args.pause,
        world=args.world,
        min_available_mib=args.min_available_mib,
        timeout_s=args.timeout,
        url=args.url,
        store=store_settings(args) if args.url else None,
        out=args.out,
        png=args.png,
        chaos=chaos,
    )
    ok = result["chaos"]["verdict"]["ok"] if chaos else result["exactly_once"]["ok"]
    return 0 if ok else 1


@contextlib.contextmanager
def _local_app(users: int, sessions: int) -> Iterator[tuple[str, Any]]:
    """The app on a free loopback port with an embedded store in a temporary folder: (url, store settings)."""
    import ray
    from ray import serve

    from novel_engine.runtime.ray.connection import connect
    from novel_engine.storage import StoreSettings
    from serve_app.app import build_app
    from serve_app.launcher import _free_port, use_haproxy_ingress

    folder = Path(tempfile.mkdtemp(prefix="novel-engine-bench-load-"))
    store = StoreSettings(database_url=f"sqlite:///{folder / 'state.db'}", object_store_url=(folder / "obj").as_uri())
    port = _free_port("127.0.0.1")
    print("starting Ray and Serve...", file=sys.stderr, flush=True)
    use_haproxy_ingress()  # as `novel-engine serve` starts it
    connect("local")  # a Ray instance of its own
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        env = {"NOVEL_ENGINE_JWT_SECRET": secrets.token_urlsafe(48), "NOVEL_ENGINE_RATE_LIMIT_PER_MINUTE": "100000000"}
        config = {
            "database_url": store.database_url,
            "object_store_url": store.object_store_url,
            "max_sessions_per_user": str(-(-sessions // users)),  # each user may own its share
            "env": env,
        }
        serve.run(build_app(config), name="bench-load", route_prefix="/")
        yield f"http://127.0.0.1:{port}", store
    finally:
        serve.shutdown()
        ray.shutdown()
        shutil.rmtree(folder, ignore_errors=True)


def _create_users(store: Any, count: int) -> list[tuple[str, str]]:
    """``count`` new users (names unique to this run) in the store; their (name, password)."""
    from novel_engine.storage import open_store
    from serve_app.security.access_store import access_for
    from serve_app.security.users import UserDirectory

    run = secrets.token_hex(3)
    users = [(f"load-{run}-{i}", secrets.token_urlsafe(PASSWORD_BYTES)) for i in range(count)]

    async def create() -> None:
        st = open_store(store)
        await st.open()
        try:
            directory = UserDirectory(access_for(st))
            for name, password in users:
                await directory.create(name, password)
        finally:
            await st.close()

    asyncio.run(create())
    return users


def _tokens(url: str, users: list[tuple[str, str]]) -> list[str]:
    import httpx

    from novel_engine.errors import BenchmarkError

    tokens = []
    for name, password in users:
        try:
            r = httpx.post(f"{url}/api/v1/auth/login", json={"username": name, "password": password}, timeout=60)
        except httpx.HTTPError as err:
            raise BenchmarkError(f"cannot reach the app at {url}: {err}", url=url) from None
        if r.status_code != 200:
            raise BenchmarkError(
                f"{url} refused the login of {name}, just created in the store ({r.status_code}: {r.text[:200]}); "
                "with --url, give the server's store (--database-url ...)"
            )
        tokens.append(r.json()["access_token"])
    return tokens


def _stored_turns(store: Any, session_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each session's turns as the store has them (number, tension, prose)."""
    from novel_engine.storage import open_store

    async def read() -> dict[str, list[dict[str, Any]]]:
        st = open_store(store)
        await st.open()
        try:
            return {
                sid: [{"turn": t.turn, "tension": t.record["tension"], "prose": t.record["prose"]} for t in turns]
                for sid in session_ids
                for turns in [await st.turns(sid)]
            }
        finally:
            await st.close()

    return asyncio.run(read())


def bench_load(
    users: int = 10,
    sessions: int = 1000,
    playing: int = 50,
    duration_s: float = 600.0,
    ramp_s: float | None = None,
    turns_per_visit: int = 5,
    pause_s: float = 0.0,
    world: str = "fantasy_world",
    min_available_mib: int = 2048,
    timeout_s: float = 120.0,
    url: str | None = None,
    store: Any = None,
    out: str | os.PathLike = "bench-results/load.json",
    png: str | os.PathLike | None = None,
    chaos: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the load (on an app started here, or the one at ``url`` with its ``store`` settings),
    check the stored turns, print the figures and write them as JSON to ``out``.

    ``chaos``: inject faults during the load (``faults``, a list of :data:`serve_app.chaos.FAULTS`,
    and the keyword arguments of :func:`serve_app.bench_chaos.chaos_app`) on a server started here.
    With ``url``, the sessions and users the run made are deleted at the end (after the check).
    """
    from serve_app.load_figures import exactly_once, plot_memory, print_load

    injector, given_url = None, url is not None and chaos is None
    with contextlib.ExitStack() as stack:
        if chaos is not None:
            from serve_app.bench_chaos import chaos_app

            options = {k: v for k, v in chaos.items() if k != "faults"}
            options.setdefault("log_copy", Path(out).with_suffix(".serve.log"))
            url, store, injector = stack.enter_context(chaos_app(sessions, users, **options))
        elif url is None:
            url, store = stack.enter_context(_local_app(users, sessions))
        elif store is None:
            from novel_engine.storage import StoreSettings

            store = StoreSettings.from_env()  # the NOVEL_ENGINE_* store, as `users create` uses
        url = url.rstrip("/")
        made_users = _create_users(store, users)
        if given_url:  # even when the run fails: a shared server keeps no user of it
            stack.callback(_delete_users, store, [name for name, _ in made_users])
        tokens = _tokens(url, made_users)
        cfg = {
            "url": url,
            "ws_url": url.replace("http", "ws", 1) + "/ws",
            "tokens": tokens,
            "users": users,
            "sessions": sessions,
            "playing": playing,
            "duration_s": duration_s,
            "ramp_s": duration_s / 2 if ramp_s is None else min(ramp_s, duration_s),
            "turns_per_visit": turns_per_visit,
            "pause_s": pause_s,
            "world": world,
            "min_available_mib": min_available_mib,
            "timeout_s": timeout_s,
            "sample_s": max(0.5, duration_s / 240),
            "own_app": not given_url,  # the app's processes are this one's children: measured apart
        }
        pace = f", {pause_s:g} s read per turn" if pause_s else ""
        print(
            f"load on {url}: {users} users, {sessions} sessions, {playing} playing{pace}, {duration_s:g} s", flush=True
        )
        figures, faults = drive(cfg, injector, chaos["faults"] if chaos else [])
        answered, created, timeline = figures.pop("answered"), figures.pop("created"), figures.pop("timeline")
        check = exactly_once(answered, _stored_turns(store, sorted({sid for sid, _ in created})))
        if given_url:
            names = [name for name, _ in made_users]
            figures["cleanup"] = {
                **_delete_sessions(url, tokens, created),
                "users_deleted": _delete_users(store, names),
            }
    result = {
        "suite": "load",
        "url": url,
        "users": users,
        "sessions": sessions,
        "playing": playing,
        "pause_s": pause_s,
        "duration_s": duration_s,
        "world": world,
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        **figures,
        "exactly_once": check,
        "targets": {"memory_used_gib_1000_sessions": 4, "create_p99_ms": 200, "turn_p50_ms": 100},
    }
    if chaos is not None:
        result["chaos"] = chaos_result(figures, check, faults, timeline)
    png_path = Path(png) if png else Path(out).with_suffix(".png")
    title = f"bench load: {users} users, {figures['sessions_created']} sessions, {playing} playing"
    result["memory"]["png"] = plot_memory(figures["memory"]["series"], png_path, title)
    print_load(result)
    if chaos is not None:
        print_chaos(result["chaos"])
    write_results(result, out)
    return result


def _delete_sessions(url: str, tokens: list[str], created: list[list[Any]]) -> dict[str, Any]:
    """Delete the sessions the run created, through the API as their owners (a run against a
    shared server leaves none behind); how many were deleted and which were not."""
    import httpx

    deleted, failed = 0, []
    with httpx.Client(base_url=url, timeout=60) as http:
        for sid, user in created:
            r = http.delete(f"/api/v1/sessions/{sid}", headers={"Authorization": f"Bearer {tokens[user]}"})
            if r.status_code in (204, 404):
                deleted += 1
            else:
                failed.append([sid, r.status_code])
    return {"sessions_deleted": deleted, "sessions_not_deleted": failed}


def _delete_users(store: Any, names: list[str]) -> int:
    """Delete the run's users from the store; how many there were."""
    from novel_engine.storage import open_store
    from serve_app.security.access_store import access_for
    from serve_app.security.users import UserDirectory

    async def drop() -> int:
        st = open_store(store)
        await st.open()
        try:
            directory = UserDirectory(access_for(st))
            return sum([await directory.delete(name) for name in names])
        finally:
            await st.close()

    return asyncio.run(drop())
