"""Sessions on each storage setup: embedded (SQLite + folder) and PostgreSQL + S3 (moto server).

Forks, ``events_table`` and resumes run on both, with archiving every two turns and a small SQL
tail, so archived events that left SQL are read back from Parquet. The last test kills a CLI run
on PostgreSQL + Redis + S3, restarts Redis, and resumes in a new process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from dataclasses import replace

import pytest
from cli_runs import cli, run_until_killed

from novel_engine import Engine


def capture(session) -> dict:
    """The session's whole state in memory, its reports included."""
    return session._sync(session._rt.state(history=True))


@pytest.fixture(params=["embedded", "postgresql"])
def backend(request) -> str:
    """Embedded, and PostgreSQL with its objects in S3 (overrides the suite-wide parametrisation)."""
    return request.param


@pytest.fixture
def settings(store_settings, backend, request):
    s = replace(store_settings, archive_every=2, sql_event_tail=5)
    if backend == "postgresql":
        s = replace(
            s,
            s3_endpoint=request.getfixturevalue("s3_endpoint"),
            object_store_url=f"s3://novel-engine-test/{uuid.uuid4().hex[:8]}",
        )
    return s


def _story(session) -> str:
    return json.dumps([r.to_dict() for r in session.reports()], sort_keys=True)


def _sid() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def test_a_fork_continues_like_its_parent_and_shares_no_mutable_state(settings):
    with Engine(store=settings) as engine:
        parent = engine.create_session("fantasy_world", seed=7, session_id=_sid())
        parent.run(6)
        assert engine.store.stats()["events_trimmed"] > 0  # some of the parent's events left SQL
        fork = parent.fork(2)
        assert fork.turn == 2 and fork.events() == [e for e in parent.events() if e.turn <= 2]
        before = json.dumps(capture(parent), sort_keys=True)
        parent_rows = engine._runner.call(lambda s: s.events(parent.id))
        fork.run(4)
        # same seed: re-running turns 3..6 from the fork point tells the parent's story again
        assert _story(fork) == _story(parent)
        # playing the fork changed nothing of the parent, in memory or in the store
        assert json.dumps(capture(parent), sort_keys=True) == before
        assert engine._runner.call(lambda s: s.events(parent.id)) == parent_rows
        mine, theirs = fork._rt.pipeline, parent._rt.pipeline
        assert mine.world is not theirs.world and mine.cast.pool is not theirs.cast.pool
        assert mine.director.causal_graph is not theirs.director.causal_graph

        other = parent.fork(2, seed=99)
        other.run(4)
        assert [r.to_dict() for r in other.reports()[:2]] == [r.to_dict() for r in parent.reports()[:2]]
        assert [r.prose for r in other.reports()[2:]] != [r.prose for r in parent.reports()[2:]]

        for s in (parent, fork, other):
            table = s.events_table()
            assert table.column("seq").to_pylist() == list(range(1, len(s.events()) + 1))
            assert table.column("id").to_pylist() == [e.id for e in s.events()]
        ids = (parent.id, fork.id, other.id)
    with Engine(store=settings) as again:  # a restart: every session resumes where it stood
        for sid, want in zip(ids, (parent, fork, other)):
            resumed = again.resume(sid)
            assert resumed.turn == 6 and _story(resumed) == _story(want)
        resumed.step()
        want.step()
        assert _story(resumed) == _story(want)


def test_resume_replays_from_the_last_checkpoint(settings):
    with Engine(store=replace(settings, checkpoint_every=3)) as engine:
        s = engine.create_session("noir_city", seed=4, session_id=_sid())
        s.run(5)
        assert engine._runner.call(lambda st: st.checkpoint(s.id))[0] == 3
    straight = Engine().create_session("noir_city", seed=4)
    straight.run(7)
    with Engine(store=settings) as engine:
        resumed = engine.resume(s.id)  # checkpoint 3, then turns 4 and 5 replayed from their inputs
        assert resumed.turn == 5
        fork = resumed.fork(4)  # between checkpoints too: checkpoint 3, turn 4 replayed
        resumed.run(2)
        assert _story(resumed) == _story(straight)
        fork.run(3)
        assert _story(fork) == _story(straight)


def _redis(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.PIPE,
        text=True,
    )
    for line in proc.stdout:
        if "Ready to accept connections" in line:
            return proc
    raise RuntimeError("redis-server did not start")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_postgres_session_survives_a_restart_of_everything(settings, tmp_path):
    if shutil.which("redis-server") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("required service missing in CI: redis-server is not installed")
        pytest.skip("redis-server is not installed")
    port = _free_port()
    redis = _redis(port)
    env = {
        **os.environ,
        "NOVEL_ENGINE_DATA_DIR": str(tmp_path),
        "NOVEL_ENGINE_S3_ENDPOINT": settings.s3_endpoint,
        "NOVEL_ENGINE_DATABASE_URL": settings.database_url,
        "NOVEL_ENGINE_OBJECT_STORE_URL": settings.object_store_url,
        "NOVEL_ENGINE_REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "NOVEL_ENGINE_CHECKPOINT_EVERY": "3",
    }  # the resume replays the turns after the last checkpoint
    try:
        session_id = run_until_killed(
            ["run", "space_station", "--runtime", "local", "--turns", "30", "--seed", "11"], env, at_turn=4, turns=30
        )
        redis.kill()  # the hot store restarts empty
        redis.wait()
        redis = _redis(port)
        out = subprocess.run(
            cli("resume", session_id, "--turns", "3"), capture_output=True, text=True, env=env, timeout=120
        )
        assert out.returncode == 0, out.stderr
        resumed_after = int(re.search(r"resumed \S+ after turn (\d+)", out.stderr).group(1))
        assert resumed_after >= 4
        straight = Engine().create_session("space_station", seed=11)
        straight.run(resumed_after + 3)
        assert out.stdout == "".join(f"## Turn {r.turn}\n\n{r.prose}\n\n" for r in straight.reports()[-3:])
        with Engine(store=settings) as engine:
            head = engine._runner.call(lambda s: s.get_session(session_id))
            assert head.turn == resumed_after + 3
            taken = {engine._runner.call(lambda s, t=t: s.checkpoint(session_id, t))[0] for t in range(head.turn + 1)}
            assert taken == set(range(0, head.turn + 1, 3))
            seqs = [e.seq for e in engine._runner.call(lambda s: s.events(session_id))]
            assert seqs == list(range(1, len(straight.events()) + 1))
    finally:
        redis.kill()
        redis.wait()
