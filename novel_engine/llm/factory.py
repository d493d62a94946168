"""Build a session's language model from its settings: the adapter and its wrappers, in order.

From the outside in::

    FailurePolicy      on_model_failure: "fallback" passes failures to the agents, "fail" stops the turn
    RecordingModel     record every call in the session's store; replay recorded answers
    MeteredModel       calls, tokens and cost per session (Prometheus metrics)
    CachedModel        identical requests answered once (content hash)
    CircuitBreaker     fail fast while the API keeps failing
    RetryingModel      429 / 5xx / timeouts: exponential backoff with jitter, Retry-After honoured
    RateLimitedModel   concurrency, requests and tokens per minute (cluster-wide limiter)
    GeminiModel | OpenAICompatModel

Keys come from the environment and are checked here, when the session is created, so a missing key
is a clear error up front instead of a failure at turn seven.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from novel_engine.errors import ConfigError
from novel_engine.llm.accounting import CachedModel, MeteredModel, UsageSink
from novel_engine.llm.limits import Limiter, LocalLimiter, RateLimitedModel
from novel_engine.llm.offline import OfflineModel
from novel_engine.llm.port import LanguageModel
from novel_engine.llm.recording import CallLog, RecordingModel
from novel_engine.llm.resilience import CircuitBreaker, FailurePolicy, RetryingModel
from novel_engine.llm.settings import LLMOptions, api_key

__all__ = ["build_model", "adapter", "sampling_settings", "quota_name"]


def sampling_settings(options: LLMOptions) -> dict[str, Any]:
    """The settings that shape an answer (part of its content hash)."""
    return {
        "temperature": options.temperature,
        "max_output_tokens": options.max_output_tokens,
        "thinking_budget": options.thinking_budget,
    }


def quota_name(provider: str, options: LLMOptions) -> str:
    """The name of the quota a session's calls count against, across sessions and the cluster."""
    return options.quota or f"{provider}:{options.model_name(provider)}"


def adapter(provider: str, options: LLMOptions, environ: Mapping[str, str] | None = None) -> LanguageModel:
    """The bare adapter of ``provider`` (no wrappers).

    Raises:
        ConfigError: unknown provider, missing key (Gemini) or missing base URL (OpenAI-compatible).
    """
    if provider == "gemini":
        key = api_key("gemini", environ) or ""
        if options.gemini_transport == "rest":
            from novel_engine.llm.gemini_rest import GeminiRestModel

            return GeminiRestModel(options, key)
        from novel_engine.llm.gemini import GeminiModel

        return GeminiModel(options, key)
    if provider == "openai":
        if not options.base_url:
            raise ConfigError(
                "llm=openai needs llm_options.base_url, the server's OpenAI-compatible API (e.g. "
                "http://localhost:8000/v1 for vLLM, http://localhost:11434/v1 for Ollama)",
                setting="llm_options.base_url",
            )
        from novel_engine.llm.openai_compat import OpenAICompatModel

        return OpenAICompatModel(options, api_key("openai", environ, required=False))
    raise ConfigError(f"unknown llm {provider!r}; choose offline, gemini or openai", setting="llm")


def build_model(
    provider: str,
    options: LLMOptions | None = None,
    *,
    session_id: str = "",
    on_failure: str = "fallback",
    limiter: Limiter | None = None,
    call_log: CallLog | None = None,
    replay_log: CallLog | None = None,
    environ: Mapping[str, str] | None = None,
    base: LanguageModel | None = None,
    usage_sink: UsageSink | None = None,
) -> LanguageModel:
    """The language model of one session.

    Args:
        provider: ``offline``, ``gemini`` or ``openai``.
        options: the session's ``llm_options``.
        session_id: labels the usage metrics.
        on_failure: ``fallback`` or ``fail``.
        limiter: the shared quota (default: one for this process).
        call_log: where to record the calls (None: not recorded).
        replay_log: with ``options.replay_of``: the recorded calls to replay (required then).
        environ: where keys are read (default ``os.environ``).
        base: an adapter to wrap instead of building one (tests, benchmarks).
        usage_sink: where token and cost metrics go (default: this process's Prometheus registry).

    Raises:
        ConfigError: a missing key or base URL, or a replay without recorded calls.
    """
    options = options or LLMOptions()
    if provider == "offline" and base is None:
        return OfflineModel()  # deterministic and local: no wrapper changes a thing
    model_id = options.model_name(provider)
    settings = sampling_settings(options)
    if options.replay_of:
        if replay_log is None:
            raise ConfigError(
                "llm_options.replay_of needs the engine's state store, where the recorded session "
                "lives: create the engine with Engine(store=...)",
                setting="llm_options.replay_of",
            )
        return FailurePolicy(
            RecordingModel(None, replay_log, model_id=model_id, settings=settings, replay=True), on_failure
        )
    model = base if base is not None else adapter(provider, options, os.environ if environ is None else environ)
    local_cap = None if limiter is None else options.max_concurrency  # a shared limiter: queue locally first
    if limiter is None:
        limiter = LocalLimiter(options.max_concurrency, options.requests_per_minute, options.tokens_per_minute)
    model = RateLimitedModel(model, limiter, options.max_output_tokens, local_cap, usage_sink or UsageSink())
    model = RetryingModel(model, options.max_retries, options.backoff_s, options.max_backoff_s)
    if options.breaker_failures:
        model = CircuitBreaker(model, options.breaker_failures, options.breaker_cooldown_s)
    if options.cache:
        model = CachedModel(model, settings)
    model = MeteredModel(model, session_id, options.price_input_per_mtok, options.price_output_per_mtok, usage_sink)
    if call_log is not None:
        model = RecordingModel(model, call_log, model_id=model_id, settings=settings)
    return FailurePolicy(model, on_failure)
