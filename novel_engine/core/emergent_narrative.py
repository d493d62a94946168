"""The emergent narrative system: causal graph, negotiation and coherence, in one import.

A facade over :mod:`~novel_engine.core.causal_graph` (what caused what, and what is still to come),
:mod:`~novel_engine.core.negotiation` (how the personas an action touches answer it) and
:mod:`~novel_engine.core.coherence` (whether a turn's events fit the story and its characters)::

    from novel_engine.core.emergent_narrative import CausalGraph, AgentNegotiationEngine, NarrativeCoherenceEngine
"""

from __future__ import annotations

from novel_engine.core.causal_frontier import FetchInfo, FetchLinks, explain_frontier, impact_frontier
from novel_engine.core.causal_graph import CausalGraph, DueEffect, ExplanationStep, condition_holds
from novel_engine.core.coherence import (
    SEVERITY,
    CharacterArc,
    CoherenceReport,
    NarrativeCoherenceEngine,
    Violation,
    ViolationKind,
    character_arcs,
)
from novel_engine.core.negotiation import AgentNegotiationEngine, NegotiationContext, NegotiationResult, Stance

__all__ = [
    "CausalGraph",
    "DueEffect",
    "ExplanationStep",
    "FetchLinks",
    "FetchInfo",
    "condition_holds",
    "explain_frontier",
    "impact_frontier",
    "AgentNegotiationEngine",
    "NegotiationContext",
    "NegotiationResult",
    "Stance",
    "NarrativeCoherenceEngine",
    "CoherenceReport",
    "Violation",
    "ViolationKind",
    "CharacterArc",
    "character_arcs",
    "SEVERITY",
]
