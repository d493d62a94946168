"""bench story's own account of a story's world, read event by event in the order they are told.

:class:`StoryReader` keeps the checker's copy of the map and the cast (who stands where, who is down,
who is held, what burns, which facts hold) and flags each contradiction an event makes against it
(see :mod:`novel_engine.benchmarks.story_checks` for the kinds). It never asks the engine's
coherence engine: the rules are the reader's own, written from the scenario's text and the events.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from novel_engine.agents.perils import CAPTIVE_TURNS, FIRE_TURNS
from novel_engine.core.events import Event
from novel_engine.core.scenario import Scenario
from novel_engine.core.setup import build_world

if TYPE_CHECKING:
    from novel_engine.benchmarks.story_checks import StoryFigures

__all__ = ["StoryReader", "FactsView", "PersonaView"]

_PERSONA_ACTS = frozenset({"attack", "help", "persuade", "speak", "capture"})
_CAPTIVE_ACTS = frozenset({"speak", "persuade", "observe", "rest"})  # and a flight that is an escape
_MOVES = frozenset({"move", "flee"})


class StoryReader:
    """The checker's own account of the world, advanced event by event in the order they are told."""

    def __init__(self, scenario: Scenario, figures: StoryFigures) -> None:
        self.world, _ = build_world(scenario)
        self.neighbours = {l.id: set(l.neighbours) for l in scenario.locations}
        self.at = {p.id: p.location for p in scenario.personas}
        self.health = {p.id: p.health for p in scenario.personas}
        self.kept: dict[str, str | None] = {f.id: f.location for f in scenario.fragments}
        self.facts: dict[str, Any] = dict(scenario.facts)
        self.owner = {f.id: f.origin for f in scenario.fragments}
        self.rules = {r.id: r.then for r in scenario.causal_rules}
        self.complications = {c.description: c for c in scenario.complications}
        self.captive: dict[str, int] = {}  # captive -> the turn they were taken
        self.fires: dict[str, int] = {}  # place -> the turn it caught fire
        self.f = figures

    def down(self, pid: str | None) -> bool:
        return pid is not None and self.health.get(pid, 1.0) <= 0.0

    def flag(self, kind: str, ev: Event, detail: str) -> None:
        self.f.contradictions[kind] += 1
        if len(self.f.examples) < 12:
            self.f.examples.append(f"turn {ev.turn} {ev.id} {kind}: {detail} ({ev.summary})")

    def read(self, ev: Event, told: set[str]) -> None:
        for cause in ev.causes:
            if cause.startswith(f"e{ev.turn:04d}.") and cause not in told:
                self.flag("effect_before_cause", ev, f"cause {cause} is told later")
        told.add(ev.id)
        if ev.kind != "action" or ev.actor is None:
            self._world_effects(ev)
            return
        actor, kind, data = ev.actor, ev.action_type, ev.data
        blocked = ev.outcome.value == "blocked"
        if self.down(actor) and "cannot" not in ev.summary:
            self.flag("incapacitated_actor", ev, f"{actor} is down")
        start = data.get("from", ev.location) if kind in _MOVES else ev.location
        if start != self.at.get(actor):
            self.flag("misplaced_actor", ev, f"{actor} is at {self.at.get(actor)}, acts at {start}")
        if (
            kind in _MOVES
            and ev.target is not None
            and ev.target != start
            and ev.target not in self.neighbours.get(start, ())
        ):
            self.flag("non_neighbour_move", ev, f"{start} -> {ev.target}")
        target = ev.target if kind in _PERSONA_ACTS else None
        if target is not None and not data.get("missing") and self.at.get(target) != self.at.get(actor):
            self.flag("absent_target", ev, f"{target} is at {self.at.get(target)}, not {self.at.get(actor)}")
        if kind == "attack" and target is not None and self.down(target) and not data.get("missing"):
            self.flag("attack_on_fallen", ev, f"{target} is already down")
        if kind in _MOVES and not blocked and self.facts.get("closed:" + str(ev.location)) is not None:
            if ev.turn - int(self.facts["closed:" + str(ev.location)]) < 3:
                self.flag(
                    "sealed_move", ev, f"{ev.location} was sealed on turn {self.facts['closed:' + str(ev.location)]}"
                )
        self._perils(ev, actor, kind, blocked)
        if ev.dialogue and self.down(actor):
            self.flag("absent_speaker", ev, f"{actor} speaks while down")
        if data.get("reply") and target is not None and (self.down(target) or self.at.get(target) != start):
            self.flag("absent_speaker", ev, f"{target} replies from away or while down")
        self._knowledge(ev)
        # effects
        if kind in _MOVES and not blocked and ev.location:
            self.at[actor] = ev.location
        if "damage" in data and target is not None:
            self.health[target] = self.health.get(target, 1.0) - float(data["damage"])
        for victim in data.get("incapacitated", ()):
            self.health[victim] = 0.0
        if kind == "help" and target is not None and ev.outcome.value in ("success", "partial"):
            self.health[target] = max(self.health.get(target, 1.0), 0.0) + (
                0.3 if ev.outcome.value == "success" else 0.15
            )
        if kind == "rest":
            self.health[actor] = min(1.0, self.health.get(actor, 1.0) + 0.15)

    def _perils(self, ev: Event, actor: str, kind: str | None, blocked: bool) -> None:
        """Captives and fires, on the reader's own clock: a captive acting, a fire that is not there."""
        for pid, since in list(self.captive.items()):
            if ev.turn - since >= CAPTIVE_TURNS:
                del self.captive[pid]  # slipped free
        for place, since in list(self.fires.items()):
            if ev.turn - since >= FIRE_TURNS:
                del self.fires[place]  # burnt out
        escape = kind == "flee" and (ev.data.get("escaped") or ev.outcome.value == "failure")
        if actor in self.captive and kind not in _CAPTIVE_ACTS and not escape and not blocked:
            self.flag("captive_acting", ev, f"{actor} is held captive")
        for helper in ev.data.get("counter_by", ()) or ():  # stepping into a fight is acting too
            if helper in self.captive and helper not in (actor, ev.target):
                self.flag("captive_acting", ev, f"{helper} steps in while held captive")
        if kind == "fight_fire" and not blocked and str(ev.location) not in self.fires:
            self.flag("phantom_fire", ev, f"no fire burns at {ev.location}")
        data = ev.data
        for pid in data.get("captured", ()) or ():
            self.captive[pid] = ev.turn
        for pid in (*(data.get("freed", ()) or ()), *(data.get("escaped", ()) or ())):
            self.captive.pop(pid, None)
        if data.get("fire_out"):
            self.fires.pop(str(data["fire_out"]), None)

    def _world_effects(self, ev: Event) -> None:
        """The facts and places a world or causal event changes, read from the scenario's own text."""
        spec = self.rules.get(ev.data.get("rule_id")) if ev.kind == "causal" else self.complications.get(ev.summary)
        if spec is None:
            return
        if spec.key:
            self.facts[spec.key] = spec.value
        if ev.data.get("fire") and ev.location:
            self.fires[ev.location] = ev.turn
        if getattr(spec, "danger", None) is False and ev.data.get("danger_turns"):
            self.flag("news_as_danger", ev, "news the scenario says is no danger")
        for eff in spec.effects:
            if eff.kind == "set_fact" and eff.key and eff.key.startswith("closed:"):
                self.facts[eff.key] = ev.turn  # sealed this turn (the reader's own clock)
            elif eff.kind == "set_fact" and eff.key:
                self.facts[eff.key] = eff.value
            elif eff.kind == "move" and eff.target in self.at and eff.value in self.neighbours:
                self.at[eff.target] = str(eff.value)
            elif eff.kind == "wound" and eff.target in self.health:
                self.health[eff.target] -= float(eff.value) if isinstance(eff.value, (int, float)) else 0.35
            elif eff.kind == "heal" and eff.target in self.health:
                self.health[eff.target] += float(eff.value) if isinstance(eff.value, (int, float)) else 0.3

    def _knowledge(self, ev: Event) -> None:
        finding = str(ev.data.get("finding", ""))
        if "signs that" in finding.lower():  # a trail: where someone is now, read from afar
            for part in finding.split(";"):
                m = re.search(r"signs that (.+) is at (.+)", part.strip(), re.I)
                if m and m.group(2).strip() != self._place_name(ev.location):
                    self.flag("remote_knowledge", ev, part.strip())
        for item in ev.data.get("confided", ()) or ():
            self.facts[f"uncovered:{item}"] = True
            if self.owner.get(item) != ev.target:
                self.flag("remote_knowledge", ev, f"{item} is not {ev.target}'s to confide")
        for item in ev.data.get("found", ()) or ():
            self.facts[f"uncovered:{item}"] = True
            where = self.kept.get(item) if not str(item).startswith("clue:") else str(item).split(":")[1]
            if item in self.kept or str(item).startswith("clue:"):
                if where not in (None, ev.location):
                    self.flag("remote_knowledge", ev, f"{item} is kept at {where}")

    def _place_name(self, loc: str | None) -> str:
        l = self.world.locations.get(loc or "")
        name = l.name if l else ""
        return "the" + name[3:] if name.startswith("The ") else name


class FactsView:
    """A world-like object for :func:`condition_holds`: facts the turn's events set, places and health as read."""

    def __init__(self, reader: StoryReader) -> None:
        self.facts = reader.facts
        self.personas = PersonaView(reader)


class PersonaView(Mapping):
    """The cast as the reader reads it, by id: each persona with its place and status (for conditions)."""

    def __init__(self, reader: StoryReader) -> None:
        self.r = reader

    def __getitem__(self, pid: str) -> Any:
        if pid not in self.r.at:
            raise KeyError(pid)
        h = self.r.health.get(pid, 1.0)
        return type(
            "P",
            (),
            {"status": "incapacitated" if h <= 0 else "wounded" if h < 0.6 else "active", "location": self.r.at[pid]},
        )()

    def __iter__(self):
        return iter(self.r.at)

    def __len__(self) -> int:
        return len(self.r.at)
