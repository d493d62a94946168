"""Negotiation: how the people an action touches answer it, before its outcome is rolled.

The director asks the :class:`AgentNegotiationEngine` about every action that touches others. Each
affected persona takes a :class:`Stance` (accept, counter or refuse) computed from its traits
(courage, intelligence, compassion, aggressiveness, social_tendency, all in [0, 1]), how it regards
the actor (trust and affinity in [-1, 1], 0 when it has no opinion), its health, whether it is
hidden, and optionally its beliefs (e.g. its credence that the actor is hostile).

There is no randomness here at all: the same world gives the same stances, so the seeded outcome
roll stays the only source of chance. Scores are in [0, 1] and say how firmly a stance is held; the
director may use them to weight the roll.

Semantics by action type (the first affected agent is the target, the others are bystanders):

- ``attack``: the target *accepts* (yields: timid and mild, or badly hurt), *counters* (fights
  back: brave or aggressive, less so if compassionate or fond of the attacker) or *refuses*
  (evades: clever, or hidden). A bystander who likes the
  target (affinity >= 0.4) and is brave (courage >= 0.6) counters: they step in to defend.
  Outcome: ``rejected`` if the target evades, ``modified`` if anyone fights, else ``accepted``.
- ``help``: the target accepts unless it distrusts the actor (trust < -0.3) or is proud (social
  tendency <= 0.3 while health >= 0.8); then it refuses.
- ``persuade``: receptivity from trust, affinity and social tendency (plus the actor's own charm):
  high accepts, middling makes a counter-offer, low refuses; a target whose beliefs contradict
  the claim (``parameters["key"]``/``["value"]``, or ``tells_key``/``tells_value``; credence
  <= 0.2) refuses.
- ``speak``: accepted unless the target is hostile (trust < -0.5: refuses to listen); an
  aggressive (>= 0.6), distrustful (trust < 0) target counters with a retort.
- any other type: everyone accepts.

For every type, a credence that the actor is hostile (belief key ``hostile:<actor>``) lowers the
effective trust by 0.6 x credence and makes an attacked target readier to resist.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from novel_engine.core.events import Action, ActionType
from novel_engine.core.records import fast_constructor
from novel_engine.core.world import CAPTIVE, PersonaState, WorldState

__all__ = ["Stance", "NegotiationResult", "NegotiationContext", "AgentNegotiationEngine"]

StanceKind = Literal["accept", "counter", "refuse"]
_KIND = {t: t.value for t in ActionType}  # member -> plain value, without the enum's slow ``.value``
_ATTACK, _HELP, _PERSUADE, _SPEAK = "attack", "help", "persuade", "speak"
_VERB = {"attack": "attacks", "help": "offers help to", "persuade": "tries to persuade", "speak": "speaks to"}


@dataclass(frozen=True, slots=True)
class Stance:
    """One affected persona's answer to a proposed action.

    Args:
        agent: the persona's id.
        stance: ``accept``, ``counter`` or ``refuse``.
        reason: a short human reason ("trusts Mira too little to accept Mira's help").
        score: how firmly the stance is held, in [0, 1].
    """

    agent: str
    stance: StanceKind
    reason: str
    score: float


@dataclass(frozen=True, slots=True)
class NegotiationResult:
    """The negotiated fate of an action: the stances taken, the overall outcome and a one-line summary."""

    action: Action
    stances: tuple[Stance, ...]
    outcome: Literal["accepted", "modified", "rejected"]
    summary: str


_stance = fast_constructor(Stance)  # the hot path's Stance(...): one or more per negotiated action
_result = fast_constructor(NegotiationResult)


@dataclass(frozen=True, slots=True)
class NegotiationContext:
    """What negotiation may look at.

    Args:
        world: the world state (personas, relationships, health).
        turn: the current turn.
        beliefs: optional credence lookups per agent: ``beliefs[agent](key, value) -> credence`` in [0, 1].
    """

    world: WorldState
    turn: int
    beliefs: Mapping[str, Callable[[str, object], float]] | None = None


def _clamp(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


class _View:
    """One affected persona's standpoint toward the actor (computed once per stance)."""

    __slots__ = ("p", "c", "i", "m", "a", "s", "trust", "affinity", "hostile", "lookup")

    def __init__(
        self, p: PersonaState, actor: str, beliefs: Mapping[str, Callable[[str, object], float]] | None
    ) -> None:
        self.p = p
        tr = p.traits.get  # the per-stance hot path: one bound method instead of five trait() calls
        self.c, self.i = tr("courage", 0.5), tr("intelligence", 0.5)
        self.m, self.a, self.s = tr("compassion", 0.5), tr("aggressiveness", 0.5), tr("social_tendency", 0.5)
        rel = p.relationships.get(actor)
        lookup = beliefs.get(p.id) if beliefs else None
        self.lookup = lookup
        self.hostile = _clamp(float(lookup(f"hostile:{actor}", True))) if lookup else 0.0
        # suspecting hostility erodes trust whatever the recorded relationship says
        if rel is None:
            self.trust, self.affinity = max(-1.0, 0.0 - 0.6 * self.hostile), 0.0
        else:
            self.trust, self.affinity = max(-1.0, rel.trust - 0.6 * self.hostile), rel.affinity


