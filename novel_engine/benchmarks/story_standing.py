"""bench story's reading of standing conditions: what a story told that still holds, and whether it says so.

:class:`StandingReader` follows, chapter by chapter, the conditions a story told: a fall (until
the fallen is up again), a danger (a world or causal event of intensity >= ``DANGER_INTENSITY``
that is not an order, for ``DANGER_TURNS`` turns) and a wound whose bearer appears again while
hurt. A condition still holding in a later chapter should be mentioned there (its persona or
place named; a wound in a sentence naming its bearer with a wound word), and no chapter while a
danger stands should speak of calm. The rules are the reader's own, written from the scenario's
text and the events, not asked of the engine.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from novel_engine.core.events import Event
from novel_engine.core.scenario import Scenario

__all__ = ["StandingReader", "norm_text", "DANGER_INTENSITY", "DANGER_TURNS"]

# a world or causal event this strong leaves its place dangerous for this many turns (the turn it
# strikes included), unless it is an order (it sets ``muster_at``): the reader's own rule
DANGER_INTENSITY, DANGER_TURNS = 0.6, 3
_WOUNDED = 0.6  # below this health (and above 0) a persona is hurt
# what a reader takes for a calm sky or a quiet station, and what turns such a word into unease
_CALM = re.compile(
    r"\b(at peace|peace,? or something like it|quiet morning|quiet is a gift|realm is quiet|in stillness|dawns gently|"
    r"unhurried|gentle chapter|asks little of anyone|swords stay sheathed|goes about its business|slow breath|"
    r"soft as a cloak|indifferent and kind|realm sleeps|without incident|nothing of note|a quiet day|"
    r"systems nominal|every system green|systems report green|nothing on the boards is red|crew at ease|"
    r"sensors report clear|void is content|starlight and routine|calm cycle|quiet cycle|station to sleep|"
    r"nothing to report|no incidents|a slow one|a slow night|taken the evening off|nothing needs watching|"
    r"nobody gets hurt|nobody got hurt|a quiet night|the city sleeps|takes the \w+ night off)\b",
    re.I,
)
# what says a wound is still there, in a sentence that names its bearer
_WOUND = re.compile(
    r"\b(wound\w*|injur\w*|hurt\w*|bleed\w*|blood\w*|bandag\w*|stitch\w*|limp\w*|bruis\w*|nursing|stims|"
    r"dressing|damage\w*|sore|favour\w*|winc\w*|stiff\w*|grind\w*|broken|busted|beating|heal\w*|scar\w*|"
    r"went down|goes down|fell|taken out|unconscious|out cold)\b",
    re.I,
)
# a sentence that says someone is still held, and one that tells them getting loose
_STILL_HELD = re.compile(
    r"\bstill\b.*\b(captive|prisoner|held|bound|cuffed|tied|restrained|detained|under guard|can't leave)\b|"
    r"\b(sits bound|not loosened|nobody has cut|waiting on somebody's mercy|hangs? locked)\b",
    re.I,
)
_LOOSE = re.compile(
    r"\b(free\w*|loose|gone|slip\w*|escap\w*|flee\w*|fled|runs?|ran|bolts?|gives?|released?|no more|no longer)\b", re.I
)
_UNEASE = re.compile(r"\b(not|no longer|never|beneath|illusion|before the storm|worries|suspicious)\b", re.I)


def norm_text(text: str) -> str:
    """Lower-case words, punctuation as single spaces (for comparing told text)."""
    return re.sub(r"\W+", " ", text).strip().lower()


class StandingReader:
    """Follows one story's standing conditions (see the module's text) and counts, into the
    reader's figures, those that held into a later chapter, those never mentioned there, and the
    calm sentences told while a danger stood. Call :meth:`chapter` for each chapter in order, then
    :meth:`close`."""

    def __init__(self, scenario: Scenario, reader: Any) -> None:
        self.r = reader
        self.names = {p.id: p.name for p in scenario.personas}
        self.places = {l.id: l.name[4:] if l.name.startswith("The ") else l.name for l in scenario.locations}
        self.open: list[dict[str, Any]] = []
        self.done: list[dict[str, Any]] = []
        self.peril = getattr(scenario, "peril", None)  # a fact that, while true, is the premise's own threat
        self.peril_before = bool(self.peril and scenario.facts.get(self.peril))

    def _orders(self, ev: Event) -> bool:
        spec = self.r.rules.get(ev.data.get("rule_id")) if ev.kind == "causal" else self.r.complications.get(ev.summary)
        # an order is no danger, nor is news the scenario says is none
        return spec is not None and (
            getattr(spec, "danger", None) is False or any(e.key == "muster_at" for e in spec.effects)
        )

    def chapter(
        self, turn: int, events: Sequence[Event], prose: str, sentences: list[str], down_before: set[str]
    ) -> None:
        """Read one chapter, after the reader has read its events: mark what held through it and
        was mentioned, count calm sentences under a standing danger, close what ended, open what
        the chapter told (``down_before``: who was down before its events)."""
        low = prose.lower()
        threat = False
        # whom the chapter hurts, fells or tends anew: that telling says how they are
        touched = {
            p
            for ev in events
            for p in (*(ev.data.get("wounded", ()) or ()), *(ev.data.get("incapacitated", ()) or ()))
            if isinstance(p, str)
        } | {ev.target for ev in events if ev.action_type == "help" and ev.target}
        for c in self.open:
            if c["kind"] == "wounded":  # it matters when its bearer is in the chapter
                if c["text"] in prose and c["key"] not in touched:
                    c["stood"] = True
                    c["mentioned"] = c["mentioned"] or any(c["text"] in s and _WOUND.search(s) for s in sentences)
                continue
            c["stood"] = True
            c["mentioned"] = c["mentioned"] or c["text"].lower() in low
            threat = threat or c["kind"] == "danger"
        # the premise's threat as the chapter began (a turn that ends it may open under it)
        threat = threat or bool(self.peril and self.peril_before)
        self.peril_before = bool(self.peril and self.r.facts.get(self.peril))
        if threat:
            f = self.r.f
            for s in sentences:
                if _CALM.search(s) and not _UNEASE.search(s):
                    f.calm_under_threat += 1
                    if len(f.examples) < 12:
                        f.examples.append(f"turn {turn} calm_under_threat: {s.strip()}")
        self._held_after_release(events, sentences)
        # what ends: the fallen who are up again, the dangers that die down
        keep = []
        for c in self.open:
            over = (
                (c["kind"] == "fallen" and not self.r.down(c["key"]))
                or (c["kind"] == "danger" and turn >= c["until"])
                or (c["kind"] == "wounded" and not 0.0 < self.r.health.get(c["key"], 1.0) < _WOUNDED)
            )
            (self.done if over else keep).append(c)
        self.open = keep
        # what begins, if the chapter told it
        for pid in sorted(p for p in self.r.at if self.r.down(p) and p not in down_before):
            name = self.names.get(pid, pid)
            if name in prose:
                self.open.append(self._new("fallen", pid, name, turn, 0))
        hurt = {p for ev in events for p in ev.data.get("wounded", ()) or () if isinstance(p, str)}
        for pid in sorted(hurt):
            name = self.names.get(pid, pid)
            told = any(name in s and _WOUND.search(s) for s in sentences)  # the wound itself was told
            if 0.0 < self.r.health.get(pid, 1.0) < _WOUNDED and told:
                if not any(c["kind"] == "wounded" and c["key"] == pid for c in self.open):
                    self.open.append(self._new("wounded", pid, name, turn, 0))
        for ev in events:
            if (
                ev.kind != "action"
                and ev.location in self.places
                and ev.intensity >= DANGER_INTENSITY
                and not self._orders(ev)
                and norm_text(ev.summary)[:40] in norm_text(prose)
            ):
                for c in self.open:
                    if c["kind"] == "danger" and c["key"] == ev.location:  # struck again: told again
                        c["mentioned"], c["until"] = True, turn + DANGER_TURNS - 1
                        break
                else:
                    place = self.places[ev.location]
                    self.open.append(self._new("danger", ev.location, place, turn, turn + DANGER_TURNS - 1))

    def _held_after_release(self, events: Sequence[Event], sentences: list[str]) -> None:
        """Flag a sentence that says someone is still held after the chapter told them getting
        loose (freed, or slipped free) (``held_after_release``)."""
        for ev in events:
            data = ev.data or {}
            for pid in (*(data.get("freed") or ()), *(data.get("escaped") or ())):
                name = self.names.get(pid, pid)
                loose = next(
                    (
                        i
                        for i, s in enumerate(sentences)
                        if name in s and _LOOSE.search(s) and not _STILL_HELD.search(s)
                    ),
                    None,
                )
                if loose is None:
                    continue
                for s in sentences[loose + 1 :]:
                    if name in s and _STILL_HELD.search(s):
                        self.r.flag("held_after_release", ev, f"{name} told still held: {s.strip()}")
                        break

    @staticmethod
    def _new(kind: str, key: str, text: str, turn: int, until: int) -> dict[str, Any]:
        return {
            "kind": kind,
            "key": key,
            "text": text,
            "since": turn,
            "until": until,
            "stood": False,
            "mentioned": False,
        }

    def close(self) -> None:
        """Count, after the last chapter, the conditions that held into a later chapter and those
        never mentioned there (with an example each, while there is room)."""
        f = self.r.f
        for c in [*self.done, *self.open]:
            if c["stood"]:
                f.standing += 1
                if not c["mentioned"]:
                    f.standing_forgotten += 1
                    if len(f.examples) < 12:
                        f.examples.append(f"turn {c['since']} standing_forgotten: {c['kind']} {c['text']}")
