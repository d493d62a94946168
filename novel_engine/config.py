"""Session settings: one validated model shared by the API, the CLI and (later) the HTTP server."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from novel_engine.core.rng import SEED_LIMIT, check_seed, seed_problem
from novel_engine.errors import ConfigError
from novel_engine.llm.settings import LLMOptions

__all__ = ["SEED_LIMIT", "SessionSettings", "parse_settings"]


class SessionSettings(BaseModel):
    """How a session runs. Every field has a default that works on a bare machine.

    Attributes:
        seed: the session seed, ``0 <= seed < SEED_LIMIT`` (2**63) (None: the scenario's default seed).
        llm: which language model decides and narrates: ``offline`` (no key or network), ``gemini``
            (key in GEMINI_API_KEY or GOOGLE_API_KEY) or ``openai`` (an OpenAI-compatible server at
            ``llm_options.base_url``). None: the scenario's ``llm``, else offline.
        llm_options: model, sampling, retries, quotas, cache, replay (see
            :class:`~novel_engine.llm.settings.LLMOptions`).
        on_model_failure: when a model call fails after its retries: ``fallback`` (the offline model
            decides that one thing and the event is flagged) or ``fail`` (the turn stops with an error).
        narrative_style: overrides the scenario's prose style.
        verbosity: how lavish the prose is, in [0, 1].
        focus_areas: what the chronicler dwells on.
        difficulty: overrides the scenario's difficulty, in [0, 1].
        attention: how many fragments a persona notices per turn (fog of war).
        highlight_limit: how many events per turn the chronicler narrates (large casts).
        personas_per_actor: Ray runtime: personas per persona shard (None: 1 for casts up to 16
            deciding offline, else packed into ``persona_shards`` shards).
        persona_shards: Ray runtime: the most persona shards an automatic packing makes (None: the
            cluster's CPU count, at least 2).
        belief_shards: Ray runtime: belief-store actors (None: packed persona shards hold their
            personas' beliefs themselves; one per four persona shards with one actor per persona).
        graph_shards: how many shards hold the causal graph, split by event id (None: the director
            holds it whole). On Ray each is an actor; in process, parts of this process.
        placement: Ray runtime: ``auto`` (a small cast shares a session host when the engine's
            host pool takes casts of its size, else actors of its own), ``host`` (a session
            host, whatever the cast) or ``actors`` (actors of its own, e.g.
            one per persona with ``personas_per_actor=1``). Placement never changes the story.
        processes: kept for stored sessions of earlier versions; only 1. A session that should use
            several cores runs on Ray (``Engine("ray")``), which spreads its personas over actors.
        resolver_shards: how many shards settle the regions of the map each turn (None: the
            director settles them itself). On Ray each is an actor (``ne:<sid>:resolve:<i>``)
            and they work at once; in process they run one after another. The story is the same
            for every count: regions depend on the map and the cast only.
    """

    model_config = ConfigDict(extra="forbid")

    seed: int | None = None
    llm: Literal["offline", "gemini", "openai"] | None = None
    llm_options: LLMOptions = Field(default_factory=LLMOptions)
    on_model_failure: Literal["fallback", "fail"] = "fallback"
    narrative_style: Literal["epic_fantasy", "noir", "sci_fi"] | None = None
    verbosity: float = Field(default=0.6, ge=0.0, le=1.0)
    focus_areas: tuple[Literal["action", "dialogue", "atmosphere"], ...] = ("action", "dialogue", "atmosphere")
    difficulty: float | None = Field(default=None, ge=0.0, le=1.0)
    attention: int = Field(default=8, ge=1, le=64)
    highlight_limit: int = Field(default=12, ge=1, le=200)
    personas_per_actor: int | None = Field(default=None, ge=1)
    persona_shards: int | None = Field(default=None, ge=1, le=1024)
    belief_shards: int | None = Field(default=None, ge=1, le=1024)
    graph_shards: int | None = Field(default=None, ge=1, le=1024)
    resolver_shards: int | None = Field(default=None, ge=1, le=1024)
    placement: Literal["auto", "host", "actors"] = "auto"
    processes: int = 1

    @field_validator("processes")
    @classmethod
    def _one_process(cls, v: int) -> int:
        if v != 1:
            raise ValueError(
                "sharing a local session's turns between processes was removed; run the session on "
                "Ray to use several cores (Engine('ray'), --runtime ray)"
            )
        return v

    @field_validator("seed")
    @classmethod
    def _seed_in_range(cls, v: int | None) -> int | None:
        problem = None if v is None else seed_problem(v)
        if problem is not None:
            raise ValueError(problem)
        return v


def parse_settings(settings: SessionSettings | dict | None, **overrides) -> SessionSettings:
    """Validate settings given as a model or a dict (plus keyword overrides that are not None).

    Raises:
        ConfigError: naming each bad setting and what is wrong with it.
    """
    base = settings.model_dump() if isinstance(settings, SessionSettings) else dict(settings or {})
    base.update({k: v for k, v in overrides.items() if v is not None})
    if base.get("seed") is not None:
        check_seed(base["seed"])  # one plain sentence rather than pydantic's wording
    try:
        return SessionSettings.model_validate(base)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid session settings: {problems}", errors=problems) from None
