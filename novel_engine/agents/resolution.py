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
- capture and fight_fire: see :mod:`novel_engine.agents.perils` (an attack on someone already down
  becomes a capture or help there).
- speak, observe, move, flee and rest always succeed (a refused conversation is blocked; a move into
  a place sealed, ``closed:<place>``, is blocked). Difficulty d in [0, 1] shifts every contested
  chance by -0.3 * (d - 0.5).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from novel_engine.agents.discoveries import SUSPECTS, Discoveries
from novel_engine.agents.perils import Perils, captor_kind
from novel_engine.agents.revelations import _BLOCKED, _PARTIAL, _SUCCESS, Resolution, Revelations
from novel_engine.core.events import (
    Action,
    ActionType,
    Outcome,
    build_event,
)
from novel_engine.core.negotiation import AgentNegotiationEngine, NegotiationContext, NegotiationResult
from novel_engine.core.rng import RandomStreams
from novel_engine.core.world import CAPTIVE, CLOSED, PersonaState, WorldState

__all__ = ["Resolution", "ActionResolver", "INTENSITY"]

INTENSITY = {"attack": 0.75, "flee": 0.5, "help": 0.35, "persuade": 0.3, "investigate": 0.2, "hide": 0.2}
INTENSITY.update(speak=0.15, observe=0.1, move=0.1, rest=0.05, capture=0.6, fight_fire=0.45)
_KIND = {t: t.value for t in ActionType}  # member -> plain value, without the enum's slow ``.value``
_FAILURE = Outcome.FAILURE
_TAIL = {_SUCCESS: "", _PARTIAL: ", with partial success", _FAILURE: " and fails", Outcome.NONE: ""}
_PLACE_KINDS = frozenset({"move", "flee", "investigate", "observe", "hide", "rest"})  # summaries name a place
_VERB = {
    "attack": "attacks",
    "help": "helps",
    "persuade": "tries to persuade",
    "speak": "speaks with",
    "investigate": "investigates",
    "observe": "keeps watch over",
    "hide": "hides in",
    "rest": "rests in",
    "move": "goes to",
    "flee": "flees to",
    "capture": "tries to seize",
}


