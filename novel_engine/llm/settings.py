"""Settings of the language-model adapters and wrappers, shared by every provider.

:class:`LLMOptions` is part of the session settings (``SessionSettings.llm_options``), so a session
records how it talked to its model. API keys are *never* settings: they come from the environment
(:func:`api_key`), so they are not stored with the session or echoed in an API response.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from novel_engine.errors import ConfigError

__all__ = ["LLMOptions", "Provider", "PROVIDERS", "api_key", "DEFAULT_MODELS", "KEY_VARIABLES"]

Provider = Literal["offline", "gemini", "openai"]
PROVIDERS: tuple[str, ...] = ("offline", "gemini", "openai")

DEFAULT_MODELS = {"gemini": "gemini-2.5-flash", "openai": "default"}

# Environment variables holding each provider's key, in order of preference.
KEY_VARIABLES: dict[str, tuple[str, ...]] = {
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "openai": ("OPENAI_API_KEY",),
}


class LLMOptions(BaseModel):
    """How a session calls its language model (ignored by the offline model).

    Attributes:
        model: the provider's model name (None: ``gemini-2.5-flash``; for OpenAI-compatible
            servers, whatever the server serves as ``default``).
        temperature: sampling temperature.
        max_output_tokens: the most tokens of one answer.
        thinking_budget: Gemini: tokens the model may think for (0 turns thinking off; None: the
            model's default).
        base_url: the API's base URL (Gemini: None for Google's; OpenAI-compatible: required, e.g.
            ``http://localhost:8000/v1`` for vLLM, ``http://localhost:11434/v1`` for Ollama).
        timeout_s: the most one HTTP call may take.
        max_retries: retries after the first attempt on 429, 5xx and timeouts.
        backoff_s: the first backoff (doubled per retry, with full jitter, capped at ``max_backoff_s``).
        max_backoff_s: the longest wait between two attempts (a longer Retry-After is honoured).
        max_concurrency: the most calls in flight at once, across the whole cluster.
        quota: the name of the quota these calls count against (None: ``<provider>:<model>``).
            Sessions naming the same quota share its limits (one limiter actor or Redis bucket per
            name, whose limits are those of the session that configured it last); give sessions
            with different limits different names.
        requests_per_minute: the project's request quota (None: unlimited).
        tokens_per_minute: the project's token quota (None: unlimited).
        breaker_failures: consecutive failed calls that open the circuit breaker (0: no breaker).
        breaker_cooldown_s: how long an open breaker sends every call to the fallback.
        cache: reuse the answer of an identical request (content hash) within the process.
        structured_output: OpenAI-compatible: ``json_schema`` (the server enforces the schema),
            ``json_object`` (JSON mode plus validation and one repair) or ``auto`` (try the schema,
            switch to JSON mode if the server refuses it).
        gemini_transport: ``genai`` (the official google-genai client) or ``rest`` (the same REST
            calls from a prebuilt template, about a tenth of the client's CPU per call: for
            thousands of concurrent personas).
        price_input_per_mtok: USD per million input tokens (cost accounting).
        price_output_per_mtok: USD per million output tokens.
        replay_of: serve every call from the recorded calls of this stored session, with no API
            call at all (a missing record is an error).
    """

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(default=None, min_length=1, max_length=200)
    temperature: float = Field(default=0.8, ge=0.0, le=2.0)
    max_output_tokens: int = Field(default=512, ge=16, le=65536)
    thinking_budget: int | None = Field(default=0, ge=0, le=32768)
    base_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://")
    timeout_s: float = Field(default=30.0, gt=0.0, le=600.0)
    max_retries: int = Field(default=4, ge=0, le=20)
    backoff_s: float = Field(default=0.5, ge=0.0, le=60.0)
    max_backoff_s: float = Field(default=20.0, ge=0.0, le=600.0)
    max_concurrency: int = Field(default=64, ge=1, le=100_000)
    quota: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    requests_per_minute: int | None = Field(default=None, ge=1)
    tokens_per_minute: int | None = Field(default=None, ge=1)
    breaker_failures: int = Field(default=20, ge=0)
    breaker_cooldown_s: float = Field(default=30.0, ge=0.0)
    cache: bool = True
    structured_output: Literal["auto", "json_schema", "json_object"] = "auto"
    gemini_transport: Literal["genai", "rest"] = "genai"
    price_input_per_mtok: float = Field(default=0.0, ge=0.0)
    price_output_per_mtok: float = Field(default=0.0, ge=0.0)
    replay_of: str | None = Field(default=None, min_length=1, max_length=128)

    def model_name(self, provider: str) -> str:
        """The model to call for ``provider`` (the configured one, else the provider's default)."""
        return self.model or DEFAULT_MODELS.get(provider, "default")


def api_key(provider: str, environ: Mapping[str, str] | None = None, *, required: bool = True) -> str | None:
    """The provider's API key from the environment.

    Args:
        provider: ``gemini`` or ``openai``.
        environ: where to look (default ``os.environ``).
        required: raise when there is none (local OpenAI-compatible servers often need none).

    Raises:
        ConfigError: ``required`` and none of the provider's variables is set, naming them.
    """
    env = os.environ if environ is None else environ
    names = KEY_VARIABLES.get(provider, ())
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    if required:
        raise ConfigError(
            f"the {provider} model needs an API key: set {' or '.join(names)} in the environment "
            f"(or choose llm=offline)",
            setting="llm",
            provider=provider,
            variables=list(names),
        )
    return None
