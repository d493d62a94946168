"""How the director resolves one action: negotiation, the roll, the effects and who learns of it.

Every action of a turn is resolved against the world *as it stood when the turn began*
(simultaneous resolution), and every roll is keyed by (seed, turn, actor, purpose); so results do
not depend on the order actions are processed in, which keeps stories identical across shard
counts and runtimes. Effects are collected in a :class:`Resolution` and applied by the director
after the coherence check.

Success chances (before the roll ``u`` in [0, 1); success if ``u < p``, partial if ``u < p + 0.2``):

- attack: 0.45 + 0.3 * mean(courage, aggressiveness) - 0.25 * target's mean(courage, intelligence);
  -0.15 when someone counters; blocked when the target evades (negotiation ``rejected``).
- help: 0.5 + 0.4 * compassion + 0.1 * intelligence (refused help is blocked).
- persuade: 0.25 + 0.35 * social_tendency + 0.25 * intelligence + 0.2 * target's trust in the actor,
  +0.2 when the target accepts, capped at partial on a counter-offer, failure on refusal.
- investigate: 0.3 + 0.6 * intelligence. hide: 0.5 + 0.3 * intelligence + 0.2 * (1 - social_tendency).
- speak, observe, move, flee and rest always succeed (a refused conversation is blocked).

Difficulty d in [0, 1] shifts every contested chance by -0.3 * (d - 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from novel_engine.core.events import Action, Event, InformationFragment, Outcome, SourceType, Visibility
from novel_engine.core.negotiation import AgentNegotiationEngine, NegotiationContext, NegotiationResult
from novel_engine.core.rng import RandomStreams
from novel_engine.core.world import PersonaState, WorldState

__all__ = ["Resolution", "ActionResolver", "INTENSITY"]

INTENSITY = {"attack": 0.75, "flee": 0.5, "help": 0.35, "persuade": 0.3, "investigate": 0.2, "hide": 0.2,
             "speak": 0.15, "observe": 0.1, "move": 0.1, "rest": 0.05}
_VERB = {"attack": "attacks", "help": "helps", "persuade": "tries to persuade", "speak": "speaks with",
         "investigate": "investigates", "observe": "keeps watch over", "hide": "hides in", "rest": "rests in",
         "move": "goes to", "flee": "flees to"}


@dataclass(slots=True)
class Resolution:
    """The outcome of one action: its event, what it changes and the fragments it leaves behind."""

    event: Event
    fragments: list[InformationFragment] = field(default_factory=list)
    health: dict[str, float] = field(default_factory=dict)  # persona -> health change
    move: str | None = None  # destination of the actor
    hide: bool = False
    relations: list[tuple[str, str, float, float]] = field(default_factory=list)  # (who, of whom, trust, affinity)


class ActionResolver:
    """Resolves actions into events for one session.

    Args:
        world: the world state (read only here).
        streams: the session's random streams.
        difficulty: in [0, 1]; higher makes contested actions harder.
    """

    def __init__(self, world: WorldState, streams: RandomStreams, difficulty: float = 0.5) -> None:
        self.world = world
        self.streams = streams
        self.difficulty = difficulty
        self.negotiation = AgentNegotiationEngine()
        self.fans: dict[str, set[str]] = {}  # persona -> people with a relationship to them
        for p in world.personas.values():
            for other in p.relationships:
                self.fans.setdefault(other, set()).add(p.id)

    # -- helpers -------------------------------------------------------------------------------
    def _name(self, pid: str | None) -> str:
        p = self.world.personas.get(pid) if pid else None
        return p.name if p else (pid or "someone")

    def _place(self, loc: str | None) -> str:
        l = self.world.locations.get(loc) if loc else None
        return l.name if l else (loc or "somewhere")

    def _roll(self, turn: int, actor: str, p: float) -> Outcome:
        u = self.streams.uniform(turn, actor, "outcome")
        p = min(0.95, max(0.05, p - 0.3 * (self.difficulty - 0.5)))
        if u < p:
            return Outcome.SUCCESS
        return Outcome.PARTIAL if u < p + 0.2 else Outcome.FAILURE

    def _bystanders(self, actor: str, target: str, here: str) -> list[str]:
        present = self.world.present_at(here)
        personas = self.world.personas
        out = [f for f in self.fans.get(target, ()) if f != actor and f in present
               and personas[f].can_act and not personas[f].hidden
               and personas[f].relationships[target].affinity >= 0.4]
        return sorted(out)[:2]

    def _fragment(self, ev: Event, suffix: str = "", **kw: Any) -> InformationFragment:
        base = dict(id=f"ev:{ev.id}{suffix}", content=ev.summary, source_type=SourceType.DIRECT_OBSERVATION,
                    reliability=0.9, location=ev.location, turn=ev.turn,
                    subjects=tuple(x for x in (ev.actor, ev.target) if x), visibility=Visibility.LOCAL,
                    origin=ev.actor or "world")
        base.update(kw)
        return InformationFragment(**base)

    def _private(self, ev: Event, owner: str, suffix: str, content: str, key: str, value: Any,
                 reliability: float = 0.9, valence: float = 0.0, source=SourceType.DIRECT_OBSERVATION
                 ) -> InformationFragment:
        return InformationFragment(id=f"ev:{ev.id}:{suffix}", content=content, source_type=source,
                                   reliability=reliability, location=ev.location, turn=ev.turn,
                                   subjects=(ev.actor,) if ev.actor else (), visibility=Visibility.PRIVATE,
                                   origin=owner, key=key, value=value, valence=valence, salience=0.7)

    # -- resolution ----------------------------------------------------------------------------
    def resolve(self, action: Action, event_id: str, turn: int, known_events: set[str] | frozenset = frozenset()
                ) -> tuple[Resolution, NegotiationResult | None]:
        """Resolve one action (already validated) into a :class:`Resolution`.

        Args:
            action: the action.
            event_id: the id its event gets.
            turn: the turn being resolved.
            known_events: ids of recorded events; motives that name one become the event's causes.
        """
        world = self.world
        actor = world.personas[action.actor]
        kind = action.action_type.value
        here = actor.location
        target = action.target
        data: dict[str, Any] = {}
        negotiation = None
        outcome = Outcome.SUCCESS
        t = world.personas.get(target) if target else None
        if t is not None:
            if t.hidden or t.location != here:
                outcome = Outcome.BLOCKED
                data["missing"] = True
            else:
                affected = [target, *self._bystanders(actor.id, target, here)]
                negotiation = self.negotiation.negotiate_action(
                    action, affected, NegotiationContext(world=world, turn=turn))
                data["negotiation"] = negotiation.outcome
                data["stances"] = [{"agent": s.agent, "stance": s.stance, "reason": s.reason}
                                   for s in negotiation.stances]
        if outcome is not Outcome.BLOCKED:
            outcome = self._outcome(kind, actor, t, negotiation, turn)
        causes = tuple(sorted({m for m in action.motivated_by if m in known_events}))
        flags = tuple(f for f in action.flags if not f.startswith("fallback_reason:"))
        if action.origin == "player":
            flags = ("player", *flags)
        reasons = [f.split(":", 1)[1] for f in action.flags if f.startswith("fallback_reason:")]
        if reasons:
            data["fallback_reason"] = reasons[0]
        location = target if kind in ("move", "flee") else here
        if kind in ("move", "flee"):
            data["from"], data["to"] = here, target
        tells = action.parameters.get("tells_key")
        if kind in ("speak", "persuade") and isinstance(tells, str):
            data["tells"] = {"key": tells, "value": action.parameters.get("tells_value"),
                             "content": str(action.parameters.get("tells_content", ""))[:300]}
        intensity = INTENSITY.get(kind, 0.1)
        res = Resolution(event=None)  # type: ignore[arg-type]  # filled in below
        reply = self._reply(kind, t, negotiation, turn)
        if reply:
            data["reply"] = reply
        self._effects(kind, actor, t, outcome, negotiation, res, data, turn)
        if data.get("incapacitated"):
            intensity = 1.0
        elif outcome is Outcome.FAILURE and kind == "attack":
            intensity = 0.6
        summary = self._summary(kind, actor, target, outcome, location, data)
        res.event = Event(id=event_id, turn=turn, kind="action", summary=summary, actor=actor.id,
                          action_type=kind, target=target, location=location, outcome=outcome,
                          dialogue=action.dialogue,
                          participants=tuple(x for x in (actor.id, target, *data.get("counter_by", ())) if x
                                             and x in world.personas),
                          causes=causes, intensity=intensity, flags=flags, data=data)
        self._fragments(res, kind, actor, t, outcome, data)
        return res, negotiation

    def _outcome(self, kind: str, actor: PersonaState, t: PersonaState | None, neg: NegotiationResult | None,
                 turn: int) -> Outcome:
        tr = actor.traits.get
        if kind == "attack" and t is not None:
            if neg is not None and neg.outcome == "rejected":
                return Outcome.BLOCKED
            p = 0.45 + 0.3 * (tr("courage", .5) + tr("aggressiveness", .5)) / 2 \
                - 0.25 * (t.trait("courage") + t.trait("intelligence")) / 2
            if neg is not None and neg.outcome == "modified":
                p -= 0.15
            return self._roll(turn, actor.id, p)
        if kind == "help" and t is not None:
            if neg is not None and neg.outcome == "rejected":
                return Outcome.BLOCKED
            return self._roll(turn, actor.id, 0.5 + 0.4 * tr("compassion", .5) + 0.1 * tr("intelligence", .5))
        if kind == "persuade" and t is not None:
            if neg is not None and neg.outcome == "rejected":
                return Outcome.FAILURE
            trust = t.relationships[actor.id].trust if actor.id in t.relationships else 0.0
            p = 0.25 + 0.35 * tr("social_tendency", .5) + 0.25 * tr("intelligence", .5) + 0.2 * trust
            if neg is not None and neg.outcome == "accepted":
                p += 0.2
            out = self._roll(turn, actor.id, p)
            if neg is not None and neg.outcome == "modified" and out is Outcome.SUCCESS:
                out = Outcome.PARTIAL  # a counter-offer: they meet half-way
            return out
        if kind == "speak" and neg is not None and neg.outcome == "rejected":
            return Outcome.BLOCKED
        if kind == "investigate":
            return self._roll(turn, actor.id, 0.3 + 0.6 * tr("intelligence", .5))
        if kind == "hide":
            return self._roll(turn, actor.id, 0.5 + 0.3 * tr("intelligence", .5) + 0.2 * (1 - tr("social_tendency", .5)))
        return Outcome.SUCCESS

    def _reply(self, kind: str, t: PersonaState | None, neg: NegotiationResult | None, turn: int) -> str | None:
        if t is None or neg is None or kind not in ("speak", "persuade") or not t.voice:
            return None
        if self.streams.uniform(turn, t.id, f"reply:{kind}") < 0.5:
            return None
        return self.streams.choice(t.voice, turn, t.id, "reply")

    def _effects(self, kind: str, actor: PersonaState, t: PersonaState | None, outcome: Outcome,
                 neg: NegotiationResult | None, res: Resolution, data: dict, turn: int) -> None:
        ok = outcome in (Outcome.SUCCESS, Outcome.PARTIAL)
        full = outcome is Outcome.SUCCESS
        if kind == "attack" and t is not None:
            if not data.get("missing"):
                res.relations.append((t.id, actor.id, -0.45, -0.35))
            if ok:
                dmg = (0.3 + 0.2 * actor.trait("aggressiveness")) * (1.0 if full else 0.5)
                res.health[t.id] = -dmg
                data["damage"] = round(dmg, 4)
                if t.health - dmg <= 0.0:
                    data["incapacitated"] = [t.id]
                elif t.health - dmg < 0.6:
                    data["wounded"] = [t.id]
            if neg is not None:
                counters = [s.agent for s in neg.stances if s.stance == "counter"]
                if counters:
                    data["counter_by"] = counters
                    back = sum(0.1 + 0.15 * self.world.personas[c].trait("aggressiveness") for c in counters)
                    res.health[actor.id] = -round(back, 4)
                    if actor.health - back <= 0.0:
                        data.setdefault("incapacitated", []).append(actor.id)
                    for c in counters:
                        if c != t.id:
                            res.relations.append((c, actor.id, -0.3, -0.3))
        elif kind == "help" and t is not None and ok:
            res.health[t.id] = 0.3 if full else 0.15
            res.relations.append((t.id, actor.id, 0.2, 0.2))
        elif kind == "persuade" and t is not None and ok:
            res.relations.append((t.id, actor.id, 0.15 if full else 0.08, 0.1 if full else 0.05))
        elif kind == "speak" and t is not None and ok:
            res.relations.append((t.id, actor.id, 0.05, 0.05))
            res.relations.append((actor.id, t.id, 0.03, 0.05))
        elif kind == "rest":
            res.health[actor.id] = 0.15
        elif kind in ("move", "flee"):
            res.move = data["to"]
        if kind == "hide" and ok:
            res.hide = True

    def _summary(self, kind: str, actor: PersonaState, target: str | None, outcome: Outcome, location: str,
                 data: dict) -> str:
        a, verb = actor.name, _VERB.get(kind, kind)
        if kind in ("move", "flee"):
            return f"{a} {verb} {self._place(location)}"
        if kind in ("investigate", "observe", "hide", "rest"):
            tail = {Outcome.FAILURE: " but finds nothing" if kind == "investigate" else " but is seen",
                    Outcome.PARTIAL: ", with little to show"}.get(outcome, "") if kind in ("investigate", "hide") else ""
            return f"{a} {verb} {self._place(location)}{tail}"
        tname = self._name(target)
        if data.get("missing"):
            return f"{a} looks for {tname} in vain"
        tail = {Outcome.SUCCESS: "", Outcome.PARTIAL: ", with partial success", Outcome.FAILURE: " and fails",
                Outcome.BLOCKED: f", but {tname} will not have it"}[outcome] if outcome is not Outcome.NONE else ""
        if kind == "attack" and outcome is Outcome.BLOCKED:
            tail = f", but {tname} evades"
        if data.get("incapacitated") and target in data["incapacitated"]:
            tail = f" and strikes {tname} down"
        return f"{a} {verb} {tname}{tail}"

    def _fragments(self, res: Resolution, kind: str, actor: PersonaState, t: PersonaState | None,
                   outcome: Outcome, data: dict) -> None:
        ev = res.event
        out = res.fragments
        if kind in ("move", "flee"):
            dest = ev.location
            out.append(self._fragment(ev, key=f"location_of:{actor.id}", value=dest, salience=0.45,
                                      valence=-0.2 if kind == "flee" else 0.0))
            out.append(self._fragment(ev, ":left", location=data["from"], key=f"location_of:{actor.id}",
                                      value=dest, salience=0.3, reliability=0.8))
            return
        if kind == "hide" and outcome in (Outcome.SUCCESS, Outcome.PARTIAL):
            return  # nobody sees someone hide well
        if kind == "attack":
            out.append(self._fragment(ev, key=f"hostile:{actor.id}", value=ev.target, valence=-0.8,
                                      salience=0.95, reach=1))
            for victim in data.get("incapacitated", ()):
                out.append(self._fragment(ev, f":down:{victim}", key=f"status_of:{victim}", value="incapacitated",
                                          valence=-0.9, salience=1.0, reach=1, subjects=(victim,)))
        elif kind == "help":
            out.append(self._fragment(ev, key=f"ally:{actor.id}", value=ev.target, valence=0.5, salience=0.5))
        elif kind in ("speak", "persuade"):
            out.append(self._fragment(ev, key=f"talks:{actor.id}", value=ev.target, salience=0.35))
            tells = data.get("tells")
            if t is not None and outcome is not Outcome.BLOCKED and isinstance(tells, dict):
                out.append(self._private(ev, t.id, "told", f"{actor.name} says: {tells.get('content', '')}",
                                         tells["key"], tells.get("value"), reliability=0.75,
                                         source=SourceType.HEARSAY))
        else:
            out.append(self._fragment(ev, key=f"location_of:{actor.id}", value=ev.location, salience=0.15))
        if kind == "investigate" and outcome in (Outcome.SUCCESS, Outcome.PARTIAL):
            self._findings(res, actor, outcome is Outcome.SUCCESS)
        elif kind == "observe":
            self._observations(res, actor)

    def _findings(self, res: Resolution, actor: PersonaState, full: bool) -> None:
        """Investigating reveals clues kept in world facts (``clue:<place>:<name>``) and goal targets' trails."""
        ev, world = res.event, self.world
        prefix = f"clue:{actor.location}:"
        found = []
        for key in sorted(k for k in world.facts if k.startswith(prefix))[: 2 if full else 1]:
            name = key[len(prefix):]
            found.append(str(world.facts[key]))
            res.fragments.append(self._private(ev, actor.id, f"clue:{name}", str(world.facts[key]),
                                               f"clue:{name}", str(world.facts[key]), reliability=0.95))
        for g in actor.goals:
            other = world.personas.get(g.target) if g.target else None
            if other is not None and other.id != actor.id and full:
                res.fragments.append(self._private(
                    ev, actor.id, f"trail:{other.id}", f"Signs show that {other.name} is at {self._place(other.location)}",
                    f"location_of:{other.id}", other.location, reliability=0.8))
                found.append(f"signs that {other.name} is at {self._place(other.location)}")
                break
        if found:
            ev.data["finding"] = "; ".join(found)

    def _observations(self, res: Resolution, actor: PersonaState) -> None:
        """Keeping watch shows who is in the neighbouring places (up to three people)."""
        ev, world = res.event, self.world
        seen = 0
        for n in world.neighbours(actor.location):
            if world.locations[n].visibility <= 0.0:
                continue
            for pid in sorted(world.present_at(n))[:2]:
                p = world.personas[pid]
                if p.hidden or seen >= 3:
                    continue
                seen += 1
                res.fragments.append(self._private(
                    ev, actor.id, f"saw:{pid}", f"{p.name} is at {self._place(n)}", f"location_of:{pid}", n,
                    reliability=0.6 + 0.3 * world.locations[n].visibility))
