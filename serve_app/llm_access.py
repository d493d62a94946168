"""Which language models the server's clients may use, and with what options.

An API client is untrusted: it names a provider (``settings.llm``) and may tune the sampling
(``temperature``, a smaller ``max_output_tokens``), nothing else: never the base URL the server's key
is sent to, nor ``replay_of`` (another session's recorded calls). Everything that costs money or
reaches the network (the base URL, the model, retries, quotas, prices) is the operator's, set once
per provider in the server's configuration::

    llm_allowed: offline,gemini
    llm_options: {"gemini": {"model": "gemini-2.5-flash", "max_concurrency": 64,
                             "requests_per_minute": 1000, "quota": "story-api"}}

Keys come from the replicas' environment (``GEMINI_API_KEY``/``GOOGLE_API_KEY``, ``OPENAI_API_KEY``),
never from a request or a config file. A provider the operator allows but cannot call (no key, no
base URL) stops the replica at start, so the mistake shows at deploy time rather than as a failing
session later.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from novel_engine.errors import ConfigError
from novel_engine.llm.settings import PROVIDERS, LLMOptions, api_key

__all__ = ["LLMAccess"]


@dataclass(frozen=True)
class LLMAccess:
    """The operator's LLM policy for API sessions.

    Attributes:
        allowed: the providers a client may choose (``offline`` is always among them).
        options: the operator's ``LLMOptions`` per provider.
    """

    allowed: tuple[str, ...] = ("offline",)
    options: Mapping[str, LLMOptions] = field(default_factory=dict)

    @classmethod
    def parse(cls, allowed: str, options: str | Mapping[str, Any] | None) -> LLMAccess:
        """Read ``llm_allowed`` (comma-separated providers) and ``llm_options`` (JSON or a mapping:
        provider -> LLMOptions fields).

        Raises:
            ConfigError: an unknown provider, malformed JSON or a bad option, naming it.
        """
        names = tuple(dict.fromkeys(["offline", *(p.strip() for p in allowed.split(",") if p.strip())]))
        unknown = [p for p in names if p not in PROVIDERS]
        if unknown:
            raise ConfigError(
                f"serve setting llm_allowed: unknown provider {unknown[0]!r}; known: {', '.join(PROVIDERS)}",
                setting="llm_allowed",
            )
        raw = options or {}
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ConfigError(
                    f"serve setting llm_options: not JSON ({exc.msg} at {exc.pos})", setting="llm_options"
                ) from None
        if not isinstance(raw, Mapping):
            raise ConfigError(
                "serve setting llm_options: expected an object of provider -> options", setting="llm_options"
            )
        parsed: dict[str, LLMOptions] = {}
        for provider, values in raw.items():
            if provider not in PROVIDERS or provider == "offline":
                raise ConfigError(
                    f"serve setting llm_options.{provider}: not a provider with options (gemini, openai)",
                    setting=f"llm_options.{provider}",
                )
            try:
                parsed[provider] = LLMOptions.model_validate(values)
            except ValidationError as exc:
                e = exc.errors()[0]
                path = ".".join(map(str, (provider, *e["loc"])))
                raise ConfigError(
                    f"serve setting llm_options.{path}: {e['msg']}", setting=f"llm_options.{path}"
                ) from None
            if parsed[provider].replay_of:
                raise ConfigError(
                    f"serve setting llm_options.{provider}.replay_of: a server cannot replay "
                    f"one recorded session for every client",
                    setting=f"llm_options.{provider}",
                )
        return cls(names, parsed)

    def check_callable(self, environ: Mapping[str, str]) -> None:
        """Fail unless every allowed provider can be called from here (its key, its base URL).

        Raises:
            ConfigError: naming the provider and what it lacks.
        """
        for provider in self.allowed:
            if provider == "gemini" and api_key("gemini", environ, required=False) is None:
                raise ConfigError(
                    "serve setting llm_allowed offers gemini, which needs an API key: set "
                    "GEMINI_API_KEY or GOOGLE_API_KEY in the environment of the server's replicas",
                    setting="llm_allowed",
                )
            elif provider == "openai" and not self.options_of("openai").base_url:
                raise ConfigError(
                    "serve setting llm_allowed has openai, which needs llm_options.openai.base_url "
                    "(the OpenAI-compatible server to call)",
                    setting="llm_options.openai.base_url",
                )

    def options_of(self, provider: str) -> LLMOptions:
        """The operator's options of ``provider`` (the defaults when none are configured)."""
        return self.options.get(provider) or LLMOptions()

    def session_settings(self, provider: str, client: Mapping[str, Any] | None) -> dict[str, Any]:
        """``llm`` and ``llm_options`` session settings for a client's choice.

        Args:
            provider: the client's ``settings.llm``.
            client: the client's ``settings.llm_options`` (sampling only).

        Raises:
            ConfigError: a provider this server does not allow, or options beyond the operator's.
        """
        if provider not in self.allowed:
            raise ConfigError(
                f"settings.llm: this server offers {', '.join(self.allowed)}, not {provider!r}", field="settings.llm"
            )
        if provider == "offline":
            return {"llm": "offline"}
        client = {k: v for k, v in (client or {}).items() if v is not None}
        base = self.options_of(provider)
        cap = base.max_output_tokens
        if client.get("max_output_tokens", 0) > cap:
            raise ConfigError(
                f"settings.llm_options.max_output_tokens: at most {cap} on this server",
                field="settings.llm_options.max_output_tokens",
            )
        return {"llm": provider, "llm_options": {**base.model_dump(exclude_none=True), **client}}
