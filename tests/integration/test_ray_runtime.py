"""The Ray runtime: same stories as the in-process runtime, named actors, re-attach, event hub."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap

import pytest

from novel_engine.config import SessionSettings
from novel_engine.llm.offline import OfflineModel
from novel_engine.runtime.local import LocalRuntime
from novel_engine.scenarios import load_scenario
from novel_engine.scenarios.synthetic import synthetic


def run_local(scenario, settings, turns):
    rt = LocalRuntime(scenario, settings, OfflineModel())

    async def go():
        return [await rt.step() for _ in range(turns)]

    return asyncio.run(go()), rt.narrator.chronicler.narrative()


def run_ray(session_id, scenario, settings, turns, **kw):
    from novel_engine.runtime.ray.runtime import RayRuntime

    rt = RayRuntime.create(session_id, scenario, settings, OfflineModel(), **kw)
    try:

        async def go():
            return [await rt.step() for _ in range(turns)]

        return asyncio.run(go()), asyncio.run(rt.narrative())
    finally:
        rt.close()


def same(a, b):
    (ra, na), (rb, nb) = a, b
    assert na == nb
    assert [[e.to_dict() for e in r.events] for r in ra] == [[e.to_dict() for e in r.events] for r in rb]
    assert [r.tension for r in ra] == [r.tension for r in rb]


def test_ray_tells_the_same_story_as_in_process(ray_session):
    sc = load_scenario("fantasy_world")
    settings = SessionSettings(seed=7)
    same(run_local(sc, settings, 4), run_ray("det-small", sc, settings, 4))  # one actor per persona


@pytest.mark.parametrize("ppa,belief_shards", [(40, 1), (70, 3)])
def test_same_story_whatever_the_shard_count(ray_session, ppa, belief_shards):
    sc = synthetic(personas=200, seed=3)
    settings = SessionSettings(seed=3, personas_per_actor=ppa, belief_shards=belief_shards)
    same(run_local(sc, SessionSettings(seed=3), 3), run_ray(f"det-{ppa}", sc, settings, 3))


def test_named_sessions_reattach_from_another_driver_and_close(ray_session):
    import ray

    from novel_engine.runtime.ray.runtime import RayRuntime, list_sessions

    rt = RayRuntime.create("shared", load_scenario("noir_city"), SessionSettings(seed=2), OfflineModel(), detached=True)
    try:
        asyncio.run(rt.step())
        assert "shared" in list_sessions()
        address = ray.get_runtime_context().gcs_address
        code = textwrap.dedent(f"""
            import asyncio, json
            from novel_engine.runtime.ray.connection import connect
            from novel_engine.runtime.ray.runtime import RayRuntime
            connect(address={address!r})
            rt = RayRuntime.attach("shared")
            report = asyncio.run(rt.step())
            print(json.dumps({{"turn": report.turn, "sessions": asyncio.run(rt.turn())}}))
        """)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stderr[-3000:]
        assert json.loads(out.stdout.strip().splitlines()[-1]) == {"turn": 2, "sessions": 2}
        assert asyncio.run(rt.turn()) == 2  # the first driver sees the turn the second one played
        assert len(asyncio.run(rt.reports())) == 2
    finally:
        rt.close()
    assert "shared" not in list_sessions()
    with pytest.raises(Exception, match="no live session"):
        RayRuntime.attach("shared")


def test_a_new_session_makes_its_scenario_json_once_for_the_director_and_the_store(ray_session, scenario_dumps):
    # at 100,000 personas the driver made it twice (and the record's dicts besides): seconds of setup
    from novel_engine import Engine
    from novel_engine.core.scenario import Scenario

    sc = synthetic(personas=60, seed=5)
    engine = Engine("ray")  # with the in-memory store
    s = engine.create_session(sc, seed=5, session_id="json-once", placement="actors", personas_per_actor=20)
    try:
        assert scenario_dumps == {"model_dump_json": 1, "model_dump": 0}
        stored = engine.store_runner.call(lambda st: st.get_session("json-once"))
        assert Scenario.model_validate(stored.scenario) == sc
        engine.forget("json-once")
        assert engine.attach("json-once").scenario == sc  # the director's copy
    finally:
        s.close()


def test_event_hub_orders_events_and_replays_from_a_cursor(ray_session):
    import ray

    from novel_engine.runtime.ray.runtime import RayRuntime

    rt = RayRuntime.create("hub", load_scenario("space_station"), SessionSettings(seed=4), OfflineModel())
    try:
        hub = rt.hub()
        pending = hub.subscribe.remote(0, None, 30.0)  # a long-poll waiting for the first turn
        asyncio.run(rt.step())
        first = ray.get(pending)
        assert first.items and first.items[0]["seq"] == 1
        assert not first.truncated
        everything = ray.get(hub.subscribe.remote(0, None, 0.0))
        seqs = [i["seq"] for i in everything.items]
        assert seqs == list(range(1, len(seqs) + 1))  # no gaps, no duplicates
        assert everything.items[-1]["type"] == "turn_complete"
        cursor = everything.last_seq
        asyncio.run(rt.step())
        later = ray.get(hub.subscribe.remote(cursor, None, 5.0))
        assert later.items[0]["seq"] == cursor + 1 and later.items[-1]["turn"] == 2
        done = ray.get(hub.subscribe.remote(0, ["turn_complete"], 0.0))
        assert [i["turn"] for i in done.items] == [1, 2]
    finally:
        rt.close()


def test_the_hub_takes_turns_in_order_and_the_director_fills_a_missed_one(ray_session):
    """A committed turn goes from the driver straight to the hub; a turn whose predecessor never
    reached the hub (another driver's publish still on its way) is refused there, and the director,
    which keeps the history, fills the gap: subscribers see every turn once, in order."""
    import ray

    from novel_engine.errors import StateLostError
    from novel_engine.runtime.event_log import hub_items
    from novel_engine.runtime.ray.runtime import RayRuntime

    rt = RayRuntime.create("hub-order", load_scenario("noir_city"), SessionSettings(seed=3), OfflineModel())
    try:
        hub = rt.hub()
        first = asyncio.run(rt.step(publish=False))
        asyncio.run(rt.publish(1))
        second = asyncio.run(rt.step(publish=False))  # played, but its publish is "lost on the way"
        third = asyncio.run(rt.step(publish=False))
        with pytest.raises(StateLostError):
            ray.get(hub.publish.remote(hub_items(third)))
        asyncio.run(rt.publish(3))  # sent, not awaited: the hub refuses it (turn 2 never came)
        asyncio.run(rt.settle())  # ... and the director gives the hub its window up to turn 3
        items = ray.get(hub.subscribe.remote(0, None, 0.0, 10_000)).items
        assert [i["seq"] for i in items] == list(range(1, len(items) + 1))
        assert [i["turn"] for i in items if i["type"] == "turn_complete"] == [1, 2, 3]

        def plain(rows):  # what the hub made of the packed report, against the driver's own items
            return [{k: v for k, v in r.items() if k not in ("seq", "committed_at")} for r in rows]

        assert plain(i for i in items if i["turn"] == 1) == plain(hub_items(first))
        last = items[-1]["seq"]
        assert ray.get(hub.publish.remote(hub_items(second))) == last  # a late publish adds nothing
    finally:
        rt.close()


def test_a_publish_the_hub_refused_is_mended_after_the_next_turn_was_played(ray_session):
    """The driver sends a publish without waiting for it; a refusal is found when the next one
    goes out, once the director has played a later turn: it gives the hub its window up to the
    refused turn, and the next turn goes to the hub as usual."""
    import ray

    from novel_engine.runtime.ray.runtime import RayRuntime

    rt = RayRuntime.create("hub-mend", load_scenario("noir_city"), SessionSettings(seed=5), OfflineModel())
    try:
        for _ in range(3):
            asyncio.run(rt.step(publish=False))
        asyncio.run(rt.publish(3))  # refused: turns 1 and 2 never reached the hub
        asyncio.run(rt.step(publish=False))
        asyncio.run(rt.publish(4))  # finds the refusal, has it mended, then sends turn 4
        ray.get(rt.publisher._sent[1])  # which the hub takes: it holds turns 1 to 3 again
        asyncio.run(rt.settle())
        items = ray.get(rt.hub().subscribe.remote(0, None, 0.0, 10_000)).items
        assert [i["seq"] for i in items] == list(range(1, len(items) + 1))
        assert [i["turn"] for i in items if i["type"] == "turn_complete"] == [1, 2, 3, 4]
    finally:
        rt.close()


def test_a_large_casts_history_reads_back_whole_after_it_was_kept_packed(ray_session):
    """The director keeps a large cast's events packed in its history (``wire.PackedEvents``):
    paged reads and the hub's window rebuilt from that history are the turns as played."""
    import ray

    from novel_engine.runtime.event_log import hub_items
    from novel_engine.runtime.ray.runtime import RayRuntime

    rt = RayRuntime.create("packed-history", synthetic(personas=200, seed=3), SessionSettings(seed=3), OfflineModel())
    try:
        played = [asyncio.run(rt.step(publish=False)) for _ in range(3)]
        assert min(len(r.events) for r in played) > 64  # past the inline limit: packed
        read = asyncio.run(rt.reports())
        assert [r.to_dict() for r in read] == [r.to_dict() for r in played]
        assert all(isinstance(r.events, tuple) for r in read)
        held = ray.get(rt.director.__ray_call__.remote(lambda d: [type(r.events).__name__ for r in d.pipeline.history]))
        assert held == ["PackedEvents"] * 3
        asyncio.run(rt.publish(3))  # refused (turns 1 and 2 never came): mended from the history
        asyncio.run(rt.settle())
        items = ray.get(rt.hub().subscribe.remote(0, None, 0.0, 100_000)).items
        kept = [{k: v for k, v in i.items() if k not in ("seq", "committed_at")} for i in items]
        assert kept == [
            {k: v for k, v in i.items() if k not in ("seq", "committed_at")} for r in played for i in hub_items(r)
        ]
    finally:
        rt.close()


def test_shards_spread_over_the_nodes_of_the_cluster(ray_session):
    from novel_engine.runtime.ray.runtime import RayRuntime

    rt = RayRuntime.create(
        "spread",
        synthetic(personas=120, seed=1),
        SessionSettings(seed=1, persona_shards=3, belief_shards=3),
        OfflineModel(),
    )
    try:
        placement = rt.placement()
        assert len(placement) == 6
        assert len(set(placement.values())) >= 2  # SPREAD puts shards on more than one node
        report = asyncio.run(rt.step())
        assert len(report.events) > 100
    finally:
        rt.close()


def test_custom_resources_pin_shards_to_nodes(ray_session):
    from novel_engine.runtime.ray.runtime import RayRuntime

    rt = RayRuntime.create(
        "pinned",
        synthetic(personas=60, seed=2),
        SessionSettings(seed=2, persona_shards=2),
        OfflineModel(),
        actor_options={"resources": {"node2": 0.01}},
    )
    try:
        nodes = set(rt.placement().values())
        assert len(nodes) == 1  # every shard asked for a resource only the second node has
        asyncio.run(rt.step())
    finally:
        rt.close()


@pytest.mark.parametrize("runtime", ["local", "ray"])
def test_reports_come_a_page_at_a_time(ray_session, runtime):
    from novel_engine import Engine
    from novel_engine.errors import SessionError

    s = Engine(runtime).create_session("noir_city", seed=2)
    try:
        s.run(5)
        every = s.reports()
        assert [r.turn for r in every] == [1, 2, 3, 4, 5]
        assert [r.turn for r in s.reports(2, 2)] == [3, 4]
        assert [r.to_dict() for r in s.reports(4)] == [every[-1].to_dict()]
        assert s.reports(5) == [] and s.reports(0, 0) == [] and s.reports(99, 3) == []
        with pytest.raises(SessionError, match="zero or more"):
            s.reports(-1)
    finally:
        s.close()


def test_pov_chapters_are_the_same_on_ray_as_in_process(ray_session):
    """The beliefs a point of view reads live in belief shards on Ray: the chapters come out the same."""
    from novel_engine import Engine

    told = {}
    for runtime in ("local", "ray"):
        extra = {"belief_shards": 2} if runtime == "ray" else {}
        s = Engine(runtime).create_session("fantasy_world", seed=3, **extra)
        try:
            s.run(4)
            told[runtime] = [(c.turn, c.text, c.witnessed) for c in s.pov_chapters("healer")]
        finally:
            s.close()
    assert told["ray"] == told["local"] and len(told["local"]) == 4
    assert "Wren Ashby" in told["local"][0][1]


def test_subscribers_read_the_same_items_on_both_runtimes(ray_session):
    from novel_engine import Engine

    def items(session):
        return [{k: v for k, v in i.items() if k != "committed_at"} for i in session.subscribe().items]

    local = Engine().create_session("noir_city", seed=6)
    on_ray = Engine("ray").create_session("noir_city", seed=6, session_id="same-items", personas_per_actor=3)
    try:
        local.run(3)
        on_ray.run(3)
        assert items(on_ray) == items(local) and items(local)
    finally:
        on_ray.close()


def test_a_small_cast_keeps_its_beliefs_in_the_director(ray_session):
    """One actor per persona and no belief actors: the director absorbs the perceptions itself
    (one hop a turn instead of two); beliefs and a restored checkpoint are as in process."""
    from novel_engine.runtime.ray.runtime import RayRuntime

    sc, settings = load_scenario("fantasy_world"), SessionSettings(seed=3)
    local = LocalRuntime(sc, settings, OfflineModel())
    rt = RayRuntime.create("small-beliefs", sc, settings, OfflineModel())
    try:
        assert not [n for n in rt.names if ":belief:" in n]
        assert len([n for n in rt.names if ":persona:" in n]) == len(sc.personas)

        async def go():
            for _ in range(3):
                await local.step()
                await rt.step()
            for p in sc.personas:
                assert await rt.beliefs_of(p.id) == await local.beliefs_of(p.id)
            state = await rt.state(history=True)
            assert state["beliefs"] == (await local.state())["beliefs"] and state["beliefs"]
            await rt.step()
            await rt.step()
            assert await rt.restore(state) == 3
            again = [await rt.step() for _ in range(2)]  # turns 4 and 5 again, from the restored beliefs
            told = [await local.step() for _ in range(2)]
            assert [r.prose for r in again] == [r.prose for r in told]
            assert await rt.narrative() == local.narrator.chronicler.narrative()

        asyncio.run(go())
    finally:
        rt.close()


def test_a_packed_cast_keeps_its_beliefs_in_its_persona_shards(ray_session):
    """Persona shards that pack many personas hold their beliefs too (no belief actors, no views
    between processes): the beliefs, a checkpoint and the story are as in process, and a shard
    Ray restarts (back empty) is rebuilt, beliefs included, to the same story."""
    import ray

    from novel_engine import Engine
    from novel_engine.runtime.ray.runtime import NAMESPACE

    sc = synthetic(personas=120, seed=4)
    local = Engine().create_session(sc, seed=4)
    on_ray = Engine("ray").create_session(sc, seed=4, session_id="packed-beliefs", persona_shards=2)
    try:
        names = on_ray._rt.names
        assert not [n for n in names if ":belief:" in n] and len([n for n in names if ":persona:" in n]) == 2
        local.run(2)
        on_ray.run(2)
        asked = [p.id for p in sc.personas[:40]]
        assert [on_ray.beliefs(p) for p in asked] == [local.beliefs(p) for p in asked]
        assert any(local.beliefs(p) for p in asked)
        held = asyncio.run(on_ray._rt.state())["beliefs"]
        assert held == asyncio.run(local._rt.state())["beliefs"] and len(held) == len(sc.personas)
        ray.kill(ray.get_actor("ne:packed-beliefs:persona:0", namespace=NAMESPACE), no_restart=False)
        local.run(2)
        on_ray.run(2)
        assert on_ray.narrative() == local.narrative()
        assert [on_ray.beliefs(p) for p in asked] == [local.beliefs(p) for p in asked]
    finally:
        on_ray.close()
        local.close()
