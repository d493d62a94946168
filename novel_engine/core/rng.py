"""Seeded random streams derived from (seed, turn, agent, purpose).

No code in the engine touches the global ``random`` module. Every draw is a pure function of the
session seed and a key naming *who* draws *what* and *when*. That makes a story independent of the
order in which shards or actors answer, of the shard count and of the runtime.

A draw hashes its key with BLAKE2b (keyed by the seed), which costs about a microsecond: cheap
enough to call per persona per turn at a hundred thousand personas.
"""

from __future__ import annotations

import hashlib
import random
from typing import Sequence, TypeVar

__all__ = ["RandomStreams", "stable_hash"]

T = TypeVar("T")
_SCALE = 1.0 / float(1 << 64)


def stable_hash(text: str) -> int:
    """Return a 64-bit hash of ``text`` that is the same in every process (unlike ``hash``)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class RandomStreams:
    """Deterministic random numbers keyed by (turn, agent, purpose) under one session seed.

    Args:
        seed: the session seed (any int).
    """

    __slots__ = ("seed", "_key")

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._key = hashlib.blake2b(str(self.seed).encode(), digest_size=16).digest()

    def _bits(self, turn: int, agent: str, purpose: str, index: int) -> int:
        material = f"{turn}|{agent}|{purpose}|{index}".encode()
        return int.from_bytes(hashlib.blake2b(material, digest_size=8, key=self._key).digest(), "big")

    def uniform(self, turn: int, agent: str, purpose: str, index: int = 0) -> float:
        """Return a float in [0, 1) for this key; the same key always gives the same number."""
        return self._bits(turn, agent, purpose, index) * _SCALE

    def chance(self, probability: float, turn: int, agent: str, purpose: str, index: int = 0) -> bool:
        """Return True with the given probability (clamped to [0, 1]) for this key."""
        return self.uniform(turn, agent, purpose, index) < probability

    def choice(self, options: Sequence[T], turn: int, agent: str, purpose: str, index: int = 0) -> T:
        """Pick one of ``options`` for this key. Raises IndexError on an empty sequence."""
        if not options:
            raise IndexError("choice from an empty sequence")
        return options[self._bits(turn, agent, purpose, index) % len(options)]

    def stream(self, turn: int, agent: str, purpose: str) -> random.Random:
        """Return a private ``random.Random`` for many draws under one key (e.g. a grammar)."""
        return random.Random(self._bits(turn, agent, purpose, 0))
