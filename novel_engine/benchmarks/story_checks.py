"""An independent reader of a finished story: what a careful reader would object to, counted.

:func:`check_story` replays a story's events over its own copy of the map and the cast (places,
who stands where, who is down) and never asks the engine's coherence engine, so it also catches
what that engine lets through. It takes the scenario, the turns' events, prose and milestones,
and returns :class:`StoryFigures`:

- contradictions, by kind: an act by someone who is down (``incapacitated_actor``), an act away
  from where the actor stands (``misplaced_actor``), an interaction with someone who is not there
  (``absent_target``), a move to a place that is not next door (``non_neighbour_move``), something
  learnt that is not kept where it was found (``remote_knowledge``), a line spoken by someone down
  or away (``absent_speaker``), an event told before its cause (``effect_before_cause``), a
  milestone whose condition does not hold (``milestone_without_content``), a blow at someone already
  down (``attack_on_fallen``), a move into a place sealed (a ``closed:<place>`` fact) in the last
  three turns (``sealed_move``), news the scenario marks ``danger: false`` left standing as a
  danger (``news_as_danger``), a captive who does more than talk, watch or rest before being freed
  or slipping free, stepping into a fight included (``captive_acting``), a fire fought where none burns (``phantom_fire``: none was
  set, it was put out, or it burnt out);
- repeats: a persona doing the same action to the same target as the turn before, without progress
  (a search that finds something, a blow that wounds, help that heals, news not told before); a
  blow after a blow counts whoever it is aimed at (a brawl that rotates its targets);
- long fights: a persona striking someone (anyone) ``LONG_FIGHT`` turns or more running;
- bounces: A, B, A, B in a persona's places;
- planted secrets (private fragments with an owner) uncovered by someone else;
- authored complications fired by the director (events flagged ``pacing``);
- quoted lines in the prose that are verbatim scenario voice lines;
- distinct sentence templates per sentence (names, places and numbers normalised);
- standing conditions the story told (a fall, a place struck by a fire, raid or hazard) that held
  into later chapters, and a wound whose bearer appears in later chapters while still hurt; of
  them, those never mentioned again while they held (``standing_forgotten``);
- sentences of calm (peace, quiet, all systems green) in a chapter while a danger stands, or while
  the scenario's ``peril`` fact holds (``calm_under_threat``): the atmosphere contradicting a threat;
- quoted lines whose "you" or "I" takes a third-person verb (``pronoun_slips``), voice lines quoted
  in a turn their speaker only fought, fled, helped or failed (``voice_misfits``), and the longest
  lull: turns running with no world event and nothing but moves, watching, rest and hiding.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from novel_engine.agents.director import event_matches  # a pattern match, not a coherence verdict
from novel_engine.agents.highlights import THREADS_CLOSED
from novel_engine.benchmarks.story_reader import _MOVES, FactsView, StoryReader
from novel_engine.benchmarks.story_standing import StandingReader, norm_text
from novel_engine.core.causal_effects import condition_holds
from novel_engine.core.events import Event
from novel_engine.core.scenario import Scenario

__all__ = ["StoryFigures", "check_story", "CONTRADICTIONS"]

CONTRADICTIONS = (
    "incapacitated_actor",
    "misplaced_actor",
    "absent_target",
    "non_neighbour_move",
    "remote_knowledge",
    "absent_speaker",
    "effect_before_cause",
    "milestone_without_content",
    "attack_on_fallen",
    "sealed_move",
    "news_as_danger",
    "captive_acting",
    "phantom_fire",
    "held_after_release",
)
LONG_FIGHT = 3  # turns running of blows by one persona that make a long fight
_QUOTE = re.compile(r"[\"“]([^\"”]{6,})[\"”]")
# a sentence ends at a stop (and a closing quote), not at a title's ("Dr. Lin Sato" is one name)
_SENTENCE = re.compile(r"(?<=[.!?…])(?<!\bDr\.)(?<!\bMr\.)(?<!\bMs\.)(?<!\bMrs\.)(?<!\bSt\.)(?<!\bLt\.)[\"”’]?\s+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_SLIP = re.compile(r"\b(?:you|I) (?:is|has|does|(?!always\b|perhaps\b|towards\b|across\b|unless\b)\w{2,}[^s\W]s)\b")
_CALM_ACTS = frozenset({"speak", "persuade", "observe", "investigate", "rest", "move"})
_QUIET_ACTS = frozenset({"move", "observe", "rest", "hide", "flee"})


@dataclass
class StoryFigures:
    """What the checker counted in one story."""

    turns: int = 0
    contradictions: dict[str, int] = field(default_factory=lambda: {k: 0 for k in CONTRADICTIONS})
    examples: list[str] = field(default_factory=list)  # the first few contradictions, in words
    repeat_candidates: int = 0  # persona-turns whose actor also acted the turn before
    repeats: int = 0  # of those, the same action and target without progress (a blow: any target)
    long_fights: int = 0  # runs of LONG_FIGHT or more turns in which one persona strikes someone
    captures: int = 0  # people taken captive
    freed: int = 0  # captives set free by someone
    fires_out: int = 0  # fires put out
    bounces: int = 0
    secrets: int = 0
    secrets_uncovered: int = 0
    complications: int = 0
    complications_fired: int = 0
    quotes: int = 0
    quotes_verbatim: int = 0
    sentences: int = 0
    templates: int = 0
    milestones: int = 0
    milestones_holding: int = 0
    standing: int = 0  # conditions told that held into a later chapter
    standing_forgotten: int = 0  # of them, never mentioned again while they held
    calm_under_threat: int = 0  # calm sentences in chapters while a danger stood
    pronoun_slips: int = 0  # quoted "you knows", "I has": a goal turned to the listener badly
    voice_misfits: int = 0  # a speaker's scenario voice line quoted in a turn it fought, fled or failed
    longest_lull: int = 0  # most turns running with nothing but walking, watching, resting and hiding
    ended: int = 0  # the story ended by itself (an epilogue) before the turns ran out

    def to_dict(self) -> dict[str, Any]:
        """The figures and the ratios derived from them."""
        return {
            **{k: v for k, v in self.__dict__.items()},
            "contradictions_total": sum(self.contradictions.values()),
            **ratios(self),
        }


def ratios(f: StoryFigures) -> dict[str, float | None]:
    """The issue's ratios from raw counts (None when there is nothing to divide by)."""

    def div(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    return {
        "repeat_ratio": div(f.repeats, f.repeat_candidates),
        "secrets_ratio": div(f.secrets_uncovered, f.secrets),
        "complications_ratio": div(f.complications_fired, f.complications),
        "verbatim_quote_ratio": div(f.quotes_verbatim, f.quotes),
        "template_ratio": div(f.templates, f.sentences),
        "milestones_holding_ratio": div(f.milestones_holding, f.milestones),
        "standing_forgotten_ratio": div(f.standing_forgotten, f.standing),
    }


def _progress(ev: Event, told_before: set[tuple[str, str | None, Any]]) -> bool:
    """Whether an act moved its plan on (what makes doing it again reasonable)."""
    d, kind, out = ev.data, ev.action_type, ev.outcome.value
    if kind == "investigate":
        return bool(d.get("found") or d.get("finding"))
    if kind == "attack":
        return bool(d.get("damage"))
    if kind == "help":
        return out in ("success", "partial") and bool(d.get("healed", True))
    if kind == "rest":
        return bool(d.get("healed"))
    if kind in ("speak", "persuade"):
        tells = d.get("tells")
        key = (ev.actor or "", ev.target, tells.get("key") if isinstance(tells, dict) else None)
        new = key[2] is not None and key not in told_before
        told_before.add(key)
        return new or (kind == "persuade" and out == "success")
    return False


def _template(sentence: str, names: Sequence[str]) -> str:
    s = sentence
    for n in names:
        if n and n in s:
            s = s.replace(n, "<N>")
    return _NUMBER.sub("<#>", s).strip().lower()


def _names(scenario: Scenario) -> list[str]:
    """Every persona and place name, and first and last names, longest first (so parts go last)."""
    out: set[str] = set()
    for p in scenario.personas:
        out.add(p.name)
        parts = p.name.split()
        out.update(w for w in parts if len(w) > 2 and w[0].isupper())
    for l in scenario.locations:
        out.add(l.name)
        if l.name.startswith("The "):
            out.add(l.name[4:])
    return sorted(out, key=lambda s: (-len(s), s))


def check_story(scenario: Scenario, turns: Sequence[tuple[Sequence[Event], str, Sequence[str]]]) -> StoryFigures:
    """Read a story and count what a reader would object to.

    Args:
        scenario: the scenario the story was played from.
        turns: each turn's (events in the order told, prose, milestones reached), in turn order.
    Returns:
        The story's :class:`StoryFigures`.
    """
    f = StoryFigures(turns=len(turns))
    reader = StoryReader(scenario, f)
    goals = {g.id: g for g in scenario.narrative_goals}
    last: dict[str, tuple[int, str | None, str | None]] = {}
    blows: dict[str, tuple[int, int]] = {}  # persona -> (last turn it struck someone, turns running)
    places: dict[str, list[str]] = {p.id: [p.location] for p in scenario.personas}
    told_before: set[tuple[str, str | None, Any]] = set()
    owners = {
        fr.id: fr.origin
        for fr in scenario.fragments
        if fr.visibility.value == "private" and fr.origin not in ("world", "")
    }
    uncovered: set[str] = set()
    fired: set[str] = set()
    voice = {norm_text(v) for p in scenario.personas for v in p.voice}
    voice_of = {norm_text(v): p.id for p in scenario.personas for v in p.voice}
    lull = 0
    names = _names(scenario)
    templates: set[str] = set()
    standing = StandingReader(scenario, reader)
    for events, prose, milestones in turns:
        told: set[str] = set()
        down_before = {pid for pid in reader.at if reader.down(pid)}
        for ev in events:
            reader.read(ev, told)
            if "pacing" in ev.flags:
                fired.add(ev.summary)
            if ev.kind != "action" or ev.actor is None:
                continue
            prev = last.get(ev.actor)
            progressed = _progress(ev, told_before)
            if prev is not None and prev[0] == ev.turn - 1:
                f.repeat_candidates += 1
                if prev[1:] == (ev.action_type, ev.target) and not progressed:
                    f.repeats += 1
                elif prev[1] == ev.action_type == "attack" and not progressed:
                    f.repeats += 1  # the same brawl, the blows going to someone else
            last[ev.actor] = (ev.turn, ev.action_type, ev.target)
            if ev.action_type == "attack":
                was, run = blows.get(ev.actor, (-9, 0))
                run = run + 1 if was == ev.turn - 1 else 1 if was != ev.turn else run
                blows[ev.actor] = (ev.turn, run)
                f.long_fights += run == LONG_FIGHT  # counted once, when the run gets long
            f.captures += len(ev.data.get("captured", ()) or ())
            f.freed += len(ev.data.get("freed", ()) or ())
            f.fires_out += bool(ev.data.get("fire_out"))
            if ev.action_type in _MOVES and ev.outcome.value != "blocked" and ev.location:
                trail = places.setdefault(ev.actor, [])
                if not trail or trail[-1] != ev.location:
                    trail.append(ev.location)
            for item in (*(ev.data.get("found", ()) or ()), *(ev.data.get("confided", ()) or ())):
                if item in owners and owners[item] != ev.actor:
                    uncovered.add(item)
        for gid in milestones:
            if gid == THREADS_CLOSED:
                continue  # the director's own verdict, not an authored goal (bench story counts the ending)
            f.milestones += 1
            goal = goals.get(gid)
            hit = (
                goal is not None
                and (goal.when is None or any(event_matches(goal.when, ev) for ev in events))
                and all(condition_holds(c, FactsView(reader)) for c in getattr(goal, "conditions", ()))
            )
            if hit:
                f.milestones_holding += 1
            else:
                reader.flag(
                    "milestone_without_content",
                    events[0] if events else Event("-", 0, "world", gid),
                    f"milestone {gid} has no event or fact behind it",
                )
        calm_actors = {
            ev.actor
            for ev in events
            if ev.actor and ev.action_type in _CALM_ACTS and ev.outcome.value not in ("failure", "blocked")
        }
        for q in _QUOTE.findall(prose):
            f.quotes += 1
            f.quotes_verbatim += norm_text(q) in voice
            f.pronoun_slips += bool(_SLIP.search(q))
            owner = voice_of.get(norm_text(q))
            f.voice_misfits += (
                owner is not None and any(ev.actor == owner for ev in events) and owner not in calm_actors
            )
        quiet = bool(events) and all(ev.kind == "action" and ev.action_type in _QUIET_ACTS for ev in events)
        lull = lull + 1 if quiet else 0
        f.longest_lull = max(f.longest_lull, lull)
        sentences = [s for s in _SENTENCE.split(prose.replace("\n", " ")) if len(s.strip()) > 3]
        for s in sentences:
            f.sentences += 1
            templates.add(_template(s, names))
        if events:
            standing.chapter(events[0].turn, events, prose, sentences, down_before)
    standing.close()
    f.templates = len(templates)
    f.bounces = sum(_bounces(trail) for trail in places.values())
    f.secrets, f.secrets_uncovered = len(owners), len(uncovered)
    f.complications, f.complications_fired = len(scenario.complications), len(fired)
    return f


def _bounces(trail: Sequence[str]) -> int:
    return sum(
        1
        for i in range(len(trail) - 3)
        if trail[i] == trail[i + 2] and trail[i + 1] == trail[i + 3] and trail[i] != trail[i + 1]
    )
