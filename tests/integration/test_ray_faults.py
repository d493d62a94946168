"""Ray sessions in the state store: same stored turns as in process, resume, and faults.

A persona shard or the director killed in the middle of a turn, or a node removed mid-session,
costs a retried turn, never a lost, duplicated or different one. A test-only model holds one
persona's decision at a "gate" actor, so a kill lands while the turn is in flight.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading

import pytest

from novel_engine import Engine
from novel_engine.llm.offline import OfflineModel
from novel_engine.llm.port import LanguageModel, ModelRequest, ModelResponse

SCENARIO, SEED = "fantasy_world", 7


class GatedModel(LanguageModel):
    """The offline model, except that the first ``decide`` of turn ``turn`` waits at a gate actor."""

    name = "gated"

    def __init__(self, gate: str, turn: int) -> None:
        self.gate, self.turn, self.offline = gate, turn, OfflineModel()

    async def complete(self, request: ModelRequest) -> ModelResponse:
        if request.purpose == "decide" and request.turn == self.turn:
            import ray

            gate = ray.get_actor(self.gate, namespace="novel_engine-tests")
            if await gate.trip.remote(ray.get_runtime_context().get_actor_name()):
                await gate.released.remote()
        return self.offline.answer(request)


@pytest.fixture(scope="module")
def gate_cls(ray_session):
    import ray

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this module

    @ray.remote
    class Gate:
        """Trips once: tells the test which actor is waiting, and holds it until released."""

        def __init__(self) -> None:
            self.tripped, self.opened = asyncio.Event(), asyncio.Event()
            self.who: str | None = None

        async def trip(self, who: str) -> bool:
            if self.who is not None:
                return False
            self.who = who
            self.tripped.set()
            return True

        async def wait_tripped(self) -> str:
            await self.tripped.wait()
            return self.who

        async def released(self) -> None:
            await self.opened.wait()

        async def release(self) -> None:
            self.opened.set()

    return Gate


def stored(engine, sid):
    turns = engine._runner.call(lambda st: st.turns(sid))
    events = engine._runner.call(lambda st: st.events(sid))
    ck = engine._runner.call(lambda st: st.checkpoint(sid))
    return [t.record for t in turns], [(e.seq, e.turn, e.data) for e in events], ck


def story(session):
    return json.dumps([r.to_dict() for r in session.reports()], sort_keys=True), session.narrative()


@pytest.fixture(scope="module")
def undisturbed():
    """An in-process run of the scenario: the story every disturbed run must tell."""
    s = Engine().create_session(SCENARIO, seed=SEED)
    s.run(4)
    return s


def test_ray_sessions_store_what_local_ones_store_and_resume(ray_session, tmp_path):
    db = f"sqlite:///{tmp_path / 'ray.db'}"
    with Engine("ray", store=db) as engine, Engine(store="memory") as local:
        s = engine.create_session(SCENARIO, seed=SEED, session_id="store-ray", personas_per_actor=2)
        s.run(3)
        ref = local.create_session(SCENARIO, seed=SEED, session_id="store-ray", personas_per_actor=2)
        ref.run(3)
        assert stored(engine, "store-ray") == stored(local, "store-ray")  # records, events, checkpoint bytes
        retry_of_a_committed_turn_commits_nothing(engine, s)
        s.close()
    with Engine("ray", store=db) as engine:  # a new driver: new actors from the stored state
        resumed = engine.resume("store-ray")
        assert resumed.turn == 3
        resumed.step()
        ref.step()
        try:
            assert story(resumed) == story(ref)
            assert [e[0] for e in stored(engine, "store-ray")[1]] == list(range(1, len(ref.events()) + 1))
        finally:
            resumed.close()


def test_a_due_checkpoint_comes_back_with_its_turn(ray_session, tmp_path):
    """With a checkpoint due every turn, the director encodes it in the step call (no second round
    trip), and the stored checkpoints are those of an in-process run."""
    from dataclasses import replace

    from novel_engine.storage.settings import StoreSettings

    every_turn = StoreSettings(
        database_url=f"sqlite:///{tmp_path / 'ck.db'}",
        object_store_url=(tmp_path / "objects").as_uri(),
        checkpoint_every=1,
    )
    with (
        Engine("ray", store=every_turn) as engine,
        Engine(store=replace(StoreSettings.memory(), checkpoint_every=1)) as local,
    ):
        s = engine.create_session(SCENARIO, seed=SEED, session_id="ck-with-turn")
        director, asked = s._rt.director, []

        class Spy:  # the director's handle, noting every method the driver calls on it
            def __getattr__(self, name):
                asked.append(name)
                return getattr(director, name)

        s._rt.director = Spy()
        try:
            s.run(2)
            ref = local.create_session(SCENARIO, seed=SEED, session_id="ck-with-turn")
            ref.run(2)
            assert asked.count("step") == 2 and "checkpoint" not in asked  # (run also reads turn, reports)
            assert stored(engine, "ck-with-turn") == stored(local, "ck-with-turn")
            assert stored(engine, "ck-with-turn")[2][0] == 2  # the latest checkpoint: after turn 2
        finally:
            s._rt.director = director
            s.close()


def retry_of_a_committed_turn_commits_nothing(engine, session):
    from novel_engine.errors import ConflictError
    from novel_engine.runtime.durability import commit_once, turn_commit

    runner, sid = engine._runner, session.id
    before = stored(engine, sid)
    last = runner.call(lambda st: st.turns(sid))[-1].record
    commit = turn_commit(session.reports()[-1], last["inputs"], None)
    head = runner.call(lambda st: st.get_session(sid))
    again = asyncio.run(commit_once(runner, sid, head.version - 1, commit))  # as if its answer was lost
    assert again.version == head.version and stored(engine, sid) == before
    other = turn_commit(session.reports()[-2], last["inputs"], None)  # a different turn 3: a real conflict
    with pytest.raises(ConflictError):
        asyncio.run(commit_once(runner, sid, head.version - 1, type(other)(3, other.record, other.events)))


def _disturbed_run(gate_cls, tmp_path, sid, disturb, **settings):
    """Four turns on Ray; ``disturb(victim_actor_name)`` runs while turn 2 is held at the gate."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)  # never removed
    gate = gate_cls.options(
        name=f"gate-{sid}", namespace="novel_engine-tests", num_cpus=0, scheduling_strategy=here
    ).remote()
    with Engine("ray", store=f"sqlite:///{tmp_path / 'faults.db'}", model=GatedModel(f"gate-{sid}", 2)) as engine:
        s = engine.create_session(SCENARIO, seed=SEED, session_id=sid, **settings)
        try:
            s.step()
            box: dict = {}
            th = threading.Thread(target=lambda: box.update(report=s.step()))
            th.start()
            victim = ray.get(gate.wait_tripped.remote())
            disturb(victim)
            ray.get(gate.release.remote())
            th.join()
            assert box["report"].turn == 2  # the held turn completed, once
            s.run(2)
            records, events, _ = stored(engine, sid)
            return story(s), [r["turn"] for r in records], [e[0] for e in events]
        finally:
            s.close()
            ray.kill(gate)


