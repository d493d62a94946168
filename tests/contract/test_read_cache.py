"""The read-through cache of session heads never serves a head older than the last commit."""

from __future__ import annotations

import json
import uuid

import pytest

from novel_engine.errors import ConflictError
from novel_engine.storage import SessionRecord, StoreRunner, TurnCommit, open_store
from novel_engine.storage.manager import _head_bytes


def test_a_fill_that_read_sql_before_a_commit_cannot_put_the_older_head_back(runner):
    s = f"t-{uuid.uuid4().hex[:12]}"
    runner.call(lambda st: st.create_session(SessionRecord(id=s, scenario={}, settings={}, seed=1), b"ck"))
    stale = runner.call(lambda st: st.sql.get_session(s))  # a reader reads SQL (a cache miss) ...
    runner.call(lambda st: st.commit_turn(s, 0, TurnCommit(1, {"turn": 1}, ({"id": "e"},))))  # ... a commit lands
    stored = runner.call(
        lambda st: st.hot.cache_set_versioned(f"session:{s}", _head_bytes(stale), stale.version, 300)
    )  # ... then the reader fills the cache late
    assert stored is False
    head = runner.call(lambda st: st.get_session(s))
    assert (head.version, head.turn, head.last_seq) == (1, 1, 1)


def test_every_commit_replaces_the_cached_head(runner):
    s = f"t-{uuid.uuid4().hex[:12]}"
    runner.call(lambda st: st.create_session(SessionRecord(id=s, scenario={}, settings={}, seed=1), b"ck"))
    assert runner.call(lambda st: st.get_session(s)).version == 0
    for turn in (1, 2, 3):
        runner.call(lambda st, t=turn: st.commit_turn(s, t - 1, TurnCommit(t, {"turn": t}, ())))
        assert runner.call(lambda st: st.get_session(s)).version == turn
    # a plain delete (e.g. by an operator) falls back to SQL
    runner.call(lambda st: st.hot.cache_delete(f"session:{s}"))
    assert runner.call(lambda st: st.get_session(s)).turn == 3


def test_a_writer_that_loses_a_conflict_stops_trusting_its_cached_head(store_settings):
    with StoreRunner(open_store(store_settings)) as a, StoreRunner(open_store(store_settings)) as b:
        s = f"t-{uuid.uuid4().hex[:12]}"
        a.call(lambda st: st.create_session(SessionRecord(id=s, scenario={}, settings={}, seed=1), b"ck"))
        assert a.call(lambda st: st.get_session(s)).version == 0  # cached by a
        b.call(lambda st: st.commit_turn(s, 0, TurnCommit(1, {"turn": 1}, ())))  # another process commits
        assert a.call(lambda st: st.get_session(s, fresh=True)).version == 1  # a resume reads SQL
        a.call(
            lambda st: st.hot.cache_set(
                f"session:{s}", _head_bytes(SessionRecord(id=s, scenario={}, settings={}, seed=1)), 300
            )
        )  # a's cache still says version 0
        with pytest.raises(ConflictError):
            a.call(lambda st: st.commit_turn(s, 0, TurnCommit(1, {"turn": 1}, ())))
        assert a.call(lambda st: st.get_session(s)).version == 1  # the conflict dropped the stale entry


def test_the_cache_holds_heads_without_bodies_and_an_older_entry_with_its_body_still_reads(runner):
    # the body (scenario, settings) never changes: the SQL backend keeps it; copied into the cache
    # with every commit, a 100,000-persona scenario cost the driver half a second per turn
    s = f"t-{uuid.uuid4().hex[:12]}"
    record = SessionRecord(id=s, scenario={"title": "Body"}, settings={"seed": 1}, seed=1)
    runner.call(lambda st: st.create_session(record, b"ck"))
    runner.call(lambda st: st.commit_turn(s, 0, TurnCommit(1, {"turn": 1}, ())))
    cached = runner.call(lambda st: st.hot.cache_get(f"session:{s}"))
    assert b"Body" not in cached and json.loads(cached)["version"] == 1
    head = runner.call(lambda st: st.get_session(s))
    assert (head.scenario, head.settings, head.version) == ({"title": "Body"}, {"seed": 1}, 1)
    older = json.dumps({**json.loads(cached), "scenario": {"title": "Old"}, "settings": {}}).encode()
    runner.call(lambda st: st.hot.cache_set(f"session:{s}", older, 300))  # as an older version cached it
    assert runner.call(lambda st: st.get_session(s)) == head
