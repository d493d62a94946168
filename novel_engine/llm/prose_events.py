"""Sentences for a turn's events: the event-level half of the offline chronicler's prose.

:class:`EventWriter` holds what one chapter has already said (templates used, characters
introduced, who has spoken) and turns each event into one or more sentences: the deed by action
type and outcome, then, as verbosity and focus allow, a flourish, the spoken line and the reply,
what an investigation found; what follows it (who fought back, who was hurt) comes from
:class:`~.prose_outcomes.OutcomeWriter`, mixed in.
:mod:`.offline_prose` builds the chapter around these sentences.
"""

from __future__ import annotations

import math
import random
import re
from functools import lru_cache

from novel_engine.core.rng import stable_hash
from novel_engine.llm.port import NarrationInput
from novel_engine.llm.prose_grammar import (
    ACTION_TYPES,
    Grammar,
    Template,
    appositive,
    as_ids,
    cap,
    decap,
    number_words,
    ordinal,
    quote_forms,
    strip_end,
    strongest_trait,
)
from novel_engine.llm.prose_lines import CALM_ACTS, LineMaker
from novel_engine.llm.prose_outcomes import TERSE, OutcomeWriter, Slots

__all__ = ["EventWriter", "Slots", "PERSONA_TARGETED", "LOCATION_TARGETED", "TERSE"]

PERSONA_TARGETED = frozenset({"speak", "persuade", "help", "attack", "capture"})
LOCATION_TARGETED = frozenset({"move", "flee"})
# a captive's bid for freedom (held or away) and a capture are news every time: never summed up
_CAPTIVITY = frozenset({"held", "escaped", "freed", "captured"})
_STAYED = frozenset({"failure", "blocked"})  # a move or a flight with these outcomes stayed where it was
_REPEAT_GROUP = {
    "attack": "attack",
    "help": "help",
    "speak": "talk",
    "persuade": "talk",
    "investigate": "investigate",
    "move": "move",
    "flee": "move",
    "capture": "attack",
    "fight_fire": "fire",
}


