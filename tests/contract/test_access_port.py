"""The serve app's access port (users, API keys, audit log, ownership, grants, queued actions): one
contract, the same tests on every SQL backend of the engine's store (SQLite in a file, SQLite in
memory, PostgreSQL; under ``CI=true`` a missing PostgreSQL fails the run).

The port is reached the way a Serve replica reaches it: through the engine's store running on a
loop thread of its own (a ``StoreRunner``), called from another loop.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import replace

import asyncpg
import pytest

from novel_engine.errors import ConfigError, ConflictError, NotFoundError, StoreError
from novel_engine.storage import SessionRecord, StoreRunner, StoreSettings, open_store, postgres
from serve_app.security.access_port import AccessPort, AgentMeta, SessionLimitError
from serve_app.security.access_store import PostgresAccessAdapter, StoreAccessAdapter, access_for
from tests.contract.conftest import settings_for


@pytest.fixture(params=["embedded", "memory", "postgresql"])
def backend(request) -> str:
    """The SQL backends (overrides the suite-wide parametrisation for this module)."""
    return request.param


@pytest.fixture
def store_settings(backend, tmp_path, request) -> StoreSettings:
    return StoreSettings.memory() if backend == "memory" else settings_for(backend, tmp_path, request)


class Clock:
    """Milliseconds apart, so creation order is unambiguous."""

    def __init__(self) -> None:
        self._ticks = itertools.count()

    def __call__(self) -> float:
        return 1_700_000_000 + next(self._ticks) / 1000


@pytest.fixture
def access(runner) -> AccessPort:
    port = access_for(runner, clock=Clock())
    run(port.open())
    return port


def run(coro):
    return asyncio.run(coro)


def uid(prefix: str = "t") -> str:
    """An id unique across runs (PostgreSQL keeps its rows between runs)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def store_story(runner, session_id: str) -> None:
    """Put a session into the engine's own tables (what the owner listing joins against)."""
    runner.call(lambda s: s.create_session(SessionRecord(id=session_id, scenario={}, settings={}, seed=1)))


def test_the_adapter_fits_the_dialect(access, backend):
    expected = PostgresAccessAdapter if backend == "postgresql" else StoreAccessAdapter
    assert type(access) is expected
    run(access.open())  # idempotent

    async def twice():
        await asyncio.gather(access.open(), access.open())

    run(twice())


# -- users, keys, audit, counters --------------------------------------------------------------


def test_users_are_insert_only_and_replaceable(access):
    u = uid("u")
    run(access.create_user(u, {"username": "ada", "n": 1}))
    assert run(access.get_user(u)) == {"username": "ada", "n": 1}
    with pytest.raises(ConflictError):
        run(access.create_user(u, {"username": "ada", "n": 2}))
    assert run(access.get_user(u))["n"] == 1
    run(access.put_user(u, {"username": "ada", "n": 3}))
    assert run(access.get_user(u))["n"] == 3
    with pytest.raises(NotFoundError):
        run(access.get_user(uid("nobody")))


def test_deleting_a_user_drops_it_and_its_keys_only(access):
    ada, bob = uid("u"), uid("u")
    run(access.create_user(ada, {"username": "ada"}))
    run(access.create_user(bob, {"username": "bob"}))
    run(access.put_api_key(f"h-{ada}", ada, {"id": "k"}))
    run(access.put_api_key(f"h-{bob}", bob, {"id": "k"}))
    assert run(access.delete_user(ada)) is True
    assert run(access.delete_user(ada)) is False  # nothing left to delete
    with pytest.raises(NotFoundError):
        run(access.get_user(ada))
    with pytest.raises(NotFoundError):
        run(access.get_api_key(f"h-{ada}"))
    assert run(access.get_user(bob)) == {"username": "bob"}
    assert run(access.list_api_keys(bob)) == [(f"h-{bob}", {"id": "k"})]


