"""Perils: blows, captures and fires, as the director settles one act of a turn.

:class:`Perils` is the part of the :class:`~novel_engine.agents.resolution.ActionResolver` that
settles the acts that put someone in danger or take them out of it. The standing states they leave
are world facts (see :mod:`novel_engine.core.world`), so briefs, the policy, the turn check and the
prose all read the same thing:

- attack: a wound, the grudge it leaves, and the blows of whoever fights back. An attack that
  reaches someone already down (struck down earlier this turn) is no blow: a foe takes them captive,
  a friend helps them up (the event says ``redirected``).
- capture: someone down is taken without a contest; someone standing is taken like an attack lands,
  easier the more hurt they are: 0.35 + 0.3 * mean(courage, aggressiveness) - 0.25 * the target's
  mean(courage, intelligence) + 0.3 * (1 - target's health), -0.2 when someone fights back; blocked
  when they slip away. Taken: ``captive:<target>`` = the captor, ``held_since:<target>`` = the turn.
  A captive talks, watches and rests, nothing more, until someone other than the captor helps them
  (``freed``), or they slip away: a flight by a captive is an escape that holds with 0.2 + 0.12 *
  turns held + 0.2 * intelligence (``escaped``; else they stay, ``held``). After ``CAPTIVE_TURNS``
  turns the bonds give anyway.
- fight_fire: 0.35 + 0.3 * courage + 0.2 * intelligence; success takes 2 of the fire's remaining
  effort (``fire_at:<place>``, ``FIRE_EFFORT`` when it starts), partial 1. At 0 the fire is out: the
  danger there ends and the scenario fact that said it burns (``fire_fact:<place>``) turns false. A
  fire nobody fights burns out after ``FIRE_TURNS`` turns; fighting one that is already out is blocked.
"""

from __future__ import annotations

from typing import Any

from novel_engine.core.events import Outcome
from novel_engine.core.negotiation import NegotiationResult
from novel_engine.core.world import (
    CAPTIVE,
    DANGER_AT,
    FIRE_AT,
    FIRE_FACT,
    HELD_SINCE,
    PersonaState,
    WorldState,
)

__all__ = [
    "Perils",
    "FIRE_EFFORT",
    "FIRE_TURNS",
    "CAPTIVE_TURNS",
    "is_fire",
    "start_fire",
    "expire_perils",
    "captor_kind",
]

FIRE_EFFORT = 3  # successful efforts x 2 (partial x 1) it takes to put out a fire
FIRE_TURNS = 6  # a fire nobody fights burns out after this many turns
CAPTIVE_TURNS = 8  # a captive nobody frees and who never got away is let go after this many turns
FRIEND = 0.3  # at or above this affinity an attack on someone down turns into help
_SUCCESS, _PARTIAL, _BLOCKED, _FAILURE = Outcome.SUCCESS, Outcome.PARTIAL, Outcome.BLOCKED, Outcome.FAILURE


def is_fire(kind: str | None, key: str | None) -> bool:
    """Whether a world event or complication sets its place on fire: its kind is ``fire``, or the
    fact it sets says something burns (``village_burning``)."""
    return kind == "fire" or (key is not None and ("burning" in key or key.endswith("fire")))


def start_fire(facts: dict[str, Any], place: str, key: str | None) -> None:
    """Set ``place`` burning (its danger is set by whoever calls): effort to put it out, and the
    scenario fact that turns false when it is out."""
    facts[FIRE_AT + place] = FIRE_EFFORT
    if key:
        facts[FIRE_FACT + place] = key


def fire_out(facts: dict[str, Any], place: str) -> dict[str, Any]:
    """The fact writes of the fire at ``place`` going out (None deletes a fact)."""
    out: dict[str, Any] = {FIRE_AT + place: None, DANGER_AT + place: None, FIRE_FACT + place: None}
    key = facts.get(FIRE_FACT + place)
    if isinstance(key, str) and key in facts:
        out[key] = False
    return out


