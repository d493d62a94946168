"""``novel-engine bench llm`` end to end on a small cast: the in-process runtime against the fake
Gemini server in its own process, with the bare-client floor measured in the same run."""

from __future__ import annotations

import json

from novel_engine.cli import main


def test_bench_llm_measures_the_turn_and_the_bare_client_floor(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "unused")  # the bench sets its fake key; restored afterwards
    out = tmp_path / "llm.json"
    assert (
        main(
            [
                "bench",
                "llm",
                "--personas",
                "20",
                "--latency-ms",
                "20",
                "--cap",
                "8",
                "--turns",
                "1",
                "--runtime",
                "local",
                "--transport",
                "rest",
                "--rate-429",
                "0.2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    clean, refused = json.loads(out.read_text())["results"]
    assert (clean["case"], refused["case"]) == ("clean", "429")
    # 20 decisions at most 8 at a time, then the narration: never fewer than four 20 ms rounds
    assert clean["floor_seconds"] >= 0.08 and clean["ratio_to_floor"] > 0
    assert clean["ideal_seconds_per_turn"] == 0.08  # ceil(20 / 8) rounds of 20 ms, then the narration
    assert clean["seconds_per_turn"] >= 0.08 and clean["fallbacks"] == 0
    assert clean["max_in_flight_at_server"] <= 8 and clean["outcomes"] == {"ok": clean["http_calls"]}
    assert refused["floor_seconds"] is None and refused["outcomes"].get("429", 0) > 0
    assert refused["fallbacks"] == 0  # every refused call was retried to an answer
    assert "bare-client floor" in capsys.readouterr().out