class ActionResolver(Revelations, Perils):
    """Resolves actions into events for one session.

    Args:
        world: the world state (read only here).
        streams: the session's random streams.
        difficulty: in [0, 1]; higher makes contested actions harder.
        discoveries: what can be found where (investigations and confidences).
    """

    def __init__(
        self, world: WorldState, streams: RandomStreams, difficulty: float = 0.5, discoveries: Discoveries | None = None
    ) -> None:
        self.world = world
        self.discoveries = discoveries if discoveries is not None else Discoveries(())
        self.streams = streams
        self.difficulty = difficulty
        self.negotiation = AgentNegotiationEngine()
        self._ctx: NegotiationContext | None = None  # the current turn's negotiation context
        # while a region is settled among others (agents/regional.py): its places, and who was
        # hidden when the regions began (what a watch sees of people in another region's places)
        self.region: frozenset[str] | None = None
        self.hidden_before: frozenset[str] = frozenset()
        self.fans: dict[str, set[str]] = {}  # persona -> people with a relationship to them
        for p in world.personas.values():
            for other in p.relationships:
                self.fans.setdefault(other, set()).add(p.id)

    # -- helpers -------------------------------------------------------------------------------
    def _name(self, pid: str | None) -> str:
        p = self.world.personas.get(pid) if pid else None
        return p.name if p else (pid or "someone")

    def _place(self, loc: str | None) -> str:
        """A place's name as it reads mid-sentence ("goes to the Eastern Tower", not "to The Eastern Tower")."""
        l = self.world.locations.get(loc) if loc else None
        name = l.name if l else (loc or "somewhere")
        return "the" + name[3:] if name.startswith("The ") else name

    def _roll(self, turn: int, actor: str, p: float) -> Outcome:
        u = self.streams.uniform(turn, actor, "outcome")
        p = min(0.95, max(0.05, p - 0.3 * (self.difficulty - 0.5)))
        if u < p:
            return Outcome.SUCCESS
        return Outcome.PARTIAL if u < p + 0.2 else Outcome.FAILURE

    def _bystanders(self, actor: str, target: str, here: str) -> list[str]:
        """Up to two people here, by id, who care for ``target`` (affinity >= 0.4) and could step in."""
        fans = self.fans.get(target)
        if not fans:
            return []
        # a set intersection in C first: most targets have no friend at hand but the actor
        near = self.world.present_at(here).intersection(fans)
        near.discard(actor)
        if not near:
            return []
        personas = self.world.personas
        return sorted(
            f
            for f in near
            if personas[f].can_act and not personas[f].hidden and personas[f].relationships[target].affinity >= 0.4
        )[:2]

    # -- resolution ----------------------------------------------------------------------------
    def resolve(
        self, action: Action, event_id: str, turn: int, known_events: set[str] | frozenset = frozenset()
    ) -> tuple[Resolution, NegotiationResult | None]:
        """Resolve one action (already validated) into a :class:`Resolution`.

        Args:
            action: the action.
            event_id: the id its event gets.
            turn: the turn being resolved.
            known_events: ids of recorded events; motives that name one become the event's causes.
        """
        world = self.world
        personas = world.personas
        actor = personas[action.actor]
        aid = actor.id
        kind = action.action_type
        kind = _KIND.get(kind, kind)
        here = actor.location
        target = action.target
        data: dict[str, Any] = {}
        negotiation = None
        outcome = _SUCCESS
        t = personas.get(target) if target else None
        if t is not None and kind == "attack" and t.health <= 0.0 and t.location == here and not t.hidden:
            # struck down before this blow landed: a foe takes them, a friend helps them up
            kind = self._redirect(actor, t)
            data["redirected"] = "attack"
            action = replace(action, action_type=ActionType(kind), dialogue=None)
        if t is not None:
            if t.hidden or t.location != here:
                outcome = _BLOCKED
                data["missing"] = True
            else:
                bystanders = self._bystanders(aid, target, here)
                ctx = self._ctx  # one context per turn: it only names the world and the turn
                if ctx is None or ctx.turn != turn or ctx.world is not world:
                    ctx = self._ctx = NegotiationContext(world=world, turn=turn)
                negotiation = self.negotiation.negotiate_action(
                    action, [target, *bystanders] if bystanders else [target], ctx
                )
                data["negotiation"] = negotiation.outcome
                data["stances"] = [
                    {"agent": s.agent, "stance": s.stance, "reason": s.reason} for s in negotiation.stances
                ]
        if outcome is not _BLOCKED:
            outcome = self._outcome(kind, actor, t, negotiation, turn)
        motives = action.motivated_by
        # all in C (filter, set, sorted): most actions have two or three motives to check
        causes = tuple(sorted(set(filter(known_events.__contains__, motives)))) if motives else ()
        flags = action.flags if type(action.flags) is tuple else tuple(action.flags)
        if flags:
            reasons = [f for f in flags if f.startswith("fallback_reason:")]
            if reasons:
                flags = tuple(f for f in flags if not f.startswith("fallback_reason:"))
                data["fallback_reason"] = reasons[0].split(":", 1)[1]
        if action.origin == "player":
            flags = ("player", *flags)
        moving = kind == "move" or kind == "flee"
        location = target if moving else here
        if moving:
            data["from"], data["to"] = here, target
            if CLOSED + target in world.facts:
                outcome, location, data["sealed"] = _BLOCKED, here, True  # sealed this turn or before
            elif outcome is _FAILURE:
                location = here  # a captive's escape that failed: still held here
        elif kind == "speak" or kind == "persuade":
            params = action.parameters
            tells = params.get("tells_key") if params else None
            if isinstance(tells, str):
                data["tells"] = {
                    "key": tells,
                    "value": params.get("tells_value"),
                    "content": str(params.get("tells_content", ""))[:300],
                }
            if negotiation is not None:
                reply = self._reply(kind, t, turn)
                if reply:
                    data["reply"] = reply
        intensity = INTENSITY.get(kind, 0.1)
        res = Resolution(None, [], {}, None, False, [])  # type: ignore[arg-type]  # the event is filled in below
        self._effects(kind, actor, t, outcome, negotiation, res, data)
        if "incapacitated" in data:
            intensity = 1.0
        elif outcome is _FAILURE and kind == "attack":
            intensity = 0.6
        summary = self._summary(kind, actor, t, target, outcome, location, data)
        if t is None:
            participants: tuple[str, ...] = (aid,)
        else:
            participants = (aid, target)
            if "counter_by" in data:
                participants += tuple(c for c in data["counter_by"] if c in personas)
        res.event = ev = build_event(
            event_id,
            turn,
            "action",
            summary,
            aid,
            kind,
            target,
            location,
            outcome,
            action.dialogue,
            participants,
            causes,
            intensity,
            flags,
            data,
        )
        self._fragments(res, ev, kind, actor, t, outcome, data)
        return res, negotiation

    def _outcome(
        self, kind: str, actor: PersonaState, t: PersonaState | None, neg: NegotiationResult | None, turn: int
    ) -> Outcome:
        tr = actor.traits.get
        said = neg.outcome if neg is not None else None
        if t is not None:
            if kind == "attack":
                if said == "rejected":
                    return _BLOCKED
                tt = t.traits.get
                p = (
                    0.45
                    + 0.3 * (tr("courage", 0.5) + tr("aggressiveness", 0.5)) / 2
                    - 0.25 * (tt("courage", 0.5) + tt("intelligence", 0.5)) / 2
                )
                if said == "modified":
                    p -= 0.15
                return self._roll(turn, actor.id, p)
            if kind == "capture":
                return self._capture_outcome(actor, t, said, turn)
            if kind == "help":
                if said == "rejected":
                    return _BLOCKED
                return self._roll(turn, actor.id, 0.5 + 0.4 * tr("compassion", 0.5) + 0.1 * tr("intelligence", 0.5))
            if kind == "persuade":
                if said == "rejected":
                    return _FAILURE
                rel = t.relationships.get(actor.id)
                trust = rel.trust if rel is not None else 0.0
                p = 0.25 + 0.35 * tr("social_tendency", 0.5) + 0.25 * tr("intelligence", 0.5) + 0.2 * trust
                if said == "accepted":
                    p += 0.2
                out = self._roll(turn, actor.id, p)
                if said == "modified" and out is _SUCCESS:
                    out = _PARTIAL  # a counter-offer: they meet half-way
                return out
        if kind == "speak" and said == "rejected":
            return _BLOCKED
        if kind == "investigate":
            return self._roll(turn, actor.id, 0.3 + 0.6 * tr("intelligence", 0.5))
        if kind == "fight_fire":
            return self._fire_outcome(actor, turn)
        if kind == "flee" and CAPTIVE + actor.id in self.world.facts:
            return self._escape_outcome(actor, turn)
        if kind == "hide":
            return self._roll(
                turn, actor.id, 0.5 + 0.3 * tr("intelligence", 0.5) + 0.2 * (1 - tr("social_tendency", 0.5))
            )
        return _SUCCESS

    def _reply(self, kind: str, t: PersonaState | None, turn: int) -> str | None:
        if t is None or not t.voice or t.health <= 0.0:
            return None  # someone down says nothing
        if self.streams.uniform(turn, t.id, f"reply:{kind}") < 0.5:
            return None
        return self.streams.choice(t.voice, turn, t.id, "reply")

    def _effects(
        self,
        kind: str,
        actor: PersonaState,
        t: PersonaState | None,
        outcome: Outcome,
        neg: NegotiationResult | None,
        res: Resolution,
        data: dict,
    ) -> None:
        ok = outcome is _SUCCESS or outcome is _PARTIAL
        full = outcome is _SUCCESS
        if t is not None:
            if kind == "attack":
                self._attack_effects(actor, t, ok, full, neg, res, data)
            elif kind == "capture":
                self._capture_effects(actor, t, ok, neg, res, data)
            elif ok and kind == "help":
                self._free(actor, t, res, data)
                res.health[t.id] = 0.3 if full else 0.15
                res.relations.append((t.id, actor.id, 0.2, 0.2))
                if t.health < 1.0:
                    data["healed"] = True
                    if t.health <= 0.0:
                        data["raised"] = [t.id]
            elif ok and kind == "persuade":
                res.relations.append((t.id, actor.id, 0.15 if full else 0.08, 0.1 if full else 0.05))
                if full:
                    self._confide(actor, t, res, data)
            elif ok and kind == "speak":
                res.relations.append((t.id, actor.id, 0.05, 0.05))
                res.relations.append((actor.id, t.id, 0.03, 0.05))
        if (
            t is not None
            and ok
            and (kind == "persuade" or kind == "speak")
            and self.world.facts.get(SUSPECTS + actor.id) == t.id
        ):
            res.facts = res.facts or {}
            res.facts[SUSPECTS + actor.id] = None  # confronted: the suspicion has had its say
            data["confronted"] = True
        if kind == "investigate" and ok:
            self._search(actor, full, res, data)
        elif kind == "rest":
            res.health[actor.id] = 0.15
            if actor.health < 1.0:
                data["healed"] = True
            held_by = self.world.facts.get(CAPTIVE + actor.id)
            if held_by is not None:  # a captive's rest is no restful sleep: told under the captor's hold
                data["captor_kind"] = captor_kind(self.world, held_by)
        elif kind == "flee" and not data.get("sealed") and self._escape(actor, outcome, res, data):
            pass  # a captive's flight: an escape, or not
        elif (kind == "move" or kind == "flee") and not data.get("sealed"):
            res.move = data["to"]
        elif kind == "hide" and ok:
            res.hide = True
        elif kind == "fight_fire":
            self._fire_effects(actor, outcome, res, data)

    def _summary(
        self,
        kind: str,
        actor: PersonaState,
        t: PersonaState | None,
        target: str | None,
        outcome: Outcome,
        location: str,
        data: dict,
    ) -> str:
        a, verb = actor.name, _VERB.get(kind, kind)
        if kind == "capture" or kind == "fight_fire" or "freed" in data or "escaped" in data or "held" in data:
            # a capture, a fight against a fire, a rescue from captivity, an escape (or not)
            told = self._peril_summary(kind, a, t.name if t is not None else "", self._place(location), outcome, data)
            if told is not None:
                return told
        if kind in _PLACE_KINDS:
            tail = ""
            if kind == "investigate" or kind == "hide":
                if outcome is _FAILURE:
                    tail = " but finds nothing" if kind == "investigate" else " but is seen"
                elif kind == "investigate" and "found" not in data and data.get("searched_out"):
                    tail = ", but nothing is left to find there"
                elif outcome is _PARTIAL:
                    tail = ", with little to show"
            if data.get("sealed"):
                return f"{a} finds the way to {self._place(data['to'])} sealed"
            return f"{a} {verb} {self._place(location)}{tail}"
        tname = t.name if t is not None else self._name(target)
        if data.get("missing"):
            return f"{a} looks for {tname} in vain"
        down = data.get("incapacitated")
        if down and target in down:
            tail = f" and strikes {tname} down"
        elif outcome is _BLOCKED:
            tail = f", but {tname} evades" if kind in ("attack", "capture") else f", but {tname} will not have it"
        else:
            tail = _TAIL[outcome]
        return f"{a} {verb} {tname}{tail}"
