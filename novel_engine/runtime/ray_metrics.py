"""Model usage metrics of Ray sessions, exported through Ray's metrics agent.

A Ray session's model calls happen in its persona-shard and chronicler processes; Ray's metrics
agent on each node exports what those processes record with ``ray.util.metrics`` on the node's
Prometheus endpoint (``ray_novel_engine_llm_*``), labelled by session and model like the
in-process ``novel_engine_llm_*`` counters.
"""

from __future__ import annotations

from typing import Any

from novel_engine.llm.accounting import UsageSink

__all__ = ["RayUsageSink", "record_coherence"]

_COUNTERS: dict[str, Any] = {}


def _counters() -> dict[str, Any]:
    if not _COUNTERS:
        from ray.util.metrics import Counter

        _COUNTERS.update(
            calls=Counter("novel_engine_llm_calls", "Model calls by outcome", tag_keys=("session", "model", "outcome")),
            tokens=Counter("novel_engine_llm_tokens", "Model tokens by direction",
                           tag_keys=("session", "model", "direction")),
            cost=Counter("novel_engine_llm_cost_usd", "Model cost in US dollars", tag_keys=("session", "model")),
            coherence=Counter("novel_engine_coherence_violations",
                              "Story acts the coherence check rejected or repaired before commit, by kind",
                              tag_keys=("session", "kind")),
        )
    return _COUNTERS


def record_coherence(session: str, violations: dict[str, int]) -> None:
    """Count a turn's coherence violations (kind -> number) on the node's metrics endpoint."""
    c = _counters()["coherence"]
    for kind, n in sorted(violations.items()):
        c.inc(n, tags={"session": session, "kind": kind})


class RayUsageSink(UsageSink):
    """A :class:`~novel_engine.llm.accounting.UsageSink` over ``ray.util.metrics`` counters
    (created in each process on first use, so the sink itself pickles into every actor)."""

    def record(self, session: str, model: str, outcome: str, input_tokens: int = 0, output_tokens: int = 0,
               cost: float = 0.0) -> None:
        c = _counters()
        c["calls"].inc(1, tags={"session": session, "model": model, "outcome": outcome})
        if outcome == "ok":
            if input_tokens:
                c["tokens"].inc(input_tokens, tags={"session": session, "model": model, "direction": "input"})
            if output_tokens:
                c["tokens"].inc(output_tokens, tags={"session": session, "model": model, "direction": "output"})
            if cost > 0:
                c["cost"].inc(cost, tags={"session": session, "model": model})
