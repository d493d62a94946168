"""How one persona's beliefs change: credences over the values of named propositions, with biases.

The rule:

- Effective reliability ``e = min(0.99, reliability * f(source))`` where ``f`` is 1.0 for the
  sources ``"self"`` and ``"world"`` (whatever the trust map says about them),
  ``(1 + trust[source]) / 2`` for a source in the trust map, and 0.75 otherwise.
- Evidence weight ``w = ln((1 + e) / (1 - e))``: one source of effective reliability ``e`` alone
  gives credence ``(1 + e) / 2``; ``e = 0`` carries no information.
- Every key keeps the accumulated support ``S[value]`` of every value ever claimed for it
  (contradicting sources are kept, not overwritten), and
  ``credence(key, v) = sigmoid(S[v] - sum of S[u] for u != v)``. A key never seen has credence
  0.5 for any value.
- Biases of strength ``s`` in [0, 1] multiply ``w`` before it is added:

  - confirmation: if the key has a leading value with credence > 0.5, evidence for that value is
    multiplied by ``1 + s`` and evidence for any other value by ``1 - s``;
  - anchoring: the first value ever recorded for a key is its anchor; evidence for any other value
    is multiplied by ``1 - s``;
  - negativity: evidence with ``valence < 0`` is multiplied by ``1 + s * |valence|``;
  - recency: before evidence at turn ``t`` is added, the key's support decays by
    ``(1 - s / 2) ** (t - last_turn_of_key)`` (without recency bias there is no decay; a turn
    earlier than the key's last turn decays nothing).

  Decay is applied first; the leading value for confirmation is judged on the support before
  decay (decay scales every value alike, so it cannot change which one leads).
- Certainty: ``certain=True`` evidence is first-hand certainty (where the persona now stands);
  :meth:`absorb` reads a private fragment the persona originated itself with reliability 1.0 so.
  No bias argues with it: the support of every other value of
  the key is cleared (their evidence records are kept) and the value gets the maximum weight
  ``ln(1.99 / 0.01)``, so credence ``(1 + 0.99) / 2``.
- Capacity: at most ``capacity`` keys; adding a new key beyond it evicts the key with the oldest
  last update turn (ties: the smallest key). The evicted key's support, anchor and evidence go.
- Evidence: the most recent ``MAX_EVIDENCE`` records per key are kept, contradicting ones included.

Values are JSON scalars (str, int, float, bool, None). ``True`` and ``1`` are different values;
``1`` and ``1.0`` are the same value (as in Python).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from heapq import heapify, heappop, heappush, heapreplace
from typing import Any

from novel_engine.core.belief_state import MAX_E, RECORD, W_MAX, KeyState, sigmoid, vkey
from novel_engine.core.events import Visibility
from novel_engine.core.perception import Perception
from novel_engine.errors import NovelEngineError

__all__ = ["BeliefUpdater", "BIAS_NAMES", "MAX_EVIDENCE", "FULL_TRUST", "Scalar"]

Scalar = str | int | float | bool | None
BIAS_NAMES = ("confirmation", "anchoring", "recency", "negativity")
MAX_EVIDENCE = 6
FULL_TRUST = frozenset({"self", "world"})  # sources always read as fully trusted
_EVIDENCE_ITEMS = MAX_EVIDENCE * RECORD
_ALIASES = {"anchor": "anchoring", "confirm": "confirmation", "recent": "recency", "negative": "negativity"}


def _bias_name(name: str) -> str | None:
    n = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    if n.endswith("_bias"):
        n = n[:-5]
    n = _ALIASES.get(n, n)
    return n if n in BIAS_NAMES else None


class BeliefUpdater:
    """How one persona's beliefs take in evidence, under the rule in the module docstring.

    It holds the keys, trust, biases and capacity, and changes them; :class:`~novel_engine.core.beliefs.BeliefModel`
    adds what the persona reads from them (credences, leading beliefs, views, snapshots).

    Args:
        agent_id: the persona it belongs to.
        capacity: the most keys it keeps (at least 1).
        trust: initial trust in sources, each in [-1, 1].

    Raises:
        NovelEngineError: capacity below 1 or a trust value out of range.
    """

    __slots__ = (
        "agent_id",
        "capacity",
        "_keys",
        "_age",
        "_trust",
        "_factor",
        "_biases",
        "_confirmation",
        "_anchoring",
        "_recency",
        "_negativity",
        "_rank",
        "_stale",
        "_falls",
        "_foes",
    )

    def __init__(self, agent_id: str, *, capacity: int = 64, trust: Mapping[str, float] | None = None) -> None:
        if not isinstance(capacity, int) or capacity < 1:
            raise NovelEngineError(f"belief capacity must be an integer >= 1, got {capacity!r}", capacity=capacity)
        self.agent_id = agent_id
        self.capacity = capacity
        self._keys: dict[str, KeyState] = {}
        # min-heap of (turn, key) for eviction, one entry per key, made when the key is opened:
        # an update leaves it alone, so its turn may be older than the key's last turn. Eviction
        # re-files such an entry at the key's last turn and looks again; an entry that is up to
        # date at the top is the true minimum (every key's entry is at or below its last turn).
        # Pushing an entry per update kept up to four times the keys' worth of tuples per persona.
        self._age: list[tuple[int, str]] = []
        # The salience ranking of beliefs(), kept sorted between calls: (-credence, -last turn, key)
        # per key; keys updated since the last call are re-ranked then (a turn touches a few keys,
        # while re-sorting every key of every persona each turn was a large part of the turn).
        self._rank: list[tuple[float, int, str]] | None = None  # None: not ranked yet
        self._stale: list[str] = []  # keys updated since the ranking was last brought up to date
        # status_of:<persona> keys ever told "incapacitated", and hostile:<persona> keys (who attacked):
        # news of a fall, and of a foe, stays in view (see beliefs)
        self._falls: set[str] = set()
        self._foes: set[str] = set()  # hostile:<persona> keys: who it has seen or heard attack someone
        self._trust: dict[str, float] = {}
        self._factor: dict[str, float] = {}  # source -> f(source), kept in step with _trust
        self._biases: dict[str, float] = {}
        self._confirmation = self._anchoring = self._recency = self._negativity = 0.0
        for source, value in (trust or {}).items():
            self.set_trust(source, value)

    def set_trust(self, source: str, trust: float) -> None:
        """Set the trust in ``source``, in [-1, 1] ("self" and "world" always count as fully trusted).

        Raises:
            NovelEngineError: ``trust`` is out of range.
        """
        if not -1.0 <= trust <= 1.0:
            raise NovelEngineError(f"trust in {source!r} must be in [-1, 1], got {trust!r}", source=source)
        self._trust[source] = float(trust)
        self._factor[source] = (1.0 + trust) / 2.0  # never read for "self" and "world"

    def add_cognitive_bias(self, name: str, strength: float) -> None:
        """Give the persona a bias (replacing its earlier strength).

        Args:
            name: confirmation, anchoring, recency or negativity (case-insensitive; a ``_bias``
                suffix, e.g. ``confirmation_bias``, is accepted).
            strength: in [0, 1]; 0 switches the bias off.

        Raises:
            NovelEngineError: unknown name or strength outside [0, 1].
        """
        canonical = _bias_name(name)
        if canonical is None:
            raise NovelEngineError(
                f"unknown cognitive bias {name!r}; expected one of {', '.join(BIAS_NAMES)} "
                f"(optionally with a '_bias' suffix)",
                bias=str(name),
            )
        if not 0.0 <= strength <= 1.0:
            raise NovelEngineError(
                f"strength of {canonical} bias must be in [0, 1], got {strength!r}", bias=canonical, strength=strength
            )
        self._biases[canonical] = float(strength)
        setattr(self, "_" + canonical, float(strength))

    @property
    def biases(self) -> dict[str, float]:
        """The biases set so far, by canonical name (a copy)."""
        return dict(self._biases)

    def _weigh(
        self, state: KeyState | None, vk: Any, source: str, reliability: float, turn: int, valence: float
    ) -> tuple[float, float]:
        """Return (decay factor for the key's support, weight to add), without changing anything."""
        f = 1.0 if source in FULL_TRUST else self._factor.get(source, 0.75)
        e = reliability * f
        if e > MAX_E:
            e = MAX_E
        w = math.log((1.0 + e) / (1.0 - e))
        decay = 1.0
        if state is None:  # a new key: no leader, and this value becomes the anchor
            return decay, w * (1.0 + self._negativity * -valence) if valence < 0.0 else w
        if self._recency and turn > state.last_turn:
            decay = (1.0 - self._recency / 2.0) ** (turn - state.last_turn)
        if w:
            if self._confirmation:
                total = state.total()
                if 2.0 * state.support_of(vk) > total:
                    w *= 1.0 + self._confirmation
                else:
                    for _, s in state.items():
                        if 2.0 * s > total:  # another value leads with credence > 0.5
                            w *= 1.0 - self._confirmation
                            break
            if self._anchoring and vk != state.anchor:
                w *= 1.0 - self._anchoring
            if valence < 0.0 and self._negativity:
                w *= 1.0 + self._negativity * -valence
        return decay, w

    def update_belief(
        self,
        key: str,
        value: Scalar,
        source: str = "self",
        reliability: float = 1.0,
        *,
        turn: int = 0,
        valence: float = 0.0,
        certain: bool = False,
    ) -> float:
        """Add one piece of evidence that ``key`` has ``value``.

        Args:
            key: the proposition, e.g. ``location_of:dragon``.
            value: the value claimed (a JSON scalar).
            source: who or what claims it (see the trust rule).
            reliability: how reliable the claim is as reported, in [0, 1].
            turn: the turn of the evidence (recency bias and eviction use it).
            valence: how bad (< 0) or good (> 0) the news is (negativity bias uses it).
            certain: first-hand certainty: clears the support of every other value (see the rule).

        Returns:
            The new credence of ``value`` for ``key``.

        Raises:
            NovelEngineError: reliability out of [0, 1], key not a string, or value not a JSON scalar.
        """
        state, vk = self._update(key, value, source, reliability, turn, valence, certain)
        return sigmoid(2.0 * state.support_of(vk) - state.total())

    def _update(
        self, key: str, value: Scalar, source: str, reliability: float, turn: int, valence: float, certain: bool
    ) -> tuple[KeyState, Any]:
        """:meth:`update_belief` without computing the new credence (absorb does not need it)."""
        if not 0.0 <= reliability <= 1.0:
            raise NovelEngineError(f"reliability must be in [0, 1], got {reliability!r}", key=key)
        vk = value if value.__class__ is str else vkey(value)
        if vk == "incapacitated" and key.startswith("status_of:"):
            self._falls.add(key)
        elif key.__class__ is str and key[:8] == "hostile:" and key not in self._foes:  # no call: every update passes
            self._foes.add(key)
        state = self._keys.get(key)
        decay, w = self._weigh(state, vk, source, reliability, turn, valence)
        if certain:
            w = W_MAX  # certainty: nothing else is left standing (the evidence records stay)
        if state is None:  # a new key: its one value, its first record
            state = self._open(key, vk, turn, 0.0 + w, [source, value, reliability, w, turn])
        else:
            if certain:
                state.settle(vk, w)
            else:
                state.add(vk, w, decay)
            state.summary = None
            evidence = state.evidence
            evidence += (source, value, reliability, w, turn)
            if len(evidence) > _EVIDENCE_ITEMS:
                del evidence[:RECORD]
        if turn > state.last_turn:
            state.last_turn = turn  # its eviction entry is brought up to date when it comes up
        if self._rank is not None:
            self._stale.append(key)
        return state, vk

    def _open(self, key: str, vk: Any, turn: int, s: float, evidence: list) -> KeyState:
        if key.__class__ is not str:
            raise NovelEngineError(f"belief keys must be strings, got {key!r}", key=repr(key))
        keys, age = self._keys, self._age
        if len(keys) >= self.capacity:
            while True:  # the oldest (last turn, key): re-file out-of-date entries until one is current
                t, k = age[0]
                st = keys[k]
                if st.last_turn == t:
                    heappop(age)
                    del keys[k]
                    if self._rank is not None and st.rank is not None:
                        self._unrank(st.rank)
                    break
                heapreplace(age, (st.last_turn, k))
        state = keys[key] = KeyState(vk, turn, vk, s, evidence)
        heappush(age, (turn, key))
        return state

    def _reindex(self) -> None:
        self._age = [(st.last_turn, k) for k, st in self._keys.items()]
        heapify(self._age)

    def _unrank(self, entry: tuple[float, int, str]) -> None:
        rank = self._rank
        i = bisect_left(rank, entry)
        if i < len(rank) and rank[i] == entry:
            del rank[i]

    def absorb(self, perceptions: Iterable[Perception], turn: int) -> int:
        """Update beliefs from this turn's perceptions (those whose fragment has a key).

        The source is the persona who told it (hearsay) or else the fragment's origin, with the
        persona's own id read as ``"self"``.

        Returns:
            How many updates were made.
        """
        n = 0
        me, update, private = self.agent_id, self._update, Visibility.PRIVATE
        for p in perceptions:
            f = p.fragment
            key = f.key
            if key is not None:
                # _source and _certain inlined: this runs for every perception of every persona
                source = p.told_by or f.origin
                if source == me:
                    source = "self"
                r = p.reliability
                update(
                    key, f.value, source, r, turn, f.valence, source == "self" and r >= 1.0 and f.visibility is private
                )
                n += 1
        return n
