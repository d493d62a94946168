"""Prompts for text models, rendered from the structured context of a :class:`ModelRequest`.

The templates live in ``novel_engine/llm/prompts/*.txt``. A prompt has two parts: the *system
instruction* (fixed text from a template: the rules) and the *user message* (the data). Everything
that comes from a scenario author or a player (persona descriptions, voices, goals, dialogue, fragment
contents, the story's title) goes into the user message as one JSON document between data tags. It
is escaped so it cannot close those tags (``<`` and ``>`` become ``\\u003c`` / ``\\u003e``), and the
system instruction tells the model that what is inside is data, never instructions.

Prompts are bounded: every string is cut to a fixed length, every list is already top-k in the
brief, and the whole data block is trimmed (longest list first) to :data:`MAX_DATA_CHARS`.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from string import Template
from typing import Any

from pydantic import BaseModel

from novel_engine.core.briefs import TurnBrief
from novel_engine.errors import ModelError
from novel_engine.llm.port import ModelRequest, NarrationInput

__all__ = ["Prompt", "render_prompt", "response_schema", "quote_data", "MAX_DATA_CHARS", "MAX_TEXT_CHARS"]

MAX_DATA_CHARS = {"decide": 8_000, "narrate": 16_000}
MAX_TEXT_CHARS = 300  # any single user-supplied string in a prompt
MAX_PREVIOUS_CHARS = 2_000  # the invalid answer quoted in a repair prompt


@dataclass(frozen=True, slots=True)
class Prompt:
    """A rendered prompt: the system instruction and the user message."""

    system: str
    user: str

    @property
    def chars(self) -> int:
        return len(self.system) + len(self.user)


@cache
def _template(name: str) -> Template:
    text = resources.files("novel_engine.llm").joinpath("prompts", f"{name}.txt").read_text(encoding="utf-8")
    return Template(text)


def _cut(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _plain(value: Any, limit: int = MAX_TEXT_CHARS) -> Any:
    """A JSON-friendly copy of ``value`` with every string cut to ``limit`` characters."""
    # exact-type checks first: this runs a few hundred times per prompt, a thousand prompts a turn
    t = type(value)
    if t is str:
        return _cut(value, limit)
    if t is dict:
        return {str(k): _plain(v, limit) for k, v in value.items()}
    if t is list or t is tuple:
        return [_plain(v, limit) for v in value]
    if t is float:
        return round(value, 3)
    if t is int or t is bool or value is None:
        return value
    if isinstance(value, enum.Enum):  # before str: str-valued enums stand for their value
        return value.value
    if isinstance(value, BaseModel):
        return _plain(value.model_dump(mode="json"), limit)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name), limit) for f in dataclasses.fields(value)}
    if isinstance(value, str):  # subclasses of the plain types
        return _plain(str(value), limit)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return round(float(value), 3)
    if isinstance(value, dict):
        return {str(k): _plain(v, limit) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v, limit) for v in value]
    return _plain(str(value), limit)


def quote_data(data: Any) -> str:
    """``data`` as JSON that cannot close the data tags around it (``<``/``>`` escaped)."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e")


def _bounded(data: dict[str, Any], limit: int) -> str:
    """Quote ``data``, dropping the tail of its longest list until it fits ``limit`` characters."""
    text = quote_data(data)
    while len(text) > limit:
        lists = [(len(v), k) for k, v in data.items() if isinstance(v, list) and v]
        if not lists:
            return text[:limit]  # only long scalars left: they are already cut per string
        _, key = max(lists)
        data[key] = data[key][:-1]
        data["trimmed"] = True
        text = quote_data(data)
    return text


