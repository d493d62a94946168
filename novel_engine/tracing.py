"""OpenTelemetry tracing: a span per turn with a child span per phase, exported over OTLP.

Tracing is off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is
set: then :func:`configure_tracing` installs the SDK's tracer provider with a batching OTLP/HTTP
exporter (the standard ``OTEL_*`` variables apply: service name, headers, sampler). Off, the spans
are the OpenTelemetry API's no-op spans and cost next to nothing.

A turn's phases run where the runtime puts them (this process, or the director and shard actors
of a Ray cluster), and each phase is timed there (``TurnReport.timings``). The turn span covers the
whole call in this process; its phase spans are laid end to end from its start with the measured
durations, so a trace shows where a turn's time went whatever the runtime, without every actor
exporting spans of its own. The Serve app adds a span per HTTP request (``serve_app.app``), and a
turn played through the API nests under its request's span.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace

from novel_engine.core.report import PHASES

__all__ = ["configure_tracing", "enabled", "tracer_provider", "use_tracer_provider", "turn_span", "TRACER_NAME"]

TRACER_NAME = "novel_engine"
_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_lock = threading.Lock()
_state: dict[str, Any] = {"provider": None, "configured": False}


def configure_tracing(environ: Mapping[str, str] | None = None, service_name: str = "novel-engine") -> bool:
    """Export spans over OTLP/HTTP if an OTLP endpoint is set in ``environ`` (default: the process's).

    Installs the SDK tracer provider as this process's global one, once (later calls do nothing).
    Returns whether tracing is on.
    """
    env = os.environ if environ is None else environ
    if not any(env.get(k) for k in _ENDPOINT_VARS) or env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return _state["configured"]
    with _lock:
        if _state["configured"]:
            return True
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or service_name})
        provider = TracerProvider(resource=resource)
        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        if endpoint is None:  # the exporter reads the process's environment; ``environ`` may be another
            endpoint = env["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        trace.set_tracer_provider(provider)
        _state.update(provider=provider, configured=True)
        return True


def use_tracer_provider(provider: Any) -> None:
    """Record spans with ``provider`` instead of the global one (tests: the SDK's in-memory exporter)."""
    _state["provider"] = provider


def enabled() -> bool:
    """Whether spans go anywhere: OTLP export configured, or a provider set for this process."""
    return bool(_state["configured"] or _state["provider"] is not None)


def tracer_provider() -> Any:
    """The provider spans go to: one set by :func:`use_tracer_provider`, else the global one."""
    return _state["provider"] or trace.get_tracer_provider()


@contextmanager
def turn_span(session_id: str, runtime: str) -> Iterator[Any]:
    """A span around one turn; yields a callback taking the turn's report, which adds its phases.

    An error leaves the span with the exception recorded and an error status.
    """
    tracer = trace.get_tracer(TRACER_NAME, tracer_provider=tracer_provider())
    attrs = {"novel_engine.session_id": session_id, "novel_engine.runtime": runtime}
    with tracer.start_as_current_span("novel_engine.turn", attributes=attrs) as span:
        yield lambda report: _phases(tracer, span, report)


def _phases(tracer: Any, span: Any, report: Any) -> None:
    if not span.is_recording():
        return
    span.set_attributes(
        {
            "novel_engine.turn": report.turn,
            "novel_engine.events": len(report.events),
            "novel_engine.tension": float(report.tension),
        }
    )
    start = getattr(span, "start_time", None) or time.time_ns()
    context = trace.set_span_in_context(span)
    at = start
    for phase, seconds in report.timings.items():
        if phase not in PHASES:  # a figure inside a phase (resolver shards' CPU...): not a span of its own
            span.set_attribute(f"novel_engine.timing.{phase}", float(seconds))
            continue
        end = at + max(0, int(seconds * 1e9))
        child = tracer.start_span(
            f"novel_engine.turn.{phase}",
            context=context,
            start_time=at,
            attributes={"novel_engine.phase": phase, "novel_engine.turn": report.turn},
        )
        child.end(end_time=end)
        at = end
