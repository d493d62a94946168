"""The LanguageModel port: how agents ask a model for a decision or for prose.

A request carries *structured* context (a :class:`~novel_engine.core.briefs.TurnBrief` or a
:class:`NarrationInput`), the pydantic schema the answer must fit, and the key of the random stream
the answer may draw from. Adapters that talk to a text model render a bounded prompt from that
context themselves; the offline model reads the context directly. Wrappers (retry, rate limit,
cache, metrics) implement the same port around another model.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from novel_engine.core.events import Event
from novel_engine.core.records import fast_constructor

__all__ = [
    "LanguageModel",
    "ModelRequest",
    "ModelResponse",
    "NarrationInput",
    "CharacterSketch",
    "StandingNote",
    "Purpose",
    "build_request",
    "build_response",
]

Purpose = Literal["decide", "narrate"]


@dataclass(frozen=True, slots=True)
class CharacterSketch:
    """What the chronicler knows of a character: enough to name and voice them."""

    id: str
    name: str
    description: str = ""
    voice: tuple[str, ...] = ()
    traits: dict[str, float] = field(default_factory=dict)
    status: str = "active"
    kind: str = "human"  # human, beast, machine or spirit: which verbs fit it
    goal: str = ""  # its most pressing goal, in words (what it talks about)
    aims: dict[str, str] = field(default_factory=dict)  # persona id -> the goal that concerns them
    bonds: dict[str, float] = field(default_factory=dict)  # persona id -> affinity towards them


@dataclass(frozen=True, slots=True)
class StandingNote:
    """A consequence of earlier turns that still holds when a chapter is told ("Ser Aldric still
    lies on the tower stairs"), for the prose to keep in view.

    Args:
        kind: ``fallen`` (``subject`` lies where they fell), ``wounded`` (``subject`` still
            carries a wound told before), ``danger`` (a fire, raid or hazard still threatens
            ``place``) or ``muster`` (an order sends everyone to ``place``).
        place: the place id it holds at ('' when unknown).
        place_name: that place's name.
        subject: the persona id it concerns (fallen), else ''.
        subject_name: that persona's name.
        since: the turn it began.
        tell: whether this chapter is to tell it (the chronicler chooses: where the chapter is,
            or one left untold too long); the others are there so nothing contradicts them.
        subject_kind: the subject's kind (human, beast, machine, spirit).
        holder_kind: for a captive, the captor's kind (a knight pinned by a beast is under its claw,
            not tied).
    """

    kind: str
    place: str = ""
    place_name: str = ""
    subject: str = ""
    subject_name: str = ""
    since: int = 0
    tell: bool = False
    subject_kind: str = "human"  # the subject's kind (a machine lies dark, not bleeding)
    holder_kind: str = "human"  # a captive's captor's kind


@dataclass(frozen=True, slots=True)
class NarrationInput:
    """Everything the chronicler needs to write one turn's prose.

    Args:
        turn: the turn narrated.
        title: the story's title.
        style: ``epic_fantasy``, ``noir`` or ``sci_fi``.
        verbosity: in [0, 1]; 0 is terse, 1 is lavish.
        focus: which of ``action``, ``dialogue``, ``atmosphere`` to dwell on.
        events: the events to narrate, most important first (already selected by impact).
        characters: sketches of every character the events mention, by id.
        locations: location id -> (name, description) for the places the events mention.
        tension: the story's tension after this turn, in [0, 1].
        omitted: how many lesser events were left out (large casts).
    """

    turn: int
    title: str
    style: str
    verbosity: float
    focus: tuple[str, ...]
    events: tuple[Event, ...]
    characters: dict[str, CharacterSketch]
    locations: dict[str, tuple[str, str]]
    tension: float
    omitted: int = 0
    before: str = ""  # the chapters before this one (up to twenty): what the prose should not say again
    conditions: tuple[str, ...] = ()  # what still stands from earlier turns ("X lies fallen at Y")
    previously: str = ""  # what the chapter before told, in a clause ("X fought Y, and Z fell")
    repeats: dict[str, int] = field(default_factory=dict)  # event id -> chapters in a row its beat is told
    omitted_kinds: tuple[tuple[str, int], ...] = ()  # the untold events by action type, most first
    ending: bool = False  # the story's main goals are reached: this chapter ends it
    standing: tuple[StandingNote, ...] = ()  # the consequences still holding (see StandingNote)
    peril: bool = False  # the premise's standing threat holds: no calm opening
    closed: tuple[str, ...] = ()  # at the ending: the threads that closed (narrative goals reached), in order


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One call to a language model.

    Args:
        purpose: ``decide`` (a persona's :class:`~novel_engine.core.events.Decision`) or ``narrate`` (prose).
        context: the structured input (a TurnBrief or a NarrationInput).
        schema: the pydantic model the answer must validate against (None for free prose).
        seed: the session seed; with ``turn`` and ``agent`` it keys the random stream of the answer.
        turn: the turn the call belongs to.
        agent: the persona id (or ``chronicler``) making the call.
        repair_of: for a repair attempt, the invalid output and the validation error.
    """

    purpose: Purpose
    context: Any
    schema: type[BaseModel] | None
    seed: int
    turn: int
    agent: str
    repair_of: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ModelResponse:
    """A model's answer: raw text, and the parsed object when the model produced one directly."""

    text: str
    model: str
    parsed: BaseModel | None = None
    input_tokens: int = 0
    output_tokens: int = 0


class LanguageModel(ABC):
    """The port every model adapter and wrapper implements."""

    name: str = "model"

    @abstractmethod
    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Answer one request. Raises :class:`~novel_engine.errors.ModelError` on failure."""

    async def complete_many(self, requests: Sequence[ModelRequest]) -> list[ModelResponse | BaseException]:
        """Answer many requests concurrently, in order; a failed call yields its exception."""
        return list(await asyncio.gather(*(self.complete(r) for r in requests), return_exceptions=True))


# one request and one answer per persona per turn (see novel_engine.core.records)
build_request = fast_constructor(ModelRequest)
build_response = fast_constructor(ModelResponse)
