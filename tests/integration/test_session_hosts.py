"""Session hosts: small sessions packed into shared host actors, dropped from memory and brought
back from the state store with the same story, the same event numbers and their watchers kept."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from novel_engine import Engine
from novel_engine.errors import StateLostError
from novel_engine.runtime.residency import HostSettings

pytestmark = pytest.mark.usefixtures("ray_session")

TURNS = 5


def _straight(turns: int = TURNS, seed: int = 7):
    """The reference: the same story in process, ``turns`` turns."""
    session = Engine().create_session("fantasy_world", seed)
    session.run(turns)
    return session


def _items(session) -> list[tuple[int, str, int]]:
    return [(i["seq"], i["type"], i["turn"]) for i in session.subscribe(0, limit=10_000).items]


def _engine(tmp_path, pool: str, **kw) -> Engine:
    hosts = HostSettings(hosts=kw.pop("hosts", 2), max_personas=32, pool=pool, **kw)
    return Engine("ray", store=f"sqlite:///{tmp_path / 'state.db'}", hosts=hosts)


def _named_actors() -> set[str]:
    import ray

    return {a["name"] for a in ray.util.list_named_actors(all_namespaces=True)}


def test_a_packed_session_tells_the_story_of_an_actor_per_persona(tmp_path):
    straight = _straight()
    with _engine(tmp_path, "pack") as engine:
        packed = engine.create_session("fantasy_world", 7)
        apart = engine.create_session("fantasy_world", 7, placement="actors", personas_per_actor=1)
        assert type(packed._rt).__name__ == "HostedRuntime"
        assert type(apart._rt).__name__ == "RayRuntime" and len(apart._rt.names) > 6
        packed.run(TURNS)
        apart.run(TURNS)
        assert packed.markdown() == apart.markdown() == straight.markdown()
        assert _items(packed) == _items(apart) == _items(straight)
        apart.close()
        packed.close()


def test_two_sessions_in_one_host_keep_their_own_state(tmp_path):
    with _engine(tmp_path, "one", hosts=1) as engine:
        a = engine.create_session("fantasy_world", 7, session_id="hosted-a")
        b = engine.create_session("fantasy_world", 7, session_id="hosted-b")
        assert a._rt.host == b._rt.host or a._rt.index == b._rt.index == 0
        someone = a.scenario.personas[0].id
        a.update_agent(someone, {"aggression": 1.0, "curiosity": 0.0})
        a.step(world_events=[{"description": "A storm breaks over the village"}])
        for _ in range(TURNS):
            a.step()
        b.run(TURNS)
        assert b.markdown() == _straight().markdown()  # nothing of a's leaked into b
        assert a.markdown() != b.markdown()
        b.close()  # ending one leaves the other
        a.step()
        assert a.turn == TURNS + 2
        a.close()


def test_creating_a_session_on_a_warm_host_starts_no_actor(tmp_path):
    with _engine(tmp_path, "warm") as engine:
        engine._runtimes.pool_for(detached=False).warm()
        before = _named_actors()
        sessions = [engine.create_session("noir_city", seed) for seed in (1, 2, 3)]
        assert _named_actors() == before
        for s in sessions:
            s.step()
            s.close()


def test_an_evicted_session_comes_back_with_its_story_numbers_and_watcher(tmp_path):
    import ray

    straight = _straight(TURNS + 3)
    with _engine(tmp_path, "evict", idle_s=0.05, sweep_s=3600) as engine:  # swept by the test only
        session = engine.create_session("fantasy_world", 7)
        session.run(TURNS)
        seen = session.subscribe(0, limit=10_000).last_seq
        got: list = []

        def watch() -> None:  # a long-poll already waiting when the session leaves memory
            got.append(asyncio.run(_poll(session._rt.hub(), seen)))

        watcher = threading.Thread(target=watch)
        watcher.start()
        host = session._rt.host
        time.sleep(0.1)  # longer than idle_s since the last call
        assert ray.get(host.sweep.remote()) == [session.id]  # idle longer than 0.05 s: dropped
        assert not ray.get(host.has.remote(session.id))
        session.step()  # the host says the state is lost: rebuilt from the store, then played
        watcher.join(60)
        session.run(2)
        assert session.markdown() == straight.markdown()
        assert _items(session) == _items(straight)
        first = got[0]
        assert first.items and first.items[0]["seq"] == seen + 1 and first.items[0]["turn"] == TURNS + 1
        assert ray.get(host.stats.remote())["evictions"] >= 1
        session.close()


def test_two_drivers_resuming_one_evicted_session_at_once_both_go_on(tmp_path):
    """Two Serve replicas can get the first request for the same dropped session at the same moment:
    both bring it back (neither is told it does not exist), and the story goes on as one."""
    import ray

    straight = _straight(TURNS + 2)
    with _engine(tmp_path, "race") as engine:
        session = engine.create_session("fantasy_world", 7)
        session.run(TURNS - 1)
        assert ray.get(session._rt.host.evict.remote([session.id])) == [session.id]
        others = [_engine(tmp_path, "race") for _ in range(2)]
        try:
            resumed: list = [None, None]

            def resume(i: int) -> None:
                resumed[i] = others[i].resume(session.id)

            threads = [threading.Thread(target=resume, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            first, second = resumed
            assert first is not None and second is not None  # neither failed
            assert ray.get(session._rt.host.has.remote(session.id))
            first.step()  # turn TURNS
            second.run(2)  # its handle is a turn behind: it reads the head and goes on
            assert second.markdown() == straight.markdown()
            assert [t.turn for t in engine.store_runner.call(lambda st: st.turns(session.id))] == list(
                range(1, TURNS + 3)
            )
        finally:
            for other in others:
                other.close()
        session.close()


async def _poll(hub, after: int):
    return await hub.subscribe.remote(after, None, 60.0, 10_000)


def test_a_session_on_a_killed_host_comes_back_from_the_store(tmp_path):
    import ray

    straight = _straight(TURNS + 2)
    with _engine(tmp_path, "kill") as engine:
        session = engine.create_session("fantasy_world", 7)
        session.run(TURNS)
        ray.kill(session._rt.host, no_restart=False)  # Ray restarts it empty
        session.run(2)
        assert session.markdown() == straight.markdown()
        assert _items(session) == _items(straight)
        session.close()


def test_a_session_with_actors_of_its_own_ends_when_idle_and_resumes_from_the_store(tmp_path):
    from novel_engine.runtime.ray.runtime import list_sessions

    straight = _straight(3)
    with _engine(tmp_path, "actors-idle", actors_idle_s=0.5) as engine:
        session = engine.create_session("fantasy_world", 7, placement="actors")
        session.run(2)
        deadline = time.monotonic() + 120
        while session.id in list_sessions() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert session.id not in list_sessions()  # every actor of it ended itself
        # this handle's reads and steps say so, and how to bring the session back
        for call in (session.markdown, session.reports, session.step):
            with pytest.raises(StateLostError, match=r"Engine\.resume"):
                call()
        engine.forget(session.id)
    # resumed by an engine that ends nothing when idle: one that did could end the session again
    # between its turn and the read below on a loaded machine
    with _engine(tmp_path, "actors-idle") as engine:
        resumed = engine.resume(session.id, detached=True)
        resumed.step()
        assert resumed.markdown() == straight.markdown()
        resumed.close()


def test_over_the_memory_budget_a_host_drops_the_least_recently_used_first(tmp_path):
    import ray

    # a budget of 2 bytes: the node is always over it, so every sweep drops a quarter (at least one)
    with _engine(tmp_path, "budget", hosts=1, memory_budget=2, sweep_s=3600) as engine:
        sessions = [engine.create_session("noir_city", seed) for seed in (1, 2, 3)]
        for s in (sessions[1], sessions[0], sessions[2]):  # sessions[1] is now the least recently used
            s.step()
        host = sessions[0]._rt.host
        assert ray.get(host.sweep.remote()) == [sessions[1].id]
        assert ray.get(host.sweep.remote()) == [sessions[0].id]
        sessions[1].step()  # back from the store
        assert sessions[1].turn == 2
        for s in sessions:
            s.close()


def test_a_scripts_hosted_sessions_end_with_it_and_detached_ones_stay(tmp_path):
    """A driver that exits takes its sessions with it, hosted ones too: they live on hosts the driver
    owns. A detached hosted session lives on the shared, detached pool and outlives it."""
    import json
    import subprocess
    import sys
    import textwrap

    import ray

    address = ray.get_runtime_context().gcs_address
    code = textwrap.dedent(f"""
        import json, ray
        from novel_engine import Engine
        from novel_engine.runtime.residency import HostSettings
        engine = Engine("ray", address={address!r}, hosts=HostSettings(hosts=1, max_personas=32, pool="script"))
        own = engine.create_session("noir_city", 1)
        kept = engine.create_session("noir_city", 1, detached=True)
        own.step()
        kept.step()
        print(json.dumps({{"own": [own.id, own._rt.host_name], "kept": [kept.id, kept._rt.host_name]}}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    made = json.loads(out.stdout.strip().splitlines()[-1])
    own_sid, own_host = made["own"]
    kept_sid, kept_host = made["kept"]
    assert kept_host == "ne-host:script:0" and own_host.startswith("ne-host:script-job")
    deadline = time.monotonic() + 60
    while own_host in _named_actors() and time.monotonic() < deadline:
        time.sleep(0.5)  # Ray ends an exited driver's actors shortly after it leaves
    assert own_host not in _named_actors()
    from novel_engine.runtime.ray.names import NAMESPACE

    kept = ray.get_actor(kept_host, namespace=NAMESPACE)
    assert ray.get(kept.has.remote(kept_sid)) and not ray.get(kept.has.remote(own_sid))
    assert ray.get(kept.drop.remote(kept_sid))
    ray.kill(kept)


def test_a_due_checkpoint_comes_back_with_its_turn_from_the_host(tmp_path):
    """With a checkpoint due every turn, the host encodes it in the step call (no second host
    call), and the stored checkpoints are those of an in-process run."""
    from dataclasses import replace

    from novel_engine.storage.settings import StoreSettings

    def stored(engine, sid):
        turns = engine._runner.call(lambda st: st.turns(sid))
        return [t.record for t in turns], engine._runner.call(lambda st: st.checkpoint(sid))

    every_turn = StoreSettings(
        database_url=f"sqlite:///{tmp_path / 'ck.db'}",
        object_store_url=(tmp_path / "objects").as_uri(),
        checkpoint_every=1,
    )
    hosts = HostSettings(hosts=1, max_personas=32, pool="ck")
    with (
        Engine("ray", store=every_turn, hosts=hosts) as engine,
        Engine(store=replace(StoreSettings.memory(), checkpoint_every=1)) as local,
    ):
        s = engine.create_session("fantasy_world", 7, session_id="ck-hosted")
        assert type(s._rt).__name__ == "HostedRuntime"
        host, asked = s._rt.host, []

        class Spy:  # the host's handle, noting every runtime method the driver calls through it
            def __getattr__(self, name):
                method = getattr(host, name)
                if name != "call":
                    return method

                class Call:
                    def remote(self, sid, what, *args):
                        asked.append(what)
                        return method.remote(sid, what, *args)

                return Call()

        s._rt.host = Spy()
        try:
            s.run(2)
            ref = local.create_session("fantasy_world", 7, session_id="ck-hosted")
            ref.run(2)
            assert asked.count("step") == 2 and "checkpoint" not in asked
            assert stored(engine, "ck-hosted") == stored(local, "ck-hosted")
            assert stored(engine, "ck-hosted")[1][0] == 2  # the latest checkpoint: after turn 2
        finally:
            s._rt.host = host
            s.close()
