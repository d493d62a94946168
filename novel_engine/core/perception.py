"""Records of what a persona perceives and believes, shared by fog of war, beliefs and briefs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from novel_engine.core.events import InformationFragment
from novel_engine.core.records import fast_constructor

__all__ = [
    "Perception",
    "PerceivedFragment",
    "BeliefSummary",
    "Via",
    "build_perception",
    "build_perceived",
    "build_summary",
]


class Via:
    """How a fragment reached a persona (string constants, cheap to compare)."""

    HERE = "here"  # a local fragment where the persona stands
    NEARBY = "nearby"  # a fragment from a neighbouring place, seen or heard across
    HEARSAY = "hearsay"  # told by a persona who trusts the listener
    BROADCAST = "broadcast"  # a public fragment
    PRIVATE = "private"  # the persona's own private fragment


@dataclass(frozen=True, slots=True)
class Perception:
    """One fragment as it reached one persona.

    Args:
        fragment: the fragment itself (shared, never copied per persona).
        reliability: reliability as perceived, after distance or hearsay decay, in [0, 1].
        via: one of the :class:`Via` constants.
        hops: hearsay hops (0 for direct perception).
        told_by: the persona who passed it on (hearsay only).
    """

    fragment: InformationFragment
    reliability: float
    via: str
    hops: int = 0
    told_by: str | None = None

    @property
    def attention(self) -> float:
        """How strongly it competes for attention: salience weighted by perceived reliability."""
        return self.fragment.salience * (0.5 + 0.5 * self.reliability)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fragment": self.fragment.id,
            "reliability": round(self.reliability, 6),
            "via": self.via,
            "hops": self.hops,
            "told_by": self.told_by,
        }


@dataclass(frozen=True, slots=True)
class PerceivedFragment:
    """A perception together with the credence the persona gives it (its subjective view)."""

    perception: Perception
    credence: float

    @property
    def fragment(self) -> InformationFragment:
        return self.perception.fragment


@dataclass(frozen=True, slots=True)
class BeliefSummary:
    """A persona's leading belief about one key: the value it favours and how sure it is."""

    key: str
    value: Any
    credence: float
    contested: bool = False  # another value has real support too


# the hot paths' constructors (every field, positionally; see novel_engine.core.records): routing
# makes a Perception per fragment a persona receives, beliefs a PerceivedFragment per perception
# and a BeliefSummary per updated key, every turn, for every persona
build_perception = fast_constructor(Perception)
build_perceived = fast_constructor(PerceivedFragment)
build_summary = fast_constructor(BeliefSummary)
