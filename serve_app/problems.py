"""One JSON problem shape for every error the HTTP API returns (RFC 9457 ``application/problem+json``).

Every error body is ``{"type", "title", "status", "detail"}``, plus ``errors`` (a list of
``{"path", "message"}``) for 422 validation problems, request-body and scenario paths alike, and
``retry_after`` for 429; a 503 (a store or a session's actors unavailable) carries ``Retry-After``.
Engine errors are mapped by their class in ``novel_engine.errors``;
anything else is a bug: it is logged with its traceback and the client gets a plain 500 problem
without one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from novel_engine.errors import FieldError, NovelEngineError, ScenarioError

__all__ = [
    "Problem",
    "problem_response",
    "problem_body",
    "install_problem_handlers",
    "validation_errors",
    "PROBLEM_TYPE_BASE",
    "MEDIA_TYPE",
    "allowed_methods",
    "ray_unavailable",
]

log = logging.getLogger("serve_app")

PROBLEM_TYPE_BASE = "https://novel-engine.dev/problems/"
MEDIA_TYPE = "application/problem+json"

# status, slug and title by engine error class name (looked up along the MRO, most specific first)
_BY_CLASS: dict[str, tuple[int, str, str]] = {
    "AuthenticationError": (401, "unauthenticated", "Authentication required"),
    "PermissionDeniedError": (403, "forbidden", "Permission denied"),
    "RateLimitedError": (429, "rate-limited", "Too many requests"),
    "NotFoundError": (404, "not-found", "Not found"),
    "ConflictError": (409, "conflict", "Conflict"),
    "StoreError": (503, "store-unavailable", "State store unavailable"),
    "ScenarioError": (422, "invalid-scenario", "Invalid scenario"),
    "InvalidActionError": (422, "invalid-action", "Invalid action"),
    "InvalidInputError": (422, "validation", "Invalid input"),
    "ConfigError": (422, "invalid-settings", "Invalid settings"),
    "SessionError": (409, "session-state", "Not possible in the session's state"),
    "CheckpointError": (409, "checkpoint", "Checkpoint problem"),
    "ModelError": (502, "model-failed", "Language model failed"),
}
# Ray's errors when an actor is dead, restarting or out of reach: an outage, not a bug (matched by
# name so this module needs no Ray import)
_RAY_UNAVAILABLE = frozenset(
    {
        "RayActorError",
        "ActorDiedError",
        "ActorUnavailableError",
        "GetTimeoutError",
        "ActorUnschedulableError",
        "OwnerDiedError",
        "ObjectLostError",
    }
)
# seconds a client is asked to wait after a 503 (a store or an actor restarting takes about that)
UNAVAILABLE_RETRY_AFTER_S = 2


def ray_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says a Ray actor is dead, restarting or out of reach: by class name along its
    MRO (an actor's error re-raised by its caller is ``RayTaskError(ActorDiedError)``, a subclass of
    both) and along its causes."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if any(cls.__name__ in _RAY_UNAVAILABLE for cls in type(cur).__mro__):
            return True
        cur = getattr(cur, "cause", None) or cur.__cause__
    return False


_HTTP_TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Permission denied",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Too many requests",
    503: "Service unavailable",
}


class Problem(Exception):
    """An HTTP problem raised by a route: status, a stable slug, a title, a detail and field errors.

    Args:
        status: the HTTP status.
        slug: the last part of the problem ``type`` URI (e.g. ``not-found``).
        detail: what happened, for a person.
        errors: field errors as ``(path, message)`` pairs (422).
        headers: extra response headers.
    """

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        *,
        title: str | None = None,
        errors: Iterable[tuple[str, str]] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.slug, self.detail = status, slug, detail
        self.title = title or _HTTP_TITLES.get(status, "Error")
        self.errors = [{"path": p, "message": m} for p, m in errors]
        self.headers = headers or {}


def problem_body(
    status: int, slug: str, title: str, detail: str, errors: list[dict] | None = None, **extra: Any
) -> dict[str, Any]:
    """The problem document (also used for WebSocket error frames)."""
    body: dict[str, Any] = {"type": PROBLEM_TYPE_BASE + slug, "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    body.update(extra)
    return body


def problem_response(p: Problem) -> JSONResponse:
    """The HTTP response of a :class:`Problem`."""
    return JSONResponse(
        problem_body(p.status, p.slug, p.title, p.detail, p.errors),
        status_code=p.status,
        media_type=MEDIA_TYPE,
        headers=p.headers,
    )


def _loc_path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validation_errors(errors: Iterable[dict[str, Any]], prefix: str = "") -> list[tuple[str, str]]:
    """pydantic errors as ``(path, message)``, e.g. ``body.agent_actions.aldric.action_type``."""
    out = []
    for e in errors:
        path = _loc_path(e.get("loc", ()))
        out.append((f"{prefix}.{path}" if prefix and path else (prefix or path), str(e.get("msg", "invalid"))))
    return out


def from_engine_error(exc: NovelEngineError) -> Problem:
    """Map an engine error to its problem (status by class; field paths kept)."""
    status, slug, title = 500, "internal", "Internal error"
    for cls in type(exc).__mro__:
        if cls.__name__ in _BY_CLASS:
            status, slug, title = _BY_CLASS[cls.__name__]
            break
    errors: list[tuple[str, str]] = []
    headers: dict[str, str] = {}
    if isinstance(exc, ScenarioError):
        errors = [
            (f"body.scenario.{e.path}" if e.path else "body.scenario", e.message)
            for e in exc.errors
            if isinstance(e, FieldError)
        ]
    elif status == 422 and exc.details.get("field"):
        errors = [(f"body.{exc.details['field']}", exc.message)]
    if status == 429:
        retry = getattr(exc, "retry_after", None) or exc.details.get("retry_after") or 1
        headers["Retry-After"] = str(max(1, int(round(float(retry)))))
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="novel-engine"'
    if status == 503:  # a store restarting: clients (and their libraries) know when to come back
        headers["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER_S)
    if status >= 500 and status != 502 and status != 503:
        detail = "internal error"
    elif status == 503:
        detail = "the state store is unavailable; try again shortly"
    else:
        detail = exc.message
    return Problem(status, slug, detail, title=title, errors=errors, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error of ``app`` through the problem shape."""

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(NovelEngineError)
    async def _engine(request: Request, exc: NovelEngineError) -> JSONResponse:
        p = from_engine_error(exc)
        if p.status >= 500:
            log.warning("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc.message)
        return problem_response(p)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errs = validation_errors(exc.errors())
        detail = "; ".join(f"{p}: {m}" for p, m in errs[:5]) or "invalid request"
        return problem_response(Problem(422, "validation", detail, errors=errs))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, f"http-{exc.status_code}")
        detail = exc.detail if isinstance(exc.detail, str) else _HTTP_TITLES.get(exc.status_code, "error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not only those of the first route matched
            headers["Allow"] = ", ".join(allowed_methods(request.app, request.scope))
        return problem_response(Problem(exc.status_code, slug, detail, headers=headers))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        if ray_unavailable(exc):
            log.warning("%s %s: %s", request.method, request.url.path, type(exc).__name__)
            return problem_response(
                Problem(
                    503,
                    "session-unavailable",
                    "the session's actors are not answering (restarting or lost); try again shortly",
                    title="Service unavailable",
                    headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_S)},
                )
            )
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(Problem(500, "internal", "internal error; it has been logged", title="Internal error"))


_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def allowed_methods(app: Any, scope: dict[str, Any]) -> list[str]:
    """The methods of the resource this request's path names (for ``Allow``), as the OpenAPI
    document lists them: the first path template that matches, in the order routes were declared
    (``/sessions/catalog`` before ``/sessions/{session_id}``). A path the document leaves out is
    asked of the routes themselves (``matches`` with each method)."""
    path = scope["path"]
    for template, item in app.openapi().get("paths", {}).items():
        if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), path):
            return [m for m in _METHODS if m.lower() in item]
    return [
        m
        for m in _METHODS
        if any(route.matches({**scope, "method": m})[0] is Match.FULL for route in app.router.routes)
    ]
