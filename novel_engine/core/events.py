"""Typed messages of a story: actions, events, effects and information fragments.

Hot-path records (``Action``, ``Event``, ``InformationFragment``) are frozen, slotted dataclasses:
cheap to create by the hundred thousand and cheap to pickle across actors. Records that arrive
from outside (a model's decision, a player's action, a world event) are pydantic models, so bad
input is rejected with the path of the bad field.

Every record has a ``to_dict`` (JSON-friendly, with a schema version ``v``) so that event logs
and exports are stable. :func:`build_event` and :func:`build_fragment` make the two most numerous
records on the director's hot path several times faster than their constructors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from novel_engine.core.records import fast_constructor

__all__ = [
    "SCHEMA_VERSION",
    "ActionType",
    "PERSONA_TARGETED",
    "LOCATION_TARGETED",
    "SourceType",
    "Visibility",
    "Outcome",
    "build_decision",
    "Decision",
    "Action",
    "Effect",
    "WorldEventSpec",
    "Event",
    "InformationFragment",
    "build_event",
    "build_fragment",
]

SCHEMA_VERSION = 1
Scalar = str | int | float | bool | None


class ActionType(str, Enum):
    """What a persona can do in one turn."""

    MOVE = "move"  # go to a neighbouring location (target: location id)
    OBSERVE = "observe"  # watch the surroundings; sharpens perception next turn
    INVESTIGATE = "investigate"  # search the place for hidden facts (private findings)
    SPEAK = "speak"  # talk to someone present (target: persona id)
    PERSUADE = "persuade"  # try to win someone over (target: persona id)
    HELP = "help"  # aid or heal someone present (target: persona id)
    ATTACK = "attack"  # confront someone by force (target: persona id)
    HIDE = "hide"  # stay out of sight this turn
    FLEE = "flee"  # run to a neighbouring location, away from danger (target: location id)
    REST = "rest"  # recover strength
    FIGHT_FIRE = "fight_fire"  # fight the fire burning where the persona stands (no target)
    CAPTURE = "capture"  # take someone down or outmatched captive (target: persona id)


PERSONA_TARGETED = frozenset(
    {ActionType.SPEAK, ActionType.PERSUADE, ActionType.HELP, ActionType.ATTACK, ActionType.CAPTURE}
)
LOCATION_TARGETED = frozenset({ActionType.MOVE, ActionType.FLEE})


class SourceType(str, Enum):
    """How an information fragment came to be known."""

    DIRECT_OBSERVATION = "direct_observation"
    HEARSAY = "hearsay"
    RUMOR = "rumor"
    DOCUMENT = "document"
    INFERENCE = "inference"
    BROADCAST = "broadcast"


class Visibility(str, Enum):
    """Who may perceive a fragment: everyone, those near its location, or its origin only."""

    PUBLIC = "public"
    LOCAL = "local"
    PRIVATE = "private"


class Outcome(str, Enum):
    """How an action turned out."""

    SUCCESS = "success"
    PARTIAL = "partial"
    FAILURE = "failure"
    BLOCKED = "blocked"  # refused in negotiation or rejected for coherence
    NONE = "none"  # world events and effects that have no roll


class Decision(BaseModel):
    """A persona's choice for one turn: the structured output asked of every language model."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False)

    action_type: ActionType
    target: str | None = Field(default=None, max_length=128)
    parameters: dict[str, Scalar] = Field(default_factory=dict, max_length=16)
    dialogue: str | None = Field(default=None, max_length=600)
    rationale: str = Field(default="", max_length=600)
    motivated_by: list[str] = Field(default_factory=list, max_length=8)


