"""The Ray Serve application: a FastAPI ingress over ``novel_engine.api``.

``serve_app.app:build_app`` is the application builder taking ``args`` (``serve deploy
serve_app/serve_config.yaml``, KubeRay's ``serveConfigV2``, ``serve run serve_app.app:build_app
dev_mode=true``); ``serve_app.app:app`` is the application bound with no args
(``serve run serve_app.app:app``). The args:

- deployment: ``num_replicas`` (default 1), ``max_ongoing_requests`` (default 2000: every open
  WebSocket holds one slot for its whole life, so the default of 5 would refuse the sixth socket),
  ``num_cpus`` (CPUs each replica reserves; Serve's default is 1);
- ``env``: environment variables for the replicas (e.g. ``NOVEL_ENGINE_JWT_SECRET`` from
  ``novel-engine serve``; never put secrets in a committed config file);
- everything else is a :class:`~serve_app.config.ServeConfig` field (store URLs, ``dev_mode``...).

See :mod:`serve_app.context` for why sessions run as detached, named Ray actors.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any

from fastapi import Depends, FastAPI, WebSocket
from ray import serve
from ray.serve import Application

from serve_app.config import ServeConfig
from serve_app.context import ServeContext
from serve_app.deps import context
from serve_app.openapi import install_openapi
from serve_app.problems import install_problem_handlers
from serve_app.routes_ops import Metrics, MetricsMiddleware, probe_dependencies

__all__ = ["create_app", "NovelEngineIngress", "build_app", "app", "DEPLOYMENT_KEYS"]

log = logging.getLogger("serve_app")

DEPLOYMENT_KEYS = ("num_replicas", "max_ongoing_requests", "num_cpus", "env")
DESCRIPTION = """Stories told by many AI characters at once.

Authenticate with `POST /api/v1/auth/login` and send `Authorization: Bearer <token>` (or an API key
as `X-API-Key`). Every error is a JSON problem: `type`, `title`, `status`, `detail`, and `errors`
(field paths) for 422. Live events: the WebSocket `/ws` (see the module `serve_app.ws`)."""


def create_app(config: ServeConfig | None = None) -> FastAPI:
    """The FastAPI app with every route; ``app.state.ctx`` is set by the deployment (or a test)."""
    from serve_app import routes_agents, routes_ops, routes_sessions, routes_story, routes_world
    from serve_app.security.fastapi import auth_router
    from serve_app.webapp import install_webapp
    from serve_app.ws import websocket_session

    cfg = config or ServeConfig()
    api = FastAPI(
        title="Novel Engine", version="1", description=DESCRIPTION, docs_url=None, redoc_url=None, openapi_url=None
    )
    install_openapi(api, max_agents=cfg.max_agents)
    _install_docs(api, public=cfg.public_docs or cfg.dev_mode)
    api.state.metrics = Metrics()
    api.state.ctx = None
    install_problem_handlers(api)
    api.add_middleware(
        MetricsMiddleware, metrics=api.state.metrics, max_body_bytes=cfg.max_body_bytes, replica=_replica_id()
    )
    api.include_router(routes_ops.router)
    if not cfg.metrics_port:  # else the replica serves them on that port only (see routes_ops)
        api.include_router(routes_ops.metrics_router)
    api.include_router(auth_router, dependencies=[Depends(context)])
    for r in (routes_sessions.router, routes_agents.router, routes_story.router, routes_world.router):
        api.include_router(r)
    install_webapp(api)

    _install_tracing(api)

    @api.websocket("/ws")
    async def ws_endpoint(websocket: WebSocket) -> None:
        ctx: ServeContext = await context(websocket)
        m: Metrics = websocket.app.state.metrics
        m.sockets.inc()
        try:
            await websocket_session(websocket, ctx, on_overflow=m.overflows.inc)
        finally:
            m.sockets.dec()

    return api


def _install_docs(api: FastAPI, public: bool) -> None:
    """``/openapi.json`` and ``/docs`` (Swagger UI): for callers with a token or key, like every API
    route, unless ``public`` (a browser sends no token, so browsing /docs needs public docs)."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse, JSONResponse

    from serve_app.deps import caller

    guard = [] if public else [Depends(caller)]

    @api.get("/openapi.json", include_in_schema=False, dependencies=guard)
    async def openapi() -> JSONResponse:
        return JSONResponse(api.openapi())

    @api.get("/docs", include_in_schema=False, dependencies=guard)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Novel Engine API")


