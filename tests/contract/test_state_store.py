"""The StateStore contract, run against every backend (embedded, PostgreSQL, Redis, S3)."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import replace

import pytest

from novel_engine.errors import ConflictError, NotFoundError
from novel_engine.storage import SessionRecord, StoreRunner, TurnCommit, open_store
from novel_engine.storage.port import JsonText


def sid() -> str:
    """A session id unique across runs (PostgreSQL keeps its rows between runs)."""
    return f"t-{uuid.uuid4().hex[:12]}"


def _new(runner, blob: bytes | None = b"ck0") -> str:
    s = sid()
    runner.call(
        lambda st: st.create_session(SessionRecord(id=s, scenario={"title": "t"}, settings={"seed": 1}, seed=1), blob)
    )
    return s


def _commit(turn: int, n: int, blob: bytes | None = None) -> TurnCommit:
    return TurnCommit(
        turn=turn,
        record={"turn": turn, "prose": f"p{turn}"},
        events=tuple({"id": f"e{turn}.{i}", "turn": turn, "kind": "action", "summary": "x"} for i in range(n)),
        checkpoint=blob,
    )


def test_sessions_are_created_read_and_listed(runner):
    s = _new(runner)
    head = runner.call(lambda st: st.get_session(s))
    assert (head.id, head.turn, head.version, head.last_seq, head.scenario) == (s, 0, 0, 0, {"title": "t"})
    assert s in [r.id for r in runner.call(lambda st: st.list_sessions())]
    with pytest.raises(ConflictError):
        _dup = SessionRecord(id=s, scenario={}, settings={}, seed=1)
        runner.call(lambda st: st.create_session(_dup))
    with pytest.raises(NotFoundError):
        runner.call(lambda st: st.get_session("no-such-session"))


def test_a_scenario_given_as_json_is_stored_as_it_is_and_read_back_parsed(runner):
    # a new session's scenario comes as the JSON the runtime made anyway (seconds to turn a
    # 100,000-persona cast into dicts and dump them again)
    s, text = sid(), JsonText('{"title": "t", "personas": [{"id": "p1", "name": "Ann é"}]}')
    runner.call(lambda st: st.create_session(SessionRecord(id=s, scenario=text, settings={"seed": 1}, seed=1), b"ck0"))
    head = runner.call(lambda st: st.get_session(s, fresh=True))
    assert head.scenario == {"title": "t", "personas": [{"id": "p1", "name": "Ann é"}]}
    assert runner.call(lambda st: st.get_session(s)).scenario == head.scenario  # through the read cache too


def test_commits_store_turns_events_and_checkpoints_with_gapless_seqs(runner):
    s = _new(runner)
    v = 0
    for turn, n in ((1, 3), (2, 0), (3, 5)):
        head = runner.call(lambda st: st.commit_turn(s, v, _commit(turn, n, b"ck%d" % turn if turn != 2 else None)))
        v = head.version
    assert (head.turn, head.version, head.last_seq) == (3, 3, 8)
    seqs = [e.seq for e in runner.call(lambda st: st.events(s))]
    assert seqs == list(range(1, 9))
    assert [e.data["id"] for e in runner.call(lambda st: st.events(s, 3, 2))] == ["e3.0", "e3.1"]
    turns = runner.call(lambda st: st.turns(s))
    assert [(t.turn, t.first_seq, t.last_seq) for t in turns] == [(1, 1, 3), (2, 4, 3), (3, 4, 8)]
    assert runner.call(lambda st: st.checkpoint(s)) == (3, b"ck3")
    assert runner.call(lambda st: st.checkpoint(s, 2)) == (1, b"ck1")
    assert runner.call(lambda st: st.checkpoint(s, 0)) == (0, b"ck0")


def test_a_commit_returns_the_whole_head_without_reading_the_scenario_back(runner):
    # at 100,000 personas the head read after each commit fetched the scenario (tens of MB of
    # text) again: seconds per turn on the driver, on both runtimes
    s = _new(runner)
    sql, seen = runner.store.sql, []
    real = type(sql).transaction

    def spying(self):
        cm = real(self)

        class Spy:
            async def __aenter__(inner):
                tx = await cm.__aenter__()
                fetchone = tx.fetchone

                async def spy(query, *args):
                    seen.append(query)
                    return await fetchone(query, *args)

                tx.fetchone = spy
                return tx

            async def __aexit__(inner, *exc):
                return await cm.__aexit__(*exc)

        return Spy()

    v = 0
    for turn in (1, 2, 3):
        sql.transaction = spying.__get__(sql)
        try:
            head = runner.call(lambda st, t=turn, v=v: st.commit_turn(s, v, _commit(t, 1)))
        finally:
            del sql.transaction
        v = head.version
        # the whole head, its scenario as the stored JSON (parsing a 100,000-persona scenario
        # there held hundreds of MB of dicts in the driver); a read parses it
        assert isinstance(head.scenario, JsonText) and head.settings == {"seed": 1}
        read = runner.call(lambda st: st.get_session(s))
        assert replace(head, scenario=json.loads(head.scenario)) == read and read.scenario == {"title": "t"}
    assert sum("scenario" in q for q in seen) <= 1, seen  # read once, by the first commit at most


def test_a_stale_writer_gets_a_conflict_and_changes_nothing(runner):
    s = _new(runner)
    runner.call(lambda st: st.commit_turn(s, 0, _commit(1, 2)))
    with pytest.raises(ConflictError) as err:
        runner.call(lambda st: st.commit_turn(s, 0, _commit(1, 4, b"other")))
    assert err.value.details["expected"] == 0 and err.value.details["actual"] == 1
    assert [e.seq for e in runner.call(lambda st: st.events(s))] == [1, 2]
    assert runner.call(lambda st: st.checkpoint(s)) == (0, b"ck0")


def test_concurrent_writers_never_both_win(store_settings):
    with StoreRunner(open_store(store_settings)) as a, StoreRunner(open_store(store_settings)) as b:
        s = _new(a)
        results: list[object] = []
        barrier = threading.Barrier(2)

        def write(r, n):
            barrier.wait()
            try:
                results.append(r.call(lambda st: st.commit_turn(s, 0, _commit(1, n))).version)
            except ConflictError as err:
                results.append(err)

        threads = [threading.Thread(target=write, args=(r, n)) for r, n in ((a, 2), (b, 3))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(type(x).__name__ for x in results) == ["ConflictError", "int"]
        seqs = [e.seq for e in a.call(lambda st: st.events(s))]
        assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) in (2, 3)


def test_large_checkpoints_go_to_the_object_store(runner):
    s = _new(runner, None)
    big = bytes(range(256)) * 8192  # 2 MiB > the 1 MiB threshold
    runner.call(lambda st: st.commit_turn(s, 0, _commit(1, 1, big)))
    assert runner.call(lambda st: st.checkpoint(s)) == (1, big)
    assert runner.call(lambda st: st.list_objects(f"checkpoints/{s}/"))


def test_read_cache_is_invalidated_on_commit_and_counts_hits(runner):
    s = _new(runner)
    runner.call(lambda st: st.get_session(s))
    assert runner.call(lambda st: st.get_session(s)).version == 0
    runner.call(lambda st: st.commit_turn(s, 0, _commit(1, 1)))
    assert runner.call(lambda st: st.get_session(s)).version == 1  # not the cached version 0
    stats = runner.store.stats()
    assert stats["cache_hits"] >= 1 and 0 < stats["cache_hit_rate"] < 1


def test_users_api_keys_and_audit_log(runner):
    u = sid()
    runner.call(lambda st: st.put_user(u, {"name": "Ada"}))
    runner.call(lambda st: st.put_user(u, {"name": "Ada L."}))
    assert runner.call(lambda st: st.get_user(u)) == {"name": "Ada L."}
    runner.call(lambda st: st.put_api_key(f"hash-{u}", u, {"scopes": ["play"]}))
    assert runner.call(lambda st: st.get_api_key(f"hash-{u}")) == (u, {"scopes": ["play"]})
    with pytest.raises(NotFoundError):
        runner.call(lambda st: st.get_user("nobody-" + u))
    a = runner.call(lambda st: st.append_audit(u, "login", {"ok": True}))
    b = runner.call(lambda st: st.append_audit(u, "step", {"turn": 1}))
    assert b > a
    tail = runner.call(lambda st: st.audit_log(2))
    assert [(e["actor"], e["action"]) for e in tail] == [(u, "login"), (u, "step")]


def test_rate_limit_counters_count_per_window(runner):
    key = sid()
    assert [runner.call(lambda st: st.hit(key, 60)) for _ in range(3)] == [1, 2, 3]


def test_objects_round_trip_and_list(runner):
    p = sid()
    runner.call(lambda st: st.put_object(f"exports/{p}/story.md", b"# Story\n"))
    runner.call(lambda st: st.put_object(f"exports/{p}/events.jsonl", b"{}\n"))
    assert runner.call(lambda st: st.get_object(f"exports/{p}/story.md")) == b"# Story\n"
    assert runner.call(lambda st: st.list_objects(f"exports/{p}/")) == [
        f"exports/{p}/events.jsonl",
        f"exports/{p}/story.md",
    ]
    with pytest.raises(NotFoundError):
        runner.call(lambda st: st.get_object(f"exports/{p}/missing"))


def test_events_archive_to_parquet_and_the_table_has_every_event(runner):
    s = _new(runner)
    v = 0
    for turn in (1, 2, 3):
        v = runner.call(lambda st: st.commit_turn(s, v, _commit(turn, 2))).version
        if turn == 2:
            assert runner.call(lambda st: st.archive(s)).endswith("events-000000000001-000000000004.parquet")
    table = runner.call(lambda st: st.events_table(s))
    assert table.column("seq").to_pylist() == [1, 2, 3, 4, 5, 6]
    assert table.column("id").to_pylist()[-1] == "e3.1"


def test_subscribers_get_the_backlog_then_live_events_in_order(runner):
    s = _new(runner)
    runner.call(lambda st: st.commit_turn(s, 0, _commit(1, 2)))

    async def read(st, n):
        out = []
        async for ev in st.subscribe(s, 1):
            out.append(ev.seq)
            if len(out) == 1:  # commit while the subscriber waits
                await st.commit_turn(s, 1, _commit(2, 2))
            if len(out) == n:
                return out

    assert runner.call(lambda st: read(st, 3)) == [2, 3, 4]


def test_schema_is_versioned(runner):
    assert runner.call(lambda st: st.sql.schema_version()) >= 2
