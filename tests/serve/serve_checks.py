"""Assertions shared by the serve tests (importable because pytest puts this folder on sys.path)."""

from __future__ import annotations

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