class AgentNegotiationEngine:
    """Decides, deterministically, how the personas an action touches respond to it (see the module doc)."""

    def negotiate_action(
        self, proposed_action: Action, affected_agents: Sequence[str], context: NegotiationContext
    ) -> NegotiationResult:
        """Collect every affected persona's stance and decide the action's negotiated outcome.

        Args:
            proposed_action: the action to negotiate.
            affected_agents: persona ids; the first is the target, the rest are bystanders. The
                actor is skipped if listed; duplicates are answered once.
            context: the world, the turn and optional beliefs.
        Returns:
            The stances (in ``affected_agents`` order), the outcome and a one-line summary.
        Raises:
            NovelEngineError: an affected agent is not a persona of the world.
        """
        world = context.world
        personas = world.personas
        actor_id = proposed_action.actor
        actor = personas.get(actor_id)
        actor_name = actor.name if actor is not None else actor_id
        kind = proposed_action.action_type
        kind = _KIND.get(kind, kind)  # an ActionType member or its plain string value
        if kind == "capture":
            kind = _ATTACK  # laying hands on someone is met as an attack is: yield, fight back or slip away
        beliefs = context.beliefs
        if len(affected_agents) == 1 and affected_agents[0] != actor_id:
            # the common case, a target alone: what the general path below does, without its lists
            p = personas.get(affected_agents[0]) or world.persona(affected_agents[0])
            stance = self._target_stance(kind, _View(p, actor_id, beliefs), proposed_action, actor, actor_name)
            said = stance.stance
            outcome = "rejected" if said == "refuse" else "modified" if said == "counter" else "accepted"
            return _result(
                proposed_action,
                (stance,),
                outcome,
                f"{_head(actor_name, kind, p.name)}: {p.name} {stance.reason} ({outcome})",
            )
        stances: list[Stance] = []
        target: PersonaState | None = None
        for agent_id in dict.fromkeys(affected_agents):
            if agent_id == actor_id:
                continue
            p = personas.get(agent_id)
            view = _View(p if p is not None else world.persona(agent_id), actor_id, beliefs)
            if target is None:
                target = view.p
                stances.append(self._target_stance(kind, view, proposed_action, actor, actor_name))
            else:
                held = world.facts.get(CAPTIVE + view.p.id) is not None  # bound: they can only watch
                stances.append(self._bystander_stance(kind, view, target, held))
        outcome = _outcome(stances)
        summary = _summary(actor_name, kind, target.name if target else "", stances, world, outcome)
        return _result(proposed_action, tuple(stances), outcome, summary)

    # -- the target ------------------------------------------------------------------------------

    def _target_stance(self, kind: str, v: _View, action: Action, actor: PersonaState | None, name: str) -> Stance:
        p = v.p
        if not p.can_act:
            if kind in (_PERSUADE, _SPEAK):
                return _stance(p.id, "refuse", "is in no state to listen", 1.0)
            return _stance(p.id, "accept", "is in no state to respond", 1.0)
        if kind == _ATTACK:
            return self._attacked(v, name)
        if kind == _HELP:
            if v.trust < -0.3:
                return _stance(p.id, "refuse", f"trusts {name} too little to accept {name}'s help", _clamp(-v.trust))
            if v.s <= 0.3 and p.health >= 0.8:
                return _stance(p.id, "refuse", f"is too proud to accept {name}'s help", _clamp(1.0 - v.s))
            return _stance(
                p.id, "accept", f"accepts {name}'s help", _clamp(0.5 + 0.25 * v.trust + 0.5 * (1.0 - p.health))
            )
        if kind == _PERSUADE:
            return self._persuaded(v, action, actor, name)
        if kind == _SPEAK:
            if v.trust < -0.5:
                return _stance(p.id, "refuse", f"will not hear a word from {name}", _clamp(-v.trust))
            if v.a >= 0.6 and v.trust < 0.0:
                return _stance(p.id, "counter", f"retorts sharply to {name}", _clamp((v.a - v.trust) / 2.0))
            return _stance(p.id, "accept", f"listens to {name}", _clamp(0.5 + 0.5 * v.trust))
        return _stance(p.id, "accept", "has no objection", 1.0)

    def _attacked(self, v: _View, name: str) -> Stance:
        p = v.p
        if p.hidden:
            return _stance(p.id, "refuse", f"stays hidden; {name}'s attack finds no one", 1.0)
        # being hurt saps both the will to fight and the legs to run
        vigour = 0.4 + 0.6 * p.health
        fondness = max(0.0, v.affinity)  # few strike back at someone they love
        # a kind heart is slow to strike back, even at an attacker
        fight = (0.55 * v.c + 0.45 * v.a) * vigour + 0.15 * v.hostile - 0.2 * fondness - 0.3 * max(0.0, v.m - 0.5)
        evade = (0.75 * v.i + 0.25 * (1.0 - v.a)) * vigour + 0.15 * v.hostile
        # whoever saw the attack coming is less ready to simply submit to it
        give = (1.0 - v.c) * (1.0 - v.a) + 0.8 * (1.0 - p.health) + 0.2 * fondness - 0.2 * v.hostile
        # the strongest urge wins; ties go to resisting, and fighting before fleeing: the more dramatic reading
        if fight >= evade and fight >= give:
            why = "brave" if v.c >= v.a else "quick to anger"
            return _stance(p.id, "counter", f"fights back against {name} ({why})", _clamp(fight))
        if evade >= give:
            return _stance(p.id, "refuse", f"sees {name}'s blow coming and evades it", _clamp(evade))
        if p.health < 0.3:
            return _stance(p.id, "accept", f"is too badly hurt to resist {name}", _clamp(give))
        return _stance(p.id, "accept", f"yields to {name} without a fight", _clamp(give))

    def _persuaded(self, v: _View, action: Action, actor: PersonaState | None, name: str) -> Stance:
        p = v.p
        params = action.parameters
        # the claim may be named plainly (key/value) or as what the speaker tells (tells_key/tells_value)
        claim = params.get("key", params.get("tells_key"))
        credence = None
        if claim is not None and v.lookup is not None:
            value = params["value"] if "value" in params else params.get("tells_value", True)
            credence = _clamp(float(v.lookup(str(claim), value)))
            if credence <= 0.2:
                return _stance(p.id, "refuse", f"does not believe what {name} claims", _clamp(1.0 - credence))
        receptive = 0.4 * (v.trust + 1.0) / 2.0 + 0.3 * (v.affinity + 1.0) / 2.0 + 0.3 * v.s
        if actor is not None:
            receptive += 0.2 * ((actor.trait("social_tendency") + actor.trait("intelligence")) / 2.0 - 0.5)
        if credence is not None:
            receptive += 0.3 * (credence - 0.5)
        receptive = _clamp(receptive)
        if receptive >= 0.6:
            return _stance(p.id, "accept", f"is won over by {name}", receptive)
        if receptive >= 0.4:
            return _stance(p.id, "counter", f"makes {name} a counter-offer", _clamp(1.0 - abs(receptive - 0.5) * 5))
        return _stance(p.id, "refuse", f"is not swayed by {name}", _clamp(1.0 - receptive))

    # -- bystanders ------------------------------------------------------------------------------

    def _bystander_stance(self, kind: str, v: _View, target: PersonaState | None, held: bool = False) -> Stance:
        p = v.p
        if kind == _ATTACK and target is not None and p.can_act and not p.hidden and not held:
            rel = p.relationships.get(target.id)
            fondness = rel.affinity if rel else 0.0
            if fondness >= 0.4 and v.c >= 0.6:
                return _stance(p.id, "counter", f"steps in to defend {target.name}", _clamp((v.c + fondness) / 2.0))
        return _stance(p.id, "accept", "stays out of it", 1.0)


def _name(world: WorldState, persona_id: str) -> str:
    p = world.personas.get(persona_id)
    return p.name if p is not None else persona_id


def _outcome(stances: Sequence[Stance]) -> Literal["accepted", "modified", "rejected"]:
    if not stances:
        return "accepted"
    if stances[0].stance == "refuse":
        return "rejected"
    for s in stances:
        if s.stance == "counter":
            return "modified"
    return "accepted"


def _head(actor: str, kind: str, target: str) -> str:
    if not target:
        return f"{actor} acts ({kind})"
    if kind in _VERB:
        return f"{actor} {_VERB[kind]} {target}"
    return f"{actor}'s {kind} touches {target}"


def _summary(actor: str, kind: str, target: str, stances: Sequence[Stance], world: WorldState, outcome: str) -> str:
    head = _head(actor, kind, target)
    if not stances:
        return f"{head} ({outcome})"
    # the target always speaks (and is named ``target`` already); bystanders only when they object
    said = [f"{target} {stances[0].reason}"]
    said.extend(f"{_name(world, s.agent)} {s.reason}" for s in stances[1:] if s.stance != "accept")
    return f"{head}: " + "; ".join(said) + f" ({outcome})"
