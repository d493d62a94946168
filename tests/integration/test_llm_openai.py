"""The OpenAI-compatible adapter through httpx, against the fake OpenAI-compatible server."""

from __future__ import annotations

import asyncio

import pytest

from novel_engine.api import Engine
from novel_engine.core.events import Decision
from novel_engine.errors import ConfigError, ModelTransientError
from novel_engine.llm.openai_compat import OpenAICompatModel
from novel_engine.llm.settings import LLMOptions
from novel_engine.testing.fake_llm import FakeOpenAIServer
from novel_engine.testing.fake_llm import sample_decision_request as _decide_request


def _options(server, **kw) -> dict:
    return {"base_url": server.url, "backoff_s": 0.01, "max_backoff_s": 0.05, "timeout_s": 2.0, **kw}


def _formats(server) -> list:
    return [(b.get("response_format") or {}).get("type") for b in server.requests]


def test_story_with_json_schema_output():
    with FakeOpenAIServer(retry_after="0.01") as server:
        server.faults.script = ["429"]
        report = (
            Engine()
            .create_session("fantasy_world", seed=2, llm="openai", llm_options=_options(server, model="qwen"))
            .step()
        )
        assert not any("fallback" in e.flags for e in report.events)
        assert server.outcomes["429"] == 1  # retried
        assert "json_schema" in _formats(server) and None in _formats(server)  # decisions, then prose
        body = next(b for b in server.requests if b.get("response_format"))
        assert body["model"] == "qwen" and body["messages"][0]["role"] == "system"
        assert body["response_format"]["json_schema"]["schema"]["properties"]["action_type"]["enum"]
        assert report.events[0].summary in report.prose


def test_server_without_json_schema_gets_json_mode_validation_and_repair():
    with FakeOpenAIServer(json_schema=False) as server:
        server.faults.script = ["malformed"]
        report = Engine().create_session("fantasy_world", seed=2, llm="openai", llm_options=_options(server)).step()
        formats = _formats(server)
        assert "json_object" in formats and "json_schema" not in formats  # refused once (400), then JSON mode
        assert sum(1 for e in report.events if "repaired" in e.flags) == 1
        assert not any("fallback" in e.flags for e in report.events)


def test_adapter_errors_and_missing_base_url():
    with FakeOpenAIServer(retry_after="3") as server:
        server.faults.script = ["429"]
        model = OpenAICompatModel(LLMOptions(**_options(server)))
        with pytest.raises(ModelTransientError) as err:
            asyncio.run(model.complete(_decide_request()))
        assert err.value.details["retry_after"] == 3.0
        assert Decision.model_validate_json(asyncio.run(model.complete(_decide_request())).text)
    with pytest.raises(ConfigError, match="base_url"):
        Engine().create_session("fantasy_world", llm="openai")
