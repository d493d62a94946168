"""Gemini over its REST API directly (aiohttp): the high-throughput alternative to google-genai.

google-genai builds every request through layers of pydantic models; measured here it costs about
2 ms of CPU per call, so one process cannot issue more than about 500 calls a second whatever the
API's latency. This adapter sends the same ``POST /v1beta/models/{model}:generateContent`` body
(system instruction, contents, generation config with the response JSON schema and the thinking
budget) from a prebuilt template for about a tenth of that. Choose it with
``llm_options.gemini_transport = "rest"``; the default stays the official client.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from novel_engine.errors import ModelError
from novel_engine.llm.gemini import GeminiBase
from novel_engine.llm.port import ModelRequest, ModelResponse
from novel_engine.llm.prompts import render_prompt, response_schema
from novel_engine.llm.settings import LLMOptions
from novel_engine.llm.transport import http_failure, parse_structured, timeout_failure

__all__ = ["GeminiRestModel", "GEMINI_BASE_URL"]

GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"


class GeminiRestModel(GeminiBase):
    """The LanguageModel port over Gemini's REST API (same settings as :class:`GeminiModel`; the key
    is sent as ``x-goog-api-key``)."""

    def __init__(self, options: LLMOptions, api_key: str) -> None:
        super().__init__(options, api_key)
        base = (options.base_url or GEMINI_BASE_URL).rstrip("/")
        self._url = f"{base}/v1beta/models/{self.model_id}:generateContent"
        self._sessions: dict[asyncio.AbstractEventLoop, Any] = {}

    def _session(self) -> Any:
        import aiohttp

        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None:  # a client session belongs to one loop; sync callers use a fresh loop per turn
            self._sessions = {lp: s for lp, s in self._sessions.items() if not lp.is_closed()}
            session_cls, connector_cls = _quiet_classes()
            session = self._sessions[loop] = session_cls(
                headers={"x-goog-api-key": self._api_key, "Content-Type": "application/json"},
                timeout=aiohttp.ClientTimeout(total=self.options.timeout_s),
                connector=connector_cls(limit=0),
            )
        return session

    def _body(self, request: ModelRequest, system: str, user: str) -> dict[str, Any]:
        o = self.options
        config: dict[str, Any] = {"temperature": o.temperature, "maxOutputTokens": o.max_output_tokens}
        if o.thinking_budget is not None:
            config["thinkingConfig"] = {"thinkingBudget": o.thinking_budget}
        if request.schema is not None:
            config["responseMimeType"] = "application/json"
            config["responseJsonSchema"] = response_schema(request.schema)
        return {
            "systemInstruction": {"role": "user", "parts": [{"text": system}]},
            "contents": [{"role": "user", "parts": [{"text": user}]}],
            "generationConfig": config,
        }

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """One generateContent call.

        Raises:
            ModelTransientError: 429, 5xx, a timeout or a lost connection (retry it).
            ModelError: any other failure.
        """
        import aiohttp

        prompt = render_prompt(request)
        payload = json.dumps(self._body(request, prompt.system, prompt.user))
        try:
            async with self._session().post(self._url, data=payload) as resp:
                raw = await resp.text()
                if resp.status != 200:
                    raise http_failure("gemini", resp.status, _message(raw), resp.headers)
        except TimeoutError:
            raise timeout_failure("gemini", f"no answer within {self.options.timeout_s:g} s") from None
        except aiohttp.ClientError as exc:
            raise timeout_failure("gemini", f"connection failed: {exc}") from None
        try:
            data = json.loads(raw)
            parts = (data.get("candidates") or [{}])[0].get("content", {}).get("parts") or []
            text = "".join(p.get("text", "") for p in parts if not p.get("thought"))
        except (ValueError, AttributeError, IndexError, TypeError) as exc:
            raise ModelError(f"gemini: unreadable answer: {exc}", provider="gemini") from None
        usage = data.get("usageMetadata") or {}
        return ModelResponse(
            text=text,
            model=self.name,
            parsed=parse_structured(text, request.schema),
            input_tokens=int(usage.get("promptTokenCount") or 0),
            output_tokens=int(usage.get("candidatesTokenCount") or 0) + int(usage.get("thoughtsTokenCount") or 0),
        )


_QUIET: list[Any] = []


def _quiet_classes() -> tuple[Any, Any]:
    """aiohttp's session and connector without the "unclosed" warning: a sync caller's loop ends
    after every turn, taking the sockets with it, so the warning would only be noise."""
    if not _QUIET:
        import aiohttp

        class QuietSession(aiohttp.ClientSession):  # type: ignore[misc]
            def __del__(self, *args: Any) -> None:
                pass

        class QuietConnector(aiohttp.TCPConnector):
            def __del__(self, *args: Any) -> None:
                pass

        _QUIET.extend((QuietSession, QuietConnector))
    return _QUIET[0], _QUIET[1]


def _message(raw: str) -> str:
    try:
        return str(json.loads(raw)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return raw[:300]
