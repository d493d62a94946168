"""The OpenAPI document as clients use it (no Ray): security schemes, problem responses, body rules, 405."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from serve_app.app import create_app
from serve_app.config import ServeConfig


@pytest.fixture(scope="module")
def doc() -> dict:
    return create_app(ServeConfig(max_agents=300)).openapi()


def operations(doc: dict):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield f"{method.upper()} {path}", op


def test_credentials_are_security_schemes_on_every_protected_operation(doc):
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "apiKey", "in": "header", "name": "X-API-Key"}
    public = {"GET /health", "GET /ready", "GET /metrics", "POST /api/v1/auth/login"}
    for name, op in operations(doc):
        if name in public:
            assert "security" not in op, name
        else:
            assert op["security"] == [{"bearer": []}, {"apiKey": []}], name


def test_every_error_status_is_a_problem_document(doc):
    assert set(doc["components"]["schemas"]["Problem"]["required"]) == {"type", "title", "status", "detail"}
    for name, op in operations(doc):
        errors = {s: r for s, r in op["responses"].items() if s.startswith(("4", "5"))}
        if name not in ("GET /health", "GET /metrics"):
            assert errors, name
        for response in errors.values():
            assert response["content"] == {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }
        if "security" in op:
            assert {"401", "422", "429", "503"} <= set(errors), name
        if "{session_id}" in name:
            assert "404" in errors, name
    assert "409" in dict(operations(doc))["POST /api/v1/sessions"]["responses"]


def test_the_create_session_rules_are_in_its_schema(doc):
    body = doc["components"]["schemas"]["CreateSession"]
    assert body["oneOf"] == [
        {"required": ["world_template"]},
        {"required": ["scenario"]},
        {"required": ["scenario_yaml"]},
    ]
    assert "synthetic" in body["properties"]["world_template"]["enum"]
    synthetic = [r["then"] for r in body["allOf"] if r["if"]["properties"]["world_template"]["const"] == "synthetic"]
    assert synthetic == [{"required": ["agent_count"], "properties": {"agent_count": {"type": "integer"}}}]
    assert body["properties"]["agent_count"]["anyOf"][0]["maximum"] == 300  # this server's max_agents
    seed = doc["components"]["schemas"]["SettingsIn"]["properties"]["seed"]["anyOf"][0]
    assert (seed["minimum"], seed["maximum"]) == (0, 2**63 - 1)


@pytest.mark.parametrize(
    "method, path, allow",
    [
        ("PUT", "/api/v1/sessions/abc", "DELETE, GET"),
        ("OPTIONS", "/api/v1/sessions", "GET, POST"),
        ("TRACE", "/api/v1/sessions/abc/agents/hero", "PUT"),
        ("POST", "/health", "GET"),
        # a named resource before a templated one: /sessions/catalog is not a session's id
        ("OPTIONS", "/api/v1/sessions/catalog", "GET"),
        ("PUT", "/api/v1/sessions/playing", "GET"),
    ],
)
def test_405_names_every_method_of_the_path(method, path, allow):
    with TestClient(create_app(ServeConfig())) as client:
        r = client.request(method, path)
    assert r.status_code == 405 and r.headers["allow"] == allow
    assert r.headers["content-type"].startswith("application/problem+json")
