"""Event fan-out inside one replica: one event-hub poller per session, bounded queues per socket.

A socket is pinned to the replica that accepted it, while a session's events are published by its
director actor to the session's event hub. Each replica runs at most one long-poll loop per
session (:class:`Feed`) however many of its sockets watch that session, and copies each event
(serialised once) into the bounded :class:`Outbox` of every subscribed socket. The poller never
waits for a socket: when an outbox is full its subscriptions are dropped and the client is told
the last sequence number it was given, so it can resubscribe from there; nobody else slows down.

A new subscription first catches up from its ``after_seq`` with one-off reads of the hub (awaiting
its own outbox, so a long backlog paces itself), then joins the live feed in the same
event-loop step in which its cursor reaches the feed's: no event is skipped or repeated.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Fanout", "Feed", "Outbox", "Subscription", "Frame"]

log = logging.getLogger("serve_app")


@dataclass(frozen=True, slots=True)
class Frame:
    """One outgoing frame: its text, and for events the session and sequence number."""

    text: str
    session_id: str | None = None
    seq: int = 0
    type: str = ""


def control(kind: str, **data: Any) -> Frame:
    """A control frame (subscribed, error, overflow, heartbeat...)."""
    return Frame(json.dumps({"type": kind, **data}))


class Outbox:
    """A socket's bounded queue of frames, and its subscriptions.

    Args:
        size: the most frames buffered before the socket counts as too slow.
    """

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[Frame] = asyncio.Queue(maxsize=size)
        self.subs: dict[str, Subscription] = {}
        self.taken: dict[str, int] = {}  # session -> seq of the last event frame handed to the writer
        self.overflows = 0
        self.on_overflow: Callable[[], Any] | None = None

    def offer(self, frame: Frame) -> bool:
        """Queue a frame without waiting; on overflow drop every subscription (False)."""
        try:
            self.queue.put_nowait(frame)
            return True
        except asyncio.QueueFull:
            self.overflow()
            return False

    async def put(self, frame: Frame) -> None:
        """Queue a frame, waiting for room (catch-up reads pace themselves this way)."""
        await self.queue.put(frame)

    async def get(self) -> Frame:
        frame = await self.queue.get()
        if frame.session_id is not None:
            self.taken[frame.session_id] = frame.seq
        return frame

    def overflow(self) -> None:
        """Too slow: drop the buffered frames and every subscription; tell where to resume."""
        self.overflows += 1
        if self.on_overflow is not None:
            self.on_overflow()
        subs = list(self.subs.values())
        for sub in subs:
            sub.stop()
        while not self.queue.empty():
            self.queue.get_nowait()
        for sub in subs:
            resume = self.taken.get(sub.session_id, sub.after_seq)
            self.queue.put_nowait(
                control(
                    "overflow",
                    session_id=sub.session_id,
                    after_seq=resume,
                    detail=f"this connection fell behind by more than {self.queue.maxsize} frames; "
                    f"resubscribe with after_seq={resume} to continue without a gap",
                )
            )

    def close(self) -> None:
        for sub in list(self.subs.values()):
            sub.stop()


@dataclass(eq=False)
class Subscription:
    """One socket watching one session from a cursor, optionally only some event types."""

    session_id: str
    outbox: Outbox
    types: frozenset[str] | None
    after_seq: int
    cursor: int = 0
    feed: Feed | None = None
    task: asyncio.Task | None = None
    active: bool = True
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def deliver(self, frames: list[Frame]) -> None:
        """Offer live frames past the cursor (called by the feed, never waits)."""
        for f in frames:
            if f.seq <= self.cursor:
                continue
            self.cursor = f.seq
            if self.types is None or f.type in self.types:
                if not self.outbox.offer(f):
                    return

    def stop(self) -> None:
        """End this subscription (idempotent)."""
        self.active = False
        if self.feed is not None:
            self.feed.subs.discard(self)
        if self.outbox.subs.get(self.session_id) is self:
            del self.outbox.subs[self.session_id]
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
        self.ended.set()


class Feed:
    """The one poller of a session's event hub in this replica."""

    def __init__(self, fanout: Fanout, session_id: str, hub: Any, last_seq: int) -> None:
        self.fanout, self.session_id, self.hub, self.last_seq = fanout, session_id, hub, last_seq
        self.subs: set[Subscription] = set()
        self.task: asyncio.Task | None = None
        self.polls = 0

    def frames(self, items: Any) -> list[Frame]:
        sid = self.session_id
        return [
            Frame(json.dumps({**item, "session_id": sid}, separators=(",", ":")), sid, item["seq"], item["type"])
            for item in items
        ]

    async def run(self) -> None:
        failures = 0
        while True:
            if not self.subs:
                self.fanout.feeds.pop(self.session_id, None)
                return
            try:
                read = await self.hub.subscribe.remote(self.last_seq, None, self.fanout.poll_timeout_s, 1000)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the hub is gone (session deleted) or Ray hiccuped
                failures += 1
                if failures >= 3:
                    self.end("session_closed", f"the session's event stream ended ({type(exc).__name__})")
                    return
                await asyncio.sleep(0.2 * failures)
                continue
            self.polls += 1
            if read.truncated:
                self.end("truncated", "events were dropped from the hub's window; resubscribe")
                return
            frames = self.frames(read.items)
            self.last_seq = read.last_seq
            for sub in list(self.subs):
                sub.deliver(frames)

    def end(self, code: str, detail: str) -> None:
        """Stop the feed and tell every subscriber why."""
        self.fanout.feeds.pop(self.session_id, None)
        for sub in list(self.subs):
            resume = sub.outbox.taken.get(self.session_id, sub.after_seq)
            sub.stop()
            sub.outbox.offer(control("error", code=code, session_id=self.session_id, after_seq=resume, detail=detail))


