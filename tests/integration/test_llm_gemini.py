"""Gemini through the real google-genai client, against the fake Gemini server on loopback."""

from __future__ import annotations

import asyncio

import pytest

from novel_engine.api import Engine
from novel_engine.cli import main
from novel_engine.core.events import Decision
from novel_engine.errors import ConfigError, ModelError, ModelFailedError, ModelTransientError
from novel_engine.llm.factory import build_model
from novel_engine.llm.gemini import GeminiModel
from novel_engine.llm.gemini_rest import GeminiRestModel
from novel_engine.llm.settings import LLMOptions
from novel_engine.testing.fake_llm import FakeGeminiServer
from novel_engine.testing.fake_llm import sample_decision_request as _decide_request

KEY = "test-gemini-key"


@pytest.fixture
def server():
    with FakeGeminiServer(api_key=KEY, retry_after="0.01") as srv:
        yield srv


@pytest.fixture
def gemini_env(monkeypatch):
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)


def _options(server, **kw) -> dict:
    return {"base_url": server.url, "backoff_s": 0.01, "max_backoff_s": 0.05, "timeout_s": 2.0, **kw}


@pytest.mark.parametrize("transport", ["genai", "rest"])
def test_structured_decisions_and_prose_through_the_real_client(server, gemini_env, transport):
    session = Engine().create_session(
        "fantasy_world",
        seed=4,
        llm="gemini",
        llm_options=_options(
            server, temperature=0.3, max_output_tokens=300, thinking_budget=64, gemini_transport=transport
        ),
    )
    report = session.step()
    assert not any("fallback" in e.flags for e in report.events)
    decisions = sum(1 for e in report.events if e.kind == "action")
    assert decisions and server.calls == decisions + 1  # one call per decision, one for the prose
    decide = next(b for b in server.requests if b["generationConfig"].get("responseMimeType") == "application/json")
    gen = decide["generationConfig"]
    assert gen["responseJsonSchema"]["properties"]["action_type"]["enum"]
    assert gen["temperature"] == 0.3 and gen["maxOutputTokens"] == 300
    thinking = gen["thinkingConfig"]
    assert thinking.get("thinkingBudget", thinking.get("thinking_budget")) == 64
    assert "available_actions" in decide["systemInstruction"]["parts"][0]["text"]
    narrate = server.requests[-1]
    assert (
        "responseMimeType" not in narrate["generationConfig"]
        and "chronicler" in narrate["systemInstruction"]["parts"][0]["text"]
    )
    assert report.events[0].summary in report.prose  # the fake retells the events it was given


@pytest.mark.parametrize("transport", ["genai", "rest"])
def test_429_and_500_are_retried_by_our_wrapper_only(server, gemini_env, transport):
    server.faults.script = ["429", "500", "ok"]
    model = build_model("gemini", LLMOptions(**_options(server, gemini_transport=transport)))
    req = _decide_request()
    response = asyncio.run(model.complete(req))
    assert Decision.model_validate_json(response.text)
    assert server.calls == 3 and server.outcomes == {"429": 1, "500": 1, "ok": 1}  # no hidden client retries


@pytest.mark.parametrize("adapter", [GeminiModel, GeminiRestModel])
def test_bare_adapter_classifies_failures(server, adapter):
    model = adapter(LLMOptions(**_options(server, timeout_s=0.2)), KEY)
    server.faults.script = ["429"]
    with pytest.raises(ModelTransientError) as err:
        asyncio.run(model.complete(_decide_request()))
    assert err.value.details["status"] == 429 and err.value.details["retry_after"] == pytest.approx(0.01)
    server.faults.hang_s = 1.0
    server.faults.script = ["hang"]
    with pytest.raises(ModelTransientError, match="no answer within"):
        asyncio.run(model.complete(_decide_request()))
    wrong = adapter(LLMOptions(**_options(server)), "not-the-key")
    with pytest.raises(ModelError, match="HTTP 400") as err:
        asyncio.run(wrong.complete(_decide_request()))
    assert not isinstance(err.value, ModelTransientError)


def test_malformed_json_is_repaired_once(server, gemini_env):
    server.faults.script = ["malformed"]
    session = Engine().create_session("fantasy_world", seed=4, llm="gemini", llm_options=_options(server))
    report = session.step()
    assert sum(1 for e in report.events if "fallback" in e.flags) == 0
    decisions = sum(1 for e in report.events if e.kind == "action")
    assert server.outcomes["malformed"] == 1 and server.calls == decisions + 2  # one repair call
    assert sum(1 for e in report.events if "repaired" in e.flags) == 1


def test_failures_after_retries_fall_back_or_fail_the_turn(server, gemini_env):
    server.faults.rate_500 = 1.0
    opts = _options(server, max_retries=1, breaker_failures=0)
    report = Engine().create_session("fantasy_world", seed=4, llm="gemini", llm_options=opts).step()
    assert report.events and all("fallback" in e.flags for e in report.events if e.kind == "action")
    assert all("HTTP 500" in e.data["fallback_reason"] for e in report.events if e.kind == "action")
    assert report.prose  # the chronicler fell back to the offline grammar
    failing = Engine().create_session("fantasy_world", seed=4, llm="gemini", llm_options=opts, on_model_failure="fail")
    with pytest.raises(ModelFailedError, match="HTTP 500"):
        failing.step()


