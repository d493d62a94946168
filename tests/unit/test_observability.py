"""Metrics and tracing of the engine and the serve app, in one process (no Ray).

- one Prometheus endpoint per replica serves every ``novel_engine_*`` metric, the store's included,
  on the app or (``metrics_port``) only on a port of its own;
- no metric has an unbounded label: every metric definition in the code is audited, and the
  exported series are checked after requests naming ids;
- a turn is a span with a span per phase; HTTP requests are spans; spans go over OTLP when
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, and nowhere otherwise.
"""

from __future__ import annotations

import ast
import http.server
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from serve_app.app import create_app
from serve_app.config import ServeConfig

ROOT = Path(__file__).resolve().parents[2]
# the only label names a metric may have: each takes a handful of values (routes are templates)
# each a small fixed set (kind: the coherence violation kinds of core/coherence.py)
BOUNDED_LABELS = {"method", "route", "status", "dependency", "model", "outcome", "direction", "kind"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def store(tmp_path):
    from novel_engine.storage import StoreRunner, StoreSettings, open_store

    settings = StoreSettings(
        database_url=f"sqlite:///{tmp_path / 'state.db'}", object_store_url=(tmp_path / "objects").as_uri()
    )
    runner = StoreRunner(open_store(settings)).start()
    yield runner
    runner.stop()


def families(text: str) -> dict[str, list]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def test_the_app_endpoint_serves_every_novel_engine_metric_the_stores_included(store):
    from novel_engine.llm.accounting import usage_metrics

    usage_metrics()
    with TestClient(create_app(ServeConfig())) as client:
        client.get("/api/v1/sessions/abc123def456")  # 503 problem: no serve context here
        got = families(client.get("/metrics").text)
    for name in (
        "novel_engine_http_requests",
        "novel_engine_http_request_seconds",
        "novel_engine_ws_connections",
        "novel_engine_store_cache_hits",
        "novel_engine_store_cache_hit_rate",
        "novel_engine_store_archives",
        "novel_engine_llm_calls",
        "novel_engine_llm_quota_wait_seconds",
        "novel_engine_dependency_up",
        "process_resident_memory_bytes",
    ):
        assert name in got, sorted(got)
    routes = {s.labels["route"] for s in got["novel_engine_http_requests"]}
    assert "/api/v1/sessions/{session_id}" in routes and not any("abc123" in r for r in routes)


def test_with_a_metrics_port_the_replica_serves_them_there_and_the_app_does_not():
    port = free_port()
    api = create_app(ServeConfig(metrics_port=port))
    api.state.metrics.serve_on(port, addr="127.0.0.1")
    try:
        with TestClient(api) as client:
            assert client.get("/metrics").status_code == 404  # what an Ingress to the app reaches
            client.get("/health")
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        api.state.metrics.close()
    got = families(text)
    assert any(s.labels.get("route") == "/health" for s in got["novel_engine_http_requests"])
    assert "novel_engine_store_cache_hits" in got


def test_exported_series_have_only_bounded_labels(store):
    with TestClient(create_app(ServeConfig())) as client:
        for sid in ("s-1", "s-2", "another-session"):
            client.get(f"/api/v1/sessions/{sid}/agents/hero_001/beliefs")
        text = client.get("/metrics").text
    for name, samples in families(text).items():
        if name.startswith("novel_engine_"):
            for s in samples:
                assert set(s.labels) - {"le"} <= BOUNDED_LABELS, (name, s.labels)
    assert "another-session" not in text and "hero_001" not in text


def _metric_definitions() -> list[tuple[str, str, list[str]]]:
    """Every Counter/Gauge/Histogram/Summary made in the code: (file, metric name, label names)."""
    out = []
    for path in [*ROOT.joinpath("novel_engine").rglob("*.py"), *ROOT.joinpath("serve_app").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None))
                in ("Counter", "Gauge", "Histogram", "Summary")
            ):
                continue
            if not node.args or not isinstance(node.args[0], ast.Constant):
                continue
            labels: list[str] = []
            for arg in [*node.args[2:3], *(k.value for k in node.keywords if k.arg in ("labelnames", "tag_keys"))]:
                if isinstance(arg, (ast.List, ast.Tuple)):
                    labels += [e.value for e in arg.elts if isinstance(e, ast.Constant)]
            out.append((path.name, node.args[0].value, labels))
    return out


def test_no_metric_in_the_code_is_labelled_by_an_unbounded_id():
    found = _metric_definitions()
    names = {n for _, n, _ in found}
    assert {"novel_engine_http_requests", "novel_engine_llm_calls", "novel_engine_dependency_up"} <= names
    assert all(n.startswith("novel_engine_") for n in names), names
    bad = [(f, n, labels) for f, n, labels in found if set(labels) - BOUNDED_LABELS]
    assert bad == []