def _install_tracing(api: FastAPI) -> None:
    """A span per HTTP request (OpenTelemetry's FastAPI instrumentation) when tracing is on."""
    from novel_engine import tracing

    if not (tracing.configure_tracing() or tracing.enabled()):
        return  # off: not even the instrumentation's no-op middleware
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(api, tracer_provider=tracing.tracer_provider(), excluded_urls="health,metrics")


def _replica_id() -> str:
    try:
        return serve.get_replica_context().replica_id.unique_id
    except Exception:  # noqa: BLE001 - not inside a Serve replica (a test app)
        return "local"


@serve.deployment(
    max_ongoing_requests=2000, graceful_shutdown_timeout_s=5, health_check_period_s=10, health_check_timeout_s=30
)
@serve.ingress()
class NovelEngineIngress:
    """One replica of the HTTP and WebSocket gateway.

    Args:
        config: :class:`ServeConfig` fields (strings are converted).

    Raises:
        ConfigError: a bad setting, a missing / weak JWT secret outside dev mode, or an allowed
            language model without its key or base URL (the replica refuses to start, so a
            misconfigured deployment fails loudly at deploy time).
    """

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        from serve_app.security import AuthSettings

        cfg = ServeConfig.from_args(config)
        AuthSettings.from_env(cfg.dev_mode)  # fail now, not at the first request
        self.ctx = ServeContext(cfg)
        self.ctx.llm.check_callable(os.environ)  # an allowed model without its key or URL: fail now too

    def __serve_build_asgi_app__(self) -> FastAPI:
        # Built here, in the replica, rather than pickled from the driver: the app then holds
        # this replica's context and its routes resolve their type hints in their own modules.
        api = create_app(self.ctx.config)
        api.state.ctx = self.ctx
        self.metrics: Metrics = api.state.metrics
        self.metrics.attach(self.ctx)
        port = self.ctx.config.metrics_port
        if port:
            try:
                self.metrics.serve_on(port)
            except OSError as err:  # another replica on this node holds it: one per node is the plan
                log.error("metrics port %s: %s; this replica's metrics are not exported", port, err)
        self._probe: asyncio.Task | None = None
        return api

    async def check_health(self) -> None:
        """Serve's health check: the replica is healthy if its event loop answers (store outages
        show on /ready and in ``novel_engine_dependency_up``, and restarting the replica would not
        fix them). It also starts a probe of the dependencies for that metric, not waited for."""
        if getattr(self, "metrics", None) is not None and (self._probe is None or self._probe.done()):
            self._probe = asyncio.ensure_future(probe_dependencies(self.ctx, self.metrics))

    async def __del__(self) -> None:
        if getattr(self, "metrics", None) is not None:
            self.metrics.close()
        await self.ctx.close()


def build_app(args: Mapping[str, Any] | None = None) -> Application:
    """Bind the ingress deployment with ``args`` (see the module docstring).

    Raises:
        ConfigError: an unknown or malformed setting.
    """
    args = dict(args or {})
    options: dict[str, Any] = {}
    if "num_replicas" in args:
        options["num_replicas"] = int(args.pop("num_replicas"))
    if "max_ongoing_requests" in args:
        options["max_ongoing_requests"] = int(args.pop("max_ongoing_requests"))
    actor_options: dict[str, Any] = {}
    if "num_cpus" in args:
        actor_options["num_cpus"] = float(args.pop("num_cpus"))
    env = args.pop("env", None)
    if env:
        actor_options["runtime_env"] = {"env_vars": {str(k): str(v) for k, v in dict(env).items()}}
    if actor_options:
        options["ray_actor_options"] = actor_options
    ServeConfig.from_args(args, env={})  # validate here, where the error reaches the person deploying
    return NovelEngineIngress.options(**options).bind(args)


app = build_app({})
