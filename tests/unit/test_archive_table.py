"""The fast (Arrow JSON reader) event table equals the row-by-row one, on real and odd events."""

from __future__ import annotations

import json

from novel_engine import Engine
from novel_engine.storage.archive import from_parquet, table_from_json, to_events, to_parquet, to_table
from novel_engine.storage.port import EventRecord


def _stored(d: dict) -> str:  # how the SQL store keeps an event
    return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _records(dicts: list[dict]) -> list[EventRecord]:
    return [EventRecord("s", i + 1, d.get("turn", 1), d) for i, d in enumerate(dicts)]


def test_real_events_give_the_same_table_both_ways():
    session = Engine().create_session("fantasy_world", seed=3)
    session.run(3)
    dicts = [e.to_dict() for e in session.events()]
    records = _records(dicts)
    fast = table_from_json([(r.seq, r.turn, _stored(r.data)) for r in records])
    assert fast.equals(to_table(records))
    assert to_events("s", from_parquet(to_parquet(fast))) == records


def test_missing_null_integer_and_non_ascii_fields():
    dicts = [
        {"id": "a", "summary": 'Zoë ✓ "quoted"\nnext line', "intensity": 1},
        {"id": "b", "outcome": None, "extra": {"nested": [1, 2]}},
        {"id": "c", "kind": "action", "intensity": 0.25, "target": "p1", "location": "l", "actor": "p2"},
    ]
    records = _records(dicts)
    fast = table_from_json([(r.seq, r.turn, _stored(r.data)) for r in records])
    assert fast.equals(to_table(records))
    assert fast.column("intensity").to_pylist() == [1.0, 0.0, 0.25]
    assert [json.loads(x) for x in fast.column("data").to_pylist()] == dicts


def test_an_event_arrow_cannot_type_takes_the_row_path():
    records = _records([{"id": "x", "intensity": "0.5"}, {"id": "y", "intensity": 2}])  # a number as text
    fast = table_from_json([(r.seq, r.turn, _stored(r.data)) for r in records])
    assert fast.equals(to_table(records))
    assert fast.column("intensity").to_pylist() == [0.5, 2.0]
