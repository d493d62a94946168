"""The JSON the state stores write and read (``storage.json_codec``): orjson, with the standard
library for what orjson refuses."""

import json

from novel_engine.core.events import Event, Outcome
from novel_engine.runtime.checkpoint import decode, encode
from novel_engine.storage.json_codec import dumps, loads


def test_rows_are_compact_sorted_and_keep_non_ascii_text():
    row = Event(
        id="t1-e1",
        turn=1,
        kind="action",
        summary="Élodie dit « non »",
        actor="p1",
        outcome=Outcome.SUCCESS,
        intensity=0.00001,
        data={"b": [1, 2], "a": {"z": None, "y": True}},
    ).to_dict()
    text = dumps(row)
    assert json.loads(text) == row
    orders = []
    json.loads(text, object_pairs_hook=lambda pairs: orders.append([k for k, _ in pairs]))
    assert orders and all(keys == sorted(keys) for keys in orders)
    assert " " not in text.replace(row["summary"], "")  # no spaces after separators
    assert "Élodie dit « non »" in text


def test_what_orjson_refuses_is_still_written():
    big = {"seed": 2**70, "n": 1}
    assert json.loads(dumps(big)) == big


def test_what_the_standard_library_wrote_still_reads():
    old = json.dumps({"x": float("nan"), "y": [1, 2]})  # NaN: orjson neither writes nor reads it
    assert loads(old)["y"] == [1, 2]
    blob = encode({"format": 1, "turn": 3, "w": {"b": 0.1, "a": -0.0}})
    assert decode(blob) == {"format": 1, "turn": 3, "w": {"a": -0.0, "b": 0.1}}
