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
from novel_engine.agents.regional import MOVES, Regional, RegionOutcome, TurnPlan, plan_turn
from novel_engine.agents.resolution import ActionResolver, Resolution
from novel_engine.agents.turn_inputs import Repairs, event_matches, validate_action
from novel_engine.core.causal_effects import condition_holds
from novel_engine.core.causal_graph import CausalGraph
from novel_engine.core.coherence import NarrativeCoherenceEngine, Violation
from novel_engine.core.events import (
    Action,
    Decision,
    Event,
    InformationFragment,
    WorldEventSpec,
)
from novel_engine.core.rng import RandomStreams
from novel_engine.core.scenario import NarrativeGoalSpec, Scenario
from novel_engine.core.world import Relationship, WorldState

__all__ = ["DirectorAgent", "TurnResult", "validate_action", "event_matches"]


PROTAGONISTS = 8


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


class DirectorAgent(Regional, Happenings, Repairs):
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
        self.resolver_shards = 1  # how many shards settle the regions (never changes the story)
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
        """Resolve one turn. Player ``agent_actions`` override the personas' own ``decisions``.

        The same as :meth:`begin_turn`, :meth:`settle_work` (the regions, here in this process) and
        :meth:`finish_turn`, which a runtime with resolver shards calls apart."""
        plan = self.begin_turn(agent_actions, world_events, decisions=decisions)
        return self.finish_turn(plan, self.settle_work(plan))

    def begin_turn(
        self,
        agent_actions: Mapping[str, Action | Decision] | None = None,
        world_events: Sequence[WorldEventSpec] = (),
        *,
        decisions: Mapping[str, Action] | None = None,
    ) -> TurnPlan:
        """The central part of a turn: world events, due effects, pacing, the plan and the moves
        (phase A); returns what is left to settle, region by region (see agents/regional.py)."""
        world = self.world
        turn = world.turn + 1
        actions: dict[str, Action] = dict(decisions or {})
        for actor, act in (agent_actions or {}).items():
            actions[actor] = act if isinstance(act, Action) else validate_action(world, actor, act)
        prefix = f"e{turn:04d}."  # event ids number the turn's events in creation order
        events: list[Event] = []
        fragments: list[InformationFragment] = []
        self._expire_dangers(turn, prefix, events)
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
        plan = plan_turn(actions, world.personas, prefix, len(events))
        n_moves = sum(1 for _, _, a in plan if a.action_type in MOVES)
        check = self.coherence.begin_turn(self.recent, self.causal_graph, world, self.kept)
        moves = self.settle_sequence(plan[:n_moves], turn, known, check)
        return self.plan_regions(turn, events, fragments, moves, plan[n_moves:], known)

    def finish_turn(self, plan: TurnPlan, parts: Sequence[RegionOutcome]) -> TurnResult:
        """The end of a turn: the regions' outcomes merged (see :meth:`merge`), the events recorded,
        goals, threads and tension updated, the world's turn advanced."""
        world, turn, events, fragments = self.world, plan.turn, plan.events, plan.fragments
        whole, report = self.merge([plan.moves, *parts])
        for _, ev, frags in whole.kept:
            events.append(ev)
            fragments.extend(frags)
        rejected, revised, repairs = whole.rejected, whole.revised, [v for _, v in whole.repairs]
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
