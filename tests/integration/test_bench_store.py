"""``novel-engine bench store`` runs end to end on the embedded backend and writes its figures."""

from __future__ import annotations

import json

import pytest

from novel_engine.cli import main


def test_bench_store_writes_commit_and_archive_figures(tmp_path, capsys):
    out = tmp_path / "store.json"
    assert (
        main(["bench", "store", "--personas", "30", "--commits", "6", "--backends", "embedded", "--out", str(out)]) == 0
    )
    result = json.loads(out.read_text())
    [row] = result["results"]
    assert (row["backend"], row["personas"], row["commits"]) == ("embedded", 30, 6)
    assert row["archive_events"] == pytest.approx(6 * row["events_per_turn"], abs=6)
    assert row["p99_commit_ms"] >= row["p50_commit_ms"] > 0 and row["commits_per_s"] > 0
    assert row["archive_mb"] > 0 and row["archive_input_mb"] > row["archive_mb"]
    assert "embedded" in capsys.readouterr().out


def test_bench_store_rejects_an_unknown_backend(tmp_path, capsys):
    assert main(["bench", "store", "--backends", "embedded,mongo", "--out", str(tmp_path / "x.json")]) != 0
    assert "unknown: mongo" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