# -- tracing ---------------------------------------------------------------------------------------


@pytest.fixture
def spans():
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from novel_engine import tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_tracer_provider(provider)
    yield exporter
    tracing.use_tracer_provider(None)


def test_a_turn_is_a_span_with_one_span_per_phase(spans):
    from novel_engine import Engine
    from novel_engine.core.report import PHASES

    report = Engine().create_session("fantasy_world", seed=7).step()
    done = spans.get_finished_spans()
    (turn,) = [s for s in done if s.name == "novel_engine.turn"]
    phases = [s for s in done if s.parent is not None and s.parent.span_id == turn.context.span_id]
    assert [s.name for s in phases] == [f"novel_engine.turn.{p}" for p in report.timings if p in PHASES]
    assert set(PHASES) <= {s.attributes["novel_engine.phase"] for s in phases}
    assert turn.attributes["novel_engine.turn"] == 1 and turn.attributes["novel_engine.runtime"] == "local"
    for s in phases:  # inside the turn, end to end, with the measured durations
        assert turn.start_time <= s.start_time <= s.end_time <= turn.end_time
        assert s.end_time - s.start_time == pytest.approx(
            report.timings[s.attributes["novel_engine.phase"]] * 1e9, abs=1
        )


def test_a_failed_turn_is_an_error_span(spans):
    from novel_engine import Engine
    from novel_engine.errors import InvalidActionError

    with pytest.raises(InvalidActionError):
        Engine().create_session("fantasy_world", seed=7).step({"nobody": {"action_type": "rest"}})
    (turn,) = [s for s in spans.get_finished_spans() if s.name == "novel_engine.turn"]
    assert not turn.status.is_ok and turn.events[0].name == "exception"


def test_http_requests_are_spans_named_by_route(spans):
    with TestClient(create_app(ServeConfig())) as client:
        assert client.get("/api/v1/sessions/abc123").status_code == 503
    server = [s for s in spans.get_finished_spans() if s.kind.name == "SERVER"]
    assert [s.name for s in server] == ["GET /api/v1/sessions/{session_id}"]
    assert server[0].attributes["http.route"] == "/api/v1/sessions/{session_id}"


def test_a_turn_played_in_a_request_nests_under_the_request_span(spans):
    # as the turns route does: session.step in the thread pool (Ray sessions need a cluster; the
    # span context reaches the turn the same way whatever the runtime)
    from starlette.concurrency import run_in_threadpool

    from novel_engine import Engine

    session = Engine().create_session("fantasy_world", seed=7)
    api = create_app(ServeConfig())

    @api.post("/play")
    async def play() -> int:
        return (await run_in_threadpool(session.step)).turn

    with TestClient(api) as client:
        assert client.post("/play").json() == 1
    done = spans.get_finished_spans()
    (request,) = [s for s in done if s.kind.name == "SERVER"]
    (turn,) = [s for s in done if s.name == "novel_engine.turn"]
    assert turn.parent.span_id == request.context.span_id and turn.context.trace_id == request.context.trace_id


class _Collector(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver: keeps what is posted to /v1/traces."""

    bodies: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server hook
        body = self.rfile.read(int(self.headers["content-length"]))
        if self.path == "/v1/traces":
            _Collector.bodies.append(body)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def _turn_in_a_process(env: dict[str, str]) -> subprocess.CompletedProcess:
    code = (
        "from novel_engine import Engine; from opentelemetry import trace\n"
        "Engine().create_session('fantasy_world', seed=3).step()\n"
        "print(type(trace.get_tracer_provider()).__name__)\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, timeout=300, check=True
    )


def test_spans_go_over_otlp_when_the_endpoint_is_set_and_nowhere_otherwise():
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Collector.bodies = []
    try:
        on = _turn_in_a_process(
            {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_port}", "OTEL_SERVICE_NAME": "story-test"}
        )
        off = _turn_in_a_process({})
    finally:
        server.shutdown()
    assert on.stdout.strip() == "TracerProvider"  # the SDK's, exporting at exit
    assert off.stdout.strip() == "ProxyTracerProvider"  # the API's no-op
    names, services = [], set()
    for body in _Collector.bodies:
        req = ExportTraceServiceRequest.FromString(body)
        for rs in req.resource_spans:
            services |= {a.value.string_value for a in rs.resource.attributes if a.key == "service.name"}
            names += [s.name for ss in rs.scope_spans for s in ss.spans]
    assert services == {"story-test"}
    assert "novel_engine.turn" in names and "novel_engine.turn.decide" in names
