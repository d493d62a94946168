"""Recovery: a session killed mid-run resumes and tells the same story as one that never stopped."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess

import pytest
from cli_runs import cli, run_until_killed

from novel_engine import Engine
from novel_engine.errors import ConflictError
from novel_engine.storage import StoreSettings


def _story(session) -> str:
    return json.dumps([r.to_dict() for r in session.reports()], sort_keys=True)


def test_sigkill_mid_run_then_resume_gives_the_uninterrupted_story(tmp_path):
    db = f"sqlite:///{tmp_path / 'state.db'}"
    env = {**os.environ, "NOVEL_ENGINE_DATA_DIR": str(tmp_path), "PYTHONHASHSEED": "random"}
    session_id = run_until_killed(
        ["run", "fantasy_world", "--runtime", "local", "--turns", "40", "--seed", "7", "--database-url", db],
        env,
        at_turn=3,
        turns=40,
    )
    with Engine(store=db) as engine:
        resumed = engine.resume(session_id)
        assert 3 <= resumed.turn < 40
        resumed.run(12 - resumed.turn)
        straight = Engine().create_session("fantasy_world", seed=7)
        straight.run(12)
        assert _story(resumed) == _story(straight)
        assert [e.seq for e in engine._runner.call(lambda s: s.events(session_id))] == list(
            range(1, len(straight.events()) + 1)
        )
    out = subprocess.run(
        cli("resume", session_id, "--turns", "2", "--database-url", db),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    straight.run(2)
    assert out.stdout == "".join(f"## Turn {r.turn}\n\n{r.prose}\n\n" for r in straight.reports()[12:])


def test_two_writers_on_one_session_the_second_gets_a_conflict(tmp_path):
    settings = StoreSettings.embedded(tmp_path)
    with Engine(store=settings) as a, Engine(store=settings) as b:
        first = a.create_session("noir_city", seed=3, session_id="shared")
        first.step()
        second = b.resume("shared")
        second.step(world_events=[{"description": "A storm breaks over the harbor"}])  # b commits its turn 2
        with pytest.raises(ConflictError):
            first.step()  # a still thinks turn 1 is the last
        assert first.turn == 2 and first.version == second.version  # reloaded, nothing overwritten
        first.step()
        assert [t.turn for t in a._runner.call(lambda s: s.turns("shared"))] == [1, 2, 3]


def test_fork_shares_nothing_with_its_parent(tmp_path):
    with Engine(store=StoreSettings.embedded(tmp_path)) as engine:
        parent = engine.create_session("fantasy_world", seed=7)
        parent.run(4)
        fork = parent.fork(2)
        assert fork.turn == 2 and fork.events() == [e for e in parent.events() if e.turn <= 2]
        fork.run(3)
        again = Engine().create_session("fantasy_world", seed=7)
        again.run(5)
        assert _story(fork) == _story(again)  # same seed: the fork replays the same story
        assert parent.turn == 4 and fork.world is not parent.world
        other = parent.fork(2, seed=99)
        other.run(2)
        assert [r.prose for r in other.reports()[2:]] != [r.prose for r in again.reports()[2:4]]
        assert fork.events_table().num_rows == len(fork.events())


def test_a_new_session_is_stored_as_its_scenario_json_made_once(tmp_path, scenario_dumps):
    # a 100,000-persona scenario took seconds to turn into dicts for the record, then to dump again
    settings = StoreSettings.embedded(tmp_path)
    with Engine(store=settings) as engine:
        first = engine.create_session("noir_city", seed=3, session_id="once")
        assert scenario_dumps == {"model_dump_json": 1, "model_dump": 0}
        first.run(2)
    with Engine(store=settings) as engine:
        resumed = engine.resume("once")  # from the stored JSON
        assert resumed.scenario == first.scenario
        resumed.run(2)
    straight = Engine().create_session("noir_city", seed=3)
    straight.run(4)
    assert _story(resumed) == _story(straight)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redis(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.PIPE,
        text=True,
    )
    for line in proc.stdout:  # ready when it says so
        if "Ready to accept connections" in line:
            return proc
    raise RuntimeError("redis-server did not start")


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_a_redis_restart_during_a_session_loses_nothing(tmp_path):
    port = _free_port()
    server = _redis(port)
    settings = StoreSettings(
        database_url=f"sqlite:///{tmp_path / 's.db'}",
        redis_url=f"redis://127.0.0.1:{port}/0",
        object_store_url=(tmp_path / "objects").as_uri(),
    )
    try:
        with Engine(store=settings) as engine:
            s = engine.create_session("space_station", seed=5)
            s.run(2)
            server.kill()
            server.wait()
            s.step()  # Redis is down: the turn still commits (cache and notices are best-effort)
            server = _redis(port)
            s.run(2)
            assert engine.store.stats()["hot_errors"] >= 1
            resumed = Engine(store=settings)
            try:
                again = resumed.resume(s.id)
                assert again.turn == 5 and _story(again) == _story(s)
            finally:
                resumed.close()
    finally:
        server.kill()
        server.wait()


def test_a_resumed_story_that_has_ended_plays_no_more(tmp_path):
    db = f"sqlite:///{tmp_path / 'state.db'}"
    with Engine(store=db) as engine:
        played = engine.create_session("fantasy_world", seed=7, session_id="ended").run(40)
        assert len(played) < 40  # the story ends by itself (its threads close)
    with Engine(store=db) as engine:
        resumed = engine.resume("ended")
        assert resumed.finished and resumed.turn == len(played)
        assert resumed.run(2) == [] and resumed.turn == len(played)
    out = subprocess.run(
        cli("resume", "ended", "--turns", "2", "--database-url", db), capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and out.stdout == "", out.stderr
    assert "nothing more to play" in out.stderr
