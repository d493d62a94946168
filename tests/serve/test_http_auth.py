"""Authentication over real HTTP: logins, expired and forged tokens, API keys, rate limits, open routes."""

from __future__ import annotations

import asyncio
import time

import httpx
from serve_checks import assert_problem

from serve_app.security import AuthService, AuthSettings


def test_open_routes_need_no_credentials(serve_server):
    with httpx.Client(base_url=serve_server.url) as c:
        assert c.get("/health").json() == {"status": "ok"}
        ready = c.get("/ready")
        assert ready.status_code == 200 and ready.json()["checks"] == {"ray": "ok", "store": "ok", "cache": "ok"}
        c.get("/api/v1/sessions")  # counted in the metrics below
        metrics = c.get("/metrics")
        assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
        assert 'novel_engine_http_requests_total{method="GET",route="/api/v1/sessions",status="401"}' in metrics.text
        # the API's description is an API route like the others outside dev mode / public_docs
        for path in ("/openapi.json", "/docs"):
            assert_problem(c.get(path), 401)


def test_docs_for_callers_with_a_token_and_public_when_configured(serve_server, alice):
    assert alice.get("/openapi.json").json()["info"]["title"] == "Novel Engine"
    assert "swagger-ui" in alice.get("/docs").text
    from fastapi.testclient import TestClient

    from serve_app.app import create_app
    from serve_app.config import ServeConfig

    for config in (ServeConfig(public_docs=True), ServeConfig(dev_mode=True)):
        with TestClient(create_app(config)) as c:  # no serve context needed for public docs
            spec = c.get("/openapi.json").json()
            assert "/api/v1/sessions" in spec["paths"] and "/openapi.json" not in spec["paths"]
            assert c.get("/docs").status_code == 200


def test_every_api_route_refuses_missing_or_bad_credentials(serve_server):
    with httpx.Client(base_url=serve_server.url) as c:
        for method, path in [
            ("GET", "/api/v1/sessions"),
            ("POST", "/api/v1/sessions"),
            ("GET", "/api/v1/sessions/x"),
            ("POST", "/api/v1/sessions/x/turns"),
            ("GET", "/api/v1/sessions/x/agents/a/beliefs"),
            ("GET", "/api/v1/auth/api-keys"),
        ]:
            body = assert_problem(c.request(method, path, json={}), 401)
            assert body["type"].endswith("/unauthenticated")
        r = c.get("/api/v1/sessions", headers={"Authorization": "Bearer not-a-token"})
        assert_problem(r, 401)
        assert r.headers["www-authenticate"].lower().startswith("bearer")


def test_login_and_token_expiry(serve_server):
    name, password = serve_server.create_user("carol")
    with httpx.Client(base_url=serve_server.url) as c:
        assert_problem(c.post("/api/v1/auth/login", json={"username": name, "password": "wrong password"}), 401)
        token = c.post("/api/v1/auth/login", json={"username": name, "password": password}).json()["access_token"]
        assert c.get("/api/v1/sessions", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        # a token issued two hours ago by the same service has expired
        past = AuthService(
            serve_server.runner, AuthSettings(jwt_secret=serve_server.secret), clock=lambda: time.time() - 7200
        )
        old = asyncio.run(past.login(name, password))["access_token"]
        body = assert_problem(c.get("/api/v1/sessions", headers={"Authorization": f"Bearer {old}"}), 401)
        assert "expired" in body["detail"]
        # the same claims signed with another secret are refused
        forged = AuthService(serve_server.runner, AuthSettings(jwt_secret=serve_server.secret[::-1]))
        bad = asyncio.run(forged.login(name, password))["access_token"]
        assert_problem(c.get("/api/v1/sessions", headers={"Authorization": f"Bearer {bad}"}), 401)


def test_api_keys_work_until_revoked(serve_server, alice):
    r = alice.post("/api/v1/auth/api-keys", json={"name": "notebook"})
    assert r.status_code == 201, r.text
    key, key_id = r.json()["key"], r.json()["id"]
    assert key_id in [k["id"] for k in alice.get("/api/v1/auth/api-keys").json()]
    with httpx.Client(base_url=serve_server.url, headers={"X-API-Key": key}) as c:
        mine = c.get("/api/v1/sessions")
        assert mine.status_code == 200
        assert mine.json() == alice.get("/api/v1/sessions").json()
        assert alice.delete(f"/api/v1/auth/api-keys/{key_id}").status_code == 204
        assert_problem(c.get("/api/v1/sessions"), 401)


def test_rate_limit_answers_429_with_retry_after(serve_server):
    name, password = serve_server.create_user("dave")
    with httpx.Client(base_url=serve_server.rate_limited_url) as c:
        token = c.post("/api/v1/auth/login", json={"username": name, "password": password}).json()["access_token"]
        c.headers["Authorization"] = f"Bearer {token}"
        statuses = []
        # a minute window may turn over once during the loop: twice the limit always reaches it
        for _ in range(2 * serve_server.rate_limit + 2):
            r = c.get("/api/v1/sessions")
            statuses.append(r.status_code)
            if r.status_code == 429:
                break
        assert statuses[0] == 200 and statuses[-1] == 429, statuses
        body = assert_problem(r, 429)
        assert int(r.headers["retry-after"]) >= 1 and body["type"].endswith("/rate-limited")
