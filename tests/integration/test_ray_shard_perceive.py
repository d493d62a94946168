"""A packed Ray cast perceives in its persona shards: the director sends each shard the turn's
fragments (never perceptions), each shard routes them over its world replica, and the story is
the in-process one whatever the number of shards."""

from __future__ import annotations

import asyncio

import pytest

from novel_engine.config import SessionSettings
from novel_engine.core.fog_of_war import FogOfWarService
from novel_engine.core.perception import Perception
from novel_engine.core.setup import build_world
from novel_engine.llm.offline import OfflineModel
from novel_engine.runtime.local import LocalRuntime
from novel_engine.runtime.sharding import plan_shards
from novel_engine.runtime.turn import LocalCast
from novel_engine.scenarios.synthetic import synthetic


class _Spy:
    """A shard handle that records the arguments of every turn call (``believe_and_decide``,
    ``perceive_ahead``) as ``(method, args)``."""

    def __init__(self, handle, calls: list) -> None:
        self.handle, self.calls = handle, calls

    def __getattr__(self, name):
        method = getattr(self.handle, name)
        if name not in ("believe_and_decide", "perceive_ahead"):
            return method
        spy = self

        class _Method:
            def remote(self, *args):
                spy.calls.append((name, args))
                return method.remote(*args)

        return _Method()


def _perceptions_in(value, ray) -> int:
    """How many perceptions ``value`` holds, however nested (object references read)."""
    if isinstance(value, ray.ObjectRef):
        value = ray.get(value)
    if isinstance(value, Perception):
        return 1
    if isinstance(value, dict):
        return sum(_perceptions_in(v, ray) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(_perceptions_in(v, ray) for v in value)
    return 0


def test_a_packed_cast_sends_its_shards_fragments_not_perceptions(ray_session):
    """The shards route the fragments themselves (in the turn's call, or ahead of it once the turn
    before is resolved) and decide as the in-process cast does."""
    from novel_engine.runtime import wire
    from novel_engine.runtime.ray.actors import PersonaShard
    from novel_engine.runtime.ray.cast import RayCast

    ray = ray_session
    sc = synthetic(personas=150, seed=5)
    world, initial = build_world(sc)
    assert initial
    plan = plan_shards([p.id for p in sc.personas], None, 3)
    assert plan.beliefs_in_persona_shards and len(plan.persona_shards) == 3
    shards = [PersonaShard.options(num_cpus=0).remote(OfflineModel(), 5) for _ in plan.persona_shards]
    packed = wire.pack(world)
    ray.get([s.load.remote(ids, packed, True) for s, ids in zip(shards, plan.persona_shards)])
    calls: list = []
    cast = RayCast(plan, [_Spy(s, calls) for s in shards], (), world)
    local_world = build_world(sc)[0]
    local = LocalCast(local_world, OfflineModel(), 5)
    fog = FogOfWarService(attention=SessionSettings().attention)
    deciders = sorted(pid for pid, p in world.personas.items() if p.can_act)
    try:
        on_ray, _ = asyncio.run(cast.decide(world, initial, fog, 1, deciders, [], {}))
        in_process, _ = asyncio.run(local.decide(local_world, initial, fog, 1, deciders, [], {}))
        assert on_ray == in_process and len(on_ray) == len(deciders)
        assert [name for name, _ in calls] == ["believe_and_decide"] * 3
        for _, args in calls:
            assert _fragments(args[1], ray) == list(initial)
            assert sum(_perceptions_in(a, ray) for a in args) == 0
        # turn 1 resolved (nothing changed): the shards perceive turn 2 ahead, its call has no fragments
        world.turn = local_world.turn = 1
        calls.clear()

        async def ahead_then_decide():
            cast.ahead(world, initial, fog)  # sent from the event loop, once the turn is back
            return await cast.decide(world, initial, fog, 2, deciders, [], {})

        on_ray, _ = asyncio.run(ahead_then_decide())
        in_process, _ = asyncio.run(local.decide(local_world, initial, fog, 2, deciders, [], {}))
        assert on_ray == in_process
        assert [name for name, _ in calls] == ["perceive_ahead"] * 3 + ["believe_and_decide"] * 3
        for name, args in calls:
            assert _fragments(args[1], ray) == (list(initial) if name == "perceive_ahead" else None)
            assert sum(_perceptions_in(a, ray) for a in args) == 0
    finally:
        for s in shards:
            ray.kill(s)


def _fragments(arg, ray):
    return ray.get(arg) if isinstance(arg, ray.ObjectRef) else arg


def _story(rt, turns: int):
    async def go():
        reports = [await rt.step() for _ in range(turns)]
        return [[e.to_dict() for e in r.events] for r in reports], await rt.narrative()

    return asyncio.run(go())


@pytest.mark.parametrize("shards", [1, 2, 4, 8])
def test_the_story_is_the_in_process_one_on_any_number_of_perceiving_shards(ray_session, shards):
    from novel_engine.runtime.ray.runtime import RayRuntime

    sc = synthetic(personas=240, seed=6)
    local = _story(LocalRuntime(sc, SessionSettings(seed=6), OfflineModel()), 4)
    rt = RayRuntime.create(f"perceive-{shards}", sc, SessionSettings(seed=6, persona_shards=shards), OfflineModel())
    try:
        assert len([n for n in rt.names if ":persona:" in n]) == shards
        assert not [n for n in rt.names if ":belief:" in n]  # packed: the beliefs are in the persona shards
        assert _story(rt, 4) == local
    finally:
        rt.close()


def test_trait_updates_after_the_shards_perceived_ahead_reach_them(ray_session):
    """Traits changed between turns, after the shards perceived the next turn ahead, still reach
    the shards before they decide: the story is the in-process one, and not the undisturbed one."""
    from novel_engine.runtime.ray.runtime import RayRuntime

    sc = synthetic(personas=200, seed=8)
    bold = {"aggressiveness": 0.95, "courage": 0.9, "compassion": 0.05}

    def run(rt, update=True):
        async def go():
            reports = [await rt.step() for _ in range(2)]
            for p in sc.personas[:80] if update else ():
                await rt.update_traits(p.id, bold)
            reports += [await rt.step() for _ in range(2)]
            return [[e.to_dict() for e in r.events] for r in reports], await rt.narrative()

        return asyncio.run(go())

    local = run(LocalRuntime(sc, SessionSettings(seed=8), OfflineModel()))
    assert local != run(LocalRuntime(sc, SessionSettings(seed=8), OfflineModel()), update=False)
    rt = RayRuntime.create("perceive-traits", sc, SessionSettings(seed=8, persona_shards=2), OfflineModel())
    try:
        assert run(rt) == local
    finally:
        rt.close()
