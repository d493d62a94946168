"""A language model's chapter is checked against the events it was given."""

from __future__ import annotations

import asyncio

from novel_engine.agents.chronicler import ChroniclerAgent, WorldContext
from novel_engine.agents.grounding import check_prose
from novel_engine.core.events import Event, Outcome
from novel_engine.core.world import Location, PersonaState
from novel_engine.llm.port import CharacterSketch, LanguageModel, ModelRequest, ModelResponse, NarrationInput

PLACES = {"tower": ("The Eastern Tower", "A black tower."), "square": ("Harrowmere Square", "Cobbles.")}
PEOPLE = {
    "knight": CharacterSketch("knight", "Ser Aldric Vane"),
    "dragon": CharacterSketch("dragon", "Vharuth"),
    "healer": CharacterSketch("healer", "Wren Ashby", status="incapacitated"),
}


def inp(events, characters=PEOPLE, conditions=()):
    return NarrationInput(
        turn=2,
        title="The Wyrm",
        style="epic_fantasy",
        verbosity=0.6,
        focus=("action",),
        events=tuple(events),
        characters=characters,
        locations=PLACES,
        tension=0.5,
        conditions=conditions,
    )


FIGHT = Event(
    "e2.1",
    2,
    "action",
    "Ser Aldric Vane attacks Vharuth",
    actor="knight",
    action_type="attack",
    target="dragon",
    location="tower",
    outcome=Outcome.SUCCESS,
)


def test_a_retelling_holds():
    assert check_prose("Ser Aldric Vane attacks Vharuth in the Eastern Tower. Vharuth roars.", inp([FIGHT])) == []


def test_an_invented_name_fails():
    got = check_prose("Ser Aldric Vane attacks Vharuth. Lord Morwen watches.", inp([FIGHT]))
    assert got and "Morwen" in got[0]


def test_a_persona_put_where_the_events_did_not_fails():
    got = check_prose("In Harrowmere Square, Ser Aldric Vane draws his sword.", inp([FIGHT]))
    assert got and "Harrowmere Square" in got[0]


def test_a_fallen_persona_acting_fails_and_lying_still_holds():
    down = {"healer": "Wren Ashby"}
    assert check_prose("Wren Ashby strikes the dragon.", inp([FIGHT]), down)
    assert check_prose("Wren Ashby lies still on the stairs.", inp([FIGHT]), down) == []
    up = dict(PEOPLE, healer=CharacterSketch("healer", "Wren Ashby", status="wounded"))
    assert check_prose("Wren Ashby strikes the dragon.", inp([FIGHT], up), down) == []  # helped up this turn


class Liar(LanguageModel):
    name = "liar"

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.seen = request.context
        return ModelResponse(text="Ser Aldric Vane meets Morwen the Grey.", model="liar")


def test_the_chronicler_falls_back_on_ungrounded_prose_and_keeps_standing_conditions():
    model = Liar()
    agent = ChroniclerAgent(model, seed=1)
    world = {"tower": Location("tower", "The Eastern Tower", "A black tower.")}
    knight = PersonaState("knight", "Ser Aldric Vane", "tower", {}, health=0.0)
    dragon = PersonaState("dragon", "Vharuth", "tower", {})
    felled = Event(
        "e1.1",
        1,
        "action",
        "Vharuth attacks Ser Aldric Vane",
        actor="dragon",
        action_type="attack",
        target="knight",
        location="tower",
        outcome=Outcome.SUCCESS,
        data={"incapacitated": ["knight"]},
    )
    people = {"knight": knight, "dragon": dragon}
    text = asyncio.run(agent.create_narrative([felled], people, WorldContext("T", 1, world, 0.5)))
    assert "Morwen" not in text and agent.fallbacks[0].turn == 1 and "Morwen" in agent.fallbacks[0].error
    rest = Event(
        "e2.1",
        2,
        "action",
        "Vharuth rests",
        actor="dragon",
        action_type="rest",
        location="tower",
        outcome=Outcome.SUCCESS,
    )
    asyncio.run(agent.create_narrative([rest], people, WorldContext("T", 2, world, 0.5)))
    assert model.seen.conditions == ("Ser Aldric Vane lies fallen at The Eastern Tower",)
    again = ChroniclerAgent.from_dict(agent.to_dict(), model)  # a restored chronicler knows it too
    asyncio.run(again.create_narrative([rest], people, WorldContext("T", 2, world, 0.5)))
    assert model.seen.conditions == ("Ser Aldric Vane lies fallen at The Eastern Tower",)