def _check(result, undisturbed):
    (told, turns, seqs) = result
    assert told == story(undisturbed)
    assert turns == [1, 2, 3, 4]
    assert seqs == list(range(1, len(undisturbed.events()) + 1))  # no event lost or stored twice


def test_a_persona_shard_killed_mid_decide_retries_the_turn(gate_cls, tmp_path, undisturbed):
    import ray

    def kill(victim):
        assert ":persona:" in victim
        ray.kill(ray.get_actor(victim, namespace="novel_engine"), no_restart=False)

    _check(_disturbed_run(gate_cls, tmp_path, "kill-shard", kill, personas_per_actor=3), undisturbed)


def test_the_director_killed_mid_turn_and_between_turns(gate_cls, tmp_path, undisturbed):
    import ray

    def kill(_victim):
        ray.kill(ray.get_actor("ne:kill-director:director", namespace="novel_engine"), no_restart=False)

    _check(_disturbed_run(gate_cls, tmp_path, "kill-director", kill, personas_per_actor=3), undisturbed)
    with Engine("ray", store=f"sqlite:///{tmp_path / 'between.db'}") as engine:
        s = engine.create_session(SCENARIO, seed=SEED, session_id="kill-between", personas_per_actor=3)
        try:
            s.step()
            ray.kill(ray.get_actor("ne:kill-between:director", namespace="novel_engine"), no_restart=False)
            s.run(3)  # the restarted director is at turn 0: it refuses, is restored, and plays on
            assert story(s) == story(undisturbed)
        finally:
            s.close()


