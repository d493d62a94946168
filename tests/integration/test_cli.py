"""The novel-engine command, end to end in a subprocess, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("novel-engine")
    cmd = [str(exe), *args] if exe.exists() else [sys.executable, "-m", "novel_engine.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, "PYTHONHASHSEED": "random"})


def test_run_prints_the_same_story_twice_and_writes_files(tmp_path):
    a = cli("run", "fantasy_world", "--turns", "10", "--seed", "7", "--runtime", "local", "--out",
            str(tmp_path / "s.md"), "--events", str(tmp_path / "e.jsonl"))
    b = cli("run", "fantasy_world", "--turns", "10", "--seed", "7", "--runtime", "local", "--processes", "2")
    assert a.returncode == 0, a.stderr
    assert b.returncode == 0, b.stderr
    assert a.stdout == b.stdout  # byte-identical, across runs, hash seeds and process counts
    on_ray = cli("run", "fantasy_world", "--turns", "10", "--seed", "7",  # Ray is the default runtime
                 "--database-url", f"sqlite:///{tmp_path / 'ray.db'}")
    assert on_ray.returncode == 0, on_ray.stderr[-3000:]
    assert on_ray.stdout == a.stdout
    # the Ray run was stored like a local one: `resume` continues it in process, as 12 straight turns go
    sid = on_ray.stderr.split("novel-engine resume ")[1].split()[0]
    more = cli("resume", sid, "--turns", "2", "--database-url", f"sqlite:///{tmp_path / 'ray.db'}")
    assert more.returncode == 0, more.stderr[-3000:]
    straight = cli("run", "fantasy_world", "--turns", "12", "--seed", "7", "--runtime", "local", "--no-store")
    assert straight.stdout.endswith(more.stdout) and "## Turn 11" in more.stdout
    assert "## Turn 10" in a.stdout and "## Turn 1\n" in a.stdout
    assert "turn 10/10" in a.stderr  # progress goes to stderr
    assert (tmp_path / "s.md").read_text().startswith("# ")
    events = [json.loads(l) for l in (tmp_path / "e.jsonl").read_text().splitlines()]
    assert {e["turn"] for e in events} == set(range(1, 11))


def test_scenarios_lists_the_builtins():
    out = cli("scenarios")
    assert out.returncode == 0
    for name in ("fantasy_world", "noir_city", "space_station"):
        assert name in out.stdout


def test_validate_prints_every_error_without_traceback(tmp_path):
    from novel_engine.scenarios import load_scenario

    data = load_scenario("fantasy_world").model_dump(mode="json", exclude_none=True)
    data["personas"][2]["traits"]["courage"] = 1.5
    data["locations"][0]["neighbours"].append("atlantis")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    out = cli("validate", str(bad))
    assert out.returncode == 2
    assert "personas[2].traits.courage: must be between 0 and 1" in out.stderr
    assert "atlantis" in out.stderr
    assert "Traceback" not in out.stderr
    good = tmp_path / "good.yaml"
    data["personas"][2]["traits"]["courage"] = 0.5
    data["locations"][0]["neighbours"].pop()
    good.write_text(yaml.safe_dump(data))
    assert cli("validate", str(good)).returncode == 0


def test_user_errors_are_clean():
    for args in (["run", "no_such_world"], ["run", "fantasy_world", "--turns", "-3"],
                 ["run", "fantasy_world", "--runtime", "local", "--personas-per-actor", "0"],
                 ["run", "fantasy_world", "--verbosity", "7"], ["bench", "core", "--personas", "ten"],
                 ["run", "fantasy_world", "--processes", "2"], ["run", "fantasy_world", "--processes", "0"],
                 ["bench", "core", "--processes", "two"]):
        out = cli(*args)
        assert out.returncode == 2, args
        assert "Traceback" not in out.stderr and out.stderr.strip(), args


def test_bench_core_writes_json(tmp_path):
    out = cli("bench", "core", "--personas", "50,200", "--turns", "2", "--processes", "1,2", "--count-calls",
              "--out", str(tmp_path / "b.json"))
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "b.json").read_text())
    rows = data["results"]
    assert [(r["personas"], r["processes"]) for r in rows] == [(50, 1), (50, 2), (200, 1), (200, 2)]
    shared = [r for r in rows if r["processes"] == 2]  # the replica's share is waited for, and measured
    assert all(r["phase_seconds"]["exchange"] > 0 and r["replica_peak_rss_mib"] > 0 and r["speedup"] > 0
               for r in shared)
    rows = [r for r in rows if r["processes"] == 1]
    # the work per persona-turn, counted in calls: about the same at both sizes (linear work)
    calls = [r["calls_per_persona_turn"] for r in rows]
    assert all(c > 50 for c in calls) and 0.5 < calls[1] / calls[0] < 2.0, calls
    assert "function calls per persona-turn" in out.stdout
    for r in rows:
        assert r["seconds_per_turn"] > 0 and r["peak_rss_mib"] > 0 and r["persona_turns_per_s"] > 0
        assert len(r["turn_seconds"]) == 2 and max(r["turn_seconds"]) == r["max_seconds_per_turn"]
        assert abs(sum(r["turn_seconds"]) / 2 - r["seconds_per_turn"]) < 1e-3
        assert set(r["phase_seconds"]) >= {"perceive", "believe", "brief", "decide", "resolve", "narrate"}
    assert rows[0]["cost_ratio"] == 1.0
    cal = data["host_calibration_s"]  # the host's speed, measured beside the figures
    assert 0 < cal["before"] < 60 and 0 < cal["after"] < 60 and "host speed" in out.stdout
