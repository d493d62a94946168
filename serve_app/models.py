"""Request and response bodies of the HTTP API (pydantic; they make the OpenAPI schema).

Request models forbid unknown fields, bound every string, list and number, so bad input is a 422
naming the field rather than a surprise deeper in the engine.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from novel_engine.config import SessionSettings
from novel_engine.core.events import Decision, WorldEventSpec
from novel_engine.llm.settings import Provider

__all__ = ["LLMChoiceIn", "SettingsIn", "CreateSession", "PersonaBrief", "SessionOut", "SessionItem", "SessionPage",
           "TurnIn", "TurnOut", "TurnPage", "ForkIn", "AgentOut", "AgentUpdate", "PlayerGrant", "BeliefOut", "BeliefsOut",
           "ActionQueued", "NarrativeOut", "ID_PATTERN", "SESSION_ID"]

ID_PATTERN = r"^[A-Za-z0-9_.:-]+$"
SESSION_ID = Field(min_length=1, max_length=128, pattern=ID_PATTERN)
MAX_SEED = 2**63 - 1


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LLMChoiceIn(_In):
    """The model options a client may tune (the server's operator sets the rest)."""

    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_output_tokens: int | None = Field(default=None, ge=16, le=65536,
                                          description="at most the server's own limit")


class SettingsIn(_In):
    """The session settings a client may choose (the server picks the placement knobs)."""

    difficulty: float | None = Field(default=None, ge=0.0, le=1.0)
    narrative_style: SessionSettings.model_fields["narrative_style"].annotation = None  # type: ignore[valid-type]
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    llm: Provider = Field(
        default="offline", description="the language model; the server says which it offers (others: 422)")
    llm_options: LLMChoiceIn | None = None
    on_model_failure: Literal["fallback", "fail"] | None = Field(
        default=None, description="a model call failing after its retries: the offline model decides that one "
                                  "thing (fallback, flagged on the event) or the turn fails (fail)")


class CreateSession(_In):
    """``POST /api/v1/sessions``: a built-in ``world_template`` (or ``synthetic``) or an inline ``scenario``."""

    session_name: str = Field(default="Untitled story", min_length=1, max_length=200)
    world_template: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$",
                                       examples=["fantasy_world"])
    scenario: dict[str, Any] | None = Field(default=None, description="an inline scenario (same schema as the YAML files)")
    agent_count: int | None = Field(default=None, ge=1, le=100_000,
                                    description="synthetic: the cast size; built-in: must match the template's cast")
    settings: SettingsIn = Field(default_factory=SettingsIn)

    @model_validator(mode="after")
    def _one_world(self) -> "CreateSession":
        if (self.world_template is None) == (self.scenario is None):
            raise ValueError("give exactly one of world_template and scenario")
        return self


class PersonaBrief(BaseModel):
    id: str
    name: str


class SessionOut(BaseModel):
    """A session as its owner sees it."""

    id: str
    name: str
    status: Literal["active", "finished"] = Field(
        default="active", description="finished: the story reached its main goals and ended with an epilogue")
    turn: int
    tension: float
    title: str
    seed: int
    llm: str = Field(default="offline", description="the language model deciding and narrating")
    personas: list[PersonaBrief]
    created_at: str


class SessionItem(BaseModel):
    id: str
    name: str
    created_at: str


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
    player_actions: list[str] = Field(default_factory=list, description="agents whose queued action was applied")
    dropped_actions: list[DroppedAction] = Field(default_factory=list,
                                                 description="queued actions no longer valid this turn")


class TurnPage(BaseModel):
    items: list[TurnOut]
    total: int
    after: int
    limit: int
    next_after: int | None


class ForkIn(_In):
    """``POST .../fork``: a new session continuing this story from the end of ``at_turn`` (default: now)."""

    at_turn: int | None = Field(default=None, ge=0, le=1_000_000)
    session_name: str | None = Field(default=None, min_length=1, max_length=200)


class AgentOut(BaseModel):
    id: str
    name: str
    location: str
    status: str
    health: float
    traits: dict[str, float]
    player: str | None = Field(default=None, description="the username of the player granted this agent")
    capabilities: list[str] = Field(default_factory=list)


class AgentUpdate(_In):
    """``PUT .../agents/{agent_id}``: trait values (``parameters``) from the next turn on, and capabilities."""

    parameters: dict[str, float] = Field(default_factory=dict, max_length=32)
    capabilities: list[str] | None = Field(default=None, max_length=32)

    @model_validator(mode="after")
    def _bounded(self) -> "AgentUpdate":
        for name, value in self.parameters.items():
            if not (1 <= len(name) <= 64) or not 0.0 <= value <= 1.0:
                raise ValueError(f"parameters.{name}: a trait name of 1-64 characters with a value in [0, 1]")
        for c in self.capabilities or ():
            if not 1 <= len(c) <= 64:
                raise ValueError("capabilities: each must be 1-64 characters")
        return self


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


class ActionQueued(BaseModel):
    session_id: str
    agent_id: str
    for_turn: int


class NarrativeOut(BaseModel):
    title: str
    text: str
    turns: list[dict[str, Any]]
