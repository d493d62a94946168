"""EventLog: gapless sequence numbers, cursor replay, filters, bounded memory, long-poll."""

from __future__ import annotations

import asyncio

import pytest

from novel_engine.runtime.event_log import EventLog


def test_sequence_numbers_and_cursor_replay():
    log = EventLog()
    assert log.publish([{"type": "a"}, {"type": "b"}]) == 2
    assert log.publish([{"type": "a"}]) == 3
    got = log.read(0)
    assert [i["seq"] for i in got.items] == [1, 2, 3] and got.last_seq == 3
    assert [i["seq"] for i in log.read(2).items] == [3]
    assert log.read(3).items == () and log.read(3).last_seq == 3
    only_a = log.read(0, ["a"])
    assert [i["seq"] for i in only_a.items] == [1, 3] and only_a.last_seq == 3


def test_memory_is_bounded_and_lost_items_are_reported():
    log = EventLog(capacity=3)
    log.publish({"type": "x", "n": n} for n in range(10))
    got = log.read(0)
    assert got.truncated and [i["seq"] for i in got.items] == [8, 9, 10]
    assert not log.read(7).truncated
    with pytest.raises(ValueError):
        EventLog(capacity=0)


def test_subscribe_long_polls_until_something_arrives():
    async def go():
        log = EventLog()
        waiter = asyncio.create_task(log.subscribe(0, None, timeout_s=5.0))
        await asyncio.sleep(0)
        assert not waiter.done()
        log.publish([{"type": "turn_complete"}])
        got = await waiter
        assert [i["seq"] for i in got.items] == [1]
        empty = await log.subscribe(1, None, timeout_s=0.01)
        assert empty.items == () and empty.last_seq == 1
        # a filtered subscriber's cursor moves past items of other types
        log.publish([{"type": "agent_action"}])
        skipped = await log.subscribe(1, ["turn_complete"], timeout_s=0.01)
        assert skipped.items == () and skipped.last_seq == 2

    asyncio.run(go())


def test_a_rebuilt_window_numbers_on_from_the_sessions_history():
    """hub_window gives what a hub that saw every turn would hold; reset continues its numbering."""
    from novel_engine.api import Engine
    from novel_engine.runtime.event_log import hub_items, hub_window

    session = Engine().create_session("noir_city", seed=3)
    reports = session.run(4)
    whole = EventLog(capacity=100_000)
    for r in reports:
        whole.publish(hub_items(r, committed_at=0.0))
    for capacity in (1, 7, 10_000):
        items, first = hub_window(reports, capacity)
        log = EventLog(capacity)
        log.reset(items, first)
        kept = whole.read(whole.last_seq - min(capacity, whole.last_seq), None, 100_000).items
        assert log.last_seq == whole.last_seq
        assert log.read(0, None, 100_000).items == kept
        assert log.read(0, None, 100_000).truncated == (capacity < whole.last_seq)
        log.publish([{"type": "turn_complete", "turn": 5}])
        assert log.last_seq == whole.last_seq + 1
    assert hub_window([], 10) == ([], 1)
