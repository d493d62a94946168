"""Personalised turn briefs: the bounded view of the world a persona decides from.

A :class:`TurnBrief` is everything a persona may use to choose its action: what it perceived (with
the credence it gives each item), its leading beliefs, recent memories, where it stands, who it can
see there, where it can go, the actions open to it and its goals. Every part is cut to a fixed size
(top-k by salience), so a brief, and any LLM prompt rendered from it, stays bounded whatever the
size of the world. The records themselves (TurnBrief, MemoryItem...) are in :mod:`.brief_records`;
:class:`TurnBriefFactory` builds them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from novel_engine.core.brief_records import (
    BriefLimits,
    MemoryItem,
    PresentPersona,
    TurnBrief,
    _brief,
    _present_persona,
    made_progress,
    memory_from_event,
)
from novel_engine.core.events import Event
from novel_engine.core.perception import BeliefSummary, PerceivedFragment, Perception
from novel_engine.core.routes import HopTrees
from novel_engine.core.standing import standing_goals
from novel_engine.core.world import CAPTIVE, CLOSED, DANGER_AT, FALLEN, FIRE_AT, SEARCHED_OUT, Goal, WorldState

if TYPE_CHECKING:  # the belief model is only needed for type hints here
    from novel_engine.core.beliefs import BeliefModel

__all__ = [
    "TurnBrief",
    "PresentPersona",
    "MemoryItem",
    "BriefLimits",
    "TurnBriefFactory",
    "memory_from_event",
    "perceived_order",
    "made_progress",
]

_UNTARGETED = ("observe", "investigate", "hide", "rest")
_PERSONA_ACTIONS = ("speak", "persuade", "help", "attack", "capture")
_CAPTIVE_ACTIONS = ("speak", "persuade", "observe", "rest", "flee")  # all a captive can do (flee: escape)


class TurnBriefFactory:
    """Builds :class:`TurnBrief` objects; caches per-turn, per-place work shared by everyone there.

    Args:
        limits: the size bounds of every brief.
    """

    def __init__(self, limits: BriefLimits | None = None) -> None:
        self.limits = limits or BriefLimits()
        self._turn: int | None = None
        # place -> who can be seen there this turn (see _Crowd); the world does not change while
        # one turn's briefs are made, and everyone at a place shares what strangers look like
        self._crowds: dict[str, _Crowd] = {}
        self._routes = HopTrees()  # shortest-path trees, one per destination, grown on demand
        # place -> (neighbours as (id, name), the actions open there to anyone): made once per place
        # (the map is fixed, as for the hop trees)
        self._places: dict[str, tuple[tuple[tuple[str, str], ...], dict[str, tuple[str, ...]]]] = {}
        self._fallen: dict[str, Any] = {}
        self._captive: dict[str, Any] = {}  # captive -> captor, this turn

    def begin_turn(self, world: WorldState) -> None:
        """Drop per-turn caches (who stands where) before the briefs of a new turn."""
        self._turn = world.turn
        self._crowds.clear()
        # who lies fallen, and where: one pass over the facts a turn, not one per brief
        self._fallen = {k[len(FALLEN) :]: v for k, v in world.facts.items() if k.startswith(FALLEN)}
        self._captive = {k[len(CAPTIVE) :]: v for k, v in world.facts.items() if k.startswith(CAPTIVE)}

    def create_personalized_brief(
        self,
        agent_id: str,
        world_state: WorldState,
        previous_actions: Sequence[Event | MemoryItem] = (),
        *,
        perceptions: Iterable[PerceivedFragment | Perception] = (),
        beliefs: BeliefModel | None = None,
        belief_summary: Sequence[BeliefSummary] | None = None,
        ordered: bool = False,
    ) -> TurnBrief:
        """Return the bounded brief of ``agent_id`` for the coming turn.

        Args:
            agent_id: the persona.
            world_state: the world (only the persona's surroundings are read).
            previous_actions: recent events (or memories) involving the persona, oldest first.
            perceptions: what it perceived this turn, with or without credence.
            beliefs: its belief model, for the belief summary and the credence of perceptions.
            belief_summary: its leading beliefs, when they were computed elsewhere (a belief shard).
            ordered: ``perceptions`` are credited fragments already in brief order and cut (a
                belief view's), so they are not ranked again.
        Raises:
            NovelEngineError: for an unknown persona.
        """
        if self._turn != world_state.turn:
            self.begin_turn(world_state)
        lim = self.limits
        me = world_state.persona(agent_id)
        here = me.location
        loc = world_state.locations[here]
        place = self._places.get(here)
        if place is None:
            place = self._places[here] = self._place(loc, world_state)
        neighbours, open_here = place
        present = self._present(agent_id, me.relationships, here, world_state)
        perceived = (
            tuple(perceptions[: lim.perceived])
            if ordered and isinstance(perceptions, (tuple, list))
            else self._perceived(perceptions, beliefs)
        )
        if belief_summary is not None:
            # past the limit come only the falls a belief model keeps in view (BeliefModel.beliefs)
            belief_summary = tuple(belief_summary[: lim.beliefs]) + tuple(
                b for b in belief_summary[lim.beliefs :] if b.value == "incapacitated" or b.key[:8] == "hostile:"
            )
        else:
            belief_summary = tuple(beliefs.beliefs(lim.beliefs)) if beliefs is not None else ()
        memories = tuple(previous_actions)
        if len(memories) > lim.memories:
            memories = memories[-lim.memories :]
        for m in memories:  # events (not yet memories) are turned into memories
            if m.__class__ is not MemoryItem:
                memories = tuple(m if isinstance(m, MemoryItem) else memory_from_event(agent_id, m) for m in memories)
                break
        actions = open_here.copy()  # each brief owns its dict
        if present:
            ids = tuple(p.id for p in present)
            for a in _PERSONA_ACTIONS:
                actions[a] = ids
        facts = world_state.facts
        captive = self._captive
        if captive and present:  # a captive is seen as one: freed by friends, not fought
            present = tuple(
                _present_persona(p.id, p.name, "captive", p.trust, p.affinity) if p.id in captive else p
                for p in present
            )
        goals = standing_goals(me, world_state, belief_summary, self._fallen, captive) if facts or me.goals else ()
        conditions: tuple[str, ...] = ()
        if facts:
            hops = actions.get("move")
            if hops and any(CLOSED + h in facts for h in hops):  # nobody sets out for a sealed place
                actions["move"] = actions["flee"] = tuple(h for h in hops if CLOSED + h not in facts)
            if facts.get(DANGER_AT + here) is not None:
                conditions = ("danger",)
            if facts.get(SEARCHED_OUT + here):
                conditions += ("searched_out",)
            if FIRE_AT + here in facts:
                conditions += ("fire",)
                actions["fight_fire"] = ()
            if agent_id in captive:  # held: talk, watch and rest, nothing more until freed
                conditions += ("captive",)
                actions = {a: actions[a] for a in _CAPTIVE_ACTIONS if a in actions}
        paths = self._paths(goals, here, belief_summary, world_state)
        return _brief(
            agent_id,
            me.name,
            world_state.turn + 1,
            here,
            loc.name,
            me.health,
            me.status,
            me.traits,
            goals,
            present,
            neighbours,
            perceived,
            belief_summary,
            memories,
            actions,
            paths,
            me.voice[: lim.voice],
            me.description,
            conditions,
        )

    def _place(self, loc: Any, world: WorldState) -> tuple[tuple[tuple[str, str], ...], dict[str, tuple[str, ...]]]:
        """What every brief made at ``loc`` shares: its neighbours and the actions open to anyone there."""
        neighbours = tuple((n, world.locations[n].name) for n in loc.neighbours[: self.limits.neighbours])
        actions: dict[str, tuple[str, ...]] = {a: () for a in _UNTARGETED}
        if neighbours:
            hops = tuple(n for n, _ in neighbours)
            actions["move"] = hops
            actions["flee"] = hops
        return neighbours, actions

    def _present(self, agent_id: str, rels: dict, here: str, world: WorldState) -> tuple[PresentPersona, ...]:
        limit = self.limits.present
        crowd = self._crowds.get(here)
        if crowd is None:
            crowd = self._crowds[here] = _Crowd(world.present_at(here), world.personas)
        strangers = crowd.strangers
        out: list[PresentPersona] = []
        # people the persona has a relationship with come first, strongest first
        known = [t for t in rels if t in strangers]  # strangers: everyone visible here
        if known:
            known.sort(key=lambda t: (-(abs(rels[t].trust) + abs(rels[t].affinity)), t))
            for pid in known[:limit]:
                seen, r = strangers[pid], rels[pid]
                out.append(_present_persona(pid, seen.name, seen.status, r.trust, r.affinity))
        # then the others by id: nobody left has a relationship with the persona (all of those
        # were taken), so each is seen as a stranger, the same record for every onlooker
        if len(out) < limit and crowd.size > len(out) + 1:
            taken = set(known) if known else ()
            for pid, seen in strangers.items():
                if pid != agent_id and pid not in taken:
                    out.append(seen)
                    if len(out) >= limit:
                        break
        return tuple(out)

    def _perceived(
        self, perceptions: Iterable[PerceivedFragment | Perception], beliefs: BeliefModel | None
    ) -> tuple[PerceivedFragment, ...]:
        items = perceptions if isinstance(perceptions, list) else list(perceptions)
        if not items:
            return ()
        if all(p.__class__ is Perception for p in items):  # the runtime's case: raw perceptions
            if beliefs is not None:  # the runtime has absorbed these already: show what is believed now
                done = beliefs.view(items)
            else:
                done = [PerceivedFragment(p, (1.0 + p.reliability) / 2.0) for p in items]
        else:
            raw = [p for p in items if isinstance(p, Perception)]
            done = [p for p in items if isinstance(p, PerceivedFragment)]
            if raw:
                done.extend(
                    beliefs.view(raw)
                    if beliefs is not None
                    else (PerceivedFragment(p, (1.0 + p.reliability) / 2.0) for p in raw)
                )
        done.sort(key=perceived_order)
        return tuple(done[: self.limits.perceived])

    def _paths(
        self, goals: Sequence[Goal], here: str, beliefs: Sequence[BeliefSummary], world: WorldState
    ) -> dict[str, str]:
        if not goals:
            return {}
        paths: dict[str, str] = {}
        for g in goals:
            dest = g.location
            if dest is None and g.target is not None:
                if g.target in world.locations:
                    dest = g.target
                else:  # a persona: go where the persona believes they are (fog of war: no peeking)
                    want, v = "location_of:" + g.target, None
                    for b in beliefs:  # a handful: no dict of them per persona (the last one counts)
                        if b.key == want:
                            v = b.value
                    dest = v if isinstance(v, str) and v in world.locations else None
            if dest is None or dest == here or dest in paths:
                continue
            hop = self.next_hop(world, here, dest)
            if hop is not None:
                paths[dest] = hop
        return paths

    def next_hop(self, world: WorldState, here: str, dest: str) -> str | None:
        """The neighbour of ``here`` on a shortest path to ``dest`` (None if unreachable or already there).

        One breadth-first tree per destination, grown only as far as the places asked about (see
        :mod:`novel_engine.core.routes`): a full tree per destination made the first turn of a
        100,000-persona world (10,000 places, thousands of destinations) quadratic in the map.
        """
        return self._routes.next_hop(world, here, dest)


def perceived_order(pf: PerceivedFragment) -> tuple[float, str]:
    """Sort key of perceptions in a brief: most salient and most credited first, then by id."""
    f = pf.perception.fragment
    return -f.salience * pf.credence, f.id


class _Crowd:
    """Who can be seen at one place this turn: ``strangers`` maps each visible occupant, in id
    order, to how a stranger sees them (no trust, no affinity); ``size`` counts every occupant,
    hidden ones included."""

    __slots__ = ("strangers", "size")

    def __init__(self, occupants: set[str], personas: dict) -> None:
        self.size = len(occupants)
        self.strangers: dict[str, PresentPersona] = {}
        for pid in sorted(occupants):
            p = personas[pid]
            if not p.hidden:
                self.strangers[pid] = _present_persona(pid, p.name, p.status, 0.0, 0.0)
