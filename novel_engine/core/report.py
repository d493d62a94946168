"""The record of one played turn, the same whichever runtime played it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from novel_engine.core.events import Event

__all__ = ["TurnReport", "page_of", "PHASES"]

#: The phases of a turn, in order (``ARCHITECTURE.md``); a report's ``timings`` are keyed by them.
PHASES = ("perceive", "believe", "brief", "decide", "resolve", "narrate", "commit")


@dataclass(frozen=True, slots=True)
class TurnReport:
    """One committed turn: its events, its prose and how it went."""

    turn: int
    events: tuple[Event, ...]
    prose: str
    tension: float
    coherence: float
    milestones: tuple[str, ...] = ()
    rejected: int = 0
    fallbacks: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    repaired: int = 0  # acts the coherence check repaired before commit (flagged on their events)
    violations: dict[str, int] = field(default_factory=dict)  # coherence violations caught, by kind
    # the trait changes made between the previous turn and this one: inputs of this turn, recorded
    # with it so a replay applies them at the same point of the story
    trait_updates: dict[str, dict[str, float]] = field(default_factory=dict, compare=False)
    # Ray: the turn's model-call records, on their way from the actors to the driver's store
    calls: tuple[dict, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def of(
        cls,
        turn: int,
        result: Any,
        prose: str,
        decisions: Mapping[str, Any],
        timings: dict[str, float],
        trait_updates: Mapping[str, Mapping[str, float]] | None = None,
    ) -> TurnReport:
        """The report of a resolved turn (``result``: the director's ``TurnResult``)."""
        return cls(
            turn=turn,
            events=result.events,
            prose=prose,
            tension=result.tension,
            coherence=result.coherence,
            milestones=result.milestones,
            rejected=len(result.rejected),
            fallbacks=sum(1 for a in decisions.values() if "fallback" in a.flags),
            timings=timings,
            repaired=len(result.revised),
            violations=result.violation_counts(),
            trait_updates={k: dict(v) for k, v in (trait_updates or {}).items()},
        )

    def to_dict(self, events: bool = True) -> dict:
        """The report as JSON-friendly data (timings, trait updates and call records left out;
        ``events`` False: the events too, for a store that keeps them as rows of their own)."""
        out: dict[str, Any] = {"turn": self.turn}
        if events:
            out["events"] = [e.to_dict() for e in self.events]
        out |= {
            "prose": self.prose,
            "tension": self.tension,
            "coherence": self.coherence,
            "milestones": list(self.milestones),
            "rejected": self.rejected,
            "fallbacks": self.fallbacks,
            "repaired": self.repaired,
            "violations": dict(self.violations),
        }
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], events: Sequence[Event] | None = None) -> TurnReport:
        """Rebuild a report from :meth:`to_dict` (``events``: the turn's events when they are kept
        elsewhere, as the state store keeps them; default ``d["events"]``)."""
        evs = events if events is not None else [Event.from_dict(e) for e in d.get("events", ())]
        return cls(
            turn=int(d["turn"]),
            events=tuple(evs),
            prose=d["prose"],
            tension=d["tension"],
            coherence=d["coherence"],
            milestones=tuple(d.get("milestones", ())),
            rejected=int(d.get("rejected", 0)),
            fallbacks=int(d.get("fallbacks", 0)),
            repaired=int(d.get("repaired", 0)),
            violations=dict(d.get("violations", {})),
        )


def page_of(history: Sequence[TurnReport], after: int, limit: int | None) -> list[TurnReport]:
    """The reports of turns after ``after`` in a history of consecutive turns, at most ``limit``."""
    start = max(0, after - history[0].turn + 1) if history else 0
    return list(history[start:] if limit is None else history[start : start + max(0, limit)])
