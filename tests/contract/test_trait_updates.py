"""Trait updates are inputs of the story: a resume, a recovery or a fork replays them where they were made.

Before, an update lived only in the running director: a resume or a recovery played the turns
without it (the change was lost, or the replay diverged and ``load`` failed).
"""

from __future__ import annotations

import json
import uuid

import pytest

from novel_engine import Engine

SCENARIO, SEED = "noir_city", 5
LEAD = "detective"
UPDATE = {"aggressiveness": 1.0, "compassion": 0.0, "courage": 1.0}


@pytest.fixture(params=["embedded", "postgresql"])
def backend(request) -> str:
    return request.param


def _sid() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def _story(session) -> str:
    return json.dumps([r.to_dict() for r in session.reports()], sort_keys=True)


def _straight(turns: int, update_after: int | None) -> str:
    """The story of an undisturbed in-process run with the update made after turn ``update_after``."""
    s = Engine().create_session(SCENARIO, seed=SEED)
    for turn in range(turns):
        if turn == update_after:
            s.update_agent(LEAD, UPDATE)
        s.step()
    return _story(s)


def test_the_update_changes_the_story_so_the_tests_below_can_tell():
    assert _straight(6, 2) != _straight(6, None)


def test_a_resumed_session_keeps_an_update_made_before_its_last_turns(store_settings):
    sid = _sid()
    with Engine(store=store_settings) as engine:
        s = engine.create_session(SCENARIO, seed=SEED, session_id=sid)
        s.run(2)
        s.update_agent(LEAD, UPDATE)
        s.run(2)
        fork = s.fork(3)  # after the update: the fork has it too
        fork_id = fork.id
    with Engine(store=store_settings) as engine:  # a restart: nothing of the first process is left
        resumed = engine.resume(sid)
        resumed.run(2)
        assert _story(resumed) == _straight(6, 2)
        fork = engine.resume(fork_id)
        fork.run(3)
        assert _story(fork) == _straight(6, 2)


def test_an_update_made_just_before_a_stop_applies_to_the_next_turn_after_the_resume(store_settings):
    sid = _sid()
    with Engine(store=store_settings) as engine:
        s = engine.create_session(SCENARIO, seed=SEED, session_id=sid)
        s.run(2)
        s.update_agent(LEAD, UPDATE)  # no turn commits it before the stop: it waits in the store
    with Engine(store=store_settings) as engine:
        resumed = engine.resume(sid)
        assert resumed.world.personas[LEAD].traits["aggressiveness"] == 1.0
        resumed.run(4)
        assert _story(resumed) == _straight(6, 2)
        record = engine._runner.call(lambda st: st.turns(sid))[2].record
        assert record["inputs"]["trait_updates"] == {LEAD: dict(sorted(UPDATE.items()))}


@pytest.mark.parametrize("backend", ["embedded"])
def test_a_ray_session_keeps_an_update_across_a_director_crash(ray_session, store_settings):
    import ray

    sid = _sid()
    with Engine("ray", store=store_settings) as engine:
        s = engine.create_session(SCENARIO, seed=SEED, session_id=sid, personas_per_actor=3)
        try:
            s.run(2)
            s.update_agent(LEAD, UPDATE)
            ray.kill(ray.get_actor(f"ne:{sid}:director", namespace="novel_engine"), no_restart=False)
            s.run(2)  # the director restarts at turn 0; the rebuild brings back turn 2 and the update
            ray.kill(ray.get_actor(f"ne:{sid}:director", namespace="novel_engine"), no_restart=False)
            s.run(2)  # now the update is an input of turn 3: the replay applies it there
            assert _story(s) == _straight(6, 2)
            fork = s.fork(4)
            try:
                fork.run(2)
                assert _story(fork) == _straight(6, 2)
            finally:
                fork.close()
        finally:
            s.close()


@pytest.mark.parametrize("backend", ["embedded"])
def test_both_runtimes_store_the_same_records_for_the_same_script(ray_session, store_settings, tmp_path):
    """Actions, world events, trait updates, a fork and a resume: the same stored records on both."""
    from dataclasses import replace

    def script(runtime: str, settings) -> list:
        sid = f"script-{runtime}-{uuid.uuid4().hex[:6]}"
        with Engine(runtime, store=settings) as engine:
            s = engine.create_session(SCENARIO, seed=SEED, session_id=sid, personas_per_actor=3)
            s.step()
            s.step(world_events=[{"description": "A gunshot echoes through the fog", "location": "harbor_docks"}])
            s.update_agent(LEAD, UPDATE)
            s.step(agent_actions={LEAD: {"action_type": "observe"}})
            fork = s.fork(2, session_id=sid + "-f")
            fork.step()
            s.close()
            fork.close()
        with Engine(runtime, store=settings) as engine:
            resumed = engine.resume(sid)
            resumed.step()
            resumed.close()
            out = []
            for one in (sid, sid + "-f"):
                turns = engine._runner.call(lambda st, i=one: st.turns(i))
                events = engine._runner.call(lambda st, i=one: st.events(i))
                out.append(([t.record for t in turns], [(e.seq, e.data) for e in events]))
            return out

    local = script("local", replace(store_settings, database_url=f"sqlite:///{tmp_path / 'local.db'}"))
    ray_records = script("ray", replace(store_settings, database_url=f"sqlite:///{tmp_path / 'ray.db'}"))
    assert local == ray_records
    assert any("trait_updates" in r["inputs"] for r in local[0][0])
