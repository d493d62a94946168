"""The session's event hub actor: an :class:`~novel_engine.runtime.event_log.EventLog` that
subscribers long-poll from a cursor (split from ``ray.actors``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import ray

from novel_engine.core.setup import gc_paused
from novel_engine.errors import SessionError, StateLostError
from novel_engine.runtime import wire
from novel_engine.runtime.event_log import EventLog, HubRead, hub_items

__all__ = ["EventHub"]


@ray.remote
class EventHub:
    """The session's ordered event log; subscribers long-poll it from a cursor.

    A hub that restarted is empty: it refuses to publish (``StateLostError``) until the director
    gives it back its window of the session's history (``restore``), so sequence numbers go on
    where they were instead of starting again at 1.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self.log = EventLog(capacity)
        self.published_turn = 0
        self.lost = ray.get_runtime_context().was_current_actor_reconstructed
        self._appending: asyncio.Task | None = None  # a packed report's items being made (see publish)

    async def publish(self, items: Sequence[dict] | bytes, turn: int | None = None) -> int:
        """Append a turn's items, once (a retried turn publishes nothing new) and in turn order.

        ``items`` may be the turn's report packed by ``wire.pack``, with its ``turn``: the call
        then answers as soon as the turn is accepted, and the items are made (``hub_items``) and
        appended right after, before this hub serves any later call (the caller of a large cast's
        turn neither makes tens of thousands of items nor waits for them). Returns the last
        sequence number then (for a packed report, the one before its items).

        Raises:
            StateLostError: the hub restarted, or the turn before this one is not here (the
                director then gives the hub its window back, see ``DirectorActor.publish``).
        """
        if self.lost:
            raise StateLostError("the event hub restarted and must be restored", role="event hub")
        packed = isinstance(items, bytes)
        if not packed:
            turn = max((int(i.get("turn") or 0) for i in items), default=0)
        elif turn is None:
            raise SessionError("a packed report is published with its turn", role="event hub")
        if turn and turn <= self.published_turn:
            return self.log.last_seq
        if turn > self.published_turn + 1:  # a turn published before its predecessor arrived
            raise StateLostError(
                f"the event hub is at turn {self.published_turn} and cannot take turn {turn} yet",
                role="event hub",
                have=self.published_turn,
            )
        self.published_turn = max(self.published_turn, turn)
        if packed:
            # a task runs before any call that arrives after this one answers (the event loop
            # serves in order), and it never awaits: the items are in before anyone reads
            self._appending = asyncio.get_running_loop().create_task(self._append_report(items))
            return self.log.last_seq
        return self._append(items)

    async def _append_report(self, packed: bytes) -> None:
        with gc_paused(freeze=True):  # an item per event, short-lived or kept: nothing cyclic to free
            items = hub_items(wire.unpack(packed))
        self._append(items)

    def _append(self, items: Sequence[dict]) -> int:
        seq = self.log.publish(items)
        wire.settle_gc()  # a large cast publishes tens of thousands of items per turn
        return seq

    async def restore(self, items: Sequence[dict], first_seq: int, turn: int) -> int:
        """Hold ``items`` (numbered from ``first_seq``), the window after ``turn``, unless this hub
        already published that turn (a live hub keeps its log). Returns the last sequence number."""
        if self.lost or turn > self.published_turn:
            self.log.reset(items, first_seq)
            self.published_turn, self.lost = turn, False
        return self.log.last_seq

    async def window_size(self) -> int:
        """How many items this hub keeps."""
        return self.log.capacity

    async def subscribe(
        self, after_seq: int = 0, event_types: Sequence[str] | None = None, timeout_s: float = 10.0, limit: int = 1000
    ) -> HubRead:
        return await self.log.subscribe(after_seq, event_types, timeout_s, limit)

    async def last_seq(self) -> int:
        return self.log.last_seq