class EventWriter(OutcomeWriter):
    """Writes the sentences of one chapter's events; remembers what was said so a turn does not
    repeat itself. Subclasses provide :meth:`prefix` (what may open a paragraph)."""

    def __init__(self, inp: NarrationInput, rng: random.Random, grammar: Grammar) -> None:
        self.inp, self.rng, self.g = inp, rng, grammar
        v = inp.verbosity
        self.v = 0.5 if not isinstance(v, (int, float)) or math.isnan(v) else min(1.0, max(0.0, float(v)))
        focus = set(inp.focus)
        self.f_action, self.f_dialogue, self.f_atmos = ("action" in focus, "dialogue" in focus, "atmosphere" in focus)
        self.used: set[str] = set()
        self.introduced: set[str] = set()  # characters already given a descriptive clause
        self.voiced: set[str] = set()
        self.described: set[str] = set()
        self.moved_on: set[str] = set()  # how this chapter's transitions opened (see offline_prose)
        self.told_at: set[str] = set()  # the places of this chapter's paragraphs so far
        self.summed: set[frozenset] = set()  # pairs whose repeated beat this chapter summed up
        self.fell: set[str] = set()  # whose fall this chapter has told
        self.flourished: set[str] = set()  # the flourishes this chapter has used
        self.seen_marks: dict[str, bool] = {}  # template mark -> whether the chapters before hold it
        self.scenes = 0
        # more than two falls in a chapter are told together at its end (fall.many), not one by one
        falls = [v for e in inp.events for v in as_ids((e.data or {}).get("incapacitated"))]
        self.fallen_later: list[str] | None = [] if len(falls) > 2 else None
        # someone who speaks this turn needs no catchphrase put in their mouth as well
        self.speakers = {
            e.actor
            for e in inp.events
            if e.actor and (e.dialogue or getattr(e.action_type, "value", e.action_type) in ("speak", "persuade"))
        }
        self.before = inp.before
        self.lines = LineMaker(inp.characters, inp.before)

    # --- choosing and filling templates ---------------------------------------------------------

    def pick(self, key: str, absent: frozenset[str] | set[str] = frozenset()) -> Template | None:
        """Draw a template from pool ``key``, skipping those that need an ``absent`` field."""
        pool = self.g.pools.get(key)
        if not pool:
            return None
        if absent:
            pool = tuple(t for t in pool if not t.fields & absent) or pool
        rng, used = self.rng, self.used
        choice = pool[rng.randrange(len(pool))]
        for _ in range(2):  # a second or third draw avoids most repeats within a turn
            if choice.text not in used:
                break
            choice = pool[rng.randrange(len(pool))]
        used.add(choice.text)
        return choice

    def word(self, key: str) -> str:
        """Draw a plain word or phrase (an adverb, a speech tag, a trait phrase) from pool ``key``."""
        t = self.pick(key)
        return t.text if t else ""

    def beat(self) -> str:
        """A beat to lead a sentence or a paragraph with ("Then,"), or nothing when the draws find
        only beats this chapter has used: "In the same breath," twice in a chapter stutters."""
        n = len(self.used)
        text = self.word("beat")
        return text if len(self.used) > n else ""  # pick adds what it draws: a used one adds nothing

    def say(self, key: str, slots: dict[str, str], absent: frozenset[str] | set[str] = frozenset()) -> str:
        """Draw a template from pool ``key`` and fill it: one capitalised sentence, one not written
        in the chapters before if a few draws find one."""
        return cap(self.fresh(key, slots, absent)[1])

    def fresh(
        self, key: str, slots: dict[str, str], absent: frozenset[str] | set[str] = frozenset()
    ) -> tuple[Template | None, str]:
        """A template from pool ``key`` and its text: one neither this chapter nor the chapters
        before used (with whatever names: its ``mark``; or the very text), drawn at random; else
        the one the chapters before used longest ago. A story that says the same thing twice, or
        in the same words, reads as a log."""
        before = self.before
        if not before:
            t = self.pick(key, absent)
            return (t, t.render(slots)) if t is not None else (None, "")
        pool = self.g.pools.get(key)
        if not pool:
            return None, ""
        if absent:
            pool = tuple(t for t in pool if not t.fields & absent) or pool
        used = self.used
        unused = [t for t in pool if t.text not in used] or list(pool)
        seen = self.seen_marks
        for t in unused:
            if t.mark and t.mark not in seen:
                seen[t.mark] = t.mark in before  # once a chapter: the text before does not change
        new = [t for t in unused if not (t.mark and seen[t.mark])]
        while new:
            t = new.pop(self.rng.randrange(len(new)))
            text = t.render(slots)
            if strip_end(text) not in before:
                used.add(t.text)
                return t, text
        # every form was used lately: the one used longest ago (its last use earliest in the text)
        t = min(unused, key=lambda c: before.rfind(c.mark or strip_end(c.render(slots))))
        used.add(t.text)
        return t, t.render(slots)

    def fresh_word(self, key: str) -> str:
        """A whole-sentence word pool entry (a flourish) written neither in the chapters before nor
        in this one (the same "Something breaks" twice in a paragraph reads as a stutter), or ''."""
        for _ in range(3):
            text = self.word(key)
            if text not in self.flourished and (not self.before or strip_end(text) not in self.before):
                self.flourished.add(text)
                return text
        return ""

    def name(self, pid: str | None) -> str:
        """A character's name; a place's name; else the id itself (underscores as spaces)."""
        if not pid:
            return self.word("fallback.actor")
        ch = self.inp.characters.get(pid)
        if ch is not None and ch.name:
            return ch.name
        if pid in self.inp.locations:
            return self.place(pid)
        return pid.replace("_", " ")

    def place(self, lid: str | None) -> str:
        """A place's name as it reads mid-sentence, or the style's word for somewhere unnamed."""
        if not lid:
            return self.word("fallback.place")
        entry = self.inp.locations.get(lid)
        name = entry[0] if entry and entry[0] else lid.replace("_", " ")
        # "in the Crimson Tavern" reads better than "in The Crimson Tavern"; cap() restores it
        return "the" + name[3:] if name.startswith("The ") else name

    def prefix(self, index: int, first_here: bool, loc: str | None, names_place: bool) -> str:
        """What may open a paragraph (a transition, a place); none by default."""
        return ""

    # --- one event --------------------------------------------------------------------------------

    def event(self, e, para_index: int | None, first_here: bool, follows: bool, where: str = "") -> list[str]:
        """The sentences for one event; ``para_index`` is set when the event opens a paragraph,
        ``follows`` when it comes after another event in the same paragraph, ``where`` (a place's
        name) when it happens somewhere else than the event before it in the paragraph (a storyline
        spans places: the reader is told where it moved on to)."""
        action = getattr(e.action_type, "value", e.action_type)
        if not e.actor or action not in ACTION_TYPES:
            return self.beat_of_world(e, action)
        rng, v, data = self.rng, self.v, e.data or {}
        outcome = getattr(e.outcome, "value", e.outcome)
        outcome = "success" if outcome not in ("partial", "failure", "blocked") else outcome
        slots, absent = self.event_slots(e, action)
        again = self.inp.repeats.get(e.id, 0)
        if again >= 2 and not data.get("missing") and not _CAPTIVITY.intersection(data):
            # a beat told in the chapters before is summed up, not told again (see untold)
            harm = self.harm(data)
            pair = frozenset((e.actor, e.target or e.location or ""))
            if pair in self.summed:  # the other side of a fight already summed up: only its harm
                return harm
            self.summed.add(pair)
            slots["nth"], slots["n"] = ordinal(again), number_words(again)
            return [self.say(self.beastly(f"repeat.{_REPEAT_GROUP.get(action, 'quiet')}", e), slots), *harm]
        missing = bool(data.get("missing")) and action in PERSONA_TARGETED
        # what is said comes from the exchange (see prose_lines); nothing is said to someone absent
        lines = None if missing else quote_forms(self.lines.line(self, e, action))
        if lines:
            slots["line"], slots["line_c"] = lines
            if lines[0].rstrip('"\u201d').endswith("?"):  # a question is asked: no '"...?" she tells him'
                absent = {*absent, "line_c"}
        spoken = bool(lines) and action in ("speak", "persuade") and (self.f_dialogue or rng.random() < 0.5)
        # several things found come joined with "; ": each one that reads as a sentence is told as one
        finding = re.sub(r"[.!?]*; (?=[A-Z])", ". ", strip_end(str(data.get("finding") or "")))
        key = f"dialogue.{action}" if spoken else self.kind_key(e, action, outcome)
        if not spoken and action == "flee" and data.get("escaped"):
            key = self.captor_key("escape", data, e.actor)  # the bonds give, then the flight: cause before effect
        elif not spoken and action == "flee" and data.get("held"):
            key = self.captor_key("escape_failed", data, e.actor)  # the hold is the news, not fear or a stumble
        if action == "investigate" and outcome in ("success", "partial") and not spoken:
            # a search is told by what it found: nothing there reads as nothing found, and what the
            # story already told as nothing new (never "uncovers what the lab was hiding", then nothing)
            if not finding:
                key = self.kind_key(e, action, "failure")
            elif finding in self.before:
                key = "search_known"
        if missing:  # the target was not there: nothing else happened (a fight sought, not a chat)
            key = "hunt" if action == "attack" and "hunt" in self.g.pools else "missing"
        t, text = self.fresh(key, slots, absent)
        lead = ""
        if where and para_index is None and "place" not in t.fields:
            lead = self.say("opener.place", Slots(self, "move", place=where))
            if not t.opens_with_actor and not t.text.startswith("{"):
                text = decap(text)  # "In the Hall, the search...": the template's own capital goes
        if t.opens_with_actor:
            if para_index is not None:
                loc = e.location
                lead = self.prefix(para_index, first_here, loc, names_place="place" in t.fields)
            elif follows and not lead and v > 0 and rng.random() < 0.2:
                lead = self.beat()
            text = self.with_clause(e.actor, action, text, slots["actor"], allow_lead=not lead)
        elif para_index is not None:  # the paragraph opens with someone else: it still says where it is
            lead = self.prefix(para_index, first_here, e.location, names_place="place" in t.fields)
            if lead and not t.text.startswith("{"):
                text = decap(text)  # "Elsewhere, the claw of ...": the template's own capital goes
        out = [cap(f"{lead} {text}") if lead else cap(text)]
        if spoken:  # the answer agrees with the outcome: in words, or in a gesture
            reply = quote_forms(self.lines.reply(self, e, action, outcome)) if rng.random() < 0.3 + 0.4 * v else None
            if reply:
                slots["reply"], slots["reply_c"] = reply
                out.append(self.say("dialogue.reply", slots))
            else:
                out.append(self.say(f"reaction.{action}.{outcome}", slots))
        if v < TERSE:
            self.terse_harm(out, data)
            return out
        if (
            self.f_action
            and not data.get("missing")
            and not data.get("held")  # pounding feet and the like, for a flight that never began
            and outcome != "blocked"  # nor a ringing blow that was stopped before it landed
            and (e.intensity >= 0.5 or action == "attack")
            and rng.random() < 0.3 + 0.5 * v
        ):
            key = self.beastly(f"flourish.{action}", e)
            flourish = self.fresh_word(key if key in self.g.pools else "flourish.default")
            if flourish:
                out.append(flourish)
        if lines and not spoken and (self.f_dialogue or rng.random() < 0.15 + 0.35 * v):
            if action == "persuade":  # persuasion's verbs ("urges") need someone to urge
                slots["tag"] = self.word("tag.default")
            # a line for someone is said to them, never "to nobody in particular"
            key = (
                "dialogue.at"
                if action == "attack"
                else "dialogue.to"
                if action in PERSONA_TARGETED and e.target
                else "dialogue.other"
            )
            out.append(self.say(key, slots))
        # a finding told in the chapters before is no news: the search is told, not its old result
        if action == "investigate" and finding and outcome in ("success", "partial") and finding not in self.before:
            slots["finding"] = finding
            out.append(self.say("finding", slots))
        out.extend(self.negotiation(e, data, slots, outcome, spoken))
        out.extend(self.harm(data, escape_told=action == "flee"))
        voice = self.inp.characters.get(e.actor)
        # a catchphrase is seasoning: one or two a chapter, never for someone who speaks anyway, and
        # only one that fits whoever hears it (see prose_lines)
        if (
            voice is not None
            and voice.voice
            and e.actor not in self.speakers
            and action in CALM_ACTS
            and outcome != "failure"
            and len(self.voiced) < 1 + (v >= 0.8)
            and rng.random() < (0.06 if self.f_dialogue else 0.03) * (0.5 + v)
        ):
            self.voiced.add(e.actor)
            listener = self.inp.characters.get(e.target) if action in PERSONA_TARGETED else None
            said = quote_forms(self.lines.catchphrase(self, e.actor, listener))
            if said:
                slots["line"], slots["line_c"] = said
                out.append(self.say("dialogue.voice", slots))
        return out

    def untold(self, e) -> bool:
        """Whether ``e`` goes untold: a beat told in the chapters before is summed up on its second
        day, its fourth, eighth..., or when it hurts someone; on the other days it is not told."""
        again = self.inp.repeats.get(e.id, 0)
        data = e.data or {}
        return (
            again >= 2
            and bool(again & (again - 1))
            and not data.get("missing")
            and not data.get("wounded")
            and not data.get("incapacitated")
            and not _CAPTIVITY.intersection(data)
        )

    def event_slots(self, e, action: str) -> tuple[Slots, set[str]]:
        """The fields of an event's sentences, and the optional fields it cannot fill."""
        data = e.data or {}
        place_id = (e.location or e.target) if action in LOCATION_TARGETED else e.location
        if data.get("sealed") or (action in LOCATION_TARGETED and e.target and e.outcome.value in _STAYED):
            place_id = e.target  # the place it could not get into, not the one it never left
        slots = Slots(self, action, actor=self.name(e.actor), place=self.place(place_id))
        absent: set[str] = set()
        origin = data.get("from")
        if isinstance(origin, str) and origin and origin != place_id:
            slots["origin"] = self.place(origin)
        else:
            absent.add("origin")
        if e.target and action in PERSONA_TARGETED:
            slots["target"] = self.name(e.target)
        return slots, absent

    def with_clause(self, pid: str, action: str, text: str, name: str, allow_lead: bool) -> str:
        """Sometimes colour a sentence that opens with the actor: an appositive or a leading phrase."""
        rng, v = self.rng, self.v
        if v <= 0 or pid in self.introduced or rng.random() >= 0.12 + 0.4 * v:
            return text
        ch = self.inp.characters.get(pid)
        if ch is None:
            return text
        # the same description every chapter would grate: it comes on the first turn, then on
        # every third turn for each character (staggered by id); trait phrases every other turn
        turn, phase = self.inp.turn, _phase(pid)
        options: list[str] = []
        appos = appositive(ch.description) if turn <= 1 or (turn + phase) % 3 == 0 else None
        if appos:
            options.append("appositive")
        if allow_lead:
            if ch.status == "wounded":
                options.append(self.harm_key("status.wounded", pid))
            trait = strongest_trait(ch.traits, action) if (turn + phase) % 2 == 0 else None
            if trait and f"trait.{trait}" in self.g.pools:
                options.append(f"trait.{trait}")
        if not options:
            return text
        self.introduced.add(pid)
        kind = options[rng.randrange(len(options))]
        if kind == "appositive":
            return f"{name}, {appos},{text[len(name) :]}"
        return f"{self.word(kind)}, {text}"


@lru_cache(maxsize=65536)
def _phase(pid: str) -> int:
    return stable_hash(pid)
