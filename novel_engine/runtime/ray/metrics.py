"""Model usage metrics of Ray sessions, exported through Ray's metrics agent.

A Ray session's model calls happen in its persona-shard and chronicler processes; Ray's metrics
agent on each node exports what those processes record with ``ray.util.metrics`` on the node's
Prometheus endpoint (``ray_novel_engine_llm_*``), labelled by model like the in-process
``novel_engine_llm_*`` counters (never by session: series without bound).
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
            calls=Counter("novel_engine_llm_calls", "Model calls by outcome", tag_keys=("model", "outcome")),
            tokens=Counter("novel_engine_llm_tokens", "Model tokens by direction", tag_keys=("model", "direction")),
            cost=Counter("novel_engine_llm_cost_usd", "Model cost in US dollars", tag_keys=("model",)),
            admissions=Counter(
                "novel_engine_llm_quota_admissions", "Model calls admitted by the quota", tag_keys=("model",)
            ),
            coherence=Counter(
                "novel_engine_coherence_violations",
                "Story acts the coherence check rejected or repaired before commit, by kind",
                tag_keys=("kind",),
            ),
            waited=Counter(
                "novel_engine_llm_quota_wait_seconds", "Time model calls waited for the quota", tag_keys=("model",)
            ),
        )
    return _COUNTERS


def record_coherence(violations: dict[str, int]) -> None:
    """Count a turn's coherence violations (kind -> number) on the node's metrics endpoint."""
    c = _counters()["coherence"]
    for kind, n in sorted(violations.items()):
        c.inc(n, tags={"kind": kind})


class RayUsageSink(UsageSink):
    """A :class:`~novel_engine.llm.accounting.UsageSink` over ``ray.util.metrics`` counters
    (created in each process on first use, so the sink itself pickles into every actor)."""

    def record(
        self, session: str, model: str, outcome: str, input_tokens: int = 0, output_tokens: int = 0, cost: float = 0.0
    ) -> None:
        c = _counters()
        c["calls"].inc(1, tags={"model": model, "outcome": outcome})
        if outcome == "ok":
            if input_tokens:
                c["tokens"].inc(input_tokens, tags={"model": model, "direction": "input"})
            if output_tokens:
                c["tokens"].inc(output_tokens, tags={"model": model, "direction": "output"})
            if cost > 0:
                c["cost"].inc(cost, tags={"model": model})

    def admitted(self, model: str, waited_s: float) -> None:
        c = _counters()
        c["admissions"].inc(1, tags={"model": model})
        if waited_s > 0:
            c["waited"].inc(waited_s, tags={"model": model})
