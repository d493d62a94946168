"""What happens to the world besides the personas' acts, and the story's pace.

:class:`Happenings` is the part of the :class:`~novel_engine.agents.director.DirectorAgent` that
makes world events happen (a user's, a due causal effect, a complication the pacing fires), applies
their effects, keeps dangers standing for a while, and measures the tension: unresolved threats
and the protagonists' states as well as the events' intensity.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any

from novel_engine.agents.highlights import THREADS_CLOSED, main_goals
from novel_engine.agents.perils import FIRE_TURNS, captor_kind, expire_perils, is_fire, start_fire
from novel_engine.core.events import (
    Event,
    InformationFragment,
    Outcome,
    SourceType,
    WorldEventSpec,
)
from novel_engine.core.scenario import ComplicationSpec, Scenario
from novel_engine.core.world import (
    CAPTIVE,
    CLOSED,
    DANGER_AT,
    FALLEN,
    FIRE_AT,
    GOALS_DONE,
    HELD_SINCE,
    MUSTER_AT,
    Relationship,
    goal_met,
)

__all__ = ["Happenings"]

CALM_TENSION = 0.25  # below this for CALM_TURNS turns running, the director injects a complication
CALM_TURNS = 2
STALL_TURNS = 2  # turns after the last milestone or complication before the next complication
# while the premise's threat stands (the wyrm awake) and a main goal is unreached, the side threads
# closing does not end the story; after this many turns without a milestone it ends all the same
CENTRAL_PATIENCE = 6
_STANDING = (DANGER_AT, CLOSED, MUSTER_AT, FALLEN, CAPTIVE, FIRE_AT)  # what keeps a story open while it stands
_QUIET = frozenset({"move", "observe", "rest", "hide", "flee"})  # acts that move no story on
_COMPLICATION_TURN = "complication_turn"  # fact: the turn the director last fired a complication

DANGER_INTENSITY, DANGER_TURNS = 0.6, 3  # a world event this strong leaves its place dangerous for a while


class Happenings:
    """World events, pacing and tension. A mixin of ``DirectorAgent``: it reads and writes the
    director's ``world``, ``scenario``, ``streams``, tension history, complications and dangers."""

    def _expire_dangers(self, turn: int, prefix: str, events: list[Event]) -> None:
        """Dangers (fires, raids) burn for ``DANGER_TURNS`` turns, then die down; a place sealed
        (``closed:<place>``) opens again as long after; a fire burns until it is put out or burns out,
        a captive is held until freed or they slip free (see :mod:`novel_engine.agents.perils`). A fire
        that burns out and a captive let go when the bonds give are events (``expired``), so they are told."""
        facts = self.world.facts
        if not self._dangers_possible():
            return
        for what, who, captor in expire_perils(facts, turn):
            self._expired(what, who, captor, turn, f"{prefix}{len(events) + 1:06d}", events)
        for key in [
            k
            for k, v in facts.items()
            if k.startswith((DANGER_AT, CLOSED))
            and isinstance(v, int)
            and turn - v >= DANGER_TURNS
            and FIRE_AT + k[len(DANGER_AT) :] not in facts
        ]:
            del facts[key]

    def _expired(self, what: str, who: str, captor: str | None, turn: int, event_id: str, events: list) -> None:
        """The event of a fire that burnt out (``who``: its place) or a captive the bonds let go."""
        world = self.world
        if what == "fire":
            if who not in world.locations:
                return
            summary = f"The fire in {world.locations[who].name} burns itself out"
            data: dict[str, Any] = {"expired": "fire", "fire_out": who}
            where, people = who, ()
        else:
            p = world.personas.get(who)
            if p is None:
                return
            summary = f"The bonds holding {p.name} give at last"
            data = {"expired": "captive", "freed": [who], "captor_kind": captor_kind(world, captor)}
            where, people = p.location, (who,)
        events.append(
            Event(
                id=event_id,
                turn=turn,
                kind="world",
                summary=summary,
                location=where,
                participants=people,
                intensity=0.3,
                data=data,
            )
        )

    def _dangers_possible(self) -> bool:
        # scanning every fact each turn costs in a large world: only when a danger was ever set
        if not self._any_danger:
            self._any_danger = any(k.startswith((DANGER_AT, CLOSED, HELD_SINCE)) for k in self.world.facts)
        return self._any_danger

    def _happen(
        self,
        spec: ComplicationSpec | WorldEventSpec,
        kind: str,
        event_id: str,
        turn: int,
        causes: tuple[str, ...],
        events: list[Event],
        fragments: list[InformationFragment],
        flags: tuple[str, ...] = (),
        data: dict[str, Any] | None = None,
    ) -> None:
        """Record a world or causal event, apply its effects and leave a fragment of it."""
        world = self.world
        location = spec.location if spec.location in world.locations else None
        data = dict(data or {})
        orders = [e.value for e in spec.effects if e.key == MUSTER_AT]
        danger = getattr(spec, "danger", None)  # a WorldEventSpec has none: its strength decides
        dangerous = spec.intensity >= DANGER_INTENSITY if danger is None else danger
        if location is not None and dangerous and not orders:  # an order is no danger
            world.facts[DANGER_AT + location] = turn  # a standing danger there for DANGER_TURNS turns
            data["danger_turns"] = DANGER_TURNS  # the event says what it leaves standing, for the telling
            if is_fire(getattr(spec, "kind", None), spec.key):  # burns until put out (or burnt out)
                start_fire(world.facts, location, spec.key)
                data["fire"], data["danger_turns"] = True, FIRE_TURNS
        if orders and isinstance(orders[-1], str) and orders[-1] in world.locations:
            data["muster_at"] = orders[-1]
        ev = Event(
            id=event_id,
            turn=turn,
            kind=kind,
            summary=spec.description,
            location=location,
            participants=tuple(s for s in spec.subjects if s in world.personas),
            causes=causes,
            intensity=spec.intensity,
            flags=flags,
            data=data,
        )
        for eff in spec.effects:
            self._effect(eff)
        if spec.key:
            world.facts[spec.key] = spec.value
        events.append(ev)
        fragments.append(
            InformationFragment(
                id=f"ev:{event_id}",
                content=spec.description,
                source_type=SourceType.BROADCAST
                if spec.visibility.value == "public"
                else SourceType.DIRECT_OBSERVATION,
                reliability=0.95,
                location=location,
                turn=turn,
                subjects=tuple(spec.subjects),
                visibility=spec.visibility,
                origin="world",
                key=spec.key or f"event:{kind}",
                value=spec.value if spec.key else spec.description,
                valence=-0.6 * spec.intensity,
                salience=max(0.5, spec.intensity),
                reach=1,
            )
        )

    def _effect(self, eff) -> None:
        world = self.world
        p = world.personas.get(eff.target or "")
        if eff.kind == "set_fact" and eff.key:
            # a place sealed keeps the turn it was sealed, so that it opens again in time
            world.facts[eff.key] = world.turn + 1 if eff.key.startswith(CLOSED) and eff.value is True else eff.value
        elif eff.kind == "wound" and p is not None:
            p.health = max(0.0, p.health - float(eff.value if isinstance(eff.value, (int, float)) else 0.35))
            self._mark_fallen(p)
        elif eff.kind == "heal" and p is not None:
            p.health = min(1.0, p.health + float(eff.value if isinstance(eff.value, (int, float)) else 0.3))
            self._mark_fallen(p)
        elif eff.kind == "move" and p is not None and eff.value in world.locations:
            world.move(p.id, str(eff.value))
        elif eff.kind == "relationship" and eff.target and "->" in eff.target:
            a, b = eff.target.split("->", 1)
            if a in world.personas and b in world.personas and isinstance(eff.value, (int, float)):
                world.personas[a].relationships.setdefault(b, Relationship()).shift(eff.value, eff.value)
        elif eff.kind == "tension" and isinstance(eff.value, (int, float)):
            self._boost += float(eff.value)

    def _pacing(self, turn: int) -> ComplicationSpec | None:
        """An unused authored complication when the story stalls: tension under ``CALM_TENSION`` for
        ``CALM_TURNS`` turns, or ``STALL_TURNS`` turns with no milestone reached and no complication."""
        comps = self.scenario.complications
        if not comps:
            return None
        recent = self.tension_history[-CALM_TURNS:]
        calm = len(recent) >= CALM_TURNS and max(recent) < CALM_TENSION
        last = max([0, *self.reached.values()], default=0)
        fired = self.world.facts.get(_COMPLICATION_TURN, 0)
        last = max(last, fired if isinstance(fired, int) else 0)
        if not calm and turn - last <= STALL_TURNS and not self._lull(turn):
            return None
        unused = [i for i in range(len(comps)) if i not in self.complications_used]
        if not unused:
            return None
        i = self.streams.choice(unused, turn, "director", "complication")
        self.complications_used.add(i)
        return comps[i]

    def _lull(self, turn: int) -> bool:
        """Whether the last ``STALL_TURNS`` turns were all watching, walking and resting: however
        tense the story, nothing moved it (``recent`` holds the last turns' acts)."""
        quiet = [e for e in self.recent if e.turn >= turn - STALL_TURNS]
        return len({e.turn for e in quiet}) == STALL_TURNS and all(
            getattr(e.action_type, "value", e.action_type) in _QUIET or e.outcome.value == "blocked" for e in quiet
        )

    def _goals_met(self, ev: Event) -> None:
        """Mark the actor's goals this act fulfilled (fact ``goals_done:<persona>``: their indices)."""
        p = self.world.personas[ev.actor]  # type: ignore[index]
        if not p.goals or ev.outcome is Outcome.BLOCKED or ev.outcome is Outcome.FAILURE:
            return
        key = GOALS_DONE + p.id
        done = self.world.facts.get(key, "")
        met = [str(i) for i, g in enumerate(p.goals) if goal_met(g, ev, p, self.world)]
        if met:
            old = done.split(",") if done else []
            new = sorted(set(old).union(met), key=int)
            if new != old:
                self.world.facts[key] = ",".join(new)

    def _mark_fallen(self, p) -> None:
        """Keep ``fallen:<persona>`` (where they lie) in step with their health: consequences persist."""
        key = FALLEN + p.id
        if p.health <= 0.0:
            if key not in self.world.facts:
                self.world.facts[key] = p.location
        elif key in self.world.facts:
            del self.world.facts[key]

    def _close_threads(self, turn: int, milestones: list[str], events: Sequence[Event]) -> None:
        """Add ``THREADS_CLOSED`` to the turn's milestones (once) when the story has nothing left
        open: every planted secret uncovered, every authored complication spent, nothing standing
        (no danger, sealed place, order or fallen persona), no blow struck this turn and no
        milestone for ``STALL_TURNS`` turns, and the central conflict over (see :meth:`_central_open`) or
        stalled for ``CENTRAL_PATIENCE`` turns. The main goals still unreached did not happen: the story ends."""
        if THREADS_CLOSED in self.reached or milestones or not self.scenario.complications:
            return
        if any(e.action_type == "attack" for e in events):
            return  # not in the middle of a fight
        facts = self.world.facts
        if len(self.complications_used) < len(self.scenario.complications):
            return
        if turn - max(self.reached.values(), default=0) <= STALL_TURNS:
            return
        secrets = [
            f.id for f in self.scenario.fragments if f.visibility.value == "private" and f.origin not in ("world", "")
        ]
        if not secrets or any(not facts.get("uncovered:" + s) for s in secrets):
            return
        if any(k.startswith(_STANDING) for k in facts):
            return
        if self._central_open() and turn - max(self.reached.values(), default=0) <= CENTRAL_PATIENCE:
            return  # the central conflict is not over: side threads closing do not end the story
        self.reached[THREADS_CLOSED] = turn
        milestones.append(THREADS_CLOSED)

    def _central_open(self) -> bool:
        """Whether the story's central conflict is still open: a threat of the scenario stands (a
        strong event's fact still holds, or the premise's ``peril``) and a main goal is unreached."""
        facts, scenario = self.world.facts, self.scenario
        threat = any(facts.get(key) == value for key, value, _ in self.threats) or bool(
            scenario.peril and facts.get(scenario.peril)
        )
        return threat and not main_goals(scenario) <= set(self.reached)

    def _tension(self, events: Sequence[Event], milestones: Sequence[str]) -> float:
        """Tension from the turn's strongest moments (normalised for the cast), the threats still
        standing and how the protagonists fare, smoothed over turns."""
        # the strongest quarter of the turn's events (at least five): in a large cast a handful of
        # fights among thousands is not a climax
        k = max(5, len(events) // 4)
        pulse = sum(heapq.nlargest(k, (e.intensity for e in events))) / k
        facts = self.world.facts
        threat = min(1.0, sum(i for key, value, i in self.threats if facts.get(key) == value) / 1.5)
        personas = self.world.personas
        leads = [personas[p] for p in self.protagonists if p in personas]
        hurt = (
            sum(1.0 if p.health <= 0 else 0.5 if p.health < 0.6 else 0.0 for p in leads) / len(leads) if leads else 0.0
        )
        now = min(1.0, 1.2 * (0.5 * pulse + 0.3 * threat + 0.2 * hurt))
        t = 0.6 * self.tension + 0.4 * now + 0.1 * len(milestones) + self._boost
        self._boost = 0.0
        t = round(max(0.0, min(1.0, t)), 6)
        self.tension_history.append(t)
        return t


def _threats(scenario: Scenario) -> tuple[tuple[str, Any, float], ...]:
    """The facts that make a standing threat while they hold the value a strong event gave them
    (the dragon awake, the village burning), with that event's intensity."""
    out = []
    specs = [r.then for r in scenario.causal_rules] + list(scenario.complications)
    for spec in specs:
        if spec.danger is False:
            continue  # news (a glow under the boards, the pumps holding) is no threat
        if spec.key and spec.intensity >= 0.6 and scenario.facts.get(spec.key) != spec.value:
            out.append((spec.key, spec.value, spec.intensity))
    return tuple(sorted(set(out), key=lambda x: (x[0], str(x[1]))))
