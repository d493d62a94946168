"""The arithmetic of ``bench load``: percentiles, the thinned memory series, the exactly-once check."""

from __future__ import annotations

import json

import pytest

from novel_engine.benchmarks.core import _run_worker
from novel_engine.errors import BenchmarkError
from serve_app.load_figures import exactly_once, latency_summary, percentile, thin_series, turn_digest


def _turn(n: int, prose: str = "p", tension: float = 0.5) -> dict:
    return {"turn": n, "prose": f"{prose}{n}", "tension": tension}


def _answer(sid: str, t: dict) -> tuple[str, int, str]:
    return (sid, t["turn"], turn_digest(t))


def test_percentiles_are_nearest_rank():
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([3.0], 99) == 3.0
    assert percentile([], 50) == 0.0
    assert latency_summary([0.010, 0.020, 0.030, 1.0]) == {"n": 4, "p50_ms": 20.0, "p99_ms": 1000.0, "max_ms": 1000.0}
    assert latency_summary([]) == {"n": 0, "p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}


def test_thin_series_keeps_the_ends_and_the_size():
    points = [{"t_s": i} for i in range(1000)]
    thin = thin_series(points, keep=60)
    assert len(thin) == 60
    assert thin[0]["t_s"] == 0 and thin[-1]["t_s"] == 999
    assert [p["t_s"] for p in thin] == sorted({p["t_s"] for p in thin})
    assert thin_series(points[:5]) == points[:5]


def test_exactly_once_passes_when_every_answer_is_stored_as_answered():
    stored = {"a": [_turn(1), _turn(2), _turn(3)], "b": [_turn(1)]}
    answered = [_answer("a", stored["a"][0]), _answer("a", stored["a"][2]), _answer("b", stored["b"][0])]
    check = exactly_once(answered, stored)
    assert check["ok"], check
    # turn 2 of a was stored without a 200 answer (its request timed out after the commit): not an error
    assert (check["answered_200"], check["stored"], check["stored_unanswered"]) == (3, 4, 1)


def test_exactly_once_finds_lost_doubled_and_different_turns():
    stored = {"a": [_turn(1), _turn(2)]}
    lost = exactly_once([_answer("a", _turn(3))], stored)
    assert not lost["ok"] and lost["missing"] == [["a", 3]]
    twice = exactly_once([_answer("a", _turn(1)), _answer("a", _turn(1))], stored)
    assert not twice["ok"] and twice["answered_twice"] == [["a", 1]]
    other = exactly_once([_answer("a", _turn(2, prose="another story "))], stored)
    assert not other["ok"] and other["differs"] == [["a", 2]]
    doubled = exactly_once([_answer("a", _turn(1))], {"a": [_turn(1), _turn(1), _turn(2)]})
    assert not doubled["ok"] and doubled["stored_twice"] == [["a", 1]]
    gap = exactly_once([_answer("a", _turn(1))], {"a": [_turn(1), _turn(3)]})
    assert not gap["ok"] and gap["gaps"] == ["a"]
    never = exactly_once([_answer("z", _turn(1))], {"z": []})
    assert not never["ok"] and never["missing"] == [["z", 1]]


def test_a_failing_load_worker_shows_its_own_error():
    """The clients' process fails (here: a config without its keys): its error, not the parent's traceback."""
    with pytest.raises(BenchmarkError, match="KeyError") as err:
        _run_worker([json.dumps({"duration_s": 1})], module="serve_app.load_driver")
    assert err.value.details["worker"] == "serve_app.load_driver" and err.value.details["returncode"] != 0


def test_the_memory_plot_without_matplotlib_says_how_to_get_it(monkeypatch, tmp_path):
    import sys

    from serve_app.load_figures import plot_memory

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as on a plain install
    said = plot_memory([{"t_s": 0, "used_mib": 1, "sessions": 0}], tmp_path / "m.png", "t")
    assert "matplotlib is not installed" in said and "novel-engine[notebooks]" in said
    assert not (tmp_path / "m.png").exists()
