"""ChroniclerAgent: highlights, the model call, the offline fallback, chapters and state."""

from __future__ import annotations

import asyncio
import json

import pytest

from novel_engine.agents.chronicler import ChroniclerAgent, NarrationFallback, WorldContext, select_highlights
from novel_engine.core.events import Event, Outcome
from novel_engine.core.rng import RandomStreams
from novel_engine.core.world import Location, PersonaState
from novel_engine.errors import ConfigError, ModelError, NovelEngineError
from novel_engine.llm.offline_prose import narrate
from novel_engine.llm.port import CharacterSketch, LanguageModel, ModelRequest, ModelResponse, NarrationInput


class OfflineDouble(LanguageModel):
    """Narrates exactly as the offline model will: the grammar, on the request's random stream."""

    name = "offline-double"

    def __init__(self) -> None:
        self.requests: list[ModelRequest] = []

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        rng = RandomStreams(request.seed).stream(request.turn, "chronicler", "narrate")
        return ModelResponse(text=narrate(request.context, rng), model=self.name)


class FailingModel(LanguageModel):
    name = "failing"

    def __init__(self) -> None:
        self.calls = 0

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.calls += 1
        raise ModelError("quota exhausted", model=self.name)


class CannedModel(LanguageModel):
    name = "canned"

    def __init__(self, text: str) -> None:
        self.text = text

    async def complete(self, request: ModelRequest) -> ModelResponse:
        return ModelResponse(text=self.text, model=self.name)


LOCATIONS = {
    "tavern": Location("tavern", "The Crimson Tavern", "A low, smoky hall.", ("gate",)),
    "gate": Location("gate", "the North Gate", "Old stone.", ("tavern",)),
    "far": Location("far", "the Far Isle", "Nobody goes there.", ()),
}
PEOPLE = {
    "aldric": PersonaState(
        "aldric",
        "Aldric",
        "tavern",
        {"courage": 0.9},
        description="A disgraced knight.",
        voice=("By the old oaths!",),
        health=0.5,
    ),
    "brom": PersonaState("brom", "Brom", "tavern", {"courage": 0.2}),
    "sera": CharacterSketch("sera", "Sera", "A hedge-witch."),
    "nobody": PersonaState("nobody", "Nobody", "far", {}),
}


def ctx(turn: int = 1, tension: float = 0.5, title: str = "The Drowned King") -> WorldContext:
    return WorldContext(title=title, turn=turn, locations=LOCATIONS, tension=tension)


def turn_events(turn: int = 1) -> list[Event]:
    return [
        Event(
            f"t{turn}-a",
            turn,
            "action",
            "Aldric goes to the tavern",
            actor="aldric",
            action_type="move",
            target="tavern",
            location="tavern",
            outcome=Outcome.SUCCESS,
            data={"from": "gate"},
            intensity=0.2,
        ),
        Event(
            f"t{turn}-b",
            turn,
            "action",
            "Aldric attacks Brom",
            actor="aldric",
            action_type="attack",
            target="brom",
            location="tavern",
            outcome=Outcome.PARTIAL,
            dialogue="Yield!",
            intensity=0.7,
        ),
        Event(
            f"t{turn}-c",
            turn,
            "action",
            "Sera helps Brom",
            actor="sera",
            action_type="help",
            target="brom",
            location="tavern",
            outcome=Outcome.SUCCESS,
            intensity=0.3,
        ),
    ]


def run(coro):
    return asyncio.run(coro)


def test_narrates_through_the_model_with_only_what_the_events_mention():
    model = OfflineDouble()
    agent = ChroniclerAgent(model, seed=42, style="noir", verbosity=0.4, focus_areas=("dialogue",))
    text = run(agent.create_narrative(turn_events(), PEOPLE, ctx(turn=3)))
    (req,) = model.requests
    assert (req.purpose, req.seed, req.turn, req.agent, req.schema) == ("narrate", 42, 3, "chronicler", None)
    inp = req.context
    assert isinstance(inp, NarrationInput)
    assert (inp.style, inp.verbosity, inp.focus, inp.title, inp.omitted) == (
        "noir",
        0.4,
        ("dialogue",),
        "The Drowned King",
        0,
    )
    assert set(inp.characters) == {"aldric", "brom", "sera"}  # "nobody" is not mentioned
    aldric = inp.characters["aldric"]
    assert isinstance(aldric, CharacterSketch) and aldric.status == "wounded" and aldric.voice == ("By the old oaths!",)
    assert inp.locations == {
        "tavern": ("The Crimson Tavern", "A low, smoky hall."),
        "gate": ("the North Gate", "Old stone."),
    }
    assert "Aldric" in text and '"Yield!"' in text
    assert agent.chapters() == [(3, text)] and agent.fallbacks == []


