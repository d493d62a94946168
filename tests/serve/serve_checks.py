"""Helpers shared by the serve tests (importable because pytest puts this folder on sys.path)."""

from __future__ import annotations

from typing import Any

import httpx

PROBLEM_KEYS = {"type", "title", "status", "detail"}


def assert_problem(r: httpx.Response, status: int) -> dict:
    """The response is a problem document of ``status``, without a traceback; return its body."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers["content-type"]
    body = r.json()
    assert PROBLEM_KEYS <= set(body) and body["status"] == status
    assert "Traceback" not in r.text and 'File "' not in r.text
    return body


class Api:
    """An httpx client logged in as one user."""

    def __init__(self, server: Any, username: str, password: str, prefix: str = "") -> None:
        self.server, self.username = server, username
        self.http = httpx.Client(base_url=server.url + prefix, timeout=60.0)
        r = self.http.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        self.token = r.json()["access_token"]
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.http, name)

    def new_session(self, **body: Any) -> dict:
        """Create a session (fantasy_world with seed 7 unless the body says otherwise: an inline
        ``scenario`` or ``scenario_yaml`` replaces the template, as the API takes exactly one)."""
        if not {"scenario", "scenario_yaml"} & body.keys():
            body.setdefault("world_template", "fantasy_world")
        body.setdefault("settings", {"seed": 7})
        r = self.http.post("/api/v1/sessions", json=body)
        assert r.status_code == 201, r.text
        return r.json()
