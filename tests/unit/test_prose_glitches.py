"""Glitches a reader found in the offline prose, each held down: a storyline that moves to another
place says where; an evaded blow does not send its target away; a fight sought with someone gone
is told as such; no flourish twice in a chapter; cycles are not numbered with ordinals; a chapter
neither moves on twice the same way nor sets a place twice (nor two places in the same words),
nor leads two sentences with the same beat."""

from __future__ import annotations

import random
import re

import pytest

from novel_engine.core.events import Event, Outcome
from novel_engine.llm.offline_prose import narrate
from novel_engine.llm.port import CharacterSketch, NarrationInput
from novel_engine.llm.prose_grammar import STYLES, load_grammar

PEOPLE = {
    "ann": CharacterSketch("ann", "Ann Vale", "A courier."),
    "bob": CharacterSketch("bob", "Bob Marsh", "A smuggler."),
    "cat": CharacterSketch("cat", "Cat Lowe", "A watchwoman."),
}
PLACES = {"hall": ("The Hall", "A long hall."), "yard": ("the Yard", "Cobbles."), "gate": ("the Gate", "Iron.")}


def act(n: int, actor: str, kind: str, where: str, target: str | None = None, outcome=Outcome.SUCCESS, **data):
    return Event(
        f"e0002.{n:06d}", 2, "action", f"{actor} {kind}", actor=actor, action_type=kind, target=target,
        location=where, outcome=outcome, data=data, intensity=0.6,
    )  # fmt: skip


def chapter(events, style="epic_fantasy", seed=1, verbosity=0.7) -> str:
    inp = NarrationInput(2, "T", style, verbosity, ("action", "dialogue"), tuple(events), PEOPLE, PLACES, 0.5)
    return narrate(inp, random.Random(seed))


@pytest.mark.parametrize("style", STYLES)
def test_a_storyline_that_moves_on_names_the_new_place(style):
    # one thread over two places: Ann flees to the gate, Bob hunts her in the yard she left and
    # Cat strikes Bob there; the paragraph opens at the gate, so Bob's deed must say where it is
    events = [
        act(1, "ann", "flee", "gate", "gate", **{"from": "yard"}),
        act(2, "bob", "attack", "yard", "ann", outcome=Outcome.BLOCKED, missing=True),
        act(3, "cat", "attack", "yard", "bob", damage=0.1),
    ]
    for seed in range(8):
        text = chapter(events, style, seed)
        first = next(s for s in re.split(r"(?<=[.!?])\s+", text) if "Bob Marsh" in s)
        assert "Yard" in first, (seed, text)


@pytest.mark.parametrize("style", STYLES)
def test_an_evaded_blow_never_sends_its_target_away(style):
    gone = re.compile(r"no longer there|not there anymore|somewhere else|is gone|hatch seals", re.I)
    for t in load_grammar(style).pools["actions.attack.blocked"]:
        assert not gone.search(t.text), t.text


@pytest.mark.parametrize("style", STYLES)
def test_a_fight_sought_with_someone_gone_is_a_hunt_and_flourishes_do_not_repeat(style):
    hunts = [
        re.compile(".+?".join(map(re.escape, re.split(r"\{\w+\}", t.text)))) for t in load_grammar(style).pools["hunt"]
    ]
    events = [act(1, "bob", "attack", "yard", "ann", outcome=Outcome.BLOCKED, missing=True)]
    assert any(h.search(chapter(events, style)) for h in hunts)
    fight = [
        act(i, a, "attack", "hall", t, damage=0.1)
        for i, (a, t) in enumerate([("ann", "bob"), ("bob", "ann"), ("cat", "bob")] * 3, 1)
    ]
    flourishes = set(load_grammar(style).words("flourish.attack"))
    for seed in range(10):
        text = chapter(fight, style, seed, verbosity=1.0)
        for f in flourishes:
            assert text.count(f) <= 1, (seed, f, text)


def test_cycles_are_not_numbered_with_ordinals():
    for key, pool in load_grammar("sci_fi").pools.items():
        for t in pool:
            assert not re.search(r"Cycle \{nth\}|Cycle \{n\}:", t.text), (key, t.text)


