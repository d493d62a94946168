"""Checking a language model's chapter against the events it was given (grounded LLM prose).

:func:`check_prose` reads the model's text with what the chronicler knows of the turn (the
:class:`~novel_engine.llm.port.NarrationInput`: events, characters, places, standing conditions)
and lists what does not hold:

- a name nobody gave it: a capitalised word inside a sentence (not its first word: "In", "Lord";
  the name after "Lord" is checked) that is in no character's or place's name, the title, an
  event summary, a description or a standing condition, and is not a common capitalised word;
- a persona put somewhere the events did not: a sentence that names one persona who acted this
  turn and places, none of which is where its events happened (or where it came from);
- a fallen persona acting: a persona down before the turn and still down after it, named as the
  subject of a verb that is not one of lying still (``lies``, ``remains``, ``is``...).

The chronicler replaces a chapter that fails with the offline prose and records why. The checks
read words, not meaning: they are built to catch invented people and places and the plainest
contradictions, and to pass a model that retells what it was given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from novel_engine.llm.port import NarrationInput

__all__ = ["check_prose"]

_TOKEN = re.compile(r"[A-Z][\w'’-]*")
_SENTENCES = re.compile(r"(?<=[.!?])[\"”']?\s+")
_COMMON = frozenset(
    {
        "I",
        "I'm",
        "I'll",
        "I've",
        "I'd",
        "God",
        "Gods",
        "Heaven",
        "Hell",
        "Fate",
        "Death",
        "Night",
        "Dawn",
        "Lord",
        "Lady",
        "Sir",
        "Ser",
        "Mr",
        "Mrs",
        "Ms",
        "Dr",
        "Captain",
        "Commander",
        "Sergeant",
        "Detective",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "OK",
    }
)
# what a fallen persona may still do in a sentence: lie there, be, breathe
_STILL = frozenset(
    {
        "is",
        "was",
        "lies",
        "lay",
        "lain",
        "remains",
        "remained",
        "stays",
        "stayed",
        "rests",
        "rested",
        "sleeps",
        "slept",
        "breathes",
        "breathed",
        "bleeds",
        "bled",
        "sprawls",
        "sprawled",
        "slumps",
        "slumped",
        "has",
        "had",
        "still",
        "does",
        "did",
        "cannot",
        "can't",
        "never",
        "no",
        "not",
        "groans",
        "moans",
        "stirs",
        "sags",
        "falls",
        "fell",
        "fallen",
        "collapses",
        "collapsed",
        "goes",
        "went",
        "gone",
        "looks",
        "seems",
        "appears",
    }
)


def _words(texts: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for text in texts:
        for w in re.findall(r"[\w'’-]+", text or ""):
            out.add(w)
            out.add(w.removesuffix("'s").removesuffix("’s"))
    return out


def check_prose(text: str, inp: NarrationInput, down: Mapping[str, str] = {}) -> list[str]:
    """What in ``text`` the events do not support (an empty list: the chapter holds).

    Args:
        text: the model's chapter.
        inp: what the model was given.
        down: personas down before this turn (id -> name); those still down after it must not act.
    """
    problems: list[str] = []
    chars = inp.characters
    known = (
        _words(
            [
                inp.title,
                *inp.conditions,
                *down.values(),
                *(c.name for c in chars.values()),
                *(c.description for c in chars.values()),
                *(n for n, _ in inp.locations.values()),
                *(d for _, d in inp.locations.values()),
                *(e.summary for e in inp.events),
            ]
        )
        | _COMMON
    )
    sentences = [s for s in _SENTENCES.split(text.replace("\n", " ")) if s.strip()]
    for sentence in sentences:
        for m in _TOKEN.finditer(sentence):
            word = m.group(0).rstrip("'’")
            base = word.removesuffix("'s").removesuffix("’s")
            if not sentence[: m.start()].strip(" \"“'‘("):
                continue  # any sentence may open with a capital ("In", "Lord"): the next name is checked
            if word not in known and base not in known:
                problems.append(f"names {base!r}, whom the events do not know")
    places = {lid: name for lid, (name, _) in inp.locations.items() if name}
    where: dict[str, set[str]] = {}
    for e in inp.events:
        if e.actor and e.kind == "action":
            spots = where.setdefault(e.actor, set())
            for lid in (e.location, (e.data or {}).get("from"), e.target):
                if isinstance(lid, str) and lid in places:
                    spots.add(places[lid].removeprefix("The ").removeprefix("the "))
    for pid, spots in where.items():
        ch = chars.get(pid)
        if ch is None or not ch.name or not spots:
            continue
        for sentence in sentences:
            if ch.name not in sentence or sum(c.name in sentence for c in chars.values() if c.name) > 1:
                continue
            named = {
                n.removeprefix("The ").removeprefix("the ")
                for n in places.values()
                if n in sentence or n.removeprefix("The ") in sentence
            }
            if named and not named & spots:
                problems.append(f"puts {ch.name} at {', '.join(sorted(named))}, where the events do not")
    for pid, name in down.items():
        ch = chars.get(pid)
        if ch is not None and ch.status != "incapacitated":
            continue  # helped up this turn
        for m in re.finditer(rf"\b{re.escape(name)}\b\s+([a-z][\w'’-]*)", text):
            verb = m.group(1)
            if verb not in _STILL and (verb.endswith("s") or verb.endswith("ed")):
                problems.append(f"{name}, who is down, {verb}")
    return list(dict.fromkeys(problems))
