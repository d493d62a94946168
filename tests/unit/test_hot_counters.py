"""In-process rate counters: fixed windows, and memory bounded by the callers of the current window."""

from __future__ import annotations

import asyncio
import types

import novel_engine.storage.hot as hot


def test_counters_reset_per_window_and_past_windows_are_forgotten(monkeypatch):
    now = [1_800_000_000.0]
    monkeypatch.setattr(hot, "time", types.SimpleNamespace(time=lambda: now[0], monotonic=hot.time.monotonic))
    store = hot.MemoryHot()

    async def scenario():
        counts = [await store.hit("a", 60) for _ in range(3)]
        for i in range(1000):  # e.g. login attempts under made-up usernames
            await store.hit(f"login:{i}", 60)
        await store.hit("other-window", 10)
        now[0] += 60
        counts.append(await store.hit("a", 60))
        return counts

    assert asyncio.run(scenario()) == [1, 2, 3, 1]
    # Only this window's 60 s counter and the 10 s one (swept on its own next hit) remain.
    assert sorted(store._counters) == [("a", 60), ("other-window", 10)]