def test_a_template_the_chapters_before_used_is_passed_over_whoever_filled_it():
    pool = load_grammar("sci_fi").pools["actions.move.success"]
    old = pool[: len(pool) // 2]
    fills = {"actor": "Someone Else", "place": "Elsewhere", "origin": "Nowhere", "adverb": "slowly", "manner": "slowly"}
    before = " ".join(t.render(fills) for t in old)
    move = act(1, "ann", "move", "gate", "gate", **{"from": "yard"})
    fresh = 0
    for seed in range(40):
        inp = NarrationInput(2, "T", "sci_fi", 0.0, (), (move,), PEOPLE, PLACES, 0.5, before=before)
        text = narrate(inp, random.Random(seed))
        fresh += not any(t.mark and t.mark in text for t in old)
    assert fresh >= 32, fresh  # without looking at the marks, half the chapters would reuse one


@pytest.mark.parametrize("style", STYLES)
def test_no_template_names_someone_the_grounding_check_would_not_know(style):
    # the offline prose is what a failed model chapter falls back to: it must pass the same check
    from novel_engine.agents.grounding import _COMMON, _TOKEN

    for key, pool in load_grammar(style).pools.items():
        for t in pool:
            for sentence in re.split(r"(?<=[.!?:;])\s+", re.sub(r"\{\w+\}", "x", t.text)):
                first = sentence.split()[0].strip('"*(') if sentence.split() else ""
                unknown = [w for w in _TOKEN.findall(sentence) if w not in _COMMON and not first.startswith(w)]
                assert not unknown, (key, t.text, unknown)


@pytest.mark.parametrize("style", STYLES)
def test_looking_for_someone_gone_never_empties_the_place_or_moves_the_seeker(style):
    # the seeker did not move, and others may be there (the one who attacked the seeker, say)
    wrong = re.compile(
        r"empty (room|deck|station)|room is empty|place empty|finds nobody|storms|arrives|kicks in", re.I
    )
    grammar = load_grammar(style)
    for key in ("hunt", "missing"):
        for t in grammar.pools[key]:
            assert not wrong.search(t.text), (key, t.text)


def _sentence_forms(prose: str) -> list[set[str]]:
    """Each longer narrated sentence of a chapter, whole and without its opening clause ("Two
    blocks over, the clock in the diner..." and "The clock in the diner..." are the same line)."""
    out = []
    for sentence in re.split(r"(?<!Dr\.)(?<=[.!?])\s+", prose):
        s = sentence.strip().lower()
        if len(s) >= 25 and '"' not in s:
            out.append({s, s.split(", ", 1)[1]} if ", " in s else {s})
    return out


# seeds whose stories had both flaws before they were mended (noir_city 5: turns 18 and 19)
@pytest.mark.parametrize(
    ("scenario", "seed"), [("fantasy_world", 2), ("fantasy_world", 6), ("noir_city", 5), ("space_station", 2)]
)
def test_a_chapter_neither_moves_on_twice_alike_nor_says_a_line_twice(scenario, seed):
    from novel_engine.api import Engine

    with Engine("local") as engine:
        reports = engine.create_session(scenario, seed=seed).run(20)
    for r in reports:
        paragraphs = [p for p in r.prose.split("\n\n") if p.strip()][1:]  # after the chapter's opening
        openings = [re.split(r"[,:]", p, maxsplit=1)[0].lower() for p in paragraphs]
        short = [o for o in openings if len(o.split()) <= 5]  # transitions, not whole sentences
        assert len(short) == len(set(short)), (r.turn, short)
        seen: set[str] = set()
        for forms in _sentence_forms(r.prose):
            assert not forms & seen, (r.turn, forms)
            seen |= forms


@pytest.mark.parametrize("style", STYLES)
def test_another_storyline_at_a_place_already_told_is_not_elsewhere(style):
    # Ann searches the yard, then walks to the hall, in one paragraph (it opens in the yard); Bob
    # and Cat, a storyline of their own, are in the hall: their paragraph is not "elsewhere"
    events = [
        act(1, "ann", "search", "yard"),
        act(2, "ann", "move", "hall", "hall", **{"from": "yard"}),
        act(3, "bob", "speak", "hall", "cat"),
        act(4, "cat", "speak", "hall", "bob"),
    ]
    grammar = load_grammar(style)
    openings = {
        t.text.split(",", 1)[0].split(":", 1)[0].split("{", 1)[0].strip().lower()
        for key in ("transition.place", "transition.plain")
        for t in grammar.pools[key]
    }
    for seed in range(8):
        text = chapter(events, style, seed)
        bob = next(p for p in text.split("\n\n") if "Bob Marsh" in p)
        assert not any(bob.lower().startswith(o) for o in openings if o), (seed, text)


@pytest.mark.parametrize("style", STYLES)
def test_a_chapter_leads_with_a_beat_once(style):
    # a busy synthetic chapter leads many sentences and paragraphs with beats ("Then,"); one used
    # twice read "In the same breath, ... In the same breath, ..." (epic_fantasy, 40 personas,
    # seed 0, turn 3)
    from novel_engine.api import Engine
    from novel_engine.scenarios.synthetic import synthetic

    beats = list(load_grammar(style).words("beat"))
    with Engine("local") as engine:
        reports = engine.create_session(synthetic(40, seed=0, style=style), seed=0).run(8)
    led = 0
    for r in reports:
        counts = {b: len(re.findall(rf"(?:^|[.!?\"]\s+){re.escape(b)}", r.prose, re.M)) for b in beats}
        assert all(n <= 1 for n in counts.values()), (r.turn, {b: n for b, n in counts.items() if n > 1})
        led += sum(counts.values())
    assert led >= 8  # the chapters do lead with beats


def test_every_event_of_a_paragraph_is_checked_for_wounds_and_standing_states(monkeypatch):
    # a paragraph tells a wound its bearer still carries, and a danger standing where an event
    # happens, at whichever of its events that is: for a while only its last event was checked
    # (the loop had been cut short), so a wounded first actor went about as if whole
    from novel_engine.llm.prose_standing import StandingWriter

    seen: dict[str, list[str]] = {"wound_of": [], "standing_here": []}
    wound_of, standing_here = StandingWriter.wound_of, StandingWriter.standing_here

    def note_wound(self, event):
        seen["wound_of"].append(event.id)
        return wound_of(self, event)

    def note_standing(self, loc):
        seen["standing_here"].append(loc)
        return standing_here(self, loc)

    monkeypatch.setattr(StandingWriter, "wound_of", note_wound)
    monkeypatch.setattr(StandingWriter, "standing_here", note_standing)
    events = [
        act(1, "ann", "search", "yard"),
        act(2, "ann", "move", "hall", "hall", **{"from": "yard"}),
        act(3, "ann", "search", "hall"),
    ]
    chapter(events, "noir", 3)
    assert seen["wound_of"] == [e.id for e in events]
    assert seen["standing_here"] == ["yard", "hall", "hall"]


@pytest.mark.parametrize("style", STYLES)
def test_a_storyline_at_a_new_place_says_where_whoever_its_first_sentence_opens_with(style):
    # a paragraph moves on to a place the chapter has not told of: it says where, also when its
    # first sentence opens with someone other than the actor ("Mirela twists aside, and the claw
    # of Vharuth misses": fantasy_world, turn 13, told nowhere but the Eastern Tower)
    events = [
        act(1, "ann", "search", "yard"),
        act(2, "bob", "attack", "gate", "cat", outcome=Outcome.FAILURE),
        act(3, "cat", "attack", "gate", "bob", outcome=Outcome.FAILURE),
    ]
    for seed in range(12):
        text = chapter(events, style, seed)
        fight = next(p for p in text.split("\n\n") if "Bob Marsh" in p)
        assert "gate" in fight.lower(), (seed, text)


@pytest.mark.parametrize("style", STYLES)
def test_a_consequence_is_not_joined_to_its_summary_with_and(style):
    # a scenario's effect may be a noun phrase: "What goes around comes around, and a scream and
    # two shots outside the Blue Lantern; ..." (noir_city, turn 2) does not read
    grammar = load_grammar(style)
    for key in ("causal", "world"):
        for t in grammar.pools[key]:
            assert not re.search(r"\band \{summary", t.text), (key, t.text)


@pytest.mark.parametrize("style", STYLES)
def test_no_terms_are_haggled_over_a_blow(style):
    # the director may settle an attack or a capture on modified terms; "There is haggling first,
    # and Ser Aldric Vane must give ground before it is agreed" after Aldric pins the dragon
    # (fantasy_world, turn 16) does not read. A talk settled so still says it.
    grammar = load_grammar(style)
    lines = [t.text.split("{", 1)[0].strip() for t in grammar.pools["negotiation.modified"]]
    lines = [line for line in lines if len(line) > 12]  # the literal openings of those lines

    def told(kind, outcome=Outcome.SUCCESS):
        events = [act(1, "bob", kind, "hall", "ann", outcome=outcome, negotiation="modified")]
        return [chapter(events, style, seed) for seed in range(16)]

    for kind in ("attack", "capture"):
        assert not any(line in text for text in told(kind) for line in lines), kind
    assert any(line in text for text in told("persuade") for line in lines)