def test_removing_a_node_mid_turn_loses_and_repeats_nothing(gate_cls, ray_cluster, tmp_path, undisturbed):
    """Remove the third node while turn 2 is in flight (then add an equal node back for later tests)."""
    import ray

    node_id = next(n["NodeID"] for n in ray.nodes() if n["Alive"] and "node3" in n["Resources"])
    node = next(n for n in ray_cluster.worker_nodes if n.node_id == node_id)

    def remove(_victim):
        ray_cluster.remove_node(node, allow_graceful=False)

    try:
        result = _disturbed_run(gate_cls, tmp_path, "lose-node", remove, personas_per_actor=1)
    finally:
        ray_cluster.add_node(num_cpus=1, resources={"node3": 1})
        ray_cluster.wait_for_nodes()
    _check(result, undisturbed)


def _hub_items(session) -> list[dict]:
    import ray

    return list(ray.get(session.event_hub().subscribe.remote(0, None, 0.0, 100_000)).items)


def _without_clock(items: list[dict]) -> list[dict]:
    return [{k: v for k, v in i.items() if k != "committed_at"} for i in items]


def test_the_event_hub_numbers_on_after_a_restart_and_a_resume_and_shows_only_stored_turns(
    ray_session, tmp_path, undisturbed, monkeypatch
):
    import ray

    from novel_engine.errors import StoreError
    from novel_engine.runtime import durability

    db = f"sqlite:///{tmp_path / 'hub.db'}"
    with Engine("ray", store=db) as engine:
        s = engine.create_session(SCENARIO, seed=SEED, session_id="hub-restart", personas_per_actor=3)
        try:
            s.run(2)
            before = _hub_items(s)
            ray.kill(ray.get_actor("ne:hub-restart:hub", namespace="novel_engine"), no_restart=False)
            s.step()  # the restarted hub refuses to publish, gets its window back, then turn 3
            after = _hub_items(s)
            assert [i["seq"] for i in after] == list(range(1, len(after) + 1))
            assert _without_clock(after[: len(before)]) == _without_clock(before)
            assert after[-1]["type"] == "turn_complete" and after[-1]["turn"] == 3
            last = after[-1]["seq"]

            def refuse(*_args, **_kwargs):
                raise StoreError("the store is down")

            monkeypatch.setattr(durability, "commit_once", refuse)
            with pytest.raises(StoreError):
                s.step()  # turn 4 is played but not stored: subscribers must not see it
            assert ray.get(s.event_hub().last_seq.remote()) == last
            monkeypatch.undo()
        finally:
            s.close()
    with Engine("ray", store=db) as engine:  # new actors from the store: the hub numbers on
        resumed = engine.resume("hub-restart")
        try:
            assert ray.get(resumed.event_hub().last_seq.remote()) == last
            assert _without_clock(_hub_items(resumed)) == _without_clock(after)
            resumed.step()
            assert story(resumed) == story(undisturbed)
            tail = _hub_items(resumed)[len(after) :]
            assert [i["seq"] for i in tail] == list(range(last + 1, last + 1 + len(tail)))
            assert tail[-1]["turn"] == 4 and tail[-1]["committed_at"] > 0
        finally:
            resumed.close()


def test_a_session_without_a_configured_store_rebuilds_lost_actors_from_the_in_memory_one(ray_session, undisturbed):
    """Engine('ray') without a store keeps its sessions in the in-memory store: a lost actor is
    rebuilt from it like from any store (one recovery path), whatever the model."""
    import ray

    from novel_engine.testing import SlowModel

    engine = Engine("ray")
    assert engine.store is not None  # the in-memory store
    s = engine.create_session(SCENARIO, seed=SEED, session_id="unstored", personas_per_actor=3)
    try:
        s.step()
        ray.kill(ray.get_actor("ne:unstored:director", namespace="novel_engine"), no_restart=False)
        s.step()  # the restarted director refuses turn 2, is rebuilt from the store, plays on
        ray.kill(ray.get_actor("ne:unstored:persona:0", namespace="novel_engine"), no_restart=False)
        s.run(2)
        assert story(s) == story(undisturbed)
        # another driver (with an in-memory store of its own) plays a turn its store never sees:
        # the store is the truth, so the first handle puts the actors back to it and plays on
        other = Engine("ray").attach("unstored")
        other.step()
        assert other.turn == 5
        s.step()
        assert s.turn == 5 and [r.turn for r in s.reports()] == [1, 2, 3, 4, 5]
    finally:
        s.close()
    slow = Engine("ray", model=SlowModel(latency_s=0.0)).create_session(SCENARIO, seed=SEED, session_id="unstored-llm")
    try:
        slow.step()
        ray.kill(ray.get_actor("ne:unstored-llm:director", namespace="novel_engine"), no_restart=False)
        slow.run(3)  # a model other than the offline one: its replay is checked against the store
        assert story(slow) == story(undisturbed)
    finally:
        slow.close()


