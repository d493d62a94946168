"""What a belief model keeps about one key, compactly: support, anchor, evidence, cached ranking.

A persona holds up to 64 keys and a large session 100,000 personas, so the per-key layout is what
a session's memory is made of. Most keys have only ever been claimed one value: such a key keeps
that value and its support in two slots (``one``, ``s``) instead of a dict; a key with several
values keeps the dict ``sup`` (value -> support, in the order the values were first claimed, which
breaks ties). Evidence records are kept flat, five items each, oldest first, rather than a tuple
per record. The arithmetic is exactly the dict's: a one-value dict and the two slots give the same
floats in every operation (``sum`` of one float is that float), so stories do not change with the
layout.

Values are normalised by :func:`vkey` (True/False become :class:`BoolKey` singletons, so that they
never merge with 1/0 as dict keys would); ``==`` between normalised values is the dict's key
equality.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from novel_engine.errors import NovelEngineError

__all__ = ["KeyState", "BoolKey", "vkey", "unkey", "sigmoid", "lead", "RECORD", "W_MAX", "MAX_E"]

RECORD = 5  # items per evidence record: source, value, reliability, weight, turn
MAX_E = 0.99
W_MAX = math.log((1.0 + MAX_E) / (1.0 - MAX_E))  # the weight of certain first-hand evidence


class BoolKey:
    """Stands for True/False among belief values, so that they never merge with 1/0 (True == 1)."""

    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value


TRUE, FALSE = BoolKey(True), BoolKey(False)


def vkey(value: Any) -> Any:
    """The normalised form of a belief value (raises on anything but a JSON scalar)."""
    cls = value.__class__
    if cls is str or cls is int or value is None:
        return value
    if cls is bool:
        return TRUE if value else FALSE
    if cls is float and math.isfinite(value):
        return value
    raise NovelEngineError(
        f"belief values must be JSON scalars (str, int, finite float, bool, None), got {value!r}", value=repr(value)
    )


def unkey(vk: Any) -> Any:
    """The value a normalised value stands for."""
    return vk.value if vk.__class__ is BoolKey else vk


def sigmoid(x: float) -> float:
    """The logistic function 1 / (1 + e^-x), without overflow for large negative x."""
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)  # never overflows for x < 0
    return z / (1.0 + z)


class KeyState:
    """Everything kept about one key (see the module docstring for the layout).

    ``sup is None``: the only value with support is ``one``, with support ``s``. Otherwise ``sup``
    holds every value's support and ``one``/``s`` are unused. ``summary`` caches the leading
    belief (dropped on every update); ``rank`` is the key's entry in its model's salience ranking.
    """

    __slots__ = ("one", "s", "sup", "anchor", "last_turn", "evidence", "summary", "rank")

    def __init__(self, anchor: Any, last_turn: int, one: Any, s: float, evidence: list) -> None:
        self.one = one
        self.s = s
        self.sup: dict[Any, float] | None = None
        self.anchor = anchor
        self.last_turn = last_turn
        self.evidence = evidence  # flat records, oldest first, at most MAX_EVIDENCE of them
        self.summary = None
        self.rank: tuple | None = None

    def support_of(self, vk: Any) -> float:
        """The support of one value (0.0 if never claimed)."""
        sup = self.sup
        if sup is None:
            return self.s if self.one == vk else 0.0
        return sup.get(vk, 0.0)

    def total(self) -> float:
        """The sum of every value's support, as ``sum(sup.values())`` adds them."""
        sup = self.sup
        return self.s if sup is None else sum(sup.values())

    def items(self) -> Iterable[tuple[Any, float]]:
        """(value, support) pairs in the order the values were first claimed."""
        return ((self.one, self.s),) if self.sup is None else self.sup.items()

    def add(self, vk: Any, w: float, decay: float) -> None:
        """Decay every value's support by ``decay`` (1.0: none), then add ``w`` to ``vk``'s."""
        sup = self.sup
        if sup is None:
            s = self.s
            if decay != 1.0:
                s *= decay
            if self.one == vk:
                self.s = s + w
            else:  # a second value: the dict, in the order the values were claimed
                self.sup = {self.one: s, vk: 0.0 + w}
            return
        if decay != 1.0:
            for k in sup:
                sup[k] *= decay
        sup[vk] = sup.get(vk, 0.0) + w

    def settle(self, vk: Any, w: float) -> None:
        """First-hand certainty: ``vk`` alone, with support ``w`` (every other value's is cleared)."""
        self.sup = None
        self.one, self.s = vk, 0.0 + w

    def restore_support(self, pairs: list[tuple[Any, float]]) -> None:
        """Set the support from (normalised value, support) pairs, in claim order (snapshots)."""
        if len(pairs) == 1:
            self.sup = None
            ((self.one, self.s),) = pairs
        else:
            self.sup = dict(pairs)

    def records(self) -> list[tuple]:
        """The evidence records as tuples (source, value, reliability, weight, turn), oldest first."""
        ev = self.evidence
        return [tuple(ev[i : i + RECORD]) for i in range(0, len(ev), RECORD)]


def lead(state: KeyState) -> tuple[Any, float, bool]:
    """(leading value, its credence, contested) of a key: the highest support leads (ties: the
    value claimed first); contested when another value has at least half the leader's support."""
    sup = state.sup
    if sup is None:  # the common case: one value claimed, uncontested
        return state.one, sigmoid(state.s), False
    top, best, runner = None, -math.inf, 0.0
    for v, s in sup.items():
        if s > best:
            if top is not None:
                runner = max(runner, best)
            top, best = v, s
        else:
            runner = max(runner, s)
    contested = runner > 0.0 and runner >= 0.5 * best
    return top, sigmoid(2.0 * best - sum(sup.values())), contested