def test_open_circuit_breaker_stops_calling(server, gemini_env):
    server.faults.rate_500 = 1.0
    opts = _options(server, max_retries=0, breaker_failures=2, breaker_cooldown_s=60)
    session = Engine().create_session("fantasy_world", seed=4, llm="gemini", llm_options=opts)
    session.step()  # the turn's concurrent calls fail; the breaker opens
    calls = server.calls
    report = session.step()
    reasons = [e.data["fallback_reason"] for e in report.events if e.kind == "action"]
    assert reasons and all("circuit breaker open" in r for r in reasons)
    assert server.calls == calls  # nothing reached the API while the breaker was open


def test_missing_key_is_a_clear_error_at_session_creation(monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="GEMINI_API_KEY or GOOGLE_API_KEY"):
        Engine().create_session("fantasy_world", llm="gemini")


def test_record_and_replay_byte_identical_without_api_calls(server, gemini_env):
    server.faults.rate_429 = 0.2
    with Engine(store="memory") as engine:
        original = engine.create_session("fantasy_world", seed=8, llm="gemini", llm_options=_options(server))
        first = original.run(3)
        calls = server.calls
        replay = engine.create_session(
            "fantasy_world", seed=8, llm="gemini", llm_options=_options(server, replay_of=original.id)
        )
        again = replay.run(3)
    assert server.calls == calls
    assert replay.narrative() == original.narrative()
    assert [e.to_dict() for r in again for e in r.events] == [e.to_dict() for r in first for e in r.events]


def test_cli_runs_a_story_with_gemini_and_replays_it(server, gemini_env, tmp_path, capsys):
    store = ["--database-url", f"sqlite:///{tmp_path / 'state.db'}", "--object-store-url", (tmp_path / "o").as_uri()]
    assert (
        main(
            [
                "run",
                "fantasy_world",
                "--turns",
                "2",
                "--runtime",
                "local",
                "--llm",
                "gemini",
                "--llm-base-url",
                server.url,
                *store,
            ]
        )
        == 0
    )
    out = capsys.readouterr()
    sid = out.err.split("session ", 1)[1].split()[0]
    calls = server.calls
    assert main(["replay", sid, "--quiet", *store]) == 0
    replayed = capsys.readouterr()
    assert server.calls == calls and replayed.out == out.out and "## Turn 2" in out.out


def test_a_resumed_llm_session_replays_its_past_from_the_records(server, gemini_env, tmp_path):
    store = f"sqlite:///{tmp_path / 'state.db'}"
    from novel_engine.storage import StoreSettings

    # no checkpoint after turn 0: resuming must replay turns 1 and 2, which only the records make exact
    settings = StoreSettings(database_url=store, object_store_url=(tmp_path / "objects").as_uri(), checkpoint_every=5)
    with Engine(store=settings) as engine:
        session = engine.create_session("fantasy_world", seed=6, llm="gemini", llm_options=_options(server))
        session.run(2)
        story, sid = session.narrative(), session.id
    calls = server.calls
    with Engine(store=settings) as engine:
        resumed = engine.resume(sid)  # turns after the checkpoint are replayed: answers come from the records
        assert resumed.turn == 2 and resumed.narrative() == story and server.calls == calls
        resumed.step()
        assert server.calls > calls and resumed.turn == 3


def test_prose_naming_someone_the_story_never_had_falls_back_to_offline_prose_flagged(gemini_env):
    """The chronicler checks a model's chapter against the events: a hallucinated name fails it."""
    ghost = "Lord Morwen Blackthorn watches it all from the ridge."
    with FakeGeminiServer(api_key=KEY, hallucinate=ghost) as liar, FakeGeminiServer(api_key=KEY) as honest:
        told = {}
        for name, srv in (("liar", liar), ("honest", honest)):
            session = Engine().create_session("fantasy_world", seed=4, llm="gemini", llm_options=_options(srv))
            session.run(2)
            told[name] = (session.narrative(), session.narration_fallbacks(), session.reports())
            narrate = srv.requests[-1]["contents"][0]["parts"][0]["text"]
            assert "standing_conditions" in narrate  # the model is given what still stands
    text, fallbacks, reports = told["liar"]
    assert "Morwen" not in text and [t for t, _ in fallbacks] == [1, 2]
    assert all("ungrounded" in why and "Morwen" in why for _, why in fallbacks)
    assert reports[0].events[0].summary not in reports[0].prose  # the offline grammar's chapter instead
    text, fallbacks, reports = told["honest"]
    assert fallbacks == [] and reports[0].events[0].summary in reports[0].prose  # a grounded retelling stands