class Fanout:
    """The replica's feeds, one per watched session.

    Args:
        hub_of: ``await hub_of(session_id)`` gives the session's event-hub actor.
        poll_timeout_s: how long one long-poll waits for new events.
    """

    def __init__(self, hub_of: Callable[[str], Awaitable[Any]], poll_timeout_s: float = 5.0) -> None:
        self.hub_of, self.poll_timeout_s = hub_of, poll_timeout_s
        self.feeds: dict[str, Feed] = {}
        self._creating: dict[str, asyncio.Lock] = {}

    async def _feed(self, session_id: str) -> Feed:
        feed = self.feeds.get(session_id)
        if feed is not None:
            return feed
        lock = self._creating.setdefault(session_id, asyncio.Lock())
        async with lock:
            feed = self.feeds.get(session_id)
            if feed is None:
                hub = await self.hub_of(session_id)
                feed = Feed(self, session_id, hub, await hub.last_seq.remote())
                self.feeds[session_id] = feed
        return feed

    async def subscribe(
        self, outbox: Outbox, session_id: str, after_seq: int | None, types: frozenset[str] | None
    ) -> Subscription:
        """Start a subscription: catch up from ``after_seq`` in a task, then join the live feed.

        ``after_seq`` None means "from now": the events this replica has not yet delivered.
        """
        feed = await self._feed(session_id)
        if after_seq is None:
            after_seq = feed.last_seq
        old = outbox.subs.get(session_id)
        if old is not None:
            old.stop()
        sub = Subscription(session_id, outbox, types, after_seq, cursor=after_seq)
        outbox.subs[session_id] = sub
        sub.task = asyncio.create_task(self._catch_up(sub))
        return sub

    async def _catch_up(self, sub: Subscription) -> None:
        try:
            feed = await self._feed(sub.session_id)
            while sub.active:
                if sub.cursor >= feed.last_seq or feed.fanout.feeds.get(sub.session_id) is not feed:
                    if feed.fanout.feeds.get(sub.session_id) is not feed:  # the feed ended meanwhile
                        feed = await self._feed(sub.session_id)
                        continue
                    # same event-loop step as the check: the feed cannot move in between
                    sub.feed = feed
                    feed.subs.add(sub)
                    if feed.task is None or feed.task.done():
                        feed.task = asyncio.create_task(feed.run())
                    return
                # the hub filters by type, so a filtered backlog costs only what it delivers
                wanted = sorted(sub.types) if sub.types is not None else None
                read = await feed.hub.subscribe.remote(sub.cursor, wanted, 0.0, 500)
                if read.truncated:
                    await sub.outbox.put(
                        control(
                            "error",
                            code="truncated",
                            session_id=sub.session_id,
                            detail=f"events after seq {sub.cursor} are no longer kept; "
                            f"the stream resumes at seq {read.items[0]['seq'] if read.items else read.last_seq}",
                        )
                    )
                for f in feed.frames(read.items):
                    if not sub.active:
                        return
                    if f.seq > sub.cursor:
                        sub.cursor = f.seq
                        if sub.types is None or f.type in sub.types:
                            await sub.outbox.put(f)
                sub.cursor = max(sub.cursor, read.last_seq)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a dead hub: tell the client instead of dying silently
            log.info("subscription to %s ended: %s", sub.session_id, exc)
            sub.stop()
            sub.outbox.offer(
                control(
                    "error",
                    code="session_closed",
                    session_id=sub.session_id,
                    detail="the session's event stream is not available",
                )
            )

    async def close(self) -> None:
        """Stop every feed (replica shutdown)."""
        for feed in list(self.feeds.values()):
            for sub in list(feed.subs):
                sub.stop()
            if feed.task is not None:
                feed.task.cancel()
        self.feeds.clear()
