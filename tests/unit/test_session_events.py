"""Session.asubscribe: the committed turns' items, numbered without gaps, on the in-process runtime too."""

from __future__ import annotations

import asyncio

from novel_engine import Engine


def _plain(items):
    return [{k: v for k, v in i.items() if k != "committed_at"} for i in items]


def test_a_local_session_numbers_its_items_and_a_subscriber_reads_on_from_its_cursor():
    engine = Engine()
    s = engine.create_session("noir_city", seed=2)
    assert s.subscribe().items == ()
    first = s.step()
    got = s.subscribe()
    assert [i["seq"] for i in got.items] == list(range(1, len(first.events) + 3))
    assert [i["type"] for i in got.items[-2:]] == ["narrative_update", "turn_complete"]
    assert got.items[-1]["turn"] == 1 and got.last_seq == len(got.items)
    second = s.step()
    more = s.subscribe(after_seq=got.last_seq, event_types=["turn_complete"])
    assert [i["turn"] for i in more.items] == [2] and more.last_seq == got.last_seq + len(second.events) + 2


def test_a_long_poll_wakes_when_the_turn_is_played():
    async def main() -> None:
        engine = await Engine.aopen()
        s = await engine.acreate_session("fantasy_world", seed=3)
        waiting = asyncio.ensure_future(s.asubscribe(0, ["turn_complete"], timeout_s=30))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await s.astep()
        got = await asyncio.wait_for(waiting, 5)
        assert [i["turn"] for i in got.items] == [1]

    asyncio.run(main())


def test_a_stored_session_publishes_only_committed_turns_and_a_resume_numbers_on(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    with Engine(store=url) as engine:
        s = engine.create_session("space_station", seed=4, session_id="ev")
        s.run(2)
        before = _plain(s.subscribe().items)
    with Engine(store=url) as engine:
        resumed = engine.resume("ev")
        assert _plain(resumed.subscribe().items) == before  # rebuilt from the stored history
        resumed.step()
        tail = resumed.subscribe(after_seq=len(before)).items
        assert tail[0]["seq"] == len(before) + 1 and tail[-1]["turn"] == 3
