"""The director: the game master who turns a turn's actions into events and keeps the story on course.

``DirectorAgent.resolve_turn`` runs the *resolve* phase of a turn:

1. world events (from users) and due causal effects happen first;
2. when the story has been calm too long, a complication from the scenario is injected (pacing);
3. player actions override persona decisions; each action is negotiated with the people it
   affects and rolled from traits and difficulty (:mod:`novel_engine.agents.resolution`);
4. the proposed events are checked for coherence: events with a hard violation (an absent or
   incapacitated actor, a place contradiction) are rejected, out-of-character ones are revised
   when the turn's score is under the threshold;
5. effects are applied to the world; events go to the causal graph, which schedules the
   effects of matching causal rules; narrative goals reached are marked; the tension is updated;
6. the turn's events and the information fragments they leave (who saw what, where) are returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from novel_engine.agents.discoveries import Discoveries
from novel_engine.agents.happenings import _COMPLICATION_TURN, Happenings, _threats
from novel_engine.agents.resolution import ActionResolver, Resolution
from novel_engine.agents.turn_inputs import Repairs, _Grudges, event_matches, validate_action
from novel_engine.core.causal_effects import condition_holds
from novel_engine.core.causal_graph import CausalGraph
from novel_engine.core.coherence import CharacterArc, NarrativeCoherenceEngine, Violation
from novel_engine.core.events import (
    Action,
    ActionType,
    Decision,
    Event,
    InformationFragment,
    WorldEventSpec,
)
from novel_engine.core.records import fast_constructor
from novel_engine.core.rng import RandomStreams
from novel_engine.core.scenario import NarrativeGoalSpec, Scenario
from novel_engine.core.world import Relationship, WorldState

__all__ = ["DirectorAgent", "TurnResult", "validate_action", "event_matches"]

_arc = fast_constructor(CharacterArc)  # CharacterArc(...) for every actor of every turn, cheaper

PROTAGONISTS = 8
_MOVES = frozenset({ActionType.MOVE, ActionType.FLEE})


@dataclass(frozen=True, slots=True)
class TurnResult:
    """What a turn produced: its events (in order), the fragments they leave, and the story's pulse."""

    turn: int
    events: tuple[Event, ...]
    fragments: tuple[InformationFragment, ...]
    tension: float
    coherence: float
    rejected: tuple[tuple[Event, tuple[Violation, ...]], ...] = ()
    milestones: tuple[str, ...] = ()
    revised: tuple[str, ...] = field(default=())
    repairs: tuple[Violation, ...] = ()  # what the repaired acts violated before repair

    def violation_counts(self) -> dict[str, int]:
        """Coherence violations caught this turn (rejected and repaired acts), by kind."""
        out: dict[str, int] = {}
        for v in (*(v for _, vs in self.rejected for v in vs), *self.repairs):
            out[v.kind] = out.get(v.kind, 0) + 1
        return dict(sorted(out.items()))