def test_ending_a_session_whose_director_is_restarting_leaves_no_actor_behind(ray_session):
    """Engine.end kills by name, asking no actor: a director caught restarting after a crash must
    not come back once the session is ended (the HTTP delete uses it)."""
    import time

    import ray

    from novel_engine.runtime.ray.runtime import NAMESPACE, list_sessions

    engine = Engine("ray")
    s = engine.create_session(SCENARIO, seed=SEED, session_id="end-restarting", personas_per_actor=3)
    s.step()
    director = ray.get_actor("ne:end-restarting:director", namespace=NAMESPACE)
    ray.kill(director, no_restart=False)  # Ray restarts it...
    assert engine.end("end-restarting") >= 4  # ...and the end kills it by name, with the rest
    deadline = time.monotonic() + 60
    with pytest.raises(ray.exceptions.RayActorError):  # ray.kill is asynchronous: wait for it
        while time.monotonic() < deadline:
            ray.get(director.turn.remote(), timeout=60)
            time.sleep(0.2)
    assert "end-restarting" not in list_sessions()
    assert not [
        a for a in ray.util.list_named_actors(all_namespaces=True) if a["name"].startswith("ne:end-restarting:")
    ]
    assert engine.end("end-restarting") == 0  # nothing left: ending again is harmless


@pytest.mark.timeout(300)
def test_shards_of_a_large_cast_restarted_by_ray_are_rebuilt_from_the_store(ray_session):
    """A shard's constructor takes nothing large, so Ray can always restart it: a belief shard of
    a large cast (its personas, packed, are over Ray's 100 kB inline limit: they went through
    the object store, and the driver let go of them after creating it; ray-project/ray#53727,
    #47043) or a persona shard comes back empty, refuses the turn and is rebuilt from the store."""
    import gc

    import ray

    from novel_engine.scenarios.synthetic import synthetic

    scenario = synthetic(personas=2000, seed=3)
    undisturbed = Engine().create_session(scenario, seed=3)
    undisturbed.run(3)
    s = Engine("ray").create_session(scenario, seed=3, session_id="big-restart", persona_shards=2, belief_shards=2)
    try:
        s.step()
        gc.collect()
        for role in ("belief:0", "persona:1"):
            ray.kill(ray.get_actor(f"ne:big-restart:{role}", namespace="novel_engine"), no_restart=False)
        s.run(2)
        assert story(s) == story(undisturbed)
    finally:
        s.close()


@pytest.mark.timeout(420)
def test_a_director_restarted_after_its_creator_left_is_rebuilt_from_the_store(ray_cluster, tmp_path):
    """The director's constructor takes nothing large either, so Ray can restart it after the
    driver that created the session has gone, and with it every object that driver owned (a
    large cast's world went through the object store; ray-project/ray#53727): the restarted
    director comes back empty, refuses the turn, and is loaded and restored from the store."""
    import subprocess

    import ray

    from novel_engine.scenarios.synthetic import synthetic

    db = f"sqlite:///{tmp_path / 'orphan.db'}"
    creator = f"""
from novel_engine import Engine
from novel_engine.runtime.ray.connection import connect
from novel_engine.scenarios.synthetic import synthetic
connect(address={ray_cluster.address!r})
with Engine("ray", store={db!r}) as engine:
    engine.create_session(synthetic(personas=2000, seed=3), seed=3, session_id="orphan", detached=True).step()
"""
    subprocess.run([sys.executable, "-c", creator], check=True, timeout=300)
    undisturbed = Engine().create_session(synthetic(personas=2000, seed=3), seed=3)
    undisturbed.run(3)
    with Engine("ray", store=db) as engine:
        try:
            s = engine.attach("orphan")
            ray.kill(ray.get_actor("ne:orphan:director", namespace="novel_engine"), no_restart=False)
            s.run(2)
            assert story(s) == story(undisturbed)
        finally:
            engine.end("orphan")