def test_the_same_seed_tells_the_same_story_and_another_seed_another():
    def tell(seed: int) -> str:
        agent = ChroniclerAgent(OfflineDouble(), seed=seed)
        for turn in (1, 2):
            run(agent.create_narrative(turn_events(turn), PEOPLE, ctx(turn)))
        return agent.narrative()

    assert tell(5) == tell(5)
    assert tell(5) != tell(6)


def test_model_failure_falls_back_to_the_offline_prose():
    failing, offline = FailingModel(), OfflineDouble()
    text = run(ChroniclerAgent(failing, seed=9).create_narrative(turn_events(), PEOPLE, ctx(turn=2)))
    agent = ChroniclerAgent(failing, seed=9)
    assert run(agent.create_narrative(turn_events(), PEOPLE, ctx(turn=2))) == text
    # the fallback draws from the very stream the offline model uses: same prose, story completes
    assert text == run(ChroniclerAgent(offline, seed=9).create_narrative(turn_events(), PEOPLE, ctx(turn=2)))
    assert agent.fallbacks == [NarrationFallback(2, "ModelError: quota exhausted")]
    assert agent.chapters() == [(2, text)]


def test_empty_prose_from_a_model_also_falls_back():
    agent = ChroniclerAgent(CannedModel("   "), seed=1)
    text = run(agent.create_narrative(turn_events(), PEOPLE, ctx()))
    assert "Aldric" in text and len(agent.fallbacks) == 1


def test_model_prose_is_kept_as_written():
    agent = ChroniclerAgent(CannedModel("  The rain fell on everyone.\n"))
    assert run(agent.create_narrative(turn_events(), PEOPLE, ctx())) == "The rain fell on everyone."


def test_a_quiet_turn_gets_a_quiet_line_without_calling_the_model():
    model = FailingModel()
    agent = ChroniclerAgent(model)
    text = run(agent.create_narrative([], PEOPLE, ctx(turn=4)))
    assert text and "{" not in text and model.calls == 0 and agent.fallbacks == []
    assert agent.chapters() == [(4, text)]


def test_retrying_a_turn_replaces_its_chapter_and_its_fallback_record():
    agent = ChroniclerAgent(FailingModel())
    run(agent.create_narrative(turn_events(), PEOPLE, ctx(turn=1)))
    assert len(agent.fallbacks) == 1
    agent.model = CannedModel("Second telling.")
    run(agent.create_narrative(turn_events(), PEOPLE, ctx(turn=1)))
    assert agent.chapters() == [(1, "Second telling.")] and agent.fallbacks == []


# --- highlights -----------------------------------------------------------------------------------


def _crowd(n: int = 40) -> list[Event]:
    out = []
    for i in range(n):
        flags = ("player",) if i == 3 else ()
        out.append(
            Event(
                f"e{i:03d}",
                1,
                "action",
                f"P{i} rests",
                actor=f"p{i}",
                action_type="rest",
                location="tavern",
                intensity=(i * 7 % 40) / 40,
                flags=flags,
            )
        )
    return out


def test_highlights_keep_player_events_the_protagonists_and_the_most_intense_in_original_order():
    events = _crowd()
    chosen, omitted = select_highlights(events, 12)
    assert len(chosen) == 12 and omitted == 28
    ids = [e.id for e in chosen]
    assert "e003" in ids  # a player event, intensity 0.525, not among the 12 most intense: kept anyway
    heroes = {"e000", "e001", "e010"}  # the protagonists' (the smallest actor ids: p0, p1, p10)
    others = sorted((e for e in events if e.id not in {"e003", *heroes}), key=lambda e: (-e.intensity, e.id))[:8]
    assert set(ids) == {"e003", *heroes, *(e.id for e in others)}
    assert ids == sorted(ids)  # told in the order they happened


