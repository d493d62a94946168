"""Standing conditions in the offline prose: what earlier turns left that still holds, told where it matters.

The chronicler marks which of a chapter's :class:`~novel_engine.llm.port.StandingNote` to tell
(see :mod:`novel_engine.agents.standing_notes`); :class:`StandingWriter` tells them. A note at a
place the chapter's events reach waits for that place (a danger sets its paragraph's scene, a
fall follows the first event there); a wound follows its bearer's first event; the others are
told in the chapter's opening. A danger also decides the atmosphere (see ``_Writer.atmosphere``):
while one stands, no calm line is drawn.
"""

from __future__ import annotations

from novel_engine.llm.prose_events import Slots
from novel_engine.llm.prose_grammar import join_names

__all__ = ["StandingWriter", "mid_sentence"]


def mid_sentence(name: str) -> str:
    """A place's name as it reads mid-sentence ("in the Crimson Tavern"; cap() restores a capital)."""
    return "the" + name[3:] if name.startswith("The ") else name


class StandingWriter:
    """The standing-condition half of the chapter writer (mixed into it: it uses the writer's
    ``inp``, ``g``, ``rng``, ``say``, ``word`` and ``name``)."""

    def threat_places(self) -> tuple[dict[str, tuple[str, int]], bool]:
        """The places a standing danger threatens (id -> (name as it reads mid-sentence, the turn
        it struck)), and whether a danger strikes this turn."""
        self.threats = {
            n.place: (mid_sentence(n.place_name), n.since)
            for n in self.inp.standing
            if n.kind == "danger" and n.place_name
        }
        self.threat_told = ""
        self.struck = any(isinstance((e.data or {}).get("danger_turns"), int) for e in self.inp.events)
        return self.threats, self.struck

    def place_standing(self, here: set[str]) -> list:
        """Share out the notes to tell: those at a place the chapter's events are at wait for it
        (``self.bound``); the others are returned, to be told in the chapter's opening."""
        self.bound: dict[str, list] = {}
        self.wounds = {n.subject: n for n in self.inp.standing if n.tell and n.kind == "wounded"}
        remote = []
        for n in self.inp.standing:
            if n.tell and n.kind != "wounded":
                if n.place in here:
                    self.bound.setdefault(n.place, []).append(n)
                else:
                    remote.append(n)
        return remote

    def standing_line(self, n, here: bool = False) -> str:
        """One standing condition in a sentence ("Ser Aldric still lies in the Eastern Tower");
        ``here``: told right after an event at its place, so a fall need not name the place again."""
        place = (
            mid_sentence(n.place_name) if n.place_name else "" if n.kind == "wounded" else self.word("fallback.place")
        )
        slots = Slots(self, "move", victim=n.subject_name or self.name(n.subject), place=place)
        pools = self.g.pools
        keys = [f"standing.{n.kind}"]
        if here and n.kind == "fallen":
            # the forms that leave the place out, or now and then one that names it: a draw in
            # proportion to the pools' sizes, so all of them come round
            short, full = len(pools.get("standing.fallen_here", ())), len(pools[keys[0]])
            if self.rng.random() * (short + full) < short:
                keys.insert(0, "standing.fallen_here")
        # a captive under a beast's claw or a machine's clamps first, then the subject's kind (a
        # machine lies dark), then the plain forms
        held = [f"kind.{n.holder_kind}.standing.held"] if n.kind == "captive" and n.holder_kind != "human" else []
        for key in held + [f"kind.{n.subject_kind}.{k}" for k in keys] + keys:
            if key in pools:
                return self.say(key, slots)
        return ""

    def standing_here(self, loc: str | None) -> list[str]:
        """The standing conditions at ``loc`` not yet told this chapter, told now."""
        notes = self.bound.pop(loc, None) if loc else None
        return self.standing_lines(notes, here=True) if notes else []

    def wound_of(self, event) -> list[str]:
        """A wound told before, the first time this chapter its bearer acts or is acted on (if
        they still carry it, and this event does not hurt them anew: that tells itself)."""
        if not self.wounds:
            return []
        data = event.data or {}
        hurt = set(data.get("wounded") or ()) | set(data.get("incapacitated") or ())
        out = []
        for pid in (event.actor, event.target):
            note = self.wounds.pop(pid, None) if pid else None
            sketch = self.inp.characters.get(pid) if note is not None else None
            if sketch is not None and sketch.status == "wounded" and pid not in hurt:
                out.append(self.standing_line(note))
        return out

    def standing_lines(self, notes: list, here: bool = False) -> list[str]:
        """Standing conditions in sentences: several people down in one."""
        fallen = [n for n in notes if n.kind == "fallen"]
        if len(fallen) > 1:
            names = join_names([n.subject_name or self.name(n.subject) for n in fallen])
            out = [self.say("standing.fallen_many", Slots(self, "move", names=names))]
        else:
            out = [self.standing_line(n, here) for n in fallen]
        return out + [self.standing_line(n, here) for n in notes if n.kind != "fallen"]
