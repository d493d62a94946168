"""Style grammars of the offline chronicler: loading, checking, and small text helpers.

A grammar is one YAML file per story style in ``novel_engine/llm/grammars``. Its nested mappings
end in lists of templates; loading flattens them into dotted keys (``actions.attack.success``) and
compiles every template once: which fields it uses and whether it opens with the actor's name
(which decides whether a transition or a character clause may be put in front of it).

Templates are filled with ``str.format_map`` on a mapping of plain strings: no attribute access,
indexing, conversion or format spec is allowed, so neither a template nor a character's name can
make the formatter evaluate anything. A grammar that breaks these rules, uses an unknown field or
lacks a required pool is rejected with a :class:`~novel_engine.errors.ConfigError` at load time.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from novel_engine.core.scenario import STYLES
from novel_engine.errors import ConfigError

__all__ = [
    "STYLES",
    "ACTION_TYPES",
    "OUTCOMES",
    "FIELDS",
    "REQUIRED_POOLS",
    "Template",
    "Grammar",
    "load_grammar",
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

ACTION_TYPES = (
    "move",
    "observe",
    "investigate",
    "speak",
    "persuade",
    "help",
    "attack",
    "hide",
    "flee",
    "rest",
    "capture",
    "fight_fire",
)
OUTCOMES = ("success", "partial", "failure", "blocked")

#: Every field a template may use. Each is filled with a plain string by the writer.
FIELDS = frozenset(
    {
        "actor",
        "target",
        "place",
        "origin",
        "adverb",
        "manner",
        "tag",
        "atag",
        "line",
        "line_c",
        "reply",
        "reply_c",
        "finding",
        "summary",
        "summary_lc",
        "victim",
        "names",
        "agent",
        "n",
        "nth",
        "title",
        "goal",
        "request",
        "subject",
        "value",
        "first",
        "news",
    }
)

REQUIRED_POOLS: tuple[str, ...] = (
    *(f"opening.{b}" for b in ("calm", "rising", "high")),
    *(f"closing.{b}" for b in ("calm", "rising", "high")),
    *(f"atmosphere.{k}" for k in ("weather", "light", "sound", "threat")),
    *(f"standing.{k}" for k in ("fallen", "fallen_many", "wounded", "danger", "muster", "captive")),
    "fire_out",
    "freed",
    "escaped",
    "escape",
    "captive_rest",
    "burnt_out",
    "let_go",
    "search_known",
    "epilogue_threads",
    "scene",
    "quiet",
    "transition.place",
    "transition.plain",
    "opener.place",
    "beat",
    *(f"actions.{a}.{o}" for a in ACTION_TYPES for o in OUTCOMES),
    *(f"adverb.{a}" for a in ACTION_TYPES),
    *(f"manner.{a}" for a in ACTION_TYPES),
    *(f"tag.{g}" for g in ("default", "attack", "flee", "persuade", "help", "quiet")),
    "answer",
    "dialogue.speak",
    "dialogue.persuade",
    "dialogue.other",
    "dialogue.reply",
    "dialogue.voice",
    "dialogue.at",
    "dialogue.to",
    *(f"reaction.{a}.{o}" for a in ("speak", "persuade") for o in OUTCOMES),
    "finding",
    "counter.back",
    "counter.step.one",
    "counter.step.many",
    *(f"stance.{s}" for s in ("counter", "evade", "refuse")),
    "negotiation.modified",
    "missing",
    "wound.light",
    "wound.severe",
    "wound.many",
    "fall.one",
    "fall.many",
    "terse.wound.one",
    "terse.wound.many",
    "terse.fall.one",
    "terse.fall.many",
    "flourish.default",
    "flourish.world",
    "world",
    "causal",
    "generic",
    "omitted.one",
    "omitted.many",
    "fallback.actor",
    "fallback.place",
    "fallback.target",
    "status.wounded",
    *(
        f"says.{k}"
        for k in (
            "location",
            "status",
            "hostile",
            "ally",
            "fact",
            "goal",
            "request",
            "plea",
            "warm",
            "cold",
            "greet",
            "strike",
            "vow",
            "aid",
        )
    ),
    *(f"replies.{a}.{o}" for a in ("speak", "persuade", "tell") for o in OUTCOMES),
    "previously",
    "epilogue",
    "omitted.kinds",
    *(f"recap.{k}" for k in ("attack", "help", "persuade", "speak", "move", "flee", "investigate", "quiet", "fall")),
    *(f"repeat.{k}" for k in ("attack", "help", "talk", "investigate", "move", "quiet", "fire")),
)

_FORMATTER = string.Formatter()
MARK_CHARS = 8  # a shorter run of fixed words ("{actor} and {target}") says nothing of its template


@dataclass(frozen=True, slots=True)
class Template:
    """One compiled template: its text, the fields it uses, whether it opens with ``{actor}``, and
    its ``mark``: its longest run of fixed words (at least ``MARK_CHARS`` long, else ''), which
    shows whether it was used in text written from it, whatever names filled it."""

    text: str
    fields: frozenset[str]
    opens_with_actor: bool
    mark: str = ""

    def render(self, slots: Any) -> str:
        """Fill the template from ``slots`` (a mapping of field name to string)."""
        return self.text.format_map(slots)


class Grammar:
    """A loaded style grammar: pools of compiled templates keyed by dotted path."""

    __slots__ = ("style", "pools")

    def __init__(self, style: str, pools: dict[str, tuple[Template, ...]]) -> None:
        self.style = style
        self.pools = pools

    def words(self, key: str) -> tuple[str, ...]:
        """The plain texts of a pool (for pools used as word lists)."""
        return tuple(t.text for t in self.pools.get(key, ()))


def _compile(text: str, where: str) -> Template:
    fields = set()
    literals: list[str] = []
    try:
        parsed = list(_FORMATTER.parse(text))
    except ValueError as err:
        raise ConfigError(f"{where}: malformed template {text!r}: {err}", path=where) from None
    for literal, name, spec, conversion in parsed:
        literals.append(literal)
        if name is None:
            continue
        if name not in FIELDS or spec or conversion:
            raise ConfigError(
                f"{where}: template {text!r} uses '{{{name}}}', which is not an allowed field "
                f"(allowed: {', '.join(sorted(FIELDS))})",
                path=where,
            )
        fields.add(name)
    # the mark stops short of a closing stop, which a capital or a following clause may replace
    mark = max((lit.strip().rstrip(".!?") for lit in literals), key=len, default="")
    return Template(text, frozenset(fields), text.startswith("{actor} "), mark if len(mark) >= MARK_CHARS else "")


def _flatten(node: Any, path: str, out: dict[str, tuple[Template, ...]], source: str) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _flatten(value, f"{path}.{key}" if path else str(key), out, source)
    elif isinstance(node, list):
        if not node or not all(isinstance(item, str) and item.strip() for item in node):
            raise ConfigError(f"{source}: {path} must be a non-empty list of non-empty strings", path=path)
        out[path] = tuple(_compile(item.strip(), f"{source}:{path}") for item in node)
    else:
        raise ConfigError(f"{source}: {path} must be a mapping or a list of templates", path=path)


@cache
def load_grammar(style: str) -> Grammar:
    """Load, check and compile the grammar of ``style`` (cached: each file is read once per process).

    Raises:
        ConfigError: the style is unknown, or its grammar file is malformed or incomplete.
    """
    if style not in STYLES:
        raise ConfigError(f"unknown story style {style!r}; choose one of {', '.join(STYLES)}", style=style)
    source = f"grammars/{style}.yaml"
    text = resources.files("novel_engine.llm").joinpath("grammars", f"{style}.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping", style=style)
    pools: dict[str, tuple[Template, ...]] = {}
    _flatten(raw, "", pools, source)
    missing = [key for key in REQUIRED_POOLS if key not in pools]
    if missing:
        raise ConfigError(f"{source}: missing template pools: {', '.join(missing)}", style=style, missing=missing)
    return Grammar(style, pools)


# --- text helpers -------------------------------------------------------------------------------

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
