"""What one persona believes, as it reads it: credences, leading beliefs, subjective views, snapshots.

:class:`BeliefModel` is a :class:`~novel_engine.core.belief_update.BeliefUpdater` (which holds the keys and
takes in evidence under the update rule documented there) with the queries on top: the credence of a
value, the leading value of a key, the most salient beliefs (ranked incrementally between calls), a
turn's perceptions as the persona now sees them, the kept evidence, and a JSON snapshot that restores
the model exactly.

Values are JSON scalars (str, int, float, bool, None). ``True`` and ``1`` are different values;
``1`` and ``1.0`` are the same value (as in Python).
"""

from __future__ import annotations

import math
from bisect import insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from novel_engine.core.belief_state import MAX_E, RECORD, W_MAX, KeyState, lead, sigmoid, unkey, vkey
from novel_engine.core.belief_update import FULL_TRUST, MAX_EVIDENCE, BeliefUpdater, Scalar
from novel_engine.core.events import InformationFragment, Visibility
from novel_engine.core.perception import (
    BeliefSummary,
    PerceivedFragment,
    Perception,
    Via,
    build_perceived,
    build_summary,
)
from novel_engine.errors import NovelEngineError

__all__ = ["BeliefModel", "EvidenceRecord"]

HOSTILE_KEPT = 3  # beliefs of who attacked someone kept in view past the limit (see BeliefModel.beliefs)

_VIA = {Visibility.PUBLIC: Via.BROADCAST, Visibility.LOCAL: Via.HERE, Visibility.PRIVATE: Via.PRIVATE}
_SCHEMA = 1


@dataclass(frozen=True, slots=True)
class EvidenceRecord:
    """One piece of evidence kept for a key.

    Args:
        source: who or what it came from.
        value: the value it claimed.
        reliability: the reliability it was reported with (before trust and biases).
        weight: the support it added (after trust and biases).
        turn: the turn it was absorbed.
    """

    source: str
    value: Scalar
    reliability: float
    weight: float
    turn: int


def _credence(state: KeyState) -> float:
    """The credence of a key's leading value (what its summary would say)."""
    return sigmoid(state.s) if state.sup is None else lead(state)[1]


def _certain(p: Perception, source: str) -> bool:
    """Whether a perception is first-hand certainty: a private fragment of the persona's own, fully reliable."""
    return source == "self" and p.reliability >= 1.0 and p.fragment.visibility is Visibility.PRIVATE


