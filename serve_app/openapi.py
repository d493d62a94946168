"""The published OpenAPI document, written for the clients generated from it.

- Security: the credentials are declared with FastAPI's security utilities (see
  :mod:`serve_app.security.fastapi`), so ``/docs`` has an Authorize button and generated clients
  send the credential on every call.
- Errors: every route lists the error statuses it can answer (:func:`problems`), each with the
  :class:`ProblemDoc` schema under ``application/problem+json``, the content type the app sends
  (:mod:`serve_app.problems`).
- 405: ``problems.allowed_methods`` gives the methods a path really has, across every route sharing it,
  for the ``Allow`` header (Starlette names only the first route that matched the path).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from serve_app.models import MAX_SEED
from serve_app.problems import MEDIA_TYPE

__all__ = ["ProblemDoc", "problems", "API_ERRORS", "SESSION_ERRORS", "install_openapi"]

_REF = {"$ref": "#/components/schemas/Problem"}
_STRING = {"type": "string"}
_WHAT = {
    400: "The body cannot be read (not UTF-8 JSON)",
    401: "No valid token or API key",
    403: "Not allowed for this caller",
    404: "No such resource (or not yours)",
    409: "Conflicts with the current state (a limit, the session's state)",
    413: "The request body is too large",
    422: "Invalid input; `errors` names each field",
    429: "Over the rate limit; retry after `Retry-After` seconds",
    502: "The language model failed",
    503: "A dependency (state store, Ray) is unavailable; retry shortly",
}
_HEADERS = {
    401: {"WWW-Authenticate": {"description": "the scheme to authenticate with", "schema": _STRING}},
    429: {"Retry-After": {"description": "seconds to wait", "schema": _STRING}},
    503: {"Retry-After": {"description": "seconds to wait", "schema": _STRING}},
}


class FieldProblem(BaseModel):
    """One invalid field of a 422 answer."""

    path: str = Field(description="where, e.g. body.settings.seed")
    message: str


class ProblemDoc(BaseModel):
    """An error answer (RFC 9457 problem details), ``application/problem+json``."""

    model_config = ConfigDict(title="Problem", extra="allow")
    type: str = Field(description="a URI naming the kind of problem")
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = Field(default=None, description="422: the invalid fields")


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` entries of a route for these error statuses (problem schema and headers)."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"description": _WHAT[status], "content": {MEDIA_TYPE: {"schema": _REF}}}
        if status in _HEADERS:
            entry["headers"] = _HEADERS[status]
        out[status] = entry
    return out


#: what any authenticated route may answer
API_ERRORS = problems(400, 401, 413, 422, 429, 503)
#: what a route on one session may answer
SESSION_ERRORS = problems(400, 401, 403, 404, 409, 413, 422, 429, 503)


def install_openapi(app: FastAPI, max_agents: int | None = None) -> None:
    """Make ``app.openapi()`` publish the problem schema beside FastAPI's own document, and this
    server's cast limit (``max_agents``) as the largest ``agent_count`` a new session may ask for."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            problem = ProblemDoc.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(problem.pop("$defs", {}))
            schemas["Problem"] = problem
            _integer_bounds(doc)
            if max_agents is not None:
                _bound(schemas, "CreateSession", "agent_count", max_agents)
            _bound(schemas, "SettingsIn", "seed", MAX_SEED)
            _bound(schemas, "ForkIn", "seed", MAX_SEED)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _integer_bounds(node: Any) -> None:
    # FastAPI's OpenAPI models hold bounds as floats (1.0, 100000.0); an integer's are integers
    if isinstance(node, dict):
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if isinstance(node.get(key), float) and node[key].is_integer():
                node[key] = int(node[key])
        for value in node.values():
            _integer_bounds(value)
    elif isinstance(node, list):
        for value in node:
            _integer_bounds(value)


def _bound(schemas: dict[str, Any], model: str, field: str, maximum: int) -> None:
    """Set an integer field's maximum exactly (past 2^53 a float cannot hold it: the seed's 2^63 - 1)."""
    prop = schemas.get(model, {}).get("properties", {}).get(field)
    for branch in prop.get("anyOf", [prop]) if prop else ():
        if branch.get("type") == "integer":
            branch["maximum"] = min(int(branch.get("maximum", maximum)), maximum)
