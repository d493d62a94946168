"""Content hashes of requests, the response cache, and token and cost accounting.

:func:`request_key` hashes what decides an answer: the provider's model, the sampling settings,
the response schema and the rendered prompt (which already holds the persona, the turn and the
brief). The cache and the record/replay log both key answers by it.

:class:`MeteredModel` counts calls, tokens and cost per session (:meth:`MeteredModel.usage`) and
exports them as Prometheus metrics (``novel_engine_llm_*``, labelled by model and outcome, never by
session: a label per session would grow without bound) in the process making the calls.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from typing import Any

from novel_engine.errors import ModelError
from novel_engine.llm.port import LanguageModel, ModelRequest, ModelResponse
from novel_engine.llm.prompts import render_prompt, response_schema

__all__ = ["request_key", "CachedModel", "MeteredModel", "UsageSink", "usage_metrics"]


def request_key(request: ModelRequest, model: str, settings: dict[str, Any] | None = None) -> str:
    """The sha256 content hash of a request as ``model`` would receive it."""
    prompt = render_prompt(request)
    doc = {
        "model": model,
        "settings": settings or {},
        "purpose": request.purpose,
        "schema": response_schema(request.schema) if request.schema is not None else None,
        "system": prompt.system,
        "user": prompt.user,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class CachedModel(LanguageModel):
    """Answer an identical request (same content hash) from memory instead of calling again.

    Args:
        model: the model to wrap.
        settings: the sampling settings that are part of the key.
        max_entries: least recently used answers are dropped beyond this.
    """

    def __init__(self, model: LanguageModel, settings: dict[str, Any] | None = None, max_entries: int = 10_000) -> None:
        self.model = model
        self.name = model.name
        self.settings = dict(settings or {})
        self.max_entries = max_entries
        self._entries: OrderedDict[str, ModelResponse] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __getstate__(self) -> dict[str, Any]:
        return {"model": self.model, "settings": self.settings, "max_entries": self.max_entries}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        key = request_key(request, self.name, self.settings)
        hit = self._entries.get(key)
        if hit is not None:
            self._entries.move_to_end(key)
            self.hits += 1
            return hit
        self.misses += 1
        response = await self.model.complete(request)
        self._entries[key] = response
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return response


_METRICS: dict[str, Any] = {}


def usage_metrics() -> dict[str, Any]:
    """The Prometheus counters (created once per process, in the default registry)."""
    if not _METRICS:
        from prometheus_client import Counter

        _METRICS.update(
            calls=Counter("novel_engine_llm_calls", "Model calls by outcome", ["model", "outcome"]),
            tokens=Counter("novel_engine_llm_tokens", "Model tokens by direction", ["model", "direction"]),
            cost=Counter("novel_engine_llm_cost_usd", "Model cost in US dollars", ["model"]),
            admissions=Counter("novel_engine_llm_quota_admissions", "Model calls admitted by the quota", ["model"]),
            waited=Counter("novel_engine_llm_quota_wait_seconds", "Time model calls waited for the quota", ["model"]),
        )
    return _METRICS


class UsageSink:
    """Where usage figures go: Prometheus counters in this process's default registry.

    The Ray runtime substitutes a sink exporting through Ray's metrics agent, since the calls of a
    Ray session are made in its shard processes, which no Prometheus scrapes directly.
    """

    def record(
        self, session: str, model: str, outcome: str, input_tokens: int = 0, output_tokens: int = 0, cost: float = 0.0
    ) -> None:
        """Count one call (``outcome`` is ``ok`` or the error's class name) and its tokens and cost."""
        m = usage_metrics()
        m["calls"].labels(model=model, outcome=outcome).inc()
        if outcome == "ok":
            m["tokens"].labels(model=model, direction="input").inc(input_tokens)
            m["tokens"].labels(model=model, direction="output").inc(output_tokens)
            m["cost"].labels(model=model).inc(cost)

    def admitted(self, model: str, waited_s: float) -> None:
        """Count one call the quota admitted after waiting ``waited_s`` seconds (saturation shows as
        the wait per admission growing)."""
        m = usage_metrics()
        m["admissions"].labels(model=model).inc()
        m["waited"].labels(model=model).inc(waited_s)


class MeteredModel(LanguageModel):
    """Count calls, tokens and cost of ``model`` for one session.

    Args:
        model: the model to wrap.
        session_id: the session the calls belong to (a metric label).
        price_input_per_mtok / price_output_per_mtok: US dollars per million tokens.
        sink: where the figures are exported (default: this process's Prometheus registry).
    """

    def __init__(
        self,
        model: LanguageModel,
        session_id: str,
        price_input_per_mtok: float = 0.0,
        price_output_per_mtok: float = 0.0,
        sink: UsageSink | None = None,
    ) -> None:
        self.model = model
        self.name = model.name
        self.session_id = session_id
        self.prices = (price_input_per_mtok, price_output_per_mtok)
        self.sink = sink or UsageSink()
        self.calls = self.failures = self.input_tokens = self.output_tokens = 0
        self.cost_usd = 0.0

    def __getstate__(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "session_id": self.session_id,
            "price_input_per_mtok": self.prices[0],
            "price_output_per_mtok": self.prices[1],
            "sink": self.sink,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.calls += 1
        try:
            response = await self.model.complete(request)
        except ModelError as err:
            self.failures += 1
            self.sink.record(self.session_id, self.name, type(err).__name__)
            raise
        cost = (response.input_tokens * self.prices[0] + response.output_tokens * self.prices[1]) / 1e6
        self.input_tokens += response.input_tokens
        self.output_tokens += response.output_tokens
        self.cost_usd += cost
        self.sink.record(self.session_id, self.name, "ok", response.input_tokens, response.output_tokens, cost)
        return response

    def usage(self) -> dict[str, Any]:
        """Calls, failures, input and output tokens, and cost so far (this process)."""
        return {
            "session": self.session_id,
            "model": self.name,
            "calls": self.calls,
            "failures": self.failures,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost_usd, 6),
        }