class BeliefModel(BeliefUpdater):
    """One persona's beliefs: updated by evidence (see :class:`~novel_engine.core.belief_update.BeliefUpdater`
    for the rule), read as credences, ranked beliefs and subjective views. Made with the
    arguments of :class:`~novel_engine.core.belief_update.BeliefUpdater`.
    """

    __slots__ = ()

    def credence(self, key: str, value: Scalar) -> float:
        """The credence that ``key`` has ``value`` (0.5 for a key never seen)."""
        state = self._keys.get(key)
        if state is None:
            return 0.5
        return sigmoid(2.0 * state.support_of(vkey(value)) - state.total())

    def _summary(self, key: str, state: KeyState) -> BeliefSummary:
        summary = state.summary
        if summary is None:
            if state.sup is None and state.s >= 0.0:  # lead() inlined for a one-value key: uncontested
                summary = state.summary = build_summary(key, unkey(state.one), 1.0 / (1.0 + math.exp(-state.s)), False)
            else:
                top, credence, contested = lead(state)
                summary = state.summary = build_summary(key, unkey(top), credence, contested)
        return summary

    def belief(self, key: str) -> BeliefSummary | None:
        """The leading value of ``key`` (highest support; ties: the one claimed first), or None.

        ``contested`` is true when another value has at least half the leader's support.
        """
        state = self._keys.get(key)
        return None if state is None else self._summary(key, state)

    def beliefs(self, limit: int | None = None) -> list[BeliefSummary]:
        """Leading beliefs, most salient first: by credence (high first), then last update turn
        (recent first), then key; at most ``limit`` of them."""
        # Ranked by the leading credence alone: a summary is made only for the keys returned
        # (most keys of a persona are never among its top few, and need none).
        rank, keys, summary = self._rank, self._keys, self._summary
        if rank is None:  # first call: rank every key (plain tuples, compared in C; keys are unique)
            rank = self._rank = []
            for k, st in keys.items():
                st.rank = (-_credence(st), -st.last_turn, k)
                rank.append(st.rank)
            rank.sort()
        elif self._stale:
            exp = math.exp
            for k in self._stale:
                st = keys.get(k)
                if st is None:
                    continue  # evicted since: its entry went with it
                # _credence, inlined for a one-value key (support >= 0: sigmoid's first branch)
                c = 1.0 / (1.0 + exp(-st.s)) if st.sup is None and st.s >= 0.0 else _credence(st)
                entry = (-c, -st.last_turn, k)
                old = st.rank
                if old == entry:
                    continue  # e.g. a key updated twice this turn: already re-ranked
                if old is not None:
                    self._unrank(old)
                st.rank = entry
                insort(rank, entry)
        self._stale.clear()
        top = rank if limit is None else rank[:limit]
        out = []
        for _, _, k in top:
            st = keys[k]
            out.append(st.summary or summary(k, st))  # a summary is never falsy
        if (self._falls or self._foes) and limit is not None and len(rank) > limit:
            # whoever it believes has fallen stays in mind among its leading beliefs, however
            # unsure: a fall is what friends act on (a healer goes to the fallen knight); and a few
            # who attacked someone: nobody nurses the dragon that burned their village
            shown = {b.key for b in out}
            for k in sorted(self._falls):
                st = keys.get(k)
                if st is None:
                    self._falls.discard(k)  # evicted
                elif k not in shown:
                    b = st.summary or summary(k, st)
                    if b.value == "incapacitated":
                        out.append(b)
            foes = HOSTILE_KEPT
            for k in sorted(self._foes) if self._foes else ():
                if foes <= 0:
                    break
                st = keys.get(k)
                if st is None:
                    self._foes.discard(k)  # evicted
                elif k not in shown:
                    foes -= 1
                    out.append(st.summary or summary(k, st))
        return out

    def view(self, perceptions: Iterable[Perception], limit: int | None = None) -> list[PerceivedFragment]:
        """Each perception with the credence the persona *now* gives its claim (after absorbing it).

        This is the subjective view of a turn's perceptions once :meth:`absorb` has run; an item
        without a key gets ``(1 + e) / 2`` as in :meth:`apply_to_information`. With ``limit``: only
        the ``limit`` most salient, in brief order (salience x credence, high first, then fragment
        id), ranked here as plain tuples rather than by a key function per item.
        """
        out = []
        keys, exp = self._keys, math.exp
        for p in perceptions:
            f = p.fragment
            state = keys.get(f.key) if f.key is not None else None
            if state is None:
                source = self._source(p)
                factor = 1.0 if source in FULL_TRUST else self._factor.get(source, 0.75)
                c = (1.0 + min(MAX_E, p.reliability * factor)) / 2.0
            elif state.sup is None:  # support_of, total and sigmoid inlined: once per perception per turn
                s = state.s
                x = 2.0 * (s if state.one == (f.value if f.value.__class__ is str else vkey(f.value)) else 0.0) - s
                c = 1.0 / (1.0 + exp(-x)) if x >= 0.0 else sigmoid(x)
            else:
                c = sigmoid(2.0 * state.sup.get(vkey(f.value), 0.0) - sum(state.sup.values()))
            out.append(
                (-f.salience * c, f.id, len(out), build_perceived(p, c)) if limit is not None else build_perceived(p, c)
            )
        if limit is None:
            return out
        out.sort()  # the position breaks ties (a stable sort's order): fragments are never compared
        return [pf for *_, pf in out[:limit]]

    def evidence(self, key: str) -> list[EvidenceRecord]:
        """The kept evidence for ``key``, oldest first (at most ``MAX_EVIDENCE``; [] if unknown)."""
        state = self._keys.get(key)
        return [] if state is None else [EvidenceRecord(*t) for t in state.records()]

    def keys(self) -> list[str]:
        """The keys held, in the order they were first recorded."""
        return list(self._keys)

    def _source(self, p: Perception) -> str:
        source = p.told_by or p.fragment.origin
        return "self" if source == self.agent_id else source

    def apply_to_information(self, items: Iterable[InformationFragment | Perception]) -> list[PerceivedFragment]:
        """The credence the persona would give each item's claim if it absorbed it now; mutates nothing.

        Each item is judged alone, as if absorbed at the fragment's turn; a bare fragment counts as
        perceived at its own reliability. An item without a key gets ``(1 + e) / 2``.

        Returns:
            One :class:`PerceivedFragment` per item, in order.
        """
        out = []
        for item in items:
            p = item if isinstance(item, Perception) else Perception(item, item.reliability, _VIA[item.visibility])
            f = p.fragment
            source = self._source(p)
            if f.key is None:
                factor = 1.0 if source in FULL_TRUST else self._factor.get(source, 0.75)
                out.append(PerceivedFragment(p, (1.0 + min(MAX_E, p.reliability * factor)) / 2.0))
                continue
            vk = vkey(f.value)
            state = self._keys.get(f.key)
            decay, w = self._weigh(state, vk, source, p.reliability, f.turn, f.valence)
            if _certain(p, source):
                decay, w = 0.0, W_MAX  # certainty, as in update_belief
            sup = {} if state is None else {k: s * decay for k, s in state.items()}
            sup[vk] = sup.get(vk, 0.0) + w
            out.append(PerceivedFragment(p, sigmoid(2.0 * sup[vk] - sum(sup.values()))))
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly snapshot that :meth:`from_dict` restores exactly."""
        return {
            "v": _SCHEMA,
            "agent_id": self.agent_id,
            "capacity": self.capacity,
            "trust": dict(self._trust),
            "biases": dict(self._biases),
            "keys": [
                {
                    "key": k,
                    "anchor": unkey(st.anchor),
                    "last_turn": st.last_turn,
                    "support": [[unkey(v), s] for v, s in st.items()],
                    "evidence": [list(t) for t in st.records()],
                }
                for k, st in self._keys.items()
            ],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BeliefModel:
        """Rebuild a model written by :meth:`to_dict`.

        Raises:
            NovelEngineError: the snapshot is malformed (bad bias, trust or value).
        """
        model = cls(d["agent_id"], capacity=d["capacity"], trust=d.get("trust") or {})
        for name, strength in (d.get("biases") or {}).items():
            model.add_cognitive_bias(name, strength)
        for entry in d.get("keys", ()):
            records = entry["evidence"][-MAX_EVIDENCE:]
            if any(len(t) != RECORD for t in records):
                raise NovelEngineError(
                    f"belief snapshot of {model.agent_id!r}: an evidence record of key "
                    f"{entry['key']!r} does not have {RECORD} items",
                    key=entry["key"],
                )
            state = KeyState(vkey(entry["anchor"]), entry["last_turn"], None, 0.0, [x for t in records for x in t])
            state.restore_support([(vkey(value), support) for value, support in entry["support"]])
            model._keys[entry["key"]] = state
            if entry["key"].startswith("status_of:"):
                model._falls.add(entry["key"])
            elif entry["key"].startswith("hostile:"):
                model._foes.add(entry["key"])
        model._reindex()
        return model
