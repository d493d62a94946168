"""Style grammars of the offline chronicler: loading and checking (text helpers: :mod:`.prose_text`).

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

import string
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from novel_engine.core.scenario import STYLES
from novel_engine.errors import ConfigError
from novel_engine.llm.prose_text import (
    appositive,
    as_ids,
    cap,
    decap,
    first_sentence,
    join_names,
    lowered_lead,
    number_words,
    ordinal,
    predicate,
    quote_forms,
    strip_end,
    strongest_trait,
)

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
    "escape_failed",
    "capture_held",
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