def test_highlights_use_the_impact_function_and_break_ties_by_id():
    events = _crowd(10)
    chosen, omitted = select_highlights(list(reversed(events)), 3, impact=lambda e: 1.0)
    assert omitted == 7
    assert {e.id for e in chosen} == {"e003", "e000", "e001"}  # player event, then ids in order


def test_small_turns_are_told_whole():
    events = _crowd(5)
    assert select_highlights(events, 12) == (events, 0)


def test_a_large_turn_is_told_in_part_and_the_rest_acknowledged():
    model = OfflineDouble()
    agent = ChroniclerAgent(model, highlight_limit=12)
    people = {f"p{i}": CharacterSketch(f"p{i}", f"Person {i}") for i in range(40)}
    text = run(agent.create_narrative(_crowd(), people, ctx()))
    inp = model.requests[0].context
    assert len(inp.events) == 12 and inp.omitted == 28 and len(inp.characters) == 12
    assert "twenty-eight" in text or "28" in text


# --- the story ------------------------------------------------------------------------------------


def test_chapters_narrative_and_markdown_export():
    agent = ChroniclerAgent(OfflineDouble(), title="")
    for turn in (2, 1):
        run(agent.create_narrative(turn_events(turn), PEOPLE, ctx(turn)))
    (t1, one), (t2, two) = agent.chapters()
    assert (t1, t2) == (1, 2)
    assert agent.narrative() == f"{one}\n\n{two}"
    assert agent.title == "The Drowned King"  # taken from the world context
    agent.set_chapter_title(2, "The Reckoning")
    md = agent.export_markdown()
    assert md.startswith("# The Drowned King\n\n## Turn 1\n\n")
    assert f"## The Reckoning\n\n{two}\n" in md
    assert md.index("## Turn 1") < md.index("## The Reckoning")


def test_state_round_trips_through_json():
    agent = ChroniclerAgent(
        FailingModel(),
        style="sci_fi",
        verbosity=0.3,
        focus_areas=("atmosphere",),
        seed=77,
        highlight_limit=5,
        title="Deep Station",
    )
    run(agent.create_narrative(turn_events(1), PEOPLE, ctx(1)))
    agent.set_chapter_title(1, "Arrival")
    state = json.loads(json.dumps(agent.to_dict()))
    model = OfflineDouble()
    again = ChroniclerAgent.from_dict(state, model)
    assert again.model is model
    assert again.to_dict() == agent.to_dict()
    assert again.export_markdown() == agent.export_markdown()
    assert (again.style, again.verbosity, again.focus_areas, again.seed, again.highlight_limit) == (
        "sci_fi",
        0.3,
        ("atmosphere",),
        77,
        5,
    )
    assert again.fallbacks == agent.fallbacks


def test_from_dict_rejects_what_is_not_a_chronicler_state():
    with pytest.raises(NovelEngineError, match="not a chronicler state"):
        ChroniclerAgent.from_dict({"chapters": [{"text": "no turn"}]}, OfflineDouble())
    with pytest.raises(ConfigError, match="style"):
        ChroniclerAgent.from_dict({"style": "western"}, OfflineDouble())


@pytest.mark.parametrize(
    "kwargs, setting",
    [
        ({"style": "western"}, "style"),
        ({"verbosity": 1.5}, "verbosity"),
        ({"verbosity": -0.1}, "verbosity"),
        ({"verbosity": "high"}, "verbosity"),
        ({"verbosity": True}, "verbosity"),
        ({"verbosity": float("nan")}, "verbosity"),
        ({"focus_areas": ("action", "plot")}, "focus"),
        ({"focus_areas": "action"}, "focus_areas"),
        ({"highlight_limit": 0}, "highlight_limit"),
    ],
)
def test_bad_settings_are_clear_errors(kwargs, setting):
    with pytest.raises(ConfigError) as info:
        ChroniclerAgent(OfflineDouble(), **kwargs)
    assert isinstance(info.value, NovelEngineError)
    assert setting in str(info.value)
