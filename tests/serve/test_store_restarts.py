"""Chaos at a small scale: the served app's PostgreSQL or Redis restarted while turns are played.

The app here (a second application on the shared test Serve instance, under ``/chaos``) keeps its
state in a private PostgreSQL and a private Redis that this module starts and restarts
(:mod:`serve_app.chaos_services`); the machine's own servers are never touched. While one is
down, a client gets 200 or 503 with ``Retry-After`` (never a 500) and, retrying, carries on; every
turn answered 200 is stored exactly once, and the stored turns are numbered without a gap.
Under ``CI=true`` a missing ``initdb`` or ``redis-server`` fails these tests instead of skipping them.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from novel_engine.errors import ConfigError

pytestmark = pytest.mark.timeout(240)

PREFIX = "/chaos"
PASSWORD = "correct horse battery"


def _private(make: Callable[[], object]) -> object:
    try:
        return make()
    except ConfigError as err:  # the program is not installed
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"required program missing in CI: {err.message}")
        pytest.skip(err.message)


@pytest.fixture(scope="module")
def chaos_server(serve_server, tmp_path_factory):
    """The app over a private PostgreSQL and Redis: (base URL, store settings, postgres, redis)."""
    from ray import serve

    from novel_engine.storage import StoreSettings
    from serve_app.app import build_app
    from serve_app.chaos_services import PrivatePostgres, PrivateRedis

    pg = _private(lambda: PrivatePostgres().start())
    redis = _private(lambda: PrivateRedis().start())
    folder = tmp_path_factory.mktemp("chaos-objects")
    store = StoreSettings(database_url=pg.url, redis_url=redis.url, object_store_url=folder.as_uri())
    config = {
        "database_url": store.database_url,
        "redis_url": store.redis_url,
        "object_store_url": store.object_store_url,
        "num_cpus": 0,
        "env": {"NOVEL_ENGINE_JWT_SECRET": serve_server.secret, "NOVEL_ENGINE_RATE_LIMIT_PER_MINUTE": "100000"},
    }
    serve.run(build_app(config), name="novel-engine-chaos", route_prefix=PREFIX)
    try:
        yield serve_server.url + PREFIX, store, pg, redis
    finally:
        serve.delete("novel-engine-chaos")
        redis.close()
        pg.close()


def _client(url: str, store) -> httpx.Client:
    from serve_app.bench_load import _create_users, _tokens

    [(name, password)] = _create_users(store, 1)
    http = httpx.Client(base_url=url, timeout=120)
    http.headers["Authorization"] = f"Bearer {_tokens(url, [(name, password)])[0]}"
    return http


def _play_through(http: httpx.Client, sid: str, restart: Callable[[], None]) -> tuple[list, list, float]:
    """Play turns, retrying as a client would, while ``restart`` runs once after the first turn;
    every answer as (status, Retry-After, turn or None), the turns answered 200, and when the
    restart ended."""
    answers, answered = [], []
    done = threading.Event()
    back = [0.0]

    def chaos() -> None:
        restart()
        back[0] = time.time()
        done.set()

    thread = None
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        r = http.post(f"/api/v1/sessions/{sid}/turns", json={})
        turn = r.json() if r.status_code == 200 else None
        answers.append((r.status_code, r.headers.get("Retry-After"), turn["turn"] if turn else None, time.time()))
        if turn is not None:
            answered.append(turn)
            if thread is None:
                thread = threading.Thread(target=chaos)
                thread.start()
        elif r.status_code == 503:
            time.sleep(0.5)  # a user's client would wait Retry-After; a shorter wait sees more of the outage
        # two turns answered after the service came back: it has recovered
        if done.is_set() and sum(1 for a in answers if a[2] and a[3] > back[0]) >= 2:
            break
    if thread is not None:
        thread.join()
    return answers, answered, back[0]


def _check(store, sid: str, answers: list, answered: list, back: float) -> None:
    from serve_app.bench_load import _stored_turns
    from serve_app.load_figures import exactly_once, turn_digest

    assert back > 0, "the restart never ran: no turn was answered before it"
    assert {a[0] for a in answers} <= {200, 503}, answers  # never a 500
    assert all(a[1] for a in answers if a[0] == 503), "a 503 without Retry-After"
    assert sum(1 for a in answers if a[0] == 200 and a[3] > back) >= 2, "no turn played after the restart"
    check = exactly_once([(sid, t["turn"], turn_digest(t)) for t in answered], _stored_turns(store, [sid]))
    assert check["ok"], check
    assert check["answered_200"] == len(answered) == check["stored"]


def _session(http: httpx.Client) -> str:
    r = http.post("/api/v1/sessions", json={"world_template": "noir_city", "settings": {"seed": 7}})
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.mark.parametrize("service", ["postgres", "redis"])
def test_a_store_restart_during_turns_loses_and_doubles_nothing(chaos_server, service):
    url, store, pg, redis = chaos_server
    http = _client(url, store)
    sid = _session(http)
    restarted = pg if service == "postgres" else redis
    answers, answered, back = _play_through(http, sid, lambda: restarted.restart(down_s=2.0))
    _check(store, sid, answers, answered, back)
    # the session reads back whole through the restarted store and cache
    assert http.get(f"/api/v1/sessions/{sid}").json()["turn"] == answered[-1]["turn"]


def test_private_services_restart_on_the_same_port(tmp_path):
    """The private servers a chaos run owns: the URL stays valid across a restart, data is kept
    (PostgreSQL) or dropped (Redis, a cache), and both are removed at the end."""
    import asyncpg
    import redis as redis_lib

    from serve_app.chaos_services import PrivatePostgres, PrivateRedis

    pg = _private(lambda: PrivatePostgres().start())
    rd = _private(lambda: PrivateRedis().start())
    try:

        async def sql(query: str) -> object:
            conn = await asyncpg.connect(pg.url)
            try:
                return await (conn.fetchval(query) if query.startswith("SELECT") else conn.execute(query))
            finally:
                await conn.close()

        asyncio.run(sql("CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)"))
        r = redis_lib.Redis.from_url(rd.url)
        r.set("k", secrets.token_hex(4))
        pg.restart(down_s=0.2)
        rd.restart(down_s=0.2)
        assert asyncio.run(sql("SELECT n FROM kept")) == 42
        assert redis_lib.Redis.from_url(rd.url).get("k") is None
    finally:
        pg.close()
        rd.close()
    assert not pg.folder.exists()
    from serve_app.chaos_services import wait_port

    assert wait_port(pg.port, up=False, timeout_s=5) and wait_port(rd.port, up=False, timeout_s=5)
