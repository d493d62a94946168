"""Sharded resolution: a turn's actions settled as a plan, a central move phase, regions, and a merge.

The director's resolve phase used to be one sequence over every action. It is now cut so that
resolver shards can settle parts of it at once, with a story that does not depend on how many
shards there are:

1. *plan* (central): the actions in the order they always took effect (moves first, then the
   rest, each in actor order); every event id is handed out from that order, so numbering never
   depends on the shards.
2. *phase A* (central): moves, in that order. A move reads only the mover's place and its
   neighbours, and it is the only act that changes where anyone stands, so after it every place's
   occupants are fixed for the turn.
3. *phase B*, one region at a time (:func:`novel_engine.core.regions.partition_places`): the other
   actions of a region, in the global order restricted to it. A target must share the actor's
   place, so health, falls, relationships, hiding, goals and findings of a region's acts touch only
   personas who stand in it. Two things an act reads can lie in another region, and a region sees
   them as phase B found them, never as another region's acts leave them:
   - world facts: each region works on its own copy and logs what it writes (a confided secret may
     be kept in another region's place; a goal may name another place);
   - whether someone in a neighbouring place of another region is hidden (keeping watch).
   The resolver's ``fans`` index is shared: an entry added in one region is only ever read in
   that region (bystanders are looked up among the people present).
4. *settle* (central): the regions' fact writes are applied in event-id order (the last write of a
   key wins), their events, fragments and coherence findings are merged in event-id order.

With one region (every small cast) this is exactly the one sequence of before.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from novel_engine.agents.turn_inputs import _Grudges
from novel_engine.core.coherence import CharacterArc, CoherenceReport, Violation
from novel_engine.core.events import Action, ActionType, Event, InformationFragment
from novel_engine.core.records import fast_constructor
from novel_engine.core.regions import Partition, assign_regions, partition_places
from novel_engine.core.turn_check import TurnCheck

__all__ = ["RegionWork", "RegionOutcome", "TurnPlan", "LoggedFacts", "Regional", "plan_turn", "MOVES"]

_arc = fast_constructor(CharacterArc)  # CharacterArc(...) for every actor of every turn, cheaper
MOVES = frozenset({ActionType.MOVE, ActionType.FLEE})


class _Gone:
    """The marker of a fact a region deleted; one object even across processes (pickled by name)."""

    __slots__ = ()

    def __reduce__(self) -> str:
        return "_GONE"


_GONE = _Gone()


class LoggedFacts(dict):
    """A region's copy of the world facts that remembers, per key, the event that last wrote it."""

    __slots__ = ("event_id", "written")

    def __init__(self, base: Mapping[str, Any]) -> None:
        super().__init__(base)
        self.event_id = ""
        self.written: dict[str, str] = {}

    def __setitem__(self, key: str, value: Any) -> None:
        self.written[key] = self.event_id
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.written[key] = self.event_id
        super().__delitem__(key)

    def pop(self, key: str, *default: Any) -> Any:
        """As ``dict.pop``, logged."""
        self.written[key] = self.event_id
        return super().pop(key, *default)

    def setdefault(self, key: str, default: Any = None) -> Any:
        """As ``dict.setdefault``, logged."""
        if key not in self:
            self.written[key] = self.event_id
        return super().setdefault(key, default)

    def update(self, *args: Any, **kw: Any) -> None:
        """As ``dict.update``, logged."""
        for k, v in dict(*args, **kw).items():
            self[k] = v

    def writes(self) -> list[tuple[str, str, Any]]:
        """(event id, key, value or the deleted marker) of every key written."""
        return [(eid, k, self.get(k, _GONE)) for k, eid in self.written.items()]


@dataclass(slots=True)
class RegionWork:
    """The actions one region settles: (event id, actor, action) in the global order."""

    index: int
    places: frozenset[str]
    acts: list[tuple[str, str, Action]] = field(default_factory=list)


@dataclass(slots=True)
class RegionOutcome:
    """What settling some actions produced, each list in event-id order."""

    kept: list[tuple[str, Event, list[InformationFragment]]] = field(default_factory=list)
    rejected: list[tuple[Event, tuple[Violation, ...]]] = field(default_factory=list)
    revised: list[str] = field(default_factory=list)
    repairs: list[tuple[str, Violation]] = field(default_factory=list)
    checks: list[tuple[str, list[Violation] | None]] = field(default_factory=list)  # every check, in order
    facts: list[tuple[str, str, Any]] = field(default_factory=list)  # (event id, key, value/_GONE)


