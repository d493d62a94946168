"""The problem shape for every error: engine errors by class, field paths, headers, no leaked internals."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from novel_engine.errors import (
    ConflictError,
    FieldError,
    InvalidActionError,
    RateLimitedError,
    ScenarioError,
    StoreError,
)
from serve_app.problems import from_engine_error, install_problem_handlers


class Body(BaseModel):
    n: int


def test_engine_errors_map_to_status_paths_and_headers():
    sc = from_engine_error(ScenarioError("bad scenario", [FieldError("personas[2].traits.courage", "must be <= 1")]))
    assert (sc.status, sc.errors) == (
        422,
        [{"path": "body.scenario.personas[2].traits.courage", "message": "must be <= 1"}],
    )
    act = from_engine_error(InvalidActionError("unknown target", field="agent_actions.hero.target"))
    assert act.status == 422 and act.errors[0]["path"] == "body.agent_actions.hero.target"
    limited = from_engine_error(RateLimitedError("slow down", retry_after=12.2))
    assert limited.status == 429 and limited.headers["Retry-After"] == "12"
    assert from_engine_error(ConflictError("taken")).status == 409
    store = from_engine_error(StoreError("connection to 10.0.0.5:5432 refused", backend="postgresql"))
    assert store.status == 503 and "10.0.0.5" not in store.detail  # no internals to the client


def test_every_error_of_an_app_is_a_problem_document_without_a_traceback():
    api = FastAPI()
    install_problem_handlers(api)

    @api.post("/items")
    async def items(body: Body) -> dict:
        if body.n == 13:
            raise RuntimeError("secret internal state: password=hunter2")
        return {"n": body.n}

    with TestClient(api, raise_server_exceptions=False) as c:
        bad = c.post("/items", json={"n": "x"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "body.n"
        missing = c.get("/nowhere")
        assert missing.status_code == 404 and missing.json()["type"].endswith("/not-found")
        assert c.put("/items").status_code == 405
        bug = c.post("/items", json={"n": 13})
        assert bug.status_code == 500 and bug.headers["content-type"].startswith("application/problem+json")
        assert set(bug.json()) == {"type", "title", "status", "detail"} and "hunter2" not in bug.text