@dataclass(frozen=True, slots=True)
class Action:
    """A decision bound to its actor, with where it came from (persona, player or fallback)."""

    actor: str
    action_type: ActionType
    target: str | None = None
    parameters: dict[str, Scalar] = field(default_factory=dict)
    dialogue: str | None = None
    rationale: str = ""
    origin: Literal["persona", "player", "fallback", "director"] = "persona"
    motivated_by: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()

    @classmethod
    def from_decision(
        cls, actor: str, decision: Decision, origin: str = "persona", flags: tuple[str, ...] = ()
    ) -> Action:
        """Bind a validated :class:`Decision` to ``actor``."""
        build = _build_action if cls is Action else cls  # one per persona per turn: the fast builder
        return build(
            actor,
            ActionType(decision.action_type),
            decision.target,
            dict(decision.parameters),
            decision.dialogue,
            decision.rationale,
            origin,
            tuple(decision.motivated_by),
            flags,
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["action_type"] = self.action_type.value
        d["motivated_by"] = list(self.motivated_by)
        d["flags"] = list(self.flags)
        return d


class Effect(BaseModel):
    """One change to the world, used by world events and causal rules.

    kinds: ``set_fact`` (key, value), ``wound`` / ``heal`` (target persona), ``move`` (target persona
    to ``value`` location), ``relationship`` (target ``a->b``, value added to trust and affinity),
    ``tension`` (value added to the story's tension).
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["set_fact", "wound", "heal", "move", "relationship", "tension"]
    target: str | None = Field(default=None, max_length=128)
    key: str | None = Field(default=None, max_length=128)
    value: Scalar = None


class WorldEventSpec(BaseModel):
    """A world event injected from outside a persona (the director, a rule, a user, the API)."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1, max_length=1000)
    kind: str = Field(default="world", max_length=64)
    location: str | None = Field(default=None, max_length=128)
    visibility: Visibility = Visibility.LOCAL
    intensity: float = Field(default=0.5, ge=0.0, le=1.0)
    key: str | None = Field(default=None, max_length=128)
    value: Scalar = True
    subjects: list[str] = Field(default_factory=list, max_length=32)
    effects: list[Effect] = Field(default_factory=list, max_length=32)


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened in the story: the unit of the event log and the causal graph.

    ``summary`` is a short factual sentence (not prose); ``intensity`` in [0, 1] feeds the tension
    curve and narrative impact; ``causes`` are ids of earlier events that led to this one.
    """

    id: str
    turn: int
    kind: str  # "action", "world", "causal" or "reaction"
    summary: str
    actor: str | None = None
    action_type: str | None = None
    target: str | None = None
    location: str | None = None
    outcome: Outcome = Outcome.NONE
    dialogue: str | None = None
    participants: tuple[str, ...] = ()
    causes: tuple[str, ...] = ()
    intensity: float = 0.0
    flags: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the event as a JSON-friendly dict with the schema version."""
        return {
            "v": SCHEMA_VERSION,
            "id": self.id,
            "turn": self.turn,
            "kind": self.kind,
            "summary": self.summary,
            "actor": self.actor,
            "action_type": self.action_type,
            "target": self.target,
            "location": self.location,
            "outcome": self.outcome.value,
            "dialogue": self.dialogue,
            "participants": list(self.participants),
            "causes": list(self.causes),
            "intensity": round(self.intensity, 6),
            "flags": list(self.flags),
            "data": self.data,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        """Rebuild an event written by :meth:`to_dict`."""
        return cls(
            id=d["id"],
            turn=d["turn"],
            kind=d["kind"],
            summary=d["summary"],
            actor=d.get("actor"),
            action_type=d.get("action_type"),
            target=d.get("target"),
            location=d.get("location"),
            outcome=Outcome(d.get("outcome", "none")),
            dialogue=d.get("dialogue"),
            participants=tuple(d.get("participants", ())),
            causes=tuple(d.get("causes", ())),
            intensity=float(d.get("intensity", 0.0)),
            flags=tuple(d.get("flags", ())),
            data=dict(d.get("data", {})),
        )


@dataclass(frozen=True, slots=True)
class InformationFragment:
    """A piece of information that someone may perceive.

    Args:
        id: unique id (derived from the event or scenario entry that made it).
        content: the information in words.
        source_type: how it is known (see :class:`SourceType`).
        reliability: how likely it is to be true, in [0, 1].
        location: where it can be perceived (None for placeless broadcasts).
        turn: the turn it appeared.
        subjects: persona or thing ids it is about.
        visibility: public (everyone), local (near ``location``) or private (``origin`` only).
        origin: the persona (or ``world``) it comes from; owner of a private fragment.
        key: the proposition it bears on, e.g. ``location_of:dragon`` (for belief updates).
        value: the value it claims for ``key``.
        valence: how bad (< 0) or good (> 0) the news is, in [-1, 1]; negativity bias uses it.
        salience: how much it draws attention, in [0, 1].
        reach: how many location hops away it can be perceived directly (0: only here).
    """

    id: str
    content: str
    source_type: SourceType
    reliability: float
    location: str | None
    turn: int
    subjects: tuple[str, ...] = ()
    visibility: Visibility = Visibility.LOCAL
    origin: str = "world"
    key: str | None = None
    value: Scalar = True
    valence: float = 0.0
    salience: float = 0.5
    reach: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The fragment as JSON-friendly data (the keys of ``asdict`` in field order, then ``v``).

        Written out rather than ``dataclasses.asdict``, which walks and copies every value
        recursively: every checkpoint writes each pending and remembered fragment, and ``asdict``
        was two thirds of a small session's checkpoint capture."""
        return {
            "id": self.id,
            "content": self.content,
            "source_type": self.source_type.value,
            "reliability": self.reliability,
            "location": self.location,
            "turn": self.turn,
            "subjects": list(self.subjects),
            "visibility": self.visibility.value,
            "origin": self.origin,
            "key": self.key,
            "value": self.value,
            "valence": self.valence,
            "salience": self.salience,
            "reach": self.reach,
            "v": SCHEMA_VERSION,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InformationFragment:
        """Rebuild a fragment written by :meth:`to_dict`."""
        d = {k: v for k, v in d.items() if k != "v"}
        d["source_type"] = SourceType(d["source_type"])
        d["visibility"] = Visibility(d["visibility"])
        d["subjects"] = tuple(d.get("subjects", ()))
        return cls(**d)


# -- hot-path construction -----------------------------------------------------------------------
#: ``Event(...)`` with all fields positional in field order, about four times cheaper (see
#: :mod:`novel_engine.core.records`): the director builds one per action.
build_event: Callable[..., Event] = fast_constructor(Event)
#: ``InformationFragment(...)`` with all fields positional in field order, about four times cheaper.
build_fragment: Callable[..., InformationFragment] = fast_constructor(InformationFragment)
# ``Action(...)`` the same way, for ``Action.from_decision``: one per persona per turn.
_build_action: Callable[..., Action] = fast_constructor(Action)
_DECISION_FIELDS = frozenset(Decision.model_fields)
_new, _set = object.__new__, object.__setattr__


def build_decision(
    action_type: ActionType,
    target: str | None,
    parameters: dict[str, Scalar],
    dialogue: str | None,
    rationale: str,
    motivated_by: list[str],
) -> Decision:
    """``Decision.model_construct(...)`` of every field, about three times cheaper (the offline
    policy makes one per persona per turn). Nothing is validated: every value must already be valid.

    It fills what ``model_construct`` fills (the field values, which fields were set, no extra
    or private values); a test holds it equal to ``model_construct`` and to a validated Decision.
    """
    decision = _new(Decision)
    _set(
        decision,
        "__dict__",
        {
            "action_type": action_type,
            "target": target,
            "parameters": parameters,
            "dialogue": dialogue,
            "rationale": rationale,
            "motivated_by": motivated_by,
        },
    )
    _set(decision, "__pydantic_fields_set__", set(_DECISION_FIELDS))
    _set(decision, "__pydantic_extra__", None)
    _set(decision, "__pydantic_private__", None)
    return decision
