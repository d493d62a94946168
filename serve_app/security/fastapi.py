"""FastAPI glue for the security layer: the ``/api/v1/auth`` routes and the credential dependency.

- :data:`auth_router`: ``POST /api/v1/auth/login``, ``POST/GET /api/v1/auth/api-keys`` and
  ``DELETE /api/v1/auth/api-keys/{key_id}``. It finds the service at ``app.state.auth_service``;
  :func:`build_auth_router` takes an explicit getter instead.
- :func:`principal_dependency`: reads ``Authorization: Bearer <jwt or API key>`` or
  ``X-API-Key: <key>`` (and, on WebSocket connections only, where browsers cannot set headers,
  a ``token`` query parameter), authenticates, counts the request against the rate limit, and
  returns the :class:`Principal`.

Routes raise the engine's errors (AuthenticationError, RateLimitedError, ...); the app maps
them to problem responses (401 with ``WWW-Authenticate``, 429 with ``Retry-After``...).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Response, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import HTTPConnection

from novel_engine.errors import ConfigError
from serve_app.security.principal import Principal
from serve_app.security.service import AuthService

__all__ = [
    "auth_router",
    "build_auth_router",
    "principal_dependency",
    "credential_from",
    "LoginRequest",
    "TokenResponse",
    "ApiKeyCreateRequest",
    "ApiKeyCreated",
    "ApiKeyInfo",
    "AUTH_PREFIX",
    "BEARER",
    "API_KEY",
]

AUTH_PREFIX = "/api/v1/auth"
GetAuth = Callable[[], AuthService]

# The two ways to send a credential, declared with FastAPI's security utilities so the OpenAPI
# document has security schemes (the Authorize button of /docs, credentials in generated clients).
# auto_error=False: a missing or bad credential is judged by the auth service (a 401 problem with
# WWW-Authenticate), not by FastAPI's own 403; credential_from reads the headers.
BEARER = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    scheme_name="bearer",
    description="A token from POST /api/v1/auth/login (or an API key) as `Authorization: Bearer ...`",
)
API_KEY = APIKeyHeader(
    name="X-API-Key", auto_error=False, scheme_name="apiKey", description="An API key from POST /api/v1/auth/api-keys"
)


class LoginRequest(BaseModel):
    """Body of ``POST /api/v1/auth/login``."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=256, examples=["ada@example.com"])
    password: str = Field(min_length=1, max_length=1024)


class TokenResponse(BaseModel):
    """An access token: send it as ``Authorization: Bearer <access_token>`` until ``expires_at``."""

    access_token: str
    token_type: str = "bearer"
    expires_at: str = Field(description="ISO 8601 UTC")
    expires_in: int = Field(description="seconds from now")


class ApiKeyCreateRequest(BaseModel):
    """Body of ``POST /api/v1/auth/api-keys``."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64, examples=["notebook on my laptop"])


class ApiKeyInfo(BaseModel):
    """A key as listed: its id and name, never the key or its hash."""

    id: str
    name: str
    created_at: str | None = None


class ApiKeyCreated(ApiKeyInfo):
    """A new key. ``key`` is shown only in this answer: store it now."""

    key: str


def _from_app_state(conn: HTTPConnection) -> AuthService:
    auth = getattr(conn.app.state, "auth_service", None)
    if auth is None:
        raise ConfigError(
            "the app has no auth service: set app.state.auth_service = AuthService(...)", setting="auth_service"
        )
    return auth


def credential_from(conn: HTTPConnection) -> str | None:
    """The credential a request carries, or None: ``X-API-Key``, else ``Authorization: Bearer``,
    else (WebSocket only) the ``token`` query parameter."""
    key = conn.headers.get("x-api-key")
    if key:
        return key.strip()
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if conn.scope.get("type") == "websocket":
        return conn.query_params.get("token") or None
    return None


def principal_dependency(get_auth: GetAuth | None = None) -> Callable[[HTTPConnection], Awaitable[Principal]]:
    """A FastAPI dependency returning the caller's :class:`Principal` (HTTP and WebSocket routes).

    Args:
        get_auth: returns the service; None reads ``app.state.auth_service``.

    The dependency raises ``AuthenticationError`` (missing, bad, expired or revoked credential;
    audited as ``access_denied`` with the method and path) or ``RateLimitedError``.
    """

    async def current_principal(
        conn: HTTPConnection,
        _bearer: HTTPAuthorizationCredentials | None = Security(BEARER),
        _key: str | None = Security(API_KEY),
    ) -> Principal:
        auth = get_auth() if get_auth is not None else _from_app_state(conn)
        context = {"method": conn.scope.get("method", "WEBSOCKET"), "path": conn.url.path}
        principal = await auth.authenticate(credential_from(conn) or "", context=context)
        await auth.check_rate(principal)
        return principal

    return current_principal


def build_auth_router(get_auth: GetAuth | None = None) -> APIRouter:
    """The ``/api/v1/auth`` routes over the service ``get_auth()`` (None: ``app.state.auth_service``)."""
    from serve_app.openapi import API_ERRORS, problems

    router = APIRouter(prefix=AUTH_PREFIX, tags=["auth"], responses=API_ERRORS)
    principal = principal_dependency(get_auth)

    def service(conn: HTTPConnection) -> AuthService:
        return get_auth() if get_auth is not None else _from_app_state(conn)

    @router.post("/login", response_model=TokenResponse, summary="Exchange a username and password for a token")
    async def login(body: LoginRequest, auth: AuthService = Depends(service)) -> Any:
        return await auth.login(body.username, body.password)

    @router.post(
        "/api-keys",
        response_model=ApiKeyCreated,
        status_code=201,
        summary="Create an API key (needs a login token); the key is shown only once",
    )
    async def create_key(
        body: ApiKeyCreateRequest, auth: AuthService = Depends(service), who: Principal = Depends(principal)
    ) -> Any:
        return await auth.create_api_key(who, body.name)

    @router.get("/api-keys", response_model=list[ApiKeyInfo], summary="List your API keys (without the keys)")
    async def list_keys(auth: AuthService = Depends(service), who: Principal = Depends(principal)) -> Any:
        return await auth.list_api_keys(who)

    @router.delete(
        "/api-keys/{key_id}",
        status_code=204,
        response_class=Response,
        responses=problems(404),
        summary="Revoke one of your API keys; it is refused from the next request on",
    )
    async def revoke_key(
        key_id: str, auth: AuthService = Depends(service), who: Principal = Depends(principal)
    ) -> Response:
        await auth.revoke_api_key(who, key_id)
        return Response(status_code=204)

    return router


auth_router = build_auth_router()
