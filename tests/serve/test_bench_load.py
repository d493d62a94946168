"""``bench load`` at a small scale against the test server: the JSON's shape and the exactly-once check."""

from __future__ import annotations

import json

import pytest

from novel_engine.errors import BenchmarkError

pytestmark = pytest.mark.timeout(300)


def test_bench_load_small(serve_server, tmp_path):
    from serve_app.bench_load import bench_load

    out = tmp_path / "load.json"
    result = bench_load(
        users=2,
        sessions=4,
        playing=2,
        duration_s=20,  # a warm cluster creates a session in seconds; a loaded machine takes longer
        ramp_s=1,
        turns_per_visit=2,
        pause_s=5,
        url=serve_server.url,
        store=serve_server.store_settings,
        out=out,
    )
    written = json.loads(out.read_text())
    # each player reads 5 s after each of its turns: at most one turn per pause and player
    assert written["pause_s"] == 5 and written["latency"]["turn"]["n"] <= 2 * (20 // 5 + 1)
    assert written == json.loads(json.dumps(result))
    assert written["suite"] == "load" and (written["users"], written["sessions"], written["playing"]) == (2, 4, 2)
    assert written["sessions_created"] == 4 and written["creation_stopped"] is None
    for kind in ("create", "turn", "get", "ws"):
        summary = written["latency"][kind]
        assert set(summary) == {"n", "p50_ms", "p99_ms", "max_ms"}
        assert summary["n"] >= 1 and 0 < summary["p50_ms"] <= summary["p99_ms"] <= summary["max_ms"]
    # every request answered as it should: no error status, no socket missed a turn
    assert written["statuses"]["create"] == {"201": 4}
    assert set(written["statuses"]["turn"]) == {"200"} and set(written["statuses"]["get"]) == {"200"}
    assert written["statuses"]["ws"] == {"delivered": written["latency"]["turn"]["n"]}
    assert written["ws_missed"] == 0
    assert written["throughput"]["turns_per_s"] > 0
    series = written["memory"]["series"]
    assert 2 <= len(series) <= 60
    assert {"t_s", "used_mib", "available_mib", "sessions", "load_1m"} <= set(series[0])
    assert written["memory"]["peak_used_mib"] >= written["memory"]["start_used_mib"] > 0
    assert written["memory"]["peak_app_mib"] is None  # an app elsewhere (--url): the machine's figure only
    assert len(written["load_average_at_end"]) == 3
    png = written["memory"]["png"]
    assert png == str(tmp_path / "load.png") and (tmp_path / "load.png").read_bytes()[:4] == b"\x89PNG"
    check = written["exactly_once"]
    assert check["ok"], check
    assert check["answered_200"] == written["latency"]["turn"]["n"] >= 2
    assert check["stored"] >= check["answered_200"]
    assert check["missing"] == check["stored_twice"] == check["answered_twice"] == check["differs"] == []
    # every subscriber saw its session's events in order, none missed, none twice
    subs = written["subscribers"]
    assert subs["gaps"] == [] and subs["repeats"] == 0 and subs["sessions_followed"] >= 1
    # a run against a given server leaves nothing behind: its sessions and users are deleted
    assert written["cleanup"] == {"sessions_deleted": 4, "sessions_not_deleted": [], "users_deleted": 2}
    assert _load_users(serve_server) == []


def _load_users(server) -> list[str]:
    """The users a load run made (``load-<run>-<i>``) still in the server's store."""

    async def names(store) -> list[str]:
        async with store.sql.transaction() as tx:
            rows = await tx.fetch("SELECT data FROM users")
        return [json.loads(r[0])["username"] for r in rows if json.loads(r[0])["username"].startswith("load-")]

    return server.runner.call(names)


def test_bench_load_says_when_the_app_is_unreachable(serve_server, tmp_path):
    """No app at --url: a one-line error naming it, not an httpx traceback."""
    from serve_app.bench_load import bench_load

    with pytest.raises(BenchmarkError, match=r"cannot reach the app at http://127\.0\.0\.1:9"):
        bench_load(
            users=1,
            sessions=1,
            playing=1,
            duration_s=1,
            url="http://127.0.0.1:9",
            store=serve_server.store_settings,
            out=tmp_path / "x.json",
        )
    assert _load_users(serve_server) == []  # the users it made before it failed are gone too
