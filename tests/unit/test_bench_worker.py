"""Benchmark workers: their figures are the last JSON object they print, and a worker that fails
or prints none raises BenchmarkError carrying the worker's own output (the CLI prints it in one
error, not a traceback of the parent)."""

from __future__ import annotations

import pytest

from novel_engine.benchmarks.core import _run_worker, ideal_turn_seconds
from novel_engine.cli import main
from novel_engine.errors import BenchmarkError


def test_the_figures_are_the_last_json_object_printed(tmp_path):
    doc = tmp_path / "figures.json"
    doc.write_text('{"seconds_per_turn": 0.5}', encoding="utf-8")
    assert _run_worker(["--compact", str(doc)], module="json.tool") == {"seconds_per_turn": 0.5}


def test_a_worker_with_no_figures_or_an_error_says_what_it_printed(tmp_path):
    doc = tmp_path / "list.json"
    doc.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(BenchmarkError, match="printed no figures"):
        _run_worker(["--compact", str(doc)], module="json.tool")
    with pytest.raises(BenchmarkError, match=r"exited with status 1(.|\n)*No module named"):
        _run_worker([], module="novel_engine.no_such_worker")


def test_the_cli_prints_a_failed_worker_as_one_error(monkeypatch, capsys):
    import novel_engine.benchmarks.core as bench

    def failing(args, module="novel_engine.benchmarks.core"):
        raise BenchmarkError("benchmark worker `x` exited with status 1; its output ends with:\nValueError: boom")

    monkeypatch.setattr(bench, "_run_worker", failing)
    assert main(["bench", "runtime", "--personas", "10", "--turns", "1"]) == 2
    err = capsys.readouterr().err
    assert "ValueError: boom" in err and "Traceback" not in err


def test_the_ideal_turn_is_the_decision_waves_then_the_narration():
    assert ideal_turn_seconds(17, 64, 0.05) == pytest.approx(0.1)  # 16 decisions in one wave, then narration
    assert ideal_turn_seconds(1001, 64, 0.1) == pytest.approx(1.7)
    assert ideal_turn_seconds(21, 8, 0.02) == pytest.approx(0.08)
