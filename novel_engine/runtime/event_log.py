"""A session's ordered event log with sequence numbers and cursors (the core of the event hub).

Every published item gets the next sequence number (1, 2, 3, ... with no gaps). A reader asks
for what came after the last number it saw, so one that comes back after a disconnect misses
nothing, as long as its cursor is still in the window the log keeps (``capacity`` items); when it
is not, the read says so (``truncated``) and the reader can re-sync from the store.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from novel_engine.core.report import TurnReport

__all__ = ["EventLog", "HubRead", "HUB_EVENT_TYPES", "hub_items", "hub_window"]

HUB_EVENT_TYPES = ("agent_action", "world_event", "causal_event", "narrative_update", "turn_complete")


@dataclass(frozen=True, slots=True)
class HubRead:
    """The answer to a read: items after the cursor, the new cursor, and whether some were lost."""

    items: tuple[dict[str, Any], ...]
    last_seq: int
    truncated: bool = False


class EventLog:
    """An in-memory window of the newest ``capacity`` items, each ``{"seq", "type", ...}``.

    Args:
        capacity: how many items to keep (memory stays bounded).
    """

    def __init__(self, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items: deque[dict[str, Any]] = deque(maxlen=capacity)
        self.last_seq = 0
        self._changed: asyncio.Event | None = None

    def publish(self, items: Iterable[dict[str, Any]]) -> int:
        """Append items (each must have a ``type``); return the sequence number of the last one."""
        for item in items:
            self.last_seq += 1
            self._items.append({**item, "seq": self.last_seq})
        if self._changed is not None:
            self._changed.set()
            self._changed = None
        return self.last_seq

    def reset(self, items: Sequence[dict[str, Any]], first_seq: int) -> None:
        """Hold exactly ``items``, numbered from ``first_seq`` (a hub rebuilt from a session's
        history continues its numbering, so a subscriber's cursor stays valid)."""
        self._items.clear()
        self.last_seq = first_seq - 1
        self.publish(items)

    def read(self, after_seq: int = 0, types: Sequence[str] | None = None, limit: int = 1000) -> HubRead:
        """Items with ``seq > after_seq`` (of the given types), oldest first, at most ``limit``."""
        items = self._items
        if not items or after_seq >= self.last_seq:
            return HubRead((), max(after_seq, 0) if after_seq <= self.last_seq else self.last_seq)
        first = items[0]["seq"]
        truncated = after_seq < first - 1
        start = max(0, after_seq - first + 1)
        wanted = set(types) if types else None
        out, last = [], after_seq if not truncated else first - 1
        for i in range(start, len(items)):
            item = items[i]
            last = item["seq"]
            if wanted is None or item["type"] in wanted:
                out.append(item)
                if len(out) >= limit:
                    break
        return HubRead(tuple(out), last, truncated)

    async def wait(self, after_seq: int, timeout_s: float) -> None:
        """Return when an item newer than ``after_seq`` exists, or after ``timeout_s``."""
        if self.last_seq > after_seq:
            return
        if self._changed is None:
            self._changed = asyncio.Event()
        try:
            await asyncio.wait_for(self._changed.wait(), timeout_s)
        except TimeoutError:
            pass

    async def subscribe(
        self, after_seq: int = 0, types: Sequence[str] | None = None, timeout_s: float = 10.0, limit: int = 1000
    ) -> HubRead:
        """Long-poll: wait until items after ``after_seq`` exist (or the timeout), then read them.

        Items of other types still move the cursor, so a filtered reader does not spin.
        """
        deadline = asyncio.get_running_loop().time() + max(0.0, timeout_s)
        while True:
            got = self.read(after_seq, types, limit)
            remaining = deadline - asyncio.get_running_loop().time()
            if got.items or got.truncated or remaining <= 0:
                return got
            after_seq = got.last_seq
            await self.wait(after_seq, remaining)


def hub_items(report: TurnReport, committed_at: float | None = None) -> list[dict[str, Any]]:
    """What a turn publishes on the event hub: its events, its prose, then ``turn_complete``.

    ``committed_at``: when the turn was committed (default now).
    """
    kinds = {"action": "agent_action", "world": "world_event", "causal": "causal_event"}
    items: list[dict[str, Any]] = [
        {"type": kinds.get(e.kind, "world_event"), "turn": report.turn, "event": e.to_dict()} for e in report.events
    ]
    items.append({"type": "narrative_update", "turn": report.turn, "prose": report.prose})
    items.append(
        {
            "type": "turn_complete",
            "turn": report.turn,
            "tension": report.tension,
            "events": len(report.events),
            "milestones": list(report.milestones),
            "rejected": report.rejected,
            "repaired": report.repaired,
            # wall clock, so subscribers can measure delivery
            "committed_at": time.time() if committed_at is None else committed_at,
        }
    )
    return items


def hub_window(reports: Sequence[TurnReport], capacity: int) -> tuple[list[dict[str, Any]], int]:
    """The items a hub that saw every turn of ``reports`` would hold (its newest ``capacity``),
    and the sequence number of the first: a turn publishes ``len(events) + 2`` items."""
    total = sum(len(r.events) + 2 for r in reports)
    tail: list[list[dict[str, Any]]] = []
    kept = 0
    for report in reversed(reports):
        if kept >= capacity:
            break
        tail.append(hub_items(report, committed_at=0.0))  # the commit time of an old turn is not kept
        kept += len(tail[-1])
    items = [item for turn in reversed(tail) for item in turn][-capacity:] if tail else []
    return items, total - len(items) + 1
