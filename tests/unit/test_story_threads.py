"""Threads a reader follows: a sealed place nobody walks into, news that is no danger, a premise's
threat that keeps the opening uneasy, and a story that ends once its threads have closed."""

from __future__ import annotations

import random

from novel_engine.agents.happenings import CENTRAL_PATIENCE
from novel_engine.agents.highlights import THREADS_CLOSED, ends_story
from novel_engine.benchmarks.story_standing import _CALM
from novel_engine.core.briefs import TurnBriefFactory
from novel_engine.core.events import Outcome
from novel_engine.core.scenario import ComplicationSpec
from novel_engine.core.world import CLOSED, DANGER_AT
from novel_engine.llm.offline_prose import narrate
from novel_engine.llm.port import NarrationInput
from tests.unit.test_story_engine import FRAGMENTS, act, director, scenario

SEAL = ComplicationSpec(
    description="The yard gate slams shut behind iron bars.",
    location="yard",
    intensity=0.3,
    effects=[{"kind": "set_fact", "key": "closed:yard", "value": True}],
)


def test_a_place_sealed_this_turn_turns_back_whoever_sets_out_for_it_and_opens_again():
    d, world = director()
    r = d.resolve_turn(world_events=[SEAL], decisions={"ann": act("ann", "move", "yard")})
    move = next(e for e in r.events if e.actor == "ann")
    assert move.outcome is Outcome.BLOCKED and move.data.get("sealed") and "sealed" in move.summary
    assert world.personas["ann"].location == "hall" and world.facts[CLOSED + "yard"] == 1
    brief = TurnBriefFactory().create_personalized_brief("ann", world)
    assert "yard" not in brief.available_actions.get("move", ())  # nobody sets out for it
    for _ in range(3):
        d.resolve_turn(decisions={})
    assert CLOSED + "yard" not in world.facts  # the bars lift
    d.resolve_turn(decisions={"ann": act("ann", "move", "yard")})
    assert world.personas["ann"].location == "yard"


def test_news_is_no_danger_however_strong():
    d, world = director()
    glow = ComplicationSpec(description="A glow under the boards.", location="yard", intensity=0.9, danger=False)
    r = d.resolve_turn(world_events=[glow], decisions={})
    assert DANGER_AT + "yard" not in world.facts and "danger_turns" not in r.events[0].data
    fire = ComplicationSpec(description="Fire in the yard.", location="yard", intensity=0.9)
    d.resolve_turn(world_events=[fire], decisions={})
    assert DANGER_AT + "yard" in world.facts


def test_the_premises_threat_keeps_every_opening_uneasy():
    def opening(peril: bool, seed: int) -> str:
        inp = NarrationInput(
            turn=1,
            title="T",
            style="sci_fi",
            verbosity=0.8,
            focus=(),
            events=(),
            characters={},
            locations={},
            tension=0.1,
            peril=peril,
        )
        return narrate(inp, random.Random(seed))

    assert any(_CALM.search(opening(False, s)) for s in range(40))  # a calm station, with nothing to fear
    assert not any(_CALM.search(opening(True, s)) for s in range(40))


def test_a_story_whose_threads_have_closed_ends():
    comps = [{"description": "A bell rings.", "location": "yard", "intensity": 0.3}]
    d, world = director(scenario(fragments=FRAGMENTS, complications=comps))
    closed = []
    for turn in range(1, 12):
        if turn == 3:
            world.facts["uncovered:ledger"] = True  # the one planted secret is found
        r = d.resolve_turn(decisions={"ann": act("ann", "observe")})
        closed += [turn for m in r.milestones if m == THREADS_CLOSED]
    assert closed == [3]  # the turn the secret is found (the bell has rung by then), and once
    assert ends_story(d.scenario, d.reached, [THREADS_CLOSED])
    d2, world2 = director(scenario(fragments=FRAGMENTS, complications=comps))
    for _ in range(11):  # the secret kept: the story stays open
        r = d2.resolve_turn(decisions={"ann": act("ann", "observe")})
        assert THREADS_CLOSED not in r.milestones


def test_side_threads_closing_do_not_end_a_story_whose_central_threat_stands():
    # fantasy_world seed 7 ended at turn 10 on closed side threads, the dragon awake
    wakes = {"description": "The wyrm wakes.", "location": "yard", "intensity": 0.9, "key": "wyrm_awake", "value": True}
    goals = [{"id": "slay", "description": "The wyrm falls.", "when": {"action_type": "attack", "target": "bob"}}]

    def closing(sleeps: bool) -> list[int]:
        d, world = director(scenario(fragments=FRAGMENTS, complications=[wakes], narrative_goals=goals))
        closed = []
        for turn in range(1, 16):
            if turn == 3:
                world.facts["uncovered:ledger"] = True
            if sleeps and turn == 5:
                world.facts["wyrm_awake"] = False  # the threat is over
            r = d.resolve_turn(decisions={"ann": act("ann", "observe")})
            closed += [turn for m in r.milestones if m == THREADS_CLOSED]
        assert world.facts.get("wyrm_awake") is (not sleeps)
        return closed

    awake = closing(False)
    assert len(awake) == 1 and awake[0] > CENTRAL_PATIENCE  # it ends, but only once long stalled
    asleep = closing(True)
    assert len(asleep) == 1 and asleep[0] < awake[0]