def plan_turn(actions: Mapping[str, Action], personas: Mapping[str, Any], prefix: str, first: int):
    """Number the turn's actions: [(event id, actor, action)] moves first, then the rest, by actor."""
    out = []
    n = first
    for actor in sorted(actions, key=lambda a: (actions[a].action_type not in MOVES, a)):
        if actor in personas:
            n += 1
            out.append((f"{prefix}{n:06d}", actor, actions[actor]))
    return out


@dataclass(slots=True)
class TurnPlan:
    """A turn between its central part and its regions: the central events so far, the moves'
    outcome (phase A), the regions' work (phase B) and what every region reads alike."""

    turn: int
    events: list[Event]
    fragments: list[InformationFragment]
    moves: RegionOutcome
    work: list[RegionWork]
    known: set[str]
    hidden: frozenset[str] | None  # who was hidden as phase B began (None: one region acts)


class Regional:
    """The director's turn, cut into regions. A mixin of ``DirectorAgent``: it uses the director's
    ``world``, ``resolver``, ``coherence``, ``recent``, ``causal_graph``, ``kept`` and the
    per-action helpers (``_sanitise``, ``_incapable``, ``_revise``, ``_apply``, ``_goals_met``)."""

    def regions_for(self, acts: Sequence[tuple[str, str, Action]]) -> Partition:
        """The turn's partition: the map, weighted by where this phase's actors stand."""
        world = self.world  # type: ignore[attr-defined]
        personas = world.personas
        load: dict[str, int] = {}
        for _, actor, _ in acts:
            where = personas[actor].location
            load[where] = load.get(where, 0) + 1
        return partition_places({k: l.neighbours for k, l in world.locations.items()}, load)

    def split(self, acts: Sequence[tuple[str, str, Action]], partition: Partition) -> list[RegionWork]:
        """The phase B actions by region (each in the global order), regions without actions left out."""
        personas = self.world.personas  # type: ignore[attr-defined]
        work = [RegionWork(i, frozenset(places)) for i, places in enumerate(partition.regions)]
        for act in acts:
            work[partition.of[personas[act[1]].location]].acts.append(act)
        return [w for w in work if w.acts]

    def plan_regions(
        self,
        turn: int,
        events: list[Event],
        fragments: list[InformationFragment],
        moves: RegionOutcome,
        acts: Sequence[tuple[str, str, Action]],
        known: set[str],
    ) -> TurnPlan:
        """Phase B's work: the actions after the moves, by region."""
        work = self.split(acts, self.regions_for(acts)) if acts else []
        # isolation only matters when two regions act; one region is the one sequence of before
        hidden = None
        if len(work) > 1:
            hidden = frozenset(pid for pid, p in self.world.personas.items() if p.hidden)  # type: ignore[attr-defined]
        return TurnPlan(turn, events, fragments, moves, work, known, hidden)

    def settle_work(self, plan: TurnPlan) -> list[RegionOutcome]:
        """Phase B in this process: whole regions per resolver shard (``resolver_shards`` of them),
        the shards one after another."""
        out = []
        shards = self.resolver_shards  # type: ignore[attr-defined]
        cpu = []  # what each shard would cost on its own (benchmarks: total against critical path)
        for regions in assign_regions([len(w.acts) for w in plan.work], shards):
            c = time.process_time()
            out.extend(self.resolve_region(plan.work[i], plan.turn, plan.known, plan.hidden) for i in regions)
            cpu.append(time.process_time() - c)
        self.shard_timings = {"resolve_shards_cpu": sum(cpu), "resolve_shards_critical": max(cpu, default=0.0)}
        return out

    def settle_sequence(
        self, acts: Iterable[tuple[str, str, Action]], turn: int, known: set[str], check: TurnCheck
    ) -> RegionOutcome:
        """Resolve and apply ``acts`` one after the other, each against the world the acts before it left."""
        out = RegionOutcome()
        personas = self.world.personas  # type: ignore[attr-defined]
        resolve = self.resolver.resolve  # type: ignore[attr-defined]
        facts = self.world.facts  # type: ignore[attr-defined]
        logged = facts if isinstance(facts, LoggedFacts) else None
        fell: set[str] = set()
        checks = out.checks

        def checked(ev: Event, p) -> list[Violation] | None:
            found = check.check(ev, _arc(p.id, p.location, p.status, p.traits, _Grudges(p.relationships)))
            checks.append((ev.id, found))
            return found

        for eid, actor, action in acts:
            if logged is not None:
                logged.event_id = eid
            p = personas[actor]
            if not p.can_act or actor in fell:
                r = self._incapable(action, eid, turn)  # type: ignore[attr-defined]
                why = Violation("incapacitated_actor", eid, f"{p.name} is down and does nothing until helped", 1.0)
                out.rejected.append((r.event, (why,)))
                continue
            r = resolve(self._sanitise(action), eid, turn, known)[0]  # type: ignore[attr-defined]
            found = checked(r.event, p)
            if found:
                if any(v.kind == "absent_target" for v in found) and r.event.action_type != "observe":
                    out.repairs.extend((eid, v) for v in found)
                    # the target fell earlier this turn: the actor stops and takes in the scene instead
                    out.revised.append(eid)
                    again = Action(
                        actor=actor,
                        action_type=ActionType.OBSERVE,
                        rationale=action.rationale,
                        origin=action.origin,
                        flags=(*action.flags, "repaired"),
                    )
                    r = resolve(again, eid, turn)[0]
                    found = checked(r.event, p)
            if found:
                if any(v.severity >= 1.0 for v in found):
                    out.rejected.append((r.event, tuple(found)))
                    continue
                if (
                    any(v.kind == "out_of_character" for v in found)
                    and 1.0 - sum(v.severity for v in found) < self.coherence.threshold  # type: ignore[attr-defined]
                ):
                    # this event alone would pull the story under the coherence threshold: tone it down
                    out.revised.append(eid)
                    r = self._revise(r, turn)  # type: ignore[attr-defined]
            self._apply((r,))  # type: ignore[attr-defined]
            down = r.event.data.get("incapacitated")
            if down:
                fell.update(down)  # whoever fell this turn does nothing more this turn, even if helped up
            if r.event.actor is not None:
                self._goals_met(r.event)  # type: ignore[attr-defined]
            out.kept.append((eid, r.event, r.fragments))
        if logged is not None:
            out.facts = logged.writes()
        return out

    def resolve_region(
        self, work: RegionWork, turn: int, known: set[str], hidden_before: frozenset[str] | None
    ) -> RegionOutcome:
        """Settle one region's actions. With ``hidden_before`` (several regions) the region works on
        its own copy of the facts and sees people of other regions hidden as phase B found them."""
        world, resolver = self.world, self.resolver  # type: ignore[attr-defined]
        check = self._region_check(turn)
        if hidden_before is None:
            return self.settle_sequence(work.acts, turn, known, check)
        base = world.facts
        world.facts = LoggedFacts(base)
        resolver.region, resolver.hidden_before = work.places, hidden_before
        try:
            return self.settle_sequence(work.acts, turn, known, check)
        finally:
            world.facts = base
            resolver.region, resolver.hidden_before = None, frozenset()

    def _region_check(self, turn: int) -> TurnCheck:
        """A fresh coherence check for one region. What every region's check reads alike (the
        recent acts, indexed for repetition) is built once a turn and shared: rebuilding it per
        region cost more than settling the regions of a 10,000 cast."""
        recent = self.recent  # type: ignore[attr-defined]
        base = getattr(self, "_base_check", None)
        if base is None or base[0] != turn or base[1] is not recent:
            check = self.coherence.begin_turn(recent, self.causal_graph, self.world, self.kept)  # type: ignore[attr-defined]
            self._base_check = base = (turn, recent, check)
        check = copy.copy(base[2])  # shares the read-only index of recent acts
        check.violations, check.total, check.count, check.first_place, check.seen_ids = [], 0.0, 0, {}, None
        return check

    def merge(self, parts: Sequence[RegionOutcome]) -> tuple[RegionOutcome, CoherenceReport]:
        """The turn's outcome from its parts, in event-id order; the region's fact writes applied in
        event-id order (the last write of a key wins); the coherence report as one sequence gives it."""
        if len(parts) == 1 and not parts[0].facts:
            whole = parts[0]
        else:
            whole = RegionOutcome()
            for part in parts:
                whole.kept.extend(part.kept)
                whole.rejected.extend(part.rejected)
                whole.revised.extend(part.revised)
                whole.repairs.extend(part.repairs)
                whole.checks.extend(part.checks)
                whole.facts.extend(part.facts)
            # stable sorts: the parts are already in event-id order and one event's entries keep theirs
            whole.kept.sort(key=lambda k: k[0])
            whole.rejected.sort(key=lambda r: r[0].id)
            whole.revised.sort()
            whole.repairs.sort(key=lambda r: r[0])
            whole.checks.sort(key=lambda c: c[0])
            whole.facts.sort(key=lambda f: (f[0], f[1]))
            facts = self.world.facts  # type: ignore[attr-defined]
            for _, key, value in whole.facts:
                if value is _GONE:
                    facts.pop(key, None)
                else:
                    facts[key] = value
        total, violations = 0.0, []
        for _, found in whole.checks:
            if found:
                violations.extend(found)
                total += min(1.0, sum(v.severity for v in found))
        count = len(whole.checks)
        score = 1.0 - total / count if count else 1.0
        return whole, CoherenceReport(score=max(0.0, score), violations=tuple(violations))
