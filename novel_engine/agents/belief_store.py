"""A belief store: the belief models of a set of personas (one shard of the session's beliefs).

Each turn the store *absorbs* the perceptions fog of war routed to its personas (the believe
phase) and hands back, for the personas about to decide, a :class:`BeliefView`: their perceptions
with the credence they now give each, and their leading beliefs. Views are small and bounded, so
they can cross process boundaries cheaply; the belief models themselves never leave the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from novel_engine.core.beliefs import BeliefModel
from novel_engine.core.briefs import BriefLimits
from novel_engine.core.perception import BeliefSummary, PerceivedFragment, Perception
from novel_engine.core.records import fast_constructor
from novel_engine.core.world import PersonaState

__all__ = ["BeliefStore", "BeliefView", "new_belief_model"]


@dataclass(frozen=True, slots=True)
class BeliefView:
    """What a persona's beliefs contribute to its brief: credenced perceptions and leading beliefs."""

    perceived: tuple[PerceivedFragment, ...]
    beliefs: tuple[BeliefSummary, ...]


_view = fast_constructor(BeliefView)  # one per persona per turn


def new_belief_model(persona: PersonaState) -> BeliefModel:
    """A fresh belief model for ``persona``: trust from its relationships, its cognitive biases."""
    model = BeliefModel(persona.id, trust={k: r.trust for k, r in persona.relationships.items()})
    for name, strength in sorted(persona.biases.items()):
        model.add_cognitive_bias(name, strength)
    return model


class BeliefStore:
    """The belief models of some personas.

    Args:
        personas: the personas whose beliefs this store keeps.
        limits: brief size bounds (how many beliefs and perceptions a view carries).
    """

    def __init__(self, personas: Iterable[PersonaState], limits: BriefLimits | None = None) -> None:
        self.models: dict[str, BeliefModel] = {p.id: new_belief_model(p) for p in personas}
        self.limits = limits or BriefLimits()

    def absorb(self, perceptions: Mapping[str, Sequence[Perception]], turn: int) -> int:
        """Apply each persona's perceptions of this turn; return the number of belief updates."""
        n = 0
        models = self.models
        for pid, items in perceptions.items():
            model = models.get(pid)
            if model is not None and items:
                n += model.absorb(items, turn)
        return n

    def views(self, perceptions: Mapping[str, Sequence[Perception]], ids: Iterable[str]) -> dict[str, BeliefView]:
        """The belief views of the given personas (after :meth:`absorb`)."""
        out = {}
        for pid in ids:
            model = self.models.get(pid)
            if model is not None:
                out[pid] = self._view(model, perceptions.get(pid, ()))
        return out

    def absorb_views(
        self, perceptions: Mapping[str, Sequence[Perception]], turn: int, ids: Sequence[str], others: bool = True
    ) -> dict[str, BeliefView]:
        """:meth:`absorb` then :meth:`views` of ``ids`` (same results), persona by persona.

        Each model is read right after it was updated, while its objects are still in the CPU
        cache: in a second pass over 100,000 personas every read missed it again. ``others``:
        also absorb the perceptions of personas not in ``ids`` (False when the caller goes through
        the personas in chunks and has called :meth:`absorb_others` once).
        """
        if others:
            self.absorb_others(perceptions, turn, ids)
        models = self.models
        out = {}
        for pid in ids:
            model = models.get(pid)
            if model is None:
                continue
            items = perceptions.get(pid, ())
            if items:
                model.absorb(items, turn)
            out[pid] = self._view(model, items)
        return out

    def absorb_others(self, perceptions: Mapping[str, Sequence[Perception]], turn: int, ids: Iterable[str]) -> None:
        """Absorb the perceptions of every persona *not* in ``ids`` (those who get no view)."""
        models, wanted = self.models, set(ids)
        for pid, items in perceptions.items():
            model = models.get(pid)
            if model is not None and items and pid not in wanted:
                model.absorb(items, turn)

    def _view(self, model: BeliefModel, items: Sequence[Perception]) -> BeliefView:
        return _view(tuple(model.view(items, self.limits.perceived)), tuple(model.beliefs(self.limits.beliefs)))

    def beliefs_of(self, persona_id: str, limit: int = 20) -> list[BeliefSummary]:
        """A persona's leading beliefs, most salient first ([] for a persona not in this store)."""
        model = self.models.get(persona_id)
        return model.beliefs(limit) if model is not None else []

    def model_of(self, persona_id: str) -> dict[str, Any] | None:
        """One persona's belief model as ``BeliefModel.to_dict()`` (None if not in this store)."""
        model = self.models.get(persona_id)
        return model.to_dict() if model is not None else None

    def to_dict(self) -> dict[str, Any]:
        """Every model as JSON-friendly data (checkpoints)."""
        return {pid: m.to_dict() for pid, m in self.models.items()}

    def restore(self, data: Mapping[str, Any]) -> None:
        """Replace the models with those of a :meth:`to_dict` snapshot."""
        self.models = {pid: BeliefModel.from_dict(d) for pid, d in data.items()}
