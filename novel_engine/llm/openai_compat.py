"""OpenAI-compatible chat servers (vLLM, Ollama, llama.cpp server, ...) through httpx.

``POST {base_url}/chat/completions`` with the system instruction and the data as two messages.
Structured output: ``response_format={"type": "json_schema", ...}`` where the server supports it;
a server that refuses it (HTTP 400/422 naming the response format) is asked again in JSON mode
(``{"type": "json_object"}``) and keeps JSON mode from then on. In JSON mode nothing enforces the
schema on the server, so the answer is validated here and an invalid one goes back to the model
once for repair (by :class:`~novel_engine.agents.persona.PersonaAgent`, like any invalid answer).
"""

from __future__ import annotations

import asyncio
from typing import Any

from novel_engine.errors import ModelError
from novel_engine.llm.port import LanguageModel, ModelRequest, ModelResponse
from novel_engine.llm.prompts import render_prompt, response_schema
from novel_engine.llm.settings import LLMOptions
from novel_engine.llm.transport import estimate_tokens, http_failure, parse_structured, timeout_failure

__all__ = ["OpenAICompatModel"]


_SSL: list[Any] = []


def _ssl_context() -> Any:
    # loading the CA bundle costs most of a second: once per process, not once per client
    if not _SSL:
        import ssl

        _SSL.append(ssl.create_default_context())
    return _SSL[0]


class OpenAICompatModel(LanguageModel):
    """The LanguageModel port over an OpenAI-compatible chat-completions API.

    Args:
        options: ``base_url`` (required, e.g. ``http://localhost:8000/v1``), model, temperature,
            maximum tokens, timeout and the structured-output mode.
        api_key: sent as a bearer token when given (local servers usually need none).

    Raises:
        ConfigError-like ModelError: no base URL.
    """

    provider = "openai"

    def __init__(self, options: LLMOptions, api_key: str | None = None) -> None:
        if not options.base_url:
            raise ModelError(
                "an OpenAI-compatible model needs llm_options.base_url, e.g. http://localhost:8000/v1",
                provider="openai",
            )
        self.options = options
        self.model_id = options.model_name("openai")
        self.name = f"openai:{self.model_id}"
        self._api_key = api_key
        self._json_schema = options.structured_output != "json_object"
        self._clients: dict[asyncio.AbstractEventLoop, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"options": self.options, "api_key": self._api_key}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["options"], state["api_key"])

    def _http(self) -> Any:
        import httpx

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            # an httpx client belongs to the loop it first ran on; sync callers use a fresh loop per turn
            for old in [lp for lp in self._clients if lp.is_closed()]:
                del self._clients[old]
            headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            client = self._clients[loop] = httpx.AsyncClient(
                verify=_ssl_context(),
                base_url=str(self.options.base_url).rstrip("/") + "/",
                headers=headers,
                timeout=httpx.Timeout(self.options.timeout_s),
                # few idle connections: httpcore scans its whole pool for every request, and a pool of
                # 64 kept-alive connections made 640 calls 7x slower than fresh connections (measured);
                # the limiter, not the pool, caps the calls in flight
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=8),
            )
        return client

    def _body(self, request: ModelRequest, system: str, user: str) -> dict[str, Any]:
        o = self.options
        body: dict[str, Any] = {
            "model": self.model_id,
            "temperature": o.temperature,
            "max_tokens": o.max_output_tokens,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        }
        if request.schema is not None:
            if self._json_schema:
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {
                        "name": request.schema.__name__,
                        "schema": response_schema(request.schema),
                        "strict": True,
                    },
                }
            else:
                body["response_format"] = {"type": "json_object"}
        return body

    async def _post(self, body: dict[str, Any]) -> Any:
        import httpx

        try:
            return await self._http().post("chat/completions", json=body)
        except httpx.TimeoutException:
            raise timeout_failure("openai", f"no answer within {self.options.timeout_s:g} s") from None
        except httpx.TransportError as exc:
            raise timeout_failure("openai", f"connection failed: {exc}") from None

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """One chat-completions call (two when the server refuses JSON-schema output the first time).

        Raises:
            ModelTransientError: 429, 5xx, a timeout or a lost connection (retry it).
            ModelError: any other failure.
        """
        prompt = render_prompt(request)
        body = self._body(request, prompt.system, prompt.user)
        resp = await self._post(body)
        asked_schema = (body.get("response_format") or {}).get("type") == "json_schema"  # not self._json_schema:
        # concurrent calls sent before the first refusal arrived must fall back too
        if (
            resp.status_code in (400, 422)
            and asked_schema
            and self.options.structured_output == "auto"
            and "response_format" in resp.text
        ):
            self._json_schema = False  # this server has no schema-constrained decoding: JSON mode from now on
            resp = await self._post(self._body(request, prompt.system, prompt.user))
        if resp.status_code != 200:
            raise http_failure("openai", resp.status_code, resp.text, resp.headers)
        try:
            data = resp.json()
            text = data["choices"][0]["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ModelError(f"openai: unreadable answer: {exc}", provider="openai") from None
        usage = data.get("usage") or {}
        return ModelResponse(
            text=text,
            model=self.name,
            parsed=parse_structured(text, request.schema),
            input_tokens=int(usage.get("prompt_tokens") or estimate_tokens(prompt.system, prompt.user)),
            output_tokens=int(usage.get("completion_tokens") or estimate_tokens(text)),
        )

    async def aclose(self) -> None:
        """Close this loop's HTTP client."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()
