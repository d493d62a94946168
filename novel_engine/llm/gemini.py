"""Gemini through the google-genai async client.

Persona decisions ask for JSON fitting the :class:`~novel_engine.core.events.Decision` schema
(``response_mime_type="application/json"`` plus ``response_json_schema`` derived from the pydantic
model); chronicler prose asks for plain text. Both carry the fixed rules as the *system
instruction* and the data as the user message (see :mod:`novel_engine.llm.prompts`).

The client's own retries are switched off (``HttpRetryOptions(attempts=1)``), so the
:class:`~novel_engine.llm.resilience.RetryingModel` around this adapter is the one that counts
attempts, honours Retry-After and feeds the circuit breaker.
"""

from __future__ import annotations

from typing import Any

from novel_engine.errors import ModelError
from novel_engine.llm.port import LanguageModel, ModelRequest, ModelResponse
from novel_engine.llm.prompts import render_prompt, response_schema
from novel_engine.llm.settings import LLMOptions
from novel_engine.llm.transport import http_failure, parse_structured, timeout_failure

__all__ = ["GeminiBase", "GeminiModel"]


class GeminiBase(LanguageModel):
    """What both Gemini transports share: the key check, the model id, and pickling by settings.

    Args:
        options: model, temperature, maximum tokens, thinking budget, base URL, timeout.
        api_key: the API key (from ``GEMINI_API_KEY`` / ``GOOGLE_API_KEY``; see
            :func:`~novel_engine.llm.settings.api_key`).
    """

    provider = "gemini"

    def __init__(self, options: LLMOptions, api_key: str) -> None:
        if not api_key:
            raise ModelError("the gemini model needs an API key", provider="gemini")
        self.options = options
        self.model_id = options.model_name("gemini")
        self.name = f"gemini:{self.model_id}"
        self._api_key = api_key

    def __getstate__(self) -> dict[str, Any]:
        # clients hold sessions bound to this process; every actor builds its own from the settings
        return {"options": self.options, "api_key": self._api_key}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["options"], state["api_key"])


class GeminiModel(GeminiBase):
    """The LanguageModel port over the Gemini API through the google-genai client (see :class:`GeminiBase`)."""

    def __init__(self, options: LLMOptions, api_key: str) -> None:
        super().__init__(options, api_key)
        self._client: Any = None
        self._configs: dict[tuple[Any, str], Any] = {}

    def _genai(self) -> Any:
        if self._client is None:
            from google import genai
            from google.genai import types

            http = types.HttpOptions(
                base_url=self.options.base_url,
                timeout=int(self.options.timeout_s * 1000),
                retry_options=types.HttpRetryOptions(attempts=1),
            )
            self._client = genai.Client(api_key=self._api_key, http_options=http)
        return self._client

    def _config(self, request: ModelRequest, system: str) -> Any:
        # one config object per (schema, system instruction): persona calls all share one, which
        # spares the client rebuilding the schema for each of a thousand calls
        key = (request.schema, system)
        config = self._configs.get(key)
        if config is None:
            if len(self._configs) > 64:
                self._configs.clear()
            config = self._configs[key] = self._new_config(request, system)
        return config

    def _new_config(self, request: ModelRequest, system: str) -> Any:
        from google.genai import types

        o = self.options
        kwargs: dict[str, Any] = {
            "system_instruction": system,
            "temperature": o.temperature,
            "max_output_tokens": o.max_output_tokens,
        }
        if o.thinking_budget is not None:
            kwargs["thinking_config"] = types.ThinkingConfig(thinking_budget=o.thinking_budget)
        if request.schema is not None:
            kwargs["response_mime_type"] = "application/json"
            kwargs["response_json_schema"] = response_schema(request.schema)
        return types.GenerateContentConfig(**kwargs)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """One generateContent call.

        Raises:
            ModelTransientError: 429, 5xx, a timeout or a lost connection (retry it).
            ModelError: any other failure (bad key, bad request, an unreadable answer).
        """
        import aiohttp
        import httpx
        from google.genai import errors as genai_errors

        prompt = render_prompt(request)
        client = self._genai()
        try:
            result = await client.aio.models.generate_content(
                model=self.model_id, contents=prompt.user, config=self._config(request, prompt.system)
            )
        except genai_errors.APIError as exc:
            headers = getattr(getattr(exc, "response", None), "headers", None) or {}
            raise http_failure("gemini", int(exc.code or 0), str(exc.message or exc), headers) from None
        except (TimeoutError, aiohttp.ServerTimeoutError, httpx.TimeoutException):
            raise timeout_failure("gemini", f"no answer within {self.options.timeout_s:g} s") from None
        except (aiohttp.ClientError, httpx.TransportError) as exc:
            raise timeout_failure("gemini", f"connection failed: {exc}") from None
        except (ValueError, KeyError, TypeError) as exc:  # an answer the client cannot read
            raise ModelError(f"gemini: unreadable answer: {exc}", provider="gemini") from None
        try:
            text = result.text or ""
        except (ValueError, AttributeError):  # no candidate (e.g. blocked by safety filters)
            text = ""
        usage = getattr(result, "usage_metadata", None)
        return ModelResponse(
            text=text,
            model=self.name,
            parsed=parse_structured(text, request.schema),
            input_tokens=int(getattr(usage, "prompt_token_count", 0) or 0),
            output_tokens=int(getattr(usage, "candidates_token_count", 0) or 0)
            + int(getattr(usage, "thoughts_token_count", 0) or 0),
        )
