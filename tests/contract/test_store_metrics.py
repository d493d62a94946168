"""The read-through cache hit rate and the archive counters are Prometheus metrics."""

from __future__ import annotations

import uuid

from prometheus_client import REGISTRY, generate_latest

from novel_engine.storage import SessionRecord, TurnCommit


def _value(name: str) -> float:
    v = REGISTRY.get_sample_value(name)
    assert v is not None, f"{name} is not exposed"
    return v


def test_cache_hits_misses_and_hit_rate_are_exposed(runner):
    s = f"t-{uuid.uuid4().hex[:12]}"
    runner.call(lambda st: st.create_session(SessionRecord(id=s, scenario={}, settings={}, seed=1), b"ck"))
    hits, misses = _value("novel_engine_store_cache_hits_total"), _value("novel_engine_store_cache_misses_total")
    for _ in range(3):
        runner.call(lambda st: st.get_session(s))  # one miss fills the cache, two hits
    runner.call(lambda st: st.commit_turn(s, 0, TurnCommit(1, {"turn": 1}, ({"id": "e"},))))
    assert runner.call(lambda st: st.get_session(s)).version == 1  # the commit wrote its head through: a hit
    assert _value("novel_engine_store_cache_hits_total") - hits == 3
    assert _value("novel_engine_store_cache_misses_total") - misses == 1
    rate = _value("novel_engine_store_cache_hit_rate")
    total_hits, total = (
        _value("novel_engine_store_cache_hits_total"),
        (_value("novel_engine_store_cache_hits_total") + _value("novel_engine_store_cache_misses_total")),
    )
    assert rate == total_hits / total and 0 < rate < 1
    assert b"novel_engine_store_cache_hit_rate" in generate_latest(REGISTRY)
