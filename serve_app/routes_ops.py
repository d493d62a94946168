"""Operations: ``/health`` (liveness), ``/ready`` (Ray, store and cache answer), ``/metrics`` (Prometheus).

The metrics are this replica's own (requests by route template and status, latency, open sockets,
overflowing sockets, watched sessions) in a private registry, so several apps in one process never
clash. Ray Serve's built-in ``ray_serve_*`` metrics are exported by Ray's per-node endpoint.
Routes are labelled by their template (``/api/v1/sessions/{session_id}``), never by an id, so the
number of series stays bounded.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from serve_app.problems import Problem, problem_body, problem_response

__all__ = ["router", "Metrics", "MetricsMiddleware"]

router = APIRouter(tags=["operations"])


class Metrics:
    """This replica's Prometheus metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("novel_engine_http_requests", "HTTP requests by route and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("novel_engine_http_request_seconds", "HTTP request latency by route",
                                 ["method", "route"], registry=self.registry,
                                 buckets=(.002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
        self.sockets = Gauge("novel_engine_ws_connections", "open WebSocket connections", registry=self.registry)
        self.overflows = Counter("novel_engine_ws_overflows", "sockets told to resubscribe after falling behind",
                                 registry=self.registry)
        self.feeds = Gauge("novel_engine_ws_watched_sessions", "sessions with an event poller in this replica",
                           registry=self.registry)


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


@router.get("/ready", summary="Readiness: Ray, the state store and the cache answer")
async def ready(request: Request) -> Any:
    ctx = request.app.state.ctx
    try:
        await ctx.start()
    except Exception as exc:  # noqa: BLE001 - not ready, and say why without a traceback
        return JSONResponse(problem_body(503, "not-ready", "Not ready", f"cannot start: {type(exc).__name__}"),
                            status_code=503, media_type="application/problem+json")
    checks = await ctx.readiness()
    if all(v == "ok" for v in checks.values()):
        return {"status": "ready", "checks": checks}
    bad = ", ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok")
    return JSONResponse(problem_body(503, "not-ready", "Not ready", bad, checks=checks), status_code=503,
                        media_type="application/problem+json")


@router.get("/metrics", summary="Prometheus metrics of this replica", response_class=Response)
async def metrics(request: Request) -> Response:
    m: Metrics = request.app.state.metrics
    ctx = getattr(request.app.state, "ctx", None)
    if ctx is not None and ctx.fanout is not None:
        m.feeds.set(len(ctx.fanout.feeds))
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
