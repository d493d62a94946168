"""Archived events leave SQL (a bounded tail stays) and every read still sees the whole session.

Run against every backend of the contract suite (embedded, PostgreSQL, Redis, S3).
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from novel_engine.errors import ConflictError
from novel_engine.storage import SessionRecord, StoreRunner, TurnCommit, open_store
from novel_engine.storage.archive import archive_key

EVENTS_PER_TURN = 3


@pytest.fixture
def trimming(store_settings):
    """A store that archives every 2 turns and keeps the newest 4 archived events in SQL."""
    with StoreRunner(open_store(replace(store_settings, archive_every=2, sql_event_tail=4))) as r:
        yield r


def _session(runner, turns: int) -> str:
    s = f"t-{uuid.uuid4().hex[:12]}"
    runner.call(lambda st: st.create_session(SessionRecord(id=s, scenario={}, settings={}, seed=1), b"ck0"))
    for turn in range(1, turns + 1):
        commit = TurnCommit(
            turn=turn,
            record={"turn": turn, "prose": f"p{turn}"},
            events=tuple(
                {"id": f"e{turn}.{i}", "kind": "action", "summary": f"s{turn}.{i}"} for i in range(EVENTS_PER_TURN)
            ),
        )
        runner.call(lambda st, c=commit, v=turn - 1: st.commit_turn(s, v, c))
    return s


def _ids(first: int, last: int) -> list[str]:
    """The ids of events ``first..last`` (seq n is event (n-1) % 3 of turn (n-1) // 3 + 1)."""
    return [f"e{(n - 1) // EVENTS_PER_TURN + 1}.{(n - 1) % EVENTS_PER_TURN}" for n in range(first, last + 1)]


def test_sql_keeps_a_bounded_tail_and_reads_still_see_every_event(trimming):
    s = _session(trimming, 6)  # 18 events, archived at turns 2, 4 and 6
    ranges = trimming.call(lambda st: st.sql.archives(s))
    assert [(a, b) for a, b, _ in ranges] == [(1, 6), (7, 12), (13, 18)]
    in_sql = trimming.call(lambda st: st.sql.events(s))
    assert [e.seq for e in in_sql] == [15, 16, 17, 18]  # the newest 4 archived events stay
    assert trimming.store.stats()["events_trimmed"] == 14

    every = trimming.call(lambda st: st.events(s))
    assert [e.seq for e in every] == list(range(1, 19))
    assert [e.data["id"] for e in every] == _ids(1, 18)
    assert [e.turn for e in every[:4]] == [1, 1, 1, 2]
    # pages that start in one archive and end in the next, or in SQL
    assert [e.seq for e in trimming.call(lambda st: st.events(s, 5, 4))] == [6, 7, 8, 9]
    assert [e.data["id"] for e in trimming.call(lambda st: st.events(s, 12, 5))] == _ids(13, 17)
    assert trimming.call(lambda st: st.events(s, 18)) == []

    table = trimming.call(lambda st: st.events_table(s))
    assert table.column("seq").to_pylist() == list(range(1, 19))
    assert table.column("id").to_pylist() == _ids(1, 18)

    async def subscribe(st, after, n):
        out = []
        async for ev in st.subscribe(s, after):
            out.append(ev.seq)
            if len(out) == n:
                return out

    assert trimming.call(lambda st: subscribe(st, 2, 16)) == list(range(3, 19))


def test_commits_after_trimming_continue_the_sequence(trimming):
    s = _session(trimming, 4)
    head = trimming.call(lambda st: st.commit_turn(s, 4, TurnCommit(5, {"turn": 5, "prose": "p5"}, ({"id": "e5.0"},))))
    assert head.last_seq == 13
    assert [e.seq for e in trimming.call(lambda st: st.events(s))] == list(range(1, 14))
    assert trimming.call(lambda st: st.events_table(s)).num_rows == 13


def test_only_recorded_archives_are_read(trimming):
    s = _session(trimming, 1)
    # what a crash between writing an archive object and recording it leaves behind
    trimming.call(lambda st: st.put_object(archive_key(s, 1, 6), b"not parquet"))
    assert trimming.call(lambda st: st.events_table(s)).column("id").to_pylist() == _ids(1, 3)
    commit = TurnCommit(2, {"turn": 2, "prose": "p2"}, tuple({"id": f"e2.{i}"} for i in range(EVENTS_PER_TURN)))
    trimming.call(lambda st: st.commit_turn(s, 1, commit))  # archives 1..6 again, over the stray object
    assert [(a, b) for a, b, _ in trimming.call(lambda st: st.sql.archives(s))] == [(1, 6)]
    assert [e.seq for e in trimming.call(lambda st: st.sql.events(s))] == [3, 4, 5, 6]
    assert trimming.call(lambda st: st.events_table(s)).column("id").to_pylist() == _ids(1, 6)


def test_a_late_second_archiver_changes_nothing(trimming):
    s = _session(trimming, 2)  # archived 1..6 and trimmed to 3..6
    with pytest.raises(ConflictError):
        trimming.call(lambda st: st.sql.record_archive(s, 1, 6, archive_key(s, 1, 6), 6))
    assert [e.seq for e in trimming.call(lambda st: st.sql.events(s))] == [3, 4, 5, 6]
    assert [e.seq for e in trimming.call(lambda st: st.events(s))] == list(range(1, 7))
