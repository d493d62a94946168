"""Resolver shard actors on Ray (``resolver_shards``): the in-process story for any shard count,
and a shard that dies in the middle of a turn rebuilt to the same story."""

from __future__ import annotations

import asyncio

import pytest

from novel_engine.config import SessionSettings
from novel_engine.llm.offline import OfflineModel
from novel_engine.runtime.local import LocalRuntime
from novel_engine.scenarios import load_scenario
from novel_engine.scenarios.synthetic import synthetic


def _play(rt, turns):
    async def go():
        reports = [await rt.step() for _ in range(turns)]
        return [[e.to_dict() for e in r.events] for r in reports], [r.prose for r in reports], reports

    return asyncio.run(go())


@pytest.fixture(scope="module")
def cross_region_story():
    # synthetic(300, seed=5) has regions that read what another region wrote in the same turn (turn 12)
    return _play(LocalRuntime(synthetic(300, seed=5), SessionSettings(seed=5), OfflineModel()), 13)


@pytest.mark.parametrize("shards", [1, 2, 4, 8])
def test_resolver_shards_on_ray_tell_the_in_process_story(ray_session, cross_region_story, shards):
    # 8 shards for 5 regions: some shards have nothing to settle on some turns and must stay in step
    from novel_engine.runtime.ray.runtime import RayRuntime

    settings = SessionSettings(seed=5, personas_per_actor=150, resolver_shards=shards)
    rt = RayRuntime.create(f"resolve-{shards}", synthetic(300, seed=5), settings, OfflineModel())
    try:
        on_ray = _play(rt, 13)
    finally:
        rt.close()
    assert on_ray[0] == cross_region_story[0]  # every event
    assert on_ray[1] == cross_region_story[1]  # the prose
    # the shards did the regions' work (the director only the central part and the merge)
    assert all(r.timings.get("resolve_shards_cpu", 0.0) > 0.0 for r in on_ray[2])


def test_a_built_in_story_on_resolver_shards_is_unchanged(ray_session):
    from novel_engine.runtime.ray.runtime import RayRuntime

    sc = load_scenario("noir_city")
    local = _play(LocalRuntime(sc, SessionSettings(seed=7), OfflineModel()), 8)
    rt = RayRuntime.create("resolve-noir", sc, SessionSettings(seed=7, resolver_shards=2), OfflineModel())
    try:
        assert _play(rt, 8)[:2] == local[:2]
    finally:
        rt.close()


def test_a_resolver_shard_killed_mid_turn_is_rebuilt_to_the_same_story(story_after_a_fault):
    import ray

    def shard(sid):
        return ray.get_actor(f"ne:{sid}:resolve:0", namespace="novel_engine")

    # one region (a small cast): the heaviest region goes to shard 0, which dies settling turn 3
    story_after_a_fault(
        "resolve-lost",
        lambda sid: ray.get(shard(sid).fail_during.remote(3)),
        check=lambda sid: ray.get(shard(sid).was_restarted.remote()) or pytest.fail("no restart"),
        resolver_shards=2,
    )


def test_trait_updates_reach_the_resolver_shards(ray_session):
    from novel_engine.runtime.ray.runtime import RayRuntime

    sc = synthetic(300, seed=5)
    # everyone turns fierce after turn 2: attacks and their rolls read the new traits on the shards
    fierce = {"aggressiveness": 0.95, "courage": 0.9, "compassion": 0.05}

    def run(rt):
        async def go():
            reports = [await rt.step() for _ in range(2)]
            for p in sc.personas[:120]:
                await rt.update_traits(p.id, fierce)
            reports += [await rt.step() for _ in range(2)]
            return [[e.to_dict() for e in r.events] for r in reports]

        return asyncio.run(go())

    local = run(LocalRuntime(sc, SessionSettings(seed=5), OfflineModel()))
    calm = _play(LocalRuntime(sc, SessionSettings(seed=5), OfflineModel()), 4)[0]
    assert local[2:] != calm[2:]  # the update changes the story
    rt = RayRuntime.create("resolve-traits", sc, SessionSettings(seed=5, resolver_shards=3), OfflineModel())
    try:
        assert run(rt) == local
    finally:
        rt.close()
