"""Operations: ``/health`` (liveness), ``/ready`` (Ray, store and cache answer), and the replica's
Prometheus metrics.

One endpoint per replica serves every ``novel_engine_*`` metric of the replica's process: its HTTP
and WebSocket figures (a private registry, so several apps in one process never clash), whether
Ray, the SQL store and the cache answer (``novel_engine_dependency_up``, refreshed by Serve's health
check and by ``/ready``), and what the process's default registry holds (the state store's cache
and archive counters, in-process model usage, the process's memory and CPU). Where: ``/metrics`` on
the app by default; with ``metrics_port`` set (Kubernetes), on that port of the replica only, so
the public Ingress, which reaches the Serve port, never exposes it. Ray Serve's built-in
``ray_serve_*`` metrics and the model usage of Ray sessions' shard processes are on Ray's per-node
endpoint.

Labels are bounded: routes by their template (``/api/v1/sessions/{session_id}``), never an id;
no metric is labelled by session or user.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

from serve_app.openapi import problems
from serve_app.problems import Problem, problem_body, problem_response

__all__ = ["router", "metrics_router", "Metrics", "MetricsMiddleware", "probe_dependencies", "DEPENDENCIES"]

router = APIRouter(tags=["operations"])
metrics_router = APIRouter(tags=["operations"])
DEPENDENCIES = ("ray", "store", "cache")


class _ProcessRegistry:
    """The process's default registry, read at scrape time (the store's collector, model usage,
    process memory and CPU) as part of a replica's own registry."""

    def collect(self) -> Any:
        return REGISTRY.collect()


class Metrics:
    """This replica's Prometheus metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "novel_engine_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "novel_engine_http_request_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.sockets = Gauge("novel_engine_ws_connections", "open WebSocket connections", registry=self.registry)
        self.overflows = Counter(
            "novel_engine_ws_overflows", "sockets told to resubscribe after falling behind", registry=self.registry
        )
        self.feeds = Gauge(
            "novel_engine_ws_watched_sessions", "sessions with an event poller in this replica", registry=self.registry
        )
        self.up = Gauge(
            "novel_engine_dependency_up",
            "1 if the dependency answered the last probe",
            ["dependency"],
            registry=self.registry,
        )
        self.registry.register(_ProcessRegistry())  # type: ignore[arg-type]
        self._server: Any = None

    def serve_on(self, port: int, addr: str = "0.0.0.0") -> None:
        """Serve this registry over HTTP on ``port`` (the replica's own endpoint, beside the app)."""
        self._server, _ = start_http_server(port, addr=addr, registry=self.registry)

    def close(self) -> None:
        """Stop the endpoint :meth:`serve_on` started."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def attach(self, ctx: Any) -> None:
        """Read the replica's figures from ``ctx`` at scrape time (sessions with an event poller)."""
        self.feeds.set_function(lambda: len(ctx.fanout.feeds) if ctx.fanout is not None else 0)

    def observe(self, checks: dict[str, str]) -> None:
        """Record a readiness probe's answers (``{"ray": "ok" | reason, ...}``)."""
        for name in DEPENDENCIES:
            if name in checks:
                self.up.labels(name).set(1.0 if checks[name] == "ok" else 0.0)


async def probe_dependencies(ctx: Any, metrics: Metrics) -> dict[str, str]:
    """Open the context if needed, check Ray, the store and the cache, and record the answers."""
    try:
        await ctx.start()
    except Exception as exc:  # noqa: BLE001 - not ready, and say why without a traceback
        checks = {"store": f"cannot start: {type(exc).__name__}"}
        metrics.observe(checks)
        return checks
    checks = await ctx.readiness()
    metrics.observe(checks)
    return checks


class MetricsMiddleware:
    """ASGI middleware: count and time HTTP requests; refuse bodies over ``max_body_bytes`` (413);
    name the answering replica in ``X-Novel-Engine-Replica`` (to trace a request, and for tests)."""

    def __init__(self, app: Any, metrics: Metrics, max_body_bytes: int, replica: str = "local") -> None:
        self.app, self.metrics, self.max_body = app, metrics, max_body_bytes
        self.replica_header = (b"x-novel-engine-replica", replica.encode())

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or ()).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            p = Problem(413, "too-large", f"the request body may be at most {self.max_body} bytes")
            await problem_response(p)(scope, receive, send)
            return
        status, started = 500, time.perf_counter()
        seen = 0

        async def counted_receive() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body:
                raise Problem(413, "too-large", f"the request body may be at most {self.max_body} bytes")
            return message

        async def tracked_send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), self.replica_header]}
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - started)


@router.get("/health", summary="Liveness: the replica answers")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: Ray, the state store and the cache answer", responses=problems(503))
async def ready(request: Request) -> Any:
    ctx = request.app.state.ctx
    if ctx is None:
        raise Problem(503, "not-ready", "the app has no serve context (build it with serve_app.app.build_app)")
    checks = await probe_dependencies(ctx, request.app.state.metrics)
    if all(v == "ok" for v in checks.values()) and len(checks) == len(DEPENDENCIES):
        return {"status": "ready", "checks": checks}
    bad = ", ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok")
    return JSONResponse(
        problem_body(503, "not-ready", "Not ready", bad, checks=checks),
        status_code=503,
        media_type="application/problem+json",
    )


@metrics_router.get(
    "/metrics",
    summary="Prometheus metrics of this replica",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    m: Metrics = request.app.state.metrics
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
