"""Shared FastAPI dependencies: the replica's context (started on first use) and the caller."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends
from starlette.requests import HTTPConnection

from novel_engine.errors import NovelEngineError
from serve_app.context import ServeContext
from serve_app.problems import Problem
from serve_app.security import Principal
from serve_app.security.fastapi import principal_dependency

__all__ = ["context", "caller", "Ctx", "Caller", "iso_ms", "dump"]

log = logging.getLogger("serve_app")


async def context(conn: HTTPConnection) -> ServeContext:
    """The replica's :class:`ServeContext`, opened at the first request that needs it."""
    ctx = getattr(conn.app.state, "ctx", None)
    if ctx is None:
        raise Problem(503, "not-ready", "the app has no serve context (build it with serve_app.app.build_app)")
    try:
        await ctx.start()
    except NovelEngineError as err:
        # the server's own setup failed (store unreachable, bad setting): not the caller's fault
        log.error("serve context did not start: %s", err.message)
        raise Problem(
            503,
            "not-ready",
            "the server is not ready (its state store or settings); see /ready",
            headers={"Retry-After": "5"},
        ) from None
    conn.app.state.auth_service = ctx.auth
    return ctx


_principal = principal_dependency()


async def caller(ctx: ServeContext = Depends(context), who: Principal = Depends(_principal)) -> Principal:
    """The authenticated caller (401 without a valid token or key; 429 over the rate limit); the
    context comes first, since it opens the auth service the credential is checked against."""
    return who


Ctx = Depends(context)
Caller = Depends(caller)


def iso_ms(ms: int) -> str:
    """Milliseconds since the epoch as ISO 8601 UTC."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def dump(obj: Any) -> Any:
    """A dataclass (or list of them) as JSON-friendly data."""
    from dataclasses import asdict, is_dataclass

    if isinstance(obj, list):
        return [dump(o) for o in obj]
    return asdict(obj) if is_dataclass(obj) else obj