def expire_perils(facts: dict[str, Any], turn: int) -> list[tuple[str, str, str | None]]:
    """Before a turn: fires burning ``FIRE_TURNS`` turns burn out, captives held ``CAPTIVE_TURNS``
    turns slip free; a place on fire stays dangerous while it burns.

    Returns:
        what ended, in fact order: ``("fire", place, None)`` and ``("captive", persona, captor)``,
        so the director can tell it (a fire or a captivity that ends untold reads as forgotten).
    """
    ended: list[tuple[str, str, str | None]] = []
    for key in [k for k in facts if k.startswith((FIRE_AT, HELD_SINCE))]:
        if key.startswith(FIRE_AT):
            place = key[len(FIRE_AT) :]
            struck = facts.get(DANGER_AT + place)
            if not isinstance(struck, int) or turn - struck >= FIRE_TURNS:
                for k, v in fire_out(facts, place).items():
                    if v is None:
                        facts.pop(k, None)
                    else:
                        facts[k] = v
                ended.append(("fire", place, None))
        else:
            since = facts[key]
            if isinstance(since, int) and turn - since >= CAPTIVE_TURNS:
                who = key[len(HELD_SINCE) :]
                del facts[key]
                captor = facts.pop(CAPTIVE + who, None)
                ended.append(("captive", who, captor if isinstance(captor, str) else None))
    return ended


def captor_kind(world: WorldState, captor: Any) -> str:
    """What holds a captive (``human``, ``beast``, ``machine``...): the telling of their bonds, their
    rest and their escape fits it (claws, not knots)."""
    p = world.personas.get(captor) if isinstance(captor, str) else None
    return p.kind if p is not None else "human"


def burning(facts: dict[str, Any], place: str) -> bool:
    """Whether a fire burns at ``place`` (a danger there that is a fire does not die down by itself)."""
    return FIRE_AT + place in facts


