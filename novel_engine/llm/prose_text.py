"""Small text helpers of the offline chronicler's prose: capitals, stops, quotes, names and numbers.

What a template's fields need before they go in (a summary lowered mid-sentence, a line in both
quote forms, several names joined, "third" for 3) and what a character brings to a sentence (the
trait that fits an act, an appositive from their description, a stance's reason as a predicate).
:mod:`.prose_grammar` re-exports them beside the grammars they serve.
"""

from __future__ import annotations

import re

__all__ = [
    "cap",
    "decap",
    "strip_end",
    "lowered_lead",
    "quote_forms",
    "join_names",
    "number_words",
    "ordinal",
    "first_sentence",
    "appositive",
    "predicate",
    "strongest_trait",
    "as_ids",
]

_OPENING_PUNCT = "\"'([-*"
# words a world-event summary may start with and still be lowercased mid-sentence; anything else
# (most likely a name) keeps its capital, and only templates that open with the summary are used
_LOWERABLE = frozenset(
    {
        "a",
        "an",
        "the",
        "some",
        "several",
        "many",
        "few",
        "all",
        "every",
        "no",
        "two",
        "three",
        "four",
        "distant",
        "thunder",
        "rain",
        "snow",
        "smoke",
        "fire",
        "fog",
        "mist",
        "night",
        "dawn",
        "word",
        "news",
        "rumours",
        "rumors",
        "somewhere",
        "something",
        "someone",
        "nobody",
        "everyone",
        "people",
        "dark",
        "strange",
        "sirens",
        "alarms",
        "shots",
        "gunfire",
        "power",
        "lights",
    }
)
_NUMBER_WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
)
_ORDINALS = (
    "zeroth",
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
)


def cap(text: str) -> str:
    """Upper-case the first letter of ``text``, looking past opening quotes and brackets."""
    for i, ch in enumerate(text):
        if ch in _OPENING_PUNCT or ch.isspace():
            continue
        return text[:i] + ch.upper() + text[i + 1 :] if ch.islower() else text
    return text


def decap(text: str) -> str:
    """Lower-case the first word of a sentence that opens with template text (never a name)."""
    first = text.split(" ", 1)[0]
    if first == "I" or first.startswith("I'") or not first[:1].isupper() or first[1:2].isupper():
        return text
    return text[:1].lower() + text[1:]


def strip_end(text: str) -> str:
    """Trim whitespace and closing punctuation, so a template can add its own."""
    return text.strip().rstrip(".!?;:, ").strip()


def lowered_lead(text: str) -> str | None:
    """``text`` with its first word lower-cased when that is safe mid-sentence, else None."""
    first = text.split(" ", 1)[0]
    if first.islower() or (first.lower() in _LOWERABLE and not first[1:].isupper()):
        return text[:1].lower() + text[1:]
    return None


def quote_forms(line: str | None) -> tuple[str, str] | None:
    """A spoken line ready for quotation marks: (full sentence, form that precedes a speech tag).

    ``Stand aside.`` gives ``("Stand aside.", "Stand aside,")``; ``Run!`` keeps its ``!`` in both.
    Returns None for an empty line.
    """
    if not line:
        return None
    text = " ".join(line.split()).strip('"“” ').replace('"', "'")
    if not text:
        return None
    text = cap(text)
    last = text[-1]
    if last in "!?…" or text.endswith("..."):
        return text, text
    if last in ".,;:":
        body = text[:-1].rstrip()
        return body + ".", body + ","
    if last in "-—":
        return text, text
    return text + ".", text + ","


def join_names(names: list[str]) -> str:
    """``A``, ``A and B``, ``A, B and C``."""
    if len(names) <= 1:
        return names[0] if names else ""
    return ", ".join(names[:-1]) + " and " + names[-1]


def number_words(n: int) -> str:
    """Small counts in words (``twelve``), large ones as digits with separators (``4,980``)."""
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else f"{n:,}"


def ordinal(n: int) -> str:
    """``first`` ... ``twentieth``, then ``21st``, ``22nd``..."""
    if 0 <= n < len(_ORDINALS):
        return _ORDINALS[n]
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def first_sentence(text: str, limit: int = 220) -> str | None:
    """The first sentence of a description, with closing punctuation, or None if empty or too long."""
    text = " ".join(text.split())
    if not text:
        return None
    for i, ch in enumerate(text):
        if ch in ".!?" and (i + 1 == len(text) or text[i + 1] == " "):
            text = text[: i + 1]
            break
    else:
        text = text + "."
    return cap(text) if len(text) <= limit else None


# which character traits colour which deed: a brave soul does not "flee fearlessly"
_TRAIT_FIT: dict[str, tuple[tuple[str, str], ...]] = {
    "attack": (
        ("courage", "high"),
        ("aggressiveness", "high"),
        ("courage", "low"),
        ("aggressiveness", "low"),
        ("compassion", "low"),
    ),
    "flee": (("courage", "low"), ("intelligence", "high"), ("intelligence", "low")),
    "hide": (("courage", "low"), ("social_tendency", "low"), ("intelligence", "high")),
    "move": (("courage", "high"), ("courage", "low"), ("intelligence", "low")),
    "observe": (("intelligence", "high"), ("social_tendency", "low")),
    "investigate": (("intelligence", "high"), ("intelligence", "low")),
    "speak": (("social_tendency", "high"), ("social_tendency", "low"), ("compassion", "high"), ("compassion", "low")),
    "persuade": (("intelligence", "high"), ("social_tendency", "high"), ("aggressiveness", "high")),
    "help": (("compassion", "high"), ("courage", "high")),
}
_TRAILING_NOTE = re.compile(r"\s*\([^()]*\)\s*$")


def strongest_trait(traits: dict[str, float], action: str) -> str | None:
    """The clearly marked trait (``courage.high``) that best colours ``action``, or None."""
    best, margin = None, 0.25  # a trait near the middle says nothing worth a clause
    for trait, direction in _TRAIT_FIT.get(action, ()):
        value = traits.get(trait)
        if not isinstance(value, (int, float)):
            continue
        d = value - 0.5 if direction == "high" else 0.5 - value
        if d >= margin and (best is None or d > margin):
            best, margin = f"{trait}.{direction}", d
    return best


def appositive(description: str) -> str | None:
    """``The village healer, young and tireless.`` -> ``the village healer``: the head of a
    description that opens with an article, short enough to sit between commas after a name."""
    sentence = first_sentence(description, limit=400) if description else None
    if not sentence:
        return None
    body = strip_end(re.split(r"[,;:(—]| - ", sentence, maxsplit=1)[0])
    if body.split(" ", 1)[0] not in ("A", "An", "The") or " " not in body or len(body) > 70:
        return None
    return body[:1].lower() + body[1:]


def predicate(reason: object) -> str | None:
    """A stance reason usable after a name (``is too proud to accept help``), or None."""
    if not isinstance(reason, str):
        return None
    text = strip_end(_TRAILING_NOTE.sub("", reason))
    if not text[:1].islower() or " " not in text or "=" in text or len(text) > 160:
        return None
    return text


def as_ids(value: object) -> list[str]:
    """A list of ids from an event's data field (a list, a tuple, one id or nothing)."""
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, str) and v]
    return []
