"""Language models through the HTTP API: a client picks one the operator offers, tunes only the
sampling, and the server's key and base URL do the rest (the fake Gemini server on loopback)."""

from __future__ import annotations

import pytest
from conftest import LLM_MAX_TOKENS
from serve_checks import assert_problem

from novel_engine.errors import ConfigError
from serve_app.config import ServeConfig
from serve_app.llm_access import LLMAccess


def test_a_session_plays_through_the_offered_model(alice, serve_server):
    fake = serve_server.gemini
    before = fake.calls
    s = alice.new_session(settings={"seed": 3, "llm": "gemini", "llm_options": {"temperature": 0.25}})
    assert s["llm"] == "gemini"
    r = alice.post(f"/api/v1/sessions/{s['id']}/turns", json={})
    assert r.status_code == 200, r.text
    turn = r.json()
    assert turn["fallbacks"] == 0 and turn["prose"]
    assert fake.calls - before >= len(s["personas"])  # a decision per persona (and the narration)
    config = fake.requests[-1]["generationConfig"]
    assert config["temperature"] == 0.25 and config["maxOutputTokens"] == LLM_MAX_TOKENS
    assert fake.outcomes.get("ok", 0) > 0


def test_an_offline_session_never_calls_the_model(alice, serve_server):
    before = serve_server.gemini.calls
    s = alice.new_session(settings={"seed": 3})
    assert s["llm"] == "offline"
    assert alice.post(f"/api/v1/sessions/{s['id']}/turns", json={}).status_code == 200
    assert serve_server.gemini.calls == before


@pytest.mark.parametrize(
    "settings, path",
    [
        ({"llm": "openai"}, "body.settings.llm"),  # a provider the operator does not offer
        ({"llm": "claude"}, "body.settings.llm"),  # not a provider at all
        (
            {"llm": "gemini", "llm_options": {"max_output_tokens": LLM_MAX_TOKENS + 1}},
            "body.settings.llm_options.max_output_tokens",
        ),
        (
            {"llm": "gemini", "llm_options": {"base_url": "http://169.254.169.254/"}},
            "body.settings.llm_options.base_url",
        ),
        (
            {"llm": "gemini", "llm_options": {"replay_of": "someone-elses-session"}},
            "body.settings.llm_options.replay_of",
        ),
        ({"llm": "gemini", "llm_options": {"model": "gemini-ultra"}}, "body.settings.llm_options.model"),
        ({"llm": "gemini", "on_model_failure": "ignore"}, "body.settings.on_model_failure"),
    ],
)
def test_what_only_the_operator_chooses_is_refused(alice, serve_server, settings, path):
    before = serve_server.gemini.calls
    r = alice.post("/api/v1/sessions", json={"world_template": "fantasy_world", "settings": settings})
    body = assert_problem(r, 422)
    assert path in [e["path"] for e in body["errors"]], body
    assert serve_server.gemini.calls == before


def test_the_llm_policy_is_checked_where_the_operator_sees_it():
    access = ServeConfig.from_args(
        {"llm_allowed": "gemini", "llm_options": {"gemini": {"model": "gemini-2.5-pro"}}}
    ).llm_access()
    assert access.allowed == ("offline", "gemini")
    assert access.session_settings("gemini", {"temperature": 0.1})["llm_options"]["model"] == "gemini-2.5-pro"
    with pytest.raises(ConfigError, match="GEMINI_API_KEY"):
        access.check_callable({})
    access.check_callable({"GOOGLE_API_KEY": "k"})
    with pytest.raises(ConfigError, match="openai.base_url"):
        LLMAccess.parse("openai", None).check_callable({})
    for allowed, options, message in [
        ("offline,claude", None, "unknown provider 'claude'"),
        ("gemini", "{not json", "not JSON"),
        ("gemini", '{"gemini": {"temperature": 9}}', "llm_options.gemini.temperature"),
        ("gemini", '{"offline": {}}', "llm_options.offline"),
        ("gemini", '{"gemini": {"replay_of": "s1"}}', "replay_of"),
    ]:
        with pytest.raises(ConfigError, match=message):
            ServeConfig.from_args({"llm_allowed": allowed, "llm_options": options or ""})
    # the environment configures it as well (NOVEL_ENGINE_SERVE_LLM_*)
    env = {
        "NOVEL_ENGINE_SERVE_LLM_ALLOWED": "openai",
        "NOVEL_ENGINE_SERVE_LLM_OPTIONS": '{"openai": {"base_url": "http://127.0.0.1:9/v1"}}',
    }
    assert ServeConfig.from_args({}, env).llm_access().options_of("openai").base_url == "http://127.0.0.1:9/v1"
