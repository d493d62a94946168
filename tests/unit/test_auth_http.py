"""The auth routes and the credential dependency over HTTP (httpx against the ASGI app, no server)."""

from __future__ import annotations

import asyncio
import time
import types
from dataclasses import asdict

import httpx
import pytest
from argon2 import PasswordHasher, profiles
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection

from novel_engine.errors import NovelEngineError
from novel_engine.storage import open_store
from serve_app.security import AuthService, AuthSettings, Principal
from serve_app.security.fastapi import auth_router, build_auth_router, credential_from, principal_dependency

SECRET = "Zp4Kx9Lq2Rv7Tw1Ys6Ub3Nc8Md5Fe0Gh-http"
PASSWORD = "correct horse battery"
STATUS = {
    "AuthenticationError": 401,
    "PermissionDeniedError": 403,
    "NotFoundError": 404,
    "RateLimitedError": 429,
    "InvalidInputError": 422,
}


def make_app(auth: AuthService, explicit: bool) -> FastAPI:
    """A minimal app: the auth routes plus one protected route (the real app maps errors the same way)."""
    app = FastAPI()
    if explicit:
        app.include_router(build_auth_router(lambda: auth))
        who = principal_dependency(lambda: auth)
    else:
        app.state.auth_service = auth
        app.include_router(auth_router)
        who = principal_dependency()

    @app.get("/api/v1/whoami")
    async def whoami(p: Principal = Depends(who)) -> dict:
        return asdict(p)

    @app.exception_handler(NovelEngineError)
    async def problem(_: Request, exc: NovelEngineError) -> JSONResponse:
        status = next(STATUS[c.__name__] for c in type(exc).__mro__ if c.__name__ in STATUS)
        headers = {"Retry-After": str(exc.retry_after)} if status == 429 else {}
        return JSONResponse(
            {"title": type(exc).__name__, "status": status, "detail": exc.message}, status_code=status, headers=headers
        )

    return app


def run(scenario, explicit: bool = False, clock=time.time, **settings):
    async def main():
        store = open_store("memory")
        await store.open()
        try:
            auth = AuthService(
                store,
                AuthSettings(jwt_secret=SECRET, **settings),
                clock,
                password_hasher=PasswordHasher.from_parameters(profiles.CHEAPEST),
            )
            await auth.create_user("ada", PASSWORD)
            transport = httpx.ASGITransport(app=make_app(auth, explicit))
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await scenario(client)
        finally:
            await store.close()

    return asyncio.run(main())


@pytest.mark.parametrize("explicit", [False, True])
def test_login_keys_and_protected_route(explicit):
    async def scenario(c: httpx.AsyncClient):
        r = {}
        r["anonymous"] = await c.get("/api/v1/whoami")
        r["bad_login"] = await c.post("/api/v1/auth/login", json={"username": "ada", "password": "nope-nope"})
        r["bad_body"] = await c.post("/api/v1/auth/login", json={"username": "ada"})
        login = await c.post("/api/v1/auth/login", json={"username": "ada", "password": PASSWORD})
        r["login"] = login
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        r["me"] = await c.get("/api/v1/whoami", headers=bearer)
        r["no_key_yet"] = await c.get("/api/v1/auth/api-keys")
        made = await c.post("/api/v1/auth/api-keys", json={"name": "laptop"}, headers=bearer)
        r["made"] = made
        key = made.json()["key"]
        r["list"] = await c.get("/api/v1/auth/api-keys", headers={"X-API-Key": key})
        r["me_key"] = await c.get("/api/v1/whoami", headers={"X-API-Key": key})
        r["me_key_bearer"] = await c.get("/api/v1/whoami", headers={"Authorization": f"Bearer {key}"})
        r["key_mints"] = await c.post("/api/v1/auth/api-keys", json={"name": "x"}, headers={"X-API-Key": key})
        r["revoke"] = await c.delete(f"/api/v1/auth/api-keys/{made.json()['id']}", headers=bearer)
        r["revoked_use"] = await c.get("/api/v1/whoami", headers={"X-API-Key": key})
        r["revoke_again"] = await c.delete(f"/api/v1/auth/api-keys/{made.json()['id']}", headers=bearer)
        return r

    r = run(scenario, explicit)
    assert r["anonymous"].status_code == 401 and "Authorization: Bearer" in r["anonymous"].json()["detail"]
    assert r["bad_login"].status_code == 401
    assert r["bad_body"].status_code == 422
    assert r["login"].status_code == 200
    assert set(r["login"].json()) == {"access_token", "token_type", "expires_at", "expires_in"}
    assert r["me"].json() == {"user_id": r["me"].json()["user_id"], "username": "ada", "via": "jwt", "key_id": None}
    assert r["no_key_yet"].status_code == 401
    assert r["made"].status_code == 201 and set(r["made"].json()) == {"id", "name", "key", "created_at"}
    assert r["list"].status_code == 200
    assert r["list"].json() == [{k: v for k, v in r["made"].json().items() if k != "key"}]
    key_id = r["made"].json()["id"]
    assert r["me_key"].json()["via"] == "api_key" and r["me_key"].json()["key_id"] == key_id
    assert r["me_key_bearer"].json() == r["me_key"].json()
    assert r["key_mints"].status_code == 403
    assert r["revoke"].status_code == 204 and r["revoke"].content == b""
    assert r["revoked_use"].status_code == 401
    assert r["revoke_again"].status_code == 404


def test_rate_limit_answers_429_with_retry_after(monkeypatch):
    import novel_engine.storage.hot as hot

    fixed = 1_800_000_030.0  # mid-window, and the in-process counters use the same fixed clock
    monkeypatch.setattr(hot, "time", types.SimpleNamespace(time=lambda: fixed, monotonic=hot.time.monotonic))

    async def scenario(c: httpx.AsyncClient):
        login = await c.post("/api/v1/auth/login", json={"username": "ada", "password": PASSWORD})
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        return [await c.get("/api/v1/whoami", headers=bearer) for _ in range(3)]

    first, second, third = run(scenario, clock=lambda: fixed, rate_limit_per_minute=2)
    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 429)
    assert third.headers["Retry-After"] == "30"


def _conn(kind: str, headers: dict[str, str], query: str = "") -> HTTPConnection:
    scope = {
        "type": kind,
        "path": "/x",
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    return HTTPConnection(scope)


def test_credentials_are_read_from_headers_and_websocket_query_only():
    assert credential_from(_conn("http", {"X-API-Key": "nek_a", "Authorization": "Bearer t"})) == "nek_a"
    assert credential_from(_conn("http", {"Authorization": "bearer  t1 "})) == "t1"
    assert credential_from(_conn("http", {"Authorization": "Basic abc"})) is None
    assert credential_from(_conn("http", {}, "token=t2")) is None  # no tokens in HTTP URLs (they end up in logs)
    assert credential_from(_conn("websocket", {}, "token=t2")) == "t2"
