"""PersonaAgent and PersonaPool: schema-checked decisions, one repair, then a flagged offline fallback."""

from __future__ import annotations

import asyncio
import json

from novel_engine.agents.persona import PersonaAgent, PersonaPool, check_decision
from novel_engine.core.briefs import TurnBriefFactory
from novel_engine.core.events import ActionType, Decision
from novel_engine.core.setup import build_world
from novel_engine.errors import ModelError
from novel_engine.scenarios import load_scenario
from novel_engine.testing import ScriptedModel, SlowModel


def setup(model):
    world, _ = build_world(load_scenario("fantasy_world"))
    pid = sorted(world.personas)[0]
    agent = PersonaAgent(world.personas[pid], model, seed=4)
    brief = TurnBriefFactory().create_personalized_brief(pid, world)
    return world, agent, brief


def test_a_valid_answer_is_used():
    _, agent, brief = setup(None)
    agent.model = ScriptedModel([json.dumps({"action_type": "observe", "rationale": "watchful"})])
    d = asyncio.run(agent.make_decision(brief))
    assert d.action_type is ActionType.OBSERVE and d.rationale == "watchful"
    assert agent.flags == ()


def test_invalid_output_is_repaired_once():
    _, agent, brief = setup(None)
    model = ScriptedModel(["not json at all", json.dumps({"action_type": "rest"})])
    agent.model = model
    d = asyncio.run(agent.make_decision(brief))
    assert d.action_type is ActionType.REST
    assert agent.flags == ("repaired",)
    assert len(model.requests) == 2
    bad, problem = model.requests[1].repair_of
    assert bad == "not json at all" and "Decision schema" in problem


def test_an_impossible_action_is_repaired_then_falls_back_flagged():
    _, agent, brief = setup(None)
    impossible = json.dumps({"action_type": "attack", "target": "nobody_here"})
    agent.model = ScriptedModel([impossible, impossible])
    action = asyncio.run(agent.act(brief))
    assert "fallback" in action.flags and action.origin == "fallback"
    reason = [f for f in action.flags if f.startswith("fallback_reason:")][0]
    assert "attack" in reason and "after repair" in reason
    assert check_decision(brief, Decision(action_type=action.action_type, target=action.target)) is None


def test_a_failing_model_falls_back_without_repair():
    _, agent, brief = setup(None)
    model = ScriptedModel([ModelError("quota exceeded")])
    agent.model = model
    action = asyncio.run(agent.act(brief))
    assert "fallback" in action.flags and len(model.requests) == 1
    assert any("quota exceeded" in f for f in action.flags)


def test_check_decision_explains_what_is_wrong():
    _, _, brief = setup(None)
    assert "not available" in check_decision(
        brief, Decision(action_type=ActionType.ATTACK, target="x")
    ) or "not possible" in check_decision(brief, Decision(action_type=ActionType.ATTACK, target="x"))
    assert "takes no target" in check_decision(brief, Decision(action_type=ActionType.REST, target="dragon"))
    assert check_decision(brief, Decision(action_type=ActionType.REST)) is None


def test_pool_decides_concurrently_so_a_turn_costs_one_latency():
    world, _ = build_world(load_scenario("fantasy_world"))
    model = SlowModel(latency_s=0.05)
    pool = PersonaPool(world.personas.values(), model, seed=1)
    briefs = pool.briefs(world, {})
    actions = asyncio.run(pool.decide(briefs))
    assert set(actions) == {b.agent_id for b in briefs}
    assert model.max_in_flight == len(briefs) > 1  # all calls were in flight together


def test_a_model_with_latency_is_called_as_soon_as_a_chunk_is_briefed_and_tells_the_same_story():
    """The in-process runtime briefs a model with latency chunk by chunk, each chunk's calls going
    out before the next chunk is briefed; the story is the offline model's, byte for byte."""
    from novel_engine.agents.persona import DECIDE_CHUNK
    from novel_engine.api import Engine
    from novel_engine.scenarios import synthetic

    scenario = synthetic(personas=3 * DECIDE_CHUNK + 7, seed=3)
    model = SlowModel(latency_s=0.002)
    session = Engine("local", model=model).create_session(scenario, seed=3)
    pool = session._rt.cast.pool
    calls_when_briefed: list[int] = []
    briefs = pool.briefs

    def spy(world, views, ids=None, new_turn=True):
        calls_when_briefed.append(model.calls)
        return briefs(world, views, ids, new_turn)

    pool.briefs = spy
    reference = Engine("local").create_session(scenario, seed=3)
    for _ in range(3):
        got, want = session.step(), reference.step()
        assert (got.prose, got.events) == (want.prose, want.events)
        assert set(got.timings) >= {"believe", "brief", "decide"}
    # four chunks a turn; a chunk's calls had started when the next chunk was briefed
    first_turn = calls_when_briefed[:4]
    assert len(calls_when_briefed) == 12 and first_turn[0] == 0
    assert all(later > earlier for earlier, later in zip(first_turn, first_turn[1:]))