class Perils:
    """Blows, captures and fires. A mixin of ``ActionResolver``: it reads the resolver's ``world``
    and ``_roll``."""

    world: WorldState

    def _redirect(self, actor: PersonaState, t: PersonaState) -> str:
        """What an attack on someone already down becomes: ``capture`` by a foe, ``help`` by a friend."""
        rel = actor.relationships.get(t.id)
        return "help" if rel is not None and rel.affinity >= FRIEND else "capture"

    def _capture_outcome(self, actor: PersonaState, t: PersonaState, said: str | None, turn: int) -> Outcome:
        if said == "rejected":
            return _BLOCKED
        if t.health <= 0.0:
            return _SUCCESS  # someone down is in no state to resist
        tr, tt = actor.traits.get, t.traits.get
        p = (
            0.35
            + 0.3 * (tr("courage", 0.5) + tr("aggressiveness", 0.5)) / 2
            - 0.25 * (tt("courage", 0.5) + tt("intelligence", 0.5)) / 2
            + 0.3 * (1.0 - t.health)
        )
        if said == "modified":
            p -= 0.2
        return self._roll(turn, actor.id, p)  # type: ignore[attr-defined]

    def _capture_effects(
        self, actor: PersonaState, t: PersonaState, ok: bool, neg: NegotiationResult | None, res: Any, data: dict
    ) -> None:
        """A capture that holds makes ``t`` the captive of ``actor``; it leaves a grudge either way."""
        if "missing" in data:
            return
        res.relations.append((t.id, actor.id, -0.4, -0.3))
        if ok and self.world.facts.get(CAPTIVE + t.id) is None:
            res.facts = res.facts or {}
            res.facts[CAPTIVE + t.id] = actor.id
            res.facts[HELD_SINCE + t.id] = self.world.turn + 1
            data["captured"] = [t.id]
        if neg is not None:
            counters = [s.agent for s in neg.stances if s.stance == "counter" and s.agent != t.id]
            if counters:
                data["counter_by"] = counters
                for c in counters:
                    res.relations.append((c, actor.id, -0.3, -0.3))

    def _free(self, actor: PersonaState, t: PersonaState, res: Any, data: dict) -> None:
        """Help given to a captive by anyone but their captor frees them."""
        captor = self.world.facts.get(CAPTIVE + t.id)
        if captor is not None and captor != actor.id:
            res.facts = res.facts or {}
            res.facts[CAPTIVE + t.id] = None
            res.facts[HELD_SINCE + t.id] = None
            data["freed"] = [t.id]
            data["captor_kind"] = captor_kind(self.world, captor)

    def _escape_outcome(self, actor: PersonaState, turn: int) -> Outcome:
        since = self.world.facts.get(HELD_SINCE + actor.id)
        held = turn - since if isinstance(since, int) else 1
        p = 0.2 + 0.12 * held + 0.2 * actor.traits.get("intelligence", 0.5)
        return _SUCCESS if self._roll(turn, actor.id, p) is _SUCCESS else _FAILURE  # type: ignore[attr-defined]

    def _escape(self, actor: PersonaState, outcome: Outcome, res: Any, data: dict) -> bool:
        """A captive's flight: away and free, or held where they are. False when not held."""
        if CAPTIVE + actor.id not in self.world.facts:
            return False
        data["captor_kind"] = captor_kind(self.world, self.world.facts[CAPTIVE + actor.id])
        if outcome is _SUCCESS:
            res.facts = res.facts or {}
            res.facts[CAPTIVE + actor.id] = None
            res.facts[HELD_SINCE + actor.id] = None
            data["escaped"] = [actor.id]
            res.move = data["to"]
        else:
            data["held"] = True
        return True

    def _fire_outcome(self, actor: PersonaState, turn: int) -> Outcome:
        if not burning(self.world.facts, actor.location):
            return _BLOCKED  # put out earlier this turn, or never lit: nothing to fight
        tr = actor.traits.get
        return self._roll(turn, actor.id, 0.35 + 0.3 * tr("courage", 0.5) + 0.2 * tr("intelligence", 0.5))  # type: ignore[attr-defined]

    def _fire_effects(self, actor: PersonaState, outcome: Outcome, res: Any, data: dict) -> None:
        """An effort against the fire: what is left of it, or the fire out."""
        facts, here = self.world.facts, actor.location
        left = facts.get(FIRE_AT + here)
        if outcome is _BLOCKED or not isinstance(left, int):
            data["no_fire"] = True
            return
        left -= 2 if outcome is _SUCCESS else 1 if outcome is _PARTIAL else 0
        res.facts = res.facts or {}
        if left <= 0:
            res.facts.update(fire_out(facts, here))
            data["fire_out"] = here
        elif outcome is not _FAILURE:
            res.facts[FIRE_AT + here] = left

    def _attack_effects(
        self,
        actor: PersonaState,
        t: PersonaState,
        ok: bool,
        full: bool,
        neg: NegotiationResult | None,
        res: Any,
        data: dict,
    ) -> None:
        """An attack's wound, the grudge it leaves, and the blows of whoever fights back."""
        if "missing" not in data:
            res.relations.append((t.id, actor.id, -0.45, -0.35))
        if ok:
            dmg = (0.3 + 0.2 * actor.traits.get("aggressiveness", 0.5)) * (1.0 if full else 0.5)
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
                personas = self.world.personas
                back = sum(0.1 + 0.15 * personas[c].traits.get("aggressiveness", 0.5) for c in counters)
                res.health[actor.id] = -round(back, 4)
                if actor.health - back <= 0.0:
                    data.setdefault("incapacitated", []).append(actor.id)
                for c in counters:
                    if c != t.id:
                        res.relations.append((c, actor.id, -0.3, -0.3))

    def _peril_summary(self, kind: str, a: str, tname: str, place: str, outcome: Outcome, data: dict) -> str | None:
        """The event summary of a capture, a rescue from captivity or a fight against a fire (else None)."""
        if kind == "fight_fire":
            if data.get("no_fire"):
                return f"{a} finds no fire left to fight in {place}"
            if data.get("fire_out"):
                return f"{a} fights the fire in {place}, and the fire in {place} is out"
            tail = " and fails" if outcome is _FAILURE else ", with partial success" if outcome is _PARTIAL else ""
            return f"{a} fights the fire in {place}{tail}"
        if data.get("escaped"):
            return f"{a} slips free and flees to {place}"
        if data.get("held"):
            return f"{a} strains to get free, but is held fast"
        if data.get("captured"):
            return f"{a} takes {tname} captive"
        if data.get("freed"):
            return f"{a} frees {tname}"
        return None
