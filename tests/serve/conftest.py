"""The serve app on the shared test Ray cluster: one Serve instance for the whole test session.

Serve's HTTP proxy listens on a free loopback port (never 8000: other test runs share the
machine). The app keeps its state in a SQLite file in a temporary folder, which the tests also
open to create users with the real security layer. A second, small application with a tiny rate
limit runs beside it for the 429 tests; being another replica process over the same store and
cluster, it also shows that replicas agree on sessions, owners, deletes and event streams. A third
one places every session on actors of its own (``host_max_personas`` 0), for the tests that kill a
session's director; the main app hosts every cast it accepts, as a server does by default.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from serve_checks import Api

SECRET = secrets.token_urlsafe(48)
RATE_LIMITED_PREFIX = "/rl"
RATE_LIMIT = 5
ACTORS_PREFIX = "/actors"
LLM_MAX_TOKENS = 256  # the operator's cap on max_output_tokens for llm="gemini"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """The running app: its base URL, and the state store the tests share with it."""

    url: str
    ws_url: str
    store_settings: Any
    runner: Any
    auth: Any
    gemini: Any  # the fake Gemini server behind the app's llm="gemini" (operator options: LLM_OPTIONS)
    secret: str = SECRET
    rate_limit: int = RATE_LIMIT
    rate_limited_url: str = ""
    actors_prefix: str = ACTORS_PREFIX  # the app whose sessions keep actors of their own

    def create_user(self, prefix: str = "user", password: str = "correct horse battery") -> tuple[str, str]:
        """A new user (unique name); returns ``(username, password)``."""
        name = f"{prefix}{uuid.uuid4().hex[:8]}"
        asyncio.run(self.auth.create_user(name, password))
        return name, password


@pytest.fixture(scope="session")
def serve_server(ray_session, tmp_path_factory) -> Iterator[Server]:
    """Serve with the app (and the rate-limited one) on a free port; shut down at the end."""
    from ray import serve

    from novel_engine.storage import StoreRunner, StoreSettings, open_store
    from novel_engine.testing.fake_llm import FakeGeminiServer
    from serve_app.app import build_app
    from serve_app.security import AuthService, AuthSettings

    folder = tmp_path_factory.mktemp("serve-state")
    settings = StoreSettings(
        database_url=f"sqlite:///{folder / 'state.db'}", object_store_url=(folder / "objects").as_uri()
    )
    runner = StoreRunner(open_store(settings)).start()
    gemini = FakeGeminiServer(api_key="fake-serve-key").start()
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    # num_cpus 0: the replicas live until the test session ends and must not hold the shared
    # cluster's CPUs away from the other tests
    # max_agents 24: the OpenAPI document publishes it, and the fuzz test then asks for synthetic
    # casts up to it (thousands of personas would be minutes of work on the shared cluster)
    base = {
        "database_url": settings.database_url,
        "object_store_url": settings.object_store_url,
        "heartbeat_s": "2",
        "max_sessions_per_user": "10",
        "max_agents": "24",
        # every cast the app accepts shares session hosts (sessions with Gemini keep actors); the
        # actors app below gives sessions actors of their own, which test_durable_sessions kills
        "host_max_personas": "24",
        "num_cpus": 0,
    }
    env = {
        "NOVEL_ENGINE_JWT_SECRET": SECRET,
        "NOVEL_ENGINE_RATE_LIMIT_PER_MINUTE": "100000",
        "NOVEL_ENGINE_LOGIN_ATTEMPTS_PER_MINUTE": "1000",
    }
    # the operator offers Gemini (the fake server; the key only in the replicas' environment)
    llm = {
        "llm_allowed": "offline,gemini",
        "llm_options": {
            "gemini": {
                "base_url": gemini.url,
                "gemini_transport": "rest",
                "max_retries": 1,
                "backoff_s": 0.01,
                "max_output_tokens": LLM_MAX_TOKENS,
                "quota": "serve-tests",
            }
        },
    }
    serve.run(
        build_app({**base, **llm, "env": {**env, "GEMINI_API_KEY": "fake-serve-key"}}),
        name="novel-engine",
        route_prefix="/",
    )
    serve.run(
        build_app({**base, "env": {**env, "NOVEL_ENGINE_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT)}}),
        name="novel-engine-rate-limited",
        route_prefix=RATE_LIMITED_PREFIX,
    )
    serve.run(
        build_app({**base, "host_max_personas": "0", "env": env}),
        name="novel-engine-actors",
        route_prefix=ACTORS_PREFIX,
    )
    auth = AuthService(runner, AuthSettings(jwt_secret=SECRET))
    try:
        yield Server(
            f"http://127.0.0.1:{port}",
            f"ws://127.0.0.1:{port}/ws",
            settings,
            runner,
            auth,
            gemini,
            rate_limited_url=f"http://127.0.0.1:{port}{RATE_LIMITED_PREFIX}",
        )
    finally:
        serve.shutdown()
        runner.stop()
        gemini.stop()


@pytest.fixture(scope="session")
def alice(serve_server) -> Api:
    return Api(serve_server, *serve_server.create_user("alice"))


@pytest.fixture(scope="session")
def bob(serve_server) -> Api:
    return Api(serve_server, *serve_server.create_user("bob"))


@pytest.fixture(scope="session")
def carol(serve_server) -> Api:
    """A user of the actors app: her sessions have a director and persona actors of their own."""
    return Api(serve_server, *serve_server.create_user("carol"), prefix=serve_server.actors_prefix)


@pytest.fixture(scope="session")
def story(alice) -> dict:
    """A session of alice's with two played turns (shared by read-only tests)."""
    s = alice.new_session(session_name="shared story")
    for _ in range(2):
        r = alice.post(f"/api/v1/sessions/{s['id']}/turns", json={})
        assert r.status_code == 200, r.text
    return s