def _brief_data(brief: TurnBrief) -> dict[str, Any]:
    """The brief as plain, cut JSON data (what :func:`_plain` would make of it, built directly: a
    generic walk over every value cost a third of a decision's CPU with a thousand calls a turn)."""
    cut, plain = _cut, _plain
    return {
        "id": cut(brief.agent_id),
        "name": cut(brief.name),
        "description": cut(brief.description),
        "voice": [cut(v) for v in brief.voice],
        "traits": plain(brief.traits),
        "health": plain(brief.health),
        "status": plain(brief.status),
        "location": {"id": cut(brief.location), "name": cut(brief.location_name)},
        "goals": [plain(g.to_dict()) for g in brief.goals],
        "present": [
            {
                "id": cut(p.id),
                "name": cut(p.name),
                "status": plain(p.status),
                "trust": round(p.trust, 3),
                "affinity": round(p.affinity, 3),
            }
            for p in brief.present
        ],
        "neighbours": [{"id": cut(i), "name": cut(n)} for i, n in brief.neighbours],
        "perceived": [
            {
                "id": cut(pf.fragment.id),
                "content": cut(pf.fragment.content),
                "credence": round(pf.credence, 3),
                "via": plain(pf.perception.via),
            }
            for pf in brief.perceived
        ],
        "beliefs": [
            {"key": cut(b.key), "value": plain(b.value), "credence": round(b.credence, 3), "contested": b.contested}
            for b in brief.beliefs
        ],
        "memories": [
            {"turn": m.turn, "id": cut(m.event_id), "summary": cut(m.summary), "role": plain(m.role)}
            for m in brief.memories
        ],
        "available_actions": {k: [cut(x) for x in v] for k, v in brief.available_actions.items()},
        "paths": {k: cut(v) for k, v in brief.paths.items()},
        # standing conditions here (a danger, a place searched out), only when there are some, so
        # recorded prompts of briefs without any stay the same
        **({"conditions": list(brief.conditions)} if brief.conditions else {}),
    }


def _narration_data(inp: NarrationInput) -> dict[str, Any]:
    return {
        "title": inp.title,
        "style": inp.style,
        "verbosity": inp.verbosity,
        "focus": list(inp.focus),
        "tension": inp.tension,
        "omitted_events": inp.omitted,
        "events": [
            {
                "id": e.id,
                "kind": e.kind,
                "summary": e.summary,
                "actor": e.actor,
                "action": e.action_type,
                "target": e.target,
                "location": e.location,
                "outcome": e.outcome.value,
                "dialogue": e.dialogue,
                "intensity": e.intensity,
            }
            for e in inp.events
        ],
        "characters": [
            {
                "id": c.id,
                "name": c.name,
                "description": c.description,
                "voice": list(c.voice),
                "status": c.status,
                "kind": c.kind,
            }
            for c in inp.characters.values()
        ],
        "places": [{"id": k, "name": n, "description": d} for k, (n, d) in inp.locations.items()],
        "standing_conditions": list(inp.conditions),
        "previously": inp.previously,
        "final_chapter": inp.ending,
    }


def render_prompt(request: ModelRequest) -> Prompt:
    """The bounded prompt for ``request`` (a persona decision or a turn's prose).

    Raises:
        ModelError: the request's context is not a TurnBrief (decide) or a NarrationInput (narrate).
    """
    if request.purpose == "decide":
        if not isinstance(request.context, TurnBrief):
            raise ModelError("a decision prompt needs a TurnBrief", got=type(request.context).__name__)
        data = _bounded(_brief_data(request.context), MAX_DATA_CHARS["decide"])
        system = _template("persona_system").substitute()
        user = _template("persona_user").substitute(turn=request.turn, data=data)
    elif request.purpose == "narrate":
        inp = request.context
        if not isinstance(inp, NarrationInput):
            raise ModelError("a narration prompt needs a NarrationInput", got=type(inp).__name__)
        data = _bounded(_plain(_narration_data(inp)), MAX_DATA_CHARS["narrate"])
        max_words = int(60 + 140 * inp.verbosity) * max(1, min(len(inp.events), 6))
        system = _template("chronicler_system").substitute(style=inp.style, max_words=max_words)
        user = _template("chronicler_user").substitute(turn=request.turn, data=data)
    else:
        raise ModelError(f"unknown purpose {request.purpose!r}", purpose=request.purpose)
    if request.repair_of is not None:
        previous, problem = request.repair_of
        user += "\n" + _template("repair").substitute(
            previous=quote_data(_plain(previous, MAX_PREVIOUS_CHARS)), problem=quote_data(_plain(problem))
        )
    return Prompt(system=system, user=user)


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            target = defs[node["$ref"].rsplit("/", 1)[-1]]
            return _inline_refs({**target, **{k: v for k, v in node.items() if k != "$ref"}}, defs)
        # drop the definitions and the display titles (a property *named* title is a dict, kept)
        return {
            k: _inline_refs(v, defs)
            for k, v in node.items()
            if k != "$defs" and not (k == "title" and isinstance(v, str))
        }
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


@lru_cache(maxsize=32)
def response_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of a pydantic model with every ``$ref`` inlined (what model APIs accept)."""
    raw = schema.model_json_schema()
    return _inline_refs(raw, raw.get("$defs", {}))
