"""Chapters a reader follows: a "previously" line, storylines, repeated beats summed up, large casts
followed through protagonists, and an ending with an epilogue."""

from __future__ import annotations

import asyncio
import random

from novel_engine import Engine
from novel_engine.agents.chronicler import ChroniclerAgent, WorldContext, select_highlights
from novel_engine.core.events import Event, Outcome
from novel_engine.core.world import Location, PersonaState
from novel_engine.llm.offline import OfflineModel
from novel_engine.llm.offline_prose import narrate
from novel_engine.llm.port import CharacterSketch, NarrationInput
from novel_engine.llm.prose_grammar import load_grammar
from novel_engine.scenarios.synthetic import synthetic
from novel_engine.testing.tales import TRAITS, short_tale

PLACES = {
    "hall": Location("hall", "The Hall", "A long hall.", ("yard",)),
    "yard": Location("yard", "The Yard", "Mud.", ("hall",)),
}
PEOPLE = {
    pid: PersonaState(pid, name, "hall", dict(TRAITS))
    for pid, name in (("ann", "Ann Ashe"), ("bo", "Bo Birch"), ("cy", "Cy Cole"), ("di", "Di Dunn"))
}


def act(i, actor, action, target=None, turn=1, location="hall", **kw):
    return Event(
        id=f"e{turn}.{i}",
        turn=turn,
        kind="action",
        summary="x",
        actor=actor,
        action_type=action,
        target=target,
        location=location,
        outcome=kw.pop("outcome", Outcome.SUCCESS),
        **kw,
    )


def chronicle(turns, style="epic_fantasy"):
    agent = ChroniclerAgent(OfflineModel(), style=style, seed=2)
    texts = [
        asyncio.run(agent.create_narrative(events, PEOPLE, WorldContext("T", turn, PLACES, 0.5)))
        for turn, events in enumerate(turns, start=1)
    ]
    return agent, texts


def test_a_chapter_opens_with_what_came_before():
    agent, (one, two) = chronicle(
        [
            [act(1, "ann", "attack", "bo", data={"incapacitated": ["bo"]})],
            [act(1, "cy", "move", "yard", turn=2, location="yard", data={"from": "hall"})],
        ]
    )
    head = two.split("\n\n")[0]
    assert "Ann Ashe" in head and "Bo Birch" in head  # "...Ann Ashe fought Bo Birch, and Bo Birch fell"
    assert "Ann Ashe" not in one.split("\n\n")[0]


def test_paragraphs_follow_storylines_not_places():
    events = [
        act(1, "ann", "speak", "bo"),
        act(2, "cy", "rest"),
        act(3, "bo", "move", "yard", location="yard", data={"from": "hall"}),
        act(4, "bo", "attack", "ann", location="yard"),
    ]
    sketches = {pid: CharacterSketch(pid, p.name) for pid, p in PEOPLE.items()}
    inp = NarrationInput(
        turn=1,
        title="T",
        style="noir",
        verbosity=0.0,
        focus=(),
        events=tuple(events),
        characters=sketches,
        locations={k: (v.name, "") for k, v in PLACES.items()},
        tension=0.5,
    )
    paragraphs = narrate(inp, random.Random(1)).split("\n\n")
    ann_bo = [p for p in paragraphs if "Ann Ashe" in p or "Bo Birch" in p]
    assert len(ann_bo) == 1 and "Cy Cole" not in ann_bo[0]  # one thread across two places; Cy apart


def test_a_beat_told_again_is_summed_up():
    fight = [[act(1, "ann", "attack", "bo", turn=t)] for t in (1, 2, 3, 4)]
    _, texts = chronicle(fight)
    g = load_grammar("epic_fantasy")

    def summed(nth, n):
        return [
            t.render({"actor": "Ann Ashe", "target": "Bo Birch", "place": "the Hall", "nth": nth, "n": n})
            for t in g.pools["repeat.attack"]
        ]

    assert not any(x[:-1] in texts[0] for x in summed("first", "one"))
    assert any(x[:-1] in texts[1] for x in summed("second", "two")), texts[1]
    assert not any(x[:-1] in texts[2] for x in summed("third", "three"))  # a third day of it: untold
    assert "Ann Ashe" not in texts[2].split("\n\n", 1)[1]
    assert any(x[:-1] in texts[3] for x in summed("fourth", "four")), texts[3]


def test_a_large_cast_follows_a_few_protagonists_and_sums_up_the_rest():
    events = [act(i, f"p{i:03d}", "attack", f"p{(i + 1) % 60:03d}", intensity=0.1 + (i % 7) / 10) for i in range(60)]
    told, omitted = select_highlights(events, 12)
    assert omitted == 48 and {"p000", "p001", "p002"} <= {e.actor for e in told}
    session = Engine("local").create_session(synthetic(personas=200, seed=1), seed=1)
    session.run(3)
    # the untold deeds are summed up by kind, in one of the style's wordings ("Among them: 57 fights...")
    openers = {t.split("{names}")[0] for t in load_grammar(session.scenario.style).words("omitted.kinds")}
    assert any(o in session.narrative() for o in openers), openers


ENDING = short_tale()


def test_the_story_ends_with_an_epilogue_when_its_main_goals_are_reached():
    session = Engine("local").create_session(ENDING, seed=3)
    first = session.step({"ann": {"action_type": "rest"}})
    assert not session.finished
    report = session.step({"ann": {"action_type": "speak", "target": "bo"}})
    assert "they_talk" in report.milestones and session.finished
    g = load_grammar("epic_fantasy")
    epilogues = [t.text.format(title="A Short Tale") for t in g.pools["epilogue"]]
    assert any(e in report.prose for e in epilogues)
    assert not any(e in first.prose for e in epilogues)
    assert session.run(5) == [] and session.turn == 2  # a story that has ended plays no more


def test_no_main_goals_never_ends():
    session = Engine("local").create_session(short_tale(main=False), seed=3)
    session.step({"ann": {"action_type": "speak", "target": "bo"}})
    assert not session.finished and len(session.run(3)) == 3


def test_whether_the_story_ended_after_its_own_turn_needs_no_call_for_reports():
    """A session knows the milestones of the turn it just played; asking whether the story ended
    (a Serve GET after every turn) reads no reports from its runtime, which may be a busy host."""
    session = Engine("local").create_session(ENDING, seed=3)
    asked: list[int] = []
    reports = session._rt.reports

    async def counted(after: int = 0, limit: int | None = None):
        asked.append(after)
        return await reports(after, limit)

    session._rt.reports = counted
    session.step({"ann": {"action_type": "rest"}})
    assert not session.finished
    session.step({"ann": {"action_type": "speak", "target": "bo"}})
    assert session.finished and asked == []
    fresh = Engine("local").create_session(ENDING, seed=3)  # a session played elsewhere: asked once
    fresh._rt = session._rt
    assert fresh.finished and asked == [0]
