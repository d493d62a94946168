"""Request and response bodies of the HTTP API (pydantic; they make the OpenAPI schema).

Request models forbid unknown fields, bound every string, list and number, so bad input is a 422
naming the field rather than a surprise deeper in the engine.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from novel_engine.config import SessionSettings
from novel_engine.core.events import Decision, WorldEventSpec
from novel_engine.core.rng import SEED_LIMIT
from novel_engine.llm.settings import Provider
from novel_engine.scenarios import builtin_names

__all__ = [
    "LLMChoiceIn",
    "SettingsIn",
    "CreateSession",
    "PersonaBrief",
    "SessionOut",
    "SessionItem",
    "ForkParent",
    "SessionPage",
    "TurnIn",
    "TurnOut",
    "TurnPage",
    "ForkIn",
    "AgentOut",
    "AgentUpdate",
    "PlayerGrant",
    "BeliefOut",
    "BeliefsOut",
    "ActionQueued",
    "NarrativeOut",
    "TemplateOut",
    "CatalogOut",
    "LensRow",
    "TruthLensOut",
    "PlayingOut",
    "ID_PATTERN",
    "SESSION_ID",
]

ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
SESSION_ID = Field(min_length=1, max_length=128, pattern=ID_PATTERN)
MAX_SEED = SEED_LIMIT - 1  # the engine's seed range (novel_engine.core.rng); larger ones are a 422
_TEMPLATES = builtin_names()


class _In(BaseModel):
    # strict: JSON true is not the number 1, nor "3" the number 3; the schema says integer and means it
    model_config = ConfigDict(extra="forbid", strict=True)


class LLMChoiceIn(_In):
    """The model options a client may tune (the server's operator sets the rest)."""

    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_output_tokens: int | None = Field(default=None, ge=16, le=65536, description="at most the server's own limit")


# the engine's own type for the style (a Literal of the grammars' names), so the two never disagree
_NarrativeStyle = SessionSettings.model_fields["narrative_style"].annotation


class SettingsIn(_In):
    """The session settings a client may choose (the server picks the placement knobs)."""

    difficulty: float | None = Field(default=None, ge=0.0, le=1.0)
    narrative_style: _NarrativeStyle = None  # type: ignore[valid-type]
    seed: int | None = Field(
        default=None,
        ge=0,
        le=MAX_SEED,
        description="0 to 2^63 - 1 (a signed 64-bit integer, as the store keeps it); "
        "none: a random one, reported in the session",
    )
    llm: Provider = Field(
        default="offline", description="the language model; the server says which it offers (others: 422)"
    )
    llm_options: LLMChoiceIn | None = None
    on_model_failure: Literal["fallback", "fail"] | None = Field(
        default=None,
        description="a model call failing after its retries: the offline model decides that one "
        "thing (fallback, flagged on the event) or the turn fails (fail)",
    )


def _world_rules(schema: dict[str, Any]) -> None:
    """The rules of :meth:`CreateSession._one_world` and of ``routes_sessions._scenario`` in the schema:
    exactly one of world_template, scenario and scenario_yaml; ``synthetic`` needs agent_count; a built-in's
    agent_count, if given, is its cast size."""
    from novel_engine.scenarios import describe_builtins

    schema["oneOf"] = [{"required": ["world_template"]}, {"required": ["scenario"]}, {"required": ["scenario_yaml"]}]
    chosen = lambda name: {"properties": {"world_template": {"const": name}}, "required": ["world_template"]}  # noqa: E731
    rules = [
        {
            "if": chosen("synthetic"),
            "then": {"required": ["agent_count"], "properties": {"agent_count": {"type": "integer"}}},
        }
    ]
    for b in describe_builtins():
        rules.append(
            {"if": chosen(b["name"]), "then": {"properties": {"agent_count": {"enum": [b["personas"], None]}}}}
        )
    schema["allOf"] = rules
    schema["properties"]["world_template"]["enum"] = [*_TEMPLATES, "synthetic"]


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # absent is allowed; null is not (the schema must not offer it)


class CreateSession(_In):
    """``POST /api/v1/sessions``: a built-in ``world_template`` (or ``synthetic``) or an inline ``scenario``,
    exactly one of them."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_world_rules)
    session_name: str = Field(default="Untitled story", min_length=1, max_length=200)
    # Typed without None although they default to None: absent means "the other one"; an explicit
    # null is refused (422), so the schema and the server agree on what "given" means.
    world_template: str = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9_]+$",  # type: ignore[assignment]
        examples=["fantasy_world"],
        json_schema_extra=_no_default,
    )
    scenario: dict[str, Any] = Field(
        default=None,
        json_schema_extra=_no_default,  # type: ignore[assignment]
        description="an inline scenario (same schema as the YAML files)",
    )
    scenario_yaml: str = Field(
        default=None,
        min_length=1,
        max_length=1_000_000,  # type: ignore[assignment]
        json_schema_extra=_no_default,
        description="an uploaded scenario file's text (YAML or JSON); its errors come "
        "back as body.scenario.<path>, syntax errors with line and column",
    )
    agent_count: int | None = Field(
        default=None, ge=1, le=100_000, description="synthetic: the cast size; built-in: must match the template's cast"
    )
    settings: SettingsIn = Field(default_factory=SettingsIn)

    @model_validator(mode="after")
    def _one_world(self) -> CreateSession:
        if sum(x is not None for x in (self.world_template, self.scenario, self.scenario_yaml)) != 1:
            raise ValueError("give exactly one of world_template, scenario and scenario_yaml")
        return self


class TemplateOut(BaseModel):
    """A built-in world template."""

    name: str
    title: str
    style: str
    personas: int
    locations: int


class CatalogOut(BaseModel):
    """What a client may choose when creating a session on this server."""

    templates: list[TemplateOut]
    llms: list[str] = Field(description="the language models this server offers (settings.llm)")
    max_agents: int = Field(description="the largest cast a session may have (synthetic agent_count)")


class PersonaBrief(BaseModel):
    id: str
    name: str


class ForkParent(BaseModel):
    """Where a forked session came from: the session it was forked from, after which turn."""

    session_id: str
    turn: int


class SessionOut(BaseModel):
    """A session as its owner sees it."""

    id: str
    name: str
    status: Literal["active", "finished"] = Field(
        default="active", description="finished: the story reached its main goals and ended with an epilogue"
    )
    turn: int
    tension: float
    title: str
    seed: int
    llm: str = Field(default="offline", description="the language model deciding and narrating")
    personas: list[PersonaBrief]
    created_at: str
    parent: ForkParent | None = Field(default=None, description="the session and turn this one was forked from")


class SessionItem(BaseModel):
    """A row of your sessions, with its head as the state store has it (one answer for the whole
    page: no request per session). The head fields are null for a session the store no longer has."""

    id: str
    name: str
    created_at: str
    turn: int | None = Field(default=None, description="the last committed turn")
    tension: float | None = Field(default=None, description="the tension after that turn (0 before the first)")
    title: str | None = Field(default=None, description="the scenario's title")
    seed: int | None = None
    parent: ForkParent | None = Field(default=None, description="the session and turn this one was forked from")


class SessionPage(BaseModel):
    items: list[SessionItem]
    total: int
    offset: int
    limit: int


class TurnIn(_In):
    """``POST .../turns``: player actions by agent id (they override that agent's own choice) and world events."""

    agent_actions: dict[str, Decision] = Field(default_factory=dict, max_length=1000)
    world_events: list[WorldEventSpec] = Field(default_factory=list, max_length=32)


class DroppedAction(BaseModel):
    agent_id: str
    reason: str


class TurnOut(BaseModel):
    """One played turn: its events, prose and tension."""

    turn: int
    events: list[dict[str, Any]]
    prose: str
    tension: float
    coherence: float
    milestones: list[str]
    rejected: int = 0
    fallbacks: int = 0
    repaired: int = Field(default=0, description="acts the coherence check repaired before the turn committed")
    violations: dict[str, int] = Field(
        default_factory=dict, description="coherence violations caught this turn (rejected or repaired), by kind"
    )
    player_actions: list[str] = Field(default_factory=list, description="agents whose queued action was applied")
    dropped_actions: list[DroppedAction] = Field(
        default_factory=list, description="queued actions no longer valid this turn"
    )


class TurnPage(BaseModel):
    items: list[TurnOut]
    total: int
    after: int
    limit: int
    next_after: int | None


class ForkIn(_In):
    """``POST .../fork``: a new session continuing this story from the end of ``at_turn`` (default: now),
    optionally with a new seed for its turns after ``at_turn`` and player actions queued for its next turn."""

    at_turn: int | None = Field(default=None, ge=0, le=1_000_000)
    session_name: str | None = Field(default=None, min_length=1, max_length=200)
    seed: int | None = Field(
        default=None,
        ge=0,
        le=MAX_SEED,
        description="the fork's turns after at_turn draw from this seed (none: the story's own seed)",
    )
    agent_actions: dict[str, Decision] = Field(
        default_factory=dict,
        max_length=1000,
        description="actions by agent id, queued for the fork's next turn (as if a player queued them)",
    )


class AgentOut(BaseModel):
    id: str
    name: str
    location: str
    status: str
    health: float
    traits: dict[str, float]
    player: str | None = Field(default=None, description="the username of the player granted this agent")
    capabilities: list[str] = Field(default_factory=list)


Name = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Unit = Annotated[float, Field(ge=0.0, le=1.0)]


class AgentUpdate(_In):
    """``PUT .../agents/{agent_id}``: trait values (``parameters``, names of 1-64 characters, values in
    [0, 1]) from the next turn on, and capabilities (1-64 characters each)."""

    parameters: dict[Name, Unit] = Field(default_factory=dict, max_length=32)
    capabilities: list[Name] | None = Field(default=None, max_length=32)


class PlayerGrant(_In):
    """``PUT .../agents/{agent_id}/player``: the user who may play this agent."""

    username: str = Field(min_length=1, max_length=256)


class BeliefOut(BaseModel):
    key: str
    value: Any
    credence: float
    contested: bool = False


class BeliefsOut(BaseModel):
    agent_id: str
    beliefs: list[BeliefOut]


class PlayingOut(BaseModel):
    """An agent another user granted you: you may read its beliefs and queue its actions."""

    session_id: str
    session_name: str
    agent_id: str


class LensRow(BaseModel):
    """One belief beside the world's truth about the same key."""

    key: str
    believed: Any
    credence: float
    contested: bool = False
    truth: Any = Field(default=None, description="what is true in the world (null when the key is no world fact)")
    checkable: bool = Field(description="the key names a world fact or a persona's place, so it has a truth")
    matches: bool | None = Field(default=None, description="the belief equals the truth (null if not checkable)")


class TruthLensOut(BaseModel):
    agent_id: str
    turn: int
    rows: list[LensRow]


class ActionQueued(BaseModel):
    session_id: str
    agent_id: str
    for_turn: int


class NarrativeOut(BaseModel):
    title: str
    text: str
    turns: list[dict[str, Any]]
