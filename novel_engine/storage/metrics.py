"""Prometheus metrics of the state store: read-cache hits and misses, the hit rate, archiving.

Every :class:`~novel_engine.storage.UnifiedStateManager` of the process registers itself here; one
collector in the default Prometheus registry sums their :meth:`stats` at scrape time, so
``/metrics`` (or ``prometheus_client.generate_latest()``) shows ``novel_engine_store_cache_hit_rate``
and the counters below without the store doing any work per call.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from typing import Any

__all__ = ["track", "COUNTERS", "StoreCollector"]

#: stats key -> (metric name, help); exposed as counters (``_total`` is added by the client)
COUNTERS = {
    "cache_hits": ("novel_engine_store_cache_hits", "Session reads served by the read-through cache"),
    "cache_misses": ("novel_engine_store_cache_misses", "Session reads that went to SQL"),
    "hot_errors": ("novel_engine_store_hot_errors", "Best-effort hot-store calls that failed (Redis down)"),
    "archives": ("novel_engine_store_archives", "Parquet event archives written"),
    "archive_errors": ("novel_engine_store_archive_errors", "Event archives that failed (events stay in SQL)"),
    "archive_reads": ("novel_engine_store_archive_reads", "Parquet archives read back for trimmed events"),
    "events_trimmed": ("novel_engine_store_events_trimmed", "Archived events deleted from SQL"),
}

_stores: weakref.WeakSet[Any] = weakref.WeakSet()
_retired = {k: 0 for k in COUNTERS}  # counts of stores already garbage-collected: counters never go down
_lock = threading.RLock()  # re-entrant: a finalizer may run (GC) while it is held
_registered = False


class StoreCollector:
    """A Prometheus collector over every live store of this process."""

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        with _lock:
            totals = dict(_retired)
        for store in list(_stores):
            s = store.stats()
            for k in totals:
                totals[k] += s.get(k, 0)
        for key, (name, doc) in COUNTERS.items():
            yield CounterMetricFamily(name, doc, value=totals[key])
        reads = totals["cache_hits"] + totals["cache_misses"]
        yield GaugeMetricFamily(
            "novel_engine_store_cache_hit_rate",
            "Share of session reads served by the read-through cache (0 before any read)",
            value=totals["cache_hits"] / reads if reads else 0.0,
        )


def _retire(stats: dict[str, int]) -> None:
    with _lock:
        for k in _retired:
            _retired[k] += stats.get(k, 0)


def track(store: Any) -> None:
    """Include ``store`` in the metrics (registers the collector on first use; no-op without
    prometheus_client)."""
    global _registered
    _stores.add(store)
    weakref.finalize(store, _retire, store._stats)  # keeps the counters dict, not the store
    with _lock:
        if _registered:
            return
        try:
            from prometheus_client import REGISTRY
        except ImportError:  # pragma: no cover - prometheus_client is a core dependency
            return
        REGISTRY.register(StoreCollector())
        _registered = True
