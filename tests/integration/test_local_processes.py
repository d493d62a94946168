"""A local session shared by several processes (``processes=2``): the same story as one process,
beliefs and checkpoints gathered from where they live, and a clear error, never a hang, when a
replica dies or diverges."""

from __future__ import annotations

import json
import os
import signal

import pytest

from novel_engine import Engine
from novel_engine.errors import ConfigError, ReplicaError
from novel_engine.runtime.checkpoint import capture
from novel_engine.scenarios.synthetic import synthetic
from novel_engine.testing.models import SlowModel


def record(session) -> str:
    """Everything a session has told and decided, as one canonical string."""
    return json.dumps({"events": [e.to_dict() for e in session.events()], "prose": session.narrative()}, sort_keys=True)


def state(session) -> dict:
    """The session's checkpoint, without the setting that differs (the process count)."""
    ck = capture(session._rt)
    ck["settings"].pop("processes")
    return ck


def play(session, turns: int, pid: str | None = None) -> None:
    for turn in range(1, turns + 1):
        if turn == 2 and pid is not None:  # a player and a world event in the mix
            session.step(
                agent_actions={pid: {"action_type": "rest"}},
                world_events=[{"description": "A storm breaks.", "intensity": 0.6, "visibility": "public"}],
            )
        else:
            session.step()


@pytest.mark.parametrize(
    "scenario,seed,turns",
    [("fantasy_world", 7, 10), (synthetic(personas=600, seed=2), 2, 4)],
    ids=["fantasy_world", "synthetic-600"],
)
def test_two_processes_tell_the_same_story_with_the_same_beliefs(scenario, seed, turns):
    one = Engine().create_session(scenario, seed=seed)
    two = Engine().create_session(scenario, seed=seed, processes=2)
    try:
        assert len(two._rt.split.pids()) == 1
        pid = sorted(one.world.personas)[0]
        play(one, turns, pid)
        play(two, turns, pid)
        assert record(two) == record(one)
        cast = sorted(one.world.personas)
        owners = {two._rt.split.owner(p) for p in cast}
        assert owners == {0, 1}  # both processes hold beliefs...
        for p in cast[:12]:  # ...and each persona's are where they should be, and the same
            assert two.beliefs(p, 8) == one.beliefs(p, 8)
            assert two.beliefs(p, 8), p
        # a point of view reads its persona's beliefs from whichever process holds them
        far = next(p for p in cast if two._rt.split.owner(p) != two._rt.split.part)
        assert two.narrative(pov=far) == one.narrative(pov=far)
        assert state(two) == state(one)  # checkpoints gather every process's beliefs
    finally:
        one.close()
        two.close()


def test_a_fork_gets_its_own_replicas_and_continues_the_story():
    scenario = synthetic(personas=300, seed=5)
    two = Engine().create_session(scenario, seed=5, processes=2)
    try:
        two.run(3)
        fork = two.fork()  # restored from a checkpoint: its replicas restore the same state
        assert fork._rt.split.pids() != two._rt.split.pids()
        two.run(2)
        fork.run(2)
        assert record(fork) == record(two)
        ref = Engine().create_session(scenario, seed=5)
        ref.run(5)
        assert record(two) == record(ref)
    finally:
        two.close()


def test_a_stored_session_resumes_with_replicas(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    scenario = synthetic(personas=300, seed=9)
    engine = Engine(store=url)
    two = engine.create_session(scenario, seed=9, processes=2)
    two.run(3)
    sid = two.id
    engine.close()
    again = Engine(store=url)
    try:
        resumed = again.resume(sid)  # the checkpoint (and any replay) with replicas
        assert resumed.settings.processes == 2 and len(resumed._rt.split.pids()) == 1
        resumed.run(2)
        ref = Engine().create_session(scenario, seed=9)
        ref.run(5)
        assert [e.to_dict() for e in resumed.events()] == [e.to_dict() for e in ref.events()]
    finally:
        again.close()


def test_a_killed_replica_stops_the_session_with_a_clear_error():
    s = Engine().create_session(synthetic(personas=200, seed=1), seed=1, processes=2)
    s.step()
    (pid,) = s._rt.split.pids()
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(ReplicaError, match=r"replica process 1 .*killed by signal 9.*cannot continue"):
        s.step()
    with pytest.raises(ReplicaError, match="cannot continue"):  # and it stays stopped
        s.step()
    s.close()
    assert s.turn == 1


def test_a_replica_that_diverges_is_caught_at_once():
    s = Engine().create_session(synthetic(personas=200, seed=3), seed=3, processes=2)
    s.step()
    # the driver's world alone changes: a persona the replica decides for falls
    victim = next(p for p in sorted(s.world.personas) if s._rt.split.owner(p) == 1 and s.world.personas[p].can_act)
    s.world.personas[victim].health = 0.0
    with pytest.raises(ReplicaError, match="resolved turn 2 differently.*diverged"):
        s.step()
    pids = s._rt.split.pids()
    s.close()
    for pid in pids:  # stopped and reaped
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_close_ends_the_replicas():
    s = Engine().create_session("noir_city", seed=2, processes=2)
    s.step()
    pids = s._rt.split.pids()
    s.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_processes_are_refused_where_they_cannot_help():
    with pytest.raises(ConfigError, match="processes=2 needs the offline model"):
        Engine(model=SlowModel(0.0)).create_session("fantasy_world", processes=2)
    too_many = (os.cpu_count() or 1) + 1
    with pytest.raises(ConfigError, match=f"processes={too_many} is more than this machine's"):
        Engine().create_session("fantasy_world", processes=too_many)
    with pytest.raises(ConfigError, match="processes"):
        Engine().create_session("fantasy_world", processes=0)


def test_three_processes_tell_the_same_story(monkeypatch):
    # more processes than this 2-CPU machine has: slower, but the exchange between a driver and two
    # replicas (each gets the other two's decisions) must still give the one-process story
    monkeypatch.setattr("novel_engine.runtime.local.os.cpu_count", lambda: 4)
    scenario = synthetic(personas=400, seed=4)
    one = Engine().create_session(scenario, seed=4)
    three = Engine().create_session(scenario, seed=4, processes=3)
    try:
        assert len(three._rt.split.pids()) == 2
        one.run(4)
        three.run(4)
        assert record(three) == record(one)
        cast = sorted(one.world.personas)
        assert {three._rt.split.owner(p) for p in cast[:3]} == {0, 1, 2}
        assert [three.beliefs(p, 5) for p in cast[:6]] == [one.beliefs(p, 5) for p in cast[:6]]
        assert state(three) == state(one)
    finally:
        one.close()
        three.close()