class DirectorAgent(Happenings, Repairs):
    """Owns the world state and resolves every turn.

    Args:
        world_state: the world (the director mutates it).
        scenario: the scenario (causal rules, narrative goals, complications, difficulty).
        seed: the session seed.
        causal_graph: where events are recorded (a new local graph by default).
    """

    def __init__(
        self,
        world_state: WorldState,
        scenario: Scenario,
        seed: int,
        causal_graph: CausalGraph | None = None,
        *,
        difficulty: float | None = None,
    ) -> None:
        self.world = world_state
        self.scenario = scenario
        self.streams = RandomStreams(seed)
        self.difficulty = scenario.difficulty if difficulty is None else difficulty
        self.discoveries = Discoveries(scenario.fragments)
        self.kept = self.discoveries.where()
        self.resolver = ActionResolver(world_state, self.streams, self.difficulty, self.discoveries)
        self.coherence = NarrativeCoherenceEngine()
        # the cast whose fate the tension follows: a scenario's first personas (its leads)
        self.protagonists = tuple(p.id for p in scenario.personas[:PROTAGONISTS])
        self.threats = _threats(scenario)
        self.causal_graph = causal_graph if causal_graph is not None else CausalGraph()
        if causal_graph is None:
            for rule in scenario.causal_rules:
                self.causal_graph.add_rule(rule)
        self.narrative_goals: list[NarrativeGoalSpec] = list(scenario.narrative_goals)
        self.reached: dict[str, int] = {}  # narrative goal id -> turn reached
        self.tension_history: list[float] = []
        self.recent: list[Event] = []  # action events of the last few turns (coherence: repetition)
        self.complications_used: set[int] = set()
        self._boost = 0.0  # tension added by effects during the turn being resolved
        self._any_danger = False

    @property
    def tension(self) -> float:
        """The story's current tension in [0, 1]."""
        return self.tension_history[-1] if self.tension_history else 0.2

    def resolve_turn(
        self,
        agent_actions: Mapping[str, Action | Decision] | None = None,
        world_events: Sequence[WorldEventSpec] = (),
        *,
        decisions: Mapping[str, Action] | None = None,
    ) -> TurnResult:
        """Resolve one turn. Player ``agent_actions`` override the personas' own ``decisions``."""
        world = self.world
        turn = world.turn + 1
        actions: dict[str, Action] = dict(decisions or {})
        for actor, act in (agent_actions or {}).items():
            actions[actor] = act if isinstance(act, Action) else validate_action(world, actor, act)
        prefix = f"e{turn:04d}."  # event ids number the turn's events in creation order
        events: list[Event] = []
        fragments: list[InformationFragment] = []
        self._expire_dangers(turn)
        for spec in world_events:
            self._happen(
                spec, "world", f"{prefix}{len(events) + 1:06d}", turn, (), events, fragments, flags=("injected",)
            )
        for due in self.causal_graph.due_effects(turn, world):
            self._happen(
                due.spec,
                "causal",
                f"{prefix}{len(events) + 1:06d}",
                turn,
                (due.cause,),
                events,
                fragments,
                data={"rule_id": due.rule_id, "cause_strength": due.strength},
            )
        pacing = self._pacing(turn)
        if pacing is not None:
            self._happen(
                pacing, "world", f"{prefix}{len(events) + 1:06d}", turn, (), events, fragments, flags=("pacing",)
            )

        known = self.causal_graph_ids(a.motivated_by for a in actions.values())
        personas = world.personas
        resolve = self.resolver.resolve
        check = self.coherence.begin_turn(self.recent, self.causal_graph, world, self.kept)
        rejected: list[tuple[Event, tuple[Violation, ...]]] = []
        revised: list[str] = []
        n = len(events)  # each world or causal event above took the next number
        fell: set[str] = set()
        repairs: list[Violation] = []
        # The order actions take effect in: every move first, then everything else, each in actor
        # order. An interaction meets its target where the target now stands; whoever falls does
        # nothing more; each act is checked against the world as the acts before it left it.
        for actor in sorted(actions, key=lambda a: (actions[a].action_type not in _MOVES, a)):
            p = personas.get(actor)
            if p is None:
                continue
            n += 1
            action = actions[actor]
            eid = f"{prefix}{n:06d}"
            if not p.can_act or actor in fell:
                r = self._incapable(action, eid, turn)
                rejected.append(
                    (
                        r.event,
                        (
                            Violation(
                                "incapacitated_actor", eid, f"{p.name} is down and does nothing until helped", 1.0
                            ),
                        ),
                    )
                )
                continue
            r = resolve(self._sanitise(action), eid, turn, known)[0]
            found = check.check(r.event, _arc(p.id, p.location, p.status, p.traits, _Grudges(p.relationships)))
            if found:
                if any(v.kind == "absent_target" for v in found) and r.event.action_type != "observe":
                    repairs.extend(found)
                    # the target fell earlier this turn: the actor stops and takes in the scene instead
                    revised.append(eid)
                    r = resolve(
                        Action(
                            actor=actor,
                            action_type=ActionType.OBSERVE,
                            rationale=action.rationale,
                            origin=action.origin,
                            flags=(*action.flags, "repaired"),
                        ),
                        eid,
                        turn,
                    )[0]
                    found = check.check(r.event, _arc(p.id, p.location, p.status, p.traits, _Grudges(p.relationships)))
            if found:
                if any(v.severity >= 1.0 for v in found):
                    rejected.append((r.event, tuple(found)))
                    continue
                if (
                    any(v.kind == "out_of_character" for v in found)
                    and 1.0 - sum(v.severity for v in found) < self.coherence.threshold
                ):
                    # this event alone would pull the story under the coherence threshold: tone it down
                    revised.append(eid)
                    r = self._revise(r, turn)
            self._apply((r,))
            down = r.event.data.get("incapacitated")
            if down:
                fell.update(down)  # whoever fell this turn does nothing more this turn, even if helped up
            if r.event.actor is not None:
                self._goals_met(r.event)
            events.append(r.event)
            fragments.extend(r.fragments)
        report = check.report()
        milestones = self._record(events)
        self._close_threads(turn, milestones, events)
        tension = self._tension(events, milestones)
        if any("pacing" in e.flags for e in events):
            world.facts[_COMPLICATION_TURN] = turn
        world.turn = turn
        self.recent = [e for e in self.recent if e.turn > turn - self.coherence.repetition_window]
        self.recent.extend(e for e in events if e.kind == "action")
        return TurnResult(
            turn=turn,
            events=tuple(events),
            fragments=tuple(fragments),
            tension=tension,
            coherence=report.score,
            rejected=tuple(rejected),
            milestones=tuple(milestones),
            revised=tuple(revised),
            repairs=tuple(repairs),
        )

    # -- pieces of a turn ----------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """What turns have changed in the director, as JSON-friendly checkpoint data.

        The resolver's ``fans`` index is kept verbatim rather than rebuilt from the world:
        relationship effects add relationships without indexing them, so a rebuilt index could
        differ from the live one.
        """
        return {
            "tension_history": list(self.tension_history),
            "reached": [[goal, turn] for goal, turn in self.reached.items()],
            "complications_used": sorted(self.complications_used),
            "recent": [e.to_dict() for e in self.recent],
            "causal_graph": self.causal_graph.to_dict(),
            "fans": {k: sorted(v) for k, v in self.resolver.fans.items()},
            "difficulty": self.difficulty,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], world: WorldState, scenario: Scenario, seed: int) -> DirectorAgent:
        """The director of :meth:`to_state` data, over ``world`` (the checkpoint's), drawing from ``seed``."""
        director = cls(
            world, scenario, seed, CausalGraph.from_dict(state["causal_graph"]), difficulty=state["difficulty"]
        )
        director.tension_history = list(state["tension_history"])
        director.reached = {goal: int(turn) for goal, turn in state["reached"]}
        director.complications_used = set(state["complications_used"])
        director.recent = [Event.from_dict(e) for e in state["recent"]]
        director.resolver.fans = {k: set(v) for k, v in state["fans"].items()}
        return director

    def causal_graph_ids(self, motive_lists) -> set[str]:
        """The ids among the given motive lists that are recorded events."""
        return self.causal_graph.recorded({m for ms in motive_lists for m in ms})

    def _apply(self, kept: Sequence[Resolution]) -> None:
        world = self.world
        personas = world.personas
        health: dict[str, float] = {}
        for r in kept:
            if r.health:
                for pid, delta in r.health.items():
                    health[pid] = health.get(pid, 0.0) + delta
        for pid in sorted(health):
            p = personas[pid]
            p.health = round(max(0.0, min(1.0, p.health + health[pid])), 6)
            self._mark_fallen(p)
        for r in kept:
            if r.facts:
                for key, value in r.facts.items():
                    if value is None:
                        world.facts.pop(key, None)
                    else:
                        world.facts[key] = value
        fans = self.resolver.fans
        for r in kept:
            actor = r.event.actor
            if actor is None:
                continue
            p = personas[actor]
            p.hidden = r.hide
            for who, whom, dt, da in r.relations:
                rels = personas[who].relationships
                rel = rels.get(whom)
                if rel is None:
                    rel = rels[whom] = Relationship()
                    fans.setdefault(whom, set()).add(who)
                rel.shift(dt, da)
            if r.move is not None and p.can_act:
                world.move(actor, r.move)

    def _record(self, events: Sequence[Event]) -> list[str]:
        milestones: list[str] = []
        add_event = self.causal_graph.add_event
        reached = self.reached
        open_goals = [goal for goal in self.narrative_goals if goal.id not in reached]
        turn = self.world.turn + 1
        for ev in events:
            add_event(ev)
            if open_goals:
                for goal in open_goals:
                    if (
                        goal.id not in reached
                        and goal.when is not None
                        and event_matches(goal.when, ev)
                        and self._holds(goal)
                    ):
                        reached[goal.id] = ev.turn
                        milestones.append(goal.id)
        for goal in open_goals:  # goals that are conditions on the world alone
            if goal.id not in reached and goal.when is None and self._holds(goal):
                reached[goal.id] = turn
                milestones.append(goal.id)
        return milestones

    def _holds(self, goal: NarrativeGoalSpec) -> bool:
        return all(condition_holds(c, self.world) for c in goal.conditions)
