"""``bench load --chaos`` at a tiny scale: `novel-engine serve` over a private PostgreSQL and Redis,
with every fault injected once while two players play. The run's own verdict must hold (nothing
lost or doubled, no subscriber gap, no status but 429/503-with-Retry-After or no answer while the
server is down), every fault must have been injected, and the run must leave nothing behind.
Under ``CI=true`` a missing ``initdb`` or ``redis-server`` fails the test instead of skipping it."""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import psutil
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _require_programs() -> None:
    from serve_app.chaos_services import _pg_program

    missing = [p for p in ("redis-server",) if shutil.which(p) is None]
    try:
        _pg_program("initdb")
    except Exception:  # noqa: BLE001 - ConfigError: not installed
        missing.append("initdb")
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"required programs missing in CI: {missing}")
        pytest.skip(f"missing programs: {missing}")


def _chaos_leftovers() -> list[str]:
    left = [p for p in os.listdir(tempfile.gettempdir()) if p.startswith("novel-engine-chaos-")]
    for proc in psutil.process_iter(["cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if "novel-engine-chaos-" in line:
            left.append(line[:200])
    return left


def test_bench_load_chaos_tiny(tmp_path):
    _require_programs()
    from serve_app.bench_load import bench_load
    from serve_app.chaos import FAULTS

    before = _chaos_leftovers()
    out = tmp_path / "chaos.json"
    result = bench_load(
        users=2,
        sessions=2,
        playing=2,
        duration_s=60,
        ramp_s=1,
        turns_per_visit=3,
        timeout_s=60,
        out=out,
        chaos={"faults": list(FAULTS), "outage_s": 2.0, "replicas": 2},
    )
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(result))
    chaos = written["chaos"]
    assert [f["fault"] for f in chaos["faults"]] == list(FAULTS)
    assert not [f for f in chaos["faults"] if f.get("failed") or f.get("skipped")], chaos["faults"]
    times = [(f["at_s"], f["back_s"]) for f in chaos["faults"]]
    assert all(0 < a <= b for a, b in times) and times == sorted(times)
    assert chaos["verdict"]["ok"], chaos
    assert chaos["verdict"]["lost"] == chaos["verdict"]["doubled"] == chaos["verdict"]["subscriber_gaps"] == 0
    # turns were played before the faults (they start once the load is warm) and during them
    assert chaos["phases"]["before"]["turn"]["200"] >= 1
    assert chaos["phases"]["during"]["turn"]["200"] >= 1
    assert written["exactly_once"]["ok"] and written["exactly_once"]["answered_200"] >= 4
    assert (tmp_path / "chaos.serve.log").exists()
    # the server the run started (Ray, Serve, private PostgreSQL and Redis) is measured apart
    memory = written["memory"]
    assert 100 < memory["peak_app_mib"] < memory["peak_used_mib"]
    assert all(p["app_mib"] is None or p["app_mib"] > 0 for p in memory["series"])
    assert _chaos_leftovers() == before  # servers stopped, folders removed