def test_api_keys_are_kept_by_hash_per_user(access):
    alice, bob = uid("u"), uid("u")
    run(access.put_api_key(f"h2-{alice}", alice, {"id": "k2"}))
    run(access.put_api_key(f"h1-{alice}", alice, {"id": "k1"}))
    run(access.put_api_key(f"h3-{bob}", bob, {"id": "k3"}))
    assert run(access.get_api_key(f"h3-{bob}")) == (bob, {"id": "k3"})
    assert run(access.list_api_keys(alice)) == [(f"h1-{alice}", {"id": "k1"}), (f"h2-{alice}", {"id": "k2"})]
    run(access.put_api_key(f"h1-{alice}", alice, {"id": "k1", "revoked_at": "now"}))  # a revocation
    assert run(access.get_api_key(f"h1-{alice}"))[1]["revoked_at"] == "now"
    assert run(access.list_api_keys(uid("u"))) == []
    with pytest.raises(NotFoundError):
        run(access.get_api_key(uid("h")))


def test_audit_ids_increase_and_the_log_is_the_latest_oldest_first(access):
    actor = uid("u")
    ids = [run(access.append_audit(actor, f"act{i}", {"i": i})) for i in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    log = run(access.audit_log(3))
    assert [(e["id"], e["actor"], e["action"], e["data"]) for e in log] == [
        (ids[i], actor, f"act{i}", {"i": i}) for i in range(3)
    ]


def test_counters_count_per_counter(access):
    a, b = uid("c"), uid("c")
    assert [run(access.hit(a, 60)) for _ in range(3)] == [1, 2, 3]
    assert run(access.hit(b, 60)) == 1


# -- ownership -----------------------------------------------------------------------------------


def test_session_owners_are_insert_only(access):
    sid, owner = uid("s"), uid("u")
    rec = run(access.add_session(sid, owner, "first"))
    assert (rec.session_id, rec.owner, rec.name) == (sid, owner, "first")
    assert run(access.get_session(sid)) == rec
    with pytest.raises(ConflictError) as err:
        run(access.add_session(sid, uid("u"), "taken"))
    assert err.value.details["session_id"] == sid
    assert run(access.get_session(sid)).owner == owner
    assert run(access.get_session(uid("s"))) is None


def test_an_owner_lists_stored_sessions_oldest_first_in_pages(access, runner):
    owner, other = uid("u"), uid("u")
    mine = [uid("s") for _ in range(3)]
    ghost = uid("ghost")  # owned, but the engine's store has no story for it
    for sid in mine:
        store_story(runner, sid)
    store_story(runner, theirs := uid("s"))
    run(access.add_session(mine[1], owner, "b"))
    run(access.add_session(ghost, owner, "ghost"))
    run(access.add_session(mine[0], owner, "a"))
    run(access.add_session(theirs, other, "theirs"))
    run(access.add_session(mine[2], owner, "c"))
    recs, total = run(access.sessions_of(owner))
    assert total == 3 and [r.session_id for r in recs] == [mine[1], mine[0], mine[2]]
    page, total = run(access.sessions_of(owner, offset=1, limit=1))
    assert total == 3 and [r.name for r in page] == ["a"]
    assert run(access.sessions_of(uid("u"))) == ([], 0)


# -- grants --------------------------------------------------------------------------------------


def test_grants_and_capabilities_are_kept_apart(access):
    sid, ada = uid("s"), uid("u")
    run(access.add_session(sid, uid("u"), "story"))
    assert run(access.agent(sid, "a1")) == AgentMeta("a1")
    assert run(access.agents(sid)) == {}
    run(access.set_capabilities(sid, "a1", ["move", "talk"]))
    run(access.set_player(sid, "a1", ada, "ada"))
    run(access.set_player(sid, "a2", ada, "ada"))
    assert run(access.agent(sid, "a1")) == AgentMeta("a1", ada, "ada", ("move", "talk"))
    assert run(access.agents(sid)) == {
        "a1": AgentMeta("a1", ada, "ada", ("move", "talk")),
        "a2": AgentMeta("a2", ada, "ada", None),
    }
    assert run(access.is_player(sid, ada)) and not run(access.is_player(sid, uid("u")))
    run(access.set_capabilities(sid, "a1", []))  # the player stays
    assert run(access.agent(sid, "a1")) == AgentMeta("a1", ada, "ada", ())
    run(access.set_player(sid, "a1", None, None))  # revoked: the capabilities stay
    run(access.set_player(sid, "a2", None, None))
    assert run(access.agent(sid, "a1")) == AgentMeta("a1", None, None, ())
    assert not run(access.is_player(sid, ada))


def test_a_player_sees_the_agents_granted_oldest_session_first(access):
    ada = uid("u")
    older, newer = uid("s"), uid("s")
    run(access.add_session(older, uid("u"), "older"))
    run(access.add_session(newer, uid("u"), "newer"))
    run(access.set_player(newer, "x", ada, "ada"))
    run(access.set_player(older, "b", ada, "ada"))
    run(access.set_player(older, "a", ada, "ada"))
    run(access.set_player(older, "c", uid("u"), "bob"))
    assert run(access.played_by(ada)) == [(older, "older", "a"), (older, "older", "b"), (newer, "newer", "x")]
    assert run(access.played_by(uid("u"))) == []


# -- queued actions --------------------------------------------------------------------------------


def test_queued_actions_are_replaced_taken_once_and_put_back_under_newer_ones(access):
    sid = uid("s")
    run(access.queue_action(sid, "a1", {"kind": "wait"}))
    run(access.queue_action(sid, "a1", {"kind": "move", "to": "hall"}))  # replaces
    run(access.queue_action(sid, "a2", {"kind": "talk"}))
    run(access.queue_action(uid("s"), "a1", {"kind": "other session"}))
    taken = run(access.take_actions(sid))
    assert taken == {"a1": {"kind": "move", "to": "hall"}, "a2": {"kind": "talk"}}
    assert run(access.take_actions(sid)) == {}
    run(access.queue_action(sid, "a2", {"kind": "newer"}))
    run(access.put_back(sid, taken))  # the turn failed: a1 comes back, a2's newer action stays
    run(access.put_back(sid, {}))
    assert run(access.take_actions(sid)) == {"a1": {"kind": "move", "to": "hall"}, "a2": {"kind": "newer"}}


def test_concurrent_turns_never_take_the_same_action(access):
    sid = uid("s")
    for i in range(20):
        run(access.queue_action(sid, f"a{i}", {"i": i}))

    async def race():
        return await asyncio.gather(*(access.take_actions(sid) for _ in range(4)))

    takes = run(race())
    agents = [a for t in takes for a in t]
    assert sorted(agents) == sorted(f"a{i}" for i in range(20))  # every action once, none twice


def test_removing_a_session_forgets_its_owner_grants_and_queue(access):
    sid, keep, ada = uid("s"), uid("s"), uid("u")
    for s in (sid, keep):
        run(access.add_session(s, uid("u"), "story"))
        run(access.set_player(s, "a1", ada, "ada"))
        run(access.queue_action(s, "a1", {"kind": "wait"}))
    run(access.remove_session(sid))
    assert run(access.get_session(sid)) is None
    assert run(access.agents(sid)) == {} and not run(access.is_player(sid, ada))
    assert run(access.take_actions(sid)) == {}
    assert run(access.played_by(ada)) == [(keep, "story", "a1")]  # the other session is untouched
    assert run(access.take_actions(keep)) == {"a1": {"kind": "wait"}}


# -- PostgreSQL: what several replicas and a dropped connection need --------------------------------


@pytest.fixture
def pg_named(store_settings):
    """The PostgreSQL store with connections named uniquely (so a test can drop exactly them)."""
    name = f"ne-access-{uuid.uuid4().hex[:10]}"
    url = store_settings.database_url
    return replace(store_settings, database_url=f"{url}{'&' if '?' in url else '?'}application_name={name}"), name


def _killing_reads(dsn: str, table: str, kills: list[bool], times: int):
    """A ``_PgTx.fetch`` that terminates its own connection before reading ``table``, the first
    ``times`` times (what a server restart or a failover does to a pooled connection mid-request)."""
    original = postgres._PgTx.fetch

    async def fetch(self, sql, *args):
        if f"FROM {table}" in sql and len(kills) < times:
            other = await asyncpg.connect(dsn)
            try:
                kills.append(await other.fetchval("SELECT pg_terminate_backend($1)", self.conn.get_server_pid()))
            finally:
                await other.close()
        return await original(self, sql, *args)

    return fetch


@pytest.mark.parametrize("backend", ["postgresql"])
def test_postgres_reads_survive_a_connection_dropped_mid_request(pg_named, store_settings, monkeypatch):
    settings, name = pg_named
    with StoreRunner(open_store(settings)) as runner:
        access = access_for(runner)
        run(access.open())
        sid, ada = uid("s"), uid("u")
        run(access.add_session(sid, ada, "story"))
        run(access.create_user(ada, {"username": "ada"}))
        kills: list[bool] = []
        monkeypatch.setattr(
            postgres._PgTx, "fetch", _killing_reads(store_settings.database_url, "serve_sessions", kills, 1)
        )
        assert run(access.get_session(sid)).owner == ada  # read again on a fresh connection
        assert kills == [True]
        monkeypatch.setattr(postgres._PgTx, "fetch", _killing_reads(store_settings.database_url, "users", kills, 2))
        assert run(access.get_user(ada)) == {"username": "ada"}
        assert kills == [True, True]
        # a write is not retried: the caller sees the error (the request fails, nothing half-done)
        monkeypatch.setattr(
            postgres._PgTx, "fetch", _killing_reads(store_settings.database_url, "serve_sessions", kills, 3)
        )
        with pytest.raises(StoreError) as err:
            run(access.add_session(uid("s"), ada, "lost"))
        assert err.value.details.get("lost") and kills == [True, True, True]


@pytest.fixture
def pg_fresh_schema(store_settings):
    """Settings for the PostgreSQL store in a schema of its own, empty (dropped afterwards)."""
    schema = f"access_{uuid.uuid4().hex[:10]}"
    url = store_settings.database_url

    async def sql(stmt: str) -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(stmt)
        finally:
            await conn.close()

    run(sql(f"CREATE SCHEMA {schema}"))
    # asyncpg passes unknown URL parameters on as server settings
    yield replace(store_settings, database_url=f"{url}{'&' if '?' in url else '?'}search_path={schema}")
    run(sql(f"DROP SCHEMA {schema} CASCADE"))


@pytest.mark.parametrize("backend", ["postgresql"])
def test_postgres_replicas_open_the_port_at_once(pg_fresh_schema):
    runners = [StoreRunner(open_store(pg_fresh_schema)).start() for _ in range(4)]
    try:
        ports = [access_for(r) for r in runners]

        async def open_all():
            await asyncio.gather(*(p.open() for p in ports))

        run(open_all())  # four replicas create the same missing tables at once
        sid = uid("s")
        run(ports[0].add_session(sid, "owner", "story"))
        assert all(run(p.get_session(sid)).owner == "owner" for p in ports)  # one set of tables
    finally:
        for r in runners:
            r.stop()


def test_a_store_without_sql_is_refused():
    class NoSql:
        sql = None

    with pytest.raises(ConfigError, match="SQL store"):
        access_for(NoSql())


def test_an_owner_at_the_limit_records_no_new_session(access, runner):
    owner = uid("u")
    run(access.add_session(uid("ghost"), owner, "no story yet", max_owned=2))  # ghosts do not count
    for sid in [uid("s") for _ in range(2)]:
        store_story(runner, sid)
        run(access.add_session(sid, owner, "kept", max_owned=2))
    late = uid("s")
    with pytest.raises(SessionLimitError) as err:
        run(access.add_session(late, owner, "one too many", max_owned=2))
    assert (err.value.details["owned"], err.value.details["limit"]) == (2, 2)
    assert run(access.get_session(late)) is None
    assert run(access.add_session(late, uid("u"), "someone else's", max_owned=2)).name == "someone else's"
