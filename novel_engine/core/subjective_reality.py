"""The subjective reality engine in one import: what each persona may perceive and believe.

A facade over the modules that do the work, so callers can write
``from novel_engine.core.subjective_reality import FogOfWarService, BeliefModel, TurnBriefFactory``:

- :mod:`novel_engine.core.events`: ``InformationFragment``, ``SourceType``, ``Visibility``
- :mod:`novel_engine.core.perception`: ``Perception``, ``PerceivedFragment``, ``BeliefSummary``, ``Via``
- :mod:`novel_engine.core.fog_of_war`: ``FogOfWarService`` (who perceives which fragment)
- :mod:`novel_engine.core.beliefs`: ``BeliefModel``, ``EvidenceRecord`` (credences and biases)
- :mod:`novel_engine.core.briefs`: ``TurnBrief``, ``TurnBriefFactory`` (the bounded brief per
  persona), imported on first access so that this module does not depend on it at import time.
"""

from __future__ import annotations

from typing import Any

from novel_engine.core.beliefs import BeliefModel, EvidenceRecord
from novel_engine.core.events import InformationFragment, SourceType, Visibility
from novel_engine.core.fog_of_war import FogOfWarService
from novel_engine.core.perception import BeliefSummary, PerceivedFragment, Perception, Via

__all__ = [
    "InformationFragment",
    "SourceType",
    "Visibility",
    "Perception",
    "PerceivedFragment",
    "BeliefSummary",
    "Via",
    "FogOfWarService",
    "BeliefModel",
    "EvidenceRecord",
    "TurnBrief",  # noqa: F822 - loaded lazily by __getattr__
    "TurnBriefFactory",  # noqa: F822
]

_LAZY = frozenset({"TurnBrief", "TurnBriefFactory"})


def __getattr__(name: str) -> Any:
    # briefs imports beliefs (for type hints) and sits above it; importing it lazily keeps the
    # import graph one-way and lets this module load even where briefs is not available.
    if name in _LAZY:
        from novel_engine.core import briefs

        value = getattr(briefs, name)
        globals()[name] = value  # later lookups skip this hook
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY)
