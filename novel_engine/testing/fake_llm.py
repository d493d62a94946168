"""Fake model servers on loopback: the Gemini REST API and an OpenAI-compatible chat API.

They let tests and benchmarks drive the *real* google-genai client and the real httpx adapter
without a network or a key. Each server runs an aiohttp app on its own thread and event loop,
bound to ``127.0.0.1`` on a free port. Answers are schema-valid and deterministic: a decision picks
an available action of the persona data in the prompt (by a hash of the prompt), prose retells
the event summaries of the turn data.

Faults are injected per call, from a seeded stream (so a run is repeatable) or from a script:
latency, ``429`` with ``Retry-After``, ``500``, a hang past the client's timeout, and malformed
JSON in the model's text.

Example::

    with FakeGeminiServer(api_key="k", latency_s=0.01, rate_429=0.1) as server:
        session = Engine().create_session("fantasy_world", llm="gemini",
                                          llm_options={"base_url": server.url})  # GEMINI_API_KEY=k
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Faults", "FakeGeminiServer", "FakeOpenAIServer", "fake_answer", "sample_decision_request"]

_DATA = re.compile(r"<(persona_data|turn_data)>\n(.*?)\n</\1>", re.S)


@dataclass
class Faults:
    """What a fake server does wrong, and how often.

    Attributes:
        latency_s: how long every answer takes, the fake's own work included (like a remote API,
            whose latency includes its compute: the answer is made first, the rest is waited).
        rate_429 / rate_500 / rate_hang / rate_malformed: the share of calls answered with 429,
            500, a hang of ``hang_s`` (longer than the client's timeout) or malformed JSON text.
        retry_after: the Retry-After header sent with a 429 (None: no header).
        hang_s: how long a hanging call hangs.
        script: outcomes for the next calls, consumed first: ``ok``, ``429``, ``500``, ``hang``, ``malformed``.
        seed: seeds the stream that picks which calls fail.
        hallucinate: a sentence added to every chapter of prose (a name the story never had, say),
            to test that the chronicler checks a model's prose against the events.
    """

    latency_s: float = 0.0
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_hang: float = 0.0
    rate_malformed: float = 0.0
    retry_after: str | None = "1"
    hang_s: float = 5.0
    script: list[str] = field(default_factory=list)
    seed: int = 0
    hallucinate: str = ""


def fake_answer(user_text: str, json_wanted: bool) -> str:
    """A deterministic, valid answer to a prompt rendered by :mod:`novel_engine.llm.prompts`."""
    match = _DATA.search(user_text)
    data: dict[str, Any] = json.loads(match.group(2)) if match else {}
    digest = int(hashlib.sha256(user_text.encode()).hexdigest()[:8], 16)
    if json_wanted:
        actions = data.get("available_actions") or {"rest": []}
        names = sorted(actions)
        action = names[digest % len(names)]
        targets = actions[action]
        target = targets[digest % len(targets)] if targets else None
        return json.dumps(
            {
                "action_type": action,
                "target": target,
                "parameters": {},
                "dialogue": "So it begins." if action == "speak" else None,
                "rationale": f"{data.get('name', 'They')} sees no better course.",
                "motivated_by": [],
            }
        )
    events = data.get("events") or []
    names = {c["id"]: c["name"] for c in data.get("characters", [])}
    lines = []
    for e in events:
        summary = e.get("summary") or ""
        for pid, name in names.items():
            summary = summary.replace(pid, name)
        lines.append(summary.rstrip(". ") + ".")
    return " ".join(lines) or "Nothing stirred."


def sample_decision_request(scenario: str = "fantasy_world", persona: str = "hero_001") -> Any:
    """A real decision request (a persona's first-turn brief) to send to a model in tests."""
    from novel_engine.core.briefs import TurnBriefFactory
    from novel_engine.core.events import Decision
    from novel_engine.core.setup import build_world
    from novel_engine.llm.port import ModelRequest
    from novel_engine.scenarios import load_scenario

    world = build_world(load_scenario(scenario))[0]
    factory = TurnBriefFactory()
    factory.begin_turn(world)
    brief = factory.create_personalized_brief(persona, world, [], perceptions=(), belief_summary=())
    return ModelRequest(purpose="decide", context=brief, schema=Decision, seed=1, turn=1, agent=persona)


class _FakeServer:
    """The shared machinery: a thread with an event loop, an aiohttp app, faults and counters."""

    def __init__(self, faults: Faults | None = None, **fault_kwargs: Any) -> None:
        self.faults = faults or Faults(**fault_kwargs)
        self._rng = random.Random(self.faults.seed)
        self.calls = 0
        self.outcomes: dict[str, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests: list[dict[str, Any]] = []  # the last bodies received (for inspection)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=type(self).__name__, daemon=True)
        self._runner: Any = None
        self.port = 0

    @property
    def url(self) -> str:
        """The base URL to give the client."""
        return f"http://127.0.0.1:{self.port}"

    def _routes(self, app: Any) -> None:
        raise NotImplementedError

    def stats(self) -> dict[str, Any]:
        """Calls, outcomes by kind, and the most calls ever in flight at once."""
        return {"calls": self.calls, "outcomes": dict(self.outcomes), "max_in_flight": self.max_in_flight}

    async def _stats(self, request: Any) -> Any:
        from aiohttp import web

        return web.json_response(self.stats())

    async def _start(self) -> None:
        from aiohttp import web

        app = web.Application(client_max_size=16 * 2**20)
        app.router.add_get("/_fake/stats", self._stats)
        self._routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def start(self) -> _FakeServer:
        """Start serving (returns once the port is bound)."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def stop(self) -> None:
        """Stop serving and end the thread (idempotent)."""
        if self._loop.is_closed():
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    def __enter__(self) -> _FakeServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _outcome(self) -> str:
        f = self.faults
        if f.script:
            return f.script.pop(0)
        x = self._rng.random()
        for name, rate in (
            ("429", f.rate_429),
            ("500", f.rate_500),
            ("hang", f.rate_hang),
            ("malformed", f.rate_malformed),
        ):
            if x < rate:
                return name
            x -= rate
        return "ok"

    async def _serve(self, body: dict[str, Any], system: str, user: str, json_wanted: bool):
        """Common fault handling; returns (status, headers, answer text or error message)."""
        from aiohttp import web

        self.calls += 1
        self.requests = (self.requests + [body])[-50:]
        outcome = self._outcome()
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if outcome == "429":  # a quota refusal comes back at once
                headers = {"Retry-After": self.faults.retry_after} if self.faults.retry_after else {}
                return 429, headers, "Resource has been exhausted (e.g. check quota)."
            loop = asyncio.get_running_loop()
            until = loop.time() + self.faults.latency_s
            text = fake_answer(user, json_wanted) if outcome in ("ok", "malformed") else ""
            if text and not json_wanted and self.faults.hallucinate:
                text = f"{text} {self.faults.hallucinate}"
            if self.faults.latency_s:
                # what is left of the latency: 64 answers made at once would otherwise queue for
                # this one process and stretch the calls of a wave by their sum
                await asyncio.sleep(max(0.0, until - loop.time()))
            if outcome == "500":
                return 500, {}, "Internal error encountered."
            if outcome == "hang":
                await asyncio.sleep(self.faults.hang_s)
            if outcome == "malformed":
                text = text[: max(1, len(text) // 2)]
            return 200, {}, text
        except asyncio.CancelledError:  # the client gave up (timeout): nothing to answer
            raise web.HTTPRequestTimeout() from None
        finally:
            self.in_flight -= 1


class FakeGeminiServer(_FakeServer):
    """The Gemini REST routes google-genai calls: ``POST /v1beta/models/{model}:generateContent``.

    Args:
        faults: what to do wrong (or pass the :class:`Faults` fields as keywords).
        api_key: the key the server accepts (``x-goog-api-key``); another key gets 400 as Google answers.
    """

    def __init__(self, faults: Faults | None = None, *, api_key: str = "fake-key", **fault_kwargs: Any) -> None:
        super().__init__(faults, **fault_kwargs)
        self.api_key = api_key

    def _routes(self, app: Any) -> None:
        app.router.add_post("/{version}/models/{call}", self._generate)

    async def _generate(self, request: Any) -> Any:
        from aiohttp import web

        model, _, method = request.match_info["call"].partition(":")
        if method != "generateContent":
            return _gemini_error(404, "NOT_FOUND", f"method {method!r} is not served by the fake")
        if request.headers.get("x-goog-api-key") != self.api_key:
            return _gemini_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.")
        try:
            body = await request.json()
            user = "".join(p.get("text", "") for c in body.get("contents", []) for p in c.get("parts", []))
            system = "".join(p.get("text", "") for p in (body.get("systemInstruction") or {}).get("parts", []))
            json_wanted = (body.get("generationConfig") or {}).get("responseMimeType") == "application/json"
        except (ValueError, AttributeError, TypeError):
            return _gemini_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        status, headers, text = await self._serve(body, system, user, json_wanted)
        if status != 200:
            codes = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}
            return _gemini_error(status, codes.get(status, "UNKNOWN"), text, headers)
        return web.json_response(
            {
                "candidates": [
                    {"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "STOP", "index": 0}
                ],
                "usageMetadata": {
                    "promptTokenCount": (len(system) + len(user)) // 4,
                    "candidatesTokenCount": max(1, len(text) // 4),
                    "totalTokenCount": (len(system) + len(user) + len(text)) // 4,
                },
                "modelVersion": model,
                "responseId": f"fake-{self.calls}",
            }
        )


def _gemini_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Any:
    from aiohttp import web

    return web.json_response(
        {"error": {"code": status, "message": message, "status": code}}, status=status, headers=headers
    )


class FakeOpenAIServer(_FakeServer):
    """An OpenAI-compatible ``POST /v1/chat/completions``.

    Args:
        faults: what to do wrong (or its fields as keywords).
        json_schema: whether the server accepts ``response_format`` of type ``json_schema``
            (False: it answers 400, as servers without constrained decoding do).
    """

    def __init__(self, faults: Faults | None = None, *, json_schema: bool = True, **fault_kwargs: Any) -> None:
        super().__init__(faults, **fault_kwargs)
        self.json_schema = json_schema

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _routes(self, app: Any) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)

    async def _chat(self, request: Any) -> Any:
        from aiohttp import web

        try:
            body = await request.json()
            messages = body["messages"]
            system = "".join(m["content"] for m in messages if m["role"] == "system")
            user = "".join(m["content"] for m in messages if m["role"] == "user")
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": {"message": "invalid request body"}}, status=400)
        kind = (body.get("response_format") or {}).get("type")
        if kind == "json_schema" and not self.json_schema:
            return web.json_response({"error": {"message": "response_format json_schema is not supported"}}, status=400)
        status, headers, text = await self._serve(body, system, user, kind in ("json_schema", "json_object"))
        if status != 200:
            return web.json_response({"error": {"message": text}}, status=status, headers=headers)
        return web.json_response(
            {
                "id": f"fake-{self.calls}",
                "object": "chat.completion",
                "model": body.get("model", "default"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": (len(system) + len(user)) // 4, "completion_tokens": max(1, len(text) // 4)},
            }
        )


def main(argv: list[str] | None = None) -> None:
    """Serve a fake in its own process (benchmarks): print its base URL, serve until stdin closes.

    ``python -m novel_engine.testing.fake_llm gemini|openai [--latency S] [--rate-429 R] [--retry-after S]
    [--api-key KEY] [--seed N]``
    """
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="fake_llm")
    p.add_argument("kind", choices=("gemini", "openai"))
    p.add_argument("--latency", type=float, default=0.0)
    p.add_argument("--rate-429", type=float, default=0.0, dest="rate_429")
    p.add_argument("--retry-after", default="1", dest="retry_after")
    p.add_argument("--api-key", default="fake-key", dest="api_key")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    faults = Faults(latency_s=a.latency, rate_429=a.rate_429, retry_after=a.retry_after, seed=a.seed)
    server = FakeGeminiServer(faults, api_key=a.api_key) if a.kind == "gemini" else FakeOpenAIServer(faults)
    with server:
        print(server.url, flush=True)
        sys.stdin.read()  # until the parent closes our stdin (or dies)


if __name__ == "__main__":
    main()
