"""What an event leaves, in words that fit who is in it: the outcome half of the offline prose's event writer.

:class:`OutcomeWriter` is mixed into :class:`~novel_engine.llm.prose_events.EventWriter`. It picks
the template pools that fit each kind (a beast strikes with claws, a machine is damaged, a captive
held by a beast is pinned, not tied), tells a world or causal event from its summary (a fire that
burnt out, bonds that gave), and tells what follows a deed: who fought back, stepped in or refused,
who was wounded or fell, a fire put out, a captive freed. :class:`Slots` holds one sentence's fields.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from novel_engine.llm.prose_grammar import as_ids, cap, join_names, lowered_lead, predicate, strip_end

if TYPE_CHECKING:
    from novel_engine.llm.prose_events import EventWriter

__all__ = ["OutcomeWriter", "Slots", "TERSE"]

_OWN_KIND = frozenset({"rest", "capture", "move", "flee"})  # deeds told in the actor's kind's own forms
TERSE = 0.15  # below this verbosity: no opening, closing or extra sentences


_TAG_GROUP = {
    "attack": "attack",
    "flee": "flee",
    "persuade": "persuade",
    "help": "help",
    "hide": "quiet",
    "observe": "quiet",
    "investigate": "quiet",
    "rest": "quiet",
    "capture": "attack",
    "fight_fire": "help",
}


class Slots(dict):
    """Template fields for one sentence; adverbs and speech tags are drawn only if a template asks."""

    __slots__ = ("_writer", "_action")

    def __init__(self, writer: EventWriter, action: str, **values: str) -> None:
        super().__init__(values)
        self._writer = writer
        self._action = action

    def __missing__(self, key: str) -> str:
        w, a = self._writer, self._action
        if key in ("adverb", "manner"):
            value = w.word(f"{key}.{a}") or w.word(f"{key}.move")
        elif key == "tag":
            value = w.word(f"tag.{_TAG_GROUP.get(a, 'default')}")
        elif key == "atag":
            value = w.word("answer")
        elif key == "target":
            value = w.word("fallback.target")
        else:
            value = ""  # unreachable for grammars that passed load checks
        self[key] = value
        return value


class OutcomeWriter:
    """The outcome half of the event writer (mixed into :class:`~.prose_events.EventWriter`: it uses
    the writer's ``inp``, ``g``, ``rng``, ``v``, ``say``, ``word``, ``name`` and ``place``): the pools that
    fit each kind, a world event told from its summary, who fought back or refused, who was hurt."""

    def captor_key(self, key: str, data: dict, captive: str | None = None) -> str:
        """``key`` (``escape``, ``freed``, ``captive_rest``...) in the form that fits what holds the
        ``captive``: a beast or a machine held is chained or locked out (``kind.<kind>.chained``),
        whoever took it; else what fits the captor (``captor_kind``): a beast pins with claws, it
        ties no knots."""
        ch = self.inp.characters.get(captive) if captive else None
        if ch is not None and ch.kind != "human" and f"kind.{ch.kind}.chained.{key}" in self.g.pools:
            return f"kind.{ch.kind}.chained.{key}"
        kind = data.get("captor_kind")
        if isinstance(kind, str) and kind != "human" and f"kind.{kind}.{key}" in self.g.pools:
            return f"kind.{kind}.{key}"
        return key

    def kind_key(self, e, action: str, outcome: str) -> str:
        """The pool for a deed, the kind's own when its actor (rest) or target (help) is not human;
        a captive's rest is told under the hold of the captor (``captor_kind``), not as sound sleep."""
        if action == "rest" and (e.data or {}).get("captor_kind"):
            return self.captor_key("captive_rest", e.data, e.actor)
        if action == "attack":  # a beast strikes with claws, a blow on a machine dents no flesh
            for pid, key in ((e.actor, f"attack.{outcome}"), (e.target, f"attacked.{outcome}")):
                ch = self.inp.characters.get(pid) if pid else None
                if ch is not None and ch.kind != "human" and f"kind.{ch.kind}.{key}" in self.g.pools:
                    return f"kind.{ch.kind}.{key}"
        data = e.data or {}
        if action == "help" and data.get("freed"):
            outcome = "success"  # it freed a captive: never told as help that fell short
        if action == "capture" and outcome in ("success", "partial") and not data.get("captured"):
            return "capture_held"  # already held (taken earlier this turn): the capture is a hand lent
        if action == "capture":  # a beast or a machine taken is chained or shut down, not tied hand and foot
            ch = self.inp.characters.get(e.target) if e.target else None
            if ch is not None and ch.kind != "human" and f"kind.{ch.kind}.captured.{outcome}" in self.g.pools:
                return f"kind.{ch.kind}.captured.{outcome}"
        who = e.target if action == "help" else e.actor if action in _OWN_KIND else None
        ch = self.inp.characters.get(who) if who else None
        if ch is not None and ch.kind != "human":
            key = f"kind.{ch.kind}.{action}.{outcome}"
            if key in self.g.pools:
                return key
        return f"actions.{action}.{outcome}"

    def beastly(self, key: str, e) -> str:
        """``key``, or its ``kind.<kind>.`` form when the actor or target of ``e`` is not human and
        the grammar has one: a beast does not cross blades."""
        for pid in (e.actor, e.target):
            ch = self.inp.characters.get(pid) if pid else None
            if ch is not None and ch.kind != "human" and f"kind.{ch.kind}.{key}" in self.g.pools:
                return f"kind.{ch.kind}.{key}"
        return key

    def counter_key(self, e) -> str:
        """The pool for a target striking back: a beast's own blows (``counter.back``), or a blow
        against a beast or a machine (``counter.back_at``), else the plain forms."""
        pools = self.g.pools
        for pid, key in ((e.target, "counter.back"), (e.actor, "counter.back_at")):
            ch = self.inp.characters.get(pid) if pid else None
            if ch is not None and ch.kind != "human" and f"kind.{ch.kind}.{key}" in pools:
                return f"kind.{ch.kind}.{key}"
        return "counter.back"

    def harm_key(self, key: str, pid: str) -> str:
        """``key`` (``wound.light``, ``fall.one``, ``status.wounded``...) for what ``pid`` is: a
        machine is damaged, not bleeding."""
        ch = self.inp.characters.get(pid)
        if ch is not None and ch.kind != "human" and f"kind.{ch.kind}.{key}" in self.g.pools:
            return f"kind.{ch.kind}.{key}"
        return key

    def beat_of_world(self, e, action: str | None) -> list[str]:
        """A world or causal event (or a deed of unknown kind) told from its summary."""
        data = e.data or {}
        if data.get("expired") == "fire" and data.get("fire_out"):  # left to itself, it burnt out
            return [self.say("burnt_out", Slots(self, "fight_fire", place=self.place(str(data["fire_out"]))))]
        if data.get("expired") == "captive" and data.get("freed"):  # held long enough, the bonds give
            victim = self.name(as_ids(data["freed"])[0])
            return [
                self.say(self.captor_key("let_go", data, as_ids(data["freed"])[0]), Slots(self, "help", victim=victim))
            ]
        summary = strip_end(e.summary or "") or "Something stirs"
        slots = Slots(self, "move", summary=summary)
        lowered = lowered_lead(summary)
        if lowered:
            slots["summary_lc"] = lowered
        key = "causal" if e.kind == "causal" else "generic" if e.actor or action else "world"
        out = [self.say(key, slots, set() if lowered else {"summary_lc"})]
        v = self.v
        if v < TERSE:
            self.terse_harm(out, e.data or {})
            return out
        if key != "generic" and (self.f_atmos or e.intensity >= 0.7) and self.rng.random() < 0.2 + 0.5 * v:
            flourish = self.fresh_word("flourish.world")
            if flourish:
                out.append(flourish)
        out.extend(self.harm(e.data or {}))
        return out

    # --- negotiation, counters and harm -------------------------------------------------------------

    def negotiation(self, e, data: dict, slots: Slots, outcome: str, reacted: bool) -> list[str]:
        """Who fought back or stepped in, who refused or haggled, and why (the director's stances)."""
        out: list[str] = []
        rng, v = self.rng, self.v
        countered = [c for c in as_ids(data.get("counter_by")) if c != e.actor]
        if e.target in countered:
            out.append(self.say(self.counter_key(e), slots))
        helpers = [c for c in countered if c != e.target]
        if helpers:
            s = Slots(self, "attack", actor=slots["actor"], target=slots["target"], names=self._names(helpers))
            out.append(self.say("counter.step.one" if len(helpers) == 1 else "counter.step.many", s))
        room = 0 if v < 0.3 else 2 if v >= 0.6 else 1
        for stance in data.get("stances") or ():
            agent = stance.get("agent") if isinstance(stance, dict) else None
            if room <= 0 or not agent or agent in countered or agent == e.actor:
                continue
            kind, reason = stance.get("stance"), predicate(stance.get("reason"))
            name = self.name(agent)
            if kind == "accept" or agent == e.target:
                # the target's answer is already told by the outcome: only a reason for refusing
                # help or talk, or a bystander's shrug at high verbosity, adds anything
                if agent == e.target and (
                    reacted or outcome in ("success", "partial") or e.action_type in ("attack", "capture")
                ):
                    continue
                if not reason or rng.random() >= (0.3 if kind == "accept" else 0.6) or kind == "accept" and v < 0.7:
                    continue
                line = cap(f"{name} {reason}.")
            elif reason and rng.random() < 0.5:
                line = cap(f"{name} {reason}.")
            else:
                key = "stance.evade" if "evade" in (reason or "") else f"stance.{kind}"
                if key not in self.g.pools:
                    continue
                line = self.say(key, Slots(self, "move", agent=name, actor=slots["actor"], target=slots["target"]))
            out.append(line)
            room -= 1
        negotiation = data.get("negotiation")
        if (
            negotiation == "modified"
            and not out
            and not reacted
            and rng.random() < 0.3 + 0.5 * v
            and e.action_type not in ("attack", "capture")  # no terms are haggled over a blow
        ):
            out.append(self.say("negotiation.modified", slots))
        return out

    def harm(self, data: dict, escape_told: bool = False) -> list[str]:
        """Who was wounded and who fell, one sentence each (a fall once a chapter); a fire put out
        and a captive freed (``escape_told``: the flight's own sentence told the escape)."""
        fallen = [f for f in as_ids(data.get("incapacitated")) if f not in self.fell]
        wounded = [w for w in as_ids(data.get("wounded")) if w not in fallen and w not in self.fell]
        self.fell.update(fallen)
        out = []
        if len(wounded) == 1:
            damage = data.get("damage")
            severe = isinstance(damage, (int, float)) and damage >= 0.4
            out.append(
                self.say(
                    self.harm_key("wound.severe" if severe else "wound.light", wounded[0]),
                    Slots(self, "attack", victim=self.name(wounded[0])),
                )
            )
        elif wounded:
            out.append(self.say("wound.many", Slots(self, "attack", names=self._names(wounded))))
        if self.fallen_later is not None:
            self.fallen_later.extend(f for f in fallen if f not in self.fallen_later)
        elif len(fallen) == 1:
            out.append(
                self.say(self.harm_key("fall.one", fallen[0]), Slots(self, "attack", victim=self.name(fallen[0])))
            )
        elif fallen:
            out.append(self.say("fall.many", Slots(self, "attack", names=self._names(fallen))))
        if data.get("fire_out"):
            out.append(self.say("fire_out", Slots(self, "fight_fire", place=self.place(str(data["fire_out"])))))
        for pid in as_ids(data.get("freed")):
            out.append(self.say(self.captor_key("freed", data, pid), Slots(self, "help", victim=self.name(pid))))
        for pid in () if escape_told else as_ids(data.get("escaped")):
            out.append(self.say(self.captor_key("escaped", data, pid), Slots(self, "flee", victim=self.name(pid))))
        return out

    def terse_harm(self, out: list[str], data: dict) -> None:
        """At the lowest verbosity, fold wounds and falls into the event's one sentence."""
        fallen = as_ids(data.get("incapacitated"))
        wounded = [w for w in as_ids(data.get("wounded")) if w not in fallen]
        clauses = []
        for ids, kind in ((wounded, "wound"), (fallen, "fall")):
            if ids:
                key = f"terse.{kind}.{'one' if len(ids) == 1 else 'many'}"
                clauses.append(self.word(key).format_map({"victim": self.name(ids[0]), "names": self._names(ids)}))
        if clauses and out[-1].endswith("."):
            out[-1] = f"{out[-1][:-1]}; {' and '.join(clauses)}."

    def _names(self, ids: list[str]) -> str:
        return join_names([self.name(i) for i in ids])
