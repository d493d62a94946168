"""The WebSocket fan-out without Ray: one poller per session, bounded outboxes, no gaps on catch-up."""

from __future__ import annotations

import asyncio
import json

from novel_engine.runtime.event_log import EventLog
from serve_app.fanout import Fanout, Outbox


class _Method:
    def __init__(self, fn):
        self.fn = fn
        self.calls = 0

    def remote(self, *args):
        self.calls += 1
        return self.fn(*args)


class FakeHub:
    """The event hub's interface over an in-process EventLog (``.method.remote(...)`` is awaitable)."""

    def __init__(self) -> None:
        self.log = EventLog(10_000)
        self.subscribe = _Method(self._subscribe)
        self.last_seq = _Method(self._last_seq)

    async def _subscribe(self, after, types, timeout, limit):
        return await self.log.subscribe(after, types, timeout, limit)

    async def _last_seq(self):
        return self.log.last_seq

    def publish(self, n: int, kind: str = "agent_action") -> None:
        self.log.publish([{"type": kind, "n": i} for i in range(n)])


def frames_of(outbox: Outbox) -> list[dict]:
    out = []
    while not outbox.queue.empty():
        out.append(json.loads(outbox.queue.get_nowait().text))
    return out


async def drain(outbox: Outbox, until_seq: int) -> list[dict]:
    got: list[dict] = []
    while not got or got[-1].get("seq", 0) < until_seq:
        got.append(json.loads((await asyncio.wait_for(outbox.get(), 5)).text))
    return got


def test_one_poller_feeds_every_socket_in_order_and_catch_up_joins_without_gaps():
    async def scenario() -> None:
        hub = FakeHub()
        fan = Fanout(lambda sid: asyncio.sleep(0, hub), poll_timeout_s=0.5)
        hub.publish(5)
        early = Outbox(1000)
        await fan.subscribe(early, "s", 0, None)
        assert [f["seq"] for f in await drain(early, 5)] == [1, 2, 3, 4, 5]
        late = [Outbox(1000) for _ in range(20)]
        for i, box in enumerate(late):
            await fan.subscribe(box, "s", i % 7, None)
            hub.publish(1)  # events land while subscribers are catching up
        last = hub.log.last_seq
        for i, box in enumerate(late):
            assert [f["seq"] for f in await drain(box, last)] == list(range(i % 7 + 1, last + 1))
        assert len(fan.feeds) == 1 and fan.feeds["s"].subs == {early.subs["s"], *(b.subs["s"] for b in late)}
        polls = hub.subscribe.calls
        hub.publish(3)
        for box in [early, *late]:
            assert [f["seq"] for f in await drain(box, last + 3)][-3:] == [last + 1, last + 2, last + 3]
        assert hub.subscribe.calls - polls <= 2  # one long-poll per session, not one per socket
        await fan.close()

    asyncio.run(scenario())


def test_a_slow_socket_is_told_where_to_resume_and_nobody_else_waits():
    async def scenario() -> None:
        hub = FakeHub()
        fan = Fanout(lambda sid: asyncio.sleep(0, hub), poll_timeout_s=0.5)
        fast, slow = Outbox(1000), Outbox(4)
        await fan.subscribe(fast, "s", 0, None)
        await fan.subscribe(slow, "s", 0, None)
        await asyncio.sleep(0.05)  # both joined the live feed
        hub.publish(2)
        taken = [json.loads((await slow.get()).text)["seq"] for _ in range(2)]  # the slow one reads two...
        hub.publish(30)  # ...then stops reading while 30 more arrive
        got = await drain(fast, 32)
        assert [f["seq"] for f in got] == list(range(1, 33))
        notice = frames_of(slow)
        assert notice == [
            {"type": "overflow", "session_id": "s", "after_seq": taken[-1], "detail": notice[0]["detail"]}
        ]
        assert "s" not in slow.subs and slow.overflows == 1
        await fan.subscribe(slow, "s", notice[0]["after_seq"], None)  # resubscribe: the rest, no gap
        rest = [f["seq"] for f in await drain(slow, 32)]
        assert taken + rest == list(range(1, 33))
        await fan.close()

    asyncio.run(scenario())


def test_type_filter_moves_the_cursor_past_other_types():
    async def scenario() -> None:
        hub = FakeHub()
        fan = Fanout(lambda sid: asyncio.sleep(0, hub), poll_timeout_s=0.5)
        box = Outbox(100)
        await fan.subscribe(box, "s", 0, frozenset({"turn_complete"}))
        hub.publish(3)
        hub.publish(1, "turn_complete")
        hub.publish(2)
        hub.publish(1, "turn_complete")
        got = await drain(box, 7)
        assert [(f["seq"], f["type"]) for f in got] == [(4, "turn_complete"), (7, "turn_complete")]
        await fan.close()

    asyncio.run(scenario())


def test_subscribing_without_after_seq_starts_from_now():
    async def scenario() -> None:
        hub = FakeHub()
        fan = Fanout(lambda sid: asyncio.sleep(0, hub), poll_timeout_s=0.5)
        hub.publish(4)
        box = Outbox(100)
        sub = await fan.subscribe(box, "s", None, None)
        assert sub.after_seq == 4
        hub.publish(2)
        assert [f["seq"] for f in await drain(box, 6)] == [5, 6]
        await fan.close()

    asyncio.run(scenario())
